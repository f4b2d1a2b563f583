"""The Pebble service and action commands the charm renders work against a real database."""

from __future__ import annotations

import importlib.metadata
import json
import urllib.request
from collections.abc import Iterator

import psycopg
import pytest
from ops import testing
from test_observer_charm.migrations import SchemaReport
from test_observer_charm.workload import SERVICE

from tests.charm.states import (
    SETTINGS_OK,
    cli,
    make_context,
    metrics_token,
    schema_json,
    sessions_secret,
)

from .charm_workload import (
    RunningService,
    ScratchDatabase,
    cli_path,
    create_scratch_database,
    free_port,
    psycopg_conninfo,
    retarget,
    run,
)

DASHBOARD = "https://dashboards.example.com"


@pytest.fixture
def database() -> Iterator[ScratchDatabase]:
    yield from create_scratch_database()


@pytest.fixture(scope="module")
def code_head() -> str:
    result = run([cli_path(), "db", "heads"], {})
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[0]


def current_revision(env: dict[str, str]) -> str:
    result = run([cli_path(), "db", "current"], env)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[0]


def charm_state(
    database: ScratchDatabase,
    *,
    head: str,
    current: str,
    config: dict[str, str | int | bool] | None = None,
    gate_revision: str | None = None,
    endpoints: str | None = None,
    downgrade_to: str = "base",
) -> testing.State:
    """A leader related to the scratch database; the container's CLI answers with `head`."""
    credentials = testing.Secret({"username": database.user, "password": database.password})
    relation = testing.Relation(
        "database",
        remote_app_name="postgresql-k8s",
        remote_app_data={
            "endpoints": endpoints or database.endpoint,
            "database": "test_observer",
            "secret-user": credentials.id,
        },
    )
    session = sessions_secret()
    token = metrics_token()
    peer_data = {"sessions-secret-id": session.id, "metrics-token-id": token.id}
    if gate_revision:
        peer_data |= {
            "migration-revision": gate_revision,
            "migration-database": f"test_observer@relation-{relation.id}",
            "migration-status": "applied",
            "migration-target": head,
        }
    container = testing.Container(
        "api",
        can_connect=True,
        # The reports have the shape the real commands print (checked below against them).
        execs={
            cli("db", "current", "--json", stdout=schema_json(current, head)),
            cli("db", "upgrade", "--json", stdout=schema_json(head, head)),
            cli("db", "downgrade", "--json", stdout=schema_json(downgrade_to, head)),
            cli("settings", "check", "--json", stdout=SETTINGS_OK),
            testing.Exec(["test-observer", "admin"], stdout="to_rendered-only\n"),
        },
    )
    return testing.State(
        leader=True,
        config=config or {},
        relations={
            relation,
            testing.PeerRelation("test-observer-peers", local_app_data=peer_data),
        },
        secrets={credentials, session, token},
        containers={container},
    )


def rendered_commands(ctx: testing.Context, verb: str) -> list[tuple[list[str], dict[str, str]]]:
    return [
        (list(e.command), dict(e.environment))
        for e in ctx.exec_history["api"]
        if list(e.command)[1:3] == ["db", verb]
    ]


