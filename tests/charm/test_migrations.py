"""The migration gate: a unit serves only on its code's schema, as the database itself says.

The container answers `db current --json` with the revision the test puts the database at,
and each schema command with the revision it leaves the database at; the peer record is
set separately, so a test can make the record and the database disagree.
"""

from __future__ import annotations

import pytest
from ops import pebble, testing
from test_observer_charm import migrations

from .states import (
    HEAD,
    OLD,
    SERVICE,
    api_container,
    db_relation,
    db_secret,
    exec_commands,
    gate,
    make_context,
    peer_data,
    ready_state,
    schema_command,
)

UPGRADE_HEAD = ["test-observer", "db", "upgrade", "--json", "--", "head"]
CURRENT = ["test-observer", "db", "current", "--json"]
MIDDLE = "b2c3d4e5f6a7"  # a revision between OLD and HEAD
NOW = 1_800_000_000.0


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(migrations, "now", lambda: NOW)


def _state(
    *,
    leader=True,
    container=None,
    gate_revision=None,
    peers: dict[int, dict[str, str]] | None = None,
    **gate_extra,
):
    secret = db_secret()
    relation = db_relation(secret)
    data = gate(gate_revision, relation, **gate_extra) if gate_revision else {}
    state = ready_state(
        leader=leader, relation=relation, secret=secret, container=container, gate_data=data
    )
    if peers is None:
        return state
    (peer,) = [r for r in state.relations if r.endpoint == "test-observer-peers"]
    with_units = testing.PeerRelation(
        "test-observer-peers", id=peer.id, local_app_data=peer.local_app_data, peers_data=peers
    )
    return testing.State(
        leader=leader,
        config=state.config,
        containers=state.containers,
        relations={*(r for r in state.relations if r is not peer), with_units},
        secrets=state.secrets,
    )


def _serving(state: testing.State) -> bool:
    container = state.get_container("api")
    return container.service_statuses.get(SERVICE) == pebble.ServiceStatus.ACTIVE


def _unit_data(state: testing.State) -> dict[str, str]:
    (peer,) = [r for r in state.relations if r.endpoint == "test-observer-peers"]
    return dict(peer.local_unit_data)


