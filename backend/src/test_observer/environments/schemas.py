"""Wire shapes of environments and their reported issues."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from test_observer.db.text_limits import NAME_LENGTH
from test_observer.reported_issues import check_issue_url


class EnvironmentResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    architecture: str


class EnvironmentsResponse(BaseModel):
    environments: list[str]
    count: int = Field(description="Matching names in all, not only on this page.")
    limit: int
    offset: int


class EnvironmentReportedIssueRequest(BaseModel):
    environment_name: Annotated[str, Field(max_length=NAME_LENGTH)]
    description: str
    url: HttpUrl | None = None
    is_confirmed: bool

    _url = field_validator("url")(check_issue_url)

    @model_validator(mode="after")
    def _confirmed_needs_url(self) -> EnvironmentReportedIssueRequest:
        if self.is_confirmed and self.url is None:
            raise ValueError("A confirmed issue needs a url")
        return self


class EnvironmentReportedIssueResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    environment_name: str
    description: str
    url: str | None
    is_confirmed: bool
    created_at: datetime
    updated_at: datetime
