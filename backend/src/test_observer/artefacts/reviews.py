"""Environment reviews of an artefact's latest builds: reading them and recording decisions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import (
    select,
    update,
)
from sqlalchemy.orm import Session

from test_observer.audit.service import Change, record_audit_events
from test_observer.auth import Principal
from test_observer.db.models import (
    ArtefactBuild,
    ArtefactBuildEnvironmentReview,
    Environment,
    User,
    environment_review_reviewers_association,
)
from test_observer.environments.schemas import EnvironmentResponse
from test_observer.errors import NotFoundError, UnprocessableError
from test_observer.webhooks.events import EventType, about, emit

from .queries import latest_builds
from .readiness_events import announce_readiness
from .response_queries import reviewer_response
from .schemas import (
    ArtefactBuildMinimalResponse,
    EnvironmentReviewPatch,
    EnvironmentReviewResponse,
    ReviewerResponse,
)
from .service import get_artefact


def environment_review_responses(
    session: Session, review_ids: Collection[int]
) -> dict[int, EnvironmentReviewResponse]:
    """Responses keyed by review id, in two queries."""
    ids = list(set(review_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(ArtefactBuildEnvironmentReview, Environment, ArtefactBuild)
        .join(Environment, Environment.id == ArtefactBuildEnvironmentReview.environment_id)
        .join(ArtefactBuild, ArtefactBuild.id == ArtefactBuildEnvironmentReview.artefact_build_id)
        .where(ArtefactBuildEnvironmentReview.id.in_(ids))
    ).all()
    association = environment_review_reviewers_association
    reviewers: dict[int, list[ReviewerResponse]] = defaultdict(list)
    for review_id, user in session.execute(
        select(association.c.environment_review_id, User)
        .join(User, User.id == association.c.user_id)
        .where(association.c.environment_review_id.in_(ids))
        .order_by(association.c.environment_review_id, User.id)
    ):
        reviewers[review_id].append(reviewer_response(user))
    return {
        review.id: EnvironmentReviewResponse(
            id=review.id,
            review_decision=review.review_decision,
            review_comment=review.review_comment,
            environment=EnvironmentResponse.model_validate(environment),
            artefact_build=ArtefactBuildMinimalResponse.model_validate(build),
            reviewers=reviewers[review.id],
        )
        for review, environment, build in rows
    }


def environment_reviews(session: Session, artefact_id: int) -> list[EnvironmentReviewResponse]:
    """Reviews of the artefact's latest builds, by build architecture and environment name."""
    get_artefact(session, artefact_id)
    latest = latest_builds([artefact_id]).subquery()
    ids = session.scalars(
        select(ArtefactBuildEnvironmentReview.id)
        .join(latest, latest.c.id == ArtefactBuildEnvironmentReview.artefact_build_id)
        .join(ArtefactBuild, ArtefactBuild.id == latest.c.id)
        .join(Environment, Environment.id == ArtefactBuildEnvironmentReview.environment_id)
        .order_by(ArtefactBuild.architecture, Environment.name, ArtefactBuildEnvironmentReview.id)
    ).all()
    responses = environment_review_responses(session, ids)
    return [responses[review_id] for review_id in ids]


def _review_changes(patch: EnvironmentReviewPatch) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if patch.review_decision is not None:
        # Stored once per value, in a stable order, however the client sent them.
        changes["review_decision"] = list(dict.fromkeys(patch.review_decision))
    if patch.review_comment is not None:
        changes["review_comment"] = patch.review_comment
    return changes


def _apply_review_changes(session: Session, changes: dict[int, dict[str, Any]]) -> None:
    """One executemany UPDATE per combination of changed fields (at most three)."""
    by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for review_id, values in changes.items():
        if values:
            by_keys[tuple(sorted(values))].append({"id": review_id, **values})
    for rows in by_keys.values():
        session.execute(update(ArtefactBuildEnvironmentReview), rows)


