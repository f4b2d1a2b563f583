"""`test-observer import-original`."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from .database import database_url
from .output import fail, note


def import_original_command(
    source: Annotated[
        str,
        typer.Option(
            "--from",
            envvar="ORIGINAL_DB_URL",
            help="URL of the original Test Observer's database (at its newest schema). "
            "It is only read. From ORIGINAL_DB_URL when not given, which keeps a password "
            "out of the process list.",
            show_default=False,
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option(help="Report what would be imported and merged; write nothing.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the row counts as JSON instead of a table.")
    ] = False,
    sslmode: Annotated[
        str | None,
        typer.Option(
            help="libpq's sslmode for the source (disable, allow, prefer, require, verify-ca, "
            "verify-full). Default: the URL's sslmode, else verify-full (against the system's "
            "certificate authorities unless the URL names sslrootcert) for a remote host and "
            "prefer for a local one.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Copy a database of the original Test Observer into this one, which must be empty and
    migrated. Ids are kept and API keys keep working; sessions are not imported (people sign
    in again); duplicates the original's races left are merged and reported. All or nothing:
    on failure nothing is written."""
    import time

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
    from rich.table import Table

    from test_observer.original_import.service import (
        SSL_MODES,
        ImportRefusedError,
        import_original,
    )

    if sslmode is not None and sslmode not in SSL_MODES:
        fail(f"--sslmode must be one of {', '.join(SSL_MODES)}, not {sslmode!r}")
    target = database_url()
    began = time.monotonic()
    console = Console(stderr=True)
    try:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=dry_run or as_json,
        ) as progress:
            tasks: dict[str, Any] = {}

            def started(table: str, rows: int) -> None:
                tasks[table] = progress.add_task(table, total=rows)

            def copied(table: str, rows: int) -> None:
                progress.update(tasks[table], completed=rows)

            report = import_original(
                source,
                target,
                sslmode=sslmode,
                dry_run=dry_run,
                table_started=started,
                rows_copied=copied,
            )
    except ImportRefusedError as error:
        fail(str(error))
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "dry-run": dry_run,
                    "tables": [
                        {
                            "table": table.table,
                            "source-rows": table.source_rows,
                            "imported-rows": table.imported_rows,
                            "merged-rows": table.merged_rows,
                        }
                        for table in report.tables
                    ],
                }
            )
        )
        return
    summary = Table(title="Would import" if dry_run else "Imported")
    for column in ("table", "source rows", "imported rows", "merged"):
        summary.add_column(column, justify="left" if column == "table" else "right")
    for table in report.tables:
        summary.add_row(
            table.table, str(table.source_rows), str(table.imported_rows), str(table.merged_rows)
        )
    Console().print(summary)
    for table in report.merges:
        note(f"Merged {table.merged_rows} rows of {table.table}: {table.merge_description}")
    rows = sum(table.imported_rows for table in report.tables)
    if dry_run:
        note(f"Dry run: {rows} rows would be imported; nothing was written")
    else:
        note(f"Imported {rows} rows in {time.monotonic() - began:.1f} s")
