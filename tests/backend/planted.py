"""An artefact and its previous version with known differences, planted in several environments.

`plant` writes them straight into the database and returns what a comparison must find: for
each class, the (environment, test case) pairs it holds. Around them sit results that must not
count: a superseded execution, an older build, tests that pass on both sides, durations just
under the "slower" thresholds and another line's versions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    Environment,
    Issue,
    IssueSource,
    IssueTestResultAttachment,
    TestExecution,
    TestResultStatus,
)
from tests.backend.factories import (
    make_artefact,
    make_build,
    make_environment,
    make_execution,
    make_result,
)

P, F, S = TestResultStatus.PASSED, TestResultStatus.FAILED, TestResultStatus.SKIPPED
ENVIRONMENTS = ("e1", "e2", "e3", "e4")


@dataclass
class Planted:
    base: Artefact
    current: Artefact
    environments: dict[str, Environment]
    current_builds: list[ArtefactBuild]
    # Per class, the (environment name, test case) pairs the comparison must return.
    expected: dict[str, set[tuple[str, str]]]
    # Per side, execution id per (environment, plan).
    executions: dict[str, dict[tuple[str, str], TestExecution]] = field(default_factory=dict)
    issue: Issue | None = None


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def plant(session: Session) -> Planted:
    line = {"name": "core24", "track": "24", "store": "ubuntu", "stage": "beta"}
    start = _now() - timedelta(days=3)
    older = make_artefact(session, version="0", created_at=start - timedelta(days=1), **line)
    base = make_artefact(session, version="1", created_at=start, archived=True, **line)
    current = make_artefact(session, version="2", created_at=start + timedelta(days=1), **line)
    # Another line's newer version is never the base.
    make_artefact(session, version="9", created_at=start, **{**line, "track": "25"})

    environments = {name: make_environment(session, name) for name in ENVIRONMENTS}
    older_build = make_build(session, older)
    base_build = make_build(session, base)
    superseded_build = make_build(session, current, revision=1)
    current_build = make_build(session, current, revision=2)

    def execution(build: ArtefactBuild, env: str, plan: str = "smoke") -> TestExecution:
        return make_execution(session, build, environments[env], plan)

    # (base status, current status) per test case and environment; None: no result.
    planted: dict[str, dict[str, tuple[TestResultStatus | None, TestResultStatus | None]]] = {
        "steady": dict.fromkeys(ENVIRONMENTS, (P, P)),
        "reg": {"e1": (P, F), "e2": (P, F), "e3": (P, F)},
        "fix": {"e1": (F, P), "e2": (F, P)},
        "still": {"e2": (F, F), "e3": (F, F)},
        "added": {"e1": (None, F), "e3": (None, P)},
        "removed": {"e2": (P, None), "e4": (F, None)},
        "wobbly": {"e1": (P, F), "e3": (F, F), "e4": (P, P)},
        "skipped": {"e1": (S, F), "e2": (P, S)},
    }
    durations: dict[str, dict[str, tuple[float | None, float | None]]] = {
        "slow": {"e1": (1.0, 3.0), "e4": (2.0, 10.0)},
        # Not slower: under twice as long, under a second more, or no base duration.
        "almost": {"e1": (1.0, 1.9), "e2": (0.2, 0.5), "e3": (None, 5.0)},
    }

    # A flaky history in the window for "wobbly" in e1, e3 and e4, on the older version. In e4
    # it passes on both sides: a pair without a failure is not judged.
    for status in (P, F, P, F):
        for env in ("e1", "e3", "e4"):
            make_result(session, execution(older_build, env, f"history-{status}"), "wobbly", status)

    # A superseded base execution, whose failure must not count.
    ghost = execution(base_build, "e1")
    make_result(session, ghost, "reg", F)
    make_result(session, ghost, "steady", F)

    executions: dict[str, dict[tuple[str, str], TestExecution]] = {"base": {}, "current": {}}
    for env in ENVIRONMENTS:
        executions["base"][(env, "smoke")] = execution(base_build, env)
        # The superseded build ran too: it must not count.
        make_result(session, execution(superseded_build, env), "reg", F)
        executions["current"][(env, "smoke")] = execution(current_build, env)
    # A cell only the base ran, and one only the current version ran.
    executions["base"][("e4", "extra")] = execution(base_build, "e4", "extra")
    executions["current"][("e3", "extra")] = execution(current_build, "e3", "extra")
    make_result(session, executions["base"][("e4", "extra")], "x-old", P)
    make_result(session, executions["current"][("e3", "extra")], "x-new", F)

    results = {}
    for name, per_env in planted.items():
        for env, (before, after) in per_env.items():
            if before is not None:
                results[("base", env, name)] = make_result(
                    session, executions["base"][(env, "smoke")], name, before
                )
            if after is not None:
                results[("current", env, name)] = make_result(
                    session, executions["current"][(env, "smoke")], name, after
                )
    for name, per_env in durations.items():
        for env, (before, after) in per_env.items():
            make_result(session, executions["base"][(env, "smoke")], name, P, duration=before)
            make_result(session, executions["current"][(env, "smoke")], name, P, duration=after)

    issue = Issue(source=IssueSource.GITHUB, project="canonical/core", key="1", title="known")
    session.add(issue)
    session.flush()
    session.add(
        IssueTestResultAttachment(
            issue_id=issue.id, test_result_id=results[("base", "e2", "still")].id
        )
    )
    session.commit()

    expected = {
        "regression": {("e1", "reg"), ("e2", "reg"), ("e3", "reg"), ("e1", "wobbly")},
        "fixed": {("e1", "fix"), ("e2", "fix")},
        "still_failing": {("e2", "still"), ("e3", "still"), ("e3", "wobbly")},
        "new": {("e1", "added"), ("e3", "added"), ("e3", "x-new")},
        "gone": {("e2", "removed"), ("e4", "removed"), ("e4", "x-old")},
        "flaky": {("e1", "wobbly"), ("e3", "wobbly")},
        "slower": {("e1", "slow"), ("e4", "slow")},
    }
    return Planted(
        base=base,
        current=current,
        environments=environments,
        current_builds=[superseded_build, current_build],
        expected=expected,
        executions=executions,
        issue=issue,
    )
