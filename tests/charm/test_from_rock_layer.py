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
    assert set(plan.checks) == {"api-live", "api-ready", "worker-database"}
    assert plan.checks["api-live"].http == {"url": "http://localhost:8080/health/live"}
    assert plan.checks["api-ready"].http == {"url": "http://localhost:8080/health/serving"}
    # No alive-level check: Kubernetes would restart the pod while the gate holds the API.
    # No ready-level check either, although the rock's api-ready is one: the pod's readiness
    # must not follow the gate (see tests/contract/test_rollout_readiness.py).
    assert all(c.level in (None, "", pebble.CheckLevel.UNSET) for c in plan.checks.values())
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


def test_a_non_leader_waiting_for_the_leader_keeps_no_check_kubernetes_reads(ctx):
    secret = db_secret()
    relation = db_relation(secret)
    # Refreshed before the leader: its code is ahead of the database.
    container = _rock_container(db_revision="a1b2c3d4e5f6")
    state = ready_state(
        leader=False,
        relation=relation,
        secret=secret,
        container=container,
        gate_data=gate("a1b2c3d4e5f6", relation),
    )

    out = ctx.run(ctx.on.upgrade_charm(), state)

    assert isinstance(out.unit_status, testing.WaitingStatus)
    api = out.get_container("api")
    assert api.service_statuses[SERVICE] == pebble.ServiceStatus.INACTIVE
    # The rock's ready-level api-ready is replaced by a check Kubernetes does not read, so
    # the stopped unit's pod stays Ready and the rollout goes on.
    assert api.plan.checks["api-ready"].level in (None, "", pebble.CheckLevel.UNSET)
    assert not [
        c for c in api.plan.checks.values() if c.level not in (None, "", pebble.CheckLevel.UNSET)
    ]
