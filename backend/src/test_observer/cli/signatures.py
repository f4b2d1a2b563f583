"""`test-observer signatures`: failure signatures of failed results."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

import typer

from .database import database_url
from .output import fail, note

app = typer.Typer(help="Failure signatures of failed results.", no_args_is_help=True)


@app.command("backfill")
def signatures_backfill(
    since: Annotated[
        datetime | None,
        typer.Option(help="Only results created from this date (ISO 8601)."),
    ] = None,
    batch: Annotated[int, typer.Option(help="Results per transaction.", min=1)] = 1000,
) -> None:
    """Sign failed results stored without a signature or with older rules.

    Each batch commits on its own and the service keeps running; stopped at any point, the
    backfill resumes where it stopped when run again. Progress and rate go to stderr.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from test_observer.db.engine import make_engine, make_session_factory
    from test_observer.signatures.backfill import backfill

    engine = make_engine(database_url())
    began = time.monotonic()
    try:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:,.0f} results/s"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        ) as bar:
            task = bar.add_task("Signing failed results", total=None, rate=0.0)

            def advance(done: Any) -> None:
                rate = done.signed / max(time.monotonic() - began, 1e-9)
                bar.update(task, total=done.pending, completed=done.signed, rate=rate)

            progress = backfill(
                make_session_factory(engine), since, batch_size=batch, on_batch=advance
            )
    except OperationalError as error:
        fail(f"Cannot reach the database (check DB_URL): {error.orig}")
    except ProgrammingError as error:
        fail(f"The database schema is not ready (run `test-observer db upgrade`): {error.orig}")
    finally:
        engine.dispose()
    elapsed = time.monotonic() - began
    note(
        f"Signed {progress.signed} failed results in {progress.batches} batches in {elapsed:.1f} s"
        f" ({progress.signed / max(elapsed, 1e-9):,.0f} results/s)"
    )