class TestServingFollowsTheDatabase:
    def test_leader_migrates_when_the_database_becomes_ready_then_serves(self, ctx):
        state = _state(container=api_container(db_revision="base"))
        relation = next(r for r in state.relations if r.endpoint == "database")

        out = ctx.run(ctx.on.relation_changed(relation), state)

        assert UPGRADE_HEAD in exec_commands(ctx)
        upgrade = next(e for e in ctx.exec_history["api"] if list(e.command) == UPGRADE_HEAD)
        assert upgrade.environment["DB_URL"].startswith("postgresql://relation_7:")
        # Commands run as the rock's unprivileged user, like the service.
        assert (upgrade.user, upgrade.group) == ("_daemon_", "_daemon_")
        data = peer_data(out)
        assert data["migration-revision"] == HEAD
        assert data["migration-database"] == f"test_observer@relation-{relation.id}"
        assert data["migration-status"] == "applied"
        assert _serving(out)
        service = out.get_container("api").plan.services[SERVICE]
        assert service.startup == "enabled"
        assert (service.user, service.group) == ("_daemon_", "_daemon_")
        assert out.unit_status == testing.ActiveStatus()

    def test_nothing_is_migrated_when_the_database_is_at_the_head(self, ctx):
        out = ctx.run(ctx.on.update_status(), _state(gate_revision=HEAD))

        assert UPGRADE_HEAD not in exec_commands(ctx)
        assert CURRENT in exec_commands(ctx)
        assert _serving(out)

    def test_a_unit_stops_when_the_database_is_not_at_its_head_whatever_the_record_says(self, ctx):
        # The record claims the head was applied, but the database is at OLD (restored from
        # a backup, or migrated down by hand).
        container = api_container(db_revision=OLD, running=True)
        state = _state(leader=False, container=container, gate_revision=HEAD)

        out = ctx.run(ctx.on.update_status(), state)

        assert not _serving(out)
        assert out.get_container("api").plan.services[SERVICE].startup == "disabled"
        assert out.unit_status == testing.WaitingStatus(
            f"waiting for the leader to migrate the schema from {OLD} to {HEAD}"
        )

    def test_a_unit_serves_when_the_database_is_at_its_head_even_without_a_record(self, ctx):
        out = ctx.run(ctx.on.config_changed(), _state(leader=False))

        assert _serving(out)
        assert out.unit_status == testing.ActiveStatus()

    def test_non_leader_never_migrates(self, ctx):
        out = ctx.run(
            ctx.on.config_changed(),
            _state(leader=False, container=api_container(db_revision="base", running=True)),
        )

        assert UPGRADE_HEAD not in exec_commands(ctx)
        assert not _serving(out)

    def test_old_code_stops_when_the_schema_is_newer_than_it_knows(self, ctx):
        container = api_container(heads=OLD, db_revision=HEAD, known=False, running=True)
        state = _state(leader=False, container=container, gate_revision=HEAD)
        peer = next(r for r in state.relations if r.endpoint == "test-observer-peers")

        out = ctx.run(ctx.on.relation_changed(peer, remote_unit=1), state)

        assert not _serving(out)
        assert out.unit_status == testing.WaitingStatus(
            f"schema {HEAD} is newer than this unit's code ({OLD}): waiting for the refresh to "
            "reach this unit"
        )

    def test_leader_with_old_code_records_a_newer_schema_and_never_downgrades(self):
        ctx = make_context(unit_id=1)
        container = api_container(heads=OLD, db_revision=HEAD, known=False)

        out = ctx.run(ctx.on.leader_elected(), _state(container=container, gate_revision=OLD))

        assert not any("downgrade" in c or "upgrade" in c for c in exec_commands(ctx))
        assert peer_data(out)["migration-status"] == "schema-newer"
        assert peer_data(out)["migration-revision"] == HEAD
        assert out.unit_status == testing.BlockedStatus(
            f"schema {HEAD} is newer than this code ({OLD}): refresh to the charm revision "
            "that applied it, or roll back there first"
        )

    def test_a_second_leader_finding_the_database_migrated_records_it_without_migrating(
        self,
    ):
        # Two leaders during a lease change: the other one migrated and its record has not
        # reached us; the database says where the schema is.
        ctx = make_context(unit_id=1)
        state = _state(gate_revision=OLD, status="draining", drain="3", **{"drain-for": "upgrade"})

        out = ctx.run(ctx.on.leader_elected(), state)

        assert UPGRADE_HEAD not in exec_commands(ctx)
        assert peer_data(out)["migration-status"] == "applied"
        assert peer_data(out)["migration-revision"] == HEAD
        assert _serving(out)

    def test_unreadable_schema_waits_and_starts_nothing(self, ctx):
        # `db current --json` fails without a report.
        container = api_container(
            execs=[
                testing.Exec(
                    ["test-observer", "db", "current", "--json"],
                    return_code=1,
                    stderr="Error: cannot reach the database: connection refused",
                )
            ]
        )

        out = ctx.run(ctx.on.config_changed(), _state(container=container))

        assert not _serving(out)
        assert out.unit_status == testing.WaitingStatus(
            "cannot read the database's schema revision: cannot reach the database: "
            "connection refused"
        )

    def test_pebble_not_ready_waits_without_running_anything(self, ctx):
        out = ctx.run(ctx.on.update_status(), _state(container=api_container(can_connect=False)))

        assert exec_commands(ctx) == []
        assert out.unit_status == testing.WaitingStatus("waiting for Pebble in the api container")


