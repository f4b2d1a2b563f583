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


def test_every_operation_is_grouped_under_a_declared_tag() -> None:
    document = json.loads(SNAPSHOT.read_text())
    declared = [tag["name"] for tag in document["tags"]]
    used: set[str] = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            tags = operation.get("tags", [])
            assert tags, f"{method.upper()} {path} has no tag: it would be listed under 'default'"
            used.update(tags)
    assert sorted(used) == sorted(declared)
    assert len(set(declared)) == len(declared)
    assert all(tag["description"] for tag in document["tags"])
