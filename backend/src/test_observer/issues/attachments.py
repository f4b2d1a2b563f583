"""Attaching an issue to test results by hand, or detaching it: by result ids, by the filters
of the results search, or both. Each selection is written with one set-based statement.

Manual attachments never request reruns; only automatic attachment does
(`ingestion.py`).
"""

from __future__ import annotations

from typing import Any

from psycopg.errors import UniqueViolation
from sqlalchemy import ColumnElement, Select, delete, literal, select, union
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from test_observer.artefacts.readiness_events import announce_readiness_of_executions
from test_observer.db.ids import one_of
from test_observer.db.models import (
    Issue,
    IssueTestResultAttachment,
    IssueTestResultAttachmentRule,
    TestExecution,
    TestResult,
)
from test_observer.errors import BadRequestError, NotFoundError, UnprocessableError
from test_observer.result_filters.sql import matching_result_ids
from test_observer.webhooks.events import Event, EventType, emit

from .schemas import IssueAttachmentRequest, IssueResponse
from .service import find_issue, issue_response

RULE_NOT_FOUND = "Attachment rule not found"
RULE_OF_ANOTHER_ISSUE = "Attachment rule not attached to given issue"
# SQLAlchemy keeps an INSERT's row count only when asked.
COUNTED = {"preserve_rowcount": True}
NO_FILTER = "At least one filter must be provided in test_results_filters"


def is_bulk(request: IssueAttachmentRequest) -> bool:
    """Whether the request needs the bulk permission as well."""
    return (
        len(set(request.test_results or [])) > 1
        or request.test_results_filters is not None
        or request.attachment_rule is not None
    )


def _check(session: Session, issue: Issue, request: IssueAttachmentRequest) -> list[int]:
    """Validate the request before any write; the distinct result ids it names."""
    if request.attachment_rule is not None:
        owner = session.scalar(
            select(IssueTestResultAttachmentRule.issue_id).where(
                IssueTestResultAttachmentRule.id == request.attachment_rule
            )
        )
        if owner is None:
            raise NotFoundError(RULE_NOT_FOUND)
        if owner != issue.id:
            raise BadRequestError(RULE_OF_ANOTHER_ISSUE)
    ids = sorted(set(request.test_results or []))
    if ids:
        found = set(session.scalars(select(TestResult.id).where(TestResult.id.in_(ids))))
        missing = [result_id for result_id in ids if result_id not in found]
        if missing:
            listed = ", ".join(str(result_id) for result_id in missing[:20])
            raise NotFoundError(f"Test results not found: {listed}")
    filters = request.test_results_filters
    if filters is not None and not filters.has_filters():
        raise UnprocessableError(NO_FILTER)
    return ids


def _selected(
    ids: list[int],
    request: IssueAttachmentRequest,
    column: InstrumentedAttribute[int] = TestResult.id,
    *conditions: ColumnElement[bool],
) -> Select[int]:
    """`column` of the results the request names, by id or by filter, that meet `conditions`."""
    selections = []
    if ids:
        selections.append(select(column).where(TestResult.id.in_(ids), *conditions))
    if request.test_results_filters is not None:
        selections.append(
            matching_result_ids(request.test_results_filters, column).where(*conditions)
        )
    if len(selections) == 1:
        return selections[0]
    return select(union(*selections).subquery().c[0])


def attach(session: Session, issue_id: int, request: IssueAttachmentRequest) -> IssueResponse:
    issue = find_issue(session, issue_id)
    ids = _check(session, issue, request)
    if not ids and request.test_results_filters is None:
        return issue_response(session, issue)
    # Results are deleted only while their execution is locked against sharing (end-test
    # replacing them, or the execution going), so once these locks are held no selected result
    # can vanish before commit and leave an attachment to nothing behind.
    locked = list(
        session.scalars(
            select(TestExecution.id)
            .where(
                TestExecution.id.in_(
                    _selected(ids, request, TestResult.test_execution_id).scalar_subquery()
                )
            )
            .order_by(TestExecution.id)
            .with_for_update(read=True)
        )
    )
    # Planned on its own (MATERIALIZED), the selection keeps its hash joins whatever
    # PostgreSQL guesses about the issue's existing attachments. Inlined, statistics taken
    # while everything was attached made it expect one missing result and join the rest of
    # the selection by nested loops: 3 to 20 s instead of half a second.
    selected = (
        _selected(ids, request, TestResult.id, one_of(TestResult.test_execution_id, locked))
        .cte("selected")
        .prefix_with("MATERIALIZED")
    )
    result_id = selected.c[0]
    # The issue's attachments are then hashed, or merged along the primary key
    # (issue_id, test_result_id), never rescanned per result: PostgreSQL sizes the table by
    # its current pages, so it cannot take a large table for an empty one.
    attached = (
        select(IssueTestResultAttachment.test_result_id)
        .where(
            IssueTestResultAttachment.issue_id == issue.id,
            IssueTestResultAttachment.test_result_id == result_id,
        )
        .exists()
    )
    # In id order, each index grows at its right edge; in the order of a hash join, every row
    # lands on a random page and the insert takes twice as long.
    rows = (
        select(
            literal(issue.id),
            result_id,
            literal(request.attachment_rule, IssueTestResultAttachment.attachment_rule_id.type),
        )
        .where(~attached)
        .order_by(result_id)
    )
    columns = ["issue_id", "test_result_id", "attachment_rule_id"]
    # A plain insert of the missing pairs is about twice as fast as ON CONFLICT, which checks
    # every row for a conflict. A concurrent writer attaching the same pair in between is rare;
    # then the insert is redone, skipping conflicts.
    try:
        with session.begin_nested():
            attached_count = _rowcount(
                session.execute(
                    insert(IssueTestResultAttachment).from_select(columns, rows),
                    execution_options=COUNTED,
                )
            )
    except IntegrityError as error:
        if not isinstance(error.orig, UniqueViolation):
            raise
        attached_count = _rowcount(
            session.execute(
                insert(IssueTestResultAttachment)
                .from_select(columns, rows)
                .on_conflict_do_nothing(index_elements=["test_result_id", "issue_id"]),
                execution_options=COUNTED,
            )
        )
    if attached_count:
        announce_readiness_of_executions(session, locked, next_versions=False)
        _announce(session, issue, attached_count, len(locked))
    return issue_response(session, issue)


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


def _announce(session: Session, issue: Issue, attached: int, executions: int) -> None:
    """However many results one request attached, one `issue.attached` event."""
    data = {
        "issue": {
            "id": issue.id,
            "source": issue.source.value,
            "project": issue.project,
            "key": issue.key,
            "title": issue.title,
            "url": issue.url,
        },
        "test_results_attached": attached,
        "test_executions": executions,
    }
    emit(session, [Event(EventType.ISSUE_ATTACHED, data)])


def detach(session: Session, issue_id: int, request: IssueAttachmentRequest) -> IssueResponse:
    issue = find_issue(session, issue_id)
    ids = _check(session, issue, request)
    if ids or request.test_results_filters is not None:
        session.execute(
            delete(IssueTestResultAttachment).where(
                IssueTestResultAttachment.issue_id == issue.id,
                IssueTestResultAttachment.test_result_id.in_(
                    _selected(ids, request).scalar_subquery()
                ),
            )
        )
        announce_readiness_of_executions(
            session, _selected(ids, request, TestResult.test_execution_id), next_versions=False
        )
    return issue_response(session, issue)
