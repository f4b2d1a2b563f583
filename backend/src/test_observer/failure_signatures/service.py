"""Clusters of failed results by failure signature, within the results search's filters.

Two ways to a page, both a fixed number of statements:

* Without any filter, everything is read off what triggers keep per signature (migrations 0020
  and 0023): the page through the signatures' index on their result count, their numbers of
  environments, test cases and artefacts from their own row, their issues from
  `failure_signature_issue`. However long the history, a page costs the same.
* With filters, the selected signed results are grouped by signature in one statement, then
  the spread of each signature on the page (environments, test cases, artefacts) and its
  issues are counted over its selected results.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Select, distinct, func, select, text
from sqlalchemy.orm import Session

from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    Environment,
    FailureSignature,
    Issue,
    IssueTestResultAttachment,
    TestCase,
    TestExecution,
    TestResult,
)
from test_observer.errors import NotFoundError
from test_observer.issues.schemas import MinimalIssue
from test_observer.result_filters.model import TestResultSearchFilters
from test_observer.result_filters.sql import joined_results, result_conditions

from .schemas import (
    FailureSignatureResponse,
    FailureSignaturesResponse,
    FailureSignatureSummary,
    SignatureExample,
    SignatureIssue,
)

Ts = TypeVarTuple("Ts")

TOP_ISSUES = 3
EXCERPT_CHARS = 2000


def _joined(query: Select[*Ts], conditions: Sequence[object] = (True,)) -> Select[*Ts]:
    """`query` over results joined with everything the filters look at (only to their builds,
    where no condition needs more)."""
    if not conditions:
        return (
            query.select_from(TestResult)
            .join(TestExecution, TestExecution.id == TestResult.test_execution_id)
            .join(ArtefactBuild, ArtefactBuild.id == TestExecution.artefact_build_id)
        )
    return joined_results(query)


@dataclass
class _Spread:
    results: int
    environments: int
    test_cases: int
    artefacts: int
    first: datetime | None


def _spread(
    session: Session, signature_ids: Sequence[int], conditions: list[ColumnElement[bool]]
) -> dict[int, _Spread]:
    rows = session.execute(
        _joined(
            select(
                TestResult.failure_signature_id,
                func.count(),
                func.count(distinct(TestResult.environment_id)),
                func.count(distinct(TestResult.test_case_id)),
                func.count(distinct(ArtefactBuild.artefact_id)),
                func.min(TestResult.created_at),
            ),
            conditions,
        )
        .where(TestResult.failure_signature_id.in_(signature_ids), *conditions)
        .group_by(TestResult.failure_signature_id)
    ).all()
    return {row[0]: _Spread(*row[1:]) for row in rows if row[0] is not None}


def _issues(
    session: Session, signature_ids: Sequence[int], conditions: list[ColumnElement[bool]]
) -> dict[int, list[SignatureIssue]]:
    query = select(
        TestResult.failure_signature_id, IssueTestResultAttachment.issue_id, func.count()
    )
    rows = session.execute(
        _joined(query)
        .join(IssueTestResultAttachment, IssueTestResultAttachment.test_result_id == TestResult.id)
        .where(TestResult.failure_signature_id.in_(signature_ids), *conditions)
        .group_by(TestResult.failure_signature_id, IssueTestResultAttachment.issue_id)
    ).all()
    return _top_issues(session, rows)


_KEPT_TOP_ISSUES = text(
    """
    SELECT s.id, t.issue_id, t.result_count
    FROM unnest(CAST(:ids AS integer[])) AS s(id)
    CROSS JOIN LATERAL (
        SELECT issue_id, result_count FROM failure_signature_issue
        WHERE failure_signature_id = s.id
        ORDER BY result_count DESC, issue_id
        LIMIT :top
    ) AS t
    """
)


def _kept_issues(session: Session, signature_ids: Sequence[int]) -> dict[int, list[SignatureIssue]]:
    """The issues most attached to the signatures' results, as the triggers keep them: the
    first few entries of an index per signature, however many issues it has."""
    rows = session.execute(_KEPT_TOP_ISSUES, {"ids": list(signature_ids), "top": TOP_ISSUES}).all()
    return _top_issues(session, rows)


def _top_issues(session: Session, rows: Sequence[Any]) -> dict[int, list[SignatureIssue]]:
    """The TOP_ISSUES most attached issues per signature, from (signature, issue, results)."""
    ranked: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for signature_id, issue_id, count in rows:
        if signature_id is not None:
            ranked[signature_id].append((count, issue_id))
    top = {
        signature_id: sorted(pairs, key=lambda pair: (-pair[0], pair[1]))[:TOP_ISSUES]
        for signature_id, pairs in ranked.items()
    }
    wanted = {issue_id for pairs in top.values() for _, issue_id in pairs}
    issues = (
        {issue.id: issue for issue in session.scalars(select(Issue).where(Issue.id.in_(wanted)))}
        if wanted
        else {}
    )
    return {
        signature_id: [
            SignatureIssue(issue=MinimalIssue.model_validate(issues[issue_id]), results=count)
            for count, issue_id in pairs
        ]
        for signature_id, pairs in top.items()
    }


def _summaries(
    session: Session,
    signatures: Sequence[FailureSignature],
    conditions: list[ColumnElement[bool]],
    counts: dict[int, int] | None = None,
) -> list[dict[str, Any]]:
    ids = [signature.id for signature in signatures]
    if not conditions:
        # The whole history: what the triggers keep.
        spread = {
            signature.id: _Spread(
                signature.result_count,
                signature.environment_count,
                signature.test_case_count,
                signature.artefact_count,
                signature.first_seen_at,
            )
            for signature in signatures
        }
        issues = _kept_issues(session, ids) if ids else {}
    else:
        spread = _spread(session, ids, conditions) if ids else {}
        issues = _issues(session, ids, conditions) if ids else {}
    summaries = []
    for signature in signatures:
        found = spread.get(signature.id, _Spread(0, 0, 0, 0, None))
        summaries.append(
            {
                "id": signature.id,
                "hash": signature.hash,
                "signature_version": signature.signature_version,
                "text": signature.text,
                "excerpt": signature.excerpt,
                "first_seen_at": signature.first_seen_at,
                "last_seen_at": signature.last_seen_at,
                "total_results": signature.result_count,
                "results": found.results if counts is None else counts[signature.id],
                "environments": found.environments,
                "test_cases": found.test_cases,
                "artefacts": found.artefacts,
                "first_seen_in_selection": found.first is not None
                and signature.first_seen_at is not None
                and found.first <= signature.first_seen_at,
                "issues": issues.get(signature.id, []),
            }
        )
    return summaries


def list_signatures(
    session: Session, filters: TestResultSearchFilters, limit: int, offset: int
) -> FailureSignaturesResponse:
    """A page of the signatures of the selected results, most results first. Five statements
    at most (three without filters), plus one to load the issues."""
    conditions = result_conditions(filters)
    counts: dict[int, int] | None = None
    if not conditions:
        total = session.scalar(
            select(func.count())
            .select_from(FailureSignature)
            .where(FailureSignature.result_count > 0)
        )
        signatures = list(
            session.scalars(
                select(FailureSignature)
                .where(FailureSignature.result_count > 0)
                .order_by(FailureSignature.result_count.desc(), FailureSignature.id)
                .limit(limit)
                .offset(offset)
            )
        )
    else:
        grouped = (
            _joined(select(TestResult.failure_signature_id.label("id"), func.count().label("n")))
            .where(TestResult.failure_signature_id.is_not(None), *conditions)
            .group_by(TestResult.failure_signature_id)
            .subquery()
        )
        rows = session.execute(
            select(FailureSignature, grouped.c.n, func.count().over())
            .join(grouped, grouped.c.id == FailureSignature.id)
            .order_by(grouped.c.n.desc(), FailureSignature.id)
            .limit(limit)
            .offset(offset)
        ).all()
        signatures = [row[0] for row in rows]
        counts = {row[0].id: row[1] for row in rows}
        total = rows[0][2] if rows else (0 if offset == 0 else _count(session, grouped))
    return FailureSignaturesResponse(
        failure_signatures=[
            FailureSignatureSummary(**summary)
            for summary in _summaries(session, signatures, conditions, counts)
        ],
        count=total or 0,
        limit=limit,
        offset=offset,
    )


def _count(session: Session, grouped: Any) -> int:
    return session.scalar(select(func.count()).select_from(grouped)) or 0


def get_signature(session: Session, signature_id: int, examples: int) -> FailureSignatureResponse:
    """One signature over all its results, with its `examples` newest results."""
    signature = session.get(FailureSignature, signature_id)
    if signature is None:
        raise NotFoundError("FailureSignature not found")
    (summary,) = _summaries(session, [signature], [])
    rows = (
        session.execute(
            _joined(
                select(
                    TestResult.id,
                    TestExecution.id,
                    TestCase.name,
                    Environment.name,
                    Artefact.id,
                    Artefact.name,
                    Artefact.version,
                    TestResult.created_at,
                    func.right(TestResult.io_log, EXCERPT_CHARS),
                )
            )
            .where(TestResult.failure_signature_id == signature_id)
            .order_by(TestResult.created_at.desc(), TestResult.id.desc())
            .limit(examples)
        ).all()
        if examples
        else []
    )
    return FailureSignatureResponse(
        **summary,
        examples=[
            SignatureExample(
                test_result_id=row[0],
                test_execution_id=row[1],
                test_case=row[2],
                environment=row[3],
                artefact_id=row[4],
                artefact=row[5],
                artefact_version=row[6],
                created_at=row[7],
                io_log_excerpt=row[8],
            )
            for row in rows
        ],
    )
