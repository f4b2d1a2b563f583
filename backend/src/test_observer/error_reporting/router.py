"""GET /sentry-debug: fail on purpose, to check that error reporting works."""

from __future__ import annotations

from fastapi import APIRouter

from test_observer.auth import requires
from test_observer.db.models import Permission
from test_observer.input_safety import EdgeRoute

router = APIRouter(tags=["system"], route_class=EdgeRoute)


class DeliberateError(RuntimeError):
    """Raised by /sentry-debug; its report in Sentry proves the set-up works."""


@router.get(
    "/sentry-debug",
    dependencies=[requires(Permission.view_sentry_debug)],
    responses={500: {"description": "Always: the error is deliberate"}},
)
def trigger_error() -> None:
    raise DeliberateError("Deliberate error from /sentry-debug to test error reporting")
