"""Wire shapes of issues, their attachments to test results and attachment rules."""

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from test_observer.db.models import FamilyName, IssueSource, IssueStatus, TestResultStatus
from test_observer.result_filters.model import MetadataText, TestResultSearchFilters

# An issue and its attachment as a test result shows them.


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


class IssueResponse(BaseModel):
    """One issue with its attachment rules."""

    id: int
    source: IssueSource
    project: str
    key: str
    title: str
    status: IssueStatus
    url: str
    labels: list[str] | None
    auto_rerun_enabled: bool
    attachment_rules: list[MinimalAttachmentRule]


class IssuesGetResponse(BaseModel):
    issues: list[MinimalIssue]
    # Matching issues in all, not only on this page.
    count: int
    limit: int
    offset: int


class IssueFields(BaseModel):
    """What a caller may set on an issue; a missing or null field is left unchanged."""

    title: str | None = None
    status: IssueStatus | None = None
    auto_rerun_enabled: bool | None = None


class IssuePutRequest(IssueFields):
    url: HttpUrl = Field(description="Issue page on github.com, Jira or Launchpad")


class IssuePatchRequest(IssueFields):
    pass


class IssueAttachmentRequest(BaseModel):
    """Results to attach or detach: by id, by the filters of the results search, or both."""

    test_results: list[int] | None = None
    test_results_filters: TestResultSearchFilters | None = None
    # Recorded on the attachments, as if that rule had made them.
    attachment_rule: int | None = None


class AttachmentRuleRequest(BaseModel):
    """A rule's criteria; every empty list accepts any value."""

    enabled: bool = True
    families: list[FamilyName] = []
    artefacts: list[str] = []
    artefact_versions: list[str] = []
    artefact_stages: list[str] = []
    artefact_tracks: list[str] = []
    environment_names: list[str] = []
    test_plans: list[str] = []
    test_case_names: list[str] = []
    template_ids: list[str] = []
    test_result_statuses: list[TestResultStatus] = []
    # For each category, the execution must carry one of the values.
    execution_metadata: dict[MetadataText, list[MetadataText]] = {}
    failure_signatures: list[int] = Field(
        default=[], description="Ids of failure signatures, one of which the result must have."
    )


class AttachmentRulePatchRequest(BaseModel):
    enabled: bool | None = None
