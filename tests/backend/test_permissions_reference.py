"""docs/reference/permissions.md lists every operation with the permissions the code declares."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from test_observer.app import create_app
from test_observer.settings import Settings

SCRIPT = Path(__file__).parents[2] / "docs" / "scripts" / "permissions_reference.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("permissions_reference", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_permissions_page_matches_the_code() -> None:
    script = load_script()
    document = create_app(Settings(db_url="postgresql+psycopg://localhost/unused")).openapi()
    page = script.PAGE.read_text()
    assert script.render(page, document) == page, (
        "docs/reference/permissions.md is stale: run `uv run python "
        "docs/scripts/permissions_reference.py` after regenerating backend/schemata/openapi.json"
    )


def test_every_operation_is_in_the_table() -> None:
    script = load_script()
    document = create_app(Settings(db_url="postgresql+psycopg://localhost/unused")).openapi()
    page = script.PAGE.read_text()
    for path, path_item in document["paths"].items():
        for method, operation in path_item.items():
            permissions = ", ".join(f"`{p}`" for p in operation["x-permissions"]) or "none"
            assert f"| {method.upper()} | `{path}` | {permissions} |" in page
