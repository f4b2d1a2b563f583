"""The comparison's summaries of new, gone, slower, regression, fixed and still failing results
per pair of executions: used while neither execution's results changed, recounted at once when
either did, stored once however many comparisons run at the same time, and in a fixed number of
statements; and the pages of every class read from the cells that hold them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, select, text, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.artefacts.comparison import compare_artefacts
from test_observer.artefacts.schemas import COMPARISON_CLASSES, ComparisonResponse
from test_observer.db.models import (
    ComparisonSummary,
    TestCase,
    TestExecution,
    TestResult,
)
from tests.backend.artefacts.test_comparison import (
    compare,
    found,
    names_of,
    statements_of_a_comparison,
)
from tests.backend.factories import make_result
from tests.backend.planted import F, P, Planted, S

Counts = dict[tuple[str, str], dict[str, int]]


def cell_counts(body: dict[str, Any]) -> Counts:
    return {(c["environment"]["name"], c["test_plan"]): c["counts"] for c in body["cells"]}


def summaries(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ComparisonSummary)) or 0


def _result(session: Session, execution: TestExecution, name: str) -> Any:
    case = select(TestCase.id).where(TestCase.name == name).scalar_subquery()
    return (TestResult.test_execution_id == execution.id) & (TestResult.test_case_id == case)


def _side(planted: Planted, side: str, env: str) -> TestExecution:
    return planted.executions[side][(env, "smoke")]


# Each a write to one side of one cell after a first comparison, and what it changes there:
# (description, change, environment, class, difference, (environment, test case) listed or
# no longer listed in that class).
Change = Callable[[Session, Planted], None]


def _insert(side: str, env: str, name: str) -> Change:
    def change(session: Session, planted: Planted) -> None:
        make_result(session, _side(planted, side, env), name, P)

    return change


def _set(side: str, env: str, name: str, **values: Any) -> Change:
    """A change of columns (status, duration) of one result."""

    def change(session: Session, planted: Planted) -> None:
        session.execute(
            update(TestResult)
            .where(_result(session, _side(planted, side, env), name))
            .values(**values)
        )

    return change


def _delete(side: str, env: str, name: str) -> Change:
    def change(session: Session, planted: Planted) -> None:
        session.execute(delete(TestResult).where(_result(session, _side(planted, side, env), name)))

    return change


CHANGES = [
    ("insert now", _insert("current", "e1", "late"), "e1", "new", 1, "late"),
    ("insert in the base", _insert("base", "e2", "dropped"), "e2", "gone", 1, "dropped"),
    ("slower now", _set("current", "e1", "almost", duration=2.5), "e1", "slower", 1, "almost"),
    ("faster base", _set("base", "e4", "slow", duration=6.0), "e4", "slower", -1, "slow"),
    ("delete now", _delete("current", "e3", "added"), "e3", "new", -1, "added"),
    ("delete in the base", _delete("base", "e1", "steady"), "e1", "new", 1, "steady"),
    ("delete a gone one", _delete("base", "e2", "removed"), "e2", "gone", -1, "removed"),
    # A status changed on either side moves a pair into or out of a failure class.
    ("fails now", _set("current", "e1", "steady", status=F), "e1", "regression", 1, "steady"),
    ("passes now", _set("current", "e2", "reg", status=P), "e2", "regression", -1, "reg"),
    ("failed in the base", _set("base", "e4", "steady", status=F), "e4", "fixed", 1, "steady"),
    ("passed in the base", _set("base", "e1", "fix", status=P), "e1", "fixed", -1, "fix"),
    (
        "base skip failed",
        _set("base", "e1", "skipped", status=F),
        "e1",
        "still_failing",
        1,
        "skipped",
    ),
    ("skipped now", _set("current", "e3", "still", status=S), "e3", "still_failing", -1, "still"),
]


@pytest.mark.parametrize(
    ("change", "env", "name", "difference", "test_case"),
    [pytest.param(*rest, id=description) for description, *rest in CHANGES],
)
def test_a_change_on_either_side_is_reflected_at_once(
    api: TestClient,
    planted: Planted,
    db_session: Session,
    change: Change,
    env: str,
    name: str,
    difference: int,
    test_case: str,
) -> None:
    first = compare(api, planted.current.id)
    # The first comparison stored a summary per cell; the second reads them.
    assert summaries(db_session) == len(first["cells"]) == 6
    assert compare(api, planted.current.id) == first

    change(db_session, planted)
    db_session.commit()
    after = compare(api, planted.current.id)

    expected = cell_counts(first)
    expected[(env, "smoke")][name] += difference
    assert cell_counts(after) == expected
    assert after["totals"][name] == first["totals"][name] + difference
    listed = (env, test_case) in found(after, names_of(planted))[name]
    assert listed == (difference > 0)
    # The outdated summary was replaced, not joined by another.
    assert summaries(db_session) == 6


def _tamper(session: Session, execution: TestExecution, **counts: int) -> None:
    """Overwrite counts of the stored summaries of `execution`'s cell, leaving its results."""
    session.execute(
        update(ComparisonSummary)
        .where(ComparisonSummary.execution_id == execution.id)
        .values(**counts)
    )
    session.commit()


def test_a_stored_summary_is_what_the_next_comparison_reads(
    api: TestClient, planted: Planted, db_session: Session
) -> None:
    first = compare(api, planted.current.id)
    execution = _side(planted, "current", "e1")
    # Tampered with, the summary shows through while the results stay as they were...
    _tamper(db_session, execution, new_count=99)
    assert cell_counts(compare(api, planted.current.id))[("e1", "smoke")]["new"] == 99
    # ...and is recounted as soon as they change, even by a write that changes no count.
    _set("current", "e1", "steady", duration=1.0)(db_session, planted)
    db_session.commit()
    assert cell_counts(compare(api, planted.current.id)) == cell_counts(first)


