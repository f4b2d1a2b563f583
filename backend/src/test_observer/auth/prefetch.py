"""Reading the callers' generation as soon as a request with credentials arrives.

A request with a key or a session waits for one read of `auth_generation` before it is told
who called it (see `cache.py`). Started by the outermost middleware, the read's round trip to
PostgreSQL runs while the rest of the edge does its work (request id, session cookie, body
limit, routing, dependencies), instead of after it. It still starts after the request arrived,
which is all the cache's rule asks of it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .cache import CallerCache
from .principal import GENERATION_READ, SESSION_COOKIE

_SESSION = f"{SESSION_COOKIE}=".encode()


def _may_present_credentials(scope: dict[str, Any]) -> bool:
    """From the raw headers, before the session middleware has decoded the cookie: any
    `Authorization` header or session cookie, of which `principal.presents_credentials`
    later keeps the well-formed ones. A read for a request that turns out to have none is
    only a read."""
    for name, value in scope["headers"]:
        if name == b"authorization" or (name == b"cookie" and _SESSION in value):
            return True
    return False


class GenerationPrefetch:
    """Plain ASGI middleware, outermost: starts the read, never waits for it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and _may_present_credentials(scope):
            callers = getattr(scope["app"].state, "callers", None)
            if isinstance(callers, CallerCache):
                state = scope.setdefault("state", {})
                state[GENERATION_READ] = asyncio.ensure_future(callers.current_generation())
        await self.app(scope, receive, send)
