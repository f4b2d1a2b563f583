"""`test-observer db embedded`: the embedded PostgreSQL used when DB_URL is not set."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .output import fail, note

app = typer.Typer(help="The embedded PostgreSQL used when DB_URL is not set.", no_args_is_help=True)


def _embedded_status() -> Any:
    from test_observer.db import embedded

    try:
        return embedded.status(embedded.data_dir_from_environment())
    except embedded.EmbeddedDatabaseUnavailableError as error:
        fail(str(error))


@app.command("status")
def db_embedded_status() -> None:
    """Show where the embedded database keeps its data and whether its server runs."""

    found = _embedded_status()
    typer.echo(f"Data directory: {found.data_dir}")
    if not found.initialised:
        typer.echo("State: not created yet (the first `test-observer serve` creates it)")
        return
    if found.server_pid is None:
        typer.echo("State: stopped")
    elif found.orphaned:
        typer.echo(
            f"State: running (pid {found.server_pid}) with no process using it: left by a "
            "run that was killed; `test-observer db embedded stop` stops it"
        )
    else:
        users = ", ".join(str(pid) for pid in found.users)
        typer.echo(f"State: running (pid {found.server_pid}), used by process(es) {users}")
    if found.stale:
        typer.echo(f"Stale users (exited without cleaning up): {len(found.stale)}")


@app.command("stop")
def db_embedded_stop(
    force: Annotated[
        bool, typer.Option("--force", help="Stop it even while a running process uses it.")
    ] = False,
) -> None:
    """Stop the embedded database server, e.g. one left running after a crash."""
    from test_observer.db import embedded

    found = _embedded_status()
    data_dir = found.data_dir
    if found.users and not force:
        users = ", ".join(str(pid) for pid in found.users)
        fail(
            f"The embedded PostgreSQL in {data_dir} is in use by process(es) {users}: stop "
            "them (it then stops by itself), or pass --force"
        )
    stopped = embedded.stop(data_dir)
    note("Stopped the embedded PostgreSQL" if stopped else "The embedded PostgreSQL is not running")


@app.command("reset")
def db_embedded_reset(
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: every record is deleted.")] = False,
) -> None:
    """Delete the embedded database's data; the next start creates an empty one."""
    import shutil

    from test_observer.db import embedded

    found = _embedded_status()
    data_dir = found.data_dir
    if not yes:
        fail(f"This deletes every record in {data_dir}: run again with --yes to confirm")
    if found.users:
        users = ", ".join(str(pid) for pid in found.users)
        fail(f"The embedded PostgreSQL in {data_dir} is in use by process(es) {users}: stop them")
    if found.server_pid is not None:
        embedded.stop(data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)
    note(f"Deleted {data_dir}")
