"""Every series the charm's dashboards and alert rules query exists in a real scrape."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from test_observer.db.models import Issue, IssueSource, IssueTestResultAttachment, TestResult
from test_observer.jobs.deliver_webhooks import deliver
from test_observer.jobs.environment import JobEnvironment
from tests.backend.executions.conftest import result
from tests.backend.jobs.conftest import job_settings
from tests.backend.observability.conftest import Unit, defer_jobs, run_queued_jobs
from tests.backend.observability.test_metrics import post_results
from tests.backend.webhooks.conftest import artefact, set_status, subscribe

CHARM_SOURCE = Path(__file__).resolve().parents[3] / "charm" / "src"
# A name followed by a matcher (`=`, `!=`, `=~`, `!~`) is a label, such as the gate label
# the charm puts on its scrape job, not a metric.
METRIC_NAME = re.compile(r"\btest_observer_[a-z_]+\b(?!\s*(?:=|!=|!~))")


def queried_metrics() -> dict[str, set[str]]:
    """Metric name -> the files querying it."""
    found: dict[str, set[str]] = {}
    for path in (CHARM_SOURCE / "grafana_dashboards").glob("*.json"):
        dashboard = json.loads(path.read_text())
        expressions = [
            target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
        ]
        expressions += [v["query"] for v in dashboard["templating"]["list"] if "query" in v]
        for expression in expressions:
            for name in METRIC_NAME.findall(expression):
                found.setdefault(name, set()).add(path.name)
    for path in (CHARM_SOURCE / "prometheus_alert_rules").glob("*.rules"):
        for name in METRIC_NAME.findall(path.read_text()):
            found.setdefault(name, set()).add(path.name)
    return found


@pytest.mark.usefixtures("_empty_queue")
def test_every_queried_metric_is_scraped(
    make_unit: Callable[..., Unit], db_session: Session, database_url: str
) -> None:
    unit = make_unit()
    execution_id = post_results(unit, result("wifi/connect", "FAILED"))
    unit.client.patch(
        f"/v1/test-executions/{execution_id}", json={"execution_metadata": {"board": ["rev1"]}}
    )
    issue = Issue(source=IssueSource.GITHUB, project="canonical/checkbox", key="1")
    db_session.add(issue)
    db_session.flush()
    result_id = db_session.query(TestResult.id).scalar()
    db_session.add(IssueTestResultAttachment(issue_id=issue.id, test_result_id=result_id))
    db_session.commit()
    # Real jobs: one that succeeds, one that fails (its service is unreachable here), and one
    # left waiting in the queue.
    defer_jobs(database_url, ("clean-sessions",), ("kernel-swm",))
    run_queued_jobs(database_url)
    defer_jobs(database_url, ("promote-artefacts",))
    # A webhook whose delivery was attempted (nothing listens at its address).
    webhook = subscribe(unit.client, {}, "http://127.0.0.1:9/hooks")
    set_status(unit.client, {}, artefact(db_session).id, "APPROVED")
    deliver(
        JobEnvironment.from_settings(
            job_settings(database_url, webhook_allowed_networks=["127.0.0.0/8"])
        ),
        webhook["id"],
    )

    scraped = set(unit.scrape())
    queried = queried_metrics()

    assert len(queried) >= 8
    # Every shipped dashboard (the domain ones included) is among the files checked.
    dashboards = {path.name for path in (CHARM_SOURCE / "grafana_dashboards").glob("*.json")}
    assert len(dashboards) >= 3
    assert dashboards <= set().union(*queried.values())
    missing = {name: files for name, files in queried.items() if name not in scraped}
    assert missing == {}
