"""The application factory."""

from __future__ import annotations

import gc
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.requests import HTTPConnection
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import Scope

from test_observer.applications.router import router as applications_router
from test_observer.artefacts.router import router as artefacts_router
from test_observer.audit.router import router as audit_router
from test_observer.auth.access import operations, required_permissions
from test_observer.auth.cache import CallerCache
from test_observer.auth.prefetch import GenerationPrefetch
from test_observer.auth.principal import (
    SESSION_COOKIE,
    authenticates,
    presents_credentials,
    remembered_caller,
)
from test_observer.builds.router import router as builds_router
from test_observer.db.engine import make_engine, make_session_factory
from test_observer.db.errors import classify
from test_observer.environments.router import router as environments_router
from test_observer.error_reporting import init_error_reporting, report
from test_observer.error_reporting.router import router as error_reporting_router
from test_observer.errors import DomainError
from test_observer.execution_metadata.router import router as execution_metadata_router
from test_observer.executions.router import router as executions_router
from test_observer.expected_environments.router import router as expected_environments_router
from test_observer.failure_signatures.router import router as failure_signatures_router
from test_observer.input_safety import (
    EdgeRequest,
    RequestBodyLimit,
    SecurityHeaders,
    safe_detail,
)
from test_observer.issues.router import router as issues_router
from test_observer.matching_rules.router import router as matching_rules_router
from test_observer.notifications.router import router as notifications_router
from test_observer.observability import metrics, tracing
from test_observer.observability.http import RequestObservationMiddleware
from test_observer.permissions.router import router as permissions_router
from test_observer.quarantines.router import router as quarantines_router
from test_observer.readiness_page.router import router as readiness_page_router
from test_observer.reports.router import router as reports_router
from test_observer.serving.supervision import leave_with_supervisor
from test_observer.settings import Settings, SettingsError, load_settings
from test_observer.sign_in.router import router as sign_in_router
from test_observer.system.router import router as system_router
from test_observer.teams.router import router as teams_router
from test_observer.test_cases.router import router as test_cases_router
from test_observer.test_plans.router import router as test_plans_router
from test_observer.test_results.router import router as test_results_router
from test_observer.users.router import router as users_router
from test_observer.version import installed_version
from test_observer.webhooks.router import router as webhooks_router

logger = logging.getLogger(__name__)

# Routes are tried in this order, each router's in turn, until one matches: the router CI
# systems write through comes first, since it takes most requests and is the only one under
# /v1/test-executions. Where routers share a prefix (/v1/artefacts, /v1/users), their order
# decides which route serves a request.
ROUTERS = [
    system_router,
    executions_router,
    error_reporting_router,
    sign_in_router,
    artefacts_router,
    builds_router,
    environments_router,
    expected_environments_router,
    test_cases_router,
    test_plans_router,
    test_results_router,
    failure_signatures_router,
    execution_metadata_router,
    reports_router,
    # Before the users router, whose `/{user_id}` must not see `/me/notifications`.
    notifications_router,
    users_router,
    teams_router,
    matching_rules_router,
    permissions_router,
    quarantines_router,
    readiness_page_router,
    applications_router,
    issues_router,
    audit_router,
    webhooks_router,
]

# The version of the HTTP contract, not of the server: the committed OpenAPI document must not
# change with every commit. GET /v1/version reports the server's version.
API_VERSION = "1"

DESCRIPTION = (
    "CI systems report how artefacts fare in tests across environments; reviewers sign each "
    "artefact off. Each operation lists the permissions it needs under `x-permissions`."
)

# The groups operations are listed under in /docs, ReDoc and the REST API reference, in this
# order: one per domain folder, under the name its router gives in `tags`. A test checks that
# every operation has one and that each one here is used.
OPENAPI_TAGS: list[dict[str, Any]] = [
    {
        "name": "artefacts",
        "description": "Snaps, debs, charms, OS images and solutions under test: dashboards, "
        "search, history, versions, builds and sign-off.",
    },
    {
        "name": "environment-reviews",
        "description": "Reviewers' verdicts on how an artefact fared in each environment.",
    },
    {
        "name": "test-executions",
        "description": "Test runs of an artefact build in an environment: start and end, "
        "results, JUnit uploads, status updates, links and rerun requests.",
    },
    {
        "name": "test-results",
        "description": "Search across the results of every test execution.",
    },
    {
        "name": "test-cases",
        "description": "Test cases across runs: names, flaky tests and issues reported "
        "against a test case.",
    },
    {
        "name": "environments",
        "description": "The environments tests run in, and issues reported against them.",
    },
    {
        "name": "issues",
        "description": "Issues in GitHub, Jira or Launchpad, their attachments to test "
        "results, and the rules that attach them automatically.",
    },
    {
        "name": "test-plans",
        "description": "The test plans executions run, searched like environments.",
    },
    {
        "name": "expected-environments",
        "description": "Environments an artefact line must cover, and those a version is "
        "missing compared with its previous version or with the declaration.",
    },
    {
        "name": "quarantines",
        "description": "Test cases whose failures are accepted for now, on some environments "
        "or all, until an expiry.",
    },
    {
        "name": "failure-signatures",
        "description": "Failed results grouped by the cause their logs name.",
    },
    {
        "name": "webhooks",
        "description": "Signed notifications to other systems, and their deliveries.",
    },
    {
        "name": "audit",
        "description": "Who changed what: the append-only record of privileged changes.",
    },
    {
        "name": "execution-metadata",
        "description": "The metadata (category, value) pairs test executions carry.",
    },
    {
        "name": "reports",
        "description": "CSV reports of test executions and test results over a date range.",
    },
    {
        "name": "notifications",
        "description": "What awaits a user, and dismissing it.",
    },
    {"name": "users", "description": "People, their teams and admin rights."},
    {
        "name": "teams",
        "description": "Groups of users, the permissions they share and their members.",
    },
    {
        "name": "artefact matching rules",
        "description": "Which artefacts a team is responsible for, matched on their fields.",
    },
    {
        "name": "applications",
        "description": "API clients (CI systems, bots), their keys and permissions.",
    },
    {"name": "permissions", "description": "Every permission there is to grant."},
    {
        "name": "authentication",
        "description": "Signing in through the identity provider (SAML) or a development "
        "sign-in link, and signing out.",
    },
    {
        "name": "system",
        "description": "The service itself: root, version, health probes and a deliberate "
        "error that checks error reporting.",
    },
]

