"""Every request the documentation shows with `curl` is one the API accepts.

Requests are taken from shell code blocks of docs/**/*.md and README.md, and from the shell
steps of CI configurations shown in YAML and Groovy blocks. Each must name an operation of the
committed API description (backend/schemata/openapi.json), and its JSON body must match that
operation's request schema: required fields present, types and enumeration values right, and
no field the schema does not define (the API would silently ignore a misspelt optional field,
so the reader would never find out). A file upload (`--data-binary @file`, `-F field=@file`)
must use a media type the operation accepts and, for a form, its field names.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = REPO_ROOT / "docs"
OPENAPI = REPO_ROOT / "backend" / "schemata" / "openapi.json"

FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*(\S*)")
SHELL_LANGUAGES = {"console", "shell-session", "shell", "bash", "sh"}
# CI configurations whose shell steps hold curl commands.
CI_LANGUAGES = {"yaml", "yml", "groovy"}
CI_CURL_LINE = re.compile(r"^\s*(?:-\s+)?(?:\w+=\$\()?curl\s")
API_PATH = re.compile(r"(/v1/[^\s\"'?]*|/health/[a-z]+|/openapi\.json)")

Schema = dict[str, Any]


@dataclass(frozen=True)
class DocRequest:
    where: str
    method: str
    path: str
    body: str | None
    content_type: str | None = None
    # Form fields of a multipart upload (`-F name=value`), by name.
    form: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.where}: {self.method} {self.path}"


def _commands(block: list[tuple[int, str]], prompted: bool) -> list[tuple[int, str]]:
    """Shell commands of a block, with continuations and multi-line quotes joined."""
    out: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for number, raw in block:
        line = raw.rstrip()
        if not current:
            stripped = line.lstrip()
            if prompted:
                if not stripped.startswith("$ "):
                    continue
                line = stripped[2:]
            elif not stripped or stripped.startswith("#"):
                continue
            start = number
        current.append(line)
        text = "\n".join(current)
        try:
            shlex.split(text)
        except ValueError:
            continue  # an open quote: the command goes on
        if line.endswith("\\"):
            continue
        out.append((start, text.replace("\\\n", " ")))
        current = []
    return out


def _curl_request(command: str, where: str) -> DocRequest | None:
    try:
        tokens = shlex.split(command, comments=True)
    except ValueError:
        return None
    # `curl ...` or a command substitution such as `ID=$(curl ... | jq .id)`.
    start = next((n for n, t in enumerate(tokens) if t == "curl" or t.endswith("$(curl")), None)
    if start is None:
        return None
    tokens = tokens[start + 1 :]
    method, body, path, content_type = None, None, None, None
    form: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in ("-X", "--request"):
            method = tokens[i + 1].upper()
            i += 1
        elif token in ("-d", "--data", "--data-raw", "--json", "--data-binary"):
            body = tokens[i + 1]
            i += 1
        elif token in ("-F", "--form"):
            form.append(tokens[i + 1].split("=", 1)[0])
            i += 1
        elif token in ("-H", "--header"):
            name, _, value = tokens[i + 1].partition(":")
            if name.strip().lower() == "content-type":
                content_type = value.strip()
            i += 1
        elif token in ("-o", "--output", "-u", "--user"):
            i += 1
        elif token in ("|", ")"):
            break
        elif not token.startswith("-"):
            match = API_PATH.search(token)
            if match and path is None:
                path = match.group(1)
        i += 1
    if path is None:
        return None
    if form:
        content_type = "multipart/form-data"
    default = "POST" if body is not None or form else "GET"
    return DocRequest(where, method or default, path, body, content_type, tuple(form))


def _ci_commands(block: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """curl commands in the shell steps of a CI configuration, continuations joined."""
    out: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for number, raw in block:
        line = raw.strip()
        if not current:
            if not CI_CURL_LINE.match(raw):
                continue
            start = number
            line = re.sub(r"^-\s+", "", line)
        current.append(line)
        text = "\n".join(current)
        try:
            shlex.split(text)
        except ValueError:
            continue  # an open quote: the command goes on
        if line.endswith("\\"):
            continue
        out.append((start, text.replace("\\\n", " ")))
        current = []
    return out


def requests_in_markdown(text: str, name: str) -> list[DocRequest]:
    found: list[DocRequest] = []
    block: list[tuple[int, str]] | None = None
    fence = language = ""
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if block is None:
            if match:
                fence, language, block = match.group(1), match.group(2).lower(), []
            continue
        if match and match.group(1).startswith(fence) and not match.group(2):
            if language in SHELL_LANGUAGES:
                commands = _commands(block, language in {"console", "shell-session"})
            elif language in CI_LANGUAGES:
                commands = _ci_commands(block)
            else:
                commands = []
            for start, command in commands:
                request = _curl_request(command, f"{name}:{start}")
                if request is not None:
                    found.append(request)
            block = None
            continue
        block.append((number, line))
    return found


def documented_requests() -> list[DocRequest]:
    files = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)
    if (REPO_ROOT / "README.md").is_file():
        files.append(REPO_ROOT / "README.md")
    found = []
    for path in files:
        name = path.relative_to(REPO_ROOT).as_posix()
        found += requests_in_markdown(path.read_text(encoding="utf-8"), name)
    return found


def find_operation(spec: Schema, method: str, path: str) -> Schema | None:
    """The operation a concrete path reaches; literal segments win over parameters."""
    candidates = []
    for template, item in spec.get("paths", {}).items():
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in item:
            literal_segments = sum(1 for part in template.split("/") if "{" not in part)
            candidates.append((literal_segments, item[method.lower()]))
    if not candidates:
        return None
    return max(candidates, key=lambda c: c[0])[1]


def _resolve(schema: Schema, spec: Schema) -> Schema:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def validate(value: Any, schema: Schema, spec: Schema, where: str = "body") -> list[str]:
    """Problems of `value` against a JSON schema (the subset FastAPI generates)."""
    schema = _resolve(schema, spec)
    if "allOf" in schema:
        return [p for s in schema["allOf"] for p in validate(value, s, spec, where)]
    for combinator in ("oneOf", "anyOf"):
        if combinator not in schema:
            continue
        discriminator = schema.get("discriminator")
        if discriminator and isinstance(value, dict):
            key = discriminator["propertyName"]
            mapping = discriminator.get("mapping", {})
            if value.get(key) not in mapping:
                return [f"{where}.{key}: {value.get(key)!r} is not one of {sorted(mapping)}"]
            return validate(value, {"$ref": mapping[value[key]]}, spec, where)
        attempts = [validate(value, s, spec, where) for s in schema[combinator]]
        if any(not problems for problems in attempts):
            return []
        return min(attempts, key=len)
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r} is not one of {schema['enum']}"]
    if "const" in schema and value != schema["const"]:
        return [f"{where}: {value!r} is not {schema['const']!r}"]
    kind = schema.get("type")
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
    }
    if kind in checks and not checks[kind](value):
        return [f"{where}: {value!r} is not of type {kind}"]
    problems: list[str] = []
    if kind == "array":
        for n, item in enumerate(value):
            problems += validate(item, schema.get("items", {}), spec, f"{where}[{n}]")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        for field in schema.get("required", []):
            if field not in value:
                problems.append(f"{where}: missing required field {field!r}")
        extra = schema.get("additionalProperties")
        for field, item in value.items():
            if field in properties:
                problems += validate(item, properties[field], spec, f"{where}.{field}")
            elif isinstance(extra, dict):
                problems += validate(item, extra, spec, f"{where}.{field}")
            elif extra is not True:
                problems.append(f"{where}: unknown field {field!r}")
    return problems


REQUESTS = documented_requests()


@pytest.fixture(scope="module")
def spec() -> Schema:
    loaded: Schema = json.loads(OPENAPI.read_text(encoding="utf-8"))
    return loaded


def test_the_docs_show_api_requests() -> None:
    # Guards the extraction: an empty list would make the checks below vacuous.
    shown = {(r.method, r.path) for r in REQUESTS}
    assert ("PUT", "/v1/test-executions/start-test") in shown
    assert ("PUT", "/v1/test-executions/end-test") in shown
    assert all(r.body is not None for r in REQUESTS if r.method == "PUT")


@pytest.mark.parametrize("request_", REQUESTS, ids=str)
def test_documented_request_matches_the_api(request_: DocRequest, spec: Schema) -> None:
    if request_.method == "OPTIONS":
        # A CORS preflight: answered by the middleware for any path that has operations.
        reachable = [
            m
            for m in ("GET", "PUT", "POST", "PATCH", "DELETE")
            if find_operation(spec, m, request_.path)
        ]
        assert reachable, f"{request_}: no operation at this path in {OPENAPI.name}"
        return
    operation = find_operation(spec, request_.method, request_.path)
    assert operation is not None, f"{request_}: no such operation in {OPENAPI.name}"
    accepted = operation.get("requestBody", {}).get("content", {})
    if request_.form or (request_.body or "").startswith("@"):
        # A file upload: its media type must be one the operation takes.
        assert request_.content_type in accepted, (
            f"{request_}: sends {request_.content_type!r}, the operation takes {sorted(accepted)}"
        )
        if request_.form:
            fields = _resolve(accepted[request_.content_type]["schema"], spec)
            assert set(request_.form) >= set(fields.get("required", [])), str(request_)
            assert set(request_.form) <= set(fields.get("properties", {})), str(request_)
        return
    if request_.body is None:
        body_spec = operation.get("requestBody", {})
        assert not body_spec.get("required"), f"{request_}: the operation needs a body"
        return
    body = json.loads(request_.body)
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert validate(body, schema, spec) == [], str(request_)


SAMPLE_SPEC: Schema = {
    "paths": {
        "/v1/things/{id}": {"get": {"operationId": "by-id"}},
        "/v1/things/latest": {"get": {"operationId": "latest"}},
    },
    "components": {
        "schemas": {
            "A": {
                "type": "object",
                "properties": {"kind": {"const": "a"}, "n": {"type": "integer"}},
                "required": ["kind", "n"],
            },
            "B": {"type": "object", "properties": {"kind": {"const": "b"}}},
        }
    },
}
UNION = {
    "oneOf": [{"$ref": "#/components/schemas/A"}, {"$ref": "#/components/schemas/B"}],
    "discriminator": {
        "propertyName": "kind",
        "mapping": {"a": "#/components/schemas/A", "b": "#/components/schemas/B"},
    },
}


def test_literal_path_segments_win_over_parameters() -> None:
    assert find_operation(SAMPLE_SPEC, "GET", "/v1/things/latest") == {"operationId": "latest"}
    assert find_operation(SAMPLE_SPEC, "GET", "/v1/things/7") == {"operationId": "by-id"}
    assert find_operation(SAMPLE_SPEC, "PUT", "/v1/things/7") is None


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"kind": "a", "n": 1}, None),
        ({"kind": "a"}, "missing required field 'n'"),
        ({"kind": "a", "n": "1"}, "is not of type integer"),
        ({"kind": "a", "n": 1, "m": 2}, "unknown field 'm'"),
        ({"kind": "c"}, "is not one of"),
    ],
)
def test_validation_catches_what_the_api_would_reject_or_ignore(
    body: dict[str, Any], problem: str | None
) -> None:
    problems = validate(body, UNION, SAMPLE_SPEC)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


def test_extraction_joins_multi_line_bodies() -> None:
    text = (
        "```shell\n"
        'curl -X PUT "$TO_URL/v1/x/end-test" \\\n'
        "    -H 'Content-Type: application/json' \\\n"
        "    -d '{\n"
        '          "a": 1\n'
        "        }'\n"
        "# answers: null\n"
        "```\n"
        "```console\n"
        '$ curl "$TO_URL/v1/x/7" -H "Authorization: Bearer $TO_KEY"\n'
        '{"id": 7}\n'
        "```\n"
    )
    found = requests_in_markdown(text, "x.md")
    assert [(r.method, r.path) for r in found] == [("PUT", "/v1/x/end-test"), ("GET", "/v1/x/7")]
    assert json.loads(found[0].body or "") == {"a": 1}


def test_extraction_finds_curl_in_ci_configurations() -> None:
    text = (
        "```yaml\n"
        "steps:\n"
        "  - run: |\n"
        '      ID=$(curl -sf -X PUT "$TO_URL/v1/x/start-test" \\\n'
        '        -d \'{"a": 1,\n'
        '             "b": 2}\' | jq -r .id)\n'
        "```\n"
        "```groovy\n"
        "sh '''\n"
        '  curl -sf "$TO_URL/v1/x/$ID/upload" -F "file=@report.xml"\n'
        "'''\n"
        "```\n"
        "```yaml\n"
        "script:\n"
        '  - curl -X POST "$TO_URL/v1/x/$ID/upload" -H "Content-Type: application/xml" \\\n'
        "      --data-binary @report.xml\n"
        "```\n"
    )
    found = requests_in_markdown(text, "x.md")
    assert [(r.method, r.path, r.content_type, r.form) for r in found] == [
        ("PUT", "/v1/x/start-test", None, ()),
        ("POST", "/v1/x/$ID/upload", "multipart/form-data", ("file",)),
        ("POST", "/v1/x/$ID/upload", "application/xml", ()),
    ]
    assert json.loads(found[0].body or "") == {"a": 1, "b": 2}
    assert found[2].body == "@report.xml"
