"""The worker service and the run-job action the charm renders do jobs on a real database."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import psycopg
import pytest
from ops import testing
from test_observer_charm.workload import WORKER_SERVICE

from tests.charm.states import make_context

from .charm_workload import (
    RunningService,
    ScratchDatabase,
    cli_path,
    create_scratch_database,
    psycopg_conninfo,
    retarget,
    run,
)
from .test_charm_workload import charm_state

# No external service is reachable from the tests: point every job there at a closed port.
OFFLINE = dict.fromkeys(
    (
        "SNAPCRAFT_API_URL",
        "UBUNTU_ARCHIVE_URL",
        "UBUNTU_PORTS_URL",
        "KERNEL_SWM_STATUS_URL",
        "LAUNCHPAD_API_URL",
    ),
    "http://127.0.0.1:9",
)


@pytest.fixture
def database() -> Iterator[ScratchDatabase]:
    yield from create_scratch_database()


@pytest.fixture(scope="module")
def code_head() -> str:
    result = run([cli_path(), "db", "heads"], {})
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[0]


def expired_sessions(conninfo: str) -> int:
    with psycopg.connect(conninfo) as connection:
        row = connection.execute(
            "SELECT count(*) FROM user_session WHERE expires_at < timezone('utc', now())"
        ).fetchone()
    assert row is not None
    return int(row[0])


def add_expired_session(conninfo: str) -> None:
    with psycopg.connect(conninfo) as connection:
        connection.execute(
            "INSERT INTO app_user (email, name) VALUES ('a@example.com', 'A') "
            "ON CONFLICT DO NOTHING"
        )
        connection.execute(
            "INSERT INTO user_session (user_id, expires_at) "
            "SELECT id, timezone('utc', now()) - interval '1 hour' FROM app_user"
        )


def migrated_environment(
    database: ScratchDatabase, code_head: str, env: dict[str, str]
) -> dict[str, str]:
    env = retarget(env, database)
    migrated = run([cli_path(), "db", "upgrade"], env)
    assert migrated.returncode == 0, migrated.stderr
    return env


def succeeded_cleanings(conninfo: str) -> int:
    with psycopg.connect(conninfo) as connection:
        row = connection.execute(
            "SELECT count(*) FROM procrastinate_jobs "
            "WHERE task_name = 'clean-sessions' AND status = 'succeeded'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_rendered_worker_cleans_expired_sessions_on_its_schedule(database, code_head):
    ctx = make_context()
    state = charm_state(
        database,
        head=code_head,
        current=code_head,
        gate_revision=code_head,
        config={"clean-sessions-interval": 2},
    )

    out = ctx.run(ctx.on.config_changed(), state)

    worker = out.get_container("api").plan.services[WORKER_SERVICE]
    assert worker.environment["CLEAN_SESSIONS_INTERVAL_S"] == "2"
    env = migrated_environment(database, code_head, dict(worker.environment))
    conninfo = psycopg_conninfo(env["DB_URL"])
    add_expired_session(conninfo)
    process = RunningService(worker.command, {**env, **OFFLINE})
    try:
        # The job deletes the sessions, then the worker records it as done in a transaction
        # of its own: on a busy machine the second can come a while after the first.
        deadline = time.monotonic() + 90
        while (expired_sessions(conninfo) or not succeeded_cleanings(conninfo)) and (
            time.monotonic() < deadline
        ):
            assert process.process.poll() is None, "the worker exited"
            time.sleep(0.5)
        assert expired_sessions(conninfo) == 0
        assert succeeded_cleanings(conninfo) >= 1
    finally:
        process.stop()
    assert process.process.returncode == 0


def test_rendered_run_job_action_runs_the_job(database, code_head):
    ctx = make_context()
    state = charm_state(database, head=code_head, current=code_head, gate_revision=code_head)
    container = next(iter(state.containers))
    container = testing.Container(
        container.name,
        can_connect=True,
        execs={*container.execs, testing.Exec(["test-observer", "jobs"], stdout="{}\n")},
    )
    state = testing.State(
        leader=state.leader,
        config=state.config,
        relations=state.relations,
        secrets=state.secrets,
        containers={container},
    )

    ctx.run(ctx.on.action("run-job", params={"name": "clean-sessions"}), state)

    (item,) = [e for e in ctx.exec_history["api"] if list(e.command)[1:2] == ["jobs"]]
    assert list(item.command) == ["test-observer", "jobs", "run", "--", "clean-sessions"]
    env = migrated_environment(database, code_head, dict(item.environment))
    conninfo = psycopg_conninfo(env["DB_URL"])
    add_expired_session(conninfo)
    result = run(list(item.command), {**env, **OFFLINE})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"deleted": 1}
    assert expired_sessions(conninfo) == 0
