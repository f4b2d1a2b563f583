"""The import-original action: leader only, the source URL from a secret into the environment,
the command's JSON report turned into results."""

from __future__ import annotations

import json

import pytest
from ops import testing

from .states import (
    HEAD,
    api_container,
    cli,
    db_relation,
    db_secret,
    exec_commands,
    gate,
    ready_state,
)

SOURCE_URL = "postgresql://reader:s3cret@original-db:5432/test_observer"

REPORT = {
    "dry-run": False,
    "tables": [
        {"table": "artefact", "source-rows": 5, "imported-rows": 5, "merged-rows": 0},
        {"table": "test_result", "source-rows": 107, "imported-rows": 100, "merged-rows": 7},
    ],
}


def _state(*, leader: bool = True, report: dict | None = None, rc: int = 0, stderr: str = ""):
    source = testing.Secret({"url": SOURCE_URL})
    secret = db_secret()
    relation = db_relation(secret)
    container = api_container(
        execs=[
            cli(
                "import-original",
                stdout=json.dumps(report or REPORT) if rc == 0 else "",
                stderr=stderr,
                rc=rc,
            )
        ],
        running=True,
    )
    state = ready_state(
        leader=leader,
        relation=relation,
        secret=secret,
        container=container,
        gate_data=gate(HEAD, relation),
        secrets=[source],
    )
    return state, source


def test_imports_with_the_url_only_in_the_environment(ctx):
    state, source = _state()

    ctx.run(ctx.on.action("import-original", params={"source-url": source.id}), state)

    (run,) = [e for e in ctx.exec_history["api"] if "import-original" in e.command]
    assert list(run.command) == ["test-observer", "import-original", "--json"]
    assert run.environment["ORIGINAL_DB_URL"] == SOURCE_URL
    assert run.environment["DB_URL"].startswith("postgresql://")
    assert ctx.action_results == {
        "dry-run": "false",
        "source-rows": 112,
        "imported-rows": 105,
        "merged": json.dumps({"test_result": 7}),
        "tables": json.dumps({"artefact": 5, "test_result": 100}),
    }
    assert SOURCE_URL not in json.dumps(ctx.action_results)


def test_dry_run_is_passed_on(ctx):
    state, source = _state(report={**REPORT, "dry-run": True})

    ctx.run(
        ctx.on.action("import-original", params={"source-url": source.id, "dry-run": True}),
        state,
    )

    assert ["test-observer", "import-original", "--json", "--dry-run"] in exec_commands(ctx)
    assert ctx.action_results["dry-run"] == "true"


def test_refused_on_a_non_leader(ctx):
    state, source = _state(leader=False)

    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("import-original", params={"source-url": source.id}), state)

    assert "leader" in failure.value.message
    assert not any("import-original" in c for c in exec_commands(ctx))


def test_an_unknown_secret_fails_with_what_to_do(ctx):
    state, _ = _state()

    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(
            ctx.on.action("import-original", params={"source-url": "secret:nosuchsecret0000000"}),
            state,
        )

    assert "juju grant-secret" in failure.value.message
    assert not any("import-original" in c for c in exec_commands(ctx))


def test_a_refused_import_fails_the_action_with_its_reason(ctx):
    reason = (
        "Error: The target database is not empty (rows in artefact): import into a new database"
    )
    state, source = _state(rc=1, stderr=reason)

    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("import-original", params={"source-url": source.id}), state)

    assert "The target database is not empty" in failure.value.message
