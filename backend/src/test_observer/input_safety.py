"""What the API does with input it cannot trust: JSON that only Python accepts or that nests
without end, error bodies that echo hostile values, and request bodies too large to read or sent
by callers nobody knows.

Python's JSON parser accepts `NaN`, `Infinity` and lone UTF-16 surrogates (`"\\ud800"`), none of
which is JSON (RFC 8259) or text PostgreSQL can store; `reject_non_json_values` turns them into a
422 before any service sees them. Error bodies echo what the client sent, so `echo` makes a copy
that is always encodable and never longer than a few hundred characters.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from test_observer.errors import DomainError, UnprocessableError

# What an error body repeats of a client's value, in characters of its JSON text.
ECHO_LIMIT = 200
# Longest `msg` or string `detail` an error body carries (messages may quote the input).
MESSAGE_LIMIT = 300
_ECHO_DEPTH = 8
_ECHO_ITEMS = 20
# Field errors listed in one 422: enough to fix a request, never all of a huge bad body.
_ERROR_ITEMS = 10

_SURROGATE = re.compile("[\ud800-\udfff]")

# Deepest nesting of arrays and objects a JSON body may have. No request of the API nests
# beyond a handful of levels; without a bound, a small body of brackets exhausts the parser's
# recursion and every walk over the parsed value.
MAX_JSON_DEPTH = 64


def _has_surrogate(text: str) -> bool:
    return not text.isascii() and _SURROGATE.search(text) is not None


def _non_json_value(value: object) -> tuple[list[str | int], str] | None:
    """The location and reason of the first value in a parsed body that JSON cannot carry, or
    that nests deeper than `MAX_JSON_DEPTH`."""
    # An explicit stack: bodies can nest as deep as the parser allows.
    stack: list[tuple[object, list[str | int]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        if len(path) >= MAX_JSON_DEPTH and isinstance(item, dict | list):
            return path[:MAX_JSON_DEPTH], _TOO_DEEP
        if isinstance(item, str):
            if _has_surrogate(item):
                return path, "Strings must be valid Unicode (a lone surrogate is not)"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return path, "NaN and Infinity are not JSON numbers"
        elif isinstance(item, dict):
            for key, child in item.items():
                if _has_surrogate(key):
                    return path, "Object keys must be valid Unicode (a lone surrogate is not)"
                stack.append((child, [*path, key]))
        elif isinstance(item, list):
            stack.extend((child, [*path, index]) for index, child in enumerate(item))
    return None


_TOO_DEEP = f"The JSON body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels"


def reject_non_json_values(body: object) -> None:
    """Raise a 422 in the validation shape if the parsed body holds NaN, Infinity or a lone
    surrogate anywhere."""
    problem = _non_json_value(body)
    if problem is None:
        return
    path, reason = problem
    raise UnprocessableError(reason, loc=["body", *path], input=None)


def _safe_text(text: str, limit: int) -> str:
    if len(text) > limit:
        text = text[:limit] + "…"
    return _SURROGATE.sub("\ufffd", text) if _has_surrogate(text) else text


def _json_safe(value: object, depth: int = 0) -> object:
    """A copy of `value` that `json.dumps(allow_nan=False)` can encode, cut short where large."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _safe_text(value, ECHO_LIMIT)
    if isinstance(value, bytes | bytearray):
        return _safe_text(bytes(value[: ECHO_LIMIT * 4]).decode("utf-8", "replace"), ECHO_LIMIT)
    if depth >= _ECHO_DEPTH:
        return "…"
    if isinstance(value, dict):
        items = list(value.items())[:_ECHO_ITEMS]
        return {_safe_text(str(key), ECHO_LIMIT): _json_safe(v, depth + 1) for key, v in items}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(item, depth + 1) for item in list(value)[:_ECHO_ITEMS]]
    return _safe_text(str(value), ECHO_LIMIT)


