"""Artefact listing, history, the artefact page (builds, environment reviews) and sign-off.

Every function answers in a fixed number of statements, whatever the number of rows.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Sequence
from typing import Any

from fastapi import HTTPException, status
from sqlalchemy import (
    ColumnElement,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    ArtefactBuildEnvironmentReview,
    ArtefactBuildEnvironmentReviewDecision,
    ArtefactStatus,
    Environment,
    FamilyName,
    TestExecution,
    User,
    artefact_bundled_builds_association,
    artefact_reviewers_association,
    environment_review_reviewers_association,
    test_execution_metadata_association_table,
)
from test_observer.environments.schemas import EnvironmentResponse
from test_observer.executions.responses import execution_responses
from test_observer.notifications.service import notify_reviewers_assigned
from test_observer.settings import Settings

from .build_schemas import ArtefactBuildResponse
from .queries import latest_builds
from .responses import artefact_responses, reviewer_response
from .schemas import (
    ArtefactBuildMinimalResponse,
    ArtefactHistoryItemResponse,
    ArtefactHistoryResponse,
    ArtefactMinimalResponse,
    ArtefactPatch,
    ArtefactResponse,
    ArtefactSearchResponse,
    ArtefactVersionResponse,
    EnvironmentReviewPatch,
    EnvironmentReviewResponse,
    ReviewerResponse,
    StageName,
)

# The fields that make artefacts of one family "the same thing" on the dashboard: only the
# newest artefact of each group is current. `None` means every artefact is its own group.
DASHBOARD_GROUPS: dict[FamilyName, tuple[str, ...] | None] = {
    FamilyName.snap: ("stage", "name", "track", "branch", "store"),
    FamilyName.deb: ("stage", "name", "repo", "series", "source"),
    FamilyName.charm: None,
    FamilyName.image: ("stage", "name", "os", "release"),
    FamilyName.solution: ("stage", "name", "source", "track"),
}

# The fields that make artefacts versions of one line (the versions endpoint).
VERSION_LINE = (
    "family",
    "name",
    "store",
    "track",
    "branch",
    "series",
    "repo",
    "os",
    "release",
    "source",
)

FAMILY_STAGES: dict[FamilyName, frozenset[StageName]] = {
    FamilyName.snap: frozenset(
        {StageName.edge, StageName.beta, StageName.candidate, StageName.stable}
    ),
    FamilyName.charm: frozenset(
        {StageName.edge, StageName.beta, StageName.candidate, StageName.stable}
    ),
    FamilyName.solution: frozenset(
        {StageName.edge, StageName.beta, StageName.candidate, StageName.stable}
    ),
    FamilyName.deb: frozenset({StageName.proposed, StageName.updates}),
    FamilyName.image: frozenset({StageName.pending, StageName.current}),
}

# Families whose artefacts have a track worth defaulting to "latest" in the history.
TRACKED_FAMILIES = frozenset({FamilyName.snap, FamilyName.charm})


def not_found(artefact_id: int) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"Artefact with id {artefact_id} not found")


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with LIKE's wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def get_artefact(session: Session, artefact_id: int, *, lock: bool = False) -> Artefact:
    query = select(Artefact).where(Artefact.id == artefact_id)
    if lock:
        query = query.with_for_update()
    artefact = session.scalar(query)
    if artefact is None:
        raise not_found(artefact_id)
    return artefact


def artefact_response(session: Session, artefact_id: int) -> ArtefactResponse:
    response = artefact_responses(session, [artefact_id]).get(artefact_id)
    if response is None:
        raise not_found(artefact_id)
    return response


# Listing and search -----------------------------------------------------------------------------


def current_artefact_ids(session: Session, family: FamilyName) -> list[int]:
    """Non-archived artefacts that are the newest of their dashboard group, by name and age.

    One row per group even when several artefacts share the newest creation time (the highest
    id wins), which a comparison with max(created_at) would not guarantee.
    """
    group = DASHBOARD_GROUPS[family]
    base = select(Artefact.id, Artefact.name, Artefact.created_at).where(
        Artefact.family == family, Artefact.archived.is_(False)
    )
    if group is not None:
        columns = [getattr(Artefact, name) for name in group]
        base = base.ext(distinct_on(*columns)).order_by(
            *columns, Artefact.created_at.desc(), Artefact.id.desc()
        )
    current = base.subquery()
    return list(
        session.scalars(
            select(current.c.id).order_by(current.c.name, current.c.created_at, current.c.id)
        )
    )


def list_current_artefacts(session: Session, family: FamilyName | None) -> list[ArtefactResponse]:
    families = [family] if family is not None else list(DASHBOARD_GROUPS)
    ids = [artefact_id for f in families for artefact_id in current_artefact_ids(session, f)]
    responses = artefact_responses(session, ids)
    return [responses[artefact_id] for artefact_id in ids]


def search_artefact_names(
    session: Session,
    q: str | None,
    families: Sequence[FamilyName],
    limit: int,
    offset: int,
) -> ArtefactSearchResponse:
    conditions: list[ColumnElement[bool]] = [Artefact.archived.is_(False)]
    text = (q or "").strip()
    if text:
        conditions.append(func.lower(Artefact.name).like(like_pattern(text), escape="\\"))
    if families:
        conditions.append(Artefact.family.in_(families))
    names = select(Artefact.name).where(*conditions).distinct().subquery()
    count = session.scalar(select(func.count()).select_from(names)) or 0
    page = session.scalars(
        select(names.c.name).order_by(names.c.name).limit(limit).offset(offset)
    ).all()
    return ArtefactSearchResponse(artefacts=list(page), count=count, limit=limit, offset=offset)


def artefact_history(
    session: Session,
    *,
    name: str,
    family: FamilyName,
    track: str | None,
    stage: StageName | None,
    limit: int,
    offset: int,
) -> ArtefactHistoryResponse:
    conditions: list[ColumnElement[bool]] = [Artefact.name == name, Artefact.family == family]
    if track is None and family in TRACKED_FAMILIES:
        track = "latest"
    if track is not None:
        conditions.append(Artefact.track == track)
    if stage is not None:
        conditions.append(Artefact.stage == stage.value)
    count = session.scalar(select(func.count(Artefact.id)).where(*conditions)) or 0
    rows = session.execute(
        select(Artefact.id, Artefact.name, Artefact.version, Artefact.stage, Artefact.created_at)
        .where(*conditions)
        .order_by(Artefact.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return ArtefactHistoryResponse(
        count=count,
        items=[
            ArtefactHistoryItemResponse(
                artefact_id=row.id,
                name=row.name,
                version=row.version,
                stage=row.stage,
                created_at=row.created_at,
            )
            for row in rows
        ],
    )


def artefact_versions(
    session: Session, artefact_id: int, limit: int, offset: int
) -> list[ArtefactVersionResponse]:
    artefact = get_artefact(session, artefact_id)
    rows = session.execute(
        select(Artefact.version, Artefact.id)
        .where(
            *(getattr(Artefact, field) == getattr(artefact, field) for field in VERSION_LINE),
            Artefact.bundled_builds_hash.is_not_distinct_from(artefact.bundled_builds_hash),
        )
        .order_by(Artefact.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [ArtefactVersionResponse(version=version, artefact_id=id_) for version, id_ in rows]


# The artefact page ------------------------------------------------------------------------------


def artefact_builds(session: Session, artefact_id: int) -> list[ArtefactBuildResponse]:
    get_artefact(session, artefact_id)
    latest = latest_builds([artefact_id]).subquery()
    builds = session.scalars(
        select(ArtefactBuild)
        .join(latest, latest.c.id == ArtefactBuild.id)
        .order_by(ArtefactBuild.architecture, ArtefactBuild.id)
    ).all()
    build_ids = [build.id for build in builds]
    if not build_ids:
        return []

    executions_by_build: dict[int, list[int]] = defaultdict(list)
    for execution_id, build_id in session.execute(
        select(TestExecution.id, TestExecution.artefact_build_id)
        .join(Environment, Environment.id == TestExecution.environment_id)
        .where(TestExecution.artefact_build_id.in_(build_ids))
        .order_by(Environment.name, TestExecution.id)
    ):
        executions_by_build[build_id].append(execution_id)
    executions = execution_responses(
        session, [e for ids in executions_by_build.values() for e in ids]
    )

    bundled_in: dict[int, list[ArtefactMinimalResponse]] = defaultdict(list)
    association = artefact_bundled_builds_association
    for build_id, solution in session.execute(
        select(association.c.artefact_build_id, Artefact)
        .join(Artefact, Artefact.id == association.c.artefact_id)
        .where(association.c.artefact_build_id.in_(build_ids))
        .order_by(Artefact.id)
    ):
        bundled_in[build_id].append(
            ArtefactMinimalResponse(
                id=solution.id,
                name=solution.name,
                version=solution.version,
                family=solution.family,
            )
        )

    return [
        ArtefactBuildResponse(
            id=build.id,
            architecture=build.architecture,
            revision=build.revision,
            test_executions=[executions[e] for e in executions_by_build[build.id]],
            bundled_in=bundled_in[build.id],
        )
        for build in builds
    ]


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


def _reviews_of_artefact(
    session: Session, artefact_id: int, review_ids: Collection[int]
) -> set[int]:
    return set(
        session.scalars(
            select(ArtefactBuildEnvironmentReview.id)
            .join(
                ArtefactBuild, ArtefactBuild.id == ArtefactBuildEnvironmentReview.artefact_build_id
            )
            .where(
                ArtefactBuildEnvironmentReview.id.in_(list(review_ids)),
                ArtefactBuild.artefact_id == artefact_id,
            )
        )
    )


def update_environment_reviews(
    session: Session, artefact_id: int, patches: Sequence[EnvironmentReviewPatch]
) -> list[EnvironmentReviewResponse]:
    """Apply the patches that name a review of this artefact; skip the others silently."""
    wanted = {patch.id for patch in patches if patch.id is not None}
    if not wanted:
        return []
    owned = _reviews_of_artefact(session, artefact_id, wanted)
    kept = [patch for patch in patches if patch.id in owned]
    changes: dict[int, dict[str, Any]] = defaultdict(dict)
    for patch in kept:
        assert patch.id is not None
        changes[patch.id].update(_review_changes(patch))
    _apply_review_changes(session, changes)
    responses = environment_review_responses(session, owned)
    return [responses[patch.id] for patch in kept if patch.id is not None]


def update_environment_review(
    session: Session, artefact_id: int, review_id: int, patch: EnvironmentReviewPatch
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
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"Environment review {review_id} doesn't exist"
        )
    if belongs_to != artefact_id:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"Environment review {review_id} doesn't belong to artefact {artefact_id}",
        )
    _apply_review_changes(session, {review_id: _review_changes(patch)})
    return environment_review_responses(session, [review_id])[review_id]


# Sign-off ---------------------------------------------------------------------------------------


def _unprocessable(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


def _bad_request(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, detail)


def _latest_review_decisions(
    session: Session, artefact_id: int
) -> list[list[ArtefactBuildEnvironmentReviewDecision]]:
    latest = latest_builds([artefact_id]).subquery()
    return [
        list(decision)
        for decision in session.scalars(
            select(ArtefactBuildEnvironmentReview.review_decision).join(
                latest, latest.c.id == ArtefactBuildEnvironmentReview.artefact_build_id
            )
        )
    ]


def _check_status(
    session: Session, artefact: Artefact, new_status: ArtefactStatus, comment: str | None
) -> None:
    rejected = ArtefactBuildEnvironmentReviewDecision.REJECTED
    if new_status == ArtefactStatus.APPROVED:
        decisions = _latest_review_decisions(session, artefact.id)
        if any(not decision or rejected in decision for decision in decisions):
            raise _bad_request("All test executions need to be approved")
    elif new_status == ArtefactStatus.MARKED_AS_FAILED:
        decisions = _latest_review_decisions(session, artefact.id)
        if not any(rejected in decision for decision in decisions):
            raise _bad_request("At least one test execution needs to be rejected")
        if not (comment or artefact.comment):
            raise _bad_request("Can't reject an artefact without a comment")


def _requested_reviewers(session: Session, patch: ArtefactPatch) -> list[int] | None:
    """The reviewers' ids in the requested order, or None when reviewers are not being set."""
    present = patch.model_fields_set
    by_id = "reviewer_ids" in present
    by_email = "reviewer_emails" in present
    if not by_id and not by_email:
        # Read without the attribute access that warns about the deprecated fields.
        legacy_id = patch.__dict__["assignee_id"]
        legacy_email = patch.__dict__["assignee_email"]
        by_id = "assignee_id" in present
        by_email = "assignee_email" in present
        if by_id and by_email:
            raise _unprocessable("Cannot specify both reviewer_ids and reviewer_emails")
        if by_id:
            patch.reviewer_ids = [legacy_id] if legacy_id is not None else None
        if by_email:
            patch.reviewer_emails = [legacy_email] if legacy_email is not None else None
    elif by_id and by_email:
        raise _unprocessable("Cannot specify both reviewer_ids and reviewer_emails")
    if not by_id and not by_email:
        return None

    if by_id:
        ids = patch.reviewer_ids or []
        if len(set(ids)) != len(ids):
            raise _unprocessable("Duplicate user ids are not allowed in reviewer_ids")
        found = set(session.scalars(select(User.id).where(User.id.in_(ids))))
        for user_id in ids:
            if user_id not in found:
                raise _unprocessable(f"User with id {user_id} not found")
        return ids

    emails = patch.reviewer_emails or []
    if len(set(emails)) != len(emails):
        raise _unprocessable("Duplicate user emails are not allowed in reviewer_emails")
    rows = session.execute(select(User.email, User.id).where(User.email.in_(emails))).all()
    by_address: dict[str, int] = {row.email: row.id for row in rows}
    for email in emails:
        if email not in by_address:
            raise _unprocessable(f"User with email '{email}' not found")
    return [by_address[email] for email in emails]


