"""Options: validation blocks the unit naming the option; valid values reach the workload."""

from __future__ import annotations

import json

import pytest
from ops import testing
from test_observer_charm.config import CharmConfig, InvalidConfigError

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
    ready_state,
)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("port", 80),
        ("port", 70000),
        ("workers", -1),
        ("workers", 33),
        ("log-level", "verbose"),
        ("version", "1.0 beta"),
        ("cors-origins", "ftp://files.example.com"),
        ("cors-origins", "https://ok.example.com,https://bad.example.com/path"),
        ("frontend-url", "test-observer.example.com"),
    ],
)
def test_invalid_option_blocks_naming_it_and_leaves_the_workload_alone(ctx, option, value):
    secret = db_secret()
    relation = db_relation(secret)
    state = ready_state(
        config={option: value},
        relation=relation,
        secret=secret,
        container=api_container(running=True),
        gate_data=gate(HEAD, relation),
    )

    out = ctx.run(ctx.on.config_changed(), state)

    assert isinstance(out.unit_status, testing.BlockedStatus)
    assert f"'{option}'" in out.unit_status.message
    container = out.get_container("api")
    # The running service keeps its old definition: a typo must not take the API down.
    assert container.service_statuses[SERVICE].value == "active"
    assert "--no-migrate --workers" not in container.plan.services[SERVICE].command


def test_valid_options_are_rendered_into_the_service(ctx):
    config = {
        "port": 8080,
        "workers": 4,
        "log-level": "DEBUG",
        "version": "2.1.0-edge",
        "cors-origins": "https://a.example.com, http://b.example.com:8000/",
        "frontend-url": "https://test-observer.example.com",
        "require-authentication": True,
        "ignore-permissions": "view_test, view_artefact",
    }
    out = ctx.run(ctx.on.config_changed(), ready_state(config=config))

    service = out.get_container("api").plan.services[SERVICE]
    assert service.command == (
        "test-observer serve --host 0.0.0.0 --port 8080 --no-migrate --workers 4 --log-level debug"
    )
    env = service.environment
    assert env["VERSION_OVERRIDE"] == "2.1.0-edge"
    assert env["FRONTEND_URL"] == "https://test-observer.example.com"
    assert env["ADDITIONAL_CORS_ORIGINS"] == "https://a.example.com,http://b.example.com:8000"
    assert env["REQUIRE_AUTHENTICATION"] == "true"
    assert env["IGNORE_PERMISSIONS"] == "view_test,view_artefact"
    assert env["LOG_LEVEL"] == "debug"
    assert out.workload_version == "2.1.0-edge"
    checks = out.get_container("api").plan.checks
    assert checks["api-live"].http == {"url": "http://localhost:8080/health/live"}
    # Ready only while the schema is this code's: Kubernetes stops routing otherwise.
    assert checks["api-ready"].http == {"url": "http://localhost:8080/health/serving"}
    assert out.opened_ports == {testing.TCPPort(8080)}
    assert out.unit_status == testing.ActiveStatus()


def test_no_optional_variables_when_options_are_empty(ctx):
    out = ctx.run(ctx.on.config_changed(), ready_state())

    env = out.get_container("api").plan.services[SERVICE].environment
    for name in (
        "VERSION_OVERRIDE",
        "FRONTEND_URL",
        "ADDITIONAL_CORS_ORIGINS",
        "IGNORE_PERMISSIONS",
    ):
        assert name not in env


def test_workers_default_to_two_and_zero_is_refused(ctx):
    default = ctx.run(ctx.on.config_changed(), ready_state())
    explicit = ctx.run(ctx.on.config_changed(), ready_state(config={"workers": 3}))
    zero = ctx.run(ctx.on.config_changed(), ready_state(config={"workers": 0}))

    assert "--workers 2 " in default.get_container("api").plan.services[SERVICE].command
    assert "--workers 3 " in explicit.get_container("api").plan.services[SERVICE].command
    assert isinstance(default.unit_status, testing.ActiveStatus)
    # "One per CPU" would make the connection budget unknowable.
    assert zero.unit_status == testing.BlockedStatus(
        "invalid config option 'workers': must be between 1 and 32: fix it with `juju config`"
    )


