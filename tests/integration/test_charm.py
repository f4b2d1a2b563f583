"""Deploy the charm with postgresql-k8s, serve, migrate, roll back, scale and refresh."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .model import FIRST_UNIT, make_leader

if TYPE_CHECKING:
    import jubilant

pytestmark = pytest.mark.integration

APP = "test-observer-api"
DATABASE = "postgresql-k8s"
VERSION = "integration-1"
TIMEOUT = 20 * 60
# Named, not discovered: make_leader puts the leadership there before it matters.
LEADER = FIRST_UNIT
NON_LEADER = f"{APP}/1"


def _ready(juju: jubilant.Juju) -> None:
    import jubilant

    juju.wait(
        lambda status: jubilant.all_active(status, APP, DATABASE),
        error=lambda status: jubilant.any_error(status, APP, DATABASE),
        timeout=TIMEOUT,
    )


def _version(juju: jubilant.Juju, unit: str) -> Any:
    address = juju.status().apps[APP].units[unit].address
    with urllib.request.urlopen(f"http://{address}:30000/v1/version", timeout=10) as response:
        return json.load(response)


@pytest.mark.juju_setup
def test_deploy_relate_and_reach_active(juju: jubilant.Juju, charm_path: Path, api_image: str):
    juju.deploy(DATABASE, channel="16/edge", trust=True)
    juju.deploy(charm_path, APP, resources={"api-image": api_image}, config={"version": VERSION})
    juju.wait(lambda status: status.apps[APP].app_status.current == "blocked", timeout=TIMEOUT)
    juju.integrate(APP, DATABASE)

    _ready(juju)


def test_serves_the_configured_version(juju: jubilant.Juju):
    assert _version(juju, f"{APP}/0") == {"version": VERSION}
    assert juju.status().apps[APP].units[f"{APP}/0"].workload_status.current == "active"


def test_db_status_reports_no_pending_migration(juju: jubilant.Juju):
    task = juju.run(f"{APP}/0", "db-status")

    assert task.success
    assert task.results["pending"] in (False, "false", "False")
    assert task.results["current"] == task.results["code-head"]


def test_migrate_is_idempotent_at_head(juju: jubilant.Juju):
    task = juju.run(f"{APP}/leader", "migrate")

    assert task.success
    assert task.results["serving"] in (True, "true", "True")


def test_rollback_stops_serving_until_migrated_again(juju: jubilant.Juju):
    import jubilant

    # A fresh deployment's only upgrade started from base: its default target needs confirm.
    task = juju.run(f"{APP}/leader", "rollback", {"revision": "-1"})
    assert task.success
    juju.wait(lambda status: jubilant.all_blocked(status, APP), timeout=TIMEOUT)

    task = juju.run(f"{APP}/leader", "migrate")
    assert task.success
    _ready(juju)


def test_a_non_leader_refuses_rollback(juju: jubilant.Juju):
    import jubilant

    juju.add_unit(APP)
    _ready(juju)
    make_leader(juju, LEADER)
    _ready(juju)

    with pytest.raises(jubilant.TaskError, match="run this action on the leader unit"):
        juju.run(NON_LEADER, "rollback")
    assert _version(juju, NON_LEADER) == {"version": VERSION}


def test_refresh_keeps_serving(juju: jubilant.Juju, charm_path: Path, api_image: str):
    juju.refresh(APP, path=charm_path, resources={"api-image": api_image})
    _ready(juju)

    for unit in juju.status().apps[APP].units:
        assert _version(juju, unit) == {"version": VERSION}
