"""Service-level endpoints: root, version, health and the interactive API documentation."""

from functools import cache
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from test_observer.auth import authenticated, loopback_only, probe
from test_observer.auth.access import DbSession

router = APIRouter()


class VersionResponse(BaseModel):
    version: str


class HealthResponse(BaseModel):
    status: str


@router.get("/", dependencies=[authenticated()])
def root(session: DbSession) -> str:
    session.execute(text("SELECT 1"))
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
    engine: Engine = request.app.state.engine
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return JSONResponse(
            {"detail": "Database connection failed"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    return HealthResponse(status="ready")


@cache
def _code_heads() -> frozenset[str]:
    from test_observer.db import migrate

    return frozenset(migrate.heads())


@router.get(
    "/health/serving",
    dependencies=[probe()],
    responses={503: {"description": "Not serving: no database, or a schema this code is not for"}},
)
def serving(request: Request) -> Any:
    """Whether this server should receive traffic, for probes from anywhere in the cluster.

    Unlike /health/ready it also compares the database's schema revision with the code's, so
    a load balancer stops routing to a server as soon as the schema moves away from it; the
    answer never says why, so it leaks nothing to a caller outside the cluster.
    """
    engine: Engine = request.app.state.engine
    try:
        with engine.connect() as connection:
            revisions = set(connection.scalars(text("SELECT version_num FROM alembic_version")))
    except SQLAlchemyError:
        revisions = set()
    if not revisions or revisions != _code_heads():
        return JSONResponse(
            {"detail": "Not serving"}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE
        )
    return HealthResponse(status="serving")


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
