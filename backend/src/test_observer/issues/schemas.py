"""Wire shapes of issues and attachment rules, as nested in test results."""

from pydantic import BaseModel, ConfigDict, Field

from test_observer.db.models import FamilyName, IssueSource, IssueStatus, TestResultStatus


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
    test_case_names: list[str]
    template_ids: list[str]
    test_result_statuses: list[TestResultStatus]
    execution_metadata: dict[str, list[str]]


class IssueAttachmentResponse(BaseModel):
    issue: MinimalIssue
    attachment_rule: MinimalAttachmentRule | None