def test_rendered_migration_then_service_serve_the_configured_version_and_cors(database, code_head):
    ctx = make_context()
    port = free_port()
    config = {"port": port, "version": "9.9.9-contract", "cors-origins": DASHBOARD}
    state = charm_state(database, head=code_head, current="base", config=config)

    out = ctx.run(ctx.on.config_changed(), state)

    # The reconcile asked for exactly one migration; run it as rendered.
    ((command, env),) = rendered_commands(ctx, "upgrade")
    assert command == ["test-observer", "db", "upgrade", "--json", "--", "head"]
    env = retarget(env, database)
    migrated = run(command, env)
    assert migrated.returncode == 0, migrated.stderr
    assert current_revision(env) == code_head
    # The real report says what the charm was told it would say.
    assert SchemaReport.parse(migrated.stdout) == SchemaReport.parse(
        schema_json(code_head, code_head)
    )

    service = out.get_container("api").plan.services[SERVICE]
    service_env = retarget(service.environment, database)
    server = RunningService(service.command, service_env)
    try:
        checks = out.get_container("api").plan.checks
        server.wait_until_answering(checks["api-live"].http["url"])
        with urllib.request.urlopen(checks["api-ready"].http["url"], timeout=5) as response:
            assert response.status == 200

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/version", timeout=5) as response:
            assert json.load(response) == {"version": "9.9.9-contract"}

        preflight = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/version",
            method="OPTIONS",
            headers={"Origin": DASHBOARD, "Access-Control-Request-Method": "GET"},
        )
        with urllib.request.urlopen(preflight, timeout=5) as response:
            assert response.status == 200
            assert response.headers["Access-Control-Allow-Origin"] == DASHBOARD
            assert response.headers["Access-Control-Allow-Credentials"] == "true"

        stranger = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/version",
            method="OPTIONS",
            headers={
                "Origin": "https://elsewhere.example.com",
                "Access-Control-Request-Method": "GET",
            },
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(stranger, timeout=5)
        assert "Access-Control-Allow-Origin" not in refused.value.headers
    finally:
        server.stop()


def test_rendered_rollback_and_migrate_move_the_real_database(database, code_head):
    ctx = make_context()
    state = charm_state(database, head=code_head, current=code_head, gate_revision=code_head)

    # Bring the database to the head first, with the command the reconcile renders.
    ctx.run(ctx.on.update_status(), charm_state(database, head=code_head, current="base"))
    ((command, env),) = rendered_commands(ctx, "upgrade")
    env = retarget(env, database)
    assert run(command, env).returncode == 0
    assert current_revision(env) == code_head

    rollback_ctx = make_context()
    rollback_ctx.run(rollback_ctx.on.action("rollback", params={"revision": "-1"}), state)
    ((command, rollback_env),) = rendered_commands(rollback_ctx, "downgrade")
    assert command == ["test-observer", "db", "downgrade", "--json", "--", "-1"]
    rolled_back = run(command, retarget(rollback_env, database))
    assert rolled_back.returncode == 0, rolled_back.stderr
    after_rollback = current_revision(env)
    assert after_rollback != code_head
    report = SchemaReport.parse(rolled_back.stdout)
    assert report is not None
    assert report.revision == after_rollback
    assert not report.at_head

    migrate_ctx = make_context()
    migrate_ctx.run(
        migrate_ctx.on.action("migrate"),
        charm_state(database, head=code_head, current=after_rollback, gate_revision=after_rollback),
    )
    ((command, migrate_env),) = rendered_commands(migrate_ctx, "upgrade")
    assert command == ["test-observer", "db", "upgrade", "--json", "--", "head"]
    migrated = run(command, retarget(migrate_env, database))
    assert migrated.returncode == 0, migrated.stderr
    assert current_revision(env) == code_head


def test_rendered_migrate_to_a_named_revision(database, code_head):
    ctx = make_context()
    ctx.run(
        ctx.on.action("migrate", params={"revision": code_head}),
        charm_state(database, head=code_head, current="base", gate_revision="base"),
    )

    ((command, env),) = rendered_commands(ctx, "upgrade")
    assert command == ["test-observer", "db", "upgrade", "--json", "--", code_head]
    env = retarget(env, database)
    assert current_revision(env) == "base"
    migrated = run(command, env)
    assert migrated.returncode == 0, migrated.stderr
    assert current_revision(env) == code_head


def test_an_unknown_revision_fails_with_a_one_line_reason(database, code_head):
    ctx = make_context()
    ctx.run(
        ctx.on.action("migrate", params={"revision": "0000deadbeef"}),
        charm_state(database, head=code_head, current=code_head, gate_revision=code_head),
    )

    ((command, env),) = rendered_commands(ctx, "upgrade")
    failed = run(command, retarget(env, database))
    assert failed.returncode != 0
    assert "0000deadbeef" in failed.stderr.strip().splitlines()[-1]