def _current_reviews(
    session: Session, artefact_id: int, review_ids: Collection[int]
) -> dict[int, dict[str, Any]]:
    """Decision and comment of those of `review_ids` that belong to the artefact, by id."""
    rows = session.execute(
        select(
            ArtefactBuildEnvironmentReview.id,
            ArtefactBuildEnvironmentReview.review_decision,
            ArtefactBuildEnvironmentReview.review_comment,
        )
        .join(ArtefactBuild, ArtefactBuild.id == ArtefactBuildEnvironmentReview.artefact_build_id)
        .where(
            ArtefactBuildEnvironmentReview.id.in_(list(review_ids)),
            ArtefactBuild.artefact_id == artefact_id,
        )
    )
    return {
        row.id: {"review_decision": list(row.review_decision), "review_comment": row.review_comment}
        for row in rows
    }


def _record_review_changes(
    session: Session,
    principal: Principal,
    artefact_id: int,
    before: dict[int, dict[str, Any]],
    changes: dict[int, dict[str, Any]],
) -> None:
    """One audit event per review whose decision or comment changed, in one INSERT."""
    events = []
    for review_id, values in changes.items():
        changed = {key: value for key, value in values.items() if before[review_id][key] != value}
        if changed:
            events.append(
                Change(
                    "environment_review.changed",
                    "environment_review",
                    review_id,
                    before={key: before[review_id][key] for key in changed},
                    after=changed,
                    artefact_id=artefact_id,
                )
            )
    record_audit_events(session, principal, events)


def _announce_decisions(
    session: Session, artefact_id: int, reviews: Sequence[EnvironmentReviewResponse]
) -> None:
    """One `environment_review.decided` event per review whose decision was set, written
    together in one statement."""
    if not reviews:
        return
    announce_readiness(session, [artefact_id])
    artefact = get_artefact(session, artefact_id)
    emit(
        session,
        [
            about(
                artefact,
                EventType.ENVIRONMENT_REVIEW_DECIDED,
                {
                    "review": {
                        "id": review.id,
                        "environment": review.environment.name,
                        "architecture": review.artefact_build.architecture,
                        "decision": [decision.value for decision in review.review_decision],
                        "comment": review.review_comment,
                    }
                },
            )
            for review in sorted(reviews, key=lambda review: review.id)
        ],
    )


def update_environment_reviews(
    session: Session,
    principal: Principal,
    artefact_id: int,
    patches: Sequence[EnvironmentReviewPatch],
) -> list[EnvironmentReviewResponse]:
    """Apply the patches that name a review of this artefact; skip the others silently."""
    wanted = {patch.id for patch in patches if patch.id is not None}
    if not wanted:
        return []
    before = _current_reviews(session, artefact_id, wanted)
    owned = set(before)
    kept = [patch for patch in patches if patch.id in owned]
    changes: dict[int, dict[str, Any]] = defaultdict(dict)
    for patch in kept:
        assert patch.id is not None
        changes[patch.id].update(_review_changes(patch))
    _apply_review_changes(session, changes)
    _record_review_changes(session, principal, artefact_id, before, changes)
    responses = environment_review_responses(session, owned)
    _announce_decisions(
        session, artefact_id, [responses[i] for i in changes if "review_decision" in changes[i]]
    )
    return [responses[patch.id] for patch in kept if patch.id is not None]


def update_environment_review(
    session: Session,
    principal: Principal,
    artefact_id: int,
    review_id: int,
    patch: EnvironmentReviewPatch,
) -> EnvironmentReviewResponse:
    belongs_to = session.scalar(
        select(ArtefactBuild.artefact_id)
        .join(
            ArtefactBuildEnvironmentReview,
            ArtefactBuildEnvironmentReview.artefact_build_id == ArtefactBuild.id,
        )
        .where(ArtefactBuildEnvironmentReview.id == review_id)
    )
    if belongs_to is None:
        raise NotFoundError(f"Environment review {review_id} doesn't exist")
    if belongs_to != artefact_id:
        raise UnprocessableError(
            f"Environment review {review_id} doesn't belong to artefact {artefact_id}",
        )
    before = _current_reviews(session, artefact_id, [review_id])
    changes = {review_id: _review_changes(patch)}
    _apply_review_changes(session, changes)
    _record_review_changes(session, principal, artefact_id, before, changes)
    response = environment_review_responses(session, [review_id])[review_id]
    if "review_decision" in changes[review_id]:
        _announce_decisions(session, artefact_id, [response])
    return response
