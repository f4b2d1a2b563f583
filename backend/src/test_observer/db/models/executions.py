"""Test executions: one run of a test plan for a build on an environment, and what hangs off it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, Entity
from .enums import TestExecutionStatus, test_execution_status_type

if TYPE_CHECKING:
    from .artefacts import ArtefactBuild
    from .environments import Environment
    from .results import TestResult


class TestPlan(Entity):
    __tablename__ = "test_plan"
    __test__ = False

    name: Mapped[str] = mapped_column(String(200), index=True, unique=True)


# Metadata rows are shared between executions: deleting an execution removes only its links.
test_execution_metadata_association_table = Table(
    "test_execution_metadata_association_table",
    Base.metadata,
    Column(
        "test_execution_id",
        ForeignKey("test_execution.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "test_execution_metadata_id",
        ForeignKey("test_execution_metadata.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Index(None, "test_execution_metadata_id"),
)


class TestExecution(Entity):
    __tablename__ = "test_execution"
    __test__ = False
    __table_args__ = (
        # The "rerun group": latest-execution checks, rerun lookups and pending reruns join on it.
        Index(None, "test_plan_id", "artefact_build_id", "environment_id"),
        Index(None, "updated_at"),
        Index(None, "created_at"),
        # Results carry their execution's environment; their foreign key references this pair,
        # so that PostgreSQL holds the copy equal to the execution's.
        UniqueConstraint("id", "environment_id"),
    )

    ci_link: Mapped[str | None] = mapped_column(String(200), unique=True)
    c3_link: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[TestExecutionStatus] = mapped_column(
        test_execution_status_type, default=TestExecutionStatus.NOT_STARTED
    )
    checkbox_version: Mapped[str | None] = mapped_column(String(200))
    resource_url: Mapped[str] = mapped_column(String(), server_default="")
    artefact_build_id: Mapped[int] = mapped_column(
        ForeignKey("artefact_build.id", ondelete="CASCADE"), index=True
    )
    environment_id: Mapped[int] = mapped_column(ForeignKey("environment.id"), index=True)
    test_plan_id: Mapped[int] = mapped_column(
        ForeignKey("test_plan.id", ondelete="CASCADE"), index=True
    )
    # The execution's results per status, recounted whenever its results are written (under
    # the execution's lock, see executions.results): the results search adds these up instead
    # of counting every matching result, which grows with the history.
    passed_count: Mapped[int] = mapped_column(server_default=text("0"))
    failed_count: Mapped[int] = mapped_column(server_default=text("0"))
    skipped_count: Mapped[int] = mapped_column(server_default=text("0"))
    # Bumped in the writer's transaction by statement-level triggers on test_result whenever a
    # result of the execution is inserted, deleted, or changes its test case, status or
    # duration (migration 0025): a comparison summary (`ComparisonSummary`) computed at this
    # version is exact while it does not change.
    results_version: Mapped[int] = mapped_column(BigInteger(), server_default=text("0"))

    artefact_build: Mapped[ArtefactBuild] = relationship(lazy="raise")
    environment: Mapped[Environment] = relationship(lazy="raise")
    test_plan: Mapped[TestPlan] = relationship(lazy="raise")
    test_results: Mapped[list[TestResult]] = relationship(
        back_populates="test_execution", lazy="raise", passive_deletes=True
    )
    test_events: Mapped[list[TestEvent]] = relationship(lazy="raise", passive_deletes=True)
    relevant_links: Mapped[list[TestExecutionRelevantLink]] = relationship(
        lazy="raise", passive_deletes=True
    )
    execution_metadata: Mapped[list[TestExecutionMetadata]] = relationship(
        secondary=test_execution_metadata_association_table, lazy="raise", passive_deletes=True
    )


class TestEvent(Entity):
    __tablename__ = "test_event"
    __test__ = False

    event_name: Mapped[str] = mapped_column(String())
    timestamp: Mapped[datetime] = mapped_column(DateTime())
    detail: Mapped[str] = mapped_column(String())
    test_execution_id: Mapped[int] = mapped_column(
        ForeignKey("test_execution.id", ondelete="CASCADE"), index=True
    )


class TestExecutionRelevantLink(Entity):
    __tablename__ = "test_execution_relevant_link"
    __test__ = False

    test_execution_id: Mapped[int] = mapped_column(
        ForeignKey("test_execution.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String())
    url: Mapped[str] = mapped_column(String())


class TestExecutionMetadata(Entity):
    __tablename__ = "test_execution_metadata"
    __test__ = False
    __table_args__ = (UniqueConstraint("category", "value"),)

    category: Mapped[str] = mapped_column(String(200))
    value: Mapped[str] = mapped_column(String(200))


class TestExecutionRerunRequest(Entity):
    """A request that CI re-run the newest execution of a (plan, build, environment) group."""

    __tablename__ = "test_execution_rerun_request"
    __test__ = False
    __table_args__ = (
        UniqueConstraint(
            "test_plan_id", "artefact_build_id", "environment_id", name="uq_rerun_request_group"
        ),
        Index("idx_rerun_request_priority_created_at", text("priority DESC"), "created_at"),
    )

    test_plan_id: Mapped[int] = mapped_column(
        ForeignKey("test_plan.id", ondelete="CASCADE"), index=True
    )
    artefact_build_id: Mapped[int] = mapped_column(
        ForeignKey("artefact_build.id", ondelete="CASCADE"), index=True
    )
    environment_id: Mapped[int] = mapped_column(
        ForeignKey("environment.id", ondelete="CASCADE"), index=True
    )
    priority: Mapped[int] = mapped_column(server_default=text("0"))

    test_plan: Mapped[TestPlan] = relationship(lazy="raise")
    artefact_build: Mapped[ArtefactBuild] = relationship(lazy="raise")
    environment: Mapped[Environment] = relationship(lazy="raise")


class ComparisonSummary(Entity):
    """What a comparison of two executions of one cell (an environment and test plan) counts
    that depends on those two executions only: the results new in the execution, gone from the
    base's, slower than the base's, and the regressions, fixed and still failing results
    (`artefacts/comparison.py`). The flaky class depends on the runs of a window ending now,
    and is not kept.

    Each side is an execution or none (NULL: the cell was not run on that side). The versions
    are the executions' `results_version` (0 for none) when it was counted: the comparison uses
    a summary only while both still match, and otherwise counts that pair again and replaces
    the row.
    """

    __tablename__ = "comparison_summary"
    __table_args__ = (
        # One row per pair, a missing side included (hence the coalesce): what a comparison
        # looks its cells up by and upserts on.
        Index(
            "comparison_summary_pair_ix",
            text("coalesce(execution_id, 0)"),
            text("coalesce(base_execution_id, 0)"),
            unique=True,
        ),
        # For the cascades when an execution is deleted.
        Index(None, "execution_id"),
        Index(None, "base_execution_id"),
    )

    execution_id: Mapped[int | None] = mapped_column(
        ForeignKey("test_execution.id", ondelete="CASCADE")
    )
    base_execution_id: Mapped[int | None] = mapped_column(
        ForeignKey("test_execution.id", ondelete="CASCADE")
    )
    execution_version: Mapped[int] = mapped_column(BigInteger())
    base_execution_version: Mapped[int] = mapped_column(BigInteger())
    new_count: Mapped[int] = mapped_column()
    gone_count: Mapped[int] = mapped_column()
    slower_count: Mapped[int] = mapped_column()
    regression_count: Mapped[int] = mapped_column()
    fixed_count: Mapped[int] = mapped_column()
    still_failing_count: Mapped[int] = mapped_column()
