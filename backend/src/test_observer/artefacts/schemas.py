"""Wire shapes of artefacts, builds and reviewers shared by several endpoints."""

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from test_observer.db.models import ArtefactStatus, FamilyName


class ReviewerResponse(BaseModel):
    id: int
    name: str
    email: str
    # Deprecated duplicate of `email`, kept for existing clients.
    launchpad_email: str
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
    # The first reviewer, for clients that predate multiple reviewers.
    assignee: ReviewerResponse | None
    due_date: date | None
    created_at: datetime
    bug_link: str
    jira_issue: str | None
    all_environment_reviews_count: int
    completed_environment_reviews_count: int
    bundled_builds: list[ArtefactBuildMinimalResponse]
