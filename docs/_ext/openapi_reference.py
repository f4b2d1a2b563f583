"""Render the committed OpenAPI description as reference pages.

A page asks for a rendering with a placeholder block on its own::

    ```{openapi-operations}
    ```

    ```{openapi-permissions}
    ```

The placeholder is replaced by generated MyST Markdown while the page is read, so tags become
real sections (in the sidebar and the search index) and schema names become cross-references.
The description is read from ``openapi_reference_path`` (relative to the docs directory); every
page that uses it is rebuilt when it changes. A missing file gives a note on the page, not a
failed build, so the docs can be written before the API exists.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

METHODS = ("get", "put", "post", "patch", "delete", "head", "options")
PLACEHOLDER = re.compile(r"^```\{openapi-(operations|permissions)\}[ \t]*\n```[ \t]*$", re.M)
UNTAGGED = "other"

Spec = dict[str, Any]


def _label(kind: str, name: str) -> str:
    return f"openapi-{kind}-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _cell(text: object) -> str:
    """One Markdown table cell: a single line, with pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|") or " "


def _schema_ref(ref: str) -> str:
    name = ref.rsplit("/", 1)[-1]
    return f"{{ref}}`{name} <{_label('schema', name)}>`"


def _type(schema: Spec | None) -> str:
    """A short, human-readable type for a JSON schema, linking named schemas."""
    if not schema:
        return "any"
    if "$ref" in schema:
        return _schema_ref(schema["$ref"])
    for combinator, joiner in (("anyOf", " or "), ("oneOf", " or "), ("allOf", " and ")):
        if combinator in schema:
            return joiner.join(_type(s) for s in schema[combinator])
    if "enum" in schema:
        return "one of " + ", ".join(f"`{v}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type(schema.get('items'))}"
    if kind == "object" and "additionalProperties" in schema:
        values = schema["additionalProperties"]
        return f"object of {_type(values if isinstance(values, dict) else None)}"
    if "format" in schema:
        return f"{kind} ({schema['format']})"
    return str(kind)


def _operations(spec: Spec) -> list[tuple[str, str, Spec]]:
    return [
        (method.upper(), path, operation)
        for path, item in spec.get("paths", {}).items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _permissions(operation: Spec) -> str:
    permissions = operation.get("x-permissions")
    if not permissions:
        return "none"
    return ", ".join(f"`{p}`" for p in permissions)


def _by_tag(spec: Spec) -> dict[str, list[tuple[str, str, Spec]]]:
    groups: dict[str, list[tuple[str, str, Spec]]] = defaultdict(list)
    for method, path, operation in _operations(spec):
        groups[(operation.get("tags") or [UNTAGGED])[0]].append((method, path, operation))
    declared = [t["name"] for t in spec.get("tags", [])]
    order = declared + sorted(t for t in groups if t not in declared)
    return {tag: groups[tag] for tag in order if tag in groups}


def _tag_descriptions(spec: Spec) -> dict[str, str]:
    return {t["name"]: t.get("description", "") for t in spec.get("tags", [])}


def render_operations(spec: Spec) -> str:
    out: list[str] = []
    info = spec.get("info", {})
    out.append(
        f"This reference describes {info.get('title', 'the API')} version "
        f"`{info.get('version', '?')}` (OpenAPI {spec.get('openapi', '?')}), "
        f"{len(_operations(spec))} operations.\n"
    )
    descriptions = _tag_descriptions(spec)
    for tag, operations in _by_tag(spec).items():
        out.append(f"({_label('tag', tag)})=\n## {tag}\n")
        if descriptions.get(tag):
            out.append(descriptions[tag] + "\n")
        for method, path, operation in operations:
            out.extend(_render_operation(method, path, operation))
    schemas = spec.get("components", {}).get("schemas", {})
    if schemas:
        out.append("## Schemas\n")
        for name, schema in sorted(schemas.items()):
            out.extend(_render_schema(name, schema))
    return "\n".join(out)


def _render_operation(method: str, path: str, operation: Spec) -> list[str]:
    out = [f"### `{method} {path}`\n"]
    if operation.get("summary"):
        out.append(f"**{operation['summary'].strip()}**\n")
    if operation.get("description"):
        out.append(operation["description"].strip() + "\n")
    out.append(f"Required permissions: {_permissions(operation)}\n")

    parameters = operation.get("parameters", [])
    if parameters:
        out.append("| Parameter | In | Type | Required | Description |")
        out.append("| --- | --- | --- | --- | --- |")
        for p in parameters:
            row = (
                f"`{p['name']}`",
                p.get("in", ""),
                _type(p.get("schema")),
                "yes" if p.get("required") else "no",
                p.get("description", ""),
            )
            out.append("| " + " | ".join(_cell(c) for c in row) + " |")
        out.append("")

    body = operation.get("requestBody")
    if body:
        for content_type, media in body.get("content", {}).items():
            required = "required" if body.get("required") else "optional"
            schema = media.get("schema")
            out.append(f"Request body ({required}, `{content_type}`): {_type(schema)}")
            discriminator = (schema or {}).get("discriminator", {})
            if discriminator.get("mapping"):
                choices = ", ".join(
                    f"`{value}` → {_schema_ref(ref)}"
                    for value, ref in discriminator["mapping"].items()
                )
                out.append(f"\nchosen by `{discriminator['propertyName']}`: {choices}")
            out.append("")

    responses = operation.get("responses", {})
    if responses:
        codes = []
        for code, response in responses.items():
            content: Spec = next(iter(response.get("content", {}).values()), {})
            schema = content.get("schema")
            returned = f" {_type(schema)}" if schema else ""
            codes.append(f"`{code}` {response.get('description', '')}{returned}".strip())
        out.append("Responses: " + "; ".join(codes) + "\n")
    return out


def _render_schema(name: str, schema: Spec) -> list[str]:
    out = [f"({_label('schema', name)})=\n### {name}\n"]
    if schema.get("description"):
        out.append(" ".join(schema["description"].split()) + "\n")
    properties = schema.get("properties")
    if not properties:
        out.append(f"Type: {_type({k: v for k, v in schema.items() if k != 'title'})}\n")
        return out
    required = set(schema.get("required", []))
    out.append("| Field | Type | Required | Description |")
    out.append("| --- | --- | --- | --- |")
    for field, definition in properties.items():
        default = ""
        if "default" in definition:
            default = f" Default: `{json.dumps(definition['default'])}`."
        row = (
            f"`{field}`",
            _type(definition),
            "yes" if field in required else "no",
            definition.get("description", "") + default,
        )
        out.append("| " + " | ".join(_cell(c) for c in row) + " |")
    out.append("")
    return out


def render_permissions(spec: Spec) -> str:
    out = [
        "| Method | Path | Required permissions | Operation |",
        "| --- | --- | --- | --- |",
    ]
    for tag, operations in _by_tag(spec).items():
        for method, path, operation in operations:
            link = f"{{ref}}`{tag} <{_label('tag', tag)}>`"
            row = (method, f"`{path}`", _permissions(operation), link)
            out.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join(out) + "\n"


def _missing(path: Path) -> str:
    return (
        "```{note}\n"
        f"The API description ({path.name}) was not found when these pages were built, so "
        "this page is empty. It is generated from the application and committed with the "
        "backend; build the documentation from a complete source tree.\n"
        "```\n"
    )


def _source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    if not PLACEHOLDER.search(source[0]):
        return
    path = (Path(app.confdir) / app.config.openapi_reference_path).resolve()
    app.env.note_dependency(str(path))
    if not path.is_file():
        logger.info("openapi_reference: %s not found; %s gets a note instead", path, docname)
        source[0] = PLACEHOLDER.sub(lambda _: _missing(path), source[0])
        return
    spec = json.loads(path.read_text(encoding="utf-8"))
    renderers = {"operations": render_operations, "permissions": render_permissions}
    source[0] = PLACEHOLDER.sub(lambda m: renderers[m.group(1)](spec), source[0])


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("openapi_reference_path", "../backend/schemata/openapi.json", "env")
    app.connect("source-read", _source_read)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
