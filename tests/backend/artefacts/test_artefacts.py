"""Artefacts: dashboards, search, history, versions, the artefact page and sign-off."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import (
    Artefact,
    ArtefactBuildEnvironmentReviewDecision,
    ArtefactMatchingRule,
    ArtefactStatus,
    FamilyName,
    Notification,
    Permission,
    Team,
    TestExecutionRerunRequest,
    User,
    artefact_reviewers_association,
    environment_review_reviewers_association,
)
from tests.backend.factories import (
    make_artefact,
    make_build,
    make_environment,
    make_execution,
    make_review,
)
from tests.backend.review_helpers import (
    MINIMAL_BUILD_TYPES,
    REVIEW_TYPES,
    USER_TYPES,
    application_client,
    assert_artefact_shape,
    assert_execution_shape,
    assert_types,
    everyone_client,
    user_client,
)

Decision = ArtefactBuildEnvironmentReviewDecision
APPROVED = [Decision.APPROVED_ALL_TESTS_PASS]
REJECTED = [Decision.REJECTED]


@pytest.fixture
def api(make_client: Callable[..., TestClient]) -> TestClient:
    return everyone_client(make_client)


def set_created_at(session: Session, artefact: Artefact, when: datetime) -> None:
    session.execute(update(Artefact).where(Artefact.id == artefact.id).values(created_at=when))


def user(session: Session, email: str = "jane@example.com", name: str = "Jane Doe") -> User:
    row = User(email=email, name=name, launchpad_handle=None)
    session.add(row)
    session.flush()
    return row


# GET /v1/artefacts ------------------------------------------------------------------------------


def test_dashboard_lists_the_newest_artefact_per_group(
    api: TestClient, db_session: Session
) -> None:
    t0 = datetime(2024, 1, 1)
    old = make_artefact(db_session, version="1")
    new = make_artefact(db_session, version="2")
    other_branch = make_artefact(db_session, version="1", branch="fix")
    other_store = make_artefact(db_session, version="1", store="acme")
    archived = make_artefact(db_session, name="bluez", version="9", archived=True)
    set_created_at(db_session, old, t0)
    set_created_at(db_session, new, t0 + timedelta(days=1))
    set_created_at(db_session, other_branch, t0)
    set_created_at(db_session, other_store, t0)
    db_session.commit()

    body = api.get("/v1/artefacts", params={"family": "snap"}).json()
    ids = {item["id"] for item in body}
    assert ids == {new.id, other_branch.id, other_store.id}
    assert archived.id not in ids
    for item in body:
        assert_artefact_shape(item)


def test_dashboard_returns_one_artefact_when_creation_times_tie(
    api: TestClient, db_session: Session
) -> None:
    when = datetime(2024, 1, 1)
    first = make_artefact(
        db_session, family=FamilyName.deb, version="1", series="noble", repo="main"
    )
    second = make_artefact(
        db_session, family=FamilyName.deb, version="2", series="noble", repo="main"
    )
    set_created_at(db_session, first, when)
    set_created_at(db_session, second, when)
    db_session.commit()
    body = api.get("/v1/artefacts", params={"family": "deb"}).json()
    assert [item["id"] for item in body] == [second.id]


def test_dashboard_lists_every_charm_and_all_families_in_order(
    api: TestClient, db_session: Session
) -> None:
    charms = [
        make_artefact(db_session, family=FamilyName.charm, name="pg", version=str(v))
        for v in range(3)
    ]
    image = make_artefact(db_session, family=FamilyName.image, name="noble", sha256="abc")
    snap = make_artefact(db_session)
    db_session.commit()
    assert {a["id"] for a in api.get("/v1/artefacts?family=charm").json()} == {c.id for c in charms}
    everything = [a["id"] for a in api.get("/v1/artefacts").json()]
    assert everything[0] == snap.id
    assert everything[-1] == image.id
    assert set(everything) == {snap.id, image.id, *(c.id for c in charms)}
    assert api.get("/v1/artefacts?family=unknown").status_code == 422


def test_artefact_endpoints_need_view_permission(client: TestClient, db_session: Session) -> None:
    artefact = make_artefact(db_session)
    db_session.commit()
    for path in ("", f"/{artefact.id}", f"/{artefact.id}/builds", f"/{artefact.id}/versions"):
        response = client.get(f"/v1/artefacts{path}")
        assert response.status_code == 403
        assert response.json() == {"detail": "Insufficient permissions"}


# GET /v1/artefacts/search -----------------------------------------------------------------------


def test_search_is_case_insensitive_trimmed_and_excludes_archived(
    api: TestClient, db_session: Session
) -> None:
    make_artefact(db_session, name="core22", version="1")
    make_artefact(db_session, name="core22", version="2")
    make_artefact(db_session, name="Core24", version="1")
    make_artefact(db_session, name="bluez", version="1")
    make_artefact(db_session, name="core-old", version="1", archived=True)
    make_artefact(db_session, name="core_deb", version="1", family=FamilyName.deb)
    db_session.commit()

    body = api.get("/v1/artefacts/search", params={"q": "  CORE "}).json()
    assert body == {
        "artefacts": ["Core24", "core22", "core_deb"],
        "count": 3,
        "limit": 50,
        "offset": 0,
    }
    page = api.get("/v1/artefacts/search", params={"q": "core", "limit": 1, "offset": 1}).json()
    assert page["artefacts"] == ["core22"]
    assert page["count"] == 3
    snaps = api.get("/v1/artefacts/search", params={"q": "core", "families": "snap"}).json()
    assert snaps["artefacts"] == ["Core24", "core22"]
    # LIKE wildcards in the query are literal characters.
    assert api.get("/v1/artefacts/search", params={"q": "_"}).json()["artefacts"] == ["core_deb"]
    assert api.get("/v1/artefacts/search", params={"q": " "}).json()["count"] == 4
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"families": "snap,deb"}):
        response = api.get("/v1/artefacts/search", params=bad)
        assert response.status_code == 422, bad
        assert isinstance(response.json()["detail"], list)


# GET /v1/artefacts/history ----------------------------------------------------------------------


def test_history_counts_all_matches_and_filters_by_track_and_stage(
    api: TestClient, db_session: Session
) -> None:
    ids = [
        make_artefact(db_session, version=str(v), track="latest", stage=stage).id
        for v, stage in enumerate(["edge", "beta", "edge"])
    ]
    make_artefact(db_session, version="x", track="22")
    make_artefact(db_session, version="archived", track="latest", archived=True)
    db_session.commit()

    body = api.get("/v1/artefacts/history", params={"name": "core22", "family": "snap", "limit": 2})
    assert body.status_code == 200
    data = body.json()
    assert data["count"] == 4
    assert len(data["items"]) == 2
    assert data["items"][0]["version"] == "archived"
    assert set(data["items"][0]) == {"artefact_id", "name", "version", "stage", "created_at"}
    edge = api.get(
        "/v1/artefacts/history", params={"name": "core22", "family": "snap", "stage": "edge"}
    ).json()
    assert [item["artefact_id"] for item in edge["items"]] == [ids[2], ids[0]]
    assert edge["count"] == 2
    track = api.get(
        "/v1/artefacts/history", params={"name": "core22", "family": "snap", "track": "22"}
    ).json()
    assert [item["version"] for item in track["items"]] == ["x"]
    assert api.get("/v1/artefacts/history", params={"name": "core22"}).status_code == 422
    assert (
        api.get(
            "/v1/artefacts/history", params={"name": "core22", "family": "snap", "stage": "nope"}
        ).status_code
        == 422
    )


def test_history_of_debs_does_not_require_a_track(api: TestClient, db_session: Session) -> None:
    make_artefact(db_session, family=FamilyName.deb, name="linux", version="1", series="noble")
    make_artefact(db_session, family=FamilyName.deb, name="linux", version="2", series="noble")
    db_session.commit()
    body = api.get("/v1/artefacts/history", params={"name": "linux", "family": "deb"}).json()
    assert [item["version"] for item in body["items"]] == ["2", "1"]


# GET /v1/artefacts/{id} and /versions -----------------------------------------------------------


def test_get_artefact_and_404(api: TestClient, db_session: Session) -> None:
    artefact = make_artefact(db_session, due_date=datetime(2024, 2, 1).date())
    db_session.commit()
    body = api.get(f"/v1/artefacts/{artefact.id}").json()
    assert_artefact_shape(body)
    assert body["due_date"] == "2024-02-01"
    assert body["assignee"] is None
    missing = api.get("/v1/artefacts/9999")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Artefact with id 9999 not found"}
    assert api.get("/v1/artefacts/abc").status_code == 404
    assert api.get("/v1/artefacts/").status_code == 404


def test_versions_stay_within_one_line(api: TestClient, db_session: Session) -> None:
    v1 = make_artefact(db_session, version="1")
    v2 = make_artefact(db_session, version="2", archived=True, stage="stable")
    make_artefact(db_session, version="3", branch="fix")
    make_artefact(db_session, version="4", store="acme")
    make_artefact(db_session, version="5", family=FamilyName.charm)
    db_session.commit()
    body = api.get(f"/v1/artefacts/{v1.id}/versions").json()
    assert body == [{"version": "2", "artefact_id": v2.id}, {"version": "1", "artefact_id": v1.id}]
    assert api.get("/v1/artefacts/9999/versions").status_code == 404


# GET /v1/artefacts/{id}/builds and /environment-reviews ----------------------------------------


def test_builds_show_latest_revisions_with_executions_by_environment(
    api: TestClient, db_session: Session
) -> None:
    artefact = make_artefact(db_session)
    old = make_build(db_session, artefact, revision=1)
    new = make_build(db_session, artefact, revision=2)
    arm = make_build(db_session, artefact, architecture="arm64", revision=None)
    xps = make_environment(db_session, "xps")
    rpi = make_environment(db_session, "rpi4")
    pi_arm = make_environment(db_session, "rpi4", "arm64")
    make_execution(db_session, old, rpi)
    e_xps = make_execution(db_session, new, xps)
    e_rpi = make_execution(db_session, new, rpi)
    e_arm = make_execution(db_session, arm, pi_arm, plan="full")
    for build, environment in ((old, rpi), (new, xps), (new, rpi), (arm, pi_arm)):
        make_review(db_session, build, environment)
    db_session.add(
        TestExecutionRerunRequest(
            test_plan_id=e_rpi.test_plan_id,
            artefact_build_id=new.id,
            environment_id=rpi.id,
            priority=3,
        )
    )
    solution = make_artefact(db_session, family=FamilyName.solution, name="stack", version="1")
    db_session.commit()
    patched = api.patch(f"/v1/artefacts/{solution.id}", json={"bundled_builds": [new.id]})
    assert patched.status_code == 200

    body = api.get(f"/v1/artefacts/{artefact.id}/builds").json()
    assert [(b["id"], b["architecture"]) for b in body] == [(new.id, "amd64"), (arm.id, "arm64")]
    assert [e["id"] for e in body[0]["test_executions"]] == [e_rpi.id, e_xps.id]
    assert [e["id"] for e in body[1]["test_executions"]] == [e_arm.id]
    rpi_execution = body[0]["test_executions"][0]
    assert rpi_execution["is_rerun_requested"] is True
    assert rpi_execution["rerun_priority"] == 3
    assert body[0]["test_executions"][1]["is_rerun_requested"] is False
    assert body[0]["bundled_in"] == [
        {"id": solution.id, "name": "stack", "version": "1", "family": "solution"}
    ]
    for build in body:
        assert_types(build, {**MINIMAL_BUILD_TYPES, "test_executions": list})
        for execution in build["test_executions"]:
            assert_execution_shape(execution)
    assert body[1]["revision"] is None
    assert api.get("/v1/artefacts/9999/builds").status_code == 404

    # Every (build, environment) of the builds page has its review (the page pairs them).
    reviews = api.get(f"/v1/artefacts/{artefact.id}/environment-reviews").json()
    pairs = {(r["artefact_build"]["id"], r["environment"]["id"]) for r in reviews}
    for build in body:
        for execution in build["test_executions"]:
            assert (build["id"], execution["environment"]["id"]) in pairs
    assert old.id not in {r["artefact_build"]["id"] for r in reviews}


def test_environment_reviews_shape_and_reviewers(api: TestClient, db_session: Session) -> None:
    artefact = make_artefact(db_session)
    build = make_build(db_session, artefact)
    review = make_review(
        db_session,
        build,
        make_environment(db_session),
        review_decision=APPROVED,
        review_comment="ok",
    )
    jane = user(db_session)
    db_session.execute(
        environment_review_reviewers_association.insert().values(
            environment_review_id=review.id, user_id=jane.id
        )
    )
    empty = make_artefact(db_session, version="2")
    db_session.commit()

    body = api.get(f"/v1/artefacts/{artefact.id}/environment-reviews").json()
    assert len(body) == 1
    item = body[0]
    assert_types(item, REVIEW_TYPES)
    assert_types(item["artefact_build"], MINIMAL_BUILD_TYPES)
    assert item["review_decision"] == ["APPROVED_ALL_TESTS_PASS"]
    assert item["review_comment"] == "ok"
    assert_types(item["reviewers"][0], USER_TYPES)
    assert item["reviewers"][0]["launchpad_email"] == "jane@example.com"
    assert api.get(f"/v1/artefacts/{empty.id}/environment-reviews").json() == []
    missing = api.get("/v1/artefacts/9999/environment-reviews")
    assert missing.status_code == 404


# PATCH environment reviews ----------------------------------------------------------------------


def test_single_review_patch_rules(api: TestClient, db_session: Session) -> None:
    artefact = make_artefact(db_session)
    other = make_artefact(db_session, version="2")
    review = make_review(db_session, make_build(db_session, artefact), make_environment(db_session))
    foreign = make_review(
        db_session, make_build(db_session, other), make_environment(db_session, "x")
    )
    db_session.commit()
    url = f"/v1/artefacts/{artefact.id}/environment-reviews/{review.id}"

    both = api.patch(url, json={"review_decision": ["REJECTED", "APPROVED_INCONSISTENT_TEST"]})
    assert both.status_code == 422
    assert "either be rejected or approved" in both.json()["detail"][0]["msg"]
    # The frontend sends the whole object back; extra keys are ignored.
    sent = {
        "id": review.id,
        "review_decision": ["APPROVED_INCONSISTENT_TEST"],
        "review_comment": "flaky wifi",
        "environment": {"id": 1},
        "artefact_build": {"id": 1},
        "reviewers": [{"isEmpty": False}],
    }
    body = api.patch(url, json=sent).json()
    assert body["review_decision"] == ["APPROVED_INCONSISTENT_TEST"]
    assert body["review_comment"] == "flaky wifi"
    # Omitted fields stay; [] and "" reset.
    assert api.patch(url, json={"review_comment": "still"}).json()["review_decision"] == [
        "APPROVED_INCONSISTENT_TEST"
    ]
    reset = api.patch(url, json={"review_decision": [], "review_comment": ""}).json()
    assert (reset["review_decision"], reset["review_comment"]) == ([], "")

    wrong = api.patch(f"/v1/artefacts/{artefact.id}/environment-reviews/{foreign.id}", json={})
    assert wrong.status_code == 422
    assert wrong.json()["detail"] == (
        f"Environment review {foreign.id} doesn't belong to artefact {artefact.id}"
    )
    missing = api.patch(f"/v1/artefacts/{artefact.id}/environment-reviews/9999", json={})
    assert missing.status_code == 404
    assert missing.json()["detail"] == "Environment review 9999 doesn't exist"


def test_bulk_review_patch_skips_foreign_reviews(api: TestClient, db_session: Session) -> None:
    artefact = make_artefact(db_session)
    other = make_artefact(db_session, version="2")
    build = make_build(db_session, artefact)
    first = make_review(db_session, build, make_environment(db_session, "a"))
    second = make_review(db_session, build, make_environment(db_session, "b"))
    foreign = make_review(
        db_session, make_build(db_session, other), make_environment(db_session, "c")
    )
    db_session.commit()

    body = api.patch(
        f"/v1/artefacts/{artefact.id}/environment-reviews",
        json=[
            {"id": second.id, "review_decision": ["REJECTED"]},
            {"id": foreign.id, "review_decision": ["REJECTED"]},
            {"id": None, "review_comment": "x"},
            {"id": 9999, "review_comment": "x"},
            {"id": first.id, "review_comment": "looked at it"},
        ],
    ).json()
    assert [item["id"] for item in body] == [second.id, first.id]
    assert body[0]["review_decision"] == ["REJECTED"]
    assert body[1]["review_comment"] == "looked at it"
    assert body[1]["review_decision"] == []
    untouched = api.get(f"/v1/artefacts/{other.id}/environment-reviews").json()
    assert untouched[0]["review_decision"] == []
    assert api.patch("/v1/artefacts/9999/environment-reviews", json=[{"id": first.id}]).json() == []
    bad = api.patch(
        f"/v1/artefacts/{artefact.id}/environment-reviews",
        json=[{"id": first.id, "review_decision": ["REJECTED", "APPROVED_FAULTY_HARDWARE"]}],
    )
    assert bad.status_code == 422


# PATCH /v1/artefacts/{id} -----------------------------------------------------------------------


def test_review_counts_and_approval_use_latest_builds_only(
    api: TestClient, db_session: Session
) -> None:
    artefact = make_artefact(db_session)
    old = make_build(db_session, artefact, revision=1)
    new = make_build(db_session, artefact, revision=2)
    rpi = make_environment(db_session)
    make_review(db_session, old, rpi, review_decision=REJECTED)
    latest_review = make_review(db_session, new, rpi)
    db_session.commit()
    body = api.get(f"/v1/artefacts/{artefact.id}").json()
    assert (body["all_environment_reviews_count"], body["completed_environment_reviews_count"]) == (
        1,
        0,
    )

    undecided = api.patch(f"/v1/artefacts/{artefact.id}", json={"status": "APPROVED"})
    assert undecided.status_code == 400
    assert undecided.json()["detail"] == "All test executions need to be approved"
    # The rejected review belongs to an old build: it does not count.
    no_rejection = api.patch(
        f"/v1/artefacts/{artefact.id}", json={"status": "MARKED_AS_FAILED", "comment": "bad"}
    )
    assert no_rejection.status_code == 400
    assert no_rejection.json()["detail"] == "At least one test execution needs to be rejected"
    # Nothing was persisted by the failed request.
    assert api.get(f"/v1/artefacts/{artefact.id}").json()["comment"] == ""

    api.patch(
        f"/v1/artefacts/{artefact.id}/environment-reviews/{latest_review.id}",
        json={"review_decision": ["APPROVED_ALL_TESTS_PASS"]},
    )
    approved = api.patch(f"/v1/artefacts/{artefact.id}", json={"status": "APPROVED"})
    assert approved.status_code == 200
    assert approved.json()["status"] == "APPROVED"
    assert approved.json()["completed_environment_reviews_count"] == 1


def test_approving_without_reviews_and_rejecting_needs_a_comment(
    api: TestClient, db_session: Session
) -> None:
    artefact = make_artefact(db_session)
    db_session.commit()
    assert api.patch(f"/v1/artefacts/{artefact.id}", json={"status": "APPROVED"}).status_code == 200

    build = make_build(db_session, artefact)
    make_review(db_session, build, make_environment(db_session), review_decision=REJECTED)
    db_session.commit()
    no_comment = api.patch(f"/v1/artefacts/{artefact.id}", json={"status": "MARKED_AS_FAILED"})
    assert no_comment.status_code == 400
    assert no_comment.json()["detail"] == "Can't reject an artefact without a comment"
    assert api.patch(f"/v1/artefacts/{artefact.id}", json={"comment": "broken"}).status_code == 200
    failed = api.patch(f"/v1/artefacts/{artefact.id}", json={"status": "MARKED_AS_FAILED"})
    assert failed.status_code == 200
    assert failed.json()["status"] == "MARKED_AS_FAILED"
    assert (
        api.patch(f"/v1/artefacts/{artefact.id}", json={"status": "UNDECIDED"}).status_code == 200
    )


@pytest.mark.parametrize(
    ("family", "stage", "expected"),
    [
        (FamilyName.charm, "current", 400),
        (FamilyName.snap, "stable", 200),
        (FamilyName.deb, "updates", 200),
        (FamilyName.deb, "edge", 400),
        (FamilyName.image, "current", 200),
        (FamilyName.solution, "pending", 400),
        (FamilyName.solution, "stable", 200),
        (FamilyName.snap, "unknown", 422),
    ],
)
def test_stage_must_belong_to_the_family(
    api: TestClient, db_session: Session, family: FamilyName, stage: str, expected: int
) -> None:
    artefact = make_artefact(db_session, family=family, stage="candidate", sha256="x")
    db_session.commit()
    response = api.patch(f"/v1/artefacts/{artefact.id}", json={"stage": stage})
    assert response.status_code == expected
    if expected == 400:
        assert response.json()["detail"] == (
            f"Stage {stage} is invalid for artefact family {family.value}"
        )
    if expected == 200:
        assert response.json()["stage"] == stage


def test_unknown_stage_is_422_even_unauthenticated(client: TestClient, db_session: Session) -> None:
    artefact = make_artefact(db_session)
    db_session.commit()
    assert (
        client.patch(f"/v1/artefacts/{artefact.id}", json={"stage": "unknown"}).status_code == 422
    )
    assert client.patch(f"/v1/artefacts/{artefact.id}", json={"stage": "edge"}).status_code == 403
    # Only users can be granted the permission per artefact; anyone else is refused at once.
    assert client.patch("/v1/artefacts/9999", json={}).status_code == 403


def test_reviewers_keep_their_order_and_get_notified_once(
    api: TestClient, db_session: Session
) -> None:
    artefact = make_artefact(db_session)
    zed = user(db_session, "zed@example.com", "Zed")
    amy = user(db_session, "amy@example.com", "Amy")
    db_session.commit()
    url = f"/v1/artefacts/{artefact.id}"

    body = api.patch(url, json={"reviewer_ids": [zed.id, amy.id]}).json()
    assert [r["id"] for r in body["reviewers"]] == [zed.id, amy.id]
    assert body["assignee"]["id"] == zed.id
    again = api.patch(url, json={"reviewer_emails": ["amy@example.com", "zed@example.com"]}).json()
    assert [r["id"] for r in again["reviewers"]] == [amy.id, zed.id]
    notifications = db_session.scalars(select(Notification).order_by(Notification.id)).all()
    assert [n.user_id for n in notifications] == [zed.id, amy.id]
    assert notifications[0].target_url == f"http://localhost:30001/snaps/{artefact.id}"

    assert api.patch(url, json={"assignee_id": amy.id}).json()["assignee"]["id"] == amy.id
    assert (
        api.patch(url, json={"assignee_email": "zed@example.com"}).json()["reviewers"][0]["id"]
        == zed.id
    )
    cleared = api.patch(url, json={"reviewer_ids": None}).json()
    assert cleared["reviewers"] == []
    assert cleared["assignee"] is None
    # Zed was dropped by the assignee_id change and added back while his notification was still
    # unread: no second one. Clearing notifies nobody.
    assert len(db_session.scalars(select(Notification)).all()) == 2


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"reviewer_ids": [1, 1]}, "Duplicate user ids are not allowed in reviewer_ids"),
        ({"reviewer_ids": [424242]}, "User with id 424242 not found"),
        ({"reviewer_emails": ["a@x", "a@x"]}, "Duplicate user emails are not allowed"),
        ({"reviewer_emails": ["nobody@x"]}, "User with email 'nobody@x' not found"),
        ({"reviewer_ids": [], "reviewer_emails": []}, "Cannot specify both"),
        ({"assignee_id": 1, "assignee_email": "a@x"}, "Cannot specify both"),
        ({"bundled_builds": [5, 5]}, "Duplicate build ids are not allowed in bundled_builds"),
        ({"bundled_builds": [424242]}, "ArtefactBuild with id 424242 not found"),
    ],
)
def test_invalid_reviewers_and_builds_are_422(
    api: TestClient, db_session: Session, body: dict[str, object], detail: str
) -> None:
    artefact = make_artefact(db_session)
    db_session.commit()
    response = api.patch(f"/v1/artefacts/{artefact.id}", json={**body, "comment": "changed"})
    assert response.status_code == 422
    assert detail in response.json()["detail"]
    assert api.get(f"/v1/artefacts/{artefact.id}").json()["comment"] == ""


def test_jira_issue_archived_and_bundled_builds(api: TestClient, db_session: Session) -> None:
    snap = make_artefact(db_session)
    builds = [make_build(db_session, snap, architecture=arch) for arch in ("s390x", "amd64")]
    solution = make_artefact(db_session, family=FamilyName.solution, name="stack", version="1")
    twin = make_artefact(
        db_session, family=FamilyName.solution, name="stack", version="1", track="t"
    )
    db_session.commit()
    url = f"/v1/artefacts/{solution.id}"

    body = api.patch(url, json={"jira_issue": "PROJ-1", "archived": True}).json()
    assert (body["jira_issue"], body["archived"]) == ("PROJ-1", True)
    assert api.patch(url, json={"comment": "x"}).json()["jira_issue"] == "PROJ-1"
    assert api.patch(url, json={"jira_issue": None}).json()["jira_issue"] is None

    order = [builds[1].id, builds[0].id]
    bundled = api.patch(url, json={"bundled_builds": order}).json()["bundled_builds"]
    assert [b["id"] for b in bundled] == order
    db_session.expire_all()
    stored = db_session.get(Artefact, solution.id)
    assert stored is not None
    assert stored.bundled_builds_hash is not None
    # Same identity and the same set of bundled builds: the unique index refuses it.
    db_session.execute(update(Artefact).where(Artefact.id == twin.id).values(track="22"))
    db_session.commit()
    clash = api.patch(f"/v1/artefacts/{twin.id}", json={"bundled_builds": list(reversed(order))})
    assert clash.status_code == 409
    assert api.patch(url, json={"bundled_builds": []}).json()["bundled_builds"] == []


def test_matching_rule_lets_a_team_member_patch_only_matched_artefacts(
    make_client: Callable[..., TestClient], db_session: Session
) -> None:
    matched = make_artefact(db_session, track="latest")
    unmatched = make_artefact(db_session, name="bluez", track="latest")
    member = user(db_session)
    team = Team(name="core", permissions=[])
    rule = ArtefactMatchingRule(
        family=FamilyName.snap, name="core22", grant_permissions=[Permission.change_artefact]
    )
    db_session.add_all([team, rule])
    db_session.flush()
    db_session.execute(
        Team.__table__.metadata.tables["team_users_association"]
        .insert()
        .values(user_id=member.id, team_id=team.id)
    )
    db_session.execute(
        Team.__table__.metadata.tables["artefact_matching_rule_team_association"]
        .insert()
        .values(artefact_matching_rule_id=rule.id, team_id=team.id)
    )
    db_session.commit()
    client = user_client(make_client, db_session, member)
    assert client.patch(f"/v1/artefacts/{matched.id}", json={"comment": "ok"}).status_code == 200
    denied = client.patch(f"/v1/artefacts/{unmatched.id}", json={"comment": "no"})
    assert denied.status_code == 403
    # For a user, the artefact is resolved before the rules are checked.
    assert client.patch("/v1/artefacts/9999", json={}).status_code == 404

    app = application_client(make_client, db_session, [Permission.view_artefact])
    assert app.patch(f"/v1/artefacts/{matched.id}", json={"comment": "x"}).status_code == 403
    allowed = application_client(make_client, db_session, [Permission.change_artefact])
    assert allowed.patch(f"/v1/artefacts/{unmatched.id}", json={"comment": "x"}).status_code == 200


def test_reviewer_rows_store_positions(api: TestClient, db_session: Session) -> None:
    artefact = make_artefact(db_session)
    users = [user(db_session, f"u{i}@example.com", f"U{i}") for i in range(3)]
    db_session.commit()
    ids = [users[2].id, users[0].id, users[1].id]
    api.patch(f"/v1/artefacts/{artefact.id}", json={"reviewer_ids": ids})
    association = artefact_reviewers_association
    rows = db_session.execute(
        select(association.c.user_id, association.c.position).order_by(association.c.position)
    ).all()
    assert [tuple(row) for row in rows] == [(ids[0], 0), (ids[1], 1), (ids[2], 2)]
    assert (
        ArtefactStatus.UNDECIDED.value == api.get(f"/v1/artefacts/{artefact.id}").json()["status"]
    )