def test_changing_an_option_changes_only_the_plan_and_keeps_the_schema_untouched(ctx):
    first = ctx.run(ctx.on.config_changed(), ready_state())
    commands_before = exec_commands(ctx)

    out = ctx.run(
        ctx.on.config_changed(), testing.State(**{**_fields(first), "config": {"workers": 3}})
    )

    assert "--workers 3" in out.get_container("api").plan.services[SERVICE].command
    # The second hook found the database at this code's head: no migration ran again, and
    # the environment did not change, so the settings were not checked again either.
    assert exec_commands(ctx)[len(commands_before) :] == [
        ["test-observer", "db", "current", "--json"]
    ]


def _fields(state: testing.State) -> dict[str, object]:
    return {
        "leader": state.leader,
        "containers": state.containers,
        "relations": state.relations,
        "secrets": state.secrets,
        "config": state.config,
    }


class TestSessionsSecretOption:
    def test_a_granted_user_secret_is_used(self, ctx):
        user_secret = testing.Secret({"value": "operator-chosen-key"})
        state = ready_state(config={"sessions-secret": user_secret.id}, secrets=[user_secret])

        out = ctx.run(ctx.on.config_changed(), state)

        env = out.get_container("api").plan.services[SERVICE].environment
        assert env["SESSIONS_SECRET"] == "operator-chosen-key"

    def test_rotating_the_user_secret_reaches_the_service(self, ctx):
        user_secret = testing.Secret({"value": "old-key"}, latest_content={"value": "new-key"})
        state = ready_state(config={"sessions-secret": user_secret.id}, secrets=[user_secret])

        out = ctx.run(ctx.on.secret_changed(user_secret), state)

        env = out.get_container("api").plan.services[SERVICE].environment
        assert env["SESSIONS_SECRET"] == "new-key"

    def test_an_unknown_secret_blocks_naming_the_option(self, ctx):
        never_granted = testing.Secret({"value": "x"})
        state = ready_state(config={"sessions-secret": never_granted.id})

        out = ctx.run(ctx.on.config_changed(), state)

        assert isinstance(out.unit_status, testing.BlockedStatus)
        assert "'sessions-secret'" in out.unit_status.message
        assert "grant-secret" in out.unit_status.message

    def test_a_secret_without_the_value_key_blocks(self, ctx):
        user_secret = testing.Secret({"key": "x"})
        state = ready_state(config={"sessions-secret": user_secret.id}, secrets=[user_secret])

        out = ctx.run(ctx.on.config_changed(), state)

        assert out.unit_status == testing.BlockedStatus(
            "invalid config option 'sessions-secret': the secret has no 'value' key: "
            "fix it with `juju config`"
        )

    def test_leader_generates_a_secret_and_shares_it_through_peer_data(self, ctx):
        state = ready_state()
        state = testing.State(
            **{
                **_fields(state),
                "relations": {
                    r
                    if r.endpoint != "test-observer-peers"
                    else testing.PeerRelation("test-observer-peers")
                    for r in state.relations
                },
                "secrets": {s for s in state.secrets if s.label != "sessions-secret"},
            }
        )

        out = ctx.run(ctx.on.leader_elected(), state)

        (peer,) = [r for r in out.relations if r.endpoint == "test-observer-peers"]
        secret_id = peer.local_app_data["sessions-secret-id"]
        generated = out.get_secret(id=secret_id)
        assert generated.owner == "app"
        value = generated.tracked_content["value"]
        assert len(value) >= 40
        env = out.get_container("api").plan.services[SERVICE].environment
        assert env["SESSIONS_SECRET"] == value

    def test_non_leader_waits_for_the_generated_secret(self, ctx):
        state = ready_state(leader=False)
        state = testing.State(
            **{
                **_fields(state),
                "relations": {
                    r
                    if r.endpoint != "test-observer-peers"
                    else testing.PeerRelation("test-observer-peers")
                    for r in state.relations
                },
            }
        )

        out = ctx.run(ctx.on.config_changed(), state)

        assert out.unit_status == testing.WaitingStatus(
            "waiting for the leader to generate the application's secrets"
        )
        assert SERVICE not in out.get_container("api").plan.services


