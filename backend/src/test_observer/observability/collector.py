"""The domain series: grouped counts read from the database when Prometheus scrapes.

Every unit serving the same database reports the same numbers, because they are the database's
numbers: nothing is counted in the process, so nothing is double counted or lost on restart.

The label sets (test name per artefact line, environment and plan) make these series many: on
a large database a refresh takes seconds and renders megabytes. So a refresh renders the
exposition text once and every scrape within `cache_seconds` serves those bytes; a stale
snapshot starts one refresh, which the scrape waits for at most `refresh_wait_seconds` before
serving the previous snapshot (the refresh goes on and the next scrape gets it).

The background jobs' series are read the same way, from the job queue's tables (procrastinate's
`procrastinate_jobs` and `procrastinate_events`): runs finished in the same window, their
durations, whether each job's latest run failed, and the jobs waiting or running now.

The series themselves (their names, labels and queries) are in `series.py`.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text

from .series import DOMAIN_SERIES, SUMMARY_QUANTILES, Series

logger = logging.getLogger(__name__)

# A refresh must not hold a connection for ever when the database is locked or overloaded.
QUERY_TIMEOUT_MS = 60_000


def _label(value: object) -> str:
    # Enums export their JSON value ("snap", "FAILED", "jira"); absent values are "".
    if value is None:
        return ""
    raw = str(getattr(value, "value", value))
    # The escapes of the text exposition format.
    return raw.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: object) -> str:
    return repr(float(value))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Snapshot:
    exposition: bytes
    # The same, compressed once per refresh rather than once per scrape.
    gzipped: bytes
    taken_at: float  # monotonic clock
    query_seconds: float
    succeeded: bool


class DomainCollector(Collector):
    """Runs the series' queries at scrape time and keeps their rendered text for a while.

    The series themselves are served as text (`exposition`); as a registered collector it
    reports how fresh that text is and whether the last refresh reached the database.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        cache_seconds: float,
        init_days: int,
        series: Sequence[Series] = DOMAIN_SERIES,
        refresh_wait_seconds: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.cache_seconds = cache_seconds
        self.init_days = init_days
        self.series = tuple(series)
        self.refresh_wait_seconds = refresh_wait_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._refresh: threading.Thread | None = None

    def exposition(self, *, gzipped: bool = False) -> bytes:
        """The domain series in the text exposition format, at most `cache_seconds` old unless
        a refresh takes longer than the scrape may wait; `gzipped`: as one gzip member."""
        snapshot = self._current()
        if snapshot is None:
            return gzip.compress(b"") if gzipped else b""
        return snapshot.gzipped if gzipped else snapshot.exposition

    def collect(self) -> Iterator[Metric]:
        snapshot = self._snapshot
        yield GaugeMetricFamily(
            "test_observer_database_up",
            "1 when the last refresh of the domain series reached the database, 0 when not",
            value=1.0 if snapshot and snapshot.succeeded else 0.0,
        )
        if snapshot is not None:
            yield GaugeMetricFamily(
                "test_observer_domain_metrics_query_seconds",
                "How long the last refresh of the domain series took",
                value=snapshot.query_seconds,
            )
            yield GaugeMetricFamily(
                "test_observer_domain_metrics_age_seconds",
                "How old the served domain series are",
                value=max(self._clock() - snapshot.taken_at, 0.0),
            )

    def _current(self) -> Snapshot | None:
        with self._lock:
            snapshot = self._snapshot
            if snapshot and self._clock() - snapshot.taken_at < self.cache_seconds:
                return snapshot
            # One refresh at a time: concurrent scrapes wait for the same one.
            if self._refresh is None or not self._refresh.is_alive():
                self._refresh = threading.Thread(
                    target=self._run_refresh, name="domain-metrics-refresh", daemon=True
                )
                self._refresh.start()
            refresh = self._refresh
        # The very first scrape waits for the data; later ones at most refresh_wait_seconds.
        refresh.join(None if snapshot is None else self.refresh_wait_seconds)
        return self._snapshot

    def _run_refresh(self) -> None:
        snapshot = self.refresh()
        with self._lock:
            if snapshot.succeeded or self._snapshot is None:
                self._snapshot = snapshot
            else:
                # Keep serving the last good numbers, but report the failure.
                self._snapshot = replace(
                    self._snapshot, query_seconds=snapshot.query_seconds, succeeded=False
                )

    def refresh(self) -> Snapshot:
        """Query every series and render it (no cache involved)."""
        since = None
        if self.init_days:
            since = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=self.init_days)
        started = time.perf_counter()
        parts: list[str] = []
        try:
            with self.engine.connect() as connection:
                connection.execute(text(f"SET LOCAL statement_timeout = {QUERY_TIMEOUT_MS}"))
                # Enough to group a large history in memory rather than in temporary files.
                connection.execute(text("SET LOCAL work_mem = '64MB'"))
                for series in self.series:
                    rows = connection.execute(series.query(since))
                    parts.append(_render(series, rows))
        except Exception:
            logger.exception("the domain metrics query failed")
            empty = b""
            return Snapshot(
                empty, gzip.compress(empty), self._clock(), time.perf_counter() - started, False
            )
        exposition = "".join(parts).encode()
        return Snapshot(
            exposition,
            gzip.compress(exposition, compresslevel=1),
            self._clock(),
            time.perf_counter() - started,
            True,
        )


def _render(series: Series, rows: Any) -> str:
    """One family in the text exposition format (what prometheus_client would write, without
    building an object per sample)."""
    names = series.labels
    name = series.name
    lines = [f"# HELP {name} {series.documentation}\n", f"# TYPE {name} {series.kind}\n"]
    for row in rows:
        values = tuple(row)
        labels = [f'{label}="{_label(value)}"' for label, value in zip(names, values, strict=False)]
        numbers = values[len(names) :]
        if series.kind == "gauge":
            lines.append(_sample(name, labels, numbers[0]))
            continue
        quantiles = numbers[: len(SUMMARY_QUANTILES)]
        for quantile, value in zip(SUMMARY_QUANTILES, quantiles, strict=True):
            lines.append(_sample(name, [*labels, f'quantile="{quantile}"'], value))
        total, count = numbers[len(SUMMARY_QUANTILES) :]
        lines.append(_sample(f"{name}_sum", labels, total))
        lines.append(_sample(f"{name}_count", labels, count))
    return "".join(lines)


def _sample(name: str, labels: Sequence[str], value: object) -> str:
    return f"{name}{{{','.join(labels)}}} {_number(value)}\n"
