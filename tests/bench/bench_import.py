"""Import throughput of `test-observer import-original`: `uv run tox -e bench`.

Builds a database of the original's schema holding about a million results (BENCH_IMPORT_
RESULTS says otherwise), imports it into an empty database of ours through the command and
prints rows per second. Fails when the import of all rows runs below its target.
"""

from __future__ import annotations

import os
import time

from typer.testing import CliRunner

from test_observer.cli.main import app
from test_observer.db import migrate
from test_observer.original_import.service import libpq_url
from tests.backend.original_import.dataset import OriginalShape, create_original
from tests.backend.original_import.test_import_original import counts
from tests.database import scratch_database

RESULTS_PER_EXECUTION = 200
TARGET_ROWS_PER_SECOND = 50_000.0


def test_import_throughput(database_server: str) -> None:
    results = int(os.environ.get("BENCH_IMPORT_RESULTS", "1000000"))
    shape = OriginalShape(
        executions=max(1, results // RESULTS_PER_EXECUTION),
        results_per_execution=RESULTS_PER_EXECUTION,
        duplicate_results=1000,
        duplicate_links=100,
    )
    with (
        scratch_database(database_server, "bench_original") as source,
        scratch_database(database_server, "bench_target") as target,
    ):
        began = time.monotonic()
        create_original(libpq_url(source), shape)
        print(f"\nbuilt the original database in {time.monotonic() - began:.1f} s")
        migrate.upgrade(target)

        began = time.monotonic()
        outcome = CliRunner().invoke(
            app, ["import-original", "--from", source], env={"DB_URL": target}
        )
        elapsed = time.monotonic() - began
        assert outcome.exit_code == 0, outcome.output

        rows = sum(counts(target).values())
        imported_results = counts(target)["test_result"]
        rate = rows / elapsed
        print(f"{'measure':<28}{'value':>14}")
        print(f"{'results imported':<28}{imported_results:>14,}")
        print(f"{'rows imported (all tables)':<28}{rows:>14,}")
        print(f"{'seconds':<28}{elapsed:>14.1f}")
        print(f"{'rows/s':<28}{rate:>14,.0f}   target >= {TARGET_ROWS_PER_SECOND:,.0f}")
        assert rate >= TARGET_ROWS_PER_SECOND
