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

* regression, fixed, still failing and flaky need a failure on one side: each side's failures
  are read from the partial index of failed and skipped results, and the other side's result
  of the same test case looked up through the unique index on (execution, test case)
  (`failed_now`, which readiness reads too, and `failed_before`);
* new, gone and slower need every result of both sides: their counts per pair of executions
  are kept in `comparison_summary`, stamped with both executions' `results_version`, which
  statement-level triggers on `test_result` bump in the writer's transaction (migration 0025).
  A summary is used only while both versions match; a cell without one is counted by joining
  its two executions' results, and the counts stored (an upsert, so that concurrent first
  comparisons store one row). A comparison is thus exact whatever was written before it;
* a page of new, gone or slower results joins only the cells that hold it, found from the
  cells' counts in the order of the page.

Everything is one statement per call, whatever the number of cells and results, plus one for
the issues of the listed results. `cells_statement` and `failures_statement` give other
set-based readers (readiness) the cells and the failures of any number of (artefact, base)
pairs at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import TextClause, select, text
from sqlalchemy.orm import Session

from test_observer.db.models import Issue, IssueTestResultAttachment
from test_observer.environments.schemas import EnvironmentResponse
from test_observer.errors import UnprocessableError
from test_observer.flakiness import MIN_FLIPS, MIN_RUNS, WINDOW

