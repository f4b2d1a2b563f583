"""Wire shapes of test executions, their results and events, shared by several endpoints."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from test_observer.artefacts.schemas import ArtefactBuildMinimalResponse, ArtefactResponse
from test_observer.db.models import (
    FamilyName,
    IssueSource,
    IssueStatus,
    TestExecutionStatus,
    TestResultStatus,
)
from test_observer.environments.schemas import EnvironmentResponse

# An issue as a test result shows it. The issues domain builds on executions (its filters
# are the results search's), so the shapes it shares with results live here.


class MinimalIssue(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    source: IssueSource
    project: str
    key: str
    title: str
    status: IssueStatus
    url: str
    labels: list[str] | None
    test_executions_count: int = Field(
        default=0, description="Only the issue list computes it; nested issues report 0."
    )


class MinimalAttachmentRule(BaseModel):
    id: int
    enabled: bool
    families: list[FamilyName]
    artefacts: list[str]
    artefact_versions: list[str]
    artefact_stages: list[str]
    artefact_tracks: list[str]
    environment_names: list[str]
    test_plans: list[str]
    test_case_names: list[str]
    template_ids: list[str]
    test_result_statuses: list[TestResultStatus]
    execution_metadata: dict[str, list[str]]
    failure_signatures: list[int] = Field(
        default=[], description="Ids of failure signatures, one of which the result must have."
    )


class IssueAttachmentResponse(BaseModel):
    issue: MinimalIssue
    attachment_rule: MinimalAttachmentRule | None


class RelevantLinkResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    label: str
    url: str


class TestExecutionResponse(BaseModel):
    __test__ = False

    id: int
    ci_link: str | None
    c3_link: str | None
    relevant_links: list[RelevantLinkResponse]
    environment: EnvironmentResponse
    status: TestExecutionStatus
    test_plan: str = Field(description="The plan's name, not an object.")
    created_at: datetime
    execution_metadata: dict[str, list[str]]
    is_triaged: bool
    is_rerun_requested: bool
    rerun_priority: int | None


class PreviousTestResult(BaseModel):
    status: TestResultStatus
    version: str
    artefact_id: int
    test_execution_id: int
    test_result_id: int


class TestResultResponse(BaseModel):
    __test__ = False

    id: int
    name: str
    created_at: datetime
    category: str
    template_id: str
    status: TestResultStatus
    comment: str
    io_log: str
    duration: float | None = Field(
        default=None, description="Seconds the test took; null when the reporter did not say."
    )
    previous_results: list[PreviousTestResult]
    issues: list[IssueAttachmentResponse]
    failure_signature_id: int | None = Field(
        default=None,
        description="The failure signature of a failed result (GET /v1/failure-signatures/{id}).",
    )


class TestEventResponse(BaseModel):
    __test__ = False
    model_config = ConfigDict(from_attributes=True)

    event_name: str
    timestamp: datetime
    detail: str


class PendingRerun(BaseModel):
    test_execution_id: int = Field(
        description="The newest execution of the request's (plan, build, environment) group."
    )
    ci_link: str | None
    family: FamilyName
    priority: int
    created_at: datetime = Field(description="When the rerun was requested.")
    test_execution: TestExecutionResponse
    artefact: ArtefactResponse
    artefact_build: ArtefactBuildMinimalResponse


class StartTestResponse(BaseModel):
    id: int


class TestExecutionResponseWithContext(TestExecutionResponse):
    __test__ = False

    artefact: ArtefactResponse
    artefact_build: ArtefactBuildMinimalResponse
    test_results: list[TestResultResponse]


class TestExecutionSearchResponse(BaseModel):
    __test__ = False

    count: int
    limit: int
    offset: int
    test_executions: list[TestExecutionResponseWithContext]
