"""`artefact.readiness_changed`: a change of readiness verdict, announced by the write that
caused it, in its transaction.

Every write that can change a verdict calls one of the functions below with what it touched.
They do nothing unless an active webhook wants the event (one small query). Otherwise they
lock the touched artefacts' rows in id order and compare each verdict with the one last
announced (`artefact.readiness_verdict`). An artefact announced not ready that a cheap rule
still holds back (a review to make, an untriaged failure, a regression) is left there;
readiness is computed (`readiness.readiness_summaries`, a fixed number of statements) only for
the others, and the changes are recorded and announced.

The lock makes concurrent writers take turns: each computes after the previous one committed,
so one flip is announced once, and the last verdict recorded is that of everything committed.
Callers call these before any `emit` of their own, so that no transaction holding a queued
delivery job waits for an artefact's row (the queue keeps one waiting job per webhook, and
a second writer of that job waits for the first).

An artefact with no verdict recorded yet (one that existed before this was built, or one
written to while no webhook wanted the event) has it recorded without an event: there is no
earlier verdict to compare with.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    String,
    any_,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    union,
)
from sqlalchemy.orm import Session

from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    FamilyName,
    TestExecution,
    TestResult,
    TestResultStatus,
    Webhook,
)
from test_observer.webhooks.events import EventType, about, emit, wanted

from .cell_regressions import LATEST_BUILDS
from .previous import next_version_ids, previous_artefact_ids
from .readiness import readiness_summaries

EVENT = EventType.ARTEFACT_READINESS_CHANGED

_RECORD = text(
    """
    UPDATE artefact SET readiness_verdict = v.verdict
    FROM unnest(CAST(:ids AS integer[]), CAST(:verdicts AS varchar[])) AS v(id, verdict)
    WHERE artefact.id = v.id
    """
)


# The artefacts that are certainly not ready, by rules that are cheap to test one row at a
# time: a review of the latest builds undecided or rejected, or none at all; or a failed
# result of a latest execution (per environment and test plan, on the latest builds), not
# quarantined, that has no issue or that passed in the previous version's latest execution of
# the cell. Those are `readiness.py`'s no_reviews, undecided_reviews, rejected_reviews,
# untriaged_failures and regressions, spelled as existence tests that stop at the first row
# and look up only failed results: an artefact under test nearly always meets one, and for
# it the whole comparison with the previous version need not be made to know it is still not
# ready.
_HELD_BACK = text(
    """
    WITH sides AS (
        SELECT * FROM unnest(CAST(:ids AS integer[]), CAST(:base_ids AS integer[]))
            AS s(artefact_id, base_id)
    ),"""
    + LATEST_BUILDS.format(
        name="builds", artefact_ids="SELECT artefact_id FROM sides UNION SELECT base_id FROM sides"
    )
    + """,
    latest AS (
        SELECT DISTINCT ON (builds.artefact_id, e.environment_id, e.test_plan_id)
               builds.artefact_id, e.id, e.environment_id, e.test_plan_id
        FROM builds JOIN test_execution e ON e.artefact_build_id = builds.id
        ORDER BY builds.artefact_id, e.environment_id, e.test_plan_id, e.created_at DESC,
                 e.id DESC
    )
    SELECT sides.artefact_id
    FROM sides
    WHERE NOT EXISTS (
        SELECT 1 FROM builds JOIN artefact_build_environment_review r
                               ON r.artefact_build_id = builds.id
        WHERE builds.artefact_id = sides.artefact_id
    ) OR EXISTS (
        SELECT 1 FROM builds JOIN artefact_build_environment_review r
                               ON r.artefact_build_id = builds.id
        WHERE builds.artefact_id = sides.artefact_id
          AND (cardinality(r.review_decision) = 0 OR 'REJECTED' = ANY (r.review_decision))
    ) OR EXISTS (
        SELECT 1 FROM latest JOIN test_result t ON t.test_execution_id = latest.id
        -- Spelled so that the index of results that may need triage applies.
        WHERE latest.artefact_id = sides.artefact_id
          AND t.status IN ('FAILED', 'SKIPPED') AND t.status = 'FAILED'
          AND NOT EXISTS (
              SELECT 1 FROM quarantine q
              WHERE q.test_case_id = t.test_case_id
                AND (q.environment_id IS NULL OR q.environment_id = latest.environment_id)
                AND (q.expires_at IS NULL OR q.expires_at > timezone('utc', now()))
          )
          AND (
              NOT EXISTS (
                  SELECT 1 FROM issue_test_result_attachment a WHERE a.test_result_id = t.id
              )
              OR EXISTS (
                  SELECT 1 FROM latest base
                  JOIN test_result b ON b.test_execution_id = base.id
                  WHERE base.artefact_id = sides.base_id
                    AND base.environment_id = latest.environment_id
                    AND base.test_plan_id = latest.test_plan_id
                    AND b.test_case_id = t.test_case_id AND b.status = 'PASSED'
              )
          )
    )
    """
)


def _held_back(session: Session, artefact_ids: list[int]) -> set[int]:
    """Those of the artefacts the cheap rules hold back. Not asked about an artefact announced
    ready: whatever they say, its readiness is computed in full (for the event's reasons, or
    to know it is still ready), and finding nothing would cost them the most."""
    if not artefact_ids:
        return set()
    bases = previous_artefact_ids(session, artefact_ids)
    return set(
        session.scalars(
            _HELD_BACK,
            {"ids": artefact_ids, "base_ids": [bases.get(i) or 0 for i in artefact_ids]},
        )
    )


def _wants(artefact: type[Artefact]) -> ColumnElement[bool]:
    """Some active webhook wants the event about this artefact."""
    return exists().where(
        Webhook.active,
        literal(EVENT.value) == any_(Webhook.event_types),
        or_(
            func.cardinality(Webhook.families) == 0,
            cast(artefact.family, String) == any_(Webhook.families),
        ),
        or_(
            func.cardinality(Webhook.artefact_names) == 0,
            artefact.name == any_(Webhook.artefact_names),
        ),
    )


def announce_readiness(session: Session, artefact_ids: Collection[int] | Select[Any]) -> None:
    """After a write to these artefacts' reviews, status, attachments or expectations."""
    if _wanted(session):
        _announce(session, artefact_ids)