class TestDrain:
    def test_leader_stops_every_unit_before_migrating(self, ctx):
        container = api_container(db_revision=OLD, running=True)
        state = _state(container=container, gate_revision=OLD, peers={1: {}, 2: {}})

        out = ctx.run(ctx.on.upgrade_charm(), state)

        assert UPGRADE_HEAD not in exec_commands(ctx)
        data = peer_data(out)
        assert data["migration-status"] == "draining"
        assert data["migration-drain-for"] == "upgrade"
        assert data["migration-target"] == HEAD
        # The leader stopped its own API and acknowledged the drain.
        assert not _serving(out)
        assert _unit_data(out)["migration-drained"] == data["migration-drain"]
        assert out.unit_status == testing.MaintenanceStatus(
            f"waiting for test-observer-api/1, test-observer-api/2 to stop before migrating to "
            f"{HEAD}"
        )

    def test_a_unit_asked_to_drain_stops_and_acknowledges(self, ctx):
        container = api_container(heads=OLD, db_revision=OLD, running=True)
        state = _state(
            leader=False,
            container=container,
            gate_revision=OLD,
            status="draining",
            drain="4",
            target=HEAD,
            **{"drain-for": "upgrade"},
        )
        peer = next(r for r in state.relations if r.endpoint == "test-observer-peers")

        out = ctx.run(ctx.on.relation_changed(peer, remote_unit=1), state)

        assert not _serving(out)
        assert _unit_data(out)["migration-drained"] == "4"
        assert UPGRADE_HEAD not in exec_commands(ctx)
        assert out.unit_status == testing.MaintenanceStatus(
            "stopped for a schema change: the leader migrates once every unit has stopped"
        )

    def test_leader_migrates_once_every_unit_has_acknowledged(self, ctx):
        drained = {"migration-drained": "4"}
        state = _state(
            container=api_container(db_revision=OLD),
            gate_revision=OLD,
            status="draining",
            drain="4",
            target=HEAD,
            peers={1: drained, 2: drained},
            **{"drain-for": "upgrade"},
        )
        peer = next(r for r in state.relations if r.endpoint == "test-observer-peers")

        out = ctx.run(ctx.on.relation_changed(peer, remote_unit=2), state)

        assert UPGRADE_HEAD in exec_commands(ctx)
        assert peer_data(out)["migration-status"] == "applied"
        assert _serving(out)

    def test_leader_waits_for_a_unit_that_has_not_acknowledged(self, ctx):
        state = _state(
            container=api_container(db_revision=OLD),
            gate_revision=OLD,
            status="draining",
            drain="4",
            target=HEAD,
            peers={1: {"migration-drained": "4"}, 2: {"migration-drained": "3"}},
            **{"drain-for": "upgrade"},
        )

        out = ctx.run(ctx.on.update_status(), state)

        assert UPGRADE_HEAD not in exec_commands(ctx)
        assert peer_data(out)["migration-status"] == "draining"

    def test_a_unit_serves_again_once_the_drain_ends(self, ctx):
        container = api_container(db_revision=HEAD)
        state = _state(leader=False, container=container, gate_revision=HEAD)

        out = ctx.run(ctx.on.update_status(), state)

        assert _serving(out)


