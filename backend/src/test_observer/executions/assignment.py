"""Choosing reviewers for an artefact when CI asks for it on start-test.

The artefact row is locked for the whole assignment: concurrent start-tests for one artefact
take turns, so none over-assigns reviewers, double-assigns a review or repeats a notification.
`FOR NO KEY UPDATE` rather than `FOR UPDATE`, so that other jobs can still insert builds that
reference the artefact meanwhile (their foreign-key check only needs a key-share lock).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import ColumnElement, case, delete, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from test_observer.artefacts.queries import latest_builds
from test_observer.artefacts.reviewers import add_reviewers, reviewer_ids
from test_observer.audit.service import SYSTEM, record_audit_event
from test_observer.db.models import (
    MATCHING_FIELDS,
    Artefact,
    ArtefactBuildEnvironmentReview,
    ArtefactMatchingRule,
    TestExecution,
    artefact_matching_rule_team_association,
    environment_review_reviewers_association,
    team_users_association,
)
from test_observer.settings import Settings

EXECUTIONS_PER_REVIEWER = 50
DUE_IN = timedelta(days=10)


def is_kernel(name: str) -> bool:
    return name.startswith("linux-") or name.endswith("-kernel")


def eligible_reviewers(session: Session, artefact: Artefact) -> set[int]:
    """Members of the teams linked to the most specific rules matching the artefact."""
    rule = ArtefactMatchingRule
    specificity: ColumnElement[int] = literal(0)
    for name in MATCHING_FIELDS:
        specificity = specificity + case((getattr(rule, name) != "", 1), else_=0)
    matching = (
        select(rule.id, specificity.label("specificity"))
        .where(
            rule.family == artefact.family,
            *(
                or_(getattr(rule, name) == "", getattr(rule, name) == getattr(artefact, name))
                for name in MATCHING_FIELDS
            ),
        )
        .cte("matching")
    )
    teams = artefact_matching_rule_team_association
    members = team_users_association
    return set(
        session.scalars(
            select(members.c.user_id)
            .distinct()
            .join(teams, teams.c.team_id == members.c.team_id)
            .join(matching, matching.c.id == teams.c.artefact_matching_rule_id)
            .where(
                matching.c.specificity == select(func.max(matching.c.specificity)).scalar_subquery()
            )
        )
    )


def assign_reviewers(session: Session, artefact_id: int, settings: Settings) -> None:
    artefact = session.execute(
        select(Artefact).where(Artefact.id == artefact_id).with_for_update(key_share=True)
    ).scalar_one()
    current = set(reviewer_ids(session, artefact_id))
    latest = latest_builds([artefact_id]).subquery()
    executions = session.scalar(
        select(func.count(TestExecution.id)).join(
            latest, latest.c.id == TestExecution.artefact_build_id
        )
    )
    wanted = math.ceil((executions or 0) / EXECUTIONS_PER_REVIEWER) - len(current)
    chosen: list[int] = []
    if wanted > 0:
        candidates = sorted(eligible_reviewers(session, artefact) - current)
        chosen = random.sample(candidates, min(wanted, len(candidates)))
    added = add_reviewers(session, artefact, chosen, settings)
    if added:
        due: date | None = None
        if not is_kernel(artefact.name):
            due = datetime.now(UTC).date() + DUE_IN
        session.execute(update(Artefact).where(Artefact.id == artefact_id).values(due_date=due))
        # The service's own rule chose them, whoever reported the test: the system acts.
        record_audit_event(
            session,
            SYSTEM,
            "artefact.reviewers_assigned",
            "artefact",
            artefact_id,
            before={"reviewer_ids": sorted(current), "due_date": artefact.due_date},
            after={"reviewer_ids": sorted(current | set(added)), "due_date": due},
            artefact_id=artefact_id,
        )
    reviewers = current | set(added)
    if reviewers:
        _assign_environment_reviews(session, artefact_id, reviewers)


def _assign_environment_reviews(session: Session, artefact_id: int, reviewers: set[int]) -> None:
    """Give every review of the latest builds that no artefact reviewer holds one reviewer,
    least-loaded reviewer first, so that loads differ by at most one."""
    latest = latest_builds([artefact_id]).subquery()
    review = ArtefactBuildEnvironmentReview
    holders = environment_review_reviewers_association
    held_by: dict[int, set[int]] = defaultdict(set)
    for review_id, user_id in session.execute(
        select(review.id, holders.c.user_id)
        .join(latest, latest.c.id == review.artefact_build_id)
        .outerjoin(holders, holders.c.environment_review_id == review.id)
        .order_by(review.id)
    ):
        held_by[review_id]
        if user_id is not None:
            held_by[review_id].add(user_id)

    load = dict.fromkeys(sorted(reviewers), 0)
    unassigned = []
    for review_id, users in held_by.items():
        mine = users & reviewers
        if mine:
            for user_id in mine:
                load[user_id] += 1
        else:
            unassigned.append(review_id)
    if not unassigned:
        return
    assignments = []
    for review_id in unassigned:
        user_id = min(load, key=lambda user: (load[user], user))
        load[user_id] += 1
        assignments.append({"environment_review_id": review_id, "user_id": user_id})
    session.execute(delete(holders).where(holders.c.environment_review_id.in_(unassigned)))
    session.execute(insert(holders), assignments)