from .previous import previous_artefact_id
from .schemas import (
    COMPARISON_CLASSES,
    ComparedIssue,
    ComparedResult,
    ComparisonCell,
    ComparisonClass,
    ComparisonCounts,
    ComparisonPage,
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

# The pairs of results with a failure on either side, the only ones that can be a regression,
# fixed, still failing or flaky: the cells' columns, the test case, and each side's result,
# status and duration. Each side's failures are read from the partial index of failed and
# skipped results (`test_result_untriaged_ix`). `failed_now` holds this side's, each with the
# base's result of its test case looked up through the unique index on (execution, test case):
# every count readiness judges is about one of them. `failed_before` holds the base's failures
# that did not fail now: those not among this side's failures of the cell (matched per cell),
# with this side's result looked up the same way. The results that passed on both sides, the
# bulk of a release, are never read.
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
),
failed_before AS (
    SELECT {_PAIR.format(cells="cells")}, b.test_case_id,
           r.id AS result_id, r.status, r.duration,
           b.id AS base_result_id, b.status AS base_status, b.duration AS base_duration
    FROM cells
    CROSS JOIN LATERAL (
        SELECT id, test_case_id, status, duration FROM test_result base
        WHERE base.test_execution_id = cells.base_execution_id AND base.status = 'FAILED'
          AND NOT EXISTS (
              SELECT 1 FROM test_result now
              WHERE now.test_execution_id = cells.execution_id AND now.status = 'FAILED'
                AND now.test_case_id = base.test_case_id
          )
    ) b
    LEFT JOIN test_result r ON r.test_execution_id = cells.execution_id
                           AND r.test_case_id = b.test_case_id
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


def _joined(execution: str, base_execution: str, where: str = "true") -> str:
    """SQL: the results of two executions of one cell matched by test case (a full join, so
    that each side's unmatched results are there too), those meeting `where` (on `n` and `b`)."""
    return f"""SELECT coalesce(n.test_case_id, b.test_case_id) AS test_case_id,
               n.id AS result_id, n.status AS status, n.duration AS duration,
               b.id AS base_result_id, b.status AS base_status, b.duration AS base_duration
        FROM (SELECT id, test_case_id, status, duration FROM test_result
              WHERE test_execution_id = {execution}) n
        FULL JOIN (SELECT id, test_case_id, status, duration FROM test_result
                   WHERE test_execution_id = {base_execution}) b
             ON b.test_case_id = n.test_case_id
        WHERE {where}"""


def _classified(pairs: str) -> str:
    """SQL: the pairs of results of `pairs` (a CTE of cells' columns, test case and both
    sides' result, status and duration) with a column per class, and whether quarantined."""
    return f"""SELECT pairs.*,
           coalesce(base_status = 'PASSED' AND status = 'FAILED', false) AS regression,
           coalesce(base_status = 'FAILED' AND status = 'PASSED', false) AS fixed,
           coalesce(base_status = 'FAILED' AND status = 'FAILED', false) AS still_failing,
           base_result_id IS NULL AS new,
           result_id IS NULL AS gone,
           coalesce(flaky.flaky, false) AS flaky,
           coalesce(duration >= 2 * base_duration AND duration - base_duration >= 1, false)
               AS slower,
           -- A result gone from this side has no status: neither is then true, not NULL.
           coalesce(status = 'FAILED'
                    AND {active_quarantine("pairs.test_case_id", "pairs.environment_id")},
                    false) AS quarantined
    FROM {pairs} pairs
    LEFT JOIN LATERAL (
        -- The flaky rule, per pair with a failure: over the runs of the flaky-test list's
        -- window, from the index of runs. (One window over every pair's runs at once instead
        -- measured the same.)
        SELECT count(*) >= :flaky_min_runs
               AND count(*) FILTER (WHERE runs.status <> runs.previous) >= :flaky_min_flips
               AS flaky
        FROM (
            SELECT t.status, lag(t.status) OVER (ORDER BY t.created_at, t.id) AS previous
            FROM test_result t
            WHERE t.environment_id = pairs.environment_id
              AND t.test_case_id = pairs.test_case_id
              AND t.status IN ('PASSED', 'FAILED')
              AND t.created_at >= CAST(:flaky_since AS timestamp)
        ) runs
        WHERE pairs.status = 'FAILED' OR pairs.base_status = 'FAILED'
    ) flaky ON true"""


# Each cell with its new, gone and slower results counted: from its summary when one was
# counted at both executions' current results versions, else by joining that cell's two
# executions, whose counts are then stored (replacing an outdated summary). Concurrent first
# comparisons may count the same pair; the upsert keeps one row, and writes the rows in the
# order of the unique index, so that two of them wait for each other in one order and never
# deadlock.
_SUMMARIES = f"""
known AS MATERIALIZED (
    SELECT cells.*, s.new_count, s.gone_count, s.slower_count
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
        SELECT count(*) FILTER (WHERE b.id IS NULL) AS new_count,
               count(*) FILTER (WHERE n.id IS NULL) AS gone_count,
               count(*) FILTER (WHERE {_SLOWER}) AS slower_count
        FROM (SELECT id, test_case_id, duration FROM test_result
              WHERE test_execution_id = known.execution_id) n
        FULL JOIN (SELECT id, test_case_id, duration FROM test_result
                   WHERE test_execution_id = known.base_execution_id) b
             ON b.test_case_id = n.test_case_id
    ) counts
    WHERE known.new_count IS NULL
),
stored AS (
    INSERT INTO comparison_summary AS s (execution_id, base_execution_id, execution_version,
                                         base_execution_version, new_count, gone_count,
                                         slower_count)
    SELECT execution_id, base_execution_id, execution_version, base_execution_version,
           new_count, gone_count, slower_count
    FROM recounted
    ORDER BY coalesce(execution_id, 0), coalesce(base_execution_id, 0)
    ON CONFLICT ((coalesce(execution_id, 0)), (coalesce(base_execution_id, 0))) DO UPDATE
    SET execution_version = excluded.execution_version,
        base_execution_version = excluded.base_execution_version,
        new_count = excluded.new_count,
        gone_count = excluded.gone_count,
        slower_count = excluded.slower_count,
        updated_at = timezone('utc', now())
    -- A comparison that read older results does not replace a newer summary.
    WHERE s.execution_version <= excluded.execution_version
      AND s.base_execution_version <= excluded.base_execution_version
)"""

# Counted from the failures on every request; the others (new, gone, slower) from summaries.
_FAILURE_CLASSES = ("regression", "fixed", "still_failing", "flaky")


def cells_statement(tail: str) -> str:
    """The WITH clause of sides and cells (the latest executions of each side per
    (environment, test plan)), followed by `tail`."""
    return f"WITH {_CELLS}{tail}"


def failures_statement(tail: str) -> str:
    """The WITH clause of sides, cells, and each cell's pairs of results with a failure
    (`failed_now`, `failed_before`), followed by `tail`."""
    return cells_statement(f",{_FAILED}{tail}")


def comparison_parameters(pairs: Sequence[tuple[int, int | None]]) -> dict[str, Any]:
    return {
        "artefact_ids": [artefact for artefact, _ in pairs],
        # No base: compared with nothing, every result is new.
        "base_ids": [base if base is not None else 0 for _, base in pairs],
        "flaky_since": datetime.now(UTC).replace(tzinfo=None) - WINDOW,
        "flaky_min_runs": MIN_RUNS,
        "flaky_min_flips": MIN_FLIPS,
    }


# Test cases in the order they were first reported (their ids): ordering by name would look
# up and sort the names of every result of the class, not only of the page's.
_PAGE_ORDER = "environment.name, environment.architecture, test_plan.name, page.test_case_id"
_CELL_ORDER = "environment, architecture, test_plan"
_SUMMED_WHERE = {"new": "b.id IS NULL", "gone": "n.id IS NULL", "slower": _SLOWER}


def _page(name: ComparisonClass) -> tuple[str, str]:
    """SQL: the CTEs the requested page of a class needs, and its rows, a row per result."""
    if name in _FAILURE_CLASSES:
        # A top-N of the class among the failures.
        return (
            "",
            f"""
    SELECT failures.*
    FROM failures
    JOIN test_plan ON test_plan.id = failures.test_plan_id
    JOIN environment ON environment.id = failures.environment_id
    WHERE failures.{name}
    ORDER BY {_PAGE_ORDER.replace("page.", "failures.")}
    LIMIT :limit OFFSET :offset""",
        )
    # Only the cells holding part of the page, by their counts and the counts of the cells
    # before them, are joined; within a cell, by test case.
    joined = _joined("held.execution_id", "held.base_execution_id", _SUMMED_WHERE[name])
    pairs = f""",
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
        SELECT joined.*, row_number() OVER (ORDER BY joined.test_case_id) AS position
        FROM ({joined}) joined
    ) r
    WHERE held.before + r.position > :offset
      AND held.before + r.position <= :offset + :limit
)"""
    return pairs, _classified(f"{name}_pairs")


def _comparison_statement(classes: Collection[ComparisonClass]) -> TextClause:
    # One row per cell with its counts, then the requested pages: a row per listed result.
    # The classes' totals are the sums of the cells' counts.
    failure_counts = ", ".join(
        f"count(*) FILTER (WHERE {name}) AS {name}" for name in _FAILURE_CLASSES
    )
    pages = [_page(name) for name in classes]
    listed = "".join(
        f"""
UNION ALL
SELECT 'result', to_jsonb(page) || jsonb_build_object('test_case', test_case.name)
FROM (
    SELECT '{name}' AS class, rows.*, test_plan.name AS test_plan
    FROM ({rows}) rows
    JOIN test_plan ON test_plan.id = rows.test_plan_id
) page
JOIN test_case ON test_case.id = page.test_case_id"""
        for name, (_, rows) in zip(classes, pages, strict=True)
    )
    tail = f""",
failure_pairs AS MATERIALIZED (
    SELECT * FROM failed_now UNION ALL SELECT * FROM failed_before
),
failures AS MATERIALIZED (
    {_classified("failure_pairs")}
),{_SUMMARIES},
counted AS MATERIALIZED (
    SELECT known.artefact_id, known.base_id, known.environment_id, known.test_plan_id,
           known.execution_id,
           known.base_execution_id, environment.name AS environment,
           environment.architecture, test_plan.name AS test_plan,
           coalesce(f.regression, 0) AS regression, coalesce(f.fixed, 0) AS fixed,
           coalesce(f.still_failing, 0) AS still_failing,
           coalesce(known.new_count, r.new_count) AS new,
           coalesce(known.gone_count, r.gone_count) AS gone,
           coalesce(f.flaky, 0) AS flaky,
           coalesce(known.slower_count, r.slower_count) AS slower
    FROM known
    JOIN environment ON environment.id = known.environment_id
    JOIN test_plan ON test_plan.id = known.test_plan_id
    LEFT JOIN recounted r USING (artefact_id, base_id, environment_id, test_plan_id)
    LEFT JOIN (
        SELECT {_PAIR.format(cells="failures")}, {failure_counts}
        FROM failures
        GROUP BY {_PAIR.format(cells="failures")}
    ) f USING (artefact_id, base_id, environment_id, test_plan_id)
){"".join(ctes for ctes, _ in pages)}
SELECT 'cell' AS kind, to_jsonb(counted) AS data FROM counted{listed}
"""
    return text(failures_statement(tail))


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
        _comparison_statement(wanted),
        {**comparison_parameters([(artefact_id, base_id)]), "limit": limit, "offset": offset},
    ).all()

    cells: list[ComparisonCell] = []
    totals = ComparisonCounts()
    listed: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for kind, data in rows:
        if kind == "cell":
            counts = ComparisonCounts(**{name: data[name] for name in COMPARISON_CLASSES})
            totals = totals.plus(counts)
            cells.append(
                ComparisonCell(
                    environment=EnvironmentResponse(
                        id=data["environment_id"],
                        name=data["environment"],
                        architecture=data["architecture"],
                    ),
                    test_plan=data["test_plan"],
                    test_execution_id=data["execution_id"],
                    base_test_execution_id=data["base_execution_id"],
                    counts=counts,
                )
            )
        else:
            listed[data["class"]].append(data)
    cells.sort(key=lambda c: (c.environment.name, c.environment.architecture, c.test_plan))
    environments = {c.environment.id: c.environment for c in cells}

    def order(item: dict[str, Any]) -> tuple[str, str, str, int]:
        # The statement's order (_PAGE_ORDER), which a union of pages does not keep.
        environment = environments[item["environment_id"]]
        return (environment.name, environment.architecture, item["test_plan"], item["test_case_id"])

    issues = _issues(
        session,
        [
            result_id
            for items in listed.values()
            for item in items
            for result_id in (item["result_id"], item["base_result_id"])
            if result_id is not None
        ],
    )
    return ComparisonResponse(
        artefact_id=artefact_id,
        base_artefact_id=base_id,
        totals=totals,
        cells=cells,
        results={
            name: ComparisonPage(
                count=getattr(totals, name),
                limit=limit,
                offset=offset,
                results=[_compared(item, issues) for item in sorted(listed[name], key=order)],
            )
            for name in wanted
        },
    )


