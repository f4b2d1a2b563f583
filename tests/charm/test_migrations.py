"""The migration gate: only the leader migrates; a unit serves only when the schema is its head."""

from __future__ import annotations

from ops import pebble, testing

from .states import (
    HEAD,
    NEWER,
    OLD,
    SERVICE,
    api_container,
    cli,
    db_relation,
    db_secret,
    exec_commands,
    gate,
    make_context,
    peer_data,
    ready_state,
)

UPGRADE_HEAD = ["test-observer", "db", "upgrade", "head"]


def _state(*, leader=True, container=None, gate_revision=None, **gate_extra):
    secret = db_secret()
    relation = db_relation(secret)
    data = gate(gate_revision, relation, **gate_extra) if gate_revision else {}
    return ready_state(
        leader=leader, relation=relation, secret=secret, container=container, gate_data=data
    )


def _serving(state: testing.State) -> bool:
    container = state.get_container("api")
    return container.service_statuses.get(SERVICE) == pebble.ServiceStatus.ACTIVE


def test_leader_migrates_when_the_database_becomes_ready_then_serves(ctx):
    state = _state()
    relation = next(r for r in state.relations if r.endpoint == "database")

    out = ctx.run(ctx.on.relation_changed(relation), state)

    assert UPGRADE_HEAD in exec_commands(ctx)
    upgrade = next(e for e in ctx.exec_history["api"] if list(e.command) == UPGRADE_HEAD)
    assert upgrade.environment["DB_URL"].startswith("postgresql://relation_7:")
    # Commands run as the rock's unprivileged user, like the service.
    assert (upgrade.user, upgrade.group) == ("_daemon_", "_daemon_")
    assert peer_data(out) | {} == {
        **peer_data(out),
        "migration-revision": HEAD,
        "migration-database": f"test_observer@relation-{relation.id}",
        "migration-status": "applied",
    }
    assert _serving(out)
    service = out.get_container("api").plan.services[SERVICE]
    assert service.startup == "enabled"
    assert (service.user, service.group) == ("_daemon_", "_daemon_")
    assert out.unit_status == testing.ActiveStatus()


def test_nothing_runs_when_the_schema_is_already_at_the_head(ctx):
    out = ctx.run(ctx.on.update_status(), _state(gate_revision=HEAD))

    assert exec_commands(ctx) == [["test-observer", "db", "heads"]]
    assert _serving(out)


def test_non_leader_never_migrates_and_waits_for_the_leader(ctx):
    out = ctx.run(
        ctx.on.config_changed(), _state(leader=False, container=api_container(running=True))
    )

    assert UPGRADE_HEAD not in exec_commands(ctx)
    assert not _serving(out)
    assert out.get_container("api").plan.services[SERVICE].startup == "disabled"
    assert out.unit_status == testing.WaitingStatus(
        "waiting for the leader to migrate the database"
    )


def test_non_leader_serves_once_the_leader_recorded_its_head(ctx):
    state = _state(leader=False, gate_revision=HEAD)
    peer = next(r for r in state.relations if r.endpoint == "test-observer-peers")

    out = ctx.run(ctx.on.relation_changed(peer, remote_unit=1), state)

    assert _serving(out)
    assert out.unit_status == testing.ActiveStatus()


def test_old_code_stops_when_the_leader_migrated_past_it(ctx):
    # A unit still running the previous image while the refreshed leader migrated.
    state = _state(
        leader=False, container=api_container(heads=OLD, running=True), gate_revision=HEAD
    )
    peer = next(r for r in state.relations if r.endpoint == "test-observer-peers")

    out = ctx.run(ctx.on.relation_changed(peer, remote_unit=1), state)

    assert not _serving(out)
    assert out.unit_status == testing.WaitingStatus(
        f"waiting for the leader to migrate the schema from {HEAD} to {OLD}"
    )


