"""Prometheus metrics: what the API process records, and the server that exposes them.

The metrics are served on their own port (METRICS_PORT), never through the API's routes, so the
ingress never exposes them and a slow scrape never competes with requests for a route. They listen
on METRICS_HOST (loopback unless the deployment names an address Prometheus can reach); with
METRICS_TOKEN set, a scrape must present it as a bearer token.

What the series reveal follows REQUIRE_AUTHENTICATION: the domain series are labelled with
artefact, environment, test plan and test names, which a deployment requiring authentication
does not show to anonymous callers. There, they are served only when METRICS_TOKEN is set (so
only to scrapes presenting it); without a token the metrics server serves the series labelled with
nothing but route templates, pool state and background job names.
"""

from __future__ import annotations

import gzip
import hmac
import logging
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from threading import Thread
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import QueuePool

from test_observer.settings import Settings

from .collector import DomainCollector
from .routes import library_route_name, route_name
from .series import DOMAIN_SERIES, JOB_SERIES, Series

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication

logger = logging.getLogger(__name__)

# The original's names: test_observer_api_http_requests_total and friends.
HTTP_NAMESPACE = "test_observer"
# Seconds a scrape's connection may stay silent (while sending its request) before the server
# drops it: an idle or trickling client must not hold a thread for ever.
CONNECTION_TIMEOUT_S = 10.0
HTTP_SUBSYSTEM = "api"
INPROGRESS_NAME = "http_requests_inprogress"
MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_mode() -> bool:
    """Several server processes record into files that the metrics server sums."""
    return bool(os.environ.get(MULTIPROCESS_DIRECTORY))


_CONVERTOR = re.compile(r"\{(\w+):\w+\}")


def route_template(request: Any, should_include_root_path: bool = False) -> str | None:
    """The template of the route a request matches, without path convertors.

    Ids that match digits only are declared as "{artefact_id:int}"; the original's dashboards
    and our logs name the route "/v1/artefacts/{artefact_id}".
    """
    # Asked by the request log and by the metrics of the same request: matched once.
    memo = request.scope.setdefault("state", {})
    key = ("route_template", should_include_root_path)
    if key in memo:
        return memo[key]  # type: ignore[no-any-return]
    name = route_name(request, should_include_root_path)
    memo[key] = template = _CONVERTOR.sub(r"{\1}", name) if name else name
    return template


def instrument_http(app: Any, registry: CollectorRegistry) -> None:
    """Request counts, sizes and latencies per route template, method and status class."""
    from prometheus_fastapi_instrumentator import Instrumentator, routing

    # The library names handlers with the route's declared path; ours drops convertors.
    library_route_name(routing)
    routing.get_route_name = route_template

    Instrumentator(
        should_group_status_codes=True,
        should_ignore_untemplated=False,
        should_group_untemplated=True,
        # The in-progress gauge is ours (observability.http): the library's one ignores the
        # registry it is given, which breaks more than one app per process.
        should_instrument_requests_inprogress=False,
        excluded_handlers=["/metrics"],
        registry=registry,
    ).instrument(app, metric_namespace=HTTP_NAMESPACE, metric_subsystem=HTTP_SUBSYSTEM)


class PoolCollector(Collector):
    """The API's database connection pool, read when scraped."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        pool = self.engine.pool
        if not isinstance(pool, QueuePool):
            return
        values = {
            "size": ("Connections the pool keeps open", pool.size()),
            "checked_out": ("Connections in use by requests", pool.checkedout()),
            "checked_in": ("Idle connections in the pool", pool.checkedin()),
            "overflow": ("Connections open beyond the pool size", max(pool.overflow(), 0)),
        }
        for name, (documentation, value) in values.items():
            yield GaugeMetricFamily(f"test_observer_db_pool_{name}", documentation, value=value)


def app_registry() -> CollectorRegistry:
    """The registry the API records into when served: the process-wide one.

    In multiprocess mode the values go to files instead, and the metrics server reads them.
    """
    return REGISTRY


def register_pool(engine: Engine, registry: CollectorRegistry) -> None:
    # Pool state lives in each process; in multiprocess mode nobody could read it.
    if not multiprocess_mode():
        registry.register(PoolCollector(engine))


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    # One thread per scrape: a slow scrape never queues the next one, nor a health probe.
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not worth a log line each."""


