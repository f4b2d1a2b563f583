"""The application factory."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.middleware.sessions import SessionMiddleware

from test_observer.applications.router import router as applications_router
from test_observer.artefacts.router import router as artefacts_router
from test_observer.auth.access import operations, required_permissions
from test_observer.builds.router import router as builds_router
from test_observer.db.engine import make_engine, make_session_factory
from test_observer.environments.router import router as environments_router
from test_observer.errors import DomainError
from test_observer.execution_metadata.router import router as execution_metadata_router
from test_observer.executions.router import router as executions_router
from test_observer.issues.router import router as issues_router
from test_observer.matching_rules.router import router as matching_rules_router
from test_observer.permissions.router import router as permissions_router
from test_observer.reports.router import router as reports_router
from test_observer.settings import Settings, SettingsError, load_settings
from test_observer.system.router import router as system_router
from test_observer.teams.router import router as teams_router
from test_observer.test_cases.router import router as test_cases_router
from test_observer.test_results.router import router as test_results_router
from test_observer.users.router import router as users_router
from test_observer.version import installed_version

logger = logging.getLogger(__name__)

ROUTERS = [
    system_router,
    artefacts_router,
    builds_router,
    environments_router,
    test_cases_router,
    test_results_router,
    execution_metadata_router,
    reports_router,
    users_router,
    teams_router,
    matching_rules_router,
    permissions_router,
    applications_router,
    executions_router,
    issues_router,
]

# The version of the HTTP contract, not of the server: the committed OpenAPI document must not
# change with every commit. GET /v1/version reports the server's version.
API_VERSION = "1"

DESCRIPTION = (
    "CI systems report how artefacts fare in tests across environments; reviewers sign each "
    "artefact off. Each operation lists the permissions it needs under `x-permissions`."
)


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    settings = settings or load_settings()
    if settings.db_url is None and engine is None:
        raise SettingsError("DB_URL: a database URL is required to serve the API")
    engine = engine or make_engine(
        settings.db_url,  # type: ignore[arg-type]
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(
        title="Test Observer",
        description=DESCRIPTION,
        version=API_VERSION,
        redirect_slashes=False,
        # Served by our own routes so that REQUIRE_AUTHENTICATION covers them.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.version = settings.version_override or installed_version()

    for router in ROUTERS:
        app.include_router(router)

    _add_middleware(app, settings)
    _add_error_handlers(app)
    app.openapi = lambda: openapi_schema(app)  # type: ignore[method-assign]
    return app


def create_app_from_environment() -> FastAPI:
    """Entry point for uvicorn's `--factory` mode (workers and reload import it)."""
    return create_app(load_settings())


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    # Without a configured secret, sessions last as long as the process: better than a
    # well-known default that lets anyone forge a cookie.
    secret = settings.sessions_secret or secrets.token_urlsafe(32)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie="session",
        https_only=settings.sessions_https_only,
        same_site="lax",
    )
    # Outermost, so that preflights are answered before anything else runs.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
    )


def _add_error_handlers(app: FastAPI) -> None:
    """Last-resort translations, so that a client always gets a JSON body it can act on.

    Services validate input before writing; these catch what only the database can decide
    (a concurrent writer, a value too large for its column).
    """

    def conflict(_: Request, error: Exception) -> JSONResponse:
        logger.info("integrity error: %s", error)
        return JSONResponse(
            {"detail": "The request conflicts with existing data"},
            status_code=status.HTTP_409_CONFLICT,
        )

    def bad_value(_: Request, error: Exception) -> JSONResponse:
        logger.info("data error: %s", error)
        return JSONResponse(
            {"detail": "A value is invalid for its field (too long or out of range)"},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    def unavailable(_: Request, error: Exception) -> JSONResponse:
        logger.warning("database unavailable: %s", error)
        return JSONResponse(
            {"detail": "The database is unavailable"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )

    def internal(_: Request, error: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=error)
        return JSONResponse(
            {"detail": "Internal server error"},
            status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    def domain(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, DomainError)
        return JSONResponse(
            {"detail": error.body()}, status_code=error.status_code, headers=error.headers
        )

    app.add_exception_handler(DomainError, domain)
    app.add_exception_handler(IntegrityError, conflict)
    app.add_exception_handler(DataError, bad_value)
    app.add_exception_handler(OperationalError, unavailable)
    app.add_exception_handler(Exception, internal)


def openapi_schema(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        for operation in operations(app):
            if not operation.in_schema:
                continue
            entry = schema["paths"][operation.path][operation.method.lower()]
            entry["x-permissions"] = [p.value for p in required_permissions(operation.route)]
        app.openapi_schema = schema
    return app.openapi_schema
