"""The job worker's own view of its health: whether it reaches the database, since when not.

The worker answers `/health` (200 while healthy, 503 once the database has been away for
longer than WORKER_OUTAGE_THRESHOLD_S) and `/metrics` on WORKER_METRICS_PORT, so that a
process manager (the charm's Pebble check) and Prometheus see an outage the worker rides out
without exiting.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class WorkerHealth:
    def __init__(self, outage_threshold_s: float) -> None:
        self.outage_threshold_s = outage_threshold_s
        self.registry = CollectorRegistry()
        self._database_up = Gauge(
            "test_observer_worker_database_up",
            "1 while the job worker is connected to the database, else 0.",
            registry=self.registry,
        )
        self._outages = Counter(
            "test_observer_worker_database_outages",
            "Times the job worker lost the database.",
            registry=self.registry,
        )
        self.skipped = Counter(
            "test_observer_job_runs_skipped",
            "Runs of a job not started because another run of it was still running.",
            ["job"],
            registry=self.registry,
        )
        self._lost_since: float | None = None
        self._last_error = ""
        self._lock = threading.Lock()

    def connected(self) -> None:
        with self._lock:
            self._lost_since = None
            self._last_error = ""
        self._database_up.set(1)

    def lost(self, error: BaseException | None) -> None:
        with self._lock:
            if self._lost_since is None:
                self._lost_since = time.monotonic()
                self._outages.inc()
            self._last_error = str(error or "connection lost").strip().splitlines()[0]
        self._database_up.set(0)

    def state(self) -> tuple[bool, dict[str, object]]:
        """(healthy, the body of /health)."""
        with self._lock:
            if self._lost_since is None:
                return True, {"status": "ok"}
            away = time.monotonic() - self._lost_since
            body = {
                "status": "database unreachable",
                "seconds": round(away, 1),
                "error": self._last_error,
            }
            return away <= self.outage_threshold_s, body

    def serve(self, host: str, port: int) -> ThreadingHTTPServer:
        """Answer /health and /metrics from a daemon thread."""
        health = self

        class Handler(BaseHTTPRequestHandler):
            # A scrape or a check that stalls must not hold a thread for ever.
            timeout = 10

            def do_GET(self) -> None:
                if self.path == "/health":
                    healthy, body = health.state()
                    self._answer(200 if healthy else 503, "application/json", json.dumps(body))
                elif self.path == "/metrics":
                    self._answer(200, CONTENT_TYPE_LATEST, generate_latest(health.registry))
                else:
                    self._answer(404, "text/plain", "not found\n")

            def _answer(self, status: int, kind: str, body: str | bytes) -> None:
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass  # checks every few seconds would drown the job log

        server = ThreadingHTTPServer((host, port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="worker-health", daemon=True).start()
        return server
