"""The job worker: a second service on every unit, gated like the API; its options, the
GitHub App secret, and the run-job action."""

from __future__ import annotations

import pytest
from ops import pebble, testing
from test_observer_charm.workload import POD_GRACE_PERIOD_SECONDS

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

WORKER = "test-observer-worker"


def _state(*, leader=True, gate_revision=HEAD, container=None, **kwargs):
    secret = db_secret()
    relation = db_relation(secret)
    return ready_state(
        leader=leader,
        relation=relation,
        secret=secret,
        container=container or api_container(running=True),
        gate_data=gate(gate_revision, relation, target=HEAD) if gate_revision else {},
        **kwargs,
    )


@pytest.mark.parametrize("leader", [True, False])
def test_every_unit_runs_the_worker_once_the_schema_matches(ctx, leader):
    out = ctx.run(ctx.on.config_changed(), _state(leader=leader))

    container = out.get_container("api")
    worker = container.plan.services[WORKER]
    assert worker.command == "test-observer worker"
    assert worker.startup == "enabled"
    assert worker.user == "_daemon_"
    # Within the 30 s Juju gives a pod to stop, with room for Pebble's own kill after it.
    assert worker.kill_delay == "20s"
    assert int(worker.kill_delay.removesuffix("s")) < POD_GRACE_PERIOD_SECONDS - 5
    assert container.service_statuses[WORKER] == pebble.ServiceStatus.ACTIVE
    # Same database and settings as the API, plus the jobs' own defaults.
    api_env = container.plan.services[SERVICE].environment
    assert worker.environment["DB_URL"] == api_env["DB_URL"]
    assert worker.environment["ENABLE_ISSUE_SYNC"] == "false"


def test_the_worker_waits_with_the_api_while_the_schema_is_behind(ctx):
    # The database itself is behind the code, whatever the record says.
    state = _state(
        leader=False, gate_revision=OLD, container=api_container(running=True, db_revision=OLD)
    )

    out = ctx.run(ctx.on.config_changed(), state)

    container = out.get_container("api")
    assert container.plan.services[WORKER].startup == "disabled"
    assert container.service_statuses.get(WORKER) != pebble.ServiceStatus.ACTIVE


def test_options_reach_only_the_worker(ctx):
    config = {
        "enable-issue-sync": True,
        "promote-interval": 300,
        "sync-open-interval": 1800,
        "sync-old-closed-interval": 86400,
    }
    out = ctx.run(ctx.on.config_changed(), _state(config=config))

    plan = out.get_container("api").plan
    env = plan.services[WORKER].environment
    assert env["ENABLE_ISSUE_SYNC"] == "true"
    assert env["PROMOTE_INTERVAL_S"] == "300"
    assert env["SYNC_OPEN_INTERVAL_S"] == "1800"
    assert env["SYNC_OLD_CLOSED_INTERVAL_S"] == "86400"
    assert "PROMOTE_INTERVAL_S" not in plan.services[SERVICE].environment


def test_changing_an_interval_changes_the_worker_definition(ctx):
    first = ctx.run(ctx.on.config_changed(), _state())
    before = first.get_container("api").plan.services[WORKER].environment

    second = ctx.run(
        ctx.on.config_changed(),
        _state(container=first.get_container("api"), config={"kernel-swm-interval": 600}),
    )

    after = second.get_container("api").plan.services[WORKER].environment
    assert before.get("KERNEL_SWM_INTERVAL_S") == "300"
    assert after["KERNEL_SWM_INTERVAL_S"] == "600"


@pytest.mark.parametrize(
    ("option", "value"),
    [("promote-interval", 7), ("sync-open-interval", 5000), ("clean-sessions-interval", 0)],
)
def test_an_interval_the_queue_cannot_schedule_blocks_naming_the_option(ctx, option, value):
    out = ctx.run(ctx.on.config_changed(), _state(config={option: value}))

    assert isinstance(out.unit_status, testing.BlockedStatus)
    assert f"'{option}'" in out.unit_status.message


def test_github_app_secret_reaches_the_worker(ctx):
    key = "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n"
    github = testing.Secret({"app-id": "1234", "private-key": key})
    state = _state(config={"github-app-credentials": github.id}, secrets={github})

    out = ctx.run(ctx.on.config_changed(), state)

    plan = out.get_container("api").plan
    env = plan.services[WORKER].environment
    assert (env["GIT_APP_ID"], env["GIT_APP_PRIVATE_KEY"]) == ("1234", key)
    assert "GIT_APP_PRIVATE_KEY" not in plan.services[SERVICE].environment
    assert out.unit_status == testing.ActiveStatus()


@pytest.mark.parametrize(
    ("content", "reason"),
    [({"app-id": "1234"}, "app-id and private-key"), (None, "not found or not granted")],
)
def test_a_bad_github_secret_blocks(ctx, content, reason):
    if content is None:
        missing = testing.Secret({"app-id": "1"})  # never given to the model
        state = _state(config={"github-app-credentials": missing.id})
    else:
        github = testing.Secret(content)
        state = _state(config={"github-app-credentials": github.id}, secrets={github})

    out = ctx.run(ctx.on.config_changed(), state)

    assert isinstance(out.unit_status, testing.BlockedStatus)
    assert "github-app-credentials" in out.unit_status.message
    assert reason in out.unit_status.message


def test_run_job_runs_the_job_with_the_worker_environment(ctx):
    container = api_container(running=True, execs=[cli("jobs", stdout='{"deleted": 3}\n')])
    state = _state(container=container, config={"enable-issue-sync": True})

    ctx.run(ctx.on.action("run-job", params={"name": "sync-issues", "args": "high"}), state)

    item = ctx.exec_history["api"][-1]
    assert list(item.command) == ["test-observer", "jobs", "run", "--", "sync-issues", "high"]
    assert item.environment["ENABLE_ISSUE_SYNC"] == "true"
    assert ctx.action_results == {"job": "sync-issues", "summary": '{"deleted": 3}'}


def test_run_job_reports_the_jobs_failure(ctx):
    container = api_container(
        running=True,
        execs=[cli("jobs", stderr="Error: kernel-swm: GET x timed out\n", rc=1)],
    )

    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(
            ctx.on.action("run-job", params={"name": "kernel-swm"}), _state(container=container)
        )

    assert failure.value.message == "job kernel-swm failed: kernel-swm: GET x timed out"


def test_run_job_is_refused_while_the_schema_does_not_match(ctx):
    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(
            ctx.on.action("run-job", params={"name": "clean-sessions"}),
            _state(
                leader=False,
                gate_revision=OLD,
                container=api_container(running=True, db_revision=OLD),
            ),
        )

    assert "schema" in failure.value.message
    assert not any(c[1:2] == ["jobs"] for c in exec_commands(ctx))
