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

# The request's state key under which the read in flight waits for the access declaration.
GENERATION_READ = "auth_generation_read"


def _presents_credentials(scope: dict[str, Any]) -> bool:
    for name, value in scope["headers"]:
        if name == b"authorization" or (name == b"cookie" and b"session=" in value):
            return True
    return False


class GenerationPrefetch:
    """Plain ASGI middleware, outermost: starts the read, never waits for it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and _presents_credentials(scope):
            callers = getattr(scope["app"].state, "callers", None)
            if isinstance(callers, CallerCache):
                state = scope.setdefault("state", {})
                state[GENERATION_READ] = asyncio.ensure_future(callers.current_generation())
        await self.app(scope, receive, send)
