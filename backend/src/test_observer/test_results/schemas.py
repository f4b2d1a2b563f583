"""Wire shapes of the test results search."""

from pydantic import BaseModel, Field

from test_observer.artefacts.schemas import ArtefactBuildMinimalResponse, ArtefactResponse
from test_observer.executions.schemas import TestExecutionResponse, TestResultResponse


class TestResultSearchItem(BaseModel):
    """A result with the execution, artefact and build it belongs to."""

    __test__ = False

    test_result: TestResultResponse
    test_execution: TestExecutionResponse
    artefact: ArtefactResponse
    artefact_build: ArtefactBuildMinimalResponse


class TestResultSearchResponse(BaseModel):
    __test__ = False

    count: int = Field(description="Matching results in all, not only on this page.")
    limit: int
    offset: int
    test_results: list[TestResultSearchItem]
