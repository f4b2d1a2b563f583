"""Regressions of one execution's cell: what `test_execution.ended` counts.

A regression as the comparison defines it (`comparison.py`): a result that PASSED in the base
artefact's latest execution of the cell (environment, test plan), on the base's latest
builds, and FAILED in this execution. Only the cell of each execution is read, never the whole
comparison: a failed result of the execution is looked up in the base's execution of the cell
by test case, along the (execution, test case) unique index.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import text
from sqlalchemy.orm import Session

# `name` AS the latest build per architecture (as `queries.latest_builds` chooses it) of the
# artefacts `artefact_ids` selects.
LATEST_BUILDS = """
    {name} AS (
        SELECT DISTINCT ON (b.artefact_id, b.architecture) b.id, b.artefact_id
        FROM artefact_build b
        WHERE b.artefact_id IN ({artefact_ids})
        ORDER BY b.artefact_id, b.architecture, coalesce(b.revision, 0) DESC, b.id
    )"""

_COUNT = text(
    """
    WITH input AS (
        SELECT * FROM unnest(CAST(:execution_ids AS integer[]), CAST(:base_ids AS integer[]))
            AS i(execution_id, base_id)
    ),"""
    + LATEST_BUILDS.format(name="base_builds", artefact_ids="SELECT base_id FROM input")
    + """
    SELECT i.execution_id, (
        SELECT count(*)
        FROM test_result n
        JOIN test_result b ON b.test_execution_id = base.id AND b.test_case_id = n.test_case_id
        WHERE n.test_execution_id = i.execution_id AND n.status = 'FAILED'
          AND b.status = 'PASSED'
    )
    FROM input i
    JOIN test_execution e ON e.id = i.execution_id
    LEFT JOIN LATERAL (
        SELECT be.id
        FROM test_execution be
        JOIN base_builds bb ON bb.id = be.artefact_build_id
        WHERE bb.artefact_id = i.base_id
          AND be.environment_id = e.environment_id AND be.test_plan_id = e.test_plan_id
        ORDER BY be.created_at DESC, be.id DESC
        LIMIT 1
    ) base ON true
    """
)


def cell_regressions(session: Session, bases: Mapping[int, int]) -> dict[int, int]:
    """Per execution id, its regressions against the base artefact given for it; one
    statement for any number of executions."""
    if not bases:
        return {}
    rows = session.execute(_COUNT, {"execution_ids": list(bases), "base_ids": list(bases.values())})
    return {int(execution_id): int(count) for execution_id, count in rows}
