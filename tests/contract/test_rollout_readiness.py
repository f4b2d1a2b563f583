"""A unit the migration gate holds stopped stays Ready for Kubernetes, however long it waits.

`juju refresh` replaces the pods of a StatefulSet one by one, highest ordinal first, and waits
for each new pod to be Ready before the next. A refreshed non-leader waits, stopped, until the
leader (usually unit 0, refreshed last) migrates. If the pod's readiness followed the gate,
the rollout would only get past it while Pebble still counted the new check as up: `threshold`
failed runs, `period` apart. The charm's plan is replayed here against Pebble's documented
check semantics with every HTTP check failing (the API is stopped) to show that readiness
never depends on that window.
"""

from __future__ import annotations

from ops import pebble, testing

from tests.charm.states import (
    OLD,
    SERVICE,
    api_container,
    db_relation,
    db_secret,
    gate,
    make_context,
    ready_state,
)

from .pebble_health import replay
from .rock_layer import rock_layer

TEN_MINUTES = 600.0


def _gated_non_leader() -> testing.State:
    """A refreshed non-leader: its code's head is newer than the database, the leader's record
    still says the old head, and the pod starts from the rock's own layer."""
    base = api_container(db_revision=OLD)
    container = testing.Container(
        "api",
        can_connect=True,
        execs=base.execs,
        layers={"rock": rock_layer()},
    )
    secret = db_secret()
    database = db_relation(secret)
    return ready_state(
        leader=False,
        container=container,
        relation=database,
        secret=secret,
        gate_data=gate(OLD, database),
    )


def _failing(_: str, __: float) -> bool:
    return False


def test_a_gated_non_leader_stays_ready_while_it_waits():
    ctx = make_context(unit_id=2)

    out = ctx.run(ctx.on.upgrade_charm(), _gated_non_leader())

    assert out.unit_status == testing.WaitingStatus(
        f"waiting for the leader to migrate the schema from {OLD} to c3d4e5f6a7b8"
    )
    container = out.get_container("api")
    assert container.service_statuses.get(SERVICE) != pebble.ServiceStatus.ACTIVE
    timeline = replay(container.plan.checks, _failing, seconds=TEN_MINUTES, level="ready")
    assert all(ready for _, ready in timeline)
    # Nor does Kubernetes restart it: nothing is alive-level either.
    alive = replay(container.plan.checks, _failing, seconds=TEN_MINUTES, level="alive")
    assert all(up for _, up in alive)


def test_the_rocks_own_ready_check_would_have_turned_the_pod_not_ready():
    """The replay can fail: the image's ready-level check, failing, stops being Ready after
    exactly `threshold` runs; that was the window a refresh used to depend on."""
    checks = rock_layer().checks
    ready_check = checks["api-ready"]
    assert ready_check.level == pebble.CheckLevel.READY

    timeline = replay(checks, _failing, seconds=TEN_MINUTES, level="ready")

    first_not_ready = next(t for t, ready in timeline if not ready)
    assert first_not_ready == 10.0 * ready_check.threshold
    assert all(not ready for t, ready in timeline if t >= first_not_ready)


def test_a_serving_unit_stays_ready_and_a_recovering_check_comes_back():
    """The model's other half: successes keep a check up, one success resets its count."""
    checks = rock_layer().checks

    def flaky(name: str, t: float) -> bool:
        return name != "api-ready" or not 100 <= t < 130

    timeline = dict(replay(checks, flaky, seconds=200.0, level="ready"))

    assert timeline[90.0]
    assert timeline[110.0]
    assert not timeline[120.0]
    assert timeline[130.0]
