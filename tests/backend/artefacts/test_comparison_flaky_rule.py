"""The comparison's flaky class against the flaky-test list and against the rule written out.

The comparison decides "two flips" from the first and last run of each status instead of
ordering the runs; this checks, over every sequence of passes and failures of up to seven runs,
with runs at the same time (ordered by id) and runs out of the window or skipped, that a result
is flaky in the comparison exactly when the flaky-test list lists its test case.
"""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import TestCase, TestResult, TestResultStatus
from test_observer.flakiness import MIN_FLIPS, MIN_RUNS, WINDOW
from tests.backend.factories import make_artefact, make_build, make_environment, make_execution

P, F, S = TestResultStatus.PASSED, TestResultStatus.FAILED, TestResultStatus.SKIPPED


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _flips(statuses: list[TestResultStatus]) -> int:
    return sum(1 for before, after in itertools.pairwise(statuses) if before != after)


def test_flaky_class_is_the_flaky_lists_rule(db_session: Session, api: TestClient) -> None:
    draw = random.Random(20261207)
    line = {"name": "flaky-rule", "track": "1", "store": "ubuntu", "stage": "beta"}
    start = _now() - timedelta(days=10)
    older = make_artefact(db_session, version="0", created_at=start - timedelta(days=1), **line)
    base = make_artefact(db_session, version="1", created_at=start, **line)
    current = make_artefact(db_session, version="2", created_at=start + timedelta(days=1), **line)
    environment = make_environment(db_session, "flaky-rule-env")
    older_build = make_build(db_session, older)
    # The base ran none of the test cases: each current failure is new, and judged for flakiness.
    make_execution(db_session, make_build(db_session, base), environment)
    current_execution = make_execution(db_session, make_build(db_session, current), environment)
    # A run of the history per execution: a test case runs at most once in each.
    history = [
        make_execution(db_session, older_build, environment, f"history-{n}") for n in range(9)
    ]

    # Every sequence of one to six runs beside the current failure; a few days to place them
    # on, so that many runs share a time, written in a shuffled order so that ids do not
    # follow time; some with a skipped run or a run from before the window as well.
    sequences = [
        list(statuses)
        for length in range(1, 7)
        for statuses in itertools.product((P, F), repeat=length)
    ]
    days = [_now() - timedelta(days=d) for d in (3, 2, 1)]
    cases = [TestCase(name=f"rule-{n}", category="", template_id="") for n in range(len(sequences))]
    db_session.add_all(cases)
    db_session.flush()
    rows = []
    for case, statuses in zip(cases, sequences, strict=True):
        runs = [(status, draw.choice(days)) for status in statuses]
        if draw.random() < 0.3:
            runs.append((S, draw.choice(days)))
        if draw.random() < 0.3:
            runs.append((draw.choice((P, F)), _now() - WINDOW - timedelta(days=1)))
        draw.shuffle(runs)
        placed = list(zip(history, runs, strict=False))
        # The current version failed, at one of the same times: a pair that can be flaky.
        placed.append((current_execution, (F, draw.choice(days))))
        for execution, (status, at) in placed:
            rows.append(
                TestResult(
                    test_execution_id=execution.id,
                    environment_id=environment.id,
                    test_case_id=case.id,
                    status=status,
                    comment="",
                    io_log="",
                    created_at=at,
                )
            )
    db_session.add_all(rows)
    db_session.commit()

    # The rule written out: runs in the window ordered by time then id, flips counted.
    since = _now() - WINDOW
    runs_of: dict[int, list[TestResultStatus]] = {case.id: [] for case in cases}
    for test_case_id, status in db_session.execute(
        select(TestResult.test_case_id, TestResult.status)
        .where(
            TestResult.environment_id == environment.id,
            TestResult.status.in_((P, F)),
            TestResult.created_at >= since,
        )
        .order_by(TestResult.created_at, TestResult.id)
    ):
        runs_of[test_case_id].append(status)
    by_rule = {
        test_case_id
        for test_case_id, statuses in runs_of.items()
        if len(statuses) >= MIN_RUNS and _flips(statuses) >= MIN_FLIPS
    }
    # Both sides of the boundary are there: sequences that just miss and just meet the rule.
    assert 20 < len(by_rule) < len(cases) - 20

    listed = api.get(
        "/v1/test-cases/flaky", params={"environments": environment.name, "limit": 1000}
    ).json()
    assert {row["test_case_id"] for row in listed["test_cases"]} == by_rule

    body = api.get(
        f"/v1/artefacts/{current.id}/comparison", params={"classes": "flaky", "limit": 1000}
    ).json()
    assert body["base_artefact_id"] == base.id
    assert {row["test_case_id"] for row in body["results"]["flaky"]["results"]} == by_rule
    assert body["totals"]["flaky"] == len(by_rule)
