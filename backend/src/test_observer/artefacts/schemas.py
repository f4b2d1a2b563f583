"""Wire shapes of artefacts, builds and reviewers shared by several endpoints."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from test_observer.db.models import (
    ArtefactBuildEnvironmentReviewDecision,
    ArtefactStatus,
    FamilyName,
    IssueSource,
    IssueStatus,
    TestResultStatus,
)
from test_observer.environments.schemas import EnvironmentResponse
from test_observer.expectations.missing import ExpectedFrom


class StageName(StrEnum):
    """Every release stage of every family, in promotion order."""

    proposed = "proposed"
    updates = "updates"
    edge = "edge"
    beta = "beta"
    candidate = "candidate"
    stable = "stable"
    pending = "pending"
    current = "current"


class ReviewerResponse(BaseModel):
    id: int
    name: str
    email: str
    launchpad_email: str = Field(
        description="Deprecated duplicate of `email`, kept for existing clients."
    )
    launchpad_handle: str | None


class ArtefactBuildMinimalResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    architecture: str
    revision: int | None


class ArtefactResponse(BaseModel):
    id: int
    name: str
    version: str
    family: FamilyName
    stage: str
    track: str
    store: str
    branch: str
    series: str
    repo: str
    source: str
    os: str
    release: str
    owner: str
    sha256: str
    image_url: str
    status: ArtefactStatus
    comment: str
    archived: bool
    reviewers: list[ReviewerResponse]
    assignee: ReviewerResponse | None = Field(
        description="The first reviewer, for clients that predate multiple reviewers."
    )
    due_date: date | None
    created_at: datetime
    bug_link: str
    jira_issue: str | None
    all_environment_reviews_count: int
    completed_environment_reviews_count: int
    bundled_builds: list[ArtefactBuildMinimalResponse]


class ArtefactMinimalResponse(BaseModel):
    id: int
    name: str
    version: str
    family: FamilyName


class ArtefactVersionResponse(BaseModel):
    version: str
    artefact_id: int


class ArtefactSearchResponse(BaseModel):
    artefacts: list[str]
    count: int
    limit: int
    offset: int


class ArtefactHistoryItemResponse(BaseModel):
    artefact_id: int
    name: str
    version: str
    stage: str
    created_at: datetime


class ArtefactHistoryResponse(BaseModel):
    count: int = Field(description="The number of matching artefacts, not only those on this page.")
    items: list[ArtefactHistoryItemResponse]


class EnvironmentReviewResponse(BaseModel):
    id: int
    review_decision: list[ArtefactBuildEnvironmentReviewDecision]
    review_comment: str
    environment: EnvironmentResponse
    artefact_build: ArtefactBuildMinimalResponse
    reviewers: list[ReviewerResponse]


def _check_decision(
    decision: list[ArtefactBuildEnvironmentReviewDecision] | None,
) -> list[ArtefactBuildEnvironmentReviewDecision] | None:
    if (
        decision is not None
        and len(decision) > 1
        and ArtefactBuildEnvironmentReviewDecision.REJECTED in decision
    ):
        raise ValueError("Environment review can either be rejected or approved")
    return decision


class EnvironmentReviewPatch(BaseModel):
    """Clients send back whole review objects; keys other than these are ignored."""

    id: int | None = None
    review_decision: list[ArtefactBuildEnvironmentReviewDecision] | None = None
    review_comment: str | None = None

    _decision = field_validator("review_decision")(_check_decision)


class ArtefactPatch(BaseModel):
    """Every key is optional; for the nullable ones, sending null differs from leaving it out."""

    status: ArtefactStatus | None = None
    archived: bool | None = None
    stage: StageName | None = None
    comment: str | None = None
    jira_issue: str | None = None
    bundled_builds: list[int] | None = Field(
        None, description="List of ArtefactBuild IDs to bundle with this artefact"
    )
    assignee_id: int | None = Field(
        None,
        description="Legacy field. Mapped to reviewer_ids as a single-element list when "
        "reviewer_ids/reviewer_emails are not provided.",
        deprecated=True,
    )
    assignee_email: str | None = Field(
        None,
        description="Legacy field. Mapped to reviewer_emails as a single-element list when "
        "reviewer_ids/reviewer_emails are not provided.",
        deprecated=True,
    )
    reviewer_ids: list[int] | None = Field(
        None,
        description="Reviewer user IDs, in order; the first is reported as the assignee.",
    )
    reviewer_emails: list[str] | None = Field(
        None,
        description="Reviewer emails, in order; the first is reported as the assignee.",
    )


ComparisonClass = Literal["regression", "fixed", "still_failing", "new", "gone", "flaky", "slower"]
COMPARISON_CLASSES: tuple[ComparisonClass, ...] = get_args(ComparisonClass)


class ComparisonCounts(BaseModel):
    """Results per class; see docs/explanation/readiness for what each class means."""

    regression: int = 0
    fixed: int = 0
    still_failing: int = 0
    new: int = 0
    gone: int = 0
    flaky: int = 0
    slower: int = 0

    def plus(self, other: ComparisonCounts) -> ComparisonCounts:
        return ComparisonCounts(
            **{name: getattr(self, name) + getattr(other, name) for name in COMPARISON_CLASSES}
        )


class ComparisonCell(BaseModel):
    environment: EnvironmentResponse
    test_plan: str
    test_execution_id: int | None = Field(description="The latest execution now; null: none.")
    base_test_execution_id: int | None = Field(
        description="The base's latest execution; null: none."
    )
    counts: ComparisonCounts


class ComparedIssue(BaseModel):
    id: int
    source: IssueSource
    project: str
    key: str
    title: str
    status: IssueStatus
    url: str


class ComparedResult(BaseModel):
    test_case_id: int
    test_case: str
    environment_id: int
    test_plan: str
    test_result_id: int | None
    status: TestResultStatus | None
    duration: float | None
    base_test_result_id: int | None
    base_status: TestResultStatus | None
    base_duration: float | None
    flaky: bool
    slower: bool
    quarantined: bool = Field(description="Failed now, and an active quarantine covers it.")
    issues: list[ComparedIssue] = Field(description="Attached to either side's result.")


class ComparisonPage(BaseModel):
    count: int = Field(description="Results of the class in all, not only on this page.")
    limit: int
    offset: int
    results: list[ComparedResult]


class ComparisonResponse(BaseModel):
    artefact_id: int
    base_artefact_id: int | None = Field(
        description="Null when the artefact is the first of its line: every result is new."
    )
    totals: ComparisonCounts
    cells: list[ComparisonCell]
    results: dict[ComparisonClass, ComparisonPage] = Field(
        description="A page of results per requested class."
    )


ReadinessVerdict = Literal["ready", "not_ready"]
ReadinessReasonCode = Literal[
    "no_reviews",
    "undecided_reviews",
    "rejected_reviews",
    "untriaged_failures",
    "regressions",
    "missing_environments",
]


class ReadinessCounts(BaseModel):
    reviews_total: int = Field(description="Environment reviews of the latest builds.")
    reviews_decided: int = Field(description="Reviews with at least one decision.")
    reviews_rejected: int
    untriaged_failures: int = Field(
        description="Failed results of latest executions with no issue and no quarantine."
    )
    regressions: int = Field(
        description="Passed in the previous version, failed now, not quarantined."
    )
    missing_environments: int = Field(
        description="Expected environment names with no execution of this artefact: declared "
        "ones when a declaration applies, else those that ran the previous version (the "
        "missing-environments endpoint's rule)."
    )
    quarantined_failures: int = Field(
        description="Failed results covered by an active quarantine: never a reason."
    )


class ReadinessReason(BaseModel):
    code: ReadinessReasonCode
    count: int
    message: str


class ReviewDecisionCount(BaseModel):
    decision: ArtefactBuildEnvironmentReviewDecision
    count: int


class ReadinessSummary(BaseModel):
    verdict: ReadinessVerdict
    reasons: list[ReadinessReasonCode]
    counts: ReadinessCounts


class ReadinessResponse(BaseModel):
    artefact_id: int
    base_artefact_id: int | None = Field(description="The previous version; null: none.")
    verdict: ReadinessVerdict
    reasons: list[ReadinessReason] = Field(description="Empty exactly when ready.")
    counts: ReadinessCounts
    review_decisions: list[ReviewDecisionCount] = Field(
        description="Environment reviews per decision (a review may carry several)."
    )
    missing_environments: list[EnvironmentResponse] = Field(
        description="The recorded environments named in `missing_environment_names` (a name "
        "may be on several architectures, or on none when only a declaration names it)."
    )
    missing_environment_names: list[str] = Field(
        description="Expected environment names with no execution of this artefact, sorted: "
        "what GET /v1/artefacts/{artefact_id}/missing-environments answers."
    )
    missing_environments_expected_from: ExpectedFrom = Field(
        description="Where the expectation came from: declarations, the previous version's "
        "environments, or nothing."
    )
    due_date: date | None


class ArtefactWithReadinessResponse(ArtefactResponse):
    readiness: ReadinessSummary | None = Field(
        default=None, description="Only with `readiness=true` on the listing."
    )
