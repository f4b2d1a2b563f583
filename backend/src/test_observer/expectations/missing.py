"""The environments an artefact is missing: expected of it, and run by none of its executions.

The one rule behind `GET /v1/artefacts/{id}/missing-environments` and readiness's
`missing_environments`. What is expected, the first that applies:

1. The declarations for the artefact's family and name (`expected_environments`): an
   environment declared with a test plan must have run that plan; one declared without a
   plan, any plan.
2. Otherwise, the environments that ran the artefact's previous version.
3. Otherwise (a first version without declarations), nothing.

`test_plans` narrows the comparison to those plans: only the previous version's executions of
them count, only declarations for them (or for any plan) apply, and an environment is covered
only by an execution of the same plan. Executions of every build count, on both sides.
Environments are compared by name, as declarations name them and as the frontend shows them.

The caller says which artefact is each one's previous version (`artefacts.previous`, the one
definition of "previous"), so this module needs nothing above the models. One statement for
any number of artefacts.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import text
from sqlalchemy.orm import Session

# A declaration's test plan when it holds for any plan (the column is never NULL, see the model).
ANY_PLAN = ""

ExpectedFrom = Literal["declared", "previous_version", "nothing"]


@dataclass(frozen=True)
class KnownEnvironment:
    id: int
    name: str
    architecture: str


@dataclass(frozen=True)
class Missing:
    expected_from: ExpectedFrom
    # Sorted by code point, like Python's sorted().
    names: list[str]
    # The recorded environments with those names (a name may be on several architectures, or
    # on none yet when only a declaration names it), by name then architecture.
    environments: list[KnownEnvironment] = field(default_factory=list)


_MISSING = text(
    """
WITH input AS (
    SELECT s.artefact_id, s.previous_id, a.family, a.name
    FROM unnest(CAST(:artefact_ids AS integer[]), CAST(:previous_ids AS integer[]))
         AS s(artefact_id, previous_id)
    JOIN artefact a ON a.id = s.artefact_id
),
declared AS (
    SELECT input.artefact_id, plan.name AS plan, environment.name AS environment
    FROM input
    JOIN expected_environments x
      ON x.family = input.family AND x.artefact_name = input.name
     AND (cardinality(CAST(:plans AS text[])) = 0 OR x.test_plan = ''
          OR x.test_plan = ANY(CAST(:plans AS text[])))
    CROSS JOIN LATERAL (
        -- A declaration for one plan asks for that plan; one for any plan asks for each plan
        -- of the request, or for any plan when the request names none.
        SELECT x.test_plan WHERE x.test_plan <> ''
        UNION ALL
        SELECT requested FROM unnest(CAST(:plans AS text[])) AS requested
        WHERE x.test_plan = ''
        UNION ALL
        SELECT NULL WHERE x.test_plan = '' AND cardinality(CAST(:plans AS text[])) = 0
    ) AS plan(name)
    CROSS JOIN LATERAL unnest(x.environments) AS environment(name)
),
ran AS (
    SELECT DISTINCT sides.artefact_id, sides.previous, test_plan.name AS plan,
           environment.name AS environment
    FROM (SELECT artefact_id, artefact_id AS run_by, false AS previous FROM input
          UNION ALL
          SELECT artefact_id, previous_id, true FROM input
          WHERE previous_id IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM declared WHERE declared.artefact_id = input.artefact_id)
         ) sides
    JOIN artefact_build b ON b.artefact_id = sides.run_by
    JOIN test_execution e ON e.artefact_build_id = b.id
    JOIN test_plan ON test_plan.id = e.test_plan_id
    JOIN environment ON environment.id = e.environment_id
    WHERE cardinality(CAST(:plans AS text[])) = 0
       OR test_plan.name = ANY(CAST(:plans AS text[]))
),
required AS (
    SELECT artefact_id, plan, environment FROM declared
    UNION
    -- Plan by plan only when the request names plans.
    SELECT artefact_id,
           CASE WHEN cardinality(CAST(:plans AS text[])) > 0 THEN plan END,
           environment
    FROM ran WHERE previous
),
missing AS (
    SELECT DISTINCT r.artefact_id, r.environment
    FROM required r
    WHERE NOT EXISTS (
        SELECT 1 FROM ran
        WHERE NOT ran.previous AND ran.artefact_id = r.artefact_id
          AND ran.environment = r.environment AND (r.plan IS NULL OR ran.plan = r.plan)
    )
)
SELECT input.artefact_id,
       CASE WHEN EXISTS (SELECT 1 FROM declared d WHERE d.artefact_id = input.artefact_id)
                THEN 'declared'
            WHEN EXISTS (SELECT 1 FROM ran WHERE ran.previous
                                             AND ran.artefact_id = input.artefact_id)
                THEN 'previous_version'
            ELSE 'nothing'
       END AS expected_from,
       ARRAY(SELECT m.environment FROM missing m WHERE m.artefact_id = input.artefact_id
             ORDER BY m.environment COLLATE "C") AS names,
       ARRAY(SELECT jsonb_build_array(environment.id, environment.name, environment.architecture)
             FROM missing m JOIN environment ON environment.name = m.environment
             WHERE m.artefact_id = input.artefact_id
             ORDER BY environment.name COLLATE "C", environment.architecture COLLATE "C")
           AS environments
FROM input
"""
)


def missing_environments(
    session: Session,
    previous: Mapping[int, int | None],
    test_plans: Collection[str] = (),
) -> dict[int, Missing]:
    """For each artefact id of `previous` (mapped to its previous version's id, or None), what
    it is expected to have run and has not. Unknown artefact ids are left out."""
    if not previous:
        return {}
    rows = session.execute(
        _MISSING,
        {
            "artefact_ids": list(previous),
            "previous_ids": list(previous.values()),
            "plans": sorted(set(test_plans)),
        },
    )
    return {
        artefact_id: Missing(
            expected_from=expected_from,
            names=list(names),
            environments=[KnownEnvironment(*environment) for environment in environments],
        )
        for artefact_id, expected_from, names, environments in rows
    }
