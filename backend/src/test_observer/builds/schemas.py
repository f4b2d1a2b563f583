"""The artefact page's builds: each latest build with its test executions."""

from pydantic import BaseModel

from test_observer.artefacts.schemas import ArtefactMinimalResponse
from test_observer.executions.schemas import TestExecutionResponse


class ArtefactBuildResponse(BaseModel):
    id: int
    architecture: str
    revision: int | None
    test_executions: list[TestExecutionResponse]
    # Solutions that bundle this build.
    bundled_in: list[ArtefactMinimalResponse]
