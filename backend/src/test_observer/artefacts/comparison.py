"""Comparing an artefact's results with those of a base artefact (by default its previous
version, see `previous.py`).

Both sides are read from their latest builds (see `queries.latest_builds`). A *cell* is an
(environment, test plan) pair that either side ran; each side contributes the latest
execution of the cell (creation time, then id), and the two executions' results are matched by
test case. A matched pair is in each class whose condition it meets:

* **regression**: PASSED in the base, FAILED now;
* **fixed**: FAILED in the base, PASSED now;
* **still_failing**: FAILED on both sides;
* **new**: a result now, none in the base's execution of the cell (or no such execution);
* **gone**: a result in the base, none now;
* **flaky**: FAILED on at least one side, and the test case is flaky in that environment by
  the flaky-test list's default rule (`flakiness.py`): a pair that passed on both sides needs
  no second look, and this keeps the work proportional to the failures;
* **slower**: both durations known, now at least twice the base's and at least one second
  more.

The first five are exclusive; flaky and slower come on top of them. A result SKIPPED on one
side and run on the other is only new or gone when the other side has no result at all.

Most results pass on both sides and are in no class, so the comparison avoids reading them:

* regression, fixed, still failing, new, gone and slower depend on the two executions of a
  cell only: their counts per pair of executions are kept in `comparison_summary`, stamped
  with both executions' `results_version`, which statement-level triggers on `test_result`
  bump in the writer's transaction (migration 0025). A summary is used only while both
  versions match; a cell without one is counted by joining its two executions' results, and
  the counts stored (an upsert, so that concurrent first comparisons store one row). A
  comparison is thus exact whatever was written before it;
* flaky depends on every run of the flaky-test list's window and on the time, so it is judged
  on every request, for the test cases that failed on either side of a cell only (each side's
  failed test cases read from the index of failed results on (execution, test case) alone,
  migration 0026, no lookup of the other side), once per environment and test case, from
  its runs' count and the first and last run of each status: no sort, no window function;
* a page of any class reads only the cells that hold it, found from the cells' counts in the
  order of the page: new, gone and slower by joining those cells' two executions; regression,
  fixed and still failing from one side's failures, each with the other side's result looked
  up through the unique index on (execution, test case); flaky from its failing test cases.

Everything is one statement per call, whatever the number of cells and results, plus one for
the issues of the listed results (`compared_results.py`), and the response is validated once
from plain dicts. On the planted release of docs/explanation/performance.md ("Two flips
without a window, and one JSON array per kind"), every class, the statement alone: p50 74 ms
at the default history and 90 ms at ten times; the request's p95 at one client 82 to 89 ms and
105 to 108 ms.

`cells_statement` and `failures_statement` give other set-based readers (readiness) the cells
and the failures of any number of (artefact, base) pairs at once (`failed_now`: each cell's
failures with the base's result of their test case).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

from test_observer.errors import UnprocessableError
from test_observer.flakiness import MIN_FLIPS, MIN_RUNS, WINDOW

from .compared_results import attached_issues, compared_result
from .previous import previous_artefact_id
from .schemas import (
    COMPARISON_CLASSES,
    ComparisonClass,
    ComparisonResponse,
)
from .service import get_artefact

# Each side's latest execution per (environment, test plan), on its latest builds, with its
# results version (see `ComparisonSummary`). The executions of the pair's two artefacts are
# read once each even if they appear in several pairs.
_CELLS = """
sides AS (
    SELECT artefact_id, base_id
    FROM unnest(CAST(:artefact_ids AS integer[]), CAST(:base_ids AS integer[]))
         AS s(artefact_id, base_id)
),
builds AS (
    SELECT DISTINCT ON (b.artefact_id, b.architecture) b.id, b.artefact_id
    FROM artefact_build b
    WHERE b.artefact_id IN (SELECT artefact_id FROM sides UNION SELECT base_id FROM sides)
    ORDER BY b.artefact_id, b.architecture, coalesce(b.revision, 0) DESC, b.id
),
latest AS (
    SELECT DISTINCT ON (builds.artefact_id, e.environment_id, e.test_plan_id)
           builds.artefact_id, e.environment_id, e.test_plan_id, e.id, e.results_version
    FROM builds JOIN test_execution e ON e.artefact_build_id = builds.id
    ORDER BY builds.artefact_id, e.environment_id, e.test_plan_id, e.created_at DESC, e.id DESC
),
cells AS (
    SELECT sides.artefact_id, sides.base_id, pair.*
    FROM sides
    CROSS JOIN LATERAL (
        SELECT coalesce(n.environment_id, b.environment_id) AS environment_id,
               coalesce(n.test_plan_id, b.test_plan_id) AS test_plan_id,
               n.id AS execution_id, b.id AS base_execution_id,
               coalesce(n.results_version, 0) AS execution_version,
               coalesce(b.results_version, 0) AS base_execution_version
        FROM (SELECT * FROM latest WHERE latest.artefact_id = sides.artefact_id) n
        FULL JOIN (SELECT * FROM latest WHERE latest.artefact_id = sides.base_id) b
             ON b.environment_id = n.environment_id AND b.test_plan_id = n.test_plan_id
    ) pair
)"""

# Each cell's failures, with the base's result of its test case looked up through the unique
# index on (execution, test case): every count readiness judges is about one of them. The
# failures are read from the partial index of failed and skipped results
# (`test_result_untriaged_ix`); the results that passed, the bulk of a release, are never read.
_PAIR = """{cells}.artefact_id, {cells}.base_id, {cells}.environment_id, {cells}.test_plan_id"""
_FAILED = f"""
failed_now AS (
    SELECT {_PAIR.format(cells="cells")}, r.test_case_id,
           r.id AS result_id, r.status, r.duration,
           base.id AS base_result_id, base.status AS base_status, base.duration AS base_duration
    FROM cells
    JOIN test_result r ON r.test_execution_id = cells.execution_id AND r.status = 'FAILED'
    LEFT JOIN test_result base ON base.test_execution_id = cells.base_execution_id
                              AND base.test_case_id = r.test_case_id
)"""


def active_quarantine(test_case: str, environment: str) -> str:
    """SQL: whether an active quarantine covers the test case in the environment (columns or
    expressions naming them). Expiry is judged here, by time: no job lifts a quarantine."""
    return f"""EXISTS (
               SELECT 1 FROM quarantine q
               WHERE q.test_case_id = {test_case}
                 AND (q.environment_id IS NULL OR q.environment_id = {environment})
                 AND (q.expires_at IS NULL OR q.expires_at > timezone('utc', now()))
           )"""


_SLOWER = "n.duration >= 2 * b.duration AND n.duration - b.duration >= 1"

# The classes a summary keeps, with their condition on a pair of results (`n` now, `b` the
# base's, either absent): what the summary counts, and what a page of the class lists.
_SUMMED = {
    "regression": "b.status = 'PASSED' AND n.status = 'FAILED'",
    "fixed": "b.status = 'FAILED' AND n.status = 'PASSED'",
    "still_failing": "b.status = 'FAILED' AND n.status = 'FAILED'",
    "new": "b.id IS NULL",
    "gone": "n.id IS NULL",
    "slower": _SLOWER,
}
_RESULT = "{r}.id, {r}.test_case_id, {r}.status, {r}.duration"
_PAIRED = """SELECT coalesce(n.test_case_id, b.test_case_id) AS test_case_id,
               n.id AS result_id, n.status AS status, n.duration AS duration,
               b.id AS base_result_id, b.status AS base_status, b.duration AS base_duration"""


def _full_join(execution: str, base_execution: str) -> str:
    """SQL: a FROM clause of the results of two executions of one cell matched by test case,
    `n` this side's and `b` the base's (a full join: each side's unmatched results are there)."""
    return f"""(SELECT {_RESULT.format(r="r")} FROM test_result r
              WHERE r.test_execution_id = {execution}) n
        FULL JOIN (SELECT {_RESULT.format(r="r")} FROM test_result r
                   WHERE r.test_execution_id = {base_execution}) b
             ON b.test_case_id = n.test_case_id"""


def _joined(execution: str, base_execution: str, where: str) -> str:
    """SQL: the pairs of results of two executions of one cell that meet `where` (on `n` and
    `b`)."""
    return f"""{_PAIRED}
        FROM {_full_join(execution, base_execution)}
        WHERE {where}"""


def _from_failures(name: str, execution: str, base_execution: str) -> str:
    """SQL: the pairs of a class that needs a failure, of two executions of one cell: one
    side's failures (from the partial index of failed and skipped results), each with the
    other side's result of its test case looked up through the unique index."""
    failed, other = ("b", "n") if name == "fixed" else ("n", "b")
    executions = {"n": execution, "b": base_execution}
    return f"""{_PAIRED}
        FROM test_result {failed}
        JOIN test_result {other} ON {other}.test_execution_id = {executions[other]}
                                 AND {other}.test_case_id = {failed}.test_case_id
        WHERE {failed}.test_execution_id = {executions[failed]} AND {failed}.status = 'FAILED'
          AND {_SUMMED[name]}"""


def _flaky_pairs(held: str) -> str:
    """SQL: the flaky pairs of the cell `held`, each side's result looked up by test case."""
    return f"""{_PAIRED.replace("coalesce(n.test_case_id, b.test_case_id)", "f.test_case_id")}
        FROM failing f
        JOIN flaky_cases k ON k.environment_id = f.environment_id
                          AND k.test_case_id = f.test_case_id
        LEFT JOIN test_result n ON n.test_execution_id = {held}.execution_id
                               AND n.test_case_id = f.test_case_id
        LEFT JOIN test_result b ON b.test_execution_id = {held}.base_execution_id
                               AND b.test_case_id = f.test_case_id
        WHERE ({_PAIR.format(cells="f")}) = ({_PAIR.format(cells=held)})"""


def _classified(pairs: str) -> str:
    """SQL: the pairs of results of `pairs` (a CTE of cells' columns, test case and both
    sides' result, status and duration) with a column per class, and whether quarantined."""
    return f"""SELECT pairs.*,
           coalesce(base_status = 'PASSED' AND status = 'FAILED', false) AS regression,
           coalesce(base_status = 'FAILED' AND status = 'PASSED', false) AS fixed,
           coalesce(base_status = 'FAILED' AND status = 'FAILED', false) AS still_failing,
           base_result_id IS NULL AS new,
           result_id IS NULL AS gone,
           -- Flaky as counted (`flaky_cases`): only a pair with a failure can be.
           coalesce(status = 'FAILED' OR base_status = 'FAILED', false) AND EXISTS (
               SELECT 1 FROM flaky_cases k
               WHERE k.environment_id = pairs.environment_id
                 AND k.test_case_id = pairs.test_case_id
           ) AS flaky,
           coalesce(duration >= 2 * base_duration AND duration - base_duration >= 1, false)
               AS slower,
           -- A result gone from this side has no status: neither is then true, not NULL.
           coalesce(status = 'FAILED'
                    AND {active_quarantine("pairs.test_case_id", "pairs.environment_id")},
                    false) AS quarantined
    FROM {pairs} pairs
"""


# Each cell with its counts of the summed classes: from its summary when one was counted at
# both executions' current results versions, else by joining that cell's two executions, whose
# counts are then stored (replacing an outdated summary). Concurrent first comparisons may
# count the same pair; the upsert keeps one row, and writes the rows in the order of the unique
# index, so that two of them wait for each other in one order and never deadlock.
_SUMMED_COUNTS = [f"{name}_count" for name in _SUMMED]
_SUMMARIES = f"""
known AS MATERIALIZED (
    SELECT cells.*, {", ".join(f"s.{count}" for count in _SUMMED_COUNTS)}
    FROM cells
    LEFT JOIN comparison_summary s
         ON coalesce(s.execution_id, 0) = coalesce(cells.execution_id, 0)
        AND coalesce(s.base_execution_id, 0) = coalesce(cells.base_execution_id, 0)
        AND s.execution_version = cells.execution_version
        AND s.base_execution_version = cells.base_execution_version
),
recounted AS MATERIALIZED (
    SELECT {_PAIR.format(cells="known")}, known.execution_id, known.base_execution_id,
           known.execution_version, known.base_execution_version, counts.*
    FROM known
    CROSS JOIN LATERAL (
        SELECT {
    ", ".join(f"count(*) FILTER (WHERE {where}) AS {name}_count" for name, where in _SUMMED.items())
}
        FROM {_full_join("known.execution_id", "known.base_execution_id")}
    ) counts
    WHERE known.new_count IS NULL
),
stored AS (
    INSERT INTO comparison_summary AS s (execution_id, base_execution_id, execution_version,
                                         base_execution_version, {", ".join(_SUMMED_COUNTS)})
    SELECT execution_id, base_execution_id, execution_version, base_execution_version,
           {", ".join(_SUMMED_COUNTS)}
    FROM recounted
    ORDER BY coalesce(execution_id, 0), coalesce(base_execution_id, 0)
    ON CONFLICT ((coalesce(execution_id, 0)), (coalesce(base_execution_id, 0))) DO UPDATE
    SET execution_version = excluded.execution_version,
        base_execution_version = excluded.base_execution_version,
        {", ".join(f"{count} = excluded.{count}" for count in _SUMMED_COUNTS)},
        updated_at = timezone('utc', now())
    -- A comparison that read older results does not replace a newer summary.
    WHERE s.execution_version <= excluded.execution_version
      AND s.base_execution_version <= excluded.base_execution_version
)"""

# The flaky class, on every request: it depends on every run of the window in the environment
# and on the time, which the two executions' versions cannot keep exact. Only a pair with a
# failure on either side can be flaky: each cell's test cases that failed on either side are
# read from the index of failed results on (execution, test case) alone, with no lookup of
# the other side. The flaky-test list's rule (`flakiness.py`) is then judged once per
# environment and test case, over the runs of its window: one scan of the index of runs per
# environment for all of its failing test cases (`= ANY`), which costs less than a subquery
# per test case.
#
# Two flips, without ordering the runs: the list counts the changes of status between
# consecutive runs in the order (time, id), and a sequence of runs changes status at least
# twice exactly when it is neither of one status nor one status then the other, that is when
# the first failure comes before the last pass and the first pass before the last failure.
# Those are four aggregates of a hash, not a sort and a window over every run of every failing
# test case (at ten times the history, most of them have enough runs to be judged). The
# aggregates are of times, which is cheap; when a first and a last run share their time, the
# order between them is the ids', and only then are that test case's runs ordered and their
# flips counted as the list counts them (a subquery evaluated for those test cases alone).
if MIN_FLIPS != 2:  # pragma: no cover - a change of the rule must change the statement
    raise RuntimeError("the comparison's flaky statement decides exactly two flips")
_FIRST_FAILED = "min(t.created_at) FILTER (WHERE t.status = 'FAILED')"
_LAST_FAILED = "max(t.created_at) FILTER (WHERE t.status = 'FAILED')"
_FIRST_PASSED = "min(t.created_at) FILTER (WHERE t.status = 'PASSED')"
_LAST_PASSED = "max(t.created_at) FILTER (WHERE t.status = 'PASSED')"
_FLAKY = f"""
failing AS MATERIALIZED (
    -- Each cell's own union (a few dozen test cases), not one sort of every cell's.
    SELECT {_PAIR.format(cells="cells")}, f.test_case_id
    FROM cells
    CROSS JOIN LATERAL (
        SELECT r.test_case_id FROM test_result r
        WHERE r.test_execution_id = cells.execution_id AND r.status = 'FAILED'
        UNION
        SELECT r.test_case_id FROM test_result r
        WHERE r.test_execution_id = cells.base_execution_id AND r.status = 'FAILED'
    ) f
),
flaky_cases AS MATERIALIZED (
    SELECT c.environment_id, t.test_case_id
    FROM (SELECT environment_id, array_agg(DISTINCT test_case_id) AS test_cases
          FROM failing GROUP BY environment_id) c
    CROSS JOIN LATERAL (
        SELECT t.test_case_id
        FROM test_result t
        WHERE t.environment_id = c.environment_id AND t.test_case_id = ANY (c.test_cases)
          AND t.status IN ('PASSED', 'FAILED')
          AND t.created_at >= CAST(:flaky_since AS timestamp)
        GROUP BY t.test_case_id
        HAVING count(*) >= :flaky_min_runs
           AND {_FIRST_FAILED} <= {_LAST_PASSED}
           AND {_FIRST_PASSED} <= {_LAST_FAILED}
           AND ({_FIRST_FAILED} < {_LAST_PASSED} AND {_FIRST_PASSED} < {_LAST_FAILED}
                OR (
                    SELECT count(*) FILTER (WHERE runs.status <> runs.previous)
                    FROM (
                        SELECT r.status,
                               lag(r.status) OVER (ORDER BY r.created_at, r.id) AS previous
                        FROM test_result r
                        WHERE r.environment_id = c.environment_id
                          AND r.test_case_id = t.test_case_id
                          AND r.status IN ('PASSED', 'FAILED')
                          AND r.created_at >= CAST(:flaky_since AS timestamp)
                    ) runs
                ) >= {MIN_FLIPS})
    ) t
)"""

_CLASSES_FROM_FAILURES = ("regression", "fixed", "still_failing")


def cells_statement(tail: str) -> str:
    """The WITH clause of sides and cells (the latest executions of each side per
    (environment, test plan)), followed by `tail`."""
    return f"WITH {_CELLS}{tail}"


def failures_statement(tail: str) -> str:
    """The WITH clause of sides, cells, and each cell's failures with the base's result of
    their test case (`failed_now`), followed by `tail`."""
    return cells_statement(f",{_FAILED}{tail}")


def comparison_parameters(pairs: Sequence[tuple[int, int | None]]) -> dict[str, Any]:
    return {
        "artefact_ids": [artefact for artefact, _ in pairs],
        # No base: compared with nothing, every result is new.
        "base_ids": [base if base is not None else 0 for _, base in pairs],
        "flaky_since": datetime.now(UTC).replace(tzinfo=None) - WINDOW,
        "flaky_min_runs": MIN_RUNS,
    }


# A page lists cells by environment and test plan names; within a cell, test cases in the
# order they were first reported (their ids): ordering by name would look up and sort the
# names of every result of the class, not only of the page's.
_CELL_ORDER = "environment, architecture, test_plan"


def _page(name: ComparisonClass) -> str:
    """SQL: the CTE of the requested page of a class, a row per pair of results. Only
    the cells holding part of the page, found by their counts and the counts of the cells
    before them, are read; within a cell, results are in test case order."""
    if name == "flaky":
        pairs = _flaky_pairs("held")
    elif name in _CLASSES_FROM_FAILURES:
        pairs = _from_failures(name, "held.execution_id", "held.base_execution_id")
    else:
        pairs = _joined("held.execution_id", "held.base_execution_id", _SUMMED[name])
    return f""",
{name}_pairs AS MATERIALIZED (
    SELECT {_PAIR.format(cells="held")}, r.test_case_id, r.result_id, r.status,
           r.duration, r.base_result_id, r.base_status, r.base_duration
    FROM (
        SELECT * FROM (
            SELECT counted.*, sum({name}) OVER (ORDER BY {_CELL_ORDER}) - {name} AS before
            FROM counted WHERE {name} > 0
        ) c
        WHERE before < :offset + :limit AND before + {name} > :offset
    ) held
    CROSS JOIN LATERAL (
        SELECT paired.*, row_number() OVER (ORDER BY paired.test_case_id) AS position
        FROM ({pairs}) paired
    ) r
    WHERE held.before + r.position > :offset
      AND held.before + r.position <= :offset + :limit
)"""


@functools.cache
def _comparison_statement(classes: tuple[ComparisonClass, ...]) -> TextClause:
    # Built once per set of classes: building it and finding its parameters in the text took
    # a few milliseconds of every request.
    # One row per cell with its counts, then the requested pages: a row per listed result.
    # The classes' totals are the sums of the cells' counts.
    # The pages' pairs are classified, named and listed together: one copy of that part of
    # the statement, not one per class, which the planner would plan each time.
    pages = "".join(_page(name) for name in classes)
    listed = (
        f"""
UNION ALL
SELECT 'result', json_agg(page)
FROM (
    SELECT rows.*, test_plan.name AS test_plan, test_case.name AS test_case
    FROM ({_classified("listed")}) rows
    JOIN test_plan ON test_plan.id = rows.test_plan_id
    JOIN test_case ON test_case.id = rows.test_case_id
) page"""
        if classes
        else ""
    )
    pages += (
        ",\nlisted AS (\n    "
        + "\n    UNION ALL\n    ".join(
            f"SELECT '{name}' AS class, * FROM {name}_pairs" for name in classes
        )
        + "\n)"
        if classes
        else ""
    )
    summed = ",\n           ".join(
        f"coalesce(known.{name}_count, r.{name}_count) AS {name}" for name in _SUMMED
    )
    tail = f""",{_SUMMARIES},{_FLAKY},
flaky_counts AS MATERIALIZED (
    -- Counted once: as a subquery of the join below, whose sizes the planner cannot know,
    -- it was counted again for every cell (60 sorts of 4,620 rows at ten times the history).
    SELECT {_PAIR.format(cells="failing")}, count(*) AS flaky
    FROM failing JOIN flaky_cases USING (environment_id, test_case_id)
    GROUP BY {_PAIR.format(cells="failing")}
),
counted AS MATERIALIZED (
    SELECT known.artefact_id, known.base_id, known.environment_id, known.test_plan_id,
           known.execution_id,
           known.base_execution_id, environment.name AS environment,
           environment.architecture, test_plan.name AS test_plan,
           {summed},
           coalesce(f.flaky, 0) AS flaky
    FROM known
    JOIN environment ON environment.id = known.environment_id
    JOIN test_plan ON test_plan.id = known.test_plan_id
    LEFT JOIN recounted r USING (artefact_id, base_id, environment_id, test_plan_id)
    LEFT JOIN flaky_counts f USING (artefact_id, base_id, environment_id, test_plan_id)
){pages}
SELECT 'cell' AS kind, json_agg(counted) AS data FROM counted{listed}
"""
    return text(cells_statement(tail))


def parse_classes(classes: str | None) -> list[ComparisonClass]:
    """Classes named in a comma-separated list; every class when none is given."""
    if classes is None:
        return list(COMPARISON_CLASSES)
    names = [name.strip() for name in classes.split(",") if name.strip()]
    unknown = [name for name in names if name not in COMPARISON_CLASSES]
    if unknown:
        raise UnprocessableError(
            f"Unknown classes: {', '.join(unknown)}; known: {', '.join(COMPARISON_CLASSES)}",
            loc=("query", "classes"),
            input=classes,
        )
    return [name for name in COMPARISON_CLASSES if name in names]


def resolve_base(session: Session, artefact_id: int, base: str) -> int | None:
    """The base artefact's id: `previous` (None for the first of a line) or an artefact id."""
    if base == "previous":
        return previous_artefact_id(session, artefact_id)
    try:
        base_id = int(base)
    except ValueError:
        raise UnprocessableError(
            "base must be 'previous' or an artefact id", loc=("query", "base"), input=base
        ) from None
    if base_id == artefact_id:
        raise UnprocessableError("base must be another artefact", loc=("query", "base"), input=base)
    get_artefact(session, artefact_id)
    get_artefact(session, base_id)
    return base_id


def compare_artefacts(
    session: Session,
    artefact_id: int,
    base: str,
    classes: Collection[ComparisonClass],
    limit: int,
    offset: int,
) -> ComparisonResponse:
    base_id = resolve_base(session, artefact_id, base)
    wanted = [name for name in COMPARISON_CLASSES if name in set(classes)]
    rows = session.execute(
        _comparison_statement(tuple(wanted)),
        {**comparison_parameters([(artefact_id, base_id)]), "limit": limit, "offset": offset},
    ).all()

    # Plain dicts, validated once into the response in pydantic's core: a model built per cell
    # and per listed result cost more of the request's CPU than the rest of its Python.
    cells: list[dict[str, Any]] = []
    totals = dict.fromkeys(COMPARISON_CLASSES, 0)
    listed: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for kind, items in rows:
        # One JSON array per kind: decoding a document per row cost more than building the
        # response.
        for data in items or ():
            if kind == "cell":
                counts = {name: data[name] for name in COMPARISON_CLASSES}
                for name, count in counts.items():
                    totals[name] += count
                cells.append(
                    {
                        "environment": {
                            "id": data["environment_id"],
                            "name": data["environment"],
                            "architecture": data["architecture"],
                        },
                        "test_plan": data["test_plan"],
                        "test_execution_id": data["execution_id"],
                        "base_test_execution_id": data["base_execution_id"],
                        "counts": counts,
                    }
                )
            else:
                listed[data["class"]].append(data)

    def cell_order(cell: dict[str, Any]) -> tuple[str, str, str]:
        environment = cell["environment"]
        return (environment["name"], environment["architecture"], cell["test_plan"])

    cells.sort(key=cell_order)
    environments = {cell["environment"]["id"]: cell["environment"] for cell in cells}

    def order(item: dict[str, Any]) -> tuple[str, str, str, int]:
        # The statement's order (cells by name, then test case), which a union of pages does
        # not keep.
        environment = environments[item["environment_id"]]
        return (
            environment["name"],
            environment["architecture"],
            item["test_plan"],
            item["test_case_id"],
        )

    issues = attached_issues(
        session,
        [
            result_id
            for items in listed.values()
            for item in items
            for result_id in (item["result_id"], item["base_result_id"])
            if result_id is not None
        ],
    )
    return ComparisonResponse.model_validate(
        {
            "artefact_id": artefact_id,
            "base_artefact_id": base_id,
            "totals": totals,
            "cells": cells,
            "results": {
                name: {
                    "count": totals[name],
                    "limit": limit,
                    "offset": offset,
                    "results": [
                        compared_result(item, issues) for item in sorted(listed[name], key=order)
                    ],
                }
                for name in wanted
            },
        }
    )