def announce_readiness_of_executions(
    session: Session,
    execution_ids: Collection[int] | Select[Any],
    *,
    next_versions: bool = True,
) -> None:
    """After a write to these executions or their results: their artefacts change, and with
    `next_versions` the artefacts whose previous version they are (whose comparison's base
    they are) too. Attachments change only their own artefacts."""
    if not _wanted(session):
        return
    owners = list(
        session.scalars(
            select(ArtefactBuild.artefact_id)
            .distinct()
            .join(TestExecution, TestExecution.artefact_build_id == ArtefactBuild.id)
            .where(TestExecution.id.in_(execution_ids))
        )
    )
    if next_versions and owners:
        _announce(
            session,
            union(select(Artefact.id).where(Artefact.id.in_(owners)), next_version_ids(owners)),
        )
    else:
        _announce(session, owners)


def announce_readiness_of_test_case(
    session: Session, test_case_id: int, environment_ids: Collection[int]
) -> None:
    """After a quarantine of the test case changed (on these environments; none: all): the
    current artefacts with a failed result of it."""
    if not _wanted(session):
        return
    failing = (
        select(ArtefactBuild.artefact_id)
        .join(TestExecution, TestExecution.artefact_build_id == ArtefactBuild.id)
        .join(TestResult, TestResult.test_execution_id == TestExecution.id)
        .join(Artefact, Artefact.id == ArtefactBuild.artefact_id)
        .where(
            TestResult.test_case_id == test_case_id,
            TestResult.status == TestResultStatus.FAILED,
            ~Artefact.archived,
        )
    )
    if environment_ids:
        failing = failing.where(TestResult.environment_id.in_(list(environment_ids)))
    _announce(session, failing)


def announce_readiness_of_name(session: Session, family: FamilyName, name: str) -> None:
    """After the environments expected of artefacts of this family and name changed: the
    current ones."""
    if _wanted(session):
        _announce(
            session,
            select(Artefact.id).where(
                Artefact.family == family, Artefact.name == name, ~Artefact.archived
            ),
        )


def _wanted(session: Session) -> bool:
    # What this transaction wrote through the ORM must be visible to the SQL that follows.
    session.flush()
    return wanted(session, EVENT)


def _announce(
    session: Session, touched: Collection[int] | Select[Any] | CompoundSelect[Any]
) -> None:
    announced: dict[int, str | None] = dict(
        session.execute(
            select(Artefact.id, Artefact.readiness_verdict)
            .where(Artefact.id.in_(touched), _wants(Artefact))
            .order_by(Artefact.id)
            .with_for_update(of=Artefact, key_share=True)
        ).all()
    )
    if not announced:
        return
    held_back = _held_back(session, [i for i, verdict in announced.items() if verdict != "ready"])
    # Still not ready: nothing changed. Never recorded: recorded, and no event to write.
    unchanged = {i for i in held_back if announced[i] == "not_ready"}
    first = {i for i in held_back if announced[i] is None}
    summaries = readiness_summaries(session, announced.keys() - unchanged - first)
    changed = {
        artefact_id: summary.verdict
        for artefact_id, summary in summaries.items()
        if summary.verdict != announced[artefact_id]
    }
    changed.update(dict.fromkeys(first, "not_ready"))
    if not changed:
        return
    session.execute(_RECORD, {"ids": list(changed), "verdicts": list(changed.values())})
    flipped = [artefact_id for artefact_id in changed if announced[artefact_id] is not None]
    if not flipped:
        return
    artefacts = session.scalars(
        select(Artefact)
        .where(Artefact.id.in_(flipped))
        .order_by(Artefact.id)
        .execution_options(populate_existing=True)
    )
    emit(
        session,
        [
            about(
                artefact,
                EVENT,
                {
                    "previous_verdict": announced[artefact.id],
                    "verdict": summaries[artefact.id].verdict,
                    "reasons": summaries[artefact.id].reasons,
                    "counts": summaries[artefact.id].counts.model_dump(),
                },
            )
            for artefact in artefacts
        ],
    )