def _requested_bundled_builds(session: Session, patch: ArtefactPatch) -> list[int] | None:
    if "bundled_builds" not in patch.model_fields_set:
        return None
    ids = patch.bundled_builds or []
    if len(set(ids)) != len(ids):
        raise _unprocessable("Duplicate build ids are not allowed in bundled_builds")
    found = set(session.scalars(select(ArtefactBuild.id).where(ArtefactBuild.id.in_(ids))))
    for build_id in ids:
        if build_id not in found:
            raise _unprocessable(f"ArtefactBuild with id {build_id} not found")
    return ids


def bundled_builds_hash(build_ids: Collection[int]) -> str:
    joined = ",".join(str(build_id) for build_id in sorted(build_ids))
    return hashlib.sha256(joined.encode()).hexdigest()


def _replace_reviewers(
    session: Session, artefact: Artefact, user_ids: list[int], settings: Settings
) -> None:
    association = artefact_reviewers_association
    previous = set(
        session.scalars(
            select(association.c.user_id).where(association.c.artefact_id == artefact.id)
        )
    )
    session.execute(delete(association).where(association.c.artefact_id == artefact.id))
    if user_ids:
        session.execute(
            insert(association),
            [
                {"artefact_id": artefact.id, "user_id": user_id, "position": position}
                for position, user_id in enumerate(user_ids)
            ],
        )
    added = [user_id for user_id in user_ids if user_id not in previous]
    notify_reviewers_assigned(session, settings, artefact.id, added)


