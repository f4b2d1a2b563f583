"""Artefacts, their per-architecture builds, and reviewers' decisions per build and environment."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, Entity
from .enums import (
    ArtefactBuildEnvironmentReviewDecision,
    ArtefactStatus,
    FamilyName,
    artefact_status_type,
    family_name_type,
    review_decision_type,
)

if TYPE_CHECKING:
    from .environments import Environment
    from .users import User

artefact_reviewers_association = Table(
    "artefact_reviewers_association",
    Base.metadata,
    Column("artefact_id", ForeignKey("artefact.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True),
    # Reviewers are listed in the order they were given; the first is the legacy "assignee".
    Column("position", Integer, nullable=False, server_default=text("0")),
    Index(None, "user_id"),
)

environment_review_reviewers_association = Table(
    "environment_review_reviewers_association",
    Base.metadata,
    Column(
        "environment_review_id",
        ForeignKey("artefact_build_environment_review.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("user_id", ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True),
    Index(None, "user_id"),
)

artefact_bundled_builds_association = Table(
    "artefact_bundled_builds_association",
    Base.metadata,
    Column("artefact_id", ForeignKey("artefact.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "artefact_build_id",
        ForeignKey("artefact_build.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # Bundled builds are listed in the order they were given.
    Column("position", Integer, nullable=False, server_default=text("0")),
    Index(None, "artefact_build_id"),
)

# The fields that identify an artefact within each family. Snap identity includes `store`: the
# same name and version in two stores are two artefacts.
ARTEFACT_IDENTITY: dict[FamilyName, tuple[str, ...]] = {
    FamilyName.snap: ("name", "version", "store", "track", "branch"),
    FamilyName.charm: ("name", "version", "track", "branch"),
    FamilyName.deb: ("name", "version", "series", "repo", "source"),
    FamilyName.image: ("sha256",),
    FamilyName.solution: ("name", "source", "version", "track", "stage", "bundled_builds_hash"),
}


def _identity_index(family: FamilyName) -> Index:
    return Index(
        f"unique_{family.value}",
        *ARTEFACT_IDENTITY[family],
        unique=True,
        postgresql_where=text(f"family = '{family.value}'"),
    )


class Artefact(Entity):
    __tablename__ = "artefact"
    __table_args__ = (
        *(_identity_index(family) for family in FamilyName),
        # The dashboards list the current artefacts of one family.
        Index(None, "family", "archived", "name"),
        # The test results report selects artefacts by creation date.
        Index(None, "created_at"),
        CheckConstraint("readiness_verdict IN ('ready', 'not_ready')", name="readiness_verdict"),
    )

    name: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[str] = mapped_column(String())
    stage: Mapped[str] = mapped_column(String(100))
    family: Mapped[FamilyName] = mapped_column(family_name_type)
    status: Mapped[ArtefactStatus] = mapped_column(
        artefact_status_type, default=ArtefactStatus.UNDECIDED
    )
    archived: Mapped[bool] = mapped_column(server_default=text("false"), index=True)
    comment: Mapped[str] = mapped_column(String(), default="", server_default="")
    due_date: Mapped[date | None] = mapped_column(Date())
    bug_link: Mapped[str] = mapped_column(String(), server_default="")
    jira_issue: Mapped[str | None] = mapped_column(String())
    store: Mapped[str] = mapped_column(String(), default="", server_default="")
    track: Mapped[str] = mapped_column(String(), default="", server_default="")
    branch: Mapped[str] = mapped_column(String(200), default="", server_default="")
    series: Mapped[str] = mapped_column(String(), default="", server_default="")
    repo: Mapped[str] = mapped_column(String(), default="", server_default="")
    source: Mapped[str] = mapped_column(String(200), default="", server_default="")
    os: Mapped[str] = mapped_column(String(200), default="", server_default="")
    release: Mapped[str] = mapped_column(String(200), default="", server_default="")
    sha256: Mapped[str] = mapped_column(String(200), default="", server_default="")
    owner: Mapped[str] = mapped_column(String(200), default="", server_default="")
    image_url: Mapped[str] = mapped_column(String(200), default="", server_default="")
    bundled_builds_hash: Mapped[str | None] = mapped_column(String(64))
    # The readiness verdict last announced (`artefacts.readiness_events`); None: none yet.
    readiness_verdict: Mapped[str | None] = mapped_column(String())

    # Loading is always explicit (selectinload / queries): a lazy load in a loop is a bug.
    builds: Mapped[list[ArtefactBuild]] = relationship(
        back_populates="artefact", lazy="raise", passive_deletes=True
    )
    reviewers: Mapped[list[User]] = relationship(
        secondary=artefact_reviewers_association, lazy="raise", passive_deletes=True
    )
    bundled_builds: Mapped[list[ArtefactBuild]] = relationship(
        secondary=artefact_bundled_builds_association,
        lazy="raise",
        passive_deletes=True,
        back_populates="bundled_in",
    )


class ArtefactBuild(Entity):
    __tablename__ = "artefact_build"
    __table_args__ = (
        Index(
            "unique_artefact_build_null_revision",
            "artefact_id",
            "architecture",
            unique=True,
            postgresql_where=text("revision IS NULL"),
        ),
        Index(
            "unique_artefact_build",
            "artefact_id",
            "architecture",
            "revision",
            unique=True,
            postgresql_where=text("revision IS NOT NULL"),
        ),
    )

    architecture: Mapped[str] = mapped_column(String(100), index=True)
    revision: Mapped[int | None]
    artefact_id: Mapped[int] = mapped_column(
        ForeignKey("artefact.id", ondelete="CASCADE"), index=True
    )

    artefact: Mapped[Artefact] = relationship(back_populates="builds", lazy="raise")
    environment_reviews: Mapped[list[ArtefactBuildEnvironmentReview]] = relationship(
        back_populates="artefact_build", lazy="raise", passive_deletes=True
    )
    bundled_in: Mapped[list[Artefact]] = relationship(
        secondary=artefact_bundled_builds_association,
        lazy="raise",
        passive_deletes=True,
        back_populates="bundled_builds",
    )


class ArtefactBuildEnvironmentReview(Entity):
    __tablename__ = "artefact_build_environment_review"
    __table_args__ = (UniqueConstraint("artefact_build_id", "environment_id"),)

    review_decision: Mapped[list[ArtefactBuildEnvironmentReviewDecision]] = mapped_column(
        ARRAY(review_decision_type), default=list, server_default="{}"
    )
    review_comment: Mapped[str] = mapped_column(String(), default="", server_default="")
    environment_id: Mapped[int] = mapped_column(
        ForeignKey("environment.id", ondelete="CASCADE"), index=True
    )
    artefact_build_id: Mapped[int] = mapped_column(
        ForeignKey("artefact_build.id", ondelete="CASCADE"), index=True
    )

    environment: Mapped[Environment] = relationship(lazy="raise")
    artefact_build: Mapped[ArtefactBuild] = relationship(
        back_populates="environment_reviews", lazy="raise"
    )
    reviewers: Mapped[list[User]] = relationship(
        secondary=environment_review_reviewers_association, lazy="raise", passive_deletes=True
    )
