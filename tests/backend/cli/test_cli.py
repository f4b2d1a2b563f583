"""The `test-observer` command.

What a command does (its output, exit status, messages, effect on the database) is checked
with the command run inside the test process (`tests.backend.command_line`). Real processes
remain where the process is the subject: the entry point of each command group, serving,
signals, crashes, the embedded database, and two migrators racing for the migration lock."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from test_observer.db import migrate
from tests.backend.command_line import Completed, run_command
from tests.database import scratch_database

COMMAND = [sys.executable, "-m", "test_observer"]


def run_process(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **(env or {})}
    return subprocess.run(
        [*COMMAND, *args], capture_output=True, text=True, env=environment, timeout=120
    )


def run(*args: str, env: dict[str, str] | None = None) -> Completed:
    return run_command(*args, env=env)


@pytest.mark.parametrize(
    "group",
    [[], ["admin"], ["db"], ["db", "embedded"], ["jobs"], ["settings"], ["signatures"]],
)
def test_every_command_group_answers_help_as_a_process(group: list[str]) -> None:
    """The installed entry point reaches every group (the other tests run commands in-process)."""
    result = run_process(*group, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout
    assert "Commands" in result.stdout


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["openapi"],
        ["db"],
        ["db", "upgrade"],
        ["db", "downgrade"],
        ["db", "current"],
        ["db", "heads"],
        ["db", "check"],
        ["db", "revision"],
        ["settings"],
        ["settings", "check"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_serve_help_lists_its_options() -> None:
    help_text = run("serve", "--help").stdout
    for option in ("--host", "--port", "--workers", "--reload", "--no-migrate", "--log-level"):
        assert option in help_text


def test_heads_needs_no_database() -> None:
    result = run("db", "heads", env={"DB_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert result.returncode == 0
    assert result.stdout.split() == migrate.heads()


def test_upgrade_current_and_downgrade(database_server: str) -> None:
    with scratch_database(database_server, "cli") as url:
        env = {"DB_URL": url}
        assert run("db", "current", env=env).stdout.strip() == "base"

        upgraded = run("db", "upgrade", env=env)
        assert upgraded.returncode == 0, upgraded.stderr
        assert "Running upgrade" in upgraded.stderr  # progress is shown
        assert run("db", "current", env=env).stdout.split() == migrate.heads()
        assert run("db", "check", env=env).returncode == 0

        relative = run("db", "downgrade", "-1", env=env)
        assert relative.returncode == 0, relative.stderr
        assert run("db", "current", env=env).stdout.split() != migrate.heads()
        assert run("db", "upgrade", env=env).returncode == 0

        downgraded = run("db", "downgrade", "base", env=env)
        assert downgraded.returncode == 0, downgraded.stderr
        assert run("db", "current", env=env).stdout.strip() == "base"


def test_failures_exit_non_zero_with_one_line_reason(database_server: str) -> None:
    with scratch_database(database_server, "cli") as url:
        bad_revision = run("db", "downgrade", "no-such-revision", env={"DB_URL": url})
        assert bad_revision.returncode == 1
        assert bad_revision.stderr.strip().splitlines()[-1].startswith("Error: Downgrade")

    unreachable = run("db", "current", env={"DB_URL": "postgresql://x@127.0.0.1:1/none"})
    assert unreachable.returncode == 1
    assert "Error: Cannot reach the database (check DB_URL)" in unreachable.stderr

    bad_setting = run("db", "current", env={"DB_URL": "mysql://root@localhost/x"})
    assert bad_setting.returncode == 1
    assert "DB_URL" in bad_setting.stderr


def test_openapi_prints_the_document() -> None:
    result = run("openapi")
    assert result.returncode == 0
    document = json.loads(result.stdout)
    assert document["info"]["title"] == "Test Observer"
    assert "/v1/version" in document["paths"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(env: dict[str, str], *extra: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [*COMMAND, "serve", "--port", str(port), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready in 60 s"
            time.sleep(0.3)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        # As long as `stop_with` allows: stopping includes the embedded database's shutdown,
        # which took over 30 s once with every test worker busy.
        process.wait(timeout=60)


def embedded_sql(data_dir: Path, statement: str) -> str:
    """Run SQL on the embedded server of `data_dir` from a separate, short-lived process."""
    script = (
        "import sys, pgserver\n"
        "server = pgserver.get_server(sys.argv[1], cleanup_mode='stop')\n"
        "print(server.psql(sys.argv[2]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(data_dir), statement],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout


def test_serve_without_database_uses_a_persistent_embedded_one(
    embedded_env: tuple[dict[str, str], Path],
) -> None:
    env, data_dir = embedded_env

    with serving(env) as base:
        assert httpx.get(f"{base}/v1/version").status_code == 200
        embedded_sql(data_dir, "INSERT INTO test_plan (name) VALUES ('kept across restarts')")

    with serving(env, "--no-migrate") as base:
        assert httpx.get(f"{base}/health/ready").json() == {"status": "ready"}
        assert "kept across restarts" in embedded_sql(data_dir, "SELECT name FROM test_plan")


def postgres_processes(data_dir: Path) -> list[int]:
    """PIDs of postgres servers running on `data_dir`."""
    import psutil

    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and str(data_dir.resolve()) in cmdline:
            found.append(process.pid)
    return found


def start_serving(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with log.open("ab") as output:
        process = subprocess.Popen(
            [*COMMAND, "serve", "--port", str(port)], env=env, stdout=output, stderr=output
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not become ready in 90 s"
        time.sleep(0.3)


def crash(process: subprocess.Popen[bytes]) -> None:
    """Kill `serve` together with its database watchdog, as a crash of the whole process
    group (or the machine's OOM killer) would: only then is the embedded database left
    running with nobody to stop it (test_serve_processes checks the watchdog itself)."""
    import psutil

    for child in psutil.Process(process.pid).children():
        if "test_observer.serving.supervision" in child.cmdline():
            child.kill()
    process.kill()
    process.wait(timeout=30)


def stop_with(process: subprocess.Popen[bytes], sig: signal.Signals) -> int:
    process.send_signal(sig)
    return process.wait(timeout=60)


@pytest.fixture
def embedded_env() -> Iterator[tuple[dict[str, str], Path]]:
    pytest.importorskip("pgserver", reason="the embedded-db dependency group is not installed")
    # Not under pytest's temporary root: pytest makes it private (0700) at every start, and
    # as root the embedded server runs as another user, which must reach its data.
    parent = Path(tempfile.mkdtemp(prefix="test-observer-embedded-"))
    parent.chmod(0o755)
    data_dir = parent / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "XDG_RUNTIME_DIR")}
    env["TEST_OBSERVER_DATA_DIR"] = str(data_dir)
    yield env, data_dir
    # Whatever happened in the test, leave no server behind.
    run_process("db", "embedded", "stop", "--force", env=env)
    shutil.rmtree(parent, ignore_errors=True)


def test_a_killed_server_leaves_no_postgres_once_the_next_run_stops(
    embedded_env: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    env, data_dir = embedded_env
    log = tmp_path / "serve.log"

    crashed, _ = start_serving(env, log)
    crash(crashed)
    (orphan,) = postgres_processes(data_dir)
    status = run_process("db", "embedded", "status", env=env)
    assert "no process using it" in status.stdout

    again, base = start_serving(env, log)
    assert httpx.get(f"{base}/v1/version").status_code == 200
    assert postgres_processes(data_dir) == [orphan]  # taken over, not a second server
    assert stop_with(again, signal.SIGINT) == 0
    assert postgres_processes(data_dir) == []
    output = log.read_text()
    assert "left running by an earlier run" in output
    # Quiet and truthful: migrations are announced once, when there were some to apply, and
    # the missing XDG_RUNTIME_DIR draws no warning.
    assert output.count("Applying ") == 1
    assert re.search(r"Applying \d+ migrations?\n", output)
    assert "Warning" not in output

    # SIGTERM (how service managers stop a process) cleans up too.
    terminated, _ = start_serving(env, log)
    stop_with(terminated, signal.SIGTERM)
    assert postgres_processes(data_dir) == []
    assert (
        run_process("db", "embedded", "status", env=env).stdout.splitlines()[-1] == "State: stopped"
    )


def test_embedded_stop_and_reset_recover_from_a_crash(
    embedded_env: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    env, data_dir = embedded_env
    crashed, _ = start_serving(env, tmp_path / "serve.log")
    crash(crashed)
    assert postgres_processes(data_dir)

    refused = run_process("db", "embedded", "reset", env=env)
    assert refused.returncode == 1
    assert "--yes" in refused.stderr
    stopped = run_process("db", "embedded", "stop", env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert postgres_processes(data_dir) == []
    assert "not running" in run_process("db", "embedded", "stop", env=env).stderr

    reset = run_process("db", "embedded", "reset", "--yes", env=env)
    assert reset.returncode == 0, reset.stderr
    assert not data_dir.exists()
    assert "not created yet" in run_process("db", "embedded", "status", env=env).stdout


def test_serve_refuses_a_taken_port_before_announcing_it(database_server: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_process("serve", "--port", str(port), env={"DB_URL": database_server})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: Port {port} on 127.0.0.1 is not available (Address already in use): another "
        "server may be running; stop it or choose another with --port"
    ]


def test_version_option_prints_the_package_version() -> None:
    from test_observer.version import installed_version

    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == installed_version()


def _create_conflicting_index(url: str) -> None:
    """Make revision 0003 fail: an object it creates already exists."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text("CREATE INDEX test_result_test_case_id_created_at_id_ix ON test_result (id)")
        )
    engine.dispose()


