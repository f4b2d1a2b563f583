"""Test plans as a filter: `GET /v1/test-plans`, and the newest filter object of the frontend
(test plans with artefact versions, stages and tracks) on every endpoint that takes filters."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import (
    FamilyName,
    IssueTestResultAttachment,
    TestCase,
    TestExecution,
    TestExecutionRerunRequest,
    TestPlan,
    TestResult,
    TestResultStatus,
)
from tests.backend.factories import (
    make_artefact,
    make_build,
    make_environment,
    make_execution,
    make_result,
    make_review,
)
from tests.backend.review_helpers import everyone_client
from tests.backend.statements import count_statements


@pytest.fixture
def api(make_client: Callable[..., TestClient]) -> TestClient:
    return everyone_client(make_client)


# The filter object the frontend sends today. Each variant below differs from the target in one
# of its fields, and its results are of a test case named after it.
NEWEST = {
    "test_plans": ["smoke"],
    "artefact_versions": ["1"],
    "artefact_stages": ["beta"],
    "artefact_tracks": ["22"],
}
VARIANTS: dict[str, tuple[dict[str, str], str]] = {
    "target": ({"name": "core22", "version": "1", "stage": "beta", "track": "22"}, "smoke"),
    "version": ({"name": "core-b", "version": "2", "stage": "beta", "track": "22"}, "smoke"),
    "stage": ({"name": "core-c", "version": "1", "stage": "edge", "track": "22"}, "smoke"),
    "track": ({"name": "core-d", "version": "1", "stage": "beta", "track": "24"}, "smoke"),
    "plan": ({"name": "core22", "version": "1", "stage": "beta", "track": "22"}, "full"),
}
RUNS = 4


@pytest.fixture
def variants(db_session: Session) -> dict[str, list[int]]:
    """Per variant, the ids of its executions: RUNS on one environment, alternating results."""
    environment = make_environment(db_session, "rpi4")
    builds: dict[str, Any] = {}
    executions: dict[str, list[int]] = {}
    for variant, (fields, plan) in VARIANTS.items():
        if fields["name"] not in builds:
            build = make_build(db_session, make_artefact(db_session, **fields))
            make_review(db_session, build, environment)
            builds[fields["name"]] = build
        executions[variant] = []
        for run in range(RUNS):
            execution = make_execution(db_session, builds[fields["name"]], environment, plan)
            status = TestResultStatus.FAILED if run % 2 == 0 else TestResultStatus.PASSED
            make_result(db_session, execution, variant, status)
            executions[variant].append(execution.id)
    db_session.commit()
    return executions


def result_names(body: dict[str, Any]) -> list[str]:
    return sorted({item["test_result"]["name"] for item in body["test_results"]})


def test_test_plan_names_answer_like_environment_names(
    api: TestClient, db_session: Session
) -> None:
    snap = make_artefact(db_session)
    deb = make_artefact(db_session, family=FamilyName.deb, name="linux", version="1")
    rpi = make_environment(db_session)
    make_execution(db_session, make_build(db_session, snap), rpi, "IoT-Smoke")
    make_execution(db_session, make_build(db_session, deb), rpi, "kernel_sru")
    make_execution(db_session, make_build(db_session, deb, revision=2), rpi, "IoT-Smoke")
    db_session.add(TestPlan(name="unused"))
    db_session.commit()

    assert api.get("/v1/test-plans").json() == {
        "test_plans": ["IoT-Smoke", "kernel_sru", "unused"],
        "count": 3,
        "limit": 50,
        "offset": 0,
    }
    assert api.get("/v1/test-plans", params={"q": " smoke "}).json()["test_plans"] == ["IoT-Smoke"]
    # `_` is a character, not LIKE's wildcard (which would match "t-s" in "iot-smoke").
    assert api.get("/v1/test-plans", params={"q": "t_s"}).json()["count"] == 0
    assert api.get("/v1/test-plans", params={"q": "l_s"}).json()["test_plans"] == ["kernel_sru"]
    by_family = api.get("/v1/test-plans", params={"families": "deb"}).json()
    assert by_family["test_plans"] == ["IoT-Smoke", "kernel_sru"]
    both = api.get("/v1/test-plans", params={"families": ["snap", "charm"]}).json()
    assert both["test_plans"] == ["IoT-Smoke"]
    page = api.get("/v1/test-plans", params={"limit": 1, "offset": 1}).json()
    assert (page["test_plans"], page["count"]) == (["kernel_sru"], 3)
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"families": "rpm"}):
        assert api.get("/v1/test-plans", params=bad).status_code == 422, bad


def test_test_plans_need_view_test(client: TestClient) -> None:
    assert client.get("/v1/test-plans").status_code == 403


def test_results_search(api: TestClient, variants: dict[str, list[int]]) -> None:
    newest = api.get("/v1/test-results", params=NEWEST).json()
    assert (result_names(newest), newest["count"]) == (["target"], RUNS)
    plans = api.get("/v1/test-results", params={"test_plans": ["full", "nightly"]}).json()
    assert (result_names(plans), plans["count"]) == (["plan"], RUNS)
    both = api.get("/v1/test-results", params={"test_plans": ["smoke", "full"]}).json()
    assert both["count"] == RUNS * len(VARIANTS)
    assert api.get("/v1/test-results", params={"test_plans": "nightly"}).json()["count"] == 0


def test_executions_search(api: TestClient, variants: dict[str, list[int]]) -> None:
    newest = api.get("/v1/test-executions", params=NEWEST).json()
    assert newest["count"] == RUNS
    assert sorted(e["id"] for e in newest["test_executions"]) == variants["target"]
    assert {e["test_plan"] for e in newest["test_executions"]} == {"smoke"}
    plans = api.get("/v1/test-executions", params={"test_plans": "full"}).json()
    assert sorted(e["id"] for e in plans["test_executions"]) == variants["plan"]


def attached_names(db_session: Session) -> list[str]:
    return list(
        db_session.scalars(
            select(TestCase.name)
            .join(TestResult, TestResult.test_case_id == TestCase.id)
            .join(
                IssueTestResultAttachment, IssueTestResultAttachment.test_result_id == TestResult.id
            )
            .order_by(TestCase.name)
        )
    )


def test_bulk_attach_and_detach(
    api: TestClient, db_session: Session, variants: dict[str, list[int]]
) -> None:
    issue = api.put("/v1/issues", json={"url": "https://github.com/acme/widgets/issues/1"}).json()
    attach = api.post(f"/v1/issues/{issue['id']}/attach", json={"test_results_filters": NEWEST})
    assert attach.status_code == 200, attach.text
    assert attached_names(db_session) == ["target"] * RUNS
    # A test plan alone is a filter: it makes a bulk selection.
    plans_only = {"test_results_filters": {"test_plans": ["full"]}}
    assert api.post(f"/v1/issues/{issue['id']}/attach", json=plans_only).status_code == 200
    assert attached_names(db_session) == ["plan"] * RUNS + ["target"] * RUNS
    detach = api.post(f"/v1/issues/{issue['id']}/detach", json={"test_results_filters": NEWEST})
    assert detach.status_code == 200, detach.text
    assert attached_names(db_session) == ["plan"] * RUNS


def rerun_plans(db_session: Session) -> list[tuple[str, str]]:
    """(test plan, test case of the group's results) of every rerun request."""
    rows = db_session.execute(
        select(TestPlan.name, TestCase.name)
        .select_from(TestExecutionRerunRequest)
        .join(TestPlan, TestPlan.id == TestExecutionRerunRequest.test_plan_id)
        .join(
            TestExecution,
            (TestExecution.test_plan_id == TestExecutionRerunRequest.test_plan_id)
            & (TestExecution.artefact_build_id == TestExecutionRerunRequest.artefact_build_id)
            & (TestExecution.environment_id == TestExecutionRerunRequest.environment_id),
        )
        .join(TestResult, TestResult.test_execution_id == TestExecution.id)
        .join(TestCase, TestCase.id == TestResult.test_case_id)
        .distinct()
    ).all()
    return sorted((plan, case) for plan, case in rows)


# Requests from filters are made silently (no notification per request).
RERUNS = "/v1/test-executions/reruns?silent=true"


@pytest.mark.parametrize("key", ["test_results_filters", "test_executions_filters"])
def test_reruns_by_filters(
    api: TestClient, db_session: Session, variants: dict[str, list[int]], key: str
) -> None:
    created = api.post(RERUNS, json={key: NEWEST})
    assert created.status_code == 200, created.text
    assert rerun_plans(db_session) == [("smoke", "target")]
    everything = {key: {"test_plans": ["smoke", "full"]}}
    assert api.post(RERUNS, json=everything).status_code == 200
    assert len(rerun_plans(db_session)) == len(VARIANTS)
    deleted = api.request("DELETE", RERUNS, json={key: NEWEST})
    assert deleted.status_code == 200, deleted.text
    assert ("smoke", "target") not in rerun_plans(db_session)
    assert len(rerun_plans(db_session)) == len(VARIANTS) - 1
    only_full = api.request("DELETE", RERUNS, json={key: {"test_plans": ["full"]}})
    assert only_full.status_code == 200
    assert [plan for plan, _ in rerun_plans(db_session)] == ["smoke"] * 3


def csv_rows(api: TestClient, path: str, **params: Any) -> list[dict[str, str]]:
    response = api.get(path, params=params)
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


def test_csv_reports(api: TestClient, variants: dict[str, list[int]]) -> None:
    executions = csv_rows(api, "/v1/reports/test-executions", test_plans="full")
    assert sorted(int(row["TestExecution.id"]) for row in executions) == variants["plan"]
    results = csv_rows(api, "/v1/reports/test-results", test_plans=["full", "nightly"])
    assert {row["TestCase.name"] for row in results} == {"plan"}
    assert len(results) == RUNS
    every = csv_rows(api, "/v1/reports/test-results")
    assert len(every) == RUNS * len(VARIANTS)


def test_flaky_list(api: TestClient, variants: dict[str, list[int]]) -> None:
    def flaky(**params: Any) -> list[str]:
        response = api.get("/v1/test-cases/flaky", params={"min_runs": RUNS, **params})
        assert response.status_code == 200, response.text
        return sorted(item["test_case"] for item in response.json()["test_cases"])

    assert flaky() == sorted(VARIANTS)
    assert flaky(**NEWEST) == ["target"]
    assert flaky(test_plans="full") == ["plan"]


def test_a_test_plan_filter_costs_the_statements_of_an_environment_filter(
    api: TestClient, engine: Engine, variants: dict[str, list[int]]
) -> None:
    for path in ("/v1/test-results", "/v1/test-executions"):
        counts = []
        for params in ({"environments": "rpi4"}, {"test_plans": ["smoke", "full"]}):
            with count_statements(engine) as counter:
                assert api.get(path, params=params).json()["count"] == RUNS * len(VARIANTS)
            counts.append(counter.count)
        assert counts[0] == counts[1], path
        # The plans become ids inside the search's own statements: no statement of their own.
        with count_statements(engine) as counter:
            api.get(path, params=NEWEST)
        assert counter.count == counts[0], path


def test_rules_match_test_plans_at_ingestion(api: TestClient, db_session: Session) -> None:
    issue = api.put("/v1/issues", json={"url": "https://github.com/acme/widgets/issues/2"}).json()
    rule = api.post(
        f"/v1/issues/{issue['id']}/attachment-rules", json={"test_plans": ["smoke"]}
    ).json()
    assert rule["test_plans"] == ["smoke"]
    listed = api.get(f"/v1/issues/{issue['id']}").json()["attachment_rules"]
    assert [r["test_plans"] for r in listed] == [["smoke"]]
    environment = make_environment(db_session)
    build = make_build(db_session, make_artefact(db_session))
    smoke = make_execution(db_session, build, environment, "smoke")
    full = make_execution(db_session, build, environment, "full")
    db_session.commit()
    for execution in (smoke, full):
        posted = api.post(
            f"/v1/test-executions/{execution.id}/test-results",
            json=[{"name": "case", "status": "FAILED"}],
        )
        assert posted.status_code == 200, posted.text
    attached = db_session.scalars(
        select(TestResult.test_execution_id).join(
            IssueTestResultAttachment, IssueTestResultAttachment.test_result_id == TestResult.id
        )
    ).all()
    assert attached == [smoke.id]
    assert (
        db_session.scalar(
            select(func.count())
            .select_from(IssueTestResultAttachment)
            .where(IssueTestResultAttachment.attachment_rule_id == rule["id"])
        )
        == 1
    )
