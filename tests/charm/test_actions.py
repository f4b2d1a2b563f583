"""Actions: schema changes on the leader only, read-only status anywhere, admin commands."""

from __future__ import annotations

import pytest
from ops import pebble, testing

from .states import (
    HEAD,
    OLD,
    SERVICE,
    api_container,
    cli,
    db_relation,
    db_secret,
    exec_commands,
    gate,
    peer_data,
    ready_state,
)


def _state(*, leader=True, container=None, gate_revision=HEAD, **gate_extra):
    secret = db_secret()
    relation = db_relation(secret)
    data = gate(gate_revision, relation, **gate_extra) if gate_revision else {}
    return ready_state(
        leader=leader,
        relation=relation,
        secret=secret,
        container=container or api_container(running=True),
        gate_data=data,
    )


def _last_exec(ctx) -> testing.ExecHistoryItem:  # type: ignore[name-defined]
    return ctx.exec_history["api"][-1]


class TestMigrate:
    def test_refused_on_a_non_leader(self, ctx):
        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(ctx.on.action("migrate"), _state(leader=False))

        assert "leader" in failure.value.message
        assert not any("upgrade" in c for c in exec_commands(ctx))

    def test_default_migrates_to_head_and_records_it(self, ctx):
        out = ctx.run(
            ctx.on.action("migrate"), _state(gate_revision=OLD, status="failed", target=HEAD)
        )

        upgrade = next(
            e for e in ctx.exec_history["api"] if list(e.command)[1:3] == ["db", "upgrade"]
        )
        assert list(upgrade.command) == ["test-observer", "db", "upgrade", "--", "head"]
        assert upgrade.environment["DB_URL"].startswith("postgresql://")
        assert ctx.action_results == {"revision": HEAD, "code-head": HEAD, "serving": True}
        assert peer_data(out)["migration-status"] == "applied"
        assert out.unit_status == testing.ActiveStatus()

    def test_to_a_revision_that_is_not_the_head_holds_the_gate(self, ctx):
        container = api_container(current=OLD, running=True)

        out = ctx.run(
            ctx.on.action("migrate", params={"revision": OLD}), _state(container=container)
        )

        assert ["test-observer", "db", "upgrade", "--", OLD] in exec_commands(ctx)
        assert peer_data(out)["migration-status"] == "held"
        assert out.get_container("api").service_statuses[SERVICE] == pebble.ServiceStatus.INACTIVE

    def test_failure_fails_the_action_with_the_commands_error(self, ctx):
        container = api_container(
            execs=[cli("db", "upgrade", "--", rc=1, stderr="Traceback...\nDiskFull: disk full")],
            running=True,
        )
        state = _state(container=container, gate_revision=OLD)

        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(ctx.on.action("migrate"), state)

        assert failure.value.message == "migrate failed: DiskFull: disk full"
        # The database did not move, so neither does the record.
        assert peer_data(failure.value.state)["migration-revision"] == OLD

    def test_without_a_database_the_action_fails_with_the_reason(self, ctx):
        state = testing.State(leader=True, containers={api_container()})

        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(ctx.on.action("migrate"), state)

        assert "needs a database" in failure.value.message


class TestRollback:
    def test_refused_on_a_non_leader(self, ctx):
        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(ctx.on.action("rollback"), _state(leader=False))

        assert (
            failure.value.message
            == "run this action on the leader unit: juju run test-observer-api/leader"
        )

    def test_default_steps_back_one_revision_and_stops_serving(self, ctx):
        container = api_container(current=OLD, running=True)

        out = ctx.run(ctx.on.action("rollback"), _state(container=container))

        downgrade = next(e for e in ctx.exec_history["api"] if "downgrade" in e.command)
        assert list(downgrade.command) == ["test-observer", "db", "downgrade", "--", "-1"]
        assert downgrade.environment["DB_URL"].startswith("postgresql://")
        assert ctx.action_results == {"revision": OLD, "code-head": HEAD, "serving": False}
        data = peer_data(out)
        assert data["migration-revision"] == OLD
        assert data["migration-status"] == "held"
        assert out.get_container("api").service_statuses[SERVICE] == pebble.ServiceStatus.INACTIVE
        assert out.unit_status == testing.BlockedStatus(
            f"schema held at {OLD}, code is at {HEAD}: refresh to the matching charm revision, "
            "or run the migrate action"
        )

    def test_to_base(self, ctx):
        container = api_container(current="base", running=True)

        out = ctx.run(
            ctx.on.action("rollback", params={"revision": "base"}), _state(container=container)
        )

        assert ["test-observer", "db", "downgrade", "--", "base"] in exec_commands(ctx)
        assert peer_data(out)["migration-revision"] == "base"

    def test_other_units_stop_after_a_rollback(self, ctx):
        state = _state(leader=False, gate_revision=OLD, status="held", target=HEAD)
        peer = next(r for r in state.relations if r.endpoint == "test-observer-peers")

        out = ctx.run(ctx.on.relation_changed(peer, remote_unit=1), state)

        assert out.get_container("api").service_statuses[SERVICE] == pebble.ServiceStatus.INACTIVE
        assert isinstance(out.unit_status, testing.BlockedStatus)

    def test_failure_fails_the_action(self, ctx):
        container = api_container(
            execs=[cli("db", "downgrade", rc=1, stderr="no downgrade path from base")], running=True
        )

        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(ctx.on.action("rollback"), _state(container=container))

        assert failure.value.message == "rollback failed: no downgrade path from base"
        assert peer_data(failure.value.state)["migration-status"] == "applied"


