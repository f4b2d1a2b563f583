"""`test-observer settings`: inspect the server's settings."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .output import fail

app = typer.Typer(help="Inspect the server's settings.", no_args_is_help=True)


@app.command("check")
def settings_check(
    json_report: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print JSON on stdout: whether the settings are valid, for each problem the "
            "variable, the rejected input and the reason, and the version the API reports.",
        ),
    ] = False,
) -> None:
    """Validate the settings in the environment as the server would, without starting it."""
    from pydantic import ValidationError

    from test_observer.settings import Settings
    from test_observer.version import installed_version

    try:
        settings = Settings()
    except ValidationError as error:
        problems = [
            {
                "variable": str(item["loc"][0]).upper() if item["loc"] else "",
                "input": item["input"] if isinstance(item["input"], str | int | bool) else None,
                "message": item["msg"],
            }
            for item in error.errors()
        ]
        if json_report:
            typer.echo(json.dumps({"valid": False, "problems": problems, "version": None}))
        fail(
            "invalid configuration: "
            + "; ".join(f"{p['variable']}: {p['message']}" for p in problems)
        )
    if json_report:
        version = settings.version_override or installed_version()
        typer.echo(json.dumps({"valid": True, "problems": [], "version": version}))
    else:
        typer.echo("Settings are valid.")