def test_new_code_waits_until_the_leader_migrates(ctx):
    out = ctx.run(
        ctx.on.upgrade_charm(), _state(leader=False, container=api_container(), gate_revision=OLD)
    )

    assert UPGRADE_HEAD not in exec_commands(ctx)
    assert not _serving(out)
    assert out.unit_status == testing.WaitingStatus(
        f"waiting for the leader to migrate the schema from {OLD} to {HEAD}"
    )


def test_refreshed_leader_migrates_on_upgrade_charm(ctx):
    out = ctx.run(ctx.on.upgrade_charm(), _state(gate_revision=OLD))

    assert UPGRADE_HEAD in exec_commands(ctx)
    assert peer_data(out)["migration-revision"] == HEAD
    assert _serving(out)


def test_pebble_not_ready_waits_without_running_anything(ctx):
    out = ctx.run(ctx.on.update_status(), _state(container=api_container(can_connect=False)))

    assert exec_commands(ctx) == []
    assert out.unit_status == testing.WaitingStatus("waiting for Pebble in the api container")


def test_pebble_ready_starts_the_reconcile(ctx):
    state = _state(gate_revision=HEAD)

    out = ctx.run(ctx.on.pebble_ready(state.get_container("api")), state)

    assert _serving(out)


def test_unreadable_code_head_blocks(ctx):
    container = api_container(
        execs=[cli("db", "heads", rc=1, stderr="ImportError: no module named test_observer")]
    )

    out = ctx.run(ctx.on.config_changed(), _state(container=container))

    assert out.unit_status == testing.BlockedStatus(
        "cannot read the code's schema head: ImportError: no module named test_observer"
    )
    assert not _serving(out)


class TestFailedMigration:
    failing = cli("db", "upgrade", "head", rc=1, stderr="psycopg.errors.DiskFull: disk full")

    def test_failure_blocks_with_the_reason_and_keeps_old_code_serving_elsewhere(self, ctx):
        out = ctx.run(
            ctx.on.upgrade_charm(),
            _state(container=api_container(upgrade=self.failing), gate_revision=OLD),
        )

        data = peer_data(out)
        assert data["migration-status"] == "failed"
        assert data["migration-revision"] == OLD  # the database did not move
        assert data["migration-error"] == "psycopg.errors.DiskFull: disk full"
        assert out.unit_status == testing.BlockedStatus(
            f"migration to {HEAD} failed: psycopg.errors.DiskFull: disk full; fix the cause, "
            "then run the migrate action (retried on update-status)"
        )
        assert not _serving(out)

    def test_not_retried_on_unrelated_events(self, ctx):
        state = _state(
            container=api_container(upgrade=self.failing),
            gate_revision=OLD,
            status="failed",
            target=HEAD,
            error="disk full",
        )

        out = ctx.run(ctx.on.config_changed(), state)

        assert UPGRADE_HEAD not in exec_commands(ctx)
        assert isinstance(out.unit_status, testing.BlockedStatus)

    def test_retried_on_update_status_and_then_serves(self, ctx):
        state = _state(gate_revision=OLD, status="failed", target=HEAD, error="disk full")

        out = ctx.run(ctx.on.update_status(), state)

        assert UPGRADE_HEAD in exec_commands(ctx)
        assert peer_data(out)["migration-status"] == "applied"
        assert "migration-error" not in peer_data(out)
        assert _serving(out)
        assert out.unit_status == testing.ActiveStatus()

    def test_failed_then_retried_in_sequence(self, ctx):
        first = ctx.run(
            ctx.on.upgrade_charm(),
            _state(container=api_container(upgrade=self.failing), gate_revision=OLD),
        )
        assert isinstance(first.unit_status, testing.BlockedStatus)

        # The operator fixed the disk; the next update-status succeeds.
        fixed = testing.State(
            leader=True,
            config=first.config,
            relations=first.relations,
            secrets=first.secrets,
            containers={api_container()},
        )
        second = ctx.run(ctx.on.update_status(), fixed)

        assert peer_data(second)["migration-revision"] == HEAD
        assert second.unit_status == testing.ActiveStatus()

    def test_non_leader_reports_the_leaders_failure(self, ctx):
        state = _state(
            leader=False, gate_revision=OLD, status="failed", target=HEAD, error="disk full"
        )

        out = ctx.run(ctx.on.update_status(), state)

        assert isinstance(out.unit_status, testing.BlockedStatus)
        assert "disk full" in out.unit_status.message
        assert UPGRADE_HEAD not in exec_commands(ctx)


