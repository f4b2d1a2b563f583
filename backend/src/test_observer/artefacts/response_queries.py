"""Builds `ArtefactResponse`s for any number of artefacts in a fixed number of queries."""

from collections import defaultdict
from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from test_observer.db.ids import one_of
from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    ArtefactBuildEnvironmentReview,
    User,
    artefact_bundled_builds_association,
    artefact_reviewers_association,
)

from .queries import latest_builds
from .schemas import ArtefactBuildMinimalResponse, ArtefactResponse, ReviewerResponse


def reviewer_response(user: User) -> ReviewerResponse:
    return ReviewerResponse(
        id=user.id,
        name=user.name,
        email=user.email,
        launchpad_email=user.email,
        launchpad_handle=user.launchpad_handle,
    )


def artefact_responses(
    session: Session, artefact_ids: Collection[int]
) -> dict[int, ArtefactResponse]:
    """Responses keyed by artefact id; unknown ids are absent. Four queries in all."""
    ids = list(set(artefact_ids))
    if not ids:
        return {}
    artefacts = session.scalars(select(Artefact).where(one_of(Artefact.id, ids))).all()

    reviewers: dict[int, list[ReviewerResponse]] = defaultdict(list)
    for artefact_id, user in session.execute(
        select(artefact_reviewers_association.c.artefact_id, User)
        .join(User, User.id == artefact_reviewers_association.c.user_id)
        .where(one_of(artefact_reviewers_association.c.artefact_id, ids))
        .order_by(
            artefact_reviewers_association.c.artefact_id,
            artefact_reviewers_association.c.position,
            User.id,
        )
    ):
        reviewers[artefact_id].append(reviewer_response(user))

    latest = latest_builds(ids).subquery()
    counts = {
        artefact_id: (total, completed)
        for artefact_id, total, completed in session.execute(
            select(
                latest.c.artefact_id,
                func.count(ArtefactBuildEnvironmentReview.id),
                func.count(ArtefactBuildEnvironmentReview.id).filter(
                    func.cardinality(ArtefactBuildEnvironmentReview.review_decision) > 0
                ),
            )
            .join(
                ArtefactBuildEnvironmentReview,
                ArtefactBuildEnvironmentReview.artefact_build_id == latest.c.id,
            )
            .group_by(latest.c.artefact_id)
        )
    }

    bundled: dict[int, list[ArtefactBuildMinimalResponse]] = defaultdict(list)
    for artefact_id, build_id, architecture, revision in session.execute(
        select(
            artefact_bundled_builds_association.c.artefact_id,
            ArtefactBuild.id,
            ArtefactBuild.architecture,
            ArtefactBuild.revision,
        )
        .join(
            ArtefactBuild,
            ArtefactBuild.id == artefact_bundled_builds_association.c.artefact_build_id,
        )
        .where(one_of(artefact_bundled_builds_association.c.artefact_id, ids))
        .order_by(
            artefact_bundled_builds_association.c.artefact_id,
            artefact_bundled_builds_association.c.position,
            ArtefactBuild.id,
        )
    ):
        bundled[artefact_id].append(
            ArtefactBuildMinimalResponse(id=build_id, architecture=architecture, revision=revision)
        )

    responses = {}
    for artefact in artefacts:
        total, completed = counts.get(artefact.id, (0, 0))
        artefact_reviewers = reviewers[artefact.id]
        responses[artefact.id] = ArtefactResponse(
            id=artefact.id,
            name=artefact.name,
            version=artefact.version,
            family=artefact.family,
            stage=artefact.stage,
            track=artefact.track,
            store=artefact.store,
            branch=artefact.branch,
            series=artefact.series,
            repo=artefact.repo,
            source=artefact.source,
            os=artefact.os,
            release=artefact.release,
            owner=artefact.owner,
            sha256=artefact.sha256,
            image_url=artefact.image_url,
            status=artefact.status,
            comment=artefact.comment,
            archived=artefact.archived,
            reviewers=artefact_reviewers,
            assignee=artefact_reviewers[0] if artefact_reviewers else None,
            due_date=artefact.due_date,
            created_at=artefact.created_at,
            bug_link=artefact.bug_link,
            jira_issue=artefact.jira_issue,
            all_environment_reviews_count=total,
            completed_environment_reviews_count=completed,
            bundled_builds=bundled[artefact.id],
        )
    return responses
