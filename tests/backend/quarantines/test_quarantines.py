"""Quarantines: setting, replacing, listing, expiring and lifting them, and who may."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import Environment, Issue, IssueSource, Permission, Quarantine
from tests.backend.executions.conftest import EVERY_PERMISSION
from tests.backend.principals import SESSIONS_SECRET, application_headers, user_headers
from tests.backend.statements import count_statements
from tests.backend.test_cases.test_flaky_tests import F, P, flaky, run

URL = "/v1/quarantines"


@pytest.fixture
def api(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(ignore_permissions=EVERY_PERMISSION)


def soon(days: int = 7) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def put(api: TestClient, **body: Any) -> Any:
    response = api.put(URL, json={"test_case": "t", "reason": "known", **body})
    assert response.status_code == 200, response.text
    return response.json()


def scopes(api: TestClient, **params: Any) -> list[tuple[str, str | None, str, bool]]:
    response = api.get(URL, params=params)
    assert response.status_code == 200, response.text
    return [
        (
            q["test_case"],
            q["environment"]["name"] if q["environment"] else None,
            q["reason"],
            q["active"],
        )
        for q in response.json()["quarantines"]
    ]


@pytest.fixture
def reported(api: TestClient, db_session: Session) -> tuple[int, int]:
    """Test case "t" reported on two environments; their ids."""
    run(api, {"t": P}, environment="good")
    run(api, {"t": F}, environment="broken")
    by_name = {e.name: e.id for e in db_session.scalars(select(Environment))}
    return by_name["good"], by_name["broken"]


def test_set_on_some_environments_then_on_all(api: TestClient, reported: tuple[int, int]) -> None:
    good, broken = reported
    entries = put(api, environment_ids=[broken], expires_at=soon())
    assert [(e["environment"]["id"], e["active"]) for e in entries] == [(broken, True)]
    put(api)
    assert scopes(api) == [("t", None, "known", True), ("t", "broken", "known", True)]
    assert scopes(api, environment_id=good) == [("t", None, "known", True)]


def test_setting_again_replaces_instead_of_duplicating(
    api: TestClient, reported: tuple[int, int], db_session: Session
) -> None:
    _, broken = reported
    put(api, environment_ids=[broken, broken])
    put(api, environment_ids=[broken], reason="tracked upstream")
    put(api)
    put(api, reason="everywhere")
    assert scopes(api) == [
        ("t", None, "everywhere", True),
        ("t", "broken", "tracked upstream", True),
    ]
    assert db_session.scalar(select(func.count()).select_from(Quarantine)) == 2


def test_expired_entries_stop_applying_without_a_job(
    api: TestClient, reported: tuple[int, int], db_session: Session
) -> None:
    _, broken = reported
    put(api, environment_ids=[broken], expires_at=soon())
    db_session.execute(
        update(Quarantine).values(
            expires_at=datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
        )
    )
    db_session.commit()
    assert scopes(api) == []
    assert scopes(api, include_expired=True) == [("t", "broken", "known", False)]


def test_the_flaky_list_says_which_entries_are_quarantined(
    api: TestClient, reported: tuple[int, int], db_session: Session
) -> None:
    _, broken = reported
    for _ in range(3):
        run(api, {"t": P}, environment="broken")
        run(api, {"t": F}, environment="broken")
    run(api, {"t": F}, environment="good")
    run(api, {"t": P}, environment="good")

    def flags() -> dict[str, bool]:
        return {
            c["environment"]: c["quarantined"]
            for c in flaky(api, min_runs=2, min_flips=1)["test_cases"]
        }

    assert flags() == {"broken": False, "good": False}
    put(api, environment_ids=[broken])
    assert flags() == {"broken": True, "good": False}
    put(api, expires_at=soon())
    assert flags() == {"broken": True, "good": True}
    db_session.execute(
        update(Quarantine)
        .where(Quarantine.environment_id.is_(None))
        .values(expires_at=datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1))
    )
    db_session.commit()
    assert flags() == {"broken": True, "good": False}


def test_lifting_some_environments_or_all(api: TestClient, reported: tuple[int, int]) -> None:
    good, broken = reported
    put(api, environment_ids=[good, broken])
    put(api)
    response = api.delete(URL, params={"test_case": "t", "environment_ids": [good]})
    assert response.json() == {"lifted": 1}
    assert scopes(api) == [("t", None, "known", True), ("t", "broken", "known", True)]
    assert api.delete(URL, params={"test_case": "t"}).json() == {"lifted": 2}
    assert scopes(api) == []
    assert api.delete(URL, params={"test_case": "t"}).json() == {"lifted": 0}


def test_an_issue_can_track_the_quarantine(
    api: TestClient, reported: tuple[int, int], db_session: Session
) -> None:
    issue = Issue(source=IssueSource.GITHUB, project="canonical/x", key="7", title="")
    db_session.add(issue)
    db_session.commit()
    [entry] = put(api, issue_id=issue.id)
    assert (entry["issue_id"], entry["issue_url"]) == (
        issue.id,
        "https://github.com/canonical/x/issues/7",
    )


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"test_case": "never-reported"}, 404, "Test case 'never-reported' not found"),
        ({"environment_ids": [999_999]}, 404, "Environments not found: 999999"),
        ({"issue_id": 999_999}, 404, "Issue 999999 not found"),
        ({"reason": ""}, 422, None),
        ({"expires_at": "2001-01-01T00:00:00Z"}, 422, None),
        ({"expires_at": "tomorrow"}, 422, None),
    ],
)
def test_bad_requests_are_4xx_with_a_detail(
    api: TestClient,
    reported: tuple[int, int],
    body: dict[str, Any],
    status: int,
    detail: str | None,
) -> None:
    response = api.put(URL, json={"test_case": "t", "reason": "known", **body})
    assert response.status_code == status, response.text
    if detail is not None:
        assert response.json()["detail"] == detail
    else:
        assert response.json()["detail"][0]["loc"][-1] in body
    assert scopes(api, include_expired=True) == []


def test_changing_needs_change_quarantine_and_listing_view_test(
    make_client: Any, db_session: Session
) -> None:
    strict = make_client(require_authentication=True, sessions_secret=SESSIONS_SECRET)
    viewer = user_headers(db_session, permissions=[Permission.view_test])
    changer = application_headers(db_session, Permission.change_quarantine, name="triage")
    body = {"test_case": "t", "reason": "known"}
    assert strict.put(URL, json=body, headers=viewer).status_code == 403
    assert strict.delete(URL, params={"test_case": "t"}, headers=viewer).status_code == 403
    assert strict.get(URL, headers=viewer).status_code == 200
    assert strict.get(URL).status_code in (401, 403)
    # Allowed through: the unknown test case is the service's answer.
    assert strict.put(URL, json=body, headers=changer).status_code == 404
    assert strict.delete(URL, params={"test_case": "t"}, headers=changer).status_code == 200


def test_listing_is_a_fixed_number_of_statements(
    api: TestClient, reported: tuple[int, int], engine: Engine, db_session: Session
) -> None:
    good, broken = reported

    def statements() -> int:
        with count_statements(engine) as counter:
            assert api.get(URL).status_code == 200
        return counter.count

    put(api, environment_ids=[good])
    few = statements()
    put(api, environment_ids=[broken])
    put(api)
    assert statements() == few
