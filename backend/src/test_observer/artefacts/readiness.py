"""Whether an artefact is ready for release, and why not.

The verdict is `ready` when nothing below holds, `not_ready` with one reason per rule that
holds otherwise (docs/explanation/readiness):

* `no_reviews`: its latest builds have no environment to review (nothing was tested);
* `undecided_reviews`: an environment review has no decision yet;
* `rejected_reviews`: an environment review was rejected;
* `untriaged_failures`: a failed result of a latest execution has no issue attached and no
  active quarantine;
* `regressions`: a result passed in the previous version and fails now, with no active
  quarantine (see `comparison.py` for how results are matched);
* `missing_environments`: an environment ran the previous version but not this one.

Quarantined failures are counted apart and never hold an artefact back. The due date is shown,
not judged: being late does not make an artefact less ready.

Everything is computed for any number of artefacts in a fixed number of statements, so the
artefact listing can carry a summary of each without a call per artefact.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from sqlalchemy import any_, func, literal, select, text, true
from sqlalchemy.orm import Session

from test_observer.db.models import (
    ArtefactBuildEnvironmentReview,
    ArtefactBuildEnvironmentReviewDecision,
)
from test_observer.db.models.enums import review_decision_type
from test_observer.environments.schemas import EnvironmentResponse

from .comparison import classified_statement, comparison_parameters
from .previous import previous_artefact_ids
from .queries import latest_builds
from .schemas import (
    ReadinessCounts,
    ReadinessReason,
    ReadinessReasonCode,
    ReadinessResponse,
    ReadinessSummary,
    ReviewDecisionCount,
)
from .service import get_artefact

_TALLY = text(
    classified_statement(
        """
SELECT artefact_id,
       count(*) FILTER (WHERE regression AND NOT quarantined) AS regressions,
       count(*) FILTER (WHERE unattached AND NOT quarantined) AS untriaged_failures,
       count(*) FILTER (WHERE quarantined) AS quarantined_failures
FROM classified
GROUP BY artefact_id
""",
        flaky=False,
    )
)

# Environments with a latest execution of the base artefact and none of the artefact, in any
# test plan, on each side's latest builds.
_MISSING = text(
    """