def exposed_series(settings: Settings) -> tuple[Series, ...]:
    """The domain series a scrape may see: those labelled with artefact and test names only
    when authentication is not required, or when a token keeps anonymous scrapes out."""
    if settings.require_authentication and not settings.metrics_token:
        return JOB_SERIES
    return DOMAIN_SERIES


def _authorised(environ: dict[str, Any], token: str) -> bool:
    if not token:
        return True
    presented = environ.get("HTTP_AUTHORIZATION", "").encode("latin-1")
    # Constant time: how much of a guess matches must not show in the answer's timing.
    return hmac.compare_digest(presented, f"Bearer {token}".encode("latin-1"))


def metrics_wsgi_app(
    registry: CollectorRegistry, domain: DomainCollector, token: str = ""
) -> WSGIApplication:
    """GET /metrics: the registry's metrics, then the domain series' rendered text; with a
    `token`, only for requests presenting it as `Authorization: Bearer <token>`."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not _authorised(environ, token):
            start_response(
                "401 Unauthorized",
                [("Content-Type", "text/plain"), ("WWW-Authenticate", 'Bearer realm="metrics"')],
            )
            return [b"The metrics need the bearer token of METRICS_TOKEN\n"]
        if environ.get("PATH_INFO", "/") not in ("/", "/metrics"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not found: the metrics are at /metrics\n"]
        headers = [("Content-Type", CONTENT_TYPE_LATEST)]
        gzipped = "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "")
        # The domain part first: its refresh updates the freshness gauges in the registry.
        domain_part = domain.exposition(gzipped=gzipped)
        if gzipped:
            # Two gzip members make one valid gzip stream: the large domain part is compressed
            # once per refresh, not once per scrape.
            body = gzip.compress(generate_latest(registry), compresslevel=1) + domain_part
            headers.append(("Content-Encoding", "gzip"))
        else:
            body = generate_latest(registry) + domain_part
        headers.append(("Content-Length", str(len(body))))
        start_response("200 OK", headers)
        return [body]

    return app


@dataclass
class MetricsServer:
    server: WSGIServer
    thread: Thread
    registry: CollectorRegistry
    domain: DomainCollector
    engine: Engine

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        self.engine.dispose()


def start_metrics_server(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    host: str | None = None,
    port: int | None = None,
    refresh_wait_seconds: float = 0.25,
    timeout_s: float = CONNECTION_TIMEOUT_S,
) -> MetricsServer | None:
    """Serve the metrics in a thread; None (and a log line) when the port cannot be bound.

    `registry` is what the API records into (default: the process-wide one). In multiprocess
    mode the per-process files are read instead. `host` and `port` default to METRICS_HOST and
    METRICS_PORT.
    """
    host = settings.metrics_host if host is None else host
    port = settings.metrics_port if port is None else port
    if settings.db_url is None:
        raise ValueError("the metrics server needs DB_URL")
    if registry is None:
        if multiprocess_mode():
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry = app_registry()
    # Its own small pool: a scrape never waits for a connection behind API requests.
    engine = create_engine(
        settings.db_url,
        pool_size=1,
        max_overflow=1,
        pool_pre_ping=True,
        connect_args={"options": "-c timezone=UTC", "connect_timeout": 5},
    )
    domain = DomainCollector(
        engine,
        cache_seconds=settings.metrics_cache_seconds,
        init_days=settings.metrics_init_days,
        refresh_wait_seconds=refresh_wait_seconds,
        series=exposed_series(settings),
    )
    # The socket timeout of every connection, reads and writes alike.
    handler = type("MetricsRequestHandler", (_QuietHandler,), {"timeout": timeout_s})
    try:
        server = make_server(
            host,
            port,
            metrics_wsgi_app(registry, domain, settings.metrics_token),
            server_class=_ThreadingWSGIServer,
            handler_class=handler,
        )
    except OSError as error:
        logger.warning("metrics server not started on %s:%s: %s", host, port, error)
        engine.dispose()
        return None
    # Registered only once serving, so a failed start leaves the registry as it was.
    registry.register(domain)
    thread = Thread(target=server.serve_forever, name="metrics-server", daemon=True)
    thread.start()
    logger.info("serving metrics on http://%s:%s/metrics", host, server.server_port)
    return MetricsServer(server, thread, registry, domain, engine)
