"""Jira review cards, with Jira faked at its HTTP edge: created after the commit, one per new
reviewer, and never failing the request."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.notifications.review_cards import wait_for_cards
from tests.backend.factories import make_artefact
from tests.backend.principals import SESSIONS_SECRET, make_user, user_headers

JIRA = "https://jira.example.test"
CREDENTIALS = {
    "jira_cloud_id": "cloud-1",
    "jira_email": "bot@example.com",
    "jira_api_token": "token",
    "jira_api_url": JIRA,
}


@pytest.fixture
def jira() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=JIRA, assert_all_called=False) as router:
        router.get("/rest/api/3/user/search").mock(side_effect=_search)
        router.post("/rest/api/3/issue").respond(201, json={"id": "1", "key": "TO-99"})
        yield router


def _search(request: httpx.Request) -> httpx.Response:
    if request.url.params["query"] == "ada":
        return httpx.Response(200, json=[{"accountId": "acc-ada"}, {"accountId": "acc-other"}])
    return httpx.Response(200, json=[])


def _patch_reviewers(
    make_client: Callable[..., TestClient], db: Session, jira_issue: str | None, **settings: Any
) -> tuple[httpx.Response, int]:
    artefact = make_artefact(db, name="core22", version="20240101", jira_issue=jira_issue)
    ada = make_user(db, "ada@example.com", name="Ada L", handle="ada")
    bob = make_user(db, "bob@example.com", name="Bob", handle="bob")
    nobody = make_user(db, "nohandle@example.com", name="No Handle")
    admin = user_headers(db, "admin@example.com", is_admin=True)
    client = make_client(sessions_secret=SESSIONS_SECRET, **settings)
    response = client.patch(
        f"/v1/artefacts/{artefact.id}",
        json={"reviewer_ids": [ada.id, bob.id, nobody.id]},
        headers=admin,
    )
    wait_for_cards()
    return response, artefact.id


def test_one_card_per_new_reviewer_with_a_jira_account(
    make_client: Callable[..., TestClient], db_session: Session, jira: respx.MockRouter
) -> None:
    response, artefact_id = _patch_reviewers(make_client, db_session, "TO-12", **CREDENTIALS)
    assert response.status_code == 200

    searches = sorted(call.request.url.params["query"] for call in jira.routes[0].calls)
    assert searches == ["ada", "bob"]
    created = [json.loads(call.request.content) for call in jira.routes[1].calls]
    assert len(created) == 1
    fields = created[0]["fields"]
    assert fields["project"] == {"key": "TO"}
    assert fields["parent"] == {"key": "TO-12"}
    assert fields["issuetype"] == {"name": "Task"}
    assert fields["assignee"] == {"accountId": "acc-ada"}
    assert fields["summary"] == "Review core22 version 20240101 - Ada L"
    assert f"http://localhost:30001/snaps/{artefact_id}" in json.dumps(fields["description"])
    request = jira.routes[1].calls[0].request
    assert request.headers["authorization"].startswith("Basic ")

    # The same reviewers again: nobody is new, no card.
    jira.reset()
    admin = user_headers(db_session, "admin2@example.com", is_admin=True)
    client = make_client(sessions_secret=SESSIONS_SECRET, **CREDENTIALS)
    reviewer_ids = [r["id"] for r in response.json()["reviewers"]]
    client.patch(f"/v1/artefacts/{artefact_id}", json={"reviewer_ids": reviewer_ids}, headers=admin)
    wait_for_cards()
    assert not jira.calls


def test_jira_failures_never_fail_the_request(
    make_client: Callable[..., TestClient], db_session: Session, jira: respx.MockRouter
) -> None:
    jira.routes[1].respond(500, json={"errorMessages": ["down"]})
    response, _ = _patch_reviewers(make_client, db_session, "TO-12", **CREDENTIALS)
    assert response.status_code == 200
    assert jira.routes[1].called

    jira.routes[0].side_effect = httpx.ConnectError("unreachable")
    second = make_artefact(db_session, name="other", jira_issue="TO-13")
    admin = user_headers(db_session, "admin2@example.com", is_admin=True)
    client = make_client(sessions_secret=SESSIONS_SECRET, **CREDENTIALS)
    ada_id = response.json()["reviewers"][0]["id"]
    ok = client.patch(f"/v1/artefacts/{second.id}", json={"reviewer_ids": [ada_id]}, headers=admin)
    wait_for_cards()
    assert ok.status_code == 200


def test_no_cards_without_jira_issue_or_credentials(
    make_client: Callable[..., TestClient], db_session: Session, jira: respx.MockRouter
) -> None:
    response, _ = _patch_reviewers(make_client, db_session, None, **CREDENTIALS)
    assert response.status_code == 200
    assert not jira.calls


def test_no_cards_without_credentials(
    make_client: Callable[..., TestClient], db_session: Session, jira: respx.MockRouter
) -> None:
    response, _ = _patch_reviewers(
        make_client, db_session, "TO-12", jira_api_url=JIRA, jira_cloud_id="c"
    )
    assert response.status_code == 200
    assert not jira.calls


def test_start_test_assignment_creates_cards(
    make_client: Callable[..., TestClient], db_session: Session, jira: respx.MockRouter
) -> None:
    from test_observer.db.models import Artefact, ArtefactMatchingRule, FamilyName, Team
    from tests.backend.executions.conftest import EVERY_PERMISSION, snap

    client = make_client(ignore_permissions=EVERY_PERMISSION, **CREDENTIALS)
    first = client.put("/v1/test-executions/start-test", json=snap(needs_assignment=False))
    assert first.status_code == 200
    ada = make_user(db_session, "ada@example.com", name="Ada L", handle="ada")
    team = Team(name="qa")
    team.members = [ada]
    rule = ArtefactMatchingRule(family=FamilyName.snap)
    rule.teams = [team]
    db_session.add_all([team, rule])
    db_session.commit()
    artefact_id = db_session.scalars(select(Artefact.id)).one()
    assert (
        client.patch(f"/v1/artefacts/{artefact_id}", json={"jira_issue": "TO-7"}).status_code == 200
    )

    again = client.put(
        "/v1/test-executions/start-test",
        json=snap(needs_assignment=True, ci_link="https://ci.example/2"),
    )
    assert again.status_code == 200
    wait_for_cards()
    created = [json.loads(call.request.content) for call in jira.routes[1].calls]
    assert [c["fields"]["parent"] for c in created] == [{"key": "TO-7"}]
