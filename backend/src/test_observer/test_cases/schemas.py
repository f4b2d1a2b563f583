"""Wire shapes of test cases and the issues reported against them."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TestCaseInfo(BaseModel):
    __test__ = False

    test_case: str
    template_id: str | None


class TestCasesResponse(BaseModel):
    __test__ = False

    test_cases: list[TestCaseInfo]


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