def test_a_failed_upgrade_reports_the_revision_it_really_reached(database_server: str) -> None:
    with scratch_database(database_server, "cli") as url:
        env = {"DB_URL": url}
        assert run("db", "upgrade", "0001", env=env).returncode == 0
        _create_conflicting_index(url)

        result = run("db", "upgrade", "--json", env=env)

        assert result.returncode == 1
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("Error: Upgrade to head failed")
        assert "already exists" in last
        report = json.loads(result.stdout)
        # 0002 committed on its own before 0003 failed: the database is between the two.
        assert report["current"] == ["0002"]
        assert report["heads"] == migrate.heads()
        assert report["at_head"] is False
        assert report["known"] is True
        assert report["error"].startswith("Upgrade to head failed")


def test_current_json_tells_a_revision_this_code_does_not_know(database_server: str) -> None:
    from sqlalchemy import create_engine, text

    with scratch_database(database_server, "cli") as url:
        env = {"DB_URL": url}
        assert json.loads(run("db", "current", "--json", env=env).stdout)["current"] == []
        assert run("db", "upgrade", env=env).returncode == 0
        at_head = json.loads(run("db", "current", "--json", env=env).stdout)
        assert at_head["at_head"] is True
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'f00dcafe'"))
        engine.dispose()

        newer = json.loads(run("db", "current", "--json", env=env).stdout)

        assert newer == {
            "current": ["f00dcafe"],
            "heads": migrate.heads(),
            "at_head": False,
            "known": False,
            "error": None,
        }


