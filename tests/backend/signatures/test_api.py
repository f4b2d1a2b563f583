"""GET /v1/failure-signatures and /v1/failure-signatures/{id}."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from starlette.testclient import TestClient

from tests.backend.executions.conftest import result, snap, start
from tests.backend.issues.conftest import ISSUES, put_issue, results_url
from tests.backend.statements import count_statements

SIGNATURES = "/v1/failure-signatures"


def log(cause: str, n: int) -> str:
    return f"setting up device {n}\nError: {cause} on 10.0.{n}.1 after {n}s\n"


def post(api: TestClient, execution_id: int, *results: tuple[str, str]) -> dict[str, int]:
    """Failed results (name, cause); the stored results' ids by name."""
    response = api.post(
        results_url(execution_id),
        json=[
            result(name, "FAILED", io_log=log(cause, i)) for i, (name, cause) in enumerate(results)
        ],
    )
    assert response.status_code == 200, response.text
    return {item["name"]: item["id"] for item in api.get(results_url(execution_id)).json()}


def listed(api: TestClient, **params: Any) -> dict[str, Any]:
    response = api.get(SIGNATURES, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def history(api: TestClient) -> dict[str, int]:
    """Version 1 fails with "disk full" (3 results, 2 environments) and "timeout" (1); version 2
    then fails with "timeout" again and, new, "oom"."""
    old_a = start(api, snap(version="1", environment="a", ci_link="https://ci/1a"))
    old_b = start(api, snap(version="1", environment="b", ci_link="https://ci/1b"))
    ids = post(api, old_a, ("t1", "disk full"), ("t2", "disk full"), ("t3", "timeout"))
    ids |= {f"b/{k}": v for k, v in post(api, old_b, ("t1", "disk full")).items()}
    new = start(api, snap(version="2", environment="a", ci_link="https://ci/2a"))
    ids |= {f"new/{k}": v for k, v in post(api, new, ("t3", "timeout"), ("t4", "oom")).items()}
    return ids


def by_text(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["text"].split(" on ")[0]: item for item in body["failure_signatures"]}


def test_the_whole_history_most_results_first(api: TestClient) -> None:
    history(api)
    body = listed(api)
    assert body["count"] == 3
    assert [item["results"] for item in body["failure_signatures"]] == [3, 2, 1]
    disk = by_text(body)["Error: disk full"]
    assert (disk["environments"], disk["test_cases"], disk["artefacts"]) == (2, 2, 1)
    assert disk["total_results"] == 3
    assert disk["excerpt"] == "Error: disk full on 10.0.0.1 after 0s"
    timeout = by_text(body)["Error: timeout"]
    assert (timeout["environments"], timeout["test_cases"], timeout["artefacts"]) == (1, 1, 2)
    page = listed(api, limit=1, offset=1)
    assert page["count"] == 3
    assert [item["results"] for item in page["failure_signatures"]] == [2]


def test_one_artefact_tells_new_problems_from_old_ones(api: TestClient) -> None:
    history(api)
    body = listed(api, artefact_versions="2")
    assert body["count"] == 2
    found = by_text(body)
    assert set(found) == {"Error: timeout", "Error: oom"}
    assert found["Error: oom"]["first_seen_in_selection"] is True
    assert found["Error: timeout"]["first_seen_in_selection"] is False
    # Counts are the selection's; the total is the signature's.
    assert (found["Error: timeout"]["results"], found["Error: timeout"]["total_results"]) == (1, 2)
    assert listed(api, environments="b")["count"] == 1
    assert listed(api, artefact_versions="nope") == {
        "failure_signatures": [],
        "count": 0,
        "limit": 50,
        "offset": 0,
    }


def test_the_issues_most_attached_to_a_signature(api: TestClient) -> None:
    ids = history(api)
    often = put_issue(api, "https://github.com/acme/widgets/issues/1")
    once = put_issue(api, "https://github.com/acme/widgets/issues/2")
    for issue, results in ((often, [ids["t1"], ids["t2"]]), (once, [ids["b/t1"]])):
        response = api.post(f"{ISSUES}/{issue['id']}/attach", json={"test_results": results})
        assert response.status_code == 200, response.text
    disk = by_text(listed(api))["Error: disk full"]
    assert [(item["issue"]["id"], item["results"]) for item in disk["issues"]] == [
        (often["id"], 2),
        (once["id"], 1),
    ]
    disk_b = by_text(listed(api, environments="b"))["Error: disk full"]
    assert [item["issue"]["id"] for item in disk_b["issues"]] == [once["id"]]


def test_filters_select_results_with_the_search_s_semantics(api: TestClient) -> None:
    history(api)
    signature_id = by_text(listed(api))["Error: disk full"]["id"]
    only = listed(api, failure_signatures=signature_id)
    assert [item["id"] for item in only["failure_signatures"]] == [signature_id]
    assert api.get(SIGNATURES, params={"issues": "bad"}).status_code == 422
    assert api.get(SIGNATURES, params={"limit": 0}).status_code == 422


def test_one_signature_with_its_newest_results(api: TestClient) -> None:
    ids = history(api)
    signature = by_text(listed(api))["Error: timeout"]
    response = api.get(f"{SIGNATURES}/{signature['id']}", params={"examples": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["results"] == body["total_results"] == 2
    assert [example["test_result_id"] for example in body["examples"]] == [ids["new/t3"], ids["t3"]]
    assert body["examples"][0]["artefact_version"] == "2"
    assert "Error: timeout" in body["examples"][0]["io_log_excerpt"]
    assert (
        len(api.get(f"{SIGNATURES}/{signature['id']}", params={"examples": 1}).json()["examples"])
        == 1
    )
    missing = api.get(f"{SIGNATURES}/999999")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "FailureSignature not found"


def test_the_list_takes_a_fixed_number_of_statements(api: TestClient, engine: Engine) -> None:
    def statements(**params: Any) -> int:
        with count_statements(engine) as counter:
            listed(api, **params)
        return counter.count

    ids = history(api)
    issue = put_issue(api, "https://github.com/acme/widgets/issues/3")
    api.post(f"{ISSUES}/{issue['id']}/attach", json={"test_results": [ids["new/t3"]]})
    few = (statements(), statements(artefact_versions="2"))
    more = start(api, snap(version="3", environment="c", ci_link="https://ci/3"))
    ids = post(api, more, *((f"m{i}", f"cause {chr(97 + i)}") for i in range(12)))
    api.post(f"{ISSUES}/{issue['id']}/attach", json={"test_results": list(ids.values())})
    assert (statements(), statements(artefact_versions="3")) == few


def test_bulk_attach_and_reruns_take_the_signature_filter(api: TestClient) -> None:
    ids = history(api)
    timeout = by_text(listed(api))["Error: timeout"]["id"]
    issue = put_issue(api, "https://github.com/acme/widgets/issues/4")
    filters = {"failure_signatures": [timeout]}
    response = api.post(f"{ISSUES}/{issue['id']}/attach", json={"test_results_filters": filters})
    assert response.status_code == 200, response.text
    attached = api.get("/v1/test-results", params={"issues": issue["id"]}).json()
    assert {item["test_result"]["id"] for item in attached["test_results"]} == {
        ids["t3"],
        ids["new/t3"],
    }
    response = api.post(
        "/v1/test-executions/reruns",
        params={"silent": True},
        json={"test_results_filters": filters},
    )
    assert response.status_code == 200, response.text
    reruns = api.get("/v1/test-executions/reruns").json()
    # The two executions with a timeout (versions 1 and 2 in environment "a"), not "b".
    assert sorted(rerun["test_execution"]["environment"]["name"] for rerun in reruns) == ["a", "a"]
    response = api.post(f"{ISSUES}/{issue['id']}/detach", json={"test_results_filters": filters})
    assert response.status_code == 200, response.text
    assert api.get("/v1/test-results", params={"issues": issue["id"]}).json()["count"] == 0