class TestFailedUpgrade:
    partial = schema_command(
        "upgrade", MIDDLE, rc=1, error="upgrade to head failed: DiskFull: disk full"
    )

    def test_a_partial_failure_records_the_revision_the_database_reached(self, ctx):
        container = api_container(db_revision=OLD, upgrade=self.partial)

        out = ctx.run(ctx.on.upgrade_charm(), _state(container=container, gate_revision=OLD))

        data = peer_data(out)
        assert data["migration-status"] == "failed"
        # Not OLD (what the record said before) and not HEAD: where the database really is.
        assert data["migration-revision"] == MIDDLE
        assert data["migration-error"] == "upgrade to head failed: DiskFull: disk full"
        assert data["migration-attempts"] == "1"
        assert float(data["migration-retry-after"]) == NOW + migrations.FIRST_RETRY_DELAY
        assert out.unit_status == testing.BlockedStatus(
            f"migration to {HEAD} failed at {MIDDLE}: upgrade to head failed: DiskFull: disk "
            "full; fix the cause and run the migrate action (retried automatically with "
            "back-off)"
        )
        assert not _serving(out)

    def test_old_code_keeps_its_units_stopped_on_the_half_migrated_schema(self, ctx):
        # MIDDLE is newer than the old code: its units must not serve on it.
        container = api_container(heads=OLD, db_revision=MIDDLE, known=False, running=True)
        state = _state(
            leader=False,
            container=container,
            gate_revision=MIDDLE,
            status="failed",
            target=HEAD,
            error="disk full",
        )

        out = ctx.run(ctx.on.update_status(), state)

        assert not _serving(out)

    def _failed(self, container, retry_after: float, attempts: str = "1"):
        return _state(
            container=container,
            gate_revision=MIDDLE,
            status="failed",
            target=HEAD,
            error="disk full",
            attempts=attempts,
            **{"retry-after": f"{retry_after:.0f}"},
        )

    def test_not_retried_before_the_back_off_ends(self, ctx):
        state = self._failed(api_container(db_revision=MIDDLE), NOW + 60)

        out = ctx.run(ctx.on.update_status(), state)

        assert UPGRADE_HEAD not in exec_commands(ctx)
        assert isinstance(out.unit_status, testing.BlockedStatus)

    def test_retried_after_the_back_off_and_then_serves(self, ctx):
        state = self._failed(api_container(db_revision=MIDDLE), NOW - 1)

        out = ctx.run(ctx.on.update_status(), state)

        assert UPGRADE_HEAD in exec_commands(ctx)
        data = peer_data(out)
        assert data["migration-status"] == "applied"
        assert "migration-error" not in data
        assert "migration-attempts" not in data
        assert _serving(out)
        assert out.unit_status == testing.ActiveStatus()

    def test_each_failure_doubles_the_wait(self, ctx):
        container = api_container(db_revision=MIDDLE, upgrade=self.partial)

        out = ctx.run(ctx.on.update_status(), self._failed(container, NOW - 1, attempts="3"))

        data = peer_data(out)
        assert data["migration-attempts"] == "4"
        assert float(data["migration-retry-after"]) == NOW + 8 * migrations.FIRST_RETRY_DELAY

    def test_the_wait_is_capped(self):
        record = migrations.GateRecord(
            MIDDLE, "db", migrations.GateStatus.FAILED, HEAD, attempts=20
        )
        report = migrations.SchemaReport((MIDDLE,), (HEAD,), known=True)

        after = record.after_command("db", report, automatic=True, error="x")

        assert after.retry_after == NOW + migrations.MAX_RETRY_DELAY

    def test_new_code_is_tried_at_once_whatever_the_back_off(self, ctx):
        # The failure was recorded for another head: a refresh brought new code.
        state = _state(
            container=api_container(db_revision=MIDDLE),
            gate_revision=MIDDLE,
            status="failed",
            target=OLD,
            **{"retry-after": f"{NOW + 3600:.0f}"},
        )

        ctx.run(ctx.on.upgrade_charm(), state)

        assert UPGRADE_HEAD in exec_commands(ctx)

    def test_an_upgrade_that_cannot_start_is_a_failure_with_an_unknown_revision(self, ctx):
        container = api_container(
            db_revision="base",
            upgrade=testing.Exec(
                ["test-observer", "db", "upgrade", "--json"],
                return_code=1,
                stderr="Error: cannot reach the database: timeout",
            ),
        )

        out = ctx.run(ctx.on.config_changed(), _state(container=container))

        data = peer_data(out)
        # The database answered `db current` before; the same mock answers after the failure.
        assert data["migration-status"] == "failed"
        assert data["migration-error"] == "cannot reach the database: timeout"
        assert not _serving(out)

    def test_when_nothing_can_say_where_the_database_is_the_record_says_unknown(self, ctx):
        unreachable = "Error: cannot reach the database: timeout"
        container = api_container(
            db_revision=OLD,
            upgrade=testing.Exec(
                ["test-observer", "db", "upgrade", "--json"], return_code=1, stderr=unreachable
            ),
        )
        # The first read answers; the one after the failed upgrade does not.
        state = _state(container=container, gate_revision=OLD)
        calls = []
        original = migrations.read_schema

        def read_once(workload, env):
            calls.append(1)
            if len(calls) > 1:
                raise migrations.CommandFailedError(["db", "current"], "timeout")
            return original(workload, env)

        monkeypatch = pytest.MonkeyPatch()
        monkeypatch.setattr(migrations, "read_schema", read_once)
        monkeypatch.setattr("test_observer_charm.charm.read_schema", read_once)
        try:
            out = ctx.run(ctx.on.upgrade_charm(), state)
        finally:
            monkeypatch.undo()

        data = peer_data(out)
        assert data["migration-status"] == "failed"
        assert data["migration-revision"] == "unknown"
        assert data["migration-error"] == "cannot reach the database: timeout"


class TestHeldSchema:
    def test_held_schema_is_not_migrated_automatically(self, ctx):
        state = _state(
            container=api_container(db_revision=OLD),
            gate_revision=OLD,
            status="held",
            target=HEAD,
        )

        out = ctx.run(ctx.on.update_status(), state)

        assert UPGRADE_HEAD not in exec_commands(ctx)
        assert out.unit_status == testing.BlockedStatus(
            f"schema held at {OLD}, code is at {HEAD}: refresh to the matching charm revision, "
            "or run the migrate action"
        )

    def test_refresh_to_the_code_matching_a_held_schema_serves(self, ctx):
        state = _state(
            container=api_container(heads=OLD, db_revision=OLD),
            gate_revision=OLD,
            status="held",
            target=HEAD,
        )

        out = ctx.run(ctx.on.upgrade_charm(), state)

        assert UPGRADE_HEAD not in exec_commands(ctx)
        assert _serving(out)
        assert peer_data(out)["migration-status"] == "applied"