def test_concurrent_upgrades_are_serialised(database_server: str) -> None:
    with scratch_database(database_server, "cli") as url:
        env = {**os.environ, "DB_URL": url}
        # Without the lock both processes would create the same tables and one would fail.
        processes = [
            subprocess.Popen(
                [*COMMAND, "db", "upgrade"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=120) for p in processes]

        assert [p.returncode for p in processes] == [0, 0], outputs
        assert migrate.current(url) == migrate.heads()


def waits_for_the_migration_lock(url: str) -> bool:
    """Whether a session of the database at `url` is queued for the migration lock."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return bool(
                connection.scalar(
                    text(
                        "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' "
                        "AND NOT granted AND objid::text::bigint = :key "
                        "AND database = (SELECT oid FROM pg_database "
                        "WHERE datname = current_database()))"
                    ),
                    {"key": migrate.MIGRATION_LOCK_KEY},
                )
            )
    finally:
        engine.dispose()


def test_the_migration_lock_makes_a_second_migrator_wait(database_server: str) -> None:
    with scratch_database(database_server, "cli") as url:
        env = {**os.environ, "DB_URL": url}
        with migrate.migration_lock(url):
            waiting = subprocess.Popen(
                [*COMMAND, "db", "upgrade"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            # Until the second migrator queues behind the lock (or, wrongly, gets past it).
            deadline = time.monotonic() + 60
            stderr = ""
            while time.monotonic() < deadline and waiting.poll() is None:
                time.sleep(0.2)
                if migrate.current(url) != [] or waits_for_the_migration_lock(url):
                    break
            # While the lock is held, nothing was migrated.
            assert migrate.current(url) == []
            assert waiting.poll() is None
        _, stderr = waiting.communicate(timeout=120)
        assert waiting.returncode == 0
        assert "Waiting for another migration" in stderr
        assert migrate.current(url) == migrate.heads()


def test_settings_check_names_the_variable_and_the_rejected_input() -> None:
    bad = run("settings", "check", "--json", env={"IGNORE_PERMISSIONS": "view_test,view_tests"})

    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1].startswith("Error: Invalid configuration")
    report = json.loads(bad.stdout)
    assert report["valid"] is False
    assert [(p["variable"], p["input"]) for p in report["problems"]] == [
        ("IGNORE_PERMISSIONS", "view_tests")
    ]

    good = run("settings", "check", env={"IGNORE_PERMISSIONS": "view_test"})
    assert good.returncode == 0
    assert good.stdout.strip() == "Settings are valid."

    versioned = run("settings", "check", "--json", env={"VERSION_OVERRIDE": "9.9-test"})
    assert json.loads(versioned.stdout) == {"valid": True, "problems": [], "version": "9.9-test"}


def test_serve_offers_the_log_levels_of_the_settings() -> None:
    from typing import get_args

    from test_observer import settings
    from test_observer.cli import serve

    assert get_args(serve.LogLevel) == get_args(settings.LogLevel)


def test_help_imports_neither_the_app_nor_the_models() -> None:
    """`--help` of the command and of each group loads no more than the command line: each
    command imports what it needs when it runs (in a fresh interpreter, as a process starts)."""
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from test_observer.cli.main import app\n"
        "for group in ([], ['admin'], ['db'], ['db', 'embedded'], ['jobs'], ['settings'],\n"
        "              ['signatures'], ['serve'], ['seed'], ['import-original'], ['worker']):\n"
        "    result = CliRunner().invoke(app, [*group, '--help'])\n"
        "    assert result.exit_code == 0, (group, result.output)\n"
        "heavy = ('sqlalchemy', 'fastapi', 'starlette', 'alembic', 'psycopg',\n"
        "         'test_observer.app', 'test_observer.db', 'test_observer.settings')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
