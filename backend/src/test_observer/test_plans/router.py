"""Test plans: names for autocompletion of the test-plan filter."""

from typing import Annotated

from fastapi import APIRouter, Query

from test_observer.auth import requires
from test_observer.db.engine import DbSession
from test_observer.db.models import FamilyName, Permission
from test_observer.input_safety import EdgeRoute
from test_observer.pagination import Page, paged

from . import service
from .schemas import TestPlansResponse

router = APIRouter(prefix="/v1/test-plans", tags=["test-plans"], route_class=EdgeRoute)


@router.get("", dependencies=[requires(Permission.view_test)])
def get_test_plans(
    session: DbSession,
    q: Annotated[str | None, Query(description="Case-insensitive part of the name")] = None,
    families: Annotated[
        list[FamilyName] | None,
        Query(description="Only test plans run for artefacts of these families"),
    ] = None,
    page: Page = paged(default=50, maximum=1000),
) -> TestPlansResponse:
    """Test plan names, sorted."""
    return service.list_test_plan_names(session, q, families or [], page.limit, page.offset)
