"""The `test-observer` command: one entry point for people, the rock's service and the charm.

Each command group lives in a module of its own; this one assembles them, in the order
`--help` lists them.
"""

from __future__ import annotations

from typing import Annotated

import typer

from . import (
    admin,
    db,
    db_embedded,
    import_original,
    jobs,
    openapi,
    seed,
    serve,
    settings,
    signatures,
    worker,
)

app = typer.Typer(
    name="test-observer",
    help="Run and administer the Test Observer API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from test_observer.version import installed_version

        typer.echo(installed_version())
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Run and administer the Test Observer API."""


app.command()(serve.serve)
app.command("openapi")(openapi.openapi)
app.command("seed")(seed.seed_command)
app.command("import-original")(import_original.import_original_command)
app.command("worker")(worker.worker)
app.add_typer(db.app, name="db")
db.app.add_typer(db_embedded.app, name="embedded")
app.add_typer(admin.app, name="admin")
app.add_typer(jobs.app, name="jobs")
app.add_typer(settings.app, name="settings")
app.add_typer(signatures.app, name="signatures")


def main() -> None:
    app()
