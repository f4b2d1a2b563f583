"""The `add-user` and `change-assignee` actions: the exact argv and environment the charm
execs, run against a real, migrated database (Launchpad faked at its HTTP edge)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.backend.jobs.fake_http import FakeService, Request, fake_service

from .charm_workload import ScratchDatabase, psycopg_conninfo, run
from .test_charm_admin import _run_action, migrated

__all__ = ["migrated"]  # the fixture, shared with the other admin actions' tests


@pytest.fixture
def launchpad() -> Iterator[FakeService]:
    def person(request: Request) -> tuple[int, object]:
        if "ada%40example.com" in request.query:
            return 200, {"name": "ada-l", "display_name": "Ada Lovelace"}
        return 200, None

    with fake_service() as service:
        service.on("/devel/people", person)
        yield service


def _query(env: dict[str, str], sql: str) -> list[tuple]:
    with psycopg.connect(psycopg_conninfo(env["DB_URL"])) as conn:
        return conn.execute(sql).fetchall()


def test_add_user_creates_the_launchpad_account_once(
    migrated: tuple[ScratchDatabase, str], launchpad: FakeService
) -> None:
    database, head = migrated
    command, env = _run_action(database, head, "add-user", {"launchpad-email": "ada@example.com"})
    # The one change to what the charm renders: Launchpad is the fake, not launchpad.net.
    env = {**env, "LAUNCHPAD_API_URL": f"{launchpad.url}/devel"}

    first = run(command, env)
    again = run(command, env)

    assert first.returncode == 0, first.stderr
    assert "Created user ada@example.com" in first.stderr
    assert again.returncode == 0, again.stderr
    assert again.stderr.strip().splitlines()[-1] == (
        "User with email ada@example.com already exists. Skipping creation."
    )
    assert _query(env, "SELECT email, name, launchpad_handle FROM app_user") == [
        ("ada@example.com", "Ada Lovelace", "ada-l")
    ]
    assert _query(env, "SELECT action, actor_kind, actor_name FROM audit_event") == [
        ("user.created", "system", "command line")
    ]


def test_add_user_unknown_to_launchpad_fails(
    migrated: tuple[ScratchDatabase, str], launchpad: FakeService
) -> None:
    database, head = migrated
    command, env = _run_action(database, head, "add-user", {"launchpad-email": "eve@example.com"})

    failed = run(command, {**env, "LAUNCHPAD_API_URL": f"{launchpad.url}/devel"})

    assert failed.returncode != 0
    assert failed.stderr.strip().splitlines()[-1] == "Error: Email not registered in launchpad"
    assert _query(env, "SELECT count(*) FROM app_user") == [(0,)]


def test_change_assignee_replaces_the_reviewers(migrated: tuple[ScratchDatabase, str]) -> None:
    database, head = migrated
    env = _run_action(database, head, "change-assignee", {"artefact-id": 1, "user-id": 1})[1]
    with psycopg.connect(psycopg_conninfo(env["DB_URL"])) as conn:
        ada, bob = (
            conn.execute(
                "INSERT INTO app_user (email, name) VALUES (%s, %s) RETURNING id", (email, name)
            ).fetchone()[0]
            for email, name in (("ada@example.com", "Ada"), ("bob@example.com", "Bob"))
        )
        artefact = conn.execute(
            "INSERT INTO artefact (name, version, family, stage, track, store, status)"
            " VALUES ('core22', '1', 'snap', 'beta', '22', 'ubuntu', 'UNDECIDED') RETURNING id"
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO artefact_reviewers_association (artefact_id, user_id, position)"
            " VALUES (%s, %s, 0)",
            (artefact, ada),
        )
    command, env = _run_action(
        database,
        head,
        "change-assignee",
        {"artefact-id": artefact, "reviewers": "bob@example.com,ada@example.com"},
    )

    changed = run(command, env)
    unknown = run([*command[:-3], "999999", *command[-2:]], env)

    assert changed.returncode == 0, changed.stderr
    assert _query(
        env,
        "SELECT user_id FROM artefact_reviewers_association ORDER BY position",
    ) == [(bob,), (ada,)]
    assert unknown.returncode != 0
    assert unknown.stderr.strip().splitlines()[-1] == "Error: Artefact with id 999999 not found"
