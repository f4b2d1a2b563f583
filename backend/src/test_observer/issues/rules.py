"""Attachment rules: criteria under which new test results are attached to an issue
automatically (applied by `ingestion.py` when results are stored)."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from test_observer.audit.service import record_audit_event
from test_observer.auth import Principal
from test_observer.db.models import (
    IssueTestResultAttachmentRule,
    IssueTestResultAttachmentRuleExecutionMetadata,
)
from test_observer.errors import BadRequestError, NotFoundError
from test_observer.signatures.store import known_signatures

from .attachments import RULE_NOT_FOUND, RULE_OF_ANOTHER_ISSUE
from .schemas import AttachmentRulePatchRequest, AttachmentRuleRequest, MinimalAttachmentRule
from .service import attachment_rule_responses, find_issue

TARGET = "attachment_rule"


def _response(session: Session, rule_id: int) -> MinimalAttachmentRule:
    return attachment_rule_responses(session, [rule_id])[rule_id]


def create_rule(
    session: Session, principal: Principal | None, issue_id: int, request: AttachmentRuleRequest
) -> MinimalAttachmentRule:
    """A new rule; it applies to results stored from now on, not to existing ones."""
    find_issue(session, issue_id)
    rule = IssueTestResultAttachmentRule(
        issue_id=issue_id,
        enabled=request.enabled,
        families=list(dict.fromkeys(request.families)),
        artefacts=list(dict.fromkeys(request.artefacts)),
        artefact_versions=list(dict.fromkeys(request.artefact_versions)),
        artefact_stages=list(dict.fromkeys(request.artefact_stages)),
        artefact_tracks=list(dict.fromkeys(request.artefact_tracks)),
        environment_names=list(dict.fromkeys(request.environment_names)),
        test_plans=list(dict.fromkeys(request.test_plans)),
        test_case_names=list(dict.fromkeys(request.test_case_names)),
        template_ids=list(dict.fromkeys(request.template_ids)),
        test_result_statuses=list(dict.fromkeys(request.test_result_statuses)),
        failure_signature_ids=known_signatures(session, request.failure_signatures),
    )
    session.add(rule)
    session.flush()
    # Repeated values of a category mean the same thing once.
    rows = [
        {"attachment_rule_id": rule.id, "category": category, "value": value}
        for category, values in request.execution_metadata.items()
        for value in dict.fromkeys(values)
    ]
    if rows:
        session.execute(insert(IssueTestResultAttachmentRuleExecutionMetadata).values(rows))
    response = _response(session, rule.id)
    record_audit_event(
        session,
        principal,
        "attachment_rule.created",
        TARGET,
        rule.id,
        after={"issue_id": issue_id, **response.model_dump(mode="json", exclude={"id"})},
    )
    return response


def _rule_of(session: Session, issue_id: int, rule_id: int) -> IssueTestResultAttachmentRule | None:
    rule = session.get(IssueTestResultAttachmentRule, rule_id)
    if rule is not None and rule.issue_id != issue_id:
        raise BadRequestError(RULE_OF_ANOTHER_ISSUE)
    return rule


def patch_rule(
    session: Session,
    principal: Principal,
    issue_id: int,
    rule_id: int,
    request: AttachmentRulePatchRequest,
) -> MinimalAttachmentRule:
    rule = _rule_of(session, issue_id, rule_id)
    if rule is None:
        raise NotFoundError(RULE_NOT_FOUND)
    if request.enabled is not None and request.enabled != rule.enabled:
        before = rule.enabled
        rule.enabled = request.enabled
        session.flush()
        record_audit_event(
            session,
            principal,
            "attachment_rule.changed",
            TARGET,
            rule_id,
            before={"enabled": before},
            after={"enabled": request.enabled},
        )
    return _response(session, rule.id)


def delete_rule(session: Session, principal: Principal, issue_id: int, rule_id: int) -> None:
    """Delete the rule (and its metadata criteria); the attachments it made stay, as if made by
    hand. Deleting a rule that does not exist succeeds: the outcome is the same."""
    if _rule_of(session, issue_id, rule_id) is None:
        return
    before = {
        "issue_id": issue_id,
        **_response(session, rule_id).model_dump(mode="json", exclude={"id"}),
    }
    session.execute(
        delete(IssueTestResultAttachmentRule).where(IssueTestResultAttachmentRule.id == rule_id)
    )
    record_audit_event(
        session, principal, "attachment_rule.deleted", TARGET, rule_id, before=before
    )