class TestSchemaNewerThanCode:
    def _container(self) -> testing.Container:
        # Code at OLD meets a database that newer code migrated to NEWER.
        return api_container(
            heads=OLD,
            current=NEWER,
            upgrade=cli("db", "upgrade", "head", rc=1, stderr=f"Can't locate revision {NEWER}"),
            execs=[cli("db", "upgrade", rc=1, stderr=f"Can't locate revision {NEWER}")],
        )

    def test_blocks_with_what_to_do(self, ctx):
        out = ctx.run(
            ctx.on.upgrade_charm(), _state(container=self._container(), gate_revision=NEWER)
        )

        assert peer_data(out)["migration-status"] == "schema-newer"
        assert out.unit_status == testing.BlockedStatus(
            f"schema {NEWER} is newer than this code ({OLD}): refresh to the charm revision "
            "that applied it, or roll back there first"
        )
        assert not _serving(out)

    def test_not_retried_by_update_status(self, ctx):
        state = _state(
            container=self._container(), gate_revision=NEWER, status="schema-newer", target=OLD
        )

        out = ctx.run(ctx.on.update_status(), state)

        assert UPGRADE_HEAD not in exec_commands(ctx)
        assert isinstance(out.unit_status, testing.BlockedStatus)

    def test_a_real_failure_on_known_schema_is_not_mistaken_for_a_newer_one(self, ctx):
        container = api_container(
            current=OLD,
            upgrade=cli("db", "upgrade", "head", rc=1, stderr="lock timeout"),
            execs=[cli("db", "upgrade", OLD)],
        )

        out = ctx.run(ctx.on.upgrade_charm(), _state(container=container, gate_revision=OLD))

        assert peer_data(out)["migration-status"] == "failed"

    def test_unreachable_database_is_a_failure(self, ctx):
        container = api_container(
            upgrade=cli("db", "upgrade", "head", rc=1, stderr="connection refused"),
            execs=[
                cli("db", "current", rc=1, stderr="connection refused"),
                cli("db", "upgrade", rc=1, stderr="connection refused"),
            ],
        )

        out = ctx.run(ctx.on.upgrade_charm(), _state(container=container, gate_revision=NEWER))

        assert peer_data(out)["migration-status"] == "failed"


class TestLeadershipChanges:
    def test_new_leader_with_new_code_finishes_the_upgrade(self):
        # Unit 1 was refreshed first; the old leader left before migrating.
        ctx = make_context(unit_id=1)
        state = _state(leader=True, gate_revision=OLD)

        out = ctx.run(ctx.on.leader_elected(), state)

        assert UPGRADE_HEAD in exec_commands(ctx)
        assert peer_data(out)["migration-revision"] == HEAD
        assert _serving(out)

    def test_new_leader_with_old_code_does_not_downgrade_and_says_why(self):
        ctx = make_context(unit_id=1)
        container = api_container(
            heads=OLD,
            current=HEAD,
            upgrade=cli("db", "upgrade", "head", rc=1, stderr=f"Can't locate revision {HEAD}"),
            execs=[cli("db", "upgrade", rc=1, stderr=f"Can't locate revision {HEAD}")],
        )
        state = _state(leader=True, container=container, gate_revision=HEAD)

        out = ctx.run(ctx.on.leader_elected(), state)

        assert not any("downgrade" in c for c in exec_commands(ctx))
        assert peer_data(out)["migration-status"] == "schema-newer"
        assert not _serving(out)

    def test_leader_that_lost_leadership_keeps_serving_without_migrating(self, ctx):
        out = ctx.run(ctx.on.config_changed(), _state(leader=False, gate_revision=HEAD))

        assert UPGRADE_HEAD not in exec_commands(ctx)
        assert _serving(out)