def test_a_schema_from_newer_code_is_recognisable(database, code_head):
    """What the gate relies on to say "schema newer than code" instead of "migration failed"."""
    ctx = make_context()
    ctx.run(ctx.on.update_status(), charm_state(database, head=code_head, current="base"))
    ((command, env),) = rendered_commands(ctx, "upgrade")
    env = retarget(env, database)
    assert run(command, env).returncode == 0
    unknown = "ffffffffffff"
    with psycopg.connect(psycopg_conninfo(env["DB_URL"]), autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = %s", (unknown,))

    ((current, current_env),) = rendered_commands(ctx, "current")
    assert current == ["test-observer", "db", "current", "--json"]
    report = SchemaReport.parse(run(current, retarget(current_env, database)).stdout)
    assert report is not None
    assert report.current == (unknown,)
    assert report.known is False
    assert report.at_head is False


def test_the_settings_check_the_charm_renders_rejects_an_unknown_permission(database, code_head):
    ctx = make_context()
    ctx.run(
        ctx.on.config_changed(),
        charm_state(
            database,
            head=code_head,
            current=code_head,
            gate_revision=code_head,
            config={"ignore-permissions": "view_test,view_tests"},
        ),
    )

    ((command, env),) = [
        (list(e.command), dict(e.environment))
        for e in ctx.exec_history["api"]
        if list(e.command)[1:2] == ["settings"]
    ]
    checked = run(command, retarget(env, database))
    assert checked.returncode == 1
    report = json.loads(checked.stdout)
    assert [(p["variable"], p["input"]) for p in report["problems"]] == [
        ("IGNORE_PERMISSIONS", "view_tests")
    ]
    # ...and accepts what the charm renders from valid options.
    valid = run(command, {**retarget(env, database), "IGNORE_PERMISSIONS": "view_test"})
    assert valid.returncode == 0, valid.stderr
    assert json.loads(valid.stdout)["version"] == importlib.metadata.version("test-observer")


def test_several_endpoints_fall_through_to_one_that_answers(database, code_head):
    ctx = make_context()
    # Port 1 refuses connections: the rendered URL must go on to the next endpoint.
    endpoints = f"127.0.0.1:1,{database.endpoint}"
    ctx.run(
        ctx.on.update_status(),
        charm_state(database, head=code_head, current="base", endpoints=endpoints),
    )

    ((command, env),) = rendered_commands(ctx, "upgrade")
    env = retarget(env, database)
    assert "host=127.0.0.1:1&" in env["DB_URL"]
    migrated = run(command, env)
    assert migrated.returncode == 0, migrated.stderr
    assert current_revision(env) == code_head


def test_without_the_version_option_the_charm_reads_the_packaged_version(database, code_head):
    ctx = make_context()
    port = free_port()
    out = ctx.run(
        ctx.on.config_changed(),
        charm_state(database, head=code_head, current="base", config={"port": port}),
    )
    ((command, env),) = rendered_commands(ctx, "upgrade")
    env = retarget(env, database)
    assert run(command, env).returncode == 0

    service = out.get_container("api").plan.services[SERVICE]
    assert "VERSION_OVERRIDE" not in service.environment
    server = RunningService(service.command, retarget(service.environment, database))
    try:
        server.wait_until_answering(f"http://127.0.0.1:{port}/health/live")
        # The charm shows the settings check's version as the workload version; the server
        # reports the same one.
        ((check, check_env),) = [
            (list(e.command), dict(e.environment))
            for e in ctx.exec_history["api"]
            if list(e.command)[1:2] == ["settings"]
        ]
        shown = json.loads(run(check, retarget(check_env, database)).stdout)["version"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/version", timeout=5) as response:
            assert json.load(response) == {"version": shown}
        assert shown == importlib.metadata.version("test-observer")
    finally:
        server.stop()