def _replace_bundled_builds(session: Session, artefact: Artefact, build_ids: list[int]) -> None:
    association = artefact_bundled_builds_association
    session.execute(delete(association).where(association.c.artefact_id == artefact.id))
    if build_ids:
        session.execute(
            insert(association),
            [
                {"artefact_id": artefact.id, "artefact_build_id": build_id, "position": position}
                for position, build_id in enumerate(build_ids)
            ],
        )
    if artefact.family == FamilyName.solution:
        artefact.bundled_builds_hash = bundled_builds_hash(build_ids)


def check_artefact_patch(session: Session, artefact: Artefact, patch: ArtefactPatch) -> None:
    """Validation that needs no write: stage and status rules."""
    if patch.stage is not None and patch.stage not in FAMILY_STAGES[artefact.family]:
        raise _bad_request(
            f"Stage {patch.stage.value} is invalid for artefact family {artefact.family.value}"
        )
    if patch.status is not None:
        _check_status(session, artefact, patch.status, patch.comment)


def patch_artefact(
    session: Session, artefact: Artefact, patch: ArtefactPatch, settings: Settings
) -> ArtefactResponse:
    """Validate everything, then apply; the request's transaction makes it all-or-nothing."""
    check_artefact_patch(session, artefact, patch)
    reviewers = _requested_reviewers(session, patch)
    bundled = _requested_bundled_builds(session, patch)

    if patch.status is not None:
        artefact.status = patch.status
    if patch.archived is not None:
        artefact.archived = patch.archived
    if patch.stage is not None:
        artefact.stage = patch.stage.value
    if patch.comment is not None:
        artefact.comment = patch.comment
    if "jira_issue" in patch.model_fields_set:
        artefact.jira_issue = patch.jira_issue
    if reviewers is not None:
        _replace_reviewers(session, artefact, reviewers, settings)
    if bundled is not None:
        _replace_bundled_builds(session, artefact, bundled)
    session.flush()
    return artefact_response(session, artefact.id)


# Deletion ---------------------------------------------------------------------------------------


def delete_artefact(session: Session, artefact_id: int) -> Artefact:
    """Delete an artefact with its builds, executions, results and reviews.

    The database cascades from the artefact row. Rows other artefacts may share (environments,
    test cases, test plans, execution metadata values) are left alone: only the links to them
    go.
    """
    artefact = session.scalar(select(Artefact).where(Artefact.id == artefact_id).with_for_update())
    if artefact is None:
        raise LookupError(f"Artefact with id {artefact_id} not found")
    # Explicit, so the deletion does not depend on how the association's foreign key cascades.
    execution_ids = (
        select(TestExecution.id)
        .join(ArtefactBuild, ArtefactBuild.id == TestExecution.artefact_build_id)
        .where(ArtefactBuild.artefact_id == artefact_id)
    )
    association = test_execution_metadata_association_table
    session.execute(delete(association).where(association.c.test_execution_id.in_(execution_ids)))
    session.execute(delete(Artefact).where(Artefact.id == artefact_id))
    return artefact
