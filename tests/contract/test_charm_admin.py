"""The admin actions' rendered commands work against a real, migrated database."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.charm.states import make_context

from .charm_workload import (
    ScratchDatabase,
    cli_path,
    create_scratch_database,
    psycopg_conninfo,
    retarget,
    run,
)
from .test_charm_workload import charm_state


@pytest.fixture
def migrated() -> Iterator[tuple[ScratchDatabase, str]]:
    """A scratch database at the code's head, and that head."""
    for database in create_scratch_database():
        heads = run([cli_path(), "db", "heads"], {})
        head = heads.stdout.split()[0]
        ctx = make_context()
        ctx.run(ctx.on.update_status(), charm_state(database, head=head, current="base"))
        ((command, env),) = [
            (list(e.command), dict(e.environment))
            for e in ctx.exec_history["api"]
            if list(e.command)[1:3] == ["db", "upgrade"]
        ]
        assert run(command, retarget(env, database)).returncode == 0
        yield database, head


def _run_action(
    database: ScratchDatabase, head: str, action: str, params: dict
) -> tuple[list[str], dict[str, str]]:
    ctx = make_context()
    ctx.run(
        ctx.on.action(action, params=params),
        charm_state(database, head=head, current=head, gate_revision=head),
    )
    (item,) = [e for e in ctx.exec_history["api"] if list(e.command)[1:2] == ["admin"]]
    return list(item.command), retarget(dict(item.environment), database)


def test_create_application_prints_a_key_that_is_stored(migrated):
    database, head = migrated
    command, env = _run_action(
        database,
        head,
        "create-application",
        {"name": "-jenkins", "permissions": "change_test,view_test"},
    )

    created = run(command, env)

    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("to_")
    with psycopg.connect(psycopg_conninfo(env["DB_URL"])) as conn:
        row = conn.execute("SELECT name FROM application").fetchone()
    assert row == ("-jenkins",)


def test_create_application_with_all_permissions(migrated):
    database, head = migrated
    command, env = _run_action(
        database, head, "create-application", {"name": "ci", "all-permissions": True}
    )

    assert run(command, env).returncode == 0


def test_promote_an_unknown_user_fails_with_a_reason(migrated):
    database, head = migrated
    command, env = _run_action(
        database, head, "promote-user-to-admin", {"email": "nobody@example.com"}
    )

    failed = run(command, env)

    assert failed.returncode != 0
    assert "nobody@example.com" in failed.stderr.strip().splitlines()[-1]


def test_promote_an_existing_user(migrated):
    database, head = migrated
    env_only = _run_action(database, head, "promote-user-to-admin", {"email": "ada@example.com"})[1]
    assert run([cli_path(), "admin", "add-user", "ada@example.com"], env_only).returncode == 0
    command, env = _run_action(
        database, head, "promote-user-to-admin", {"email": "ada@example.com"}
    )

    promoted = run(command, env)

    assert promoted.returncode == 0, promoted.stderr
    with psycopg.connect(psycopg_conninfo(env["DB_URL"])) as conn:
        assert conn.execute(
            "SELECT is_admin FROM app_user WHERE email = 'ada@example.com'"
        ).fetchone() == (True,)
