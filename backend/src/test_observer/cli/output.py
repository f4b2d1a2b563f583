"""How every command speaks: notes on stderr, and one style of failure."""

from __future__ import annotations

from typing import NoReturn

import typer


def fail(message: str) -> NoReturn:
    # One style for every failure: "Error: " and a capitalised sentence naming the fix.
    typer.echo(f"Error: {message[:1].upper()}{message[1:]}", err=True)
    raise typer.Exit(1)


def note(message: str) -> None:
    typer.echo(message, err=True)
