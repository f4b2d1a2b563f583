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
    schema_command,
)

MIDDLE = "b2c3d4e5f6a7"


def _state(*, leader=True, container=None, gate_revision=HEAD, peers=None, **gate_extra):
    secret = db_secret()
    relation = db_relation(secret)
    data = gate(gate_revision, relation, **gate_extra) if gate_revision else {}
    state = ready_state(
        leader=leader,
        relation=relation,
        secret=secret,
        container=container or api_container(running=True),
        gate_data=data,
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


def _last_exec(ctx) -> testing.ExecHistoryItem:  # type: ignore[name-defined]
    return ctx.exec_history["api"][-1]


def _schema_exec(ctx, verb: str):
    return next(e for e in ctx.exec_history["api"] if list(e.command)[1:3] == ["db", verb])


class TestMigrate:
    def test_refused_on_a_non_leader(self, ctx):
        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(ctx.on.action("migrate"), _state(leader=False))

        assert "leader" in failure.value.message
        assert not any("upgrade" in c for c in exec_commands(ctx))

    def test_default_migrates_to_head_and_records_it(self, ctx):
        container = api_container(db_revision=OLD, running=True)
        state = _state(container=container, gate_revision=OLD, status="held", target=HEAD)

        out = ctx.run(ctx.on.action("migrate"), state)

        upgrade = _schema_exec(ctx, "upgrade")
        assert list(upgrade.command) == ["test-observer", "db", "upgrade", "--json", "--", "head"]
        assert upgrade.environment["DB_URL"].startswith("postgresql://")
        assert ctx.action_results == {"revision": HEAD, "code-head": HEAD, "serving": "true"}
        assert peer_data(out)["migration-status"] == "applied"
        assert out.unit_status == testing.ActiveStatus()

    def test_to_a_revision_that_is_not_the_head_holds_the_gate(self, ctx):
        container = api_container(
            running=True, execs=[schema_command("upgrade", OLD)], db_revision="base"
        )

        out = ctx.run(
            ctx.on.action("migrate", params={"revision": OLD}), _state(container=container)
        )

        assert ["test-observer", "db", "upgrade", "--json", "--", OLD] in exec_commands(ctx)
        assert peer_data(out)["migration-status"] == "held"
        assert peer_data(out)["migration-revision"] == OLD
        assert out.get_container("api").service_statuses[SERVICE] == pebble.ServiceStatus.INACTIVE

    def test_a_partial_failure_fails_the_action_and_records_where_the_database_is(self, ctx):
        failing = schema_command(
            "upgrade", MIDDLE, rc=1, error="upgrade to head failed: DiskFull: disk full"
        )
        container = api_container(db_revision=OLD, execs=[failing], running=True)
        state = _state(container=container, gate_revision=OLD)

        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(ctx.on.action("migrate"), state)

        assert failure.value.message == (
            f"migrate failed: upgrade to head failed: DiskFull: disk full (the database is now "
            f"at {MIDDLE})"
        )
        data = peer_data(failure.value.state)
        assert data["migration-revision"] == MIDDLE
        assert data["migration-status"] == "held"
        assert data["migration-error"] == "upgrade to head failed: DiskFull: disk full"

    @pytest.mark.parametrize("revision", ["", "head; rm -rf /", "two words"])
    def test_a_malformed_revision_fails_before_anything_runs(self, ctx, revision):
        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(ctx.on.action("migrate", params={"revision": revision}), _state())

        assert "revision" in failure.value.message
        assert not any("upgrade" in c for c in exec_commands(ctx))

    def test_without_a_database_the_action_fails_with_the_reason(self, ctx):
        state = testing.State(leader=True, containers={api_container()})

        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(ctx.on.action("migrate"), state)

        assert "needs a database" in failure.value.message


class TestSchemaActionsDrainOtherUnitsFirst:
    def test_first_run_stops_every_unit_and_changes_nothing(self, ctx):
        state = _state(peers={1: {}, 2: {}})

        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(ctx.on.action("rollback", params={"revision": "-1"}), state)

        assert failure.value.message == (
            "stopping the other units before the schema changes (waiting for "
            "test-observer-api/1, test-observer-api/2); run the action again once `juju status` "
            "shows them stopped"
        )
        assert not any("downgrade" in c for c in exec_commands(ctx))
        data = peer_data(failure.value.state)
        assert data["migration-status"] == "draining"
        assert data["migration-drain-for"] == "operator"

    def test_second_run_changes_the_schema_once_every_unit_has_stopped(self, ctx):
        drained = {"migration-drained": "5"}
        container = api_container(execs=[schema_command("downgrade", OLD)], running=True)
        state = _state(
            container=container,
            status="draining",
            drain="5",
            target=HEAD,
            peers={1: drained, 2: drained},
            **{"drain-for": "operator"},
        )

        out = ctx.run(ctx.on.action("rollback", params={"revision": "-1"}), state)

        assert ["test-observer", "db", "downgrade", "--json", "--", "-1"] in exec_commands(ctx)
        assert peer_data(out)["migration-status"] == "held"
        assert peer_data(out)["migration-revision"] == OLD

    def test_an_operator_drain_is_not_turned_into_an_automatic_migration(self, ctx):
        drained = {"migration-drained": "5"}
        state = _state(
            container=api_container(db_revision=OLD),
            gate_revision=OLD,
            status="draining",
            drain="5",
            target=HEAD,
            peers={1: drained},
            **{"drain-for": "operator"},
        )

        out = ctx.run(ctx.on.update_status(), state)

        assert not any("upgrade" in c for c in exec_commands(ctx))
        assert out.unit_status == testing.BlockedStatus(
            "units stopped for an operator's schema change: run the migrate or rollback action "
            "again"
        )


def test_an_operator_drain_survives_the_acknowledgements_until_the_action_runs_again(ctx):
    # The database is still at the head (nothing ran yet); the units' acknowledgements arrive.
    state = _state(
        status="draining",
        drain="5",
        target=HEAD,
        peers={1: {"migration-drained": "5"}},
        **{"drain-for": "operator"},
    )
    peer = next(r for r in state.relations if r.endpoint == "test-observer-peers")

    out = ctx.run(ctx.on.relation_changed(peer, remote_unit=1), state)

    assert peer_data(out)["migration-status"] == "draining"
    assert out.get_container("api").service_statuses[SERVICE] == pebble.ServiceStatus.INACTIVE


class TestRollback:
    def test_refused_on_a_non_leader(self, ctx):
        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(ctx.on.action("rollback"), _state(leader=False))

        assert (
            failure.value.message
            == "run this action on the leader unit: juju run test-observer-api/leader"
        )

    def test_an_upgrade_records_where_it_started(self, ctx):
        container = api_container(db_revision=OLD, running=True)

        out = ctx.run(ctx.on.config_changed(), _state(container=container, gate_revision=OLD))

        data = peer_data(out)
        assert (data["migration-revision"], data["migration-status"]) == (HEAD, "applied")
        assert data["migration-previous"] == OLD

    def test_a_retry_after_a_failure_keeps_the_first_starting_point(self, ctx):
        # The first run committed one revision (MIDDLE) before it failed.
        container = api_container(db_revision=MIDDLE, running=True)
        state = _state(
            container=container,
            gate_revision=MIDDLE,
            status="failed",
            target=HEAD,
            previous=OLD,
            retry_after="1",
        )

        out = ctx.run(ctx.on.update_status(), state)

        assert peer_data(out)["migration-status"] == "applied"
        assert peer_data(out)["migration-previous"] == OLD

    def test_default_returns_to_where_the_last_upgrade_started_and_stops_serving(self, ctx):
        # The release carried two migrations (OLD -> MIDDLE -> HEAD): one step back is not
        # where the previous code's schema is.
        container = api_container(execs=[schema_command("downgrade", OLD)], running=True)

        out = ctx.run(ctx.on.action("rollback"), _state(container=container, previous=OLD))

        downgrade = _schema_exec(ctx, "downgrade")
        assert list(downgrade.command) == ["test-observer", "db", "downgrade", "--json", "--", OLD]
        assert downgrade.environment["DB_URL"].startswith("postgresql://")
        assert ctx.action_results == {"revision": OLD, "code-head": HEAD, "serving": "false"}
        data = peer_data(out)
        assert data["migration-revision"] == OLD
        assert data["migration-status"] == "held"
        assert out.get_container("api").service_statuses[SERVICE] == pebble.ServiceStatus.INACTIVE
        assert out.unit_status == testing.BlockedStatus(
            f"schema held at {OLD}, code is at {HEAD}: refresh to the matching charm revision, "
            "or run the migrate action"
        )

    def test_default_without_a_recorded_upgrade_fails_and_changes_nothing(self, ctx):
        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(ctx.on.action("rollback"), _state())

        assert failure.value.message == (
            "no upgrade is recorded, so there is no previous revision: give revision=<id> "
            "(see db-status)"
        )
        assert not [c for c in exec_commands(ctx) if "downgrade" in c]

    def test_a_step_is_still_accepted(self, ctx):
        container = api_container(execs=[schema_command("downgrade", OLD)], running=True)

        ctx.run(
            ctx.on.action("rollback", params={"revision": "-1"}),
            _state(container=container, previous=OLD),
        )

        assert ["test-observer", "db", "downgrade", "--json", "--", "-1"] in exec_commands(ctx)

    def test_to_base_needs_confirmation(self, ctx):
        container = api_container(running=True)

        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(
                ctx.on.action("rollback", params={"revision": "base"}),
                _state(container=container),
            )

        assert "confirm=true" in failure.value.message
        assert not [c for c in exec_commands(ctx) if "downgrade" in c]

        out = ctx.run(
            ctx.on.action("rollback", params={"revision": "base", "confirm": True}),
            _state(container=container),
        )

        assert ["test-observer", "db", "downgrade", "--json", "--", "base"] in exec_commands(ctx)
        assert peer_data(out)["migration-revision"] == "base"

    def test_previous_at_base_needs_confirmation_too(self, ctx):
        # The first deployment migrated an empty database: before it was base.
        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(ctx.on.action("rollback"), _state(previous="base"))

        assert failure.value.message.startswith("the revision before the last upgrade is base")
        assert "confirm=true" in failure.value.message
        assert not [c for c in exec_commands(ctx) if "downgrade" in c]

    def test_head_is_not_a_rollback_target(self, ctx):
        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(ctx.on.action("rollback", params={"revision": "head"}), _state())

        assert "rollback goes backwards" in failure.value.message

    def test_a_partial_failure_records_where_the_database_really_is(self, ctx):
        # Two revisions down were asked for; the first was undone, the second failed.
        failing = schema_command(
            "downgrade", MIDDLE, rc=1, error="downgrade to a1b2c3d4e5f6 failed: lock timeout"
        )
        container = api_container(execs=[failing], running=True)

        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(
                ctx.on.action("rollback", params={"revision": "-2"}), _state(container=container)
            )

        assert failure.value.message == (
            "rollback failed: downgrade to a1b2c3d4e5f6 failed: lock timeout (the database is "
            f"now at {MIDDLE})"
        )
        data = peer_data(failure.value.state)
        # Not the head the record said before: every unit now sees a schema to stop for.
        assert data["migration-revision"] == MIDDLE
        assert data["migration-status"] == "held"
        assert failure.value.state.get_container("api").service_statuses[SERVICE] == (
            pebble.ServiceStatus.INACTIVE
        )

    def test_other_units_stop_after_a_rollback(self, ctx):
        container = api_container(db_revision=OLD, running=True)
        state = _state(
            leader=False, container=container, gate_revision=OLD, status="held", target=HEAD
        )
        peer = next(r for r in state.relations if r.endpoint == "test-observer-peers")

        out = ctx.run(ctx.on.relation_changed(peer, remote_unit=1), state)

        assert out.get_container("api").service_statuses[SERVICE] == pebble.ServiceStatus.INACTIVE
        assert isinstance(out.unit_status, testing.BlockedStatus)


class TestDbStatus:
    @pytest.mark.parametrize("leader", [True, False])
    def test_reports_schema_code_and_gate(self, ctx, leader):
        container = api_container(db_revision=OLD, running=True)
        state = _state(
            leader=leader,
            container=container,
            gate_revision=OLD,
            status="held",
            target=HEAD,
            error="disk full",
        )

        ctx.run(ctx.on.action("db-status"), state)

        results = ctx.action_results
        assert results is not None
        assert results["current"] == OLD
        assert results["code-head"] == HEAD
        assert results["pending"] == "true"
        assert results["known"] == "true"
        assert results["gate-revision"] == OLD
        assert results["gate-status"] == "held"
        assert results["gate-error"] == "disk full"
        assert results["serving"] == "false"

    def test_up_to_date(self, ctx):
        ctx.run(ctx.on.action("db-status"), _state())

        assert ctx.action_results is not None
        assert ctx.action_results["pending"] == "false"
        assert ctx.action_results["serving"] == "true"
        assert ctx.action_results["gate-previous"] == "none"

    def test_shows_where_the_last_upgrade_started(self, ctx):
        ctx.run(ctx.on.action("db-status"), _state(previous=OLD))

        assert ctx.action_results is not None
        assert ctx.action_results["gate-previous"] == OLD

    def test_unreachable_database_fails_the_action(self, ctx):
        container = api_container(
            execs=[
                testing.Exec(
                    ["test-observer", "db", "current", "--json"],
                    return_code=1,
                    stderr="Error: cannot reach the database: connection refused",
                )
            ]
        )

        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(ctx.on.action("db-status"), _state(container=container))

        assert failure.value.message == (
            "cannot run: cannot read the database's schema revision: cannot reach the "
            "database: connection refused"
        )


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
        container = api_container(db_revision=OLD, running=True)
        state = _state(container=container, gate_revision=OLD, status="held", target=HEAD)

        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(ctx.on.action("delete-artefact", params={"artefact-id": 1}), state)

        assert "does not match" in failure.value.message
        assert not any("admin" in c for c in exec_commands(ctx))


@pytest.mark.parametrize(
    ("action", "params", "message"),
    [
        ("delete-artefact", {"artefact-id": 0}, "artefact-id must be a positive integer"),
        ("promote-user-to-admin", {"email": "nobody"}, "'nobody' is not an email address"),
        ("create-application", {"name": "ci"}, "give either permissions=P1,P2"),
    ],
)
def test_parameters_are_validated_before_any_command_runs(ctx, action, params, message):
    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action(action, params=params), _state())

    assert message in failure.value.message
    assert not any("admin" in c for c in exec_commands(ctx))