@pytest.mark.parametrize("side", ["current", "base"])
def test_stored_failure_counts_are_read_until_a_status_changes_on_either_side(
    api: TestClient, planted: Planted, db_session: Session, side: str
) -> None:
    first = compare(api, planted.current.id)
    execution = _side(planted, "current", "e2")
    # Tampered with, the failure classes' counts show through (the failures are not counted
    # again), and so do their totals...
    _tamper(db_session, execution, regression_count=90, fixed_count=91, still_failing_count=92)
    tampered = compare(api, planted.current.id)
    e2 = cell_counts(tampered)[("e2", "smoke")]
    assert (e2["regression"], e2["fixed"], e2["still_failing"]) == (90, 91, 92)
    assert tampered["totals"]["regression"] == first["totals"]["regression"] - 1 + 90
    # ...until a status changes on either side of the cell, even to one no class counts (a
    # pair that passed and is now skipped, or the other way round).
    _set(side, "e2", "steady", status=S)(db_session, planted)
    db_session.commit()
    assert cell_counts(compare(api, planted.current.id)) == cell_counts(first)


@pytest.mark.parametrize("name", COMPARISON_CLASSES)
def test_a_page_of_any_class_reads_the_cells_that_hold_it(
    api: TestClient, planted: Planted, db_session: Session, name: str
) -> None:
    names = names_of(planted)
    # Once with no summary (counted by joining), then with them stored.
    for _ in range(2):
        whole = compare(api, planted.current.id, classes=name)["results"][name]
        pages = [
            compare(api, planted.current.id, classes=name, limit=1, offset=offset)["results"][name]
            for offset in range(whole["count"] + 1)
        ]
        assert {(names[r["environment_id"]], r["test_case"]) for r in whole["results"]} == (
            planted.expected[name]
        )
        # One result per page, in the order of the whole list, and nothing past its end.
        assert [page["results"] for page in pages[:-1]] == [[r] for r in whole["results"]]
        assert pages[-1]["results"] == []
        assert all(page["count"] == whole["count"] for page in pages)
        assert summaries(db_session) == 6


def test_a_write_that_changes_nothing_compared_keeps_the_version(
    planted: Planted, db_session: Session
) -> None:
    execution = _side(planted, "current", "e1")

    def version() -> int:
        db_session.expire_all()
        found = db_session.scalar(
            select(TestExecution.results_version).where(TestExecution.id == execution.id)
        )
        assert found is not None
        return found

    before = version()
    db_session.execute(
        update(TestResult)
        .where(TestResult.test_execution_id == execution.id)
        .values(comment="looked at")
    )
    db_session.commit()
    assert version() == before
    db_session.execute(
        update(TestResult)
        .where(TestResult.test_execution_id == execution.id)
        .values(status=TestResult.status)
    )
    db_session.commit()
    assert version() == before
    _set("current", "e1", "steady", duration=7.0)(db_session, planted)
    db_session.commit()
    assert version() == before + 1


def _waiting_for_a_lock(engine: Engine) -> bool:
    with engine.connect() as connection:
        return bool(
            connection.scalar(
                text(
                    "SELECT EXISTS (SELECT 1 FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database())"
                )
            )
        )


def _compare(session: Session, artefact_id: int) -> ComparisonResponse:
    return compare_artefacts(session, artefact_id, "previous", list(COMPARISON_CLASSES), 50, 0)


def test_a_first_comparison_waits_for_a_concurrent_one_and_stores_nothing_twice(
    engine: Engine, planted: Planted, db_session: Session
) -> None:
    found: dict[str, ComparisonResponse] = {}
    artefact_id = planted.current.id

    def second() -> None:
        with Session(engine) as session:
            found["second"] = _compare(session, artefact_id)
            session.commit()

    with Session(engine) as first:
        found["first"] = _compare(first, artefact_id)
        # The first has stored its summaries, not yet committed: the second, counting the
        # same pairs, waits for it on the unique index rather than failing or adding rows.
        thread = threading.Thread(target=second)
        thread.start()
        waited = False
        while thread.is_alive() and not waited:
            waited = _waiting_for_a_lock(engine)
            time.sleep(0.02)
        first.commit()
    thread.join()
    assert waited
    assert found["second"] == found["first"]
    assert summaries(db_session) == 6


def test_many_concurrent_comparisons_agree_and_store_one_summary_per_cell(
    engine: Engine, planted: Planted, db_session: Session
) -> None:
    artefact_id = planted.current.id
    with Session(engine) as session:
        expected = _compare(session, artefact_id)
        session.rollback()  # stores nothing: the four below are all first comparisons
    barrier = threading.Barrier(4)
    found: list[ComparisonResponse] = []
    errors: list[BaseException] = []

    def compare_once() -> None:
        try:
            with Session(engine) as session:
                barrier.wait()
                found.append(_compare(session, artefact_id))
                session.commit()
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=compare_once) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert found == [expected] * 4
    assert summaries(db_session) == 6


def test_statements_are_as_many_whether_summaries_are_stored_or_outdated(
    api: TestClient, planted: Planted, engine: Engine, db_session: Session
) -> None:
    def statements() -> int:
        return statements_of_a_comparison(api, engine, planted.current.id)

    first = statements()  # counts every cell and stores its summary
    stored = statements()  # reads the summaries
    for env in ("e1", "e2", "e3", "e4"):
        _insert("current", env, f"later-{env}")(db_session, planted)
        _insert("base", env, f"earlier-{env}")(db_session, planted)
    db_session.commit()
    outdated = statements()  # recounts the four cells changed
    assert first == stored == outdated
