"""Service-level endpoints: root, version, health and the interactive API documentation."""

from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel

from test_observer.auth import authenticated, loopback_only, probe
from test_observer.db.engine import DbSession
from test_observer.errors import NotFoundError
from test_observer.input_safety import EdgeRoute

from . import service
from .docs_pages import ASSETS_PATH, asset_file, redoc_page, swagger_ui_page

router = APIRouter(tags=["system"], route_class=EdgeRoute)
# Relative to the documentation pages, which sit next to it (see docs_pages.ASSETS_HREF).
OPENAPI_HREF = "openapi.json"


class VersionResponse(BaseModel):
    version: str


class HealthResponse(BaseModel):
    status: str


@router.get("/", dependencies=[authenticated()])
def root(session: DbSession) -> str:
    service.ping(session)
    return "test observer api"


@router.get("/v1/version", dependencies=[authenticated()])
async def get_version(request: Request) -> VersionResponse:
    # Async: a constant answer is not worth a trip through the thread pool.
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
    if not service.schema_is_current(request.app.state.engine):
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
    document = request.app.openapi()
    # Behind a proxy that strips a path prefix (`serve --root-path`), "Try it out" must call
    # the API under that prefix.
    root_path = str(request.scope.get("root_path", "")).rstrip("/")
    if root_path:
        document = {**document, "servers": [{"url": root_path}]}
    return JSONResponse(document)


@router.get(
    "/docs",
    include_in_schema=False,
    dependencies=[authenticated(allow_cookie_without_csrf=True)],
)
def swagger_ui() -> HTMLResponse:
    return HTMLResponse(swagger_ui_page(openapi_url=OPENAPI_HREF, title="Test Observer API"))


@router.get(
    "/redocs",
    include_in_schema=False,
    dependencies=[authenticated(allow_cookie_without_csrf=True)],
)
def redoc() -> HTMLResponse:
    # ReDoc's sidebar shows a logo from its vendor's CDN; images from elsewhere are refused so
    # that the page never reaches out (it renders the same without the logo).
    return HTMLResponse(
        redoc_page(openapi_url=OPENAPI_HREF, title="Test Observer API"),
        headers={"Content-Security-Policy": "img-src 'self' data:"},
    )


# The scripts and styles of the pages above, under the same rule as the pages.
@router.get(
    ASSETS_PATH + "/{name}",
    include_in_schema=False,
    dependencies=[authenticated(allow_cookie_without_csrf=True)],
)
def docs_asset(name: str) -> FileResponse:
    found = asset_file(name)
    if found is None:
        raise NotFoundError(f"No documentation asset named {name!r}")
    path, media_type = found
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "max-age=86400"})
