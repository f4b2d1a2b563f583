"""Wire shapes of test cases and the issues reported against them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from test_observer.db.text_limits import TEST_CASE_LENGTH
from test_observer.reported_issues import check_issue_url


class TestCaseInfo(BaseModel):
    __test__ = False

    test_case: str
    template_id: str | None


class TestCasesResponse(BaseModel):
    __test__ = False

    test_cases: list[TestCaseInfo]


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


class FlakyTestCase(BaseModel):
    """One test case in one environment over the window; see docs/explanation/flaky-tests."""

    __test__ = False

    test_case_id: int
    test_case: str
    template_id: str
    environment_id: int
    environment: str
    architecture: str
    runs: int
    failures: int
    flips: int
    score: float
    quarantined: bool = Field(
        default=False,
        description="An active quarantine covers the test case in this environment.",
    )


class FlakyTestCasesResponse(BaseModel):
    __test__ = False

    count: int
    limit: int
    offset: int
    test_cases: list[FlakyTestCase]
