"""Failure signatures: one row per distinct cause of failure, referenced by failed results."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, String
from sqlalchemy import text as sql
from sqlalchemy.orm import Mapped, mapped_column

from .base import Entity


class FailureSignature(Entity):
    """What failed results with the same normalised failure lines share.

    `result_count`, `first_seen_at` and `last_seen_at` follow the results that reference the
    signature: statement-level triggers on `test_result` (migration 0020) add each statement's
    changes, in signature id order, so every writer path and every cascade keeps them exact.
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
