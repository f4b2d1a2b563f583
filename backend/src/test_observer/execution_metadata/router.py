"""Every execution metadata (category, value) pair, for the search page's filters."""

from fastapi import APIRouter
from pydantic import BaseModel

from test_observer.auth import requires
from test_observer.db.engine import DbSession
from test_observer.db.models import Permission
from test_observer.input_safety import EdgeRoute

from .service import metadata_by_category

router = APIRouter(
    prefix="/v1/execution-metadata", tags=["execution-metadata"], route_class=EdgeRoute
)


class ExecutionMetadataGetResponse(BaseModel):
    # Category -> its values.
    execution_metadata: dict[str, list[str]]


@router.get("", dependencies=[requires(Permission.view_test)])
def get_execution_metadata(session: DbSession) -> ExecutionMetadataGetResponse:
    """All known pairs, attached to executions or not, grouped by category."""
    return ExecutionMetadataGetResponse(execution_metadata=metadata_by_category(session))
