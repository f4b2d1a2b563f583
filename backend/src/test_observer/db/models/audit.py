"""The audit trail: one append-only row per privileged change.

Actors and targets are kept as plain ids with no foreign key: an event must outlive the user,
application or artefact it names, and a foreign key's ON DELETE action would have to update or
delete the row, which the table refuses (a trigger, see migration 0016).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .base import UTC_NOW, Base

# Who made a change: a signed-in user, an application (API key), the service itself (jobs,
# sign-in synchronisation, command line) or an anonymous caller (when permissions are ignored).
ACTOR_KINDS = ("user", "application", "system", "anonymous")


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (
        CheckConstraint(
            "actor_kind IN ('user', 'application', 'system', 'anonymous')", name="actor_kind"
        ),
        Index(None, "target_type", "target_id", "created_at"),
        Index(None, "created_at"),
        Index(
            None,
            "artefact_id",
            "created_at",
            postgresql_where=text("artefact_id IS NOT NULL"),
        ),
        Index(
            None,
            "actor_user_id",
            "created_at",
            postgresql_where=text("actor_user_id IS NOT NULL"),
        ),
        Index(
            None,
            "actor_application_id",
            "created_at",
            postgresql_where=text("actor_application_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(), server_default=UTC_NOW)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_user_id: Mapped[int | None] = mapped_column()
    actor_application_id: Mapped[int | None] = mapped_column()
    # The actor's email or application name when the event was written.
    actor_name: Mapped[str | None] = mapped_column(String())
    action: Mapped[str] = mapped_column(String(100))
    target_type: Mapped[str] = mapped_column(String(50))
    target_id: Mapped[str] = mapped_column(String(100))
    # The artefact the target belongs to (itself, or the artefact of a review), for its page.
    artefact_id: Mapped[int | None] = mapped_column()
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
