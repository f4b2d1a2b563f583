"""`test-observer db`: inspect and migrate the database schema."""

from __future__ import annotations

from typing import Annotated

import typer

from .database import REPORT_HELP, database_url, print_schema_state, run_migration
from .output import fail

app = typer.Typer(help="Inspect and migrate the database schema.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    json_report: Annotated[bool, typer.Option("--json", help=REPORT_HELP)] = False,
) -> None:
    """Apply migrations up to REVISION (default: head)."""
    run_migration("upgrade", database_url(), revision, report=json_report)


# Relative revisions such as -1 look like options; let them through as the argument.
@app.command("downgrade", context_settings={"ignore_unknown_options": True})
def db_downgrade(
    revision: Annotated[
        str, typer.Argument(help="Target revision: an id, 'base', or relative such as -1.")
    ],
    json_report: Annotated[bool, typer.Option("--json", help=REPORT_HELP)] = False,
) -> None:
    """Revert migrations down to REVISION."""
    run_migration("downgrade", database_url(), revision, report=json_report)


@app.command("current")
def db_current(
    json_report: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print JSON: the current revisions, this code's heads, whether the database "
            "is at them and whether this code knows every applied revision.",
        ),
    ] = False,
) -> None:
    """Print the database's current revision ('base' when none is applied)."""
    from sqlalchemy.exc import OperationalError

    from test_observer.db import migrate

    if json_report:
        print_schema_state(database_url())
        return
    try:
        revisions = migrate.current(database_url())
    except OperationalError as error:
        fail(f"Cannot reach the database (check DB_URL): {error.orig}")
    typer.echo("\n".join(revisions) if revisions else "base")


@app.command("heads")
def db_heads() -> None:
    """Print the head revision(s) of this code's migrations (no database needed)."""
    from test_observer.db import migrate

    typer.echo("\n".join(migrate.heads()))


@app.command("check")
def db_check() -> None:
    """Exit non-zero when the models and the migrations differ."""
    from test_observer.db import migrate

    url = database_url()
    run_migration("upgrade", url, "head")
    diff = migrate.differences(url)
    if diff:
        fail(
            "The models differ from the migrations (add one with `test-observer db revision`): "
            f"{diff}"
        )
    typer.echo("Models and migrations agree.")


@app.command("revision")
def db_revision(
    message: Annotated[str, typer.Argument(help="What the migration does.")],
    autogenerate: Annotated[
        bool, typer.Option(help="Fill the migration from the differences with the models.")
    ] = True,
) -> None:
    """Create a migration file (to review by hand before committing)."""
    from test_observer.db import migrate

    url = database_url()
    run_migration("upgrade", url, "head")
    typer.echo(migrate.new_revision(url, message, autogenerate=autogenerate))
