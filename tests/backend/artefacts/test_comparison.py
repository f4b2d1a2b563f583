"""Comparing an artefact with its previous version (or any artefact): exact classes, pages,
bad input and a statement count that does not grow with the data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.artefacts.schemas import COMPARISON_CLASSES
from tests.backend.factories import make_execution, make_result
from tests.backend.planted import F, P, Planted, plant
from tests.backend.principals import SESSIONS_SECRET, user_headers
from tests.backend.statements import count_statements


def compare(api: TestClient, artefact_id: int, **params: Any) -> dict[str, Any]:
    response = api.get(f"/v1/artefacts/{artefact_id}/comparison", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def statements_of_a_comparison(api: TestClient, engine: Engine, artefact_id: int) -> int:
    with count_statements(engine) as counter:
        compare(api, artefact_id)
    return counter.count


def found(body: dict[str, Any], names: dict[int, str]) -> dict[str, set[tuple[str, str]]]:
    return {
        name: {(names[r["environment_id"]], r["test_case"]) for r in page["results"]}
        for name, page in body["results"].items()
    }


def names_of(planted: Planted) -> dict[int, str]:
    return {env.id: name for name, env in planted.environments.items()}


def test_returns_exactly_the_planted_differences(api: TestClient, planted: Planted) -> None:
    body = compare(api, planted.current.id)
    assert body["base_artefact_id"] == planted.base.id
    assert found(body, names_of(planted)) == planted.expected
    assert body["totals"] == {name: len(planted.expected[name]) for name in COMPARISON_CLASSES}
    for name, page in body["results"].items():
        assert page["count"] == len(planted.expected[name])


def test_counts_per_cell(api: TestClient, planted: Planted) -> None:
    cells = {
        (c["environment"]["name"], c["test_plan"]): c
        for c in compare(api, planted.current.id)["cells"]
    }
    assert sorted(cells) == [
        ("e1", "smoke"),
        ("e2", "smoke"),
        ("e3", "extra"),
        ("e3", "smoke"),
        ("e4", "extra"),
        ("e4", "smoke"),
    ]
    current, base = planted.executions["current"], planted.executions["base"]
    assert cells[("e3", "extra")]["base_test_execution_id"] is None
    assert cells[("e3", "extra")]["test_execution_id"] == current[("e3", "extra")].id
    assert cells[("e4", "extra")]["test_execution_id"] is None
    assert cells[("e4", "extra")]["base_test_execution_id"] == base[("e4", "extra")].id
    assert cells[("e1", "smoke")]["counts"] == {
        "regression": 2,
        "fixed": 1,
        "still_failing": 0,
        "new": 1,
        "gone": 0,
        "flaky": 1,
        "slower": 1,
    }
    for (env, plan), cell in cells.items():
        for name in COMPARISON_CLASSES:
            assert cell["counts"][name] == sum(
                1 for pair_env, _ in planted.expected[name] if pair_env == env
            ) - sum(
                1
                for pair_env, test in planted.expected[name]
                if pair_env == env and (test.startswith("x-") != (plan == "extra"))
            ), (env, plan, name)


def test_result_details_issues_and_durations(api: TestClient, planted: Planted) -> None:
    body = compare(api, planted.current.id, classes="still_failing,slower")
    assert set(body["results"]) == {"still_failing", "slower"}
    still = {
        (r["environment_id"], r["test_case"]): r
        for r in body["results"]["still_failing"]["results"]
    }
    e2 = planted.environments["e2"].id
    assert planted.issue is not None
    assert [i["id"] for i in still[(e2, "still")]["issues"]] == [planted.issue.id]
    assert still[(planted.environments["e3"].id, "still")]["issues"] == []
    slow = body["results"]["slower"]["results"]
    assert sorted((r["base_duration"], r["duration"]) for r in slow) == [(1.0, 3.0), (2.0, 10.0)]
    assert all(r["slower"] and r["status"] == "PASSED" for r in slow)


def test_pages_per_class(api: TestClient, planted: Planted) -> None:
    names = names_of(planted)
    pages = [
        compare(api, planted.current.id, classes="regression", limit=3, offset=offset)
        for offset in (0, 3)
    ]
    listed = [
        (names[r["environment_id"]], r["test_case"])
        for page in pages
        for r in page["results"]["regression"]["results"]
    ]
    # By environment, plan and test case (first reported first: wobbly's history came first),
    # each result once.
    assert listed == [("e1", "wobbly"), ("e1", "reg"), ("e2", "reg"), ("e3", "reg")]
    assert [page["results"]["regression"]["count"] for page in pages] == [4, 4]
    # The totals and cells do not depend on the classes listed.
    assert pages[0]["totals"]["fixed"] == 2


def test_another_base_and_the_first_of_a_line(api: TestClient, planted: Planted) -> None:
    # Against itself the other way round: what regressed now is fixed.
    body = compare(api, planted.base.id, base=str(planted.current.id), classes="fixed")
    names = names_of(planted)
    assert {
        (names[r["environment_id"]], r["test_case"]) for r in body["results"]["fixed"]["results"]
    } >= {
        ("e1", "reg"),
        ("e2", "reg"),
        ("e3", "reg"),
    }
    first = compare(api, planted.base.id)
    assert first["base_artefact_id"] is not None  # version 0 is the previous of version 1
    older = first["base_artefact_id"]
    nothing_before = compare(api, older)
    assert nothing_before["base_artefact_id"] is None
    assert nothing_before["totals"]["new"] == nothing_before["results"]["new"]["count"] > 0
    assert nothing_before["totals"]["regression"] == 0


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"base": "yesterday"}, 422),
        ({"base": "999999"}, 404),
        ({"classes": "regression,broken"}, 422),
        ({"limit": -1}, 422),
    ],
)
def test_bad_input_is_4xx(
    api: TestClient, planted: Planted, params: dict[str, Any], status: int
) -> None:
    response = api.get(f"/v1/artefacts/{planted.current.id}/comparison", params=params)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


def test_unknown_artefact_and_itself(api: TestClient, planted: Planted) -> None:
    assert api.get("/v1/artefacts/999999/comparison").status_code == 404
    response = api.get(
        f"/v1/artefacts/{planted.current.id}/comparison", params={"base": planted.current.id}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == "base must be another artefact"


def test_needs_view_artefact(make_client: Callable[..., TestClient], db_session: Session) -> None:
    planted = plant(db_session)
    strict = make_client(require_authentication=True, sessions_secret=SESSIONS_SECRET)
    url = f"/v1/artefacts/{planted.current.id}/comparison"
    assert strict.get(url).status_code in (401, 403)
    assert strict.get(url, headers=user_headers(db_session, permissions=[])).status_code == 403


def test_statement_count_does_not_grow_with_cells_or_results(
    api: TestClient, planted: Planted, engine: Engine, db_session: Session
) -> None:
    def statements() -> int:
        return statements_of_a_comparison(api, engine, planted.current.id)

    few = statements()
    build = planted.current_builds[-1]
    for n in range(5):
        env = planted.environments[f"e{n % 4 + 1}"]
        execution = make_execution(db_session, build, env, f"more-{n}")
        for i in range(30):
            make_result(db_session, execution, f"more-{i}", F if i % 3 else P)
    db_session.commit()
    assert statements() == few
    # Looking up the artefact, its previous version, the comparison, the listed results' issues.
    assert few <= 5


def test_a_gone_result_under_quarantine_is_not_quarantined(
    api: TestClient, planted: Planted
) -> None:
    names = names_of(planted)
    gone = compare(api, planted.current.id, classes="gone")["results"]["gone"]["results"]
    assert gone
    quarantined = api.put(
        "/v1/quarantines", json={"test_case": gone[0]["test_case"], "reason": "known"}
    )
    assert quarantined.status_code == 200, quarantined.text
    body = compare(api, planted.current.id)
    # Quarantine is about a failure of this version; a result it no longer has is neither.
    assert found(body, names) == planted.expected
    assert all(not r["quarantined"] for r in body["results"]["gone"]["results"])
