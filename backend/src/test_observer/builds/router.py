"""The artefact page's builds (under the artefacts' paths)."""

from fastapi import APIRouter

from test_observer.auth import requires
from test_observer.db.engine import DbSession
from test_observer.db.models import Permission
from test_observer.input_safety import EdgeRoute

from . import service
from .schemas import ArtefactBuildResponse

router = APIRouter(prefix="/v1/artefacts", tags=["artefacts"], route_class=EdgeRoute)


@router.get("/{artefact_id}/builds", dependencies=[requires(Permission.view_artefact)])
def get_artefact_builds(session: DbSession, artefact_id: int) -> list[ArtefactBuildResponse]:
    """The latest build per architecture with its test executions (by environment name)."""
    return service.artefact_builds(session, artefact_id)
