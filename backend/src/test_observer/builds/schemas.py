"""The artefact page's builds: each latest build with its test executions."""

from pydantic import BaseModel, Field

from test_observer.artefacts.schemas import ArtefactMinimalResponse
from test_observer.executions.schemas import TestExecutionResponse


class ArtefactBuildResponse(BaseModel):
    id: int
    architecture: str
    revision: int | None
    test_executions: list[TestExecutionResponse]
    bundled_in: list[ArtefactMinimalResponse] = Field(
        description="Solutions that bundle this build."
    )
