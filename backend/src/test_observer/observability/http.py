"""The request middleware: request id, in-progress gauge and one log line per request.

Plain ASGI, so it wraps every response, including errors turned into responses further in.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
import uuid

from prometheus_client import CollectorRegistry, Gauge
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .logging import request_id
from .metrics import HTTP_NAMESPACE, HTTP_SUBSYSTEM, INPROGRESS_NAME, route_template

logger = logging.getLogger("test_observer.request")

REQUEST_ID_HEADER = "x-request-id"
# A client's id is echoed into logs and headers: only plain tokens of sensible length.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Not worth a log line each: the probes run every few seconds.
QUIET_ROUTES = frozenset({"/health/live", "/health/ready"})


def _route_template(scope: Scope) -> str | None:
    """The path template of the route this request matches ("/v1/artefacts/{artefact_id}"),
    resolved as the HTTP metrics resolve it, so logs and metrics name routes alike."""
    return route_template(HTTPConnection(scope), should_include_root_path=False)


class RequestObservationMiddleware:
    def __init__(self, app: ASGIApp, *, registry: CollectorRegistry) -> None:
        self.app = app
        self.in_progress = Gauge(
            INPROGRESS_NAME,
            "HTTP requests being handled, by route template and method",
            labelnames=("handler", "method"),
            namespace=HTTP_NAMESPACE,
            subsystem=HTTP_SUBSYSTEM,
            registry=registry,
            multiprocess_mode="livesum",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        incoming = _header(scope, REQUEST_ID_HEADER)
        rid = incoming if incoming and _VALID_REQUEST_ID.fullmatch(incoming) else _new_request_id()
        token = request_id.set(rid)
        template = _route_template(scope)
        handler = template or "none"
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        gauge = self.in_progress.labels(handler, scope["method"])
        gauge.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            gauge.dec()
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            if template not in QUIET_ROUTES or status >= 400:
                logger.info(
                    "%s %s %s",
                    scope["method"],
                    template or scope["path"],
                    status,
                    extra={
                        "method": scope["method"],
                        "route": template,
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": duration_ms,
                    },
                )
            request_id.reset(token)


# A random prefix per process (workers are spawned, so each draws its own) and a counter: as
# unique across processes and units as a random id, without a system call for random bytes on
# every request.
_PROCESS_PREFIX = uuid.uuid4().hex[:16]
_SEQUENCE = itertools.count()


def _new_request_id() -> str:
    return f"{_PROCESS_PREFIX}{next(_SEQUENCE):016x}"


def _header(scope: Scope, name: str) -> str | None:
    wanted = name.encode()
    for key, value in scope.get("headers", ()):
        if key.lower() == wanted:
            return bytes(value).decode("latin-1")
    return None