def echo(value: object) -> object:
    """What an error body may repeat of a client's `value`: encodable, and at most
    `ECHO_LIMIT` characters of JSON (longer values become a truncated string of their JSON)."""
    safe = _json_safe(value)
    text = json.dumps(safe, ensure_ascii=False)
    if len(text) <= ECHO_LIMIT:
        return safe
    if isinstance(safe, str):
        return safe[:ECHO_LIMIT] + "…"
    return text[:ECHO_LIMIT] + "…"


def safe_detail(detail: object) -> object:
    """An error `detail` that is always encodable and bounded in size.

    Strings are cut to `MESSAGE_LIMIT`; validation items keep their shape with `input` and `ctx`
    reduced by `echo`.
    """
    if isinstance(detail, str):
        return _safe_text(detail, MESSAGE_LIMIT)
    if isinstance(detail, list):
        return [_safe_item(item) for item in detail[:_ERROR_ITEMS]]
    return echo(detail)


def _safe_item(item: object) -> object:
    if not isinstance(item, dict):
        return echo(item)
    safe: dict[str, object] = {}
    for key, value in item.items():
        if key == "loc" and isinstance(value, list | tuple):
            safe[key] = [
                part if isinstance(part, int) else _safe_text(str(part), ECHO_LIMIT)
                for part in list(value)[: _ECHO_DEPTH * 4]
            ]
        elif key == "msg" or key == "type":
            safe[key] = _safe_text(str(value), MESSAGE_LIMIT)
        elif key == "input":
            safe[key] = echo(value)
        elif key == "ctx" and isinstance(value, dict):
            # Documented as an object: keep it one, with each value reduced.
            items = list(value.items())[:_ECHO_ITEMS]
            safe[key] = {_safe_text(str(k), ECHO_LIMIT): echo(v) for k, v in items}
        # Anything else (e.g. pydantic's documentation `url`) is left out.
    return safe


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than the limit of {limit} bytes")


