"""The wire shapes of issues reported against environments and test cases."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from test_observer.db.text_limits import NAME_LENGTH, TEST_CASE_LENGTH

# Reported issues must point at a tracker the team uses.
ALLOWED_ISSUE_HOSTS = frozenset({"github.com", "warthogs.atlassian.net", "bugs.launchpad.net"})


def check_issue_url(url: HttpUrl | None) -> HttpUrl | None:
    if url is not None and url.host not in ALLOWED_ISSUE_HOSTS:
        allowed = ", ".join(sorted(ALLOWED_ISSUE_HOSTS))
        raise ValueError(f"The url must point to one of {allowed}")
    return url


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


class TestReportedIssueRequest(BaseModel):
    """Reported against a test case name, a template id, or both."""

    __test__ = False

    template_id: Annotated[str, Field(max_length=TEST_CASE_LENGTH)] = ""
    case_name: Annotated[str, Field(max_length=TEST_CASE_LENGTH)] = ""
    description: str
    url: HttpUrl

    _url = field_validator("url")(check_issue_url)

    @model_validator(mode="after")
    def _needs_a_target(self) -> TestReportedIssueRequest:
        if not self.template_id and not self.case_name:
            raise ValueError("Either template_id or case_name is required")
        return self


class TestReportedIssueResponse(BaseModel):
    __test__ = False
    model_config = ConfigDict(from_attributes=True)

    id: int
    template_id: str
    case_name: str
    description: str
    url: str
    created_at: datetime
    updated_at: datetime
