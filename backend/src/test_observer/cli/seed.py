"""`test-observer seed`: the development and benchmark datasets."""

from __future__ import annotations

from typing import Annotated

import typer

from .database import database_url, upgrade_if_pending
from .output import fail, note


def seed_command(
    artefacts: Annotated[
        int, typer.Option(help="Artefacts, spread over the five families.", min=1)
    ] = 300,
    architectures: Annotated[
        int, typer.Option(help="Architectures each artefact is built for.", min=1, max=6)
    ] = 3,
    environments: Annotated[
        int, typer.Option(help="Environments per architecture a build is tested on.", min=1)
    ] = 10,
    executions: Annotated[int, typer.Option(help="Test executions in all.", min=1)] = 2600,
    results: Annotated[int, typer.Option(help="Results per execution.", min=0)] = 200,
    versions_per_line: Annotated[
        int, typer.Option(help="Versions of each artefact line (name, track, ...).", min=1)
    ] = 5,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")] = 0,
    batch: Annotated[int, typer.Option(help="Executions per transaction.", min=1)] = 50,
    issues: Annotated[
        int, typer.Option(help="Issues triaging recurring failures (a third with a rule).", min=0)
    ] = 60,
    history_factor: Annotated[
        int,
        typer.Option(
            help="Multiply the history: the artefacts, the versions per line and the "
            "executions, so the dashboards keep their size.",
            min=1,
        ),
    ] = 1,
    bulk: Annotated[
        bool,
        typer.Option(
            help="Write the same data with COPY instead of the service code, with dates "
            "spread over weeks of history: minutes for ten times the default size.",
        ),
    ] = False,
    migrate: Annotated[bool, typer.Option(help="Apply pending migrations first.")] = True,
) -> None:
    """Fill an empty database with a realistic, deterministic dataset (for development and
    benchmarks), through the same code paths the API uses, or with COPY (`--bulk`)."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
    from sqlalchemy import text

    from test_observer.db.engine import make_engine, make_session_factory
    from test_observer.seeding.seed import SeedPlan, check_can_seed
    from test_observer.seeding.seed import seed as fill
    from test_observer.settings import Settings

    url = database_url()
    if migrate:
        upgrade_if_pending(url)
    plan = SeedPlan(
        artefacts=artefacts,
        architectures=architectures,
        environments=environments,
        executions=executions,
        results=results,
        versions_per_line=versions_per_line,
        seed=seed,
        batch=batch,
        issues=issues,
    ).with_history(history_factor)
    engine = make_engine(url)
    began = time.monotonic()
    try:
        # Before the progress bar appears: a refusal is one line, not a bar and a line.
        check_can_seed(make_session_factory(engine), plan)
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=None,
            transient=False,
        ) as progress:
            task = progress.add_task("Seeding executions", total=plan.executions)
            if bulk:
                from test_observer.seeding.bulk_seed import bulk_seed

                counts = bulk_seed(
                    engine, plan, progress=lambda done: progress.update(task, completed=done)
                )
            else:
                counts = fill(
                    make_session_factory(engine),
                    plan,
                    Settings(db_url=url),
                    progress=lambda done: progress.update(task, completed=done),
                )
                # As `--bulk` does: leave statistics and a visibility map, as autovacuum
                # would, so that benchmarks on a new seed measure index-only scans.
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.execute(text("VACUUM ANALYZE"))
    except ValueError as error:
        fail(str(error))
    finally:
        engine.dispose()
    note(
        f"Seeded {counts['artefacts']} artefacts, {counts['executions']} executions, "
        f"{counts['results']} results, {counts['issues']} issues, "
        f"{counts['attachment_rules']} attachment rules and {counts['attachments']} "
        f"attachments in {time.monotonic() - began:.0f} s"
    )
