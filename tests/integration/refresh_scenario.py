"""A refresh from the previous revision of this charm to the current one, on one PostgreSQL track.

The previous revision comes from PREVIOUS_CHARM_PATH and PREVIOUS_API_IMAGE: a packed charm and
its rock whose code has an older schema head, so the refresh runs a real migration. Two units,
traefik in front, then a rollback and a migrate back, each draining both units.

The first unit leads (make_leader puts the leadership there) so that the refresh meets a gated
non-leader: Kubernetes replaces the highest ordinal first, so the non-leader runs the new code
first and waits for the leader to migrate while the leader still runs the previous revision. The
refresh completes only if that waiting unit lets the rollout go on to the leader.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .model import FIRST_UNIT, make_leader

if TYPE_CHECKING:
    import jubilant

APP = "test-observer-api"
DATABASE = "postgresql-k8s"
INGRESS = "traefik-k8s"
TIMEOUT = 30 * 60
LEADER = FIRST_UNIT
GATED = f"{APP}/1"


def previous_revision() -> tuple[Path, str]:
    path, image = os.environ.get("PREVIOUS_CHARM_PATH"), os.environ.get("PREVIOUS_API_IMAGE")
    if not path or not image or not Path(path).is_file():
        pytest.fail("set PREVIOUS_CHARM_PATH and PREVIOUS_API_IMAGE to the previous revision")
    return Path(path).resolve(), image


def ready(juju: jubilant.Juju) -> None:
    import jubilant

    juju.wait(
        lambda status: jubilant.all_active(status, APP, DATABASE, INGRESS),
        error=lambda status: jubilant.any_error(status, APP, DATABASE, INGRESS),
        timeout=TIMEOUT,
    )


def version_at(address: str, port: int = 30000) -> Any:
    with urllib.request.urlopen(f"http://{address}:{port}/v1/version", timeout=10) as response:
        return json.load(response)


def db_status(juju: jubilant.Juju) -> dict[str, Any]:
    return dict(juju.run(LEADER, "db-status").results)


def gated(status: jubilant.Status) -> bool:
    """The non-leader runs the new code and waits for the leader to migrate."""
    unit = status.apps[APP].units.get(GATED)
    return unit is not None and "waiting for the leader to migrate" in unit.workload_status.message


def run_schema_action(juju: jubilant.Juju, action: str) -> dict[str, Any]:
    """Run migrate or rollback; with several units the first run only drains them."""
    import jubilant

    with pytest.raises(jubilant.TaskError, match="stopping the other units"):
        juju.run(LEADER, action)
    juju.wait(
        lambda status: all(
            unit.workload_status.current == "maintenance" or name == LEADER
            for name, unit in status.apps[APP].units.items()
        ),
        timeout=TIMEOUT,
    )
    return dict(juju.run(LEADER, action).results)


def deploy_previous_then_refresh(
    juju: jubilant.Juju, charm_path: Path, api_image: str, channel: str
) -> None:
    previous_charm, previous_image = previous_revision()
    juju.deploy(DATABASE, channel=channel, trust=True)
    juju.deploy(INGRESS, channel="latest/stable", trust=True)
    juju.deploy(previous_charm, APP, resources={"api-image": previous_image}, num_units=2)
    juju.integrate(APP, DATABASE)
    juju.integrate(APP, INGRESS)
    ready(juju)
    make_leader(juju, LEADER)
    ready(juju)
    before = db_status(juju)
    assert before["pending"] in ("false", False, "False")

    juju.refresh(APP, path=charm_path, resources={"api-image": api_image})
    # The gated state ends once the leader's pod is replaced and migrates: seeing it once is
    # enough.
    juju.wait(gated, timeout=TIMEOUT, successes=1)
    ready(juju)
    # The leader's pod was replaced too; should its lease have lapsed meanwhile, take it back.
    make_leader(juju, LEADER)
    ready(juju)

    after = db_status(juju)
    # A real migration ran: the code head moved and the database followed it.
    assert after["code-head"] != before["code-head"]
    assert after["current"] == after["code-head"]
    assert after["gate-status"] == "applied"
    for unit in juju.status().apps[APP].units.values():
        assert "version" in version_at(unit.address)


def serves_through_traefik(juju: jubilant.Juju) -> None:
    task = juju.run(f"{INGRESS}/0", "show-proxied-endpoints")
    endpoints = json.loads(task.results["proxied-endpoints"])
    url = endpoints[APP]["url"]
    with urllib.request.urlopen(f"{url}/v1/version", timeout=10) as response:
        assert "version" in json.load(response)
    with urllib.request.urlopen(f"{url}/health/serving", timeout=10) as response:
        assert json.load(response) == {"status": "serving"}


def rollback_then_migrate(juju: jubilant.Juju) -> None:
    import jubilant

    before = db_status(juju)
    # By default to where the refresh's migration started: the previous revision's head.
    results = run_schema_action(juju, "rollback")
    assert results["serving"] == "false"
    assert results["revision"] == before["gate-previous"]
    juju.wait(lambda status: jubilant.all_blocked(status, APP), timeout=TIMEOUT)
    held = db_status(juju)
    assert held["gate-status"] == "held"
    assert held["current"] != held["code-head"]

    results = run_schema_action(juju, "migrate")
    assert results["serving"] == "true"
    ready(juju)
