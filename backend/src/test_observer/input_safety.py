"""What the API does with input it cannot trust: JSON that only Python accepts, error bodies that
echo hostile values, and request bodies too large to read.

Python's JSON parser accepts `NaN`, `Infinity` and lone UTF-16 surrogates (`"\\ud800"`), none of
which is JSON (RFC 8259) or text PostgreSQL can store; `reject_non_json_values` turns them into a
422 before any service sees them. Error bodies echo what the client sent, so `echo` makes a copy
that is always encodable and never longer than a few hundred characters.
"""

from __future__ import annotations

import json
import math
import re

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from test_observer.errors import UnprocessableError

# What an error body repeats of a client's value, in characters of its JSON text.
ECHO_LIMIT = 200
# Longest `msg` or string `detail` an error body carries (messages may quote the input).
MESSAGE_LIMIT = 300
_ECHO_DEPTH = 8
_ECHO_ITEMS = 20
# Field errors listed in one 422: enough to fix a request, never all of a huge bad body.
_ERROR_ITEMS = 10

_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(text: str) -> bool:
    return not text.isascii() and _SURROGATE.search(text) is not None


def _non_json_value(value: object) -> tuple[list[str | int], str] | None:
    """The location and reason of the first value in a parsed body that JSON cannot carry."""
    # An explicit stack: bodies can nest as deep as the parser allows.
    stack: list[tuple[object, list[str | int]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
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
    """ASGI middleware answering 413 to a request body larger than `max_bytes`.

    A declared `Content-Length` over the limit is refused before anything is read. A body sent
    in chunks is counted as it arrives; crossing the limit raises `BodyTooLarge`, which the
    framework turns into the same JSON answer. Either way the server never holds more than the
    limit of one request's body in memory.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            error = BodyTooLarge(self.max_bytes)
            response = JSONResponse(
                {"detail": error.detail},
                status_code=error.status_code,
                # The unread body makes the connection unusable for another request.
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counting_receive, send)
