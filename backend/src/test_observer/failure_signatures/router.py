"""Failure signatures: failed results grouped by what their output says went wrong."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from test_observer.auth import requires
from test_observer.db.engine import DbSession
from test_observer.db.models import Permission
from test_observer.input_safety import EdgeRoute
from test_observer.pagination import Page, paged
from test_observer.result_filters.query import ResultFilters

from . import service
from .schemas import FailureSignatureResponse, FailureSignaturesResponse

router = APIRouter(
    prefix="/v1/failure-signatures", tags=["failure-signatures"], route_class=EdgeRoute
)


@router.get("", dependencies=[requires(Permission.view_test)])
def list_failure_signatures(
    session: DbSession,
    page: Annotated[Page, paged(default=50, maximum=500)],
    filters: ResultFilters,
) -> FailureSignaturesResponse:
    """The signatures of the failed results the filters select (the results search's
    filters), most results first."""
    return service.list_signatures(session, filters, page.limit, page.offset)


@router.get("/{signature_id}", dependencies=[requires(Permission.view_test)])
def get_failure_signature(
    signature_id: int,
    session: DbSession,
    examples: Annotated[int, Query(ge=0, le=100)] = 10,
) -> FailureSignatureResponse:
    """One signature over all its results, with its newest results as examples."""
    return service.get_signature(session, signature_id, examples)
