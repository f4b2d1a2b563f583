"""Test results search, environment and test case lists, reported issues, execution metadata
and the CSV reports."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Callable
from datetime import datetime

import pytest
from sqlalchemy import insert, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import (
    ArtefactBuildEnvironmentReviewDecision,
    FamilyName,
    Issue,
    IssueSource,
    IssueTestResultAttachment,
    TestEvent,
    TestExecutionMetadata,
    TestExecutionRerunRequest,
    TestResult,
    TestResultStatus,
    User,
    artefact_reviewers_association,
    test_execution_metadata_association_table,
)
from tests.backend.factories import (
    make_artefact,
    make_build,
    make_environment,
    make_execution,
    make_result,
    make_review,
)
from tests.backend.review_helpers import (
    MINIMAL_BUILD_TYPES,
    RESULT_TYPES,
    assert_artefact_shape,
    assert_execution_shape,
    assert_iso_datetime,
    assert_types,
    everyone_client,
)


@pytest.fixture
def api(make_client: Callable[..., TestClient]) -> TestClient:
    return everyone_client(make_client)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def attach_metadata(session: Session, execution_id: int, category: str, value: str) -> None:
    row = TestExecutionMetadata(category=category, value=value)
    session.add(row)
    session.flush()
    session.execute(
        insert(test_execution_metadata_association_table).values(
            test_execution_id=execution_id, test_execution_metadata_id=row.id
        )
    )


def result_ids(api: TestClient, **params: object) -> list[int]:
    response = api.get("/v1/test-results", params=params)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    return [item["test_result"]["id"] for item in response.json()["test_results"]]


# GET /v1/test-results ---------------------------------------------------------------------------


def test_result_search_shape_order_and_count(api: TestClient, db_session: Session) -> None:
    artefact = make_artefact(db_session)
    build = make_build(db_session, artefact)
    execution = make_execution(db_session, build, make_environment(db_session))
    results = [
        make_result(db_session, execution, f"case{i}", TestResultStatus.FAILED) for i in range(3)
    ]
    db_session.commit()

    body = api.get("/v1/test-results", params={"limit": 2}).json()
    assert body["count"] == 3
    assert (body["limit"], body["offset"]) == (2, 0)
    assert [item["test_result"]["id"] for item in body["test_results"]] == [
        results[2].id,
        results[1].id,
    ]
    item = body["test_results"][0]
    assert_types(item["test_result"], RESULT_TYPES)
    assert item["test_result"]["status"] in {"PASSED", "FAILED", "SKIPPED"}
    assert_iso_datetime(item["test_result"]["created_at"])
    assert_execution_shape(item["test_execution"])
    assert item["test_execution"]["is_triaged"] is False
    assert_artefact_shape(item["artefact"])
    assert_types(item["artefact_build"], MINIMAL_BUILD_TYPES)
    empty = api.get("/v1/test-results", params={"limit": 0}).json()
    assert (empty["count"], empty["test_results"]) == (3, [])


def test_result_search_filters(api: TestClient, db_session: Session) -> None:
    snap = make_artefact(db_session)
    deb = make_artefact(db_session, family=FamilyName.deb, name="linux", version="1", track="")
    snap_build = make_build(db_session, snap)
    deb_build = make_build(db_session, deb, revision=None)
    rpi = make_environment(db_session, "rpi4")
    xps = make_environment(db_session, "xps")
    first = make_execution(db_session, snap_build, rpi)
    rerun = make_execution(db_session, snap_build, rpi)
    other = make_execution(db_session, deb_build, xps, plan="full")
    old = make_result(db_session, first, "disk", TestResultStatus.PASSED)
    failed = make_result(db_session, rerun, "disk", TestResultStatus.FAILED)
    skipped = make_result(db_session, other, "wifi", TestResultStatus.SKIPPED)
    db_session.execute(
        update(TestResult).where(TestResult.id == old.id).values(created_at=datetime(2024, 1, 1))
    )
    issue = Issue(source=IssueSource.GITHUB, project="canonical/x", key="1")
    jane = User(email="jane@example.com", name="Jane")
    db_session.add_all([issue, jane])
    db_session.flush()
    db_session.add(IssueTestResultAttachment(issue_id=issue.id, test_result_id=failed.id))
    db_session.add(
        TestExecutionRerunRequest(
            test_plan_id=other.test_plan_id, artefact_build_id=deb_build.id, environment_id=xps.id
        )
    )
    db_session.execute(
        insert(artefact_reviewers_association).values(artefact_id=deb.id, user_id=jane.id)
    )
    attach_metadata(db_session, rerun.id, "charm", "mysql")
    attach_metadata(db_session, other.id, "charm", "postgres")
    attach_metadata(db_session, other.id, "cloud", "aws")
    db_session.commit()

    assert result_ids(api, families="deb") == [skipped.id]
    assert result_ids(api, environments="rpi4") == [failed.id, old.id]
    assert result_ids(api, test_cases="disk", test_result_statuses="FAILED") == [failed.id]
    assert result_ids(api, execution_is_latest="true") == [skipped.id, failed.id]
    assert result_ids(api, execution_is_latest="false") == [old.id]
    assert result_ids(api, issues="any") == [failed.id]
    assert result_ids(api, issues="none") == [skipped.id, old.id]
    assert result_ids(api, issues=[issue.id]) == [failed.id]
    assert result_ids(api, rerun_is_requested="true") == [skipped.id]
    assert result_ids(api, reviewer_ids=[jane.id]) == [skipped.id]
    assert result_ids(api, reviewer_ids="none") == [failed.id, old.id]
    assert result_ids(api, assignee_ids="any") == [skipped.id]
    assert result_ids(api, from_date="2024-06-01T00:00:00") == [skipped.id, failed.id]
    assert result_ids(api, until_date="2024-01-01T00:00:00") == [old.id]
    assert result_ids(api, artefacts="linux", artefact_versions="1") == [skipped.id]

    metadata = [f"{b64('charm')}:{b64('mysql')}", f"{b64('charm')}:{b64('postgres')}"]
    assert result_ids(api, execution_metadata=metadata) == [skipped.id, failed.id]
    both = [*metadata, f"{b64('cloud')}:{b64('aws')}"]
    assert result_ids(api, execution_metadata=both) == [skipped.id]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"issues": ["any", "none"]}, "Cannot combine"),
        ({"issues": ["1", "any"]}, "Cannot combine"),
        ({"reviewer_ids": ["x"]}, "integers"),
        ({"families": "not_a_family"}, None),
        ({"limit": 1001}, None),
        ({"offset": -1}, None),
        ({"from_date": "yesterday"}, None),
        ({"execution_metadata": "nocolon"}, "Expected base64 encoded 'category:value'"),
        ({"execution_metadata": "!!:!!"}, "Invalid base64 encoding"),
        ({"execution_metadata": f":{b64('v')}"}, "must be non-empty"),
    ],
)
def test_result_search_rejects_bad_filters(
    api: TestClient, params: dict[str, object], message: str | None
) -> None:
    response = api.get("/v1/test-results", params=params)  # type: ignore[arg-type]
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    assert {"type", "loc", "msg"} <= set(detail[0])
    if message:
        assert message in detail[0]["msg"]


def test_searches_need_view_test(client: TestClient) -> None:
    for path in (
        "/v1/test-results",
        "/v1/environments",
        "/v1/test-cases",
        "/v1/execution-metadata",
    ):
        assert client.get(path).status_code == 403, path


# Environments and test cases --------------------------------------------------------------------


def test_environment_names(api: TestClient, db_session: Session) -> None:
    snap = make_artefact(db_session)
    deb = make_artefact(db_session, family=FamilyName.deb, name="linux", version="1")
    rpi_amd = make_environment(db_session, "RPi4", "amd64")
    rpi_arm = make_environment(db_session, "RPi4", "arm64")
    make_environment(db_session, "unused")
    xps = make_environment(db_session, "xps")
    make_execution(db_session, make_build(db_session, snap), rpi_amd)
    make_execution(db_session, make_build(db_session, deb, architecture="arm64"), rpi_arm)
    make_execution(db_session, make_build(db_session, deb, revision=2), xps)
    db_session.commit()

    assert api.get("/v1/environments").json() == {
        "environments": ["RPi4", "unused", "xps"],
        "count": 3,
        "limit": 50,
        "offset": 0,
    }
    assert api.get("/v1/environments", params={"q": " rpi "}).json()["environments"] == ["RPi4"]
    by_family = api.get("/v1/environments", params={"families": "deb"}).json()
    assert by_family["environments"] == ["RPi4", "xps"]
    page = api.get("/v1/environments", params={"limit": 1, "offset": 1}).json()
    assert (page["environments"], page["count"]) == (["unused"], 3)
    assert api.get("/v1/environments", params={"limit": 0}).status_code == 422


def test_test_case_names(api: TestClient, db_session: Session) -> None:
    snap = make_artefact(db_session)
    deb = make_artefact(db_session, family=FamilyName.deb, name="linux", version="1")
    rpi = make_environment(db_session)
    snap_run = make_execution(db_session, make_build(db_session, snap), rpi)
    deb_run = make_execution(db_session, make_build(db_session, deb), rpi)
    make_result(db_session, snap_run, "disk/stats_sda")
    make_result(db_session, deb_run, "Wifi/connect")
    db_session.commit()

    body = api.get("/v1/test-cases").json()
    assert body == {
        "test_cases": [
            {"test_case": "Wifi/connect", "template_id": ""},
            {"test_case": "disk/stats_sda", "template_id": ""},
        ]
    }
    assert api.get("/v1/test-cases", params={"q": "WIFI"}).json()["test_cases"][0]["test_case"] == (
        "Wifi/connect"
    )
    snaps = api.get("/v1/test-cases", params={"families": "snap"}).json()["test_cases"]
    assert [c["test_case"] for c in snaps] == ["disk/stats_sda"]
    assert api.get("/v1/test-cases", params={"limit": 0}).status_code == 422


# Reported issues --------------------------------------------------------------------------------


def test_environment_reported_issues_crud(api: TestClient) -> None:
    url = "/v1/environments/reported-issues"
    confirmed_without_url = {"environment_name": "rpi4", "description": "d", "is_confirmed": True}
    assert api.post(url, json=confirmed_without_url).status_code == 422
    unconfirmed = api.post(url, json={**confirmed_without_url, "is_confirmed": False})
    assert unconfirmed.status_code == 200
    assert unconfirmed.json()["url"] is None
    other_host = {**confirmed_without_url, "url": "https://chat.canonical.com/x"}
    assert api.post(url, json=other_host).status_code == 422
    invalid = api.post(url, json={**confirmed_without_url, "url": "invalid url"})
    assert invalid.status_code == 422
    assert invalid.json()["detail"][0]["type"] == "url_parsing"

    created = api.post(url, json={**confirmed_without_url, "url": "https://github.com"}).json()
    assert created["url"] == "https://github.com/"
    assert_types(
        created,
        {"id": int, "environment_name": str, "description": str, "is_confirmed": bool},
    )
    assert [i["id"] for i in api.get(url, params={"is_confirmed": "false"}).json()] == [
        unconfirmed.json()["id"]
    ]
    # Clients send the whole object back, id included.
    updated = api.put(
        f"{url}/{created['id']}",
        json={**created, "description": "new", "url": "https://bugs.launchpad.net/x/+bug/1"},
    ).json()
    assert updated["description"] == "new"
    assert api.delete(f"{url}/{created['id']}").json() is None
    assert api.delete(f"{url}/{unconfirmed.json()['id']}").status_code == 200
    assert api.get(url).json() == []
    assert api.delete(f"{url}/9999").status_code == 404
    assert api.put(f"{url}/9999", json={**confirmed_without_url, "is_confirmed": False}).json() == {
        "detail": "Environment reported issue 9999 not found"
    }


def test_test_case_reported_issues_crud(api: TestClient) -> None:
    url = "/v1/test-cases/reported-issues"
    body = {"description": "flaky", "url": "https://warthogs.atlassian.net/browse/TO-1"}
    assert api.post(url, json=body).status_code == 422
    assert api.post(url, json={"case_name": "disk"}).status_code == 422
    by_case = api.post(url, json={**body, "case_name": "disk"}).json()
    by_template = api.post(url, json={**body, "template_id": "disk/{name}"}).json()
    assert by_case["template_id"] == ""
    assert_types(by_case, {"id": int, "template_id": str, "case_name": str, "description": str})
    assert isinstance(by_case["url"], str)
    assert [i["id"] for i in api.get(url, params={"case_name": "disk"}).json()] == [by_case["id"]]
    assert [i["id"] for i in api.get(url, params={"template_id": "disk/{name}"}).json()] == [
        by_template["id"]
    ]
    assert len(api.get(url, params={"template_id": ""}).json()) == 2
    assert (
        api.put(f"{url}/{by_case['id']}", json={**by_case, "description": "x"}).json()[
            "description"
        ]
        == "x"
    )
    assert api.post(url, json={**body, "case_name": "a", "url": "https://x.org"}).status_code == 422
    assert api.delete(f"{url}/{by_case['id']}").status_code == 200
    assert api.delete(f"{url}/{by_case['id']}").status_code == 404


def test_reported_issues_need_their_permissions(client: TestClient) -> None:
    assert client.get("/v1/test-cases/reported-issues").status_code == 403
    assert client.get("/v1/environments/reported-issues").status_code == 403
    assert client.delete("/v1/environments/reported-issues/1").status_code == 403


# Execution metadata -----------------------------------------------------------------------------


def test_execution_metadata_lists_every_pair(api: TestClient, db_session: Session) -> None:
    assert api.get("/v1/execution-metadata").json() == {"execution_metadata": {}}
    execution = make_execution(
        db_session, make_build(db_session, make_artefact(db_session)), make_environment(db_session)
    )
    attach_metadata(db_session, execution.id, "charm", "mysql")
    db_session.add_all(
        [
            TestExecutionMetadata(category="charm", value="jenkins"),
            TestExecutionMetadata(category="cloud", value="aws"),
        ]
    )
    db_session.commit()
    assert api.get("/v1/execution-metadata").json() == {
        "execution_metadata": {"charm": ["jenkins", "mysql"], "cloud": ["aws"]}
    }


# Reports ----------------------------------------------------------------------------------------


def read_csv(response: object) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.text)))  # type: ignore[attr-defined]


def test_reports_are_streamed_csv(api: TestClient, db_session: Session) -> None:
    empty = api.get("/v1/reports/test-executions")
    assert empty.status_code == 200
    assert empty.headers["content-type"] == "text/csv; charset=utf-8"
    assert len(read_csv(empty)) == 1
    assert len(read_csv(empty)[0]) == 22
    assert len(read_csv(api.get("/v1/reports/test-results"))[0]) == 24

    artefact = make_artefact(db_session)
    build = make_build(db_session, artefact)
    rpi = make_environment(db_session, "rpi4")
    xps = make_environment(db_session, "xps")
    reviewed = make_execution(db_session, build, rpi, ci_link="https://ci/1")
    make_execution(db_session, build, xps)
    make_review(
        db_session,
        build,
        rpi,
        review_decision=[ArtefactBuildEnvironmentReviewDecision.REJECTED],
        review_comment="bad, really",
    )
    db_session.add(
        TestEvent(
            test_execution_id=reviewed.id,
            event_name="job_start",
            timestamp=datetime(2024, 1, 2, 3, 4, 5, 678000),
            detail="d",
        )
    )
    make_result(db_session, reviewed, "disk", TestResultStatus.FAILED)
    db_session.commit()

    rows = read_csv(api.get("/v1/reports/test-executions"))
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["TestExecution.id"] == str(reviewed.id)
    assert row["Artefact.family"] == "snap"
    assert row["TestExecution.test_plan"] == "smoke"
    assert row["ArtefactBuildEnvironmentReview.review_decision"] == (
        "[<ArtefactBuildEnvironmentReviewDecision.REJECTED: 'REJECTED'>]"
    )
    assert row["ArtefactBuildEnvironmentReview.review_comment"] == "bad, really"
    assert row["TestEvents"] == (
        "[{'event_name': 'job_start', 'timestamp': '2024-01-02 03:04:05:678', 'detail': 'd'}]"
    )
    assert row["TestExecution.c3_link"] == ""

    results = read_csv(api.get("/v1/reports/test-results"))
    assert len(results) == 2
    assert results[1][-2] == "FAILED"
    assert results[1][20] == "disk"
    past = api.get("/v1/reports/test-results", params={"end_date": "2000-01-01T00:00:00"})
    assert len(read_csv(past)) == 1
    assert api.get("/v1/reports/test-results", params={"start_date": "x"}).status_code == 422


@pytest.mark.parametrize("report", ["test-results", "test-executions"])
def test_a_value_the_database_refuses_is_a_4xx_before_the_report_starts(
    api: TestClient, report: str
) -> None:
    # PostgreSQL text cannot hold NUL: the refusal must come before the CSV header is sent.
    response = api.get(f"/v1/reports/{report}", params={"test_plans": ["a\x00b"]})
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["detail"]
    assert api.get(f"/v1/reports/{report}", params={"test_plans": ["ab"]}).status_code == 200


def test_reports_need_view_report(client: TestClient) -> None:
    assert client.get("/v1/reports/test-results").status_code == 403
    assert client.get("/v1/reports/test-executions").status_code == 403
