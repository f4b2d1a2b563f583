"""Failure signatures: one row per distinct cause of failure, referenced by failed results."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String
from sqlalchemy import text as sql
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Entity


class FailureSignature(Entity):
    """What failed results with the same normalised failure lines share.

    `result_count`, `first_seen_at` and `last_seen_at` follow the results that reference the
    signature: statement-level triggers on `test_result` (migration 0020) add each statement's
    changes, in signature id order, so every writer path and every cascade keeps them exact.
    `environment_count`, `test_case_count` and `artefact_count` are the numbers of its rows in
    the tables below, kept the same way (migration 0023).
    """

    __tablename__ = "failure_signature"
    __table_args__ = (
        # The default order of the list: most results first.
        Index("failure_signature_by_count_ix", sql("result_count DESC"), "id"),
    )

    # sha256 of the rules' version and the normalised text (signatures.derive).
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    signature_version: Mapped[int] = mapped_column()
    text: Mapped[str] = mapped_column(String())
    # The raw lines of the first result that had this signature.
    excerpt: Mapped[str] = mapped_column(String())
    first_seen_at: Mapped[datetime | None] = mapped_column(DateTime())
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime())
    result_count: Mapped[int] = mapped_column(server_default=sql("0"))
    environment_count: Mapped[int] = mapped_column(server_default=sql("0"))
    test_case_count: Mapped[int] = mapped_column(server_default=sql("0"))
    artefact_count: Mapped[int] = mapped_column(server_default=sql("0"))


# Where a signature's results are, and how many there: one row per (signature, environment,
# test case, artefact or attached issue) with at least one result, kept by triggers on
# `test_result` and `issue_test_result_attachment` (migration 0023). No foreign keys to the
# signature, environment, test case or issue: the triggers write these rows from rows whose
# references are checked already, and remove them with their last result.


class FailureSignatureEnvironment(Base):
    __tablename__ = "failure_signature_environment"

    failure_signature_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    environment_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    result_count: Mapped[int] = mapped_column()


class FailureSignatureTestCase(Base):
    __tablename__ = "failure_signature_test_case"

    failure_signature_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    test_case_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    result_count: Mapped[int] = mapped_column()


class FailureSignatureArtefact(Base):
    __tablename__ = "failure_signature_artefact"

    failure_signature_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    # A deleted artefact's executions are gone before their results' triggers run: its rows
    # go by this key instead.
    artefact_id: Mapped[int] = mapped_column(
        ForeignKey("artefact.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    result_count: Mapped[int] = mapped_column()


class FailureSignatureIssue(Base):
    """How many of a signature's results an issue is attached to."""

    __tablename__ = "failure_signature_issue"
    __table_args__ = (
        # A signature's most attached issues, read a few at a time.
        Index(
            "failure_signature_issue_by_count_ix",
            "failure_signature_id",
            sql("result_count DESC"),
            "issue_id",
        ),
    )

    failure_signature_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    issue_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    result_count: Mapped[int] = mapped_column()
