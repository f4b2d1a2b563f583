"""Changing an artefact: sign-off status, stage, comment, reviewers and bundled builds.

Everything is validated before anything is written; the request's transaction makes a patch
all-or-nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence

from sqlalchemy import (
    delete,
    insert,
    select,
)
from sqlalchemy.orm import Session

from test_observer.audit.service import COMMAND_LINE, Actor, record_audit_event
from test_observer.auth import Principal, require_artefact_permission, require_grantable
from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    ArtefactBuildEnvironmentReview,
    ArtefactBuildEnvironmentReviewDecision,
    ArtefactStatus,
    FamilyName,
    Permission,
    User,
    artefact_bundled_builds_association,
)
from test_observer.errors import BadRequestError, UnprocessableError
from test_observer.settings import Settings
from test_observer.webhooks.events import EventType, about, emit

from .queries import latest_builds
from .readiness_events import announce_readiness
from .reviewers import reviewer_ids, set_reviewers
from .schemas import (
    ArtefactPatch,
    ArtefactResponse,
    StageName,
)
from .service import artefact_response, get_artefact

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
            raise BadRequestError("All test executions need to be approved")
    elif new_status == ArtefactStatus.MARKED_AS_FAILED:
        decisions = _latest_review_decisions(session, artefact.id)
        if not any(rejected in decision for decision in decisions):
            raise BadRequestError("At least one test execution needs to be rejected")
        if not (comment or artefact.comment):
            raise BadRequestError("Can't reject an artefact without a comment")


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
            raise UnprocessableError("Cannot specify both reviewer_ids and reviewer_emails")
        if by_id:
            patch.reviewer_ids = [legacy_id] if legacy_id is not None else None
        if by_email:
            patch.reviewer_emails = [legacy_email] if legacy_email is not None else None
    elif by_id and by_email:
        raise UnprocessableError("Cannot specify both reviewer_ids and reviewer_emails")
    if not by_id and not by_email:
        return None

    if by_id:
        ids = patch.reviewer_ids or []
        if len(set(ids)) != len(ids):
            raise UnprocessableError("Duplicate user ids are not allowed in reviewer_ids")
        found = set(session.scalars(select(User.id).where(User.id.in_(ids))))
        for user_id in ids:
            if user_id not in found:
                raise UnprocessableError(f"User with id {user_id} not found")
        return ids

    emails = patch.reviewer_emails or []
    if len(set(emails)) != len(emails):
        raise UnprocessableError("Duplicate user emails are not allowed in reviewer_emails")
    rows = session.execute(select(User.email, User.id).where(User.email.in_(emails))).all()
    by_address: dict[str, int] = {row.email: row.id for row in rows}
    for email in emails:
        if email not in by_address:
            raise UnprocessableError(f"User with email '{email}' not found")
    return [by_address[email] for email in emails]


def _requested_bundled_builds(session: Session, patch: ArtefactPatch) -> list[int] | None:
    if "bundled_builds" not in patch.model_fields_set:
        return None
    ids = patch.bundled_builds or []
    if len(set(ids)) != len(ids):
        raise UnprocessableError("Duplicate build ids are not allowed in bundled_builds")
    found = set(session.scalars(select(ArtefactBuild.id).where(ArtefactBuild.id.in_(ids))))
    for build_id in ids:
        if build_id not in found:
            raise UnprocessableError(f"ArtefactBuild with id {build_id} not found")
    return ids


def bundled_builds_hash(build_ids: Collection[int]) -> str:
    joined = ",".join(str(build_id) for build_id in sorted(build_ids))
    return hashlib.sha256(joined.encode()).hexdigest()


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
        raise BadRequestError(
            f"Stage {patch.stage.value} is invalid for artefact family {artefact.family.value}"
        )
    if patch.status is not None:
        _check_status(session, artefact, patch.status, patch.comment)


def patch_artefact(
    session: Session,
    principal: Principal,
    settings: Settings,
    artefact_id: int,
    patch: ArtefactPatch,
) -> ArtefactResponse:
    require_grantable(principal, settings, Permission.change_artefact)
    # The row lock serialises concurrent sign-offs of one artefact.
    artefact = get_artefact(session, artefact_id, lock=True)
    require_artefact_permission(
        session, principal, settings, Permission.change_artefact, [artefact_id]
    )
    return _apply_patch(session, principal, artefact, patch, settings)


def replace_reviewers(
    session: Session, settings: Settings, artefact_id: int, reviewers: Sequence[str]
) -> ArtefactResponse:
    """The operator's `change-assignee`: make these users, given all by id or all by email,
    the artefact's reviewers, in this order.

    The same patch as `PATCH /v1/artefacts/{id}` with `reviewer_ids` or `reviewer_emails`, so
    the checks, notifications, webhook and audit event are the API's; the command line needs
    no permission (it holds the database's credentials) and is recorded as itself.
    """
    wanted = [reviewer.strip() for reviewer in reviewers if reviewer.strip()]
    if not wanted:
        raise ValueError("give at least one reviewer (a user id or email)")
    # Ids are 32-bit integers in PostgreSQL; a longer number cannot be one.
    by_id = [r.isascii() and r.isdigit() and len(r) < 10 for r in wanted]
    for reviewer, is_id in zip(wanted, by_id, strict=True):
        if not is_id and "@" not in reviewer:
            raise ValueError(f"{reviewer!r} is neither a user id nor an email address")
    if all(by_id):
        patch = ArtefactPatch(reviewer_ids=[int(reviewer) for reviewer in wanted])
    elif not any(by_id):
        patch = ArtefactPatch(reviewer_emails=wanted)
    else:
        raise ValueError("give the reviewers either all by user id or all by email")
    artefact = get_artefact(session, artefact_id, lock=True)
    return _apply_patch(session, COMMAND_LINE, artefact, patch, settings)


def _audited_state(
    session: Session, artefact: Artefact, reviewers: bool, bundled: bool
) -> dict[str, object]:
    """The artefact's fields a patch can change, as the audit trail keeps them."""
    state: dict[str, object] = {
        "status": artefact.status,
        "stage": artefact.stage,
        "archived": artefact.archived,
        "comment": artefact.comment,
        "jira_issue": artefact.jira_issue,
    }
    if reviewers:
        state["reviewer_ids"] = reviewer_ids(session, artefact.id)
    if bundled:
        association = artefact_bundled_builds_association
        state["bundled_builds"] = list(
            session.scalars(
                select(association.c.artefact_build_id)
                .where(association.c.artefact_id == artefact.id)
                .order_by(association.c.position)
            )
        )
    return state


def _apply_patch(
    session: Session,
    principal: Principal | Actor,
    artefact: Artefact,
    patch: ArtefactPatch,
    settings: Settings,
) -> ArtefactResponse:
    """Validate everything, then apply; the request's transaction makes it all-or-nothing."""
    check_artefact_patch(session, artefact, patch)
    reviewers = _requested_reviewers(session, patch)
    bundled = _requested_bundled_builds(session, patch)
    before = _audited_state(session, artefact, reviewers is not None, bundled is not None)

    previous_status = artefact.status
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
        set_reviewers(session, artefact, reviewers, settings)
    if bundled is not None:
        _replace_bundled_builds(session, artefact, bundled)
    if artefact.status != previous_status:
        announce_readiness(session, [artefact.id])
        data = {"previous_status": previous_status.value, "status": artefact.status.value}
        emit(session, [about(artefact, EventType.ARTEFACT_STATUS_CHANGED, data)])
    session.flush()
    after = _audited_state(session, artefact, reviewers is not None, bundled is not None)
    changed = [field for field in after if after[field] != before[field]]
    if changed:
        record_audit_event(
            session,
            principal,
            "artefact.changed",
            "artefact",
            artefact.id,
            before={field: before[field] for field in changed},
            after={field: after[field] for field in changed},
            artefact_id=artefact.id,
        )
    return artefact_response(session, artefact.id)