@pytest.mark.parametrize(
    ("raw", "origin"),
    [
        ("https://Example.com", "https://example.com"),
        ("http://example.com:8080/", "http://example.com:8080"),
        ("http://[::1]:3000", "http://[::1]:3000"),
    ],
)
def test_origins_are_normalised(raw, origin):
    assert CharmConfig.from_options({"cors-origins": raw}).cors_origins == (origin,)


def test_error_names_the_option():
    with pytest.raises(InvalidConfigError) as error:
        CharmConfig.from_options({"workers": True})
    assert error.value.option == "workers"


def test_invalid_option_does_not_keep_old_code_serving_against_a_newer_schema(ctx):
    secret = db_secret()
    relation = db_relation(secret)
    state = ready_state(
        leader=False,
        config={"workers": -1},
        relation=relation,
        secret=secret,
        container=api_container(heads=OLD, db_revision=HEAD, known=False, running=True),
        gate_data=gate(HEAD, relation),
    )

    out = ctx.run(ctx.on.config_changed(), state)

    assert out.get_container("api").service_statuses[SERVICE].value == "inactive"
    assert "'workers'" in out.unit_status.message


def test_invalid_option_without_a_database_stops_the_api(ctx):
    secret = db_secret()
    relation = db_relation(secret)
    state = ready_state(
        config={"workers": -1},
        relation=relation,
        secret=secret,
        container=api_container(running=True),
        gate_data=gate(HEAD, relation),
    )

    out = ctx.run(ctx.on.relation_broken(relation), state)

    assert out.get_container("api").service_statuses[SERVICE].value == "inactive"


def _rejecting(variable: str, value: str) -> testing.Exec:
    report = {
        "valid": False,
        "problems": [{"variable": variable, "input": value, "message": "Input should be ..."}],
        "version": None,
    }
    return cli(
        "settings",
        "check",
        "--json",
        stdout=json.dumps(report) + "\n",
        stderr=f"Error: invalid configuration: {variable}: Input should be ...\n",
        rc=1,
    )


def test_a_permission_the_api_does_not_know_blocks_and_the_old_plan_stays(ctx):
    # view_tests looks like a permission name; only the API's own list can tell it is not one.
    secret = db_secret()
    relation = db_relation(secret)
    container = api_container(running=True, execs=[_rejecting("IGNORE_PERMISSIONS", "view_tests")])
    state = ready_state(
        config={"ignore-permissions": "view_test,view_tests"},
        relation=relation,
        secret=secret,
        container=container,
        gate_data=gate(HEAD, relation),
    )

    out = ctx.run(ctx.on.config_changed(), state)

    assert out.unit_status == testing.BlockedStatus(
        "invalid config option 'ignore-permissions': the API rejects 'view_tests'; fix it "
        "with `juju config`"
    )
    check = next(e for e in ctx.exec_history["api"] if "settings" in e.command)
    assert check.environment["IGNORE_PERMISSIONS"] == "view_test,view_tests"
    service = out.get_container("api").plan.services[SERVICE]
    assert "IGNORE_PERMISSIONS" not in service.environment
    assert out.get_container("api").service_statuses[SERVICE].value == "active"


def test_a_variable_without_an_option_is_named_as_such(ctx):
    container = api_container(execs=[_rejecting("DB_URL", "postgresql://x")])

    out = ctx.run(ctx.on.config_changed(), ready_state(container=container))

    assert out.unit_status == testing.BlockedStatus("the API rejects DB_URL: Input should be ...")
    assert out.get_container("api").service_statuses.get(SERVICE) != "active"


def test_a_settings_check_that_cannot_run_blocks(ctx):
    container = api_container(
        execs=[cli("settings", "check", "--json", rc=127, stderr="No such command 'settings'.")]
    )

    out = ctx.run(ctx.on.config_changed(), ready_state(container=container))

    assert out.unit_status == testing.BlockedStatus(
        "cannot check the API's settings: No such command 'settings'."
    )
    assert SERVICE not in out.get_container("api").plan.services
