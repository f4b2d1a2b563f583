"""Test cases, the result of each case within an execution, and issues reported per case."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Entity
from .enums import TestResultStatus, test_result_status_type

if TYPE_CHECKING:
    from .executions import TestExecution


class TestCase(Entity):
    __tablename__ = "test_case"
    __test__ = False

    name: Mapped[str] = mapped_column(String(), unique=True)
    category: Mapped[str] = mapped_column(String(), index=True)
    template_id: Mapped[str] = mapped_column(String(), index=True, server_default="")


class TestResult(Entity):
    __tablename__ = "test_result"
    __test__ = False
    __table_args__ = (
        # One result per test case within an execution. Being a real constraint, it lets result
        # ingestion replace results with one INSERT ... ON CONFLICT instead of a read per row.
        UniqueConstraint("test_execution_id", "test_case_id"),
        # The execution, and its environment with it: the copy below cannot differ from the
        # execution's, and follows it if the execution's environment is ever changed.
        ForeignKeyConstraint(
            ["test_execution_id", "environment_id"],
            ["test_execution.id", "test_execution.environment_id"],
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
        Index(None, "created_at"),
        # A test case's newest results first: the results search by test case reads a page off
        # this index instead of walking every result by date.
        Index(None, "test_case_id", "created_at", "id"),
        # The flaky-test list reads a window of runs (passed and failed results) in the order
        # its window function needs, (environment, test case, time), with their status, from
        # this index alone: no join to the executions and no sort. Queries must spell the
        # condition with literals (see test_cases.flaky) for PostgreSQL to match the predicate.
        Index(
            "test_result_run_history_ix",
            "environment_id",
            "test_case_id",
            "created_at",
            "id",
            postgresql_include=["status"],
            postgresql_where=text("status IN ('PASSED', 'FAILED')"),
        ),
        # Where each test case failed in each environment: the flaky-test list considers only
        # the pairs with a failure in its window (a pair that never failed never flipped).
        Index(
            "test_result_failed_run_ix",
            "environment_id",
            "test_case_id",
            "created_at",
            postgresql_where=text("status = 'FAILED'"),
        ),
        # A signature's results, newest last: its examples, the lists filtered by it, and its
        # spread over environments, test cases and executions, read from the index alone.
        Index(
            "test_result_failure_signature_ix",
            "failure_signature_id",
            "created_at",
            "id",
            postgresql_include=["environment_id", "test_case_id", "test_execution_id"],
            postgresql_where=text("failure_signature_id IS NOT NULL"),
        ),
        # The signed results of given executions: the signatures listed for an artefact (or any
        # filter that picks executions) read only those, from the index alone (migration 0023).
        Index(
            "test_result_signed_by_execution_ix",
            "test_execution_id",
            postgresql_include=["failure_signature_id", "environment_id", "test_case_id"],
            postgresql_where=text("failure_signature_id IS NOT NULL"),
        ),
        # Failures not signed yet: what a signature backfill has left to do.
        Index(
            "test_result_unsigned_failure_ix",
            "id",
            postgresql_where=text("status = 'FAILED' AND failure_signature_id IS NULL"),
        ),
        # Each execution's failed test cases, read from the index alone: the comparison judges
        # the flaky rule for each cell's failing test cases and lists its failure classes from
        # them (migration 0026).
        Index(
            "test_result_failed_case_ix",
            "test_execution_id",
            "test_case_id",
            postgresql_where=text("status = 'FAILED'"),
        ),
        # Results that may need triage: an execution's triage state reads only these instead
        # of every result of the execution. Queries must spell the condition with literals
        # (see executions.response_queries) for PostgreSQL to match it with this predicate.
        Index(
            "test_result_untriaged_ix",
            "test_execution_id",
            postgresql_where=text("status IN ('FAILED', 'SKIPPED')"),
        ),
    )

    status: Mapped[TestResultStatus] = mapped_column(test_result_status_type)
    comment: Mapped[str] = mapped_column(String())
    io_log: Mapped[str] = mapped_column(String())
    # Seconds the test took, when the reporter said (JUnit's `time`, or sent with the result).
    duration: Mapped[float | None] = mapped_column(Float())
    # Indexed by the unique constraint above, whose first column it is.
    test_execution_id: Mapped[int] = mapped_column()
    # The execution's environment, written with the result. Runs are compared per environment,
    # and with the environment on the result the flaky-test list needs no join to order them.
    environment_id: Mapped[int] = mapped_column()
    # Indexed by the (test_case_id, created_at, id) index above, whose first column it is.
    test_case_id: Mapped[int] = mapped_column(ForeignKey("test_case.id", ondelete="CASCADE"))
    # What the output of a failed result says went wrong (signatures.derive); NULL for other
    # statuses and for failures stored before signing existed and not yet backfilled.
    # Checked once per statement by the triggers that count a signature's results (migration
    # 0020) rather than per row by a foreign key: a large end-test signs thousands at once.
    failure_signature_id: Mapped[int | None] = mapped_column()

    test_execution: Mapped[TestExecution] = relationship(
        back_populates="test_results", lazy="raise"
    )
    test_case: Mapped[TestCase] = relationship(lazy="raise")


class TestCaseIssue(Entity):
    """A free-text issue reported against a test case name or a template id."""

    __tablename__ = "test_case_issue"
    __test__ = False

    template_id: Mapped[str] = mapped_column(String(), index=True)
    case_name: Mapped[str] = mapped_column(String(), index=True)
    url: Mapped[str] = mapped_column(String())
    description: Mapped[str] = mapped_column(String())


class Quarantine(Entity):
    """A test case whose failures are known and accepted for now, on one environment or all.

    A quarantined failure stays visible but needs no triage and does not hold a release back.
    An entry with an expiry stops applying at that moment: every query compares it with the
    current time, so nothing has to run to lift it.
    """

    __tablename__ = "quarantine"
    __table_args__ = (
        # One entry per test case and environment, the entry for every environment included:
        # setting a quarantine again replaces it (INSERT ... ON CONFLICT on this index).
        Index(
            "quarantine_scope_key",
            "test_case_id",
            text("coalesce(environment_id, 0)"),
            unique=True,
        ),
        Index(None, "environment_id"),
        Index(None, "issue_id"),
    )

    test_case_id: Mapped[int] = mapped_column(ForeignKey("test_case.id", ondelete="CASCADE"))
    # None: every environment.
    environment_id: Mapped[int | None] = mapped_column(
        ForeignKey("environment.id", ondelete="CASCADE")
    )
    reason: Mapped[str] = mapped_column(String())
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issue.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime())
