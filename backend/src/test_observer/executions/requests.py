"""Request bodies of the test-execution endpoints (what CI systems and reviewers send).

String limits mirror the database columns, so an over-long value is a 422 naming the field
instead of a database error.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    HttpUrl,
    field_validator,
    model_validator,
)

from test_observer.db.models import TestExecutionStatus, TestResultStatus
from test_observer.db.text_limits import NAME_LENGTH, TEST_CASE_LENGTH
from test_observer.result_filters.model import MetadataText

ARCH_LENGTH = 100
LINK_LENGTH = 200


def _url_text(value: HttpUrl) -> str:
    text = str(value)
    if len(text) > LINK_LENGTH:
        raise ValueError(f"URL should have at most {LINK_LENGTH} characters")
    return text


# An http(s) URL stored in normalised form ("https://Host" -> "https://host/").
Url = Annotated[HttpUrl, AfterValidator(_url_text)]
# Relevant links live in an unbounded column.
LongUrl = Annotated[HttpUrl, AfterValidator(str)]
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
WEB_SCHEMES = frozenset({"http", "https"})


def web_link(value: str) -> str:
    """Refuse a link a browser would follow anywhere but to a web page (`javascript:`,
    `data:`, ...). Browsers drop control characters and surrounding spaces before reading the
    scheme, so a link holding any is refused too."""
    if _CONTROL.search(value):
        raise ValueError("A link must not contain control characters")
    scheme = _SCHEME.match(value.strip())
    if scheme is not None and scheme.group(1).lower() not in WEB_SCHEMES:
        raise ValueError(f"A link must be an http(s) URL, not a {scheme.group(1).lower()}: URL")
    return value


# ci_link / c3_link in start-test and end-test are free text for compatibility with existing
# CI jobs (some send identifiers rather than URLs); their length is checked, and any scheme they
# name must be http(s), since the frontend renders them as links.
CiLink = Annotated[
    str,
    Field(min_length=1, max_length=LINK_LENGTH, json_schema_extra={"format": "uri"}),
    AfterValidator(web_link),
]
Name = Annotated[str, Field(max_length=NAME_LENGTH)]
TestCaseText = Annotated[str, Field(max_length=TEST_CASE_LENGTH)]
Arch = Annotated[str, Field(max_length=ARCH_LENGTH)]


class SnapStage(StrEnum):
    edge = "edge"
    beta = "beta"
    candidate = "candidate"
    stable = "stable"


CharmStage = SnapStage
SolutionStage = SnapStage


class DebStage(StrEnum):
    proposed = "proposed"
    updates = "updates"


class ImageStage(StrEnum):
    pending = "pending"
    current = "current"


class TestExecutionRelevantLinkCreate(BaseModel):
    label: str
    url: LongUrl


def _check_version(value: str | None) -> str | None:
    if value is not None and value in ("", "null"):
        raise ValueError("version must not be empty or 'null'")
    return value


class _StartTest(BaseModel):
    environment: Name
    ci_link: CiLink | None = None
    test_plan: Name
    initial_status: TestExecutionStatus = TestExecutionStatus.IN_PROGRESS
    relevant_links: list[TestExecutionRelevantLinkCreate] = []
    needs_assignment: bool = False

    @field_validator("version", check_fields=False)
    @classmethod
    def _version(cls, value: str | None) -> str | None:
        return _check_version(value)


class _NamedStartTest(_StartTest):
    name: Name
    version: Name
    arch: Arch


class StartSnapTestExecutionRequest(_NamedStartTest):
    family: Literal["snap"]
    revision: int
    track: Name
    store: Name
    branch: Name = ""
    execution_stage: SnapStage


class StartCharmTestExecutionRequest(_NamedStartTest):
    family: Literal["charm"]
    revision: int
    track: Name
    branch: Name = ""
    execution_stage: CharmStage


class StartDebTestExecutionRequest(_NamedStartTest):
    family: Literal["deb"]
    series: Name
    repo: Name
    source: Name = ""
    execution_stage: DebStage | Literal[""] = Field(
        default="",
        description='"" for packages from a PPA, which are identified by `source` instead.',
    )

    @model_validator(mode="after")
    def _source_or_stage(self) -> StartDebTestExecutionRequest:
        if not self.source and not self.execution_stage:
            raise ValueError("Received no source or execution_stage")
        if self.source and self.execution_stage:
            raise ValueError("Received both source and execution_stage")
        return self


class StartSolutionTestExecutionRequest(_NamedStartTest):
    family: Literal["solution"]
    track: Name
    source: Name
    execution_stage: SolutionStage


class StartImageTestExecutionRequest(_StartTest):
    """An image is identified by its sha256; the other fields are needed only to create it."""

    family: Literal["image"]
    sha256: Name
    name: Name | None = None
    version: Name | None = None
    arch: Arch | None = None
    os: Name | None = None
    release: Name | None = None
    owner: Name | None = None
    image_url: Url | None = None
    execution_stage: ImageStage | None = None


StartTestRequest = Annotated[
    StartSnapTestExecutionRequest
    | StartDebTestExecutionRequest
    | StartCharmTestExecutionRequest
    | StartImageTestExecutionRequest
    | StartSolutionTestExecutionRequest,
    Field(discriminator="family"),
]


class C3TestResultStatus(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"


C3_STATUS = {
    C3TestResultStatus.PASS: TestResultStatus.PASSED,
    C3TestResultStatus.FAIL: TestResultStatus.FAILED,
    C3TestResultStatus.SKIP: TestResultStatus.SKIPPED,
}


# A test case is shared by every execution that reports it; its category describes the case,
# not one run, so the first report decides it (as in the original service).
CATEGORY_RULE = (
    "Category of the test case. Used only when this report creates the test case (its first "
    "report anywhere); the category of an existing test case is never changed, so reading the "
    "result back shows the category the case was created with, which may be empty."
)


# How long a test took, in seconds; absent or null when the reporter does not know.
Duration = Annotated[
    float | None,
    Field(ge=0, le=31_536_000, allow_inf_nan=False, description="Seconds the test took"),
]


class C3TestResult(BaseModel):
    name: TestCaseText
    template_id: TestCaseText | None = None
    status: C3TestResultStatus
    category: Annotated[TestCaseText, Field(description=CATEGORY_RULE)]
    comment: str
    io_log: str
    duration: Duration = None


class EndTestExecutionRequest(BaseModel):
    ci_link: CiLink
    c3_link: Annotated[str, Field(max_length=LINK_LENGTH), AfterValidator(web_link)] | None = None
    checkbox_version: Annotated[str, Field(max_length=200)] | None = None
    test_results: list[C3TestResult]


class TestResultRequest(BaseModel):
    __test__ = False

    name: TestCaseText
    status: TestResultStatus
    template_id: TestCaseText = ""
    category: Annotated[TestCaseText, Field(description=CATEGORY_RULE)] = ""
    comment: str = ""
    io_log: str = ""
    duration: Duration = None


class TestExecutionsPatchRequest(BaseModel):
    c3_link: Url | None = None
    ci_link: Url | None = None
    status: TestExecutionStatus | Literal["COMPLETED"] | None = Field(
        default=None,
        description="COMPLETED is not stored: it becomes PASSED, FAILED or ENDED_PREMATURELY "
        "from the results.",
    )
    execution_metadata: dict[MetadataText, list[MetadataText]] | None = None


class TestEventRequest(BaseModel):
    __test__ = False

    event_name: str
    timestamp: datetime
    detail: str

    @field_validator("timestamp")
    @classmethod
    def _naive_utc(cls, value: datetime) -> datetime:
        # Stored without a zone, in UTC like every other timestamp.
        if value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value


class StatusUpdateRequest(BaseModel):
    events: list[TestEventRequest]