def _compared(item: dict[str, Any], issues: dict[int, list[ComparedIssue]]) -> ComparedResult:
    seen: dict[int, ComparedIssue] = {}
    for result_id in (item["result_id"], item["base_result_id"]):
        for issue in issues.get(result_id, []) if result_id is not None else []:
            seen.setdefault(issue.id, issue)
    return ComparedResult(
        test_case_id=item["test_case_id"],
        test_case=item["test_case"],
        environment_id=item["environment_id"],
        test_plan=item["test_plan"],
        test_result_id=item["result_id"],
        status=item["status"],
        duration=item["duration"],
        base_test_result_id=item["base_result_id"],
        base_status=item["base_status"],
        base_duration=item["base_duration"],
        flaky=item["flaky"],
        slower=item["slower"],
        quarantined=item["quarantined"],
        issues=list(seen.values()),
    )


def _issues(session: Session, result_ids: Collection[int]) -> dict[int, list[ComparedIssue]]:
    if not result_ids:
        return {}
    found: dict[int, list[ComparedIssue]] = defaultdict(list)
    for result_id, issue in session.execute(
        select(IssueTestResultAttachment.test_result_id, Issue)
        .join(Issue, Issue.id == IssueTestResultAttachment.issue_id)
        .where(IssueTestResultAttachment.test_result_id.in_(list(set(result_ids))))
        .order_by(IssueTestResultAttachment.test_result_id, Issue.id)
    ):
        found[result_id].append(
            ComparedIssue(
                id=issue.id,
                source=issue.source,
                project=issue.project,
                key=issue.key,
                title=issue.title,
                status=issue.status,
                url=issue.url,
            )
        )
    return found