# How clients authenticate, so that documentation tools offer to send a key. Every operation
# also accepts anonymous callers (the empty requirement); its `x-permissions` say what it needs.
SECURITY_SCHEME_NAME = "APIKey"
SECURITY_SCHEMES = {
    SECURITY_SCHEME_NAME: {
        "type": "http",
        "scheme": "bearer",
        "description": (
            "An API key from `test-observer admin create-application`, sent as "
            "`Authorization: Bearer <key>`. An unknown or revoked key is answered with 401."
        ),
    }
}


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    """The API. Its HTTP and pool metrics go to `registry` (default: one of its own)."""
    settings = settings or load_settings()
    if settings.db_url is None and engine is None:
        raise SettingsError("DB_URL: a database URL is required to serve the API")
    # Every user of an engine of the app's own takes the requests' statement timeout (the
    # metrics collector sets a longer one for its own transaction), so its connections carry
    # it: a request's transaction then sends no statement to set it. An engine passed in may
    # be shared, so each request's transaction sets the limit for itself.
    own_engine = engine is None
    engine = engine or make_engine(
        settings.db_url,  # type: ignore[arg-type]
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        statement_timeout=settings.statement_timeout,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # What exists once the app is built (modules, routes, models, schemas) lives as long
        # as the process. Frozen, it is left out of the collector's full passes, which
        # otherwise walk all of it every few dozen requests and hold one of them up for about
        # a tenth of a second.
        gc.freeze()
        # Callers are remembered only while the app is served: its connection of its own is
        # then closed with the app.
        app.state.callers = CallerCache(engine)
        yield
        await app.state.callers.aclose()
        del app.state.callers
        # Back within the collector's reach, so that an app stopped inside a longer-lived
        # process (tests) can be freed.
        gc.unfreeze()
        engine.dispose()

    app = FastAPI(
        title="Test Observer",
        description=DESCRIPTION,
        version=API_VERSION,
        openapi_tags=OPENAPI_TAGS,
        redirect_slashes=False,
        # Served by our own routes so that REQUIRE_AUTHENTICATION covers them.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        dependencies=[Depends(_only_json_values)],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(
        engine, statement_timeout=None if own_engine else settings.statement_timeout
    )
    app.state.version = settings.version_override or installed_version()
    init_error_reporting(settings, app.state.version)

    for router in ROUTERS:
        app.include_router(router)

    _add_middleware(app, settings)
    _add_observability(app, engine, settings, registry or CollectorRegistry())
    # Outermost: the callers' generation is read while the rest of the edge works.
    app.add_middleware(GenerationPrefetch)
    _add_error_handlers(app)
    app.openapi = lambda: openapi_schema(app)  # type: ignore[method-assign]
    return app


def create_app_from_environment() -> FastAPI:
    """Entry point for uvicorn's `--factory` mode (workers and reload import it)."""
    leave_with_supervisor()
    return create_app(load_settings(), registry=metrics.app_registry())


async def _only_json_values(request: Request) -> None:
    """Refuse a JSON body holding NaN, Infinity or lone surrogates, which Python's parser
    accepts but JSON does not, or nesting too deep, even on routes that declare no body. Like
    malformed JSON, it is refused before anything else (`EdgeRequest.json` checks)."""
    content_type = request.headers.get("content-type", "")
    if "json" not in content_type.split(";")[0] or not await request.body():
        return
    assert isinstance(request, EdgeRequest), "every router is declared with EdgeRoute"
    try:
        await request.json()
    except ValueError:
        # Not JSON at all: the body's own validation answers that.
        return


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    # Without a configured secret, sessions last as long as the process: better than a
    # well-known default that lets anyone forge a cookie.
    secret = settings.sessions_secret or secrets.token_urlsafe(32)
    # Inside the session middleware, which decodes the cookie that may name the caller.
    app.add_middleware(
        RequestBodyLimit,
        max_bytes=settings.max_request_body_size,
        anonymous_max_bytes=settings.anonymous_max_request_body_size,
        identify=_caller_identifier(app),
        require_authentication=settings.require_authentication,
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=SESSION_COOKIE,
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
    # Outside CORS, so that preflight answers carry the headers too.
    app.add_middleware(SecurityHeaders)


def _caller_identifier(app: FastAPI) -> Any:
    """For the body limit: whether a request's credentials name a known caller, asked only
    when the request presents some and its body may exceed what anonymous callers may send:
    a remembered caller from the event loop, else of the database (a short read-only
    transaction of its own, before the request's)."""

    async def identify(scope: Scope) -> bool:
        connection = HTTPConnection(scope)
        if not presents_credentials(connection):
            return False
        if await remembered_caller(connection):
            return True

        def check() -> bool:
            with app.state.session_factory() as session, session.begin():
                return authenticates(connection, session)

        return await run_in_threadpool(check)

    return identify


def _add_observability(
    app: FastAPI, engine: Engine, settings: Settings, registry: CollectorRegistry
) -> None:
    app.state.metrics_registry = registry
    metrics.instrument_http(app, registry)
    metrics.register_pool(engine, registry)
    # Added last, so outermost: the request id and the log line cover everything inside.
    app.add_middleware(RequestObservationMiddleware, registry=registry)
    tracing.enable_tracing(app, engine, settings)


def _add_error_handlers(app: FastAPI) -> None:
    """Last-resort translations, so that a client always gets a bounded JSON body it can act on.

    Services validate input before writing; database errors are what only the database can
    decide (a concurrent writer, a value too large for an index), classified in `db/errors.py`
    so that only a database that cannot be reached answers 503.
    """

    def domain_response(error: DomainError) -> JSONResponse:
        return JSONResponse(
            {"detail": safe_detail(error.body())},
            status_code=error.status_code,
            headers=error.headers,
        )

    def domain(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, DomainError)
        return domain_response(error)

    def invalid_request(_: Request, error: Exception) -> JSONResponse:
        # The errors echo the client's input, which may be huge or not encodable as JSON.
        assert isinstance(error, RequestValidationError)
        return JSONResponse(
            {"detail": safe_detail(list(error.errors()))},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    def database(_: Request, error: Exception) -> JSONResponse:
        answer = classify(error)
        if answer is None:
            logger.exception("unexpected database error", exc_info=error)
            return JSONResponse(
                {"detail": "Internal server error"},
                status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
            )
        if answer.status_code >= 500:
            logger.warning("database error: %s", error)
        else:
            logger.info("database refused the request: %s", error)
        return domain_response(answer)

    def internal(_: Request, error: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=error)
        report(error)
        return JSONResponse(
            {"detail": "Internal server error"},
            status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    app.add_exception_handler(DomainError, domain)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(DBAPIError, database)
    app.add_exception_handler(PoolTimeoutError, database)
    app.add_exception_handler(Exception, internal)


def openapi_schema(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        for operation in operations(app):
            if not operation.in_schema:
                continue
            entry = schema["paths"][operation.path][operation.method.lower()]
            entry["x-permissions"] = [p.value for p in required_permissions(operation.route)]
        schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        schema["security"] = [{SECURITY_SCHEME_NAME: []}, {}]
        _declare_what_the_server_answers(schema)
        app.openapi_schema = schema
    return app.openapi_schema


# Ids are PostgreSQL `integer` columns; a larger id is a 422, like any value out of range.
MAX_ID = 2**31 - 1


def _declare_what_the_server_answers(schema: dict[str, Any]) -> None:
    """Make the document describe answers the framework does not generate a schema for."""
    components = schema.get("components", {}).get("schemas", {})
    validation = components.get("HTTPValidationError")
    if validation is not None:
        # Besides FastAPI's list of field errors, a 422 may carry one message: a value the
        # database refused (out of range, too large to index) or a check without a field.
        validation["properties"]["detail"] = {
            "anyOf": [
                {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
                {"type": "string"},
            ],
            "title": "Detail",
        }
    for component in components.values():
        _naive_timestamps(component)
    for path_item in schema["paths"].values():
        for entry in path_item.values():
            for parameter in entry.get("parameters", []):
                if parameter["in"] == "path" and parameter["schema"].get("type") == "integer":
                    parameter["schema"]["maximum"] = MAX_ID


# Timestamps are stored and sent in UTC without an offset (`2025-01-02T03:04:05.123456`), the
# v1 wire format, which is not an RFC 3339 `date-time`. Requests may carry an offset or not.
TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"


def _naive_timestamps(schema: object) -> None:
    if isinstance(schema, dict):
        if schema.get("format") == "date-time":
            del schema["format"]
            schema["pattern"] = TIMESTAMP_PATTERN
            schema.setdefault("description", "A UTC timestamp in ISO 8601, without an offset")
        for value in schema.values():
            _naive_timestamps(value)
    elif isinstance(schema, list):
        for item in schema:
            _naive_timestamps(item)
