"""The committed OpenAPI document is what the code generates."""

from __future__ import annotations

import json
from pathlib import Path

from test_observer.app import create_app
from test_observer.settings import Settings

SNAPSHOT = Path(__file__).parents[2] / "backend" / "schemata" / "openapi.json"


def test_committed_openapi_document_is_current() -> None:
    generated = create_app(Settings(db_url="postgresql+psycopg://localhost/unused")).openapi()
    committed = json.loads(SNAPSHOT.read_text())
    assert committed == generated, (
        "backend/schemata/openapi.json is stale: regenerate it with "
        "`uv run test-observer openapi -o backend/schemata/openapi.json`"
    )
