"""Quarantines: test cases whose failures are accepted for now."""

from typing import Annotated

from fastapi import APIRouter, Query

from test_observer.auth import Principal, requires
from test_observer.db.engine import DbSession
from test_observer.db.models import Permission
from test_observer.input_safety import EdgeRoute
from test_observer.pagination import Page, paged

from . import service
from .schemas import QuarantineRequest, QuarantineResponse, QuarantinesLifted, QuarantinesResponse

router = APIRouter(prefix="/v1/quarantines", tags=["quarantines"], route_class=EdgeRoute)


@router.put("")
def set_quarantine(
    session: DbSession,
    principal: Annotated[Principal, requires(Permission.change_quarantine)],
    request: QuarantineRequest,
) -> list[QuarantineResponse]:
    """Quarantine a test case on some environments, or on all of them with no environments.

    An entry for the same test case and environment is replaced (reason, issue, expiry).
    Quarantined failures stay visible but are not untriaged and do not fail readiness.
    """
    return service.set_quarantine(session, principal, request)


@router.get("", dependencies=[requires(Permission.view_test)])
def get_quarantines(
    session: DbSession,
    test_case: Annotated[str | None, Query(description="Only this test case's entries")] = None,
    environment_id: Annotated[
        int | None,
        Query(description="Only entries that apply on this environment (every-environment too)"),
    ] = None,
    include_expired: Annotated[
        bool, Query(description="Also list entries whose expiry has passed")
    ] = False,
    page: Page = paged(default=100, maximum=1000),
) -> QuarantinesResponse:
    """Quarantine entries by test case name; expired ones only when asked."""
    return service.list_quarantines(
        session,
        test_case=test_case,
        environment_id=environment_id,
        include_expired=include_expired,
        limit=page.limit,
        offset=page.offset,
    )


@router.delete("")
def lift_quarantines(
    session: DbSession,
    principal: Annotated[Principal, requires(Permission.change_quarantine)],
    test_case: Annotated[str, Query(min_length=1, description="The test case's name")],
    environment_ids: Annotated[
        list[int] | None,
        Query(description="Only these environments' entries; none given: every entry"),
    ] = None,
) -> QuarantinesLifted:
    """Lift a test case's quarantine on some environments, or entirely."""
    return service.lift_quarantines(session, principal, test_case, environment_ids)
