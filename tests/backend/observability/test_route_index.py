"""The route index names every request's route exactly as the metrics library's full search does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from prometheus_fastapi_instrumentator import routing
from starlette.requests import HTTPConnection

from test_observer.app import create_app
from test_observer.observability.routes import RouteIndex, library_route_name, route_name
from test_observer.settings import Settings

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
# Paths no route declares, near ones that some do.
ODD_PATHS = (
    "",
    "/",
    "/v1",
    "/v1/",
    "/v1/nope",
    "/v1/artefacts/",
    "//v1/artefacts",
    "/v1//artefacts",
    "/health",
    "/health/live/",
    "/docs/x",
    "/v2/artefacts/1",
)


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_app(Settings(db_url="postgresql://nobody@127.0.0.1:1/none"))


def _sample_paths(template: str) -> Iterator[str]:
    """Paths the template matches: each parameter as a number, a word, and for `:path` two
    segments."""
    for value in ("1", "word", "a/b"):
        yield _PARAMETER.sub(lambda m, v=value: _fill(m, v), template)  # type: ignore[misc]


_PARAMETER = re.compile(r"\{(\w+)(:(\w+))?\}")


def _fill(parameter: re.Match[str], value: str) -> str:
    return value if parameter.group(3) == "path" or "/" not in value else "x"


def _scope(app: FastAPI, path: str, method: str, root_path: str = "") -> dict[str, Any]:
    return {
        "type": "http",
        "path": path,
        "method": method,
        "root_path": root_path,
        "app": app,
        "headers": [],
        "query_string": b"",
    }


def _paths(app: FastAPI) -> list[str]:
    templates = [getattr(r, "path", None) for r in routing._effective_routes(app.routes)]
    declared = [path for t in templates if isinstance(t, str) for path in _sample_paths(t)]
    return sorted(set(declared)) + list(ODD_PATHS)


def test_every_path_and_method_gets_the_librarys_answer(app: FastAPI) -> None:
    library = library_route_name(routing)
    compared = named = 0
    for path in _paths(app):
        for method in METHODS:
            request = HTTPConnection(_scope(app, path, method))
            expected = library(request, False)
            assert route_name(request, False) == expected, (method, path)
            compared += 1
            named += expected is not None
    # The comparison covered the API: every operation, and paths that match none.
    assert len(app.openapi()["paths"]) < named < compared


def test_behind_a_root_path_the_answer_is_the_librarys(app: FastAPI) -> None:
    library = library_route_name(routing)
    for path in ("/api/v1/version", "/api/v1/artefacts/3", "/v1/version", "/api"):
        for include in (False, True):
            request = HTTPConnection(_scope(app, path, "GET", root_path="/api"))
            assert route_name(request, include) == library(request, include)


def test_a_route_added_later_is_found() -> None:
    app = FastAPI()

    @app.get("/first/{item}")
    def first(item: str) -> str:
        return item

    assert route_name(HTTPConnection(_scope(app, "/first/1", "GET")), False) == "/first/{item}"

    @app.get("/second/{item}")
    def second(item: str) -> str:
        return item

    assert route_name(HTTPConnection(_scope(app, "/second/1", "GET")), False) == "/second/{item}"


def test_candidates_keep_the_apps_order_and_leave_out_other_prefixes() -> None:
    class Route:
        def __init__(self, path: str | None) -> None:
            self.path = path

    routes = [
        Route("/v1/artefacts/{id}"),
        Route("/v1/{anything}"),
        Route(None),
        Route("/v1/artefacts"),
        Route("/v1/environments"),
        Route("/health/live"),
        Route("/"),
    ]
    index = RouteIndex(routes)
    paths = [route.path for route in index.candidates("/v1/artefacts/7")]
    assert paths == ["/v1/artefacts/{id}", "/v1/{anything}", None, "/v1/artefacts"]
    assert [route.path for route in index.candidates("/")] == [None, "/"]
