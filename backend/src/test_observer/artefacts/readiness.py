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
* `missing_environments`: an environment expected of it has run none of its executions:
  expected are the declared environments (`PUT /v1/expected-environments`) when any
  declaration applies, else those that ran the previous version. The rule is
  `expectations.missing`, the missing-environments endpoint's too, so both always agree.

Quarantined failures are counted apart and never hold an artefact back. The due date is shown,
not judged: being late does not make an artefact less ready.

Everything is computed for any number of artefacts in a fixed number of statements, so the
artefact listing can carry a summary of each without a call per artefact.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import any_, func, literal, select, text, true
from sqlalchemy.orm import Session

from test_observer.db.models import (
    ArtefactBuildEnvironmentReview,
    ArtefactBuildEnvironmentReviewDecision,
)
from test_observer.db.models.enums import review_decision_type
from test_observer.environments.schemas import EnvironmentResponse
from test_observer.expectations.missing import Missing, missing_environments

from .comparison import active_quarantine, comparison_parameters, failures_statement
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

# Readiness judges only the failures of each cell's latest execution (regressions, untriaged
# and quarantined failures are all failed now): the comparison's `failed_now`, each failure
# with the base's result of its test case, read without the results that passed, the bulk of
# a release. A regression is what the comparison calls one (`comparison.py`), counted apart
# when quarantined.
_TALLY = text(
    failures_statement(
        f""",
failed AS MATERIALIZED (
    SELECT f.artefact_id, f.base_status,
           {active_quarantine("f.test_case_id", "f.environment_id")} AS quarantined,
           EXISTS (
               SELECT 1 FROM issue_test_result_attachment a WHERE a.test_result_id = f.result_id
           ) AS attached
    FROM failed_now f
)
SELECT artefact_id,
       count(*) FILTER (WHERE base_status = 'PASSED' AND NOT quarantined) AS regressions,
       count(*) FILTER (WHERE NOT attached AND NOT quarantined) AS untriaged_failures,
       count(*) FILTER (WHERE quarantined) AS quarantined_failures
FROM failed
GROUP BY artefact_id
"""
    )
)


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
            "Expected environments (declared, else those that ran the previous version) "
            f"with no execution: {counts.missing_environments}",
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
    missing: Missing


def _readiness(session: Session, artefact_ids: Collection[int]) -> dict[int, _Readiness]:
    """Five statements, whatever the number of artefacts: previous versions, tallies, missing
    environments and two for reviews."""
    ids = list(artefact_ids)
    if not ids:
        return {}
    bases = previous_artefact_ids(session, ids)
    pairs = [(artefact_id, bases[artefact_id]) for artefact_id in ids if artefact_id in bases]
    tallies = {
        row.artefact_id: row for row in session.execute(_TALLY, comparison_parameters(pairs))
    }
    missing = missing_environments(session, dict(pairs))
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
            missing_environments=len(missing[artefact_id].names),
        )
        found[artefact_id] = _Readiness(base_id, counts, review, missing[artefact_id])
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
        missing_environments=[
            EnvironmentResponse(id=e.id, name=e.name, architecture=e.architecture)
            for e in found.missing.environments
        ],
        missing_environment_names=found.missing.names,
        missing_environments_expected_from=found.missing.expected_from,
        due_date=artefact.due_date,
    )
