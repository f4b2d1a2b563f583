"""The surface of an OpenAPI document: what a client of it can name.

One line per operation (`GET /v1/artefacts/{}`), per query parameter of an operation
(`GET /v1/test-results ?test_plans`), per field of its request and success response bodies,
however deeply nested (`GET /v1/artefacts/{} response.assignee.email`, with `[]` for the items
of an array and `{}` for the values of a map), and per value of an enumeration in a body
(`... request.family=snap`). Path parameters are written `{}`: their names are not part of
the contract. Schemas are followed through `$ref`, `allOf`, `anyOf` and `oneOf`.

Comparing two surfaces shows what one document offers that the other lacks; it ignores how
each describes it (a `$ref` or an inline schema, a nullable union or a plain type).

Record the surface of the original's document, after reading the difference:
`uv run --frozen python -m tests.contract.upstream_api PATH/TO/openapi.json`.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

RECORDED = Path(__file__).with_name("upstream-api-surface.txt")
METHODS = ("get", "put", "post", "patch", "delete", "head", "options")
PATH_PARAMETER = re.compile(r"\{[^}]*\}")

Schema = dict[str, Any]


def _resolve(document: Schema, node: Any) -> Any:
    seen: set[str] = set()
    while isinstance(node, dict) and "$ref" in node and node["$ref"] not in seen:
        seen.add(node["$ref"])
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _fields(
    document: Schema, schema: Any, prefix: str, out: set[str], followed: frozenset[str]
) -> None:
    if not isinstance(schema, dict):
        return
    reference = schema.get("$ref")
    if reference is not None:
        if reference in followed:  # a recursive schema: its fields are listed already
            return
        followed = followed | {reference}
        schema = _resolve(document, schema)
        if not isinstance(schema, dict):
            return
    for value in schema.get("enum", []):
        out.add(f"{prefix}={value}")
    if "const" in schema:
        out.add(f"{prefix}={schema['const']}")
    for key in ("allOf", "anyOf", "oneOf"):
        for branch in schema.get(key, []):
            _fields(document, branch, prefix, out, followed)
    for name, sub in schema.get("properties", {}).items():
        out.add(f"{prefix}.{name}")
        _fields(document, sub, f"{prefix}.{name}", out, followed)
    if "items" in schema:
        _fields(document, schema["items"], f"{prefix}[]", out, followed)
    if isinstance(schema.get("additionalProperties"), dict):
        _fields(document, schema["additionalProperties"], f"{prefix}{{}}", out, followed)


def _bodies(document: Schema, container: Any) -> list[Any]:
    container = _resolve(document, container)
    if not isinstance(container, dict):
        return []
    return [media.get("schema") for media in container.get("content", {}).values()]


def surface(document: Schema) -> set[str]:
    """Every line of the document's surface (see the module doc)."""
    out: set[str] = set()
    for path, item in document.get("paths", {}).items():
        shared_parameters = item.get("parameters", [])
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            key = f"{method.upper()} {PATH_PARAMETER.sub('{}', path)}"
            out.add(key)
            for parameter in [*shared_parameters, *operation.get("parameters", [])]:
                parameter = _resolve(document, parameter)
                if parameter.get("in") == "query":
                    out.add(f"{key} ?{parameter['name']}")
            if "requestBody" in operation:
                for schema in _bodies(document, operation["requestBody"]):
                    _fields(document, schema, f"{key} request", out, frozenset())
            for status, response in operation.get("responses", {}).items():
                if str(status).startswith("2"):
                    for schema in _bodies(document, response):
                        _fields(document, schema, f"{key} response", out, frozenset())
    return out


def lacking(original: set[str], ours: Schema) -> list[str]:
    """The lines of `original` that our document does not offer, sorted."""
    return sorted(original - surface(ours))


def recorded() -> set[str]:
    return {line for line in RECORDED.read_text().splitlines() if line}


def record(document_path: Path) -> int:
    lines = sorted(surface(json.loads(document_path.read_text())))
    RECORDED.write_text("".join(f"{line}\n" for line in lines))
    return len(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.contract.upstream_api PATH/TO/openapi.json")
    print(f"recorded {record(Path(sys.argv[1]))} lines in {RECORDED}")