class TestDbStatus:
    @pytest.mark.parametrize("leader", [True, False])
    def test_reports_schema_code_and_gate(self, ctx, leader):
        container = api_container(current=OLD, running=True)
        state = _state(
            leader=leader,
            container=container,
            gate_revision=OLD,
            status="failed",
            target=HEAD,
            error="disk full",
        )

        ctx.run(ctx.on.action("db-status"), state)

        results = ctx.action_results
        assert results is not None
        assert results["current"] == OLD
        assert results["code-head"] == HEAD
        assert results["pending"] is True
        assert results["gate-revision"] == OLD
        assert results["gate-status"] == "failed"
        assert results["gate-error"] == "disk full"
        assert results["serving"] is False

    def test_up_to_date(self, ctx):
        ctx.run(ctx.on.action("db-status"), _state())

        assert ctx.action_results is not None
        assert ctx.action_results["pending"] is False
        assert ctx.action_results["serving"] is True

    def test_unreachable_database_fails_the_action(self, ctx):
        container = api_container(execs=[cli("db", "current", rc=1, stderr="connection refused")])

        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(ctx.on.action("db-status"), _state(container=container))

        assert failure.value.message == "db-status failed: connection refused"


class TestAdminActions:
    def test_create_application_with_permissions_returns_the_key(self, ctx):
        container = api_container(
            execs=[cli("admin", "create-application", stdout="to_" + "k" * 43 + "\n")], running=True
        )

        ctx.run(
            ctx.on.action(
                "create-application",
                params={"name": "jenkins", "permissions": "change_test, view_test"},
            ),
            _state(leader=False, container=container),
        )

        command = _last_exec(ctx).command
        assert list(command) == [
            "test-observer", "admin", "create-application",
            "--permission", "change_test", "--permission", "view_test", "--", "jenkins",
        ]  # fmt: skip
        assert _last_exec(ctx).environment["DB_URL"].startswith("postgresql://")
        assert ctx.action_results == {"name": "jenkins", "api-key": "to_" + "k" * 43}

    def test_create_application_with_all_permissions(self, ctx):
        container = api_container(execs=[cli("admin", "create-application", stdout="to_x\n")])

        ctx.run(
            ctx.on.action("create-application", params={"name": "ci", "all-permissions": True}),
            _state(container=container),
        )

        assert list(_last_exec(ctx).command)[2:] == [
            "create-application",
            "--all-permissions",
            "--",
            "ci",
        ]

    @pytest.mark.parametrize(
        "params",
        [
            {"name": "ci"},
            {"name": "ci", "permissions": "view_test", "all-permissions": True},
            {"name": " "},
        ],
    )
    def test_create_application_needs_exactly_one_way_to_grant(self, ctx, params):
        with pytest.raises(testing.ActionFailed):
            ctx.run(ctx.on.action("create-application", params=params), _state())

        assert not any("admin" in c for c in exec_commands(ctx))

    def test_command_errors_fail_the_action(self, ctx):
        container = api_container(
            execs=[
                cli("admin", "create-application", rc=1, stderr="application 'ci' already exists")
            ]
        )

        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(
                ctx.on.action("create-application", params={"name": "ci", "all-permissions": True}),
                _state(container=container),
            )

        assert failure.value.message == "create-application failed: application 'ci' already exists"

    def test_promote_user_to_admin(self, ctx):
        container = api_container(execs=[cli("admin", "promote-user-to-admin")])

        ctx.run(
            ctx.on.action("promote-user-to-admin", params={"email": "ada@example.com"}),
            _state(container=container),
        )

        assert list(_last_exec(ctx).command)[1:] == [
            "admin",
            "promote-user-to-admin",
            "--",
            "ada@example.com",
        ]
        assert ctx.action_results == {"result": "ada@example.com is an administrator"}

    def test_promote_unknown_user_fails(self, ctx):
        container = api_container(
            execs=[
                cli(
                    "admin", "promote-user-to-admin", rc=1, stderr="User with email x@y.z not found"
                )
            ]
        )

        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(
                ctx.on.action("promote-user-to-admin", params={"email": "x@y.z"}),
                _state(container=container),
            )

        assert (
            failure.value.message == "promote-user-to-admin failed: User with email x@y.z not found"
        )

    def test_delete_artefact(self, ctx):
        container = api_container(execs=[cli("admin", "delete-artefact")])

        ctx.run(
            ctx.on.action("delete-artefact", params={"artefact-id": 42}),
            _state(container=container),
        )

        assert list(_last_exec(ctx).command)[1:] == ["admin", "delete-artefact", "--", "42"]
        assert ctx.action_results == {"result": "artefact 42 deleted"}

    def test_refused_while_the_schema_does_not_match_the_code(self, ctx):
        state = _state(gate_revision=OLD, status="held", target=HEAD)

        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(ctx.on.action("delete-artefact", params={"artefact-id": 1}), state)

        assert "does not match" in failure.value.message
        assert not any("admin" in c for c in exec_commands(ctx))
