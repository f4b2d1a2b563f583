"""Our API offers every operation, query parameter, field and enumeration value the original's.

The original's surface is recorded in `upstream-api-surface.txt` (see `upstream_api`), so that
a new version of its document is a diff to read. With UPSTREAM_OPENAPI naming a copy of the
original's current `openapi.json`, the document itself is compared too, and the record must be
up to date with it: a new operation or field upstream fails here until we have it.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.contract.upstream_api import lacking, recorded, surface

REPO_ROOT = Path(__file__).resolve().parents[2]
OURS = REPO_ROOT / "backend" / "schemata" / "openapi.json"


def ours() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(OURS.read_text())
    return document


def test_we_offer_everything_recorded_of_the_original() -> None:
    missing = lacking(recorded(), ours())
    assert not missing, "the original offers what we lack:\n" + "\n".join(missing)


@pytest.mark.skipif(
    not os.environ.get("UPSTREAM_OPENAPI"),
    reason="UPSTREAM_OPENAPI names no copy of the original's API document on this host",
)
def test_the_original_document_itself() -> None:
    original = surface(json.loads(Path(os.environ["UPSTREAM_OPENAPI"]).read_text()))
    missing = lacking(original, ours())
    assert not missing, "the original offers what we lack:\n" + "\n".join(missing)
    new, gone = sorted(original - recorded()), sorted(recorded() - original)
    again = "record it again: python -m tests.contract.upstream_api PATH"
    assert not new, f"new upstream since the record ({again}): {new}"
    assert not gone, f"no longer upstream ({again}): {gone}"


def test_the_record_has_the_operations_the_frontend_uses_most() -> None:
    lines = recorded()
    for line in (
        "PUT /v1/test-executions/start-test",
        "GET /v1/artefacts/{}/builds",
        "GET /v1/test-results ?environments",
        "POST /v1/issues/{}/attach request.test_results_filters.environments",
        "PUT /v1/test-executions/start-test request.family=solution",
    ):
        assert line in lines, line


# The comparison itself, on doctored copies of our own document.


def doctored(change: Any) -> dict[str, Any]:
    document = copy.deepcopy(ours())
    change(document)
    return document


def test_a_new_operation_upstream_is_reported() -> None:
    def add(document: dict[str, Any]) -> None:
        document["paths"]["/v1/widgets/{widget_id}"] = {
            "get": {"responses": {"200": {"description": "ok"}}}
        }

    assert lacking(surface(doctored(add)), ours()) == ["GET /v1/widgets/{}"]


def test_a_new_method_on_a_known_path_is_reported() -> None:
    def add(document: dict[str, Any]) -> None:
        document["paths"]["/v1/environments"]["delete"] = {"responses": {"204": {}}}

    assert lacking(surface(doctored(add)), ours()) == ["DELETE /v1/environments"]


def test_a_new_query_parameter_upstream_is_reported() -> None:
    def add(document: dict[str, Any]) -> None:
        operation = document["paths"]["/v1/test-results"]["get"]
        operation["parameters"].append(
            {"name": "test_owners", "in": "query", "schema": {"type": "string"}}
        )

    assert lacking(surface(doctored(add)), ours()) == ["GET /v1/test-results ?test_owners"]


def test_a_new_field_deep_in_a_shared_schema_is_reported_wherever_it_appears() -> None:
    def add(document: dict[str, Any]) -> None:
        schema = document["components"]["schemas"]["EnvironmentResponse"]
        schema["properties"]["rack"] = {"type": "string"}

    missing = lacking(surface(doctored(add)), ours())
    assert missing
    assert all(line.endswith(("environment.rack", "environments[].rack")) for line in missing), (
        missing
    )
    assert "GET /v1/test-executions/{} response.environment.rack" in missing


def test_a_new_enumeration_value_upstream_is_reported() -> None:
    def add(document: dict[str, Any]) -> None:
        document["components"]["schemas"]["FamilyName"]["enum"].append("rpm")

    missing = lacking(surface(doctored(add)), ours())
    assert "POST /v1/issues/{}/attach request.test_results_filters.families[]=rpm" in missing
    assert all(line.endswith("=rpm") for line in missing), missing


def test_how_a_schema_is_written_does_not_matter() -> None:
    def inline(document: dict[str, Any]) -> None:
        # The same response, inlined and made nullable instead of referenced.
        operation = document["paths"]["/v1/environments"]["get"]
        content = operation["responses"]["200"]["content"]["application/json"]
        schema = document["components"]["schemas"]["EnvironmentsResponse"]
        content["schema"] = {"anyOf": [copy.deepcopy(schema), {"type": "null"}]}

    assert lacking(surface(doctored(inline)), ours()) == []
    assert surface(doctored(inline)) == surface(ours())


def test_recursive_schemas_end() -> None:
    document = {
        "paths": {
            "/v1/tree": {
                "get": {
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Node"}
                                }
                            }
                        }
                    }
                }
            }
        },
        "components": {
            "schemas": {
                "Node": {
                    "properties": {
                        "name": {"type": "string"},
                        "children": {"items": {"$ref": "#/components/schemas/Node"}},
                    }
                }
            }
        },
    }
    assert surface(document) == {
        "GET /v1/tree",
        "GET /v1/tree response.name",
        "GET /v1/tree response.children",
    }
