"""The charm starts from the rock's own Pebble layer and replaces what it must."""

from __future__ import annotations

from pathlib import Path

from ops import pebble, testing

from .states import HEAD, SERVICE, api_container, db_relation, db_secret, gate, ready_state

ROCKCRAFT = Path(__file__).resolve().parents[2] / "rockcraft.yaml"


def _rock_container(db_revision: str = HEAD) -> testing.Container:
    base = api_container(db_revision=db_revision)
    return testing.Container(
        "api",
        can_connect=True,
        execs=base.execs,
        layers={"rock": testing.layer_from_rockcraft(ROCKCRAFT)},
        service_statuses={SERVICE: pebble.ServiceStatus.ACTIVE},
    )


def test_the_rocks_service_and_checks_are_replaced_not_duplicated(ctx):
    secret = db_secret()
    relation = db_relation(secret)
    state = ready_state(
        relation=relation,
        secret=secret,
        container=_rock_container(),
        gate_data=gate(HEAD, relation),
        config={"port": 8080},
    )

    out = ctx.run(ctx.on.config_changed(), state)

    plan = out.get_container("api").plan
    assert set(plan.services) == {SERVICE, "test-observer-worker"}
    worker = plan.services["test-observer-worker"]
    assert worker.startup == "enabled"
    assert worker.environment["DB_URL"].startswith("postgresql://")
    assert set(plan.checks) == {"api-live", "api-ready"}
    assert plan.checks["api-live"].http == {"url": "http://localhost:8080/health/live"}
    assert plan.checks["api-ready"].http == {"url": "http://localhost:8080/health/serving"}
    # No alive-level check: Kubernetes would restart the pod while the gate holds the API.
    assert all(
        c.level in (None, "", pebble.CheckLevel.UNSET, "ready", pebble.CheckLevel.READY)
        for c in plan.checks.values()
    )
    service = plan.services[SERVICE]
    assert service.user == "_daemon_"
    assert "--port 8080" in service.command


def test_the_gate_stops_the_rocks_service(ctx):
    secret = db_secret()
    relation = db_relation(secret)
    # The database is not migrated yet; this unit is not the leader.
    container = _rock_container(db_revision="base")
    state = ready_state(leader=False, relation=relation, secret=secret, container=container)

    out = ctx.run(ctx.on.config_changed(), state)

    assert out.get_container("api").service_statuses[SERVICE] == pebble.ServiceStatus.INACTIVE