class TestCancelDrain:
    def _drained(self, **extra):
        return _state(
            container=api_container(db_revision=OLD, running=False),
            gate_revision=OLD,
            status="draining",
            target=HEAD,
            drain="1",
            peers={1: {"migration-drained": "1"}},
            **extra,
        )

    def test_returns_the_units_to_serving_at_the_current_schema(self, ctx):
        # An operator's migrate drained the units; the schema is still this code's head.
        container = api_container(running=False)
        state = _state(
            container=container,
            gate_revision=HEAD,
            status="draining",
            drain="1",
            drain_for="operator",
            peers={1: {"migration-drained": "1"}},
        )

        out = ctx.run(ctx.on.action("cancel-drain"), state)

        assert ctx.action_results == {"revision": HEAD, "code-head": HEAD, "serving": "true"}
        data = peer_data(out)
        assert (data["migration-status"], data.get("migration-drain-for", "")) == ("applied", "")
        assert out.get_container("api").service_statuses[SERVICE] == pebble.ServiceStatus.ACTIVE
        assert out.unit_status == testing.ActiveStatus()
        # The schema was not touched.
        assert not [c for c in exec_commands(ctx) if "upgrade" in c or "downgrade" in c]

    def test_an_upgrade_drain_called_off_holds_instead_of_starting_again(self, ctx):
        # The leader's new code drained everyone to migrate; the operator calls it off.
        out = ctx.run(ctx.on.action("cancel-drain"), self._drained(drain_for="upgrade"))

        data = peer_data(out)
        assert data["migration-status"] == "held"
        assert data["migration-revision"] == OLD
        assert not [c for c in exec_commands(ctx) if "upgrade" in c]
        # The next hook does not drain again by itself.
        again = ctx.run(ctx.on.update_status(), out)
        assert peer_data(again)["migration-status"] == "held"
        assert not [c for c in exec_commands(ctx) if "upgrade" in c]

    def test_fails_when_nothing_is_drained(self, ctx):
        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(ctx.on.action("cancel-drain"), _state())

        assert failure.value.message.startswith("no drain is under way")

    def test_refused_on_a_non_leader(self, ctx):
        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(ctx.on.action("cancel-drain"), self._drained(leader=False))

        assert "leader" in failure.value.message
