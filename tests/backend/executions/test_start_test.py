"""PUT /v1/test-executions/start-test: identities, atomicity and the rules around them."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    ArtefactBuildEnvironmentReview,
    Environment,
    FamilyName,
    TestExecution,
    TestExecutionRelevantLink,
    TestExecutionRerunRequest,
    TestExecutionStatus,
)
from tests.backend.executions.conftest import charm, deb, image, snap, solution, start
from tests.backend.factories import make_artefact, make_build

URL = "/v1/test-executions/start-test"


def count(session: Session, model: Any) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.mark.parametrize("payload", [snap(), deb(), charm(), image(), solution()])
def test_every_family_creates_artefact_build_environment_review_and_execution(
    api: TestClient, db_session: Session, payload: dict[str, Any]
) -> None:
    execution_id = start(api, payload)
    execution = db_session.get(TestExecution, execution_id)
    assert execution is not None
    assert execution.status == TestExecutionStatus.IN_PROGRESS
    build = db_session.get(ArtefactBuild, execution.artefact_build_id)
    assert build is not None
    assert build.architecture == payload["arch"]
    artefact = db_session.get(Artefact, build.artefact_id)
    assert artefact is not None
    assert artefact.family == FamilyName(payload["family"])
    assert artefact.stage == payload["execution_stage"]
    assert build.revision == payload.get("revision")
    environment = db_session.get(Environment, execution.environment_id)
    assert environment is not None
    assert (environment.name, environment.architecture) == (payload["environment"], payload["arch"])
    review = db_session.scalars(select(ArtefactBuildEnvironmentReview)).one()
    assert (review.artefact_build_id, review.environment_id) == (build.id, environment.id)
    assert (review.review_decision, review.review_comment) == ([], "")
    assert artefact.due_date is None  # R17


def test_same_ci_link_returns_same_execution_unchanged(
    api: TestClient, db_session: Session
) -> None:
    first = start(api, snap(ci_link="https://ci/1", initial_status="NOT_STARTED"))
    second = start(api, snap(ci_link="https://ci/1", initial_status="IN_PROGRESS"))
    assert first == second
    assert count(db_session, TestExecution) == 1
    execution = db_session.get(TestExecution, first)
    assert execution is not None
    assert execution.status == TestExecutionStatus.NOT_STARTED


def test_no_ci_link_creates_a_new_execution_each_time_on_shared_build(
    api: TestClient, db_session: Session
) -> None:
    ids = {start(api, snap()), start(api, snap(ci_link=None)), start(api, snap(ci_link="x"))}
    assert len(ids) == 3
    executions = db_session.scalars(select(TestExecution)).all()
    assert len({(e.artefact_build_id, e.environment_id) for e in executions}) == 1


def test_ci_link_of_another_run_is_a_conflict_and_writes_nothing(
    api: TestClient, db_session: Session
) -> None:
    start(api, snap(ci_link="https://ci/1"))
    response = api.put(URL, json=charm(ci_link="https://ci/1"))
    assert response.status_code == 409
    assert "ci_link" in response.json()["detail"]
    # The charm artefact was rolled back with the rest of the request.
    assert count(db_session, Artefact) == 1


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (snap(), snap(branch="fix")),
        (snap(), snap(store="other")),
        (deb(), deb(source="ppa/test", execution_stage="")),
        (solution(), solution(track="other")),
        (solution(), solution(source="other")),
        (solution(), solution(execution_stage="beta")),
    ],
)
def test_identity_fields_make_different_artefacts(
    api: TestClient, db_session: Session, first: dict[str, Any], second: dict[str, Any]
) -> None:
    start(api, first)
    start(api, second)
    assert count(db_session, Artefact) == 2


@pytest.mark.parametrize("payload", [snap(), deb(), charm(), image()])
def test_other_stage_reuses_artefact_and_keeps_its_stage(
    api: TestClient, db_session: Session, payload: dict[str, Any]
) -> None:
    start(api, payload)
    other = {"snap": "edge", "deb": "updates", "charm": "edge", "image": "current"}
    start(api, {**payload, "execution_stage": other[payload["family"]]})
    artefact = db_session.scalars(select(Artefact)).one()
    assert artefact.stage == payload["execution_stage"]


def test_image_is_identified_by_sha256(api: TestClient, db_session: Session) -> None:
    start(api, image())
    start(api, image(name="renamed"))
    assert db_session.scalars(select(Artefact.name)).all() == ["noble-desktop"]


def test_minimal_image_payload_uses_the_single_build_architecture(
    api: TestClient, db_session: Session
) -> None:
    start(api, image(arch="arm64"))
    minimal = {"family": "image", "sha256": "a" * 64, "environment": "xps", "test_plan": "img"}
    execution_id = start(api, minimal)
    execution = db_session.get(TestExecution, execution_id)
    assert execution is not None
    build = db_session.get(ArtefactBuild, execution.artefact_build_id)
    environment = db_session.get(Environment, execution.environment_id)
    assert build is not None
    assert environment is not None
    assert build.architecture == environment.architecture == "arm64"


def test_minimal_image_with_two_architectures_needs_arch(
    api: TestClient, db_session: Session
) -> None:
    artefact = make_artefact(db_session, family=FamilyName.image, sha256="a" * 64)
    make_build(db_session, artefact, architecture="arm64", revision=None)
    make_build(db_session, artefact, architecture="amd64", revision=None)
    db_session.commit()
    response = api.put(
        URL, json={"family": "image", "sha256": "a" * 64, "environment": "x", "test_plan": "p"}
    )
    assert response.status_code == 422
    assert "could not be derived" in response.json()["detail"]


@pytest.mark.parametrize(
    "missing", ["name", "version", "os", "release", "arch", "owner", "image_url", "execution_stage"]
)
def test_new_image_without_full_details_is_422(api: TestClient, missing: str) -> None:
    payload = image()
    del payload[missing]
    response = api.put(URL, json=payload)
    assert response.status_code == 422
    assert "provide the full image details" in response.json()["detail"]


def test_existing_image_with_other_arch_is_422(api: TestClient) -> None:
    start(api, image(arch="arm64"))
    response = api.put(URL, json=image(arch="riscv64"))
    assert response.status_code == 422
    assert "must match the existing image build architecture" in response.json()["detail"]


def test_existing_image_without_builds_accepts_an_arch(
    api: TestClient, db_session: Session
) -> None:
    make_artefact(db_session, family=FamilyName.image, sha256="b" * 64, stage="pending")
    db_session.commit()
    minimal = {"family": "image", "sha256": "b" * 64, "environment": "x", "test_plan": "p"}
    assert start(api, {**minimal, "arch": "amd64"})


REQUIRED = [
    *[(snap, f) for f in ("name", "version", "revision", "arch", "execution_stage")],
    *[(snap, f) for f in ("environment", "test_plan", "store", "track")],
    *[(deb, f) for f in ("name", "version", "series", "repo", "arch", "environment", "test_plan")],
    *[(charm, f) for f in ("name", "version", "track", "revision", "arch", "execution_stage")],
    *[(charm, f) for f in ("environment", "test_plan")],
    *[(solution, f) for f in ("name", "version", "track", "source", "arch", "execution_stage")],
    *[(solution, f) for f in ("environment", "test_plan")],
    *[(image, f) for f in ("sha256", "environment", "test_plan")],
]


def test_required_fields(api: TestClient) -> None:
    for make, field in REQUIRED:
        payload = make()
        del payload[field]
        response = api.put(URL, json=payload)
        assert response.status_code == 422, (payload["family"], field)
        error = response.json()["detail"][0]
        assert error["type"] == "missing"
        assert error["loc"] == ["body", payload["family"], field]


def test_missing_or_unknown_family_is_422(api: TestClient) -> None:
    payload = snap()
    del payload["family"]
    assert api.put(URL, json=payload).status_code == 422
    assert api.put(URL, json=snap(family="flatpak")).status_code == 422


@pytest.mark.parametrize(
    "payload",
    [snap(execution_stage="proposed"), deb(execution_stage="edge"), image(execution_stage="beta")],
)
def test_stage_outside_the_family_is_422(api: TestClient, payload: dict[str, Any]) -> None:
    assert api.put(URL, json=payload).status_code == 422


def test_deb_needs_exactly_one_of_source_and_stage(api: TestClient, db_session: Session) -> None:
    neither = api.put(URL, json=deb(execution_stage=""))
    assert neither.status_code == 422
    assert "Received no source or execution_stage" in neither.text
    both = api.put(URL, json=deb(source="ppa/test"))
    assert both.status_code == 422
    assert "Received both source and execution_stage" in both.text
    start(api, deb(source="ppa/test", execution_stage=""))
    assert db_session.scalars(select(Artefact.stage)).one() == ""


@pytest.mark.parametrize("version", ["", "null"])
def test_empty_version_is_422(api: TestClient, version: str) -> None:
    assert api.put(URL, json=snap(version=version)).status_code == 422


def test_initial_status_applies_to_new_executions(api: TestClient, db_session: Session) -> None:
    execution_id = start(api, snap(initial_status="NOT_STARTED"))
    execution = db_session.get(TestExecution, execution_id)
    assert execution is not None
    assert execution.status == TestExecutionStatus.NOT_STARTED


def test_start_test_removes_the_rerun_request_of_its_group_only(
    api: TestClient, db_session: Session
) -> None:
    first = start(api, snap())
    other_plan = start(api, snap(test_plan="other"))
    for execution_id in (first, other_plan):
        execution = db_session.get(TestExecution, execution_id)
        assert execution is not None
        db_session.add(
            TestExecutionRerunRequest(
                test_plan_id=execution.test_plan_id,
                artefact_build_id=execution.artefact_build_id,
                environment_id=execution.environment_id,
            )
        )
    db_session.commit()
    start(api, snap())
    plans = db_session.scalars(select(TestExecutionRerunRequest.test_plan_id)).all()
    other = db_session.get(TestExecution, other_plan)
    assert other is not None
    assert plans == [other.test_plan_id]


def test_relevant_links_are_added_once_even_on_retries(
    api: TestClient, db_session: Session
) -> None:
    links = [
        {"label": "Log", "url": "https://Logs.example"},
        {"label": "Log", "url": "https://logs.example/"},
        {"label": "Job", "url": "https://ci.example/job/1"},
    ]
    first = start(api, snap(ci_link="https://ci/1", relevant_links=links))
    start(
        api,
        snap(
            ci_link="https://ci/1",
            relevant_links=[*links, {"label": "New", "url": "https://n.example"}],
        ),
    )
    rows = db_session.execute(
        select(TestExecutionRelevantLink.label, TestExecutionRelevantLink.url)
        .where(TestExecutionRelevantLink.test_execution_id == first)
        .order_by(TestExecutionRelevantLink.id)
    ).all()
    assert [tuple(row) for row in rows] == [
        ("Log", "https://logs.example/"),
        ("Job", "https://ci.example/job/1"),
        ("New", "https://n.example/"),
    ]


def test_invalid_relevant_link_url_is_422(api: TestClient) -> None:
    response = api.put(URL, json=snap(relevant_links=[{"label": "x", "url": "not a url"}]))
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "url_parsing"


def test_start_test_needs_change_test(client: TestClient) -> None:
    response = client.put(URL, json=snap())
    assert response.status_code == 403
    assert response.json() == {"detail": "Insufficient permissions"}
