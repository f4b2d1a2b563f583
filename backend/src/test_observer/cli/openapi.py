"""`test-observer openapi`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer


def openapi(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
) -> None:
    """Print the OpenAPI document of the API."""
    from test_observer.app import create_app
    from test_observer.settings import Settings

    # The document does not depend on the database; no connection is made.
    schema = create_app(Settings(db_url="postgresql+psycopg://localhost/unused")).openapi()
    text = json.dumps(schema, indent=2, sort_keys=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
