"""Wire shapes of failure signatures and their clusters of results."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from test_observer.issues.schemas import MinimalIssue


class SignatureIssue(BaseModel):
    issue: MinimalIssue
    results: int = Field(
        description="Results of the signature (in the selection) it is attached to."
    )


class FailureSignatureSummary(BaseModel):
    id: int
    hash: str
    signature_version: int
    text: str = Field(description="The normalised lines the signature is the hash of.")
    excerpt: str = Field(description="Those lines as the first result with it printed them.")
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    total_results: int = Field(description="Results with this signature, whatever the filters.")
    results: int = Field(description="Results with this signature in the selection.")
    environments: int
    test_cases: int
    artefacts: int
    first_seen_in_selection: bool = Field(
        description="The signature's first result is in the selection: for the filters of one "
        "artefact, a problem that artefact brought."
    )
    issues: list[SignatureIssue] = Field(
        description="The issues most often attached to its results in the selection (three at "
        "most)."
    )


class FailureSignaturesResponse(BaseModel):
    failure_signatures: list[FailureSignatureSummary]
    count: int = Field(description="Signatures in the selection, not only on this page.")
    limit: int
    offset: int


class SignatureExample(BaseModel):
    test_result_id: int
    test_execution_id: int
    test_case: str
    environment: str
    artefact_id: int
    artefact: str
    artefact_version: str
    created_at: datetime
    io_log_excerpt: str = Field(description="The end of the result's output.")


class FailureSignatureResponse(FailureSignatureSummary):
    examples: list[SignatureExample] = Field(description="Its newest results.")
