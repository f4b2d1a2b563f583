"""Service-level endpoints: root, version, health and the interactive API documentation."""

from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel

from test_observer.auth import authenticated, loopback_only
from test_observer.auth.access import DbSession

from . import service

router = APIRouter()


class VersionResponse(BaseModel):
    version: str


class HealthResponse(BaseModel):
    status: str


@router.get("/", dependencies=[authenticated()])
def root(session: DbSession) -> str:
    service.ping(session)
    return "test observer api"


@router.get("/v1/version", dependencies=[authenticated()])
def get_version(request: Request) -> VersionResponse:
    return VersionResponse(version=request.app.state.version)


@router.get("/health/live", dependencies=[loopback_only()])
def live() -> HealthResponse:
    return HealthResponse(status="live")


@router.get(
    "/health/ready",
    dependencies=[loopback_only()],
    responses={503: {"description": "The database cannot be reached"}},
)
def ready(request: Request) -> Any:
    if not service.database_reachable(request.app.state.engine):
        return JSONResponse(
            {"detail": "Database connection failed"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    return HealthResponse(status="ready")


# The browser loads these pages without the X-CSRF-Token header, so a session cookie alone
# is accepted for them.
@router.get(
    "/openapi.json",
    include_in_schema=False,
    dependencies=[authenticated(allow_cookie_without_csrf=True)],
)
def openapi_document(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get(
    "/docs",
    include_in_schema=False,
    dependencies=[authenticated(allow_cookie_without_csrf=True)],
)
def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title="Test Observer API")


@router.get(
    "/redocs",
    include_in_schema=False,
    dependencies=[authenticated(allow_cookie_without_csrf=True)],
)
def redoc() -> HTMLResponse:
    return get_redoc_html(openapi_url="/openapi.json", title="Test Observer API")