class TestStartupFailures:
    def test_a_service_that_exits_at_start_up_blocks_instead_of_raising(self, ctx, monkeypatch):
        def crash(self, timeout: float = 30.0) -> None:
            raise pebble.ChangeError(
                "cannot start service: exited quickly with code 1\n"
                "----- Logs from test-observer-api -----\nError: port already in use",
                pebble.Change.from_dict(
                    {
                        "id": "1",
                        "kind": "replan",
                        "summary": "",
                        "status": "Error",
                        "ready": True,
                        "spawn-time": "2026-01-01T00:00:00Z",
                    }
                ),
            )

        monkeypatch.setattr("ops.model.Container.replan", crash)

        out = ctx.run(ctx.on.config_changed(), _state(gate_revision=HEAD))

        assert out.unit_status == testing.BlockedStatus(
            "the API did not start: Error: port already in use; see `juju debug-log`"
        )

    def test_losing_pebble_mid_hook_waits_instead_of_raising(self, ctx, monkeypatch):
        def gone(*args, **kwargs):
            raise pebble.ConnectionError("socket closed")

        monkeypatch.setattr("ops.model.Container.add_layer", gone)

        out = ctx.run(ctx.on.config_changed(), _state(gate_revision=HEAD))

        assert out.unit_status == testing.WaitingStatus(
            "waiting for Pebble in the api container (connection lost)"
        )

    def test_a_failing_readiness_check_shows_in_the_status(self, ctx):
        down = testing.CheckInfo(
            "api-ready",
            level=pebble.CheckLevel.READY,
            status=pebble.CheckStatus.DOWN,
            failures=5,
        )
        container = api_container(check_infos=[down])
        state = _state(container=container, gate_revision=HEAD)

        out = ctx.run(ctx.on.pebble_check_failed(container, down), state)

        assert _serving(out)
        assert out.unit_status == testing.WaitingStatus(
            "the API is not ready: its readiness check failed 5 times"
        )

    def test_a_worker_that_cannot_reach_the_database_shows_in_the_status(self, ctx):
        up = testing.CheckInfo("api-ready", level=pebble.CheckLevel.READY)
        down = testing.CheckInfo(
            "worker-database",
            level=pebble.CheckLevel.READY,
            status=pebble.CheckStatus.DOWN,
            failures=3,
        )
        container = api_container(check_infos=[up, down])
        state = _state(container=container, gate_revision=HEAD)

        out = ctx.run(ctx.on.pebble_check_failed(container, down), state)

        assert _serving(out)
        assert out.unit_status == testing.WaitingStatus(
            "the job worker cannot reach the database: background jobs wait until it is back"
        )
        layer = out.get_container("api").plan.to_dict()
        assert layer["checks"]["worker-database"]["http"]["url"] == "http://127.0.0.1:9099/health"
        assert "level" not in layer["checks"]["worker-database"]
        worker = layer["services"]["test-observer-worker"]["environment"]
        assert worker["WORKER_METRICS_PORT"] == "9099"

    def test_a_recovered_check_is_active_again(self, ctx):
        up = testing.CheckInfo("api-ready", level=pebble.CheckLevel.READY)
        container = api_container(check_infos=[up])
        state = _state(container=container, gate_revision=HEAD)

        out = ctx.run(ctx.on.pebble_check_recovered(container, up), state)

        assert out.unit_status == testing.ActiveStatus()

    def test_the_version_is_shown_before_the_server_answers(self, ctx):
        out = ctx.run(ctx.on.config_changed(), _state(gate_revision=HEAD))

        assert out.workload_version == "1.0.0-test"


def test_maintenance_is_shown_while_the_leader_migrates(ctx):
    state = _state(container=api_container(db_revision=OLD), gate_revision=OLD)

    out = ctx.run(ctx.on.upgrade_charm(), state)

    assert testing.MaintenanceStatus(f"migrating the database to {HEAD}") in ctx.unit_status_history
    assert out.unit_status == testing.ActiveStatus()


def test_a_new_database_relation_is_migrated_again(ctx):
    # The record is for another relation; this database is empty.
    state = _state(container=api_container(db_revision="base"), gate_revision=HEAD)
    relation = next(r for r in state.relations if r.endpoint == "database")

    out = ctx.run(ctx.on.relation_changed(relation), state)

    assert UPGRADE_HEAD in exec_commands(ctx)
    assert peer_data(out)["migration-database"] == f"test_observer@relation-{relation.id}"
