"""Each unit sizes its database pools from the application's connection budget."""

from __future__ import annotations

import pytest
from ops import testing
from test_observer_charm import connections

from .states import SERVICE, ready_state

WORKER = "test-observer-worker"


def _with_peers(state: testing.State, count: int) -> testing.State:
    """The same unit, with `count - 1` other units in the peer relation."""
    peer = next(r for r in state.relations if r.endpoint == "test-observer-peers")
    grown = testing.PeerRelation(
        "test-observer-peers",
        id=peer.id,
        local_app_data=peer.local_app_data,
        peers_data={unit: {} for unit in range(1, count)},
    )
    return testing.State(
        leader=state.leader,
        config=state.config,
        containers=state.containers,
        relations={*(r for r in state.relations if r is not peer), grown},
        secrets=state.secrets,
    )


def _connections_per_unit(out: testing.State, workers: int) -> int:
    """The most connections the unit's processes can open with what the charm rendered."""
    plan = out.get_container("api").plan.services
    api, worker = plan[SERVICE].environment, plan[WORKER].environment
    per_process = int(api["DB_POOL_SIZE"]) + int(api["DB_MAX_OVERFLOW"])
    worker_total = (
        int(worker["WORKER_DB_POOL_SIZE"])
        + int(worker["WORKER_DB_MAX_OVERFLOW"])
        + int(worker["WORKER_QUEUE_POOL_SIZE"])
        + 1  # the queue's LISTEN connection
    )
    metrics = 2  # the metrics server's pool of 1 with an overflow of 1
    commands = 2  # the charm's own commands and actions
    return workers * per_process + worker_total + metrics + commands


@pytest.mark.parametrize(
    ("units", "pool", "overflow"),
    [
        # 80 / 1 = 80 per unit: the per-process cap (5 + 5) applies.
        (1, 5, 5),
        # 80 / 2 = 40: still the cap.
        (2, 5, 5),
        # 80 / 5 = 16: 10 fixed, (16 - 10) / 2 workers = 3 per process.
        (5, 2, 1),
    ],
)
def test_the_default_budget_is_shared_by_the_units(ctx, units, pool, overflow):
    out = ctx.run(ctx.on.config_changed(), _with_peers(ready_state(), units))

    env = out.get_container("api").plan.services[SERVICE].environment
    assert (env["DB_POOL_SIZE"], env["DB_MAX_OVERFLOW"]) == (str(pool), str(overflow))
    assert "--workers 2 " in out.get_container("api").plan.services[SERVICE].command
    assert units * _connections_per_unit(out, workers=2) <= 80
    assert out.unit_status == testing.ActiveStatus()


@pytest.mark.parametrize("units", [1, 2, 3, 5, 7])
@pytest.mark.parametrize("workers", [1, 2, 4])
@pytest.mark.parametrize("budget", [40, 80, 200])
def test_no_unit_count_takes_the_application_past_its_budget(ctx, units, workers, budget):
    config = {"db-connection-budget": budget, "workers": workers}
    out = ctx.run(ctx.on.config_changed(), _with_peers(ready_state(config=config), units))

    if units * (workers * connections.MIN_PER_PROCESS + connections.FIXED) > budget:
        assert isinstance(out.unit_status, testing.BlockedStatus)
        assert SERVICE not in out.get_container("api").plan.services
    else:
        assert units * _connections_per_unit(out, workers) <= budget


def test_a_unit_that_cannot_fit_is_blocked_naming_the_option(ctx):
    state = _with_peers(ready_state(config={"db-connection-budget": 40}), 5)

    out = ctx.run(ctx.on.config_changed(), state)

    assert out.unit_status == testing.BlockedStatus(
        "invalid config option 'db-connection-budget': 40 connections for 5 unit(s) with 2 "
        "worker(s) each is too few: raise it to at least 70 (or lower workers): fix it with "
        "`juju config`"
    )
    assert SERVICE not in out.get_container("api").plan.services


def test_a_new_peer_shrinks_the_pools_of_a_serving_unit(ctx):
    alone = ctx.run(ctx.on.config_changed(), ready_state(config={"db-connection-budget": 30}))
    env = alone.get_container("api").plan.services[SERVICE].environment
    assert (env["DB_POOL_SIZE"], env["DB_MAX_OVERFLOW"]) == ("5", "5")

    grown = _with_peers(alone, 2)
    peer = next(r for r in grown.relations if r.endpoint == "test-observer-peers")
    out = ctx.run(ctx.on.relation_joined(peer, remote_unit=1), grown)

    # 30 / 2 = 15 per unit, 10 fixed: 2 connections per API process.
    env = out.get_container("api").plan.services[SERVICE].environment
    assert (env["DB_POOL_SIZE"], env["DB_MAX_OVERFLOW"]) == ("1", "1")
    assert 2 * _connections_per_unit(out, workers=2) <= 30
