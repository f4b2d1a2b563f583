"""Which route template a request matches, without trying every route.

The request log, the in-progress gauge and the HTTP metrics label a request with the template
of the route it matches, before the router runs. The metrics library finds it by flattening the
app's routers and trying each route in turn: about 100 µs on every request of an API of a
hundred operations. A route can only match paths that start with the literal segments of its
template ("/v1/artefacts/{artefact_id}/builds" only paths under "/v1/artefacts"), so the
routes are indexed once by their first two literal segments, and a request tries only those
that could match, in the app's order. The answer is the library's: it does the matching.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from weakref import WeakKeyDictionary

# How many leading literal segments index a route.
_DEPTH = 2


class RouteIndex:
    """An app's flattened routes, by the literal segments their templates start with."""

    def __init__(self, routes: Sequence[Any]) -> None:
        self._by_prefix: dict[tuple[str, ...], list[tuple[int, Any]]] = {}
        for position, route in enumerate(routes):
            key = _literal_prefix(getattr(route, "path", None))
            self._by_prefix.setdefault(key, []).append((position, route))

    def candidates(self, path: str) -> list[Any]:
        """The routes that could match `path` (relative to the app), in the app's order."""
        segments = tuple(path.split("/")[1 : _DEPTH + 1])
        found: list[tuple[int, Any]] = []
        for length in range(len(segments) + 1):
            found.extend(self._by_prefix.get(segments[:length], ()))
        found.sort(key=lambda entry: entry[0])
        return [route for _, route in found]


def _literal_prefix(template: object) -> tuple[str, ...]:
    """The first segments of a route's template before any parameter; () for a route without
    a template, which is then tried for every path."""
    if not isinstance(template, str) or not template.startswith("/"):
        return ()
    literal: list[str] = []
    for segment in template.split("/")[1 : _DEPTH + 1]:
        if "{" in segment:
            break
        literal.append(segment)
    return tuple(literal)


# Built on an app's first request, rebuilt if its list of routes changes length.
_indexes: WeakKeyDictionary[Any, tuple[int, RouteIndex]] = WeakKeyDictionary()


def route_name(request: Any, should_include_root_path: bool) -> str | None:
    """The template of the route `request` matches, as the metrics library names it."""
    from prometheus_fastapi_instrumentator import routing

    scope = request.scope
    app = scope.get("app")
    routes = getattr(app, "routes", None)
    if not routes or scope.get("root_path") or should_include_root_path:
        # Behind a root path the route's path is not the request's: the library's full search.
        searched: str | None = library_route_name(routing)(request, should_include_root_path)
        return searched
    known = _indexes.get(app)
    if known is None or known[0] != len(routes):
        known = _indexes[app] = (len(routes), RouteIndex(routing._effective_routes(routes)))
    matched: str | None = routing._get_route_name(scope, known[1].candidates(scope["path"]))
    return matched


def library_route_name(routing: Any) -> Any:
    """The library's own `get_route_name`, kept before `instrument_http` replaces it."""
    original = getattr(routing, "_test_observer_original", None)
    if original is None:
        original = routing._test_observer_original = routing.get_route_name
    return original