WITH sides AS (
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
ran AS (
    SELECT DISTINCT builds.artefact_id, e.environment_id
    FROM builds JOIN test_execution e ON e.artefact_build_id = builds.id
)
SELECT sides.artefact_id, environment.id, environment.name, environment.architecture
FROM sides
JOIN ran base_ran ON base_ran.artefact_id = sides.base_id
JOIN environment ON environment.id = base_ran.environment_id
WHERE NOT EXISTS (
    SELECT 1 FROM ran WHERE ran.artefact_id = sides.artefact_id
                        AND ran.environment_id = base_ran.environment_id
)
ORDER BY sides.artefact_id, environment.name, environment.architecture
"""
)


def environments_missing_since_previous(
    session: Session, pairs: Sequence[tuple[int, int | None]]
) -> dict[int, list[EnvironmentResponse]]:
    """Per artefact, the environments that ran its base (previous version) but not it.

    Latest builds, any test plan; one statement for every pair. Readiness's own reading of
    "missing environments", meant to give way to the missing-environments endpoint's.
    """
    missing: dict[int, list[EnvironmentResponse]] = defaultdict(list)
    with_base = [(artefact, base) for artefact, base in pairs if base is not None]
    if not with_base:
        return missing
    for artefact_id, env_id, name, architecture in session.execute(
        _MISSING,
        {
            "artefact_ids": [artefact for artefact, _ in with_base],
            "base_ids": [base for _, base in with_base],
        },
    ):
        missing[artefact_id].append(
            EnvironmentResponse(id=env_id, name=name, architecture=architecture)
        )
    return missing


@dataclass
class _Reviews:
    total: int = 0
    decided: int = 0
    rejected: int = 0
    by_decision: dict[ArtefactBuildEnvironmentReviewDecision, int] = field(default_factory=dict)


def _reviews(session: Session, artefact_ids: Collection[int]) -> dict[int, _Reviews]:
    latest = latest_builds(artefact_ids).subquery()
    review = ArtefactBuildEnvironmentReview
    decision = func.unnest(review.review_decision).table_valued("value").render_derived().lateral()
    reviews: dict[int, _Reviews] = defaultdict(_Reviews)
    totals = (
        select(
            latest.c.artefact_id,
            func.count(review.id).label("total"),
            func.count(review.id).filter(func.cardinality(review.review_decision) > 0),
            func.count(review.id).filter(
                literal(ArtefactBuildEnvironmentReviewDecision.REJECTED, review_decision_type)
                == any_(review.review_decision)
            ),
        )
        .join(review, review.artefact_build_id == latest.c.id)
        .group_by(latest.c.artefact_id)
    )
    for artefact_id, total, decided, rejected in session.execute(totals):
        reviews[artefact_id] = _Reviews(total, decided, rejected)
    for artefact_id, value, count in session.execute(
        select(latest.c.artefact_id, decision.c.value, func.count())
        .join(review, review.artefact_build_id == latest.c.id)
        .join(decision, true())
        .group_by(latest.c.artefact_id, decision.c.value)
    ):
        reviews[artefact_id].by_decision[ArtefactBuildEnvironmentReviewDecision(value)] = count
    return reviews


def _reasons(counts: ReadinessCounts) -> list[ReadinessReason]:
    undecided = counts.reviews_total - counts.reviews_decided
    rules: list[tuple[ReadinessReasonCode, int, str]] = [
        ("no_reviews", int(counts.reviews_total == 0), "Nothing was tested: no review to make"),
        (
            "undecided_reviews",
            undecided,
            f"Environment reviews without a decision: {undecided} of {counts.reviews_total}",
        ),
        (
            "rejected_reviews",
            counts.reviews_rejected,
            f"Rejected environment reviews: {counts.reviews_rejected}",
        ),
        (
            "untriaged_failures",
            counts.untriaged_failures,
            f"Failed results with no issue and no quarantine: {counts.untriaged_failures}",
        ),
        (
            "regressions",
            counts.regressions,
            f"Results that passed in the previous version and fail now: {counts.regressions}",
        ),
        (
            "missing_environments",
            counts.missing_environments,
            "Environments that ran the previous version but not this one: "
            f"{counts.missing_environments}",
        ),
    ]
    return [
        ReadinessReason(code=code, count=count, message=message)
        for code, count, message in rules
        if count > 0
    ]


@dataclass
class _Readiness:
    base_id: int | None
    counts: ReadinessCounts
    reviews: _Reviews
    missing: list[EnvironmentResponse]


def _readiness(session: Session, artefact_ids: Collection[int]) -> dict[int, _Readiness]:
    """Four statements (five with `previous_artefact_ids`), whatever the number of artefacts."""
    ids = list(artefact_ids)
    if not ids:
        return {}
    bases = previous_artefact_ids(session, ids)
    pairs = [(artefact_id, bases[artefact_id]) for artefact_id in ids if artefact_id in bases]
    tallies = {
        row.artefact_id: row for row in session.execute(_TALLY, comparison_parameters(pairs))
    }
    missing = environments_missing_since_previous(session, pairs)
    reviews = _reviews(session, ids)
    found: dict[int, _Readiness] = {}
    for artefact_id, base_id in pairs:
        tally = tallies.get(artefact_id)
        review = reviews.get(artefact_id, _Reviews())
        counts = ReadinessCounts(
            reviews_total=review.total,
            reviews_decided=review.decided,
            reviews_rejected=review.rejected,
            untriaged_failures=tally.untriaged_failures if tally else 0,
            regressions=tally.regressions if tally else 0,
            quarantined_failures=tally.quarantined_failures if tally else 0,
            missing_environments=len(missing.get(artefact_id, [])),
        )
        found[artefact_id] = _Readiness(base_id, counts, review, missing.get(artefact_id, []))
    return found


def readiness_summaries(
    session: Session, artefact_ids: Collection[int]
) -> dict[int, ReadinessSummary]:
    """The verdict and counts of each artefact, in a fixed number of statements."""
    return {
        artefact_id: ReadinessSummary(
            verdict="not_ready" if _reasons(found.counts) else "ready",
            reasons=[reason.code for reason in _reasons(found.counts)],
            counts=found.counts,
        )
        for artefact_id, found in _readiness(session, artefact_ids).items()
    }


def artefact_readiness(session: Session, artefact_id: int) -> ReadinessResponse:
    artefact = get_artefact(session, artefact_id)
    found = _readiness(session, [artefact_id])[artefact_id]
    reasons = _reasons(found.counts)
    return ReadinessResponse(
        artefact_id=artefact_id,
        base_artefact_id=found.base_id,
        verdict="not_ready" if reasons else "ready",
        reasons=reasons,
        counts=found.counts,
        review_decisions=[
            ReviewDecisionCount(decision=decision, count=count)
            for decision, count in sorted(found.reviews.by_decision.items())
        ],
        missing_environments=found.missing,
        due_date=artefact.due_date,
    )
