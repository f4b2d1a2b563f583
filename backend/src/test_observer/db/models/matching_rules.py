"""Artefact matching rules: patterns over artefact fields, linked to teams, that choose reviewers
and grant artefact-scoped permissions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Column, ForeignKey, Index, String, Table, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, Entity
from .enums import FamilyName, Permission, family_name_type, permission_type

if TYPE_CHECKING:
    from .users import Team

artefact_matching_rule_team_association = Table(
    "artefact_matching_rule_team_association",
    Base.metadata,
    Column(
        "artefact_matching_rule_id",
        ForeignKey("artefact_matching_rule.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("team_id", ForeignKey("team.id", ondelete="CASCADE"), primary_key=True),
    Index(None, "team_id"),
)

# Fields a rule may constrain; an empty string is a wildcard.
MATCHING_FIELDS = ("stage", "track", "branch", "name", "store", "series", "os", "release", "owner")


class ArtefactMatchingRule(Entity):
    __tablename__ = "artefact_matching_rule"
    __table_args__ = (
        UniqueConstraint(
            "name",
            "family",
            "stage",
            "track",
            "branch",
            "store",
            "series",
            "os",
            "release",
            "owner",
            name="artefact_matching_rule_fields_from_artefact",
        ),
    )

    family: Mapped[FamilyName] = mapped_column(family_name_type)
    name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    stage: Mapped[str] = mapped_column(String(100), default="", server_default="")
    track: Mapped[str] = mapped_column(String(200), default="", server_default="")
    branch: Mapped[str] = mapped_column(String(200), default="", server_default="")
    store: Mapped[str] = mapped_column(String(200), default="", server_default="")
    series: Mapped[str] = mapped_column(String(200), default="", server_default="")
    os: Mapped[str] = mapped_column(String(200), default="", server_default="")
    release: Mapped[str] = mapped_column(String(200), default="", server_default="")
    owner: Mapped[str] = mapped_column(String(200), default="", server_default="")
    grant_permissions: Mapped[list[Permission]] = mapped_column(
        ARRAY(permission_type), default=list, server_default="{}"
    )

    teams: Mapped[list[Team]] = relationship(
        secondary=artefact_matching_rule_team_association, lazy="raise", passive_deletes=True
    )
