"""`test-observer jobs ...`: listing, argument errors and one-line failures."""

from __future__ import annotations

from typer.testing import CliRunner

from test_observer.cli.main import app as cli_app
from tests.backend.jobs.conftest import NOWHERE


def invoke(*args: str, **env: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli_app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_jobs_list_shows_schedules_from_the_settings() -> None:
    code, out, _ = invoke("jobs", "list", PROMOTE_INTERVAL_S="120", ENABLE_ISSUE_SYNC="true")
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert set(lines) == {
        "promote-artefacts",
        "sync-issues",
        "sync-issue",
        "kernel-swm",
        "deliver-webhook",
        "backfill-signatures",
        "clean-sessions",
        "prune-audit-events",
        "prune-webhook-events",
    }
    assert "on demand" in lines["deliver-webhook"]
    assert "every 120 s" in lines["promote-artefacts"]
    assert "every 3600 s (high)" in lines["sync-issues"]
    assert "on demand" in lines["sync-issue"]
    code, out, _ = invoke("jobs", "list", DISABLE_PERIODIC_TASKS="true")
    assert "every" not in out


def test_unknown_job_and_bad_arguments_fail_with_one_line(database_url: str) -> None:
    code, _, err = invoke("jobs", "run", "nope", DB_URL=database_url)
    assert code == 1
    assert err.strip().splitlines() == [
        "Error: No job named 'nope'; jobs: promote-artefacts, sync-issues, sync-issue, "
        "kernel-swm, deliver-webhook, backfill-signatures, clean-sessions, prune-audit-events, "
        "prune-webhook-events"
    ]
    code, _, err = invoke("jobs", "run", "sync-issue", DB_URL=database_url)
    assert code == 1
    assert err.strip().splitlines()[-1] == "Error: Job sync-issue failed: usage: sync-issue ID"
    code, _, err = invoke("jobs", "defer", "clean-sessions", "extra", DB_URL=database_url)
    assert code == 1
    assert "Usage: clean-sessions" in err


def test_a_failing_job_exits_non_zero_with_the_reason(database_url: str) -> None:
    code, out, err = invoke(
        "jobs", "run", "kernel-swm", DB_URL=database_url, KERNEL_SWM_STATUS_URL=NOWHERE
    )
    assert code == 1
    assert out == ""
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith("Error: Job kernel-swm failed: GET http://127.0.0.1:9")
    )


def test_bad_interval_is_refused_naming_the_variable() -> None:
    code, _, err = invoke("jobs", "list", PROMOTE_INTERVAL_S="7")
    assert code == 1
    assert "PROMOTE_INTERVAL_S" in err
    assert "does not divide a minute" in err
