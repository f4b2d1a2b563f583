"""People, teams, machine clients (applications) and browser sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, Index, String, Table, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, Entity
from .enums import Permission, permission_type

# Memberships go with the user or team they belong to.
team_users_association = Table(
    "team_users_association",
    Base.metadata,
    Column("user_id", ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True),
    Column("team_id", ForeignKey("team.id", ondelete="CASCADE"), primary_key=True),
    Index(None, "team_id"),
)


class User(Entity):
    # `user` is a reserved word in PostgreSQL.
    __tablename__ = "app_user"

    email: Mapped[str] = mapped_column(String(), unique=True)
    launchpad_handle: Mapped[str | None] = mapped_column(String())
    name: Mapped[str] = mapped_column(String())
    is_admin: Mapped[bool] = mapped_column(default=False, server_default=text("false"))

    teams: Mapped[list[Team]] = relationship(
        secondary=team_users_association,
        back_populates="members",
        lazy="raise",
        passive_deletes=True,
    )


class Team(Entity):
    __tablename__ = "team"

    name: Mapped[str] = mapped_column(String(), unique=True)
    permissions: Mapped[list[Permission]] = mapped_column(
        ARRAY(permission_type), default=list, server_default="{}"
    )
    # The Launchpad team whose membership this team follows at sign-in; None: membership is
    # managed through the API only, whatever the team's name.
    launchpad_team: Mapped[str | None] = mapped_column(String(), unique=True)

    members: Mapped[list[User]] = relationship(
        secondary=team_users_association,
        back_populates="teams",
        lazy="raise",
        passive_deletes=True,
    )


class Application(Entity):
    """A machine client (a CI system) authenticating with an API key.

    Only a SHA-256 digest of the key is stored; `api_key_prefix` keeps its first characters so
    that responses can show which key is which without revealing it.
    """

    __tablename__ = "application"

    name: Mapped[str] = mapped_column(String(), unique=True)
    permissions: Mapped[list[Permission]] = mapped_column(
        ARRAY(permission_type), default=list, server_default="{}"
    )
    api_key_digest: Mapped[str] = mapped_column(String(64), unique=True)
    api_key_prefix: Mapped[str] = mapped_column(String(16))


class UserSession(Entity):
    __tablename__ = "user_session"

    expires_at: Mapped[datetime] = mapped_column(DateTime())
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)

    user: Mapped[User] = relationship(lazy="raise")