def test_held_schema_is_not_migrated_automatically(ctx):
    state = _state(gate_revision=OLD, status="held", target=HEAD)

    out = ctx.run(ctx.on.update_status(), state)

    assert UPGRADE_HEAD not in exec_commands(ctx)
    assert out.unit_status == testing.BlockedStatus(
        f"schema held at {OLD}, code is at {HEAD}: refresh to the matching charm revision, "
        "or run the migrate action"
    )


def test_refresh_to_the_code_matching_a_held_schema_serves(ctx):
    state = _state(
        container=api_container(heads=OLD), gate_revision=OLD, status="held", target=HEAD
    )

    out = ctx.run(ctx.on.upgrade_charm(), state)

    assert UPGRADE_HEAD not in exec_commands(ctx)
    assert _serving(out)
    assert out.unit_status == testing.ActiveStatus()
    assert peer_data(out)["migration-status"] == "applied"


def test_maintenance_is_shown_while_the_leader_migrates(ctx):
    out = ctx.run(ctx.on.upgrade_charm(), _state(gate_revision=OLD))

    assert testing.MaintenanceStatus(f"migrating the database to {HEAD}") in ctx.unit_status_history
    assert out.unit_status == testing.ActiveStatus()


def test_a_recovered_check_reconciles(ctx):
    first = ctx.run(ctx.on.config_changed(), _state(gate_revision=HEAD))
    container = first.get_container("api")
    check = next(c for c in container.check_infos if c.name == "api-ready")
    # The service went down meanwhile (for example, Pebble gave up restarting it).
    stopped = testing.Container(
        "api",
        can_connect=True,
        layers=container.layers,
        execs=container.execs,
        check_infos=container.check_infos,
        service_statuses={SERVICE: pebble.ServiceStatus.INACTIVE},
    )
    state = testing.State(
        leader=True, relations=first.relations, secrets=first.secrets, containers={stopped}
    )

    out = ctx.run(ctx.on.pebble_check_recovered(stopped, check), state)

    assert _serving(out)
    assert out.unit_status == testing.ActiveStatus()


def test_refresh_back_to_the_code_that_wrote_a_newer_schema_serves_again(ctx):
    state = _state(gate_revision=HEAD, status="schema-newer", target=OLD, error="unknown")

    out = ctx.run(ctx.on.upgrade_charm(), state)

    assert UPGRADE_HEAD not in exec_commands(ctx)
    assert peer_data(out)["migration-status"] == "applied"
    assert "migration-error" not in peer_data(out)
    assert _serving(out)


class TestCodeHeadsCache:
    def _container(self, tmp_path):
        mount = testing.Mount(location="/tmp/test-observer-charm", source=tmp_path)
        return api_container(mounts={"cache": mount})

    def test_the_head_is_read_once_and_kept_in_the_container(self, ctx, tmp_path):
        out = ctx.run(ctx.on.update_status(), _state(container=self._container(tmp_path)))

        assert ["test-observer", "db", "heads"] in exec_commands(ctx)
        assert (tmp_path / "code-heads").read_text() == HEAD
        assert _serving(out)

    def test_a_kept_head_spares_running_the_cli(self, ctx, tmp_path):
        (tmp_path / "code-heads").write_text(OLD)
        state = _state(leader=False, container=self._container(tmp_path), gate_revision=OLD)

        out = ctx.run(ctx.on.update_status(), state)

        assert exec_commands(ctx) == []
        assert _serving(out)