class RequestBodyLimit:
    """ASGI middleware answering a request body too large for its caller before reading it.

    Anybody may send up to `anonymous_max_bytes`; a larger body (declared or, when chunked,
    possibly larger) is read only once `identify` has recognised the caller's credentials, and
    never beyond `max_bytes`. An anonymous caller is refused with 401 when authentication is
    required and with 413 otherwise, both from the headers alone: the body is never read. A
    declared `Content-Length` over the caller's limit is refused before anything is read; a body
    sent in chunks is counted as it arrives and crossing the limit raises `BodyTooLarge`, which
    the framework turns into the same JSON answer. Either way the server never holds more than
    the caller's limit of one request's body in memory.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        *,
        anonymous_max_bytes: int | None = None,
        identify: Identify | None = None,
        require_authentication: bool = False,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.anonymous_max_bytes = min(anonymous_max_bytes or max_bytes, max_bytes)
        self.identify = identify
        self.require_authentication = require_authentication

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared_text = Headers(scope=scope).get("content-length")
        declared = int(declared_text) if declared_text and declared_text.isdigit() else None
        if declared is not None and declared > self.max_bytes:
            error = BodyTooLarge(self.max_bytes)
            await _refusal(error.status_code, str(error.detail))(scope, receive, send)
            return

        limit = self.max_bytes
        # Without a length, a body comes only in chunks (RFC 9112, 6.3): a request with
        # neither has none, and its caller need not be identified here.
        unbounded = declared is None and (
            declared_text is not None or _has_header(scope, b"transfer-encoding")
        )
        may_exceed = unbounded or (declared is not None and declared > self.anonymous_max_bytes)
        if may_exceed and self.anonymous_max_bytes < self.max_bytes:
            try:
                known = self.identify is not None and await self.identify(scope)
            except DomainError as error:
                await _refusal(error.status_code, error.detail, error.headers)(scope, receive, send)
                return
            if not known:
                limit = self.anonymous_max_bytes
                if declared is not None:
                    await self._anonymous_refusal()(scope, receive, send)
                    return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counting_receive, send)

    def _anonymous_refusal(self) -> JSONResponse:
        limit = self.anonymous_max_bytes
        if self.require_authentication:
            return _refusal(
                401,
                f"Not authenticated: anonymous request bodies are limited to {limit} bytes",
                {"WWW-Authenticate": "Bearer"},
            )
        return _refusal(
            413,
            f"The request body is larger than the limit of {limit} bytes for anonymous "
            "callers; authenticate to send more",
        )


def _has_header(scope: Scope, name: bytes) -> bool:
    return any(key.lower() == name for key, _ in scope.get("headers", ()))


class UnprocessableBody(HTTPException):
    """A 422 raised while the framework reads the body: it re-raises `HTTPException`s as they
    are and turns anything else into a 400."""

    def __init__(self, error: UnprocessableError) -> None:
        super().__init__(422)
        # Starlette types `detail` as text; the validation shape is a list, as FastAPI sends it.
        self.detail = error.body()  # type: ignore[assignment]


def parse_json_body(body: bytes) -> object:
    """Parse a request body as JSON (`json.JSONDecodeError` when it is not), refusing what
    `reject_non_json_values` refuses and nesting deeper than `MAX_JSON_DEPTH` as
    `UnprocessableBody`."""
    try:
        value = json.loads(body)
    except RecursionError:
        # Far deeper than the limit: the parser gave up before the walk below could look.
        raise UnprocessableBody(UnprocessableError(_TOO_DEEP, loc=["body"], input=None)) from None
    try:
        reject_non_json_values(value)
    except UnprocessableError as error:
        raise UnprocessableBody(error) from None
    return value


# Bodies up to this size are parsed on the event loop: tens of microseconds, less than handing
# the work to a thread-pool thread and back costs. A larger body (a bulk upload of results)
# goes to the thread pool, so that the event loop stays free to read other requests meanwhile.
INLINE_JSON_BYTES = 16 * 1024


class EdgeRequest(Request):
    """A request whose JSON body is parsed and checked (`parse_json_body`), in the thread pool
    when it is large."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            if len(body) <= INLINE_JSON_BYTES:
                self._json = parse_json_body(body)
            else:
                self._json = await run_in_threadpool(parse_json_body, body)
        return self._json


class EdgeRoute(APIRoute):
    """The route class of every router: hands its endpoint an `EdgeRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def edge_handler(request: Request) -> Response:
            return await handler(EdgeRequest(request.scope, request.receive))

        return edge_handler


def _refusal(status_code: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"detail": detail},
        status_code=status_code,
        # The unread body makes the connection unusable for another request.
        headers={"Connection": "close", **(headers or {})},
    )


# Whether the credentials a request presents name a known caller; raises a `DomainError` (401)
# for a key nobody issued. Given by the application, which owns the database.
Identify = Callable[[Scope], Awaitable[bool]]


# On every response. The API's answers are data, never pages to frame or sniff into HTML; the
# documentation pages are pages, but not ones another site should frame.
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
FRAME_ANCESTORS = "frame-ancestors 'none'"


class SecurityHeaders:
    """ASGI middleware adding `SECURITY_HEADERS` and a `frame-ancestors 'none'` policy to every
    response, merged into a `Content-Security-Policy` the route already set."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": _secured(list(message.get("headers", [])))}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _secured(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    present = {bytes(name).lower() for name, _ in headers}
    result: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        if bytes(name).lower() == b"content-security-policy" and b"frame-ancestors" not in value:
            value = bytes(value) + b"; " + FRAME_ANCESTORS.encode()
        result.append((name, value))
    if b"content-security-policy" not in present:
        result.append((b"content-security-policy", FRAME_ANCESTORS.encode()))
    for header, text in SECURITY_HEADERS.items():
        if header.encode() not in present:
            result.append((header.encode(), text.encode()))
    return result
