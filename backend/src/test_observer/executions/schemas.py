"""Wire shapes of test executions, their results and events, shared by several endpoints."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from test_observer.artefacts.schemas import ArtefactBuildMinimalResponse, ArtefactResponse
from test_observer.db.models import (
    FamilyName,
    TestExecutionStatus,
    TestResultStatus,
)
from test_observer.environments.schemas import EnvironmentResponse
from test_observer.issues.schemas import IssueAttachmentResponse


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
