"""Property-based tests with strategies of our own, for what schemathesis does not generate:
lone surrogates, NaN and Infinity in bodies, values too large to index, non-ASCII base64 in
filters and ids of any size. Every answer must be below 500, and a 4xx must carry a `detail`
and stay small whatever the input's size.

Examples are derived from the test's name (derandomized), so every run tries the same inputs.
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.backend.executions.conftest import snap

MAX_ERROR_BODY = 16384
FUZZ = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

lone_surrogates = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"])
# Text that may hold lone surrogates anywhere (Hypothesis leaves them out by default).
unicode_text = st.text(st.characters(codec=None), max_size=50)
hostile_text = st.one_of(
    st.tuples(unicode_text, lone_surrogates, unicode_text).map("".join),
    # Past any index entry's size, in 4-byte characters that do not compress.
    st.integers(min_value=3000, max_value=9000).map(
        lambda n: "".join(chr(0x20000 + (i * 7919) % 0xA000) for i in range(n))
    ),
    st.integers(min_value=100_000, max_value=2_000_000).map(lambda n: "x" * n),
    st.sampled_from(["\x00", "a\x00b", "", " "]),
)
hostile_numbers = st.sampled_from(
    [math.nan, math.inf, -math.inf, 2**31, -(2**31) - 1, 2**63, 2**64, 1e308, -1e-308]
)
hostile_values = st.one_of(hostile_text, hostile_numbers)


def _client(app: FastAPI) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def _check(response: Any, what: object) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text[:500])
    if response.status_code >= 400:
        assert len(response.content) <= MAX_ERROR_BODY, (what, len(response.content))
        assert response.json()["detail"], what


def _raw(body: object) -> dict[str, Any]:
    # json.dumps writes NaN literally and lone surrogates as \ud800 escapes.
    return {"content": json.dumps(body), "headers": {"content-type": "application/json"}}


START_TEST_FIELDS = sorted(snap())


@FUZZ
@given(field=st.sampled_from(START_TEST_FIELDS), value=hostile_values)
def test_start_test_with_a_hostile_value(app: FastAPI, field: str, value: object) -> None:
    body = snap(ci_link="https://ci.example/fuzz") | {field: value}
    _check(_client(app).put("/v1/test-executions/start-test", **_raw(body)), (field, value))


@FUZZ
@given(
    field=st.sampled_from(["name", "template_id", "category", "comment", "io_log"]),
    value=hostile_values,
)
def test_results_with_a_hostile_value(app: FastAPI, field: str, value: object) -> None:
    body = [{"name": "fuzz", "status": "PASSED", field: value}]
    _check(_client(app).post("/v1/test-executions/1/test-results", **_raw(body)), (field, value))


@FUZZ
@given(
    category=st.one_of(unicode_text, st.binary(max_size=20).map(lambda b: b.hex())),
    value=st.text(max_size=20),
    path=st.sampled_from(["/v1/test-executions", "/v1/test-results"]),
)
def test_metadata_filters_of_any_text(app: FastAPI, category: str, value: str, path: str) -> None:
    item = quote(f"{category}:{value}".encode("utf-8", "surrogatepass"), safe="")
    _check(_client(app).get(f"{path}?execution_metadata={item}"), item)


@FUZZ
@given(
    identifier=st.integers(min_value=-(2**70), max_value=2**70),
    path=st.sampled_from(
        [
            "/v1/artefacts/{}",
            "/v1/test-executions/{}",
            "/v1/test-executions/{}/test-results",
            "/v1/teams/{}",
            "/v1/artefact-matching-rules/{}",
            "/v1/environments/reported-issues/{}",
        ]
    ),
)
def test_ids_of_any_size(app: FastAPI, identifier: int, path: str) -> None:
    client = _client(app)
    method = "PUT" if "reported-issues" in path else "GET"
    body = {"environment_name": "e", "description": "d", "is_confirmed": False}
    response = client.request(method, path.format(identifier), json=body)
    _check(response, (method, path, identifier))
    assert response.status_code in (200, 404, 422), response.text[:300]
