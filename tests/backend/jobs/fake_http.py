"""A real HTTP server on localhost standing in for a third-party service (Snap Store, archive,
GitHub, Jira, Launchpad, SWM).

Routes map a path (without query) to an answer: (status, body) where body is bytes or
JSON-able, or a callable returning one. Unknown paths answer 404. Every request is recorded.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

Answer = tuple[int, Any]


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]


@dataclass
class FakeService:
    url: str = ""
    routes: dict[tuple[str, str], Answer | Callable[[Request], Answer]] = field(
        default_factory=dict
    )
    requests: list[Request] = field(default_factory=list)
    # Seconds to wait before answering a path (to provoke client timeouts).
    delays: dict[str, float] = field(default_factory=dict)

    def on(
        self, path: str, answer: Answer | Callable[[Request], Answer], method: str = "GET"
    ) -> None:
        self.routes[(method, path)] = answer

    def paths(self) -> list[str]:
        return [request.path for request in self.requests]


@contextmanager
def fake_service() -> Iterator[FakeService]:
    service = FakeService()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            parts = urlsplit(self.path)
            request = Request(self.command, parts.path, parts.query, dict(self.headers.items()))
            service.requests.append(request)
            if parts.path in service.delays:
                time.sleep(service.delays[parts.path])
            answer = service.routes.get((self.command, parts.path), (404, {"error": "not found"}))
            status, body = answer(request) if callable(answer) else answer
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        do_GET = _answer  # noqa: N815 (the name http.server looks up)
        do_POST = _answer  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    service.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield service
    finally:
        server.shutdown()
        server.server_close()
