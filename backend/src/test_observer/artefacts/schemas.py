"""Wire shapes of artefacts, builds and reviewers shared by several endpoints."""

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from test_observer.db.models import (
    ArtefactBuildEnvironmentReviewDecision,
    ArtefactStatus,
    FamilyName,
)
from test_observer.environments.schemas import EnvironmentResponse


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
