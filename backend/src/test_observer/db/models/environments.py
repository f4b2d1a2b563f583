"""Test environments (devices, clouds) and the free-text issues reported against them."""

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Entity


class Environment(Entity):
    __tablename__ = "environment"
    __table_args__ = (UniqueConstraint("name", "architecture"),)

    name: Mapped[str] = mapped_column(String(200), index=True)
    architecture: Mapped[str] = mapped_column(String(100), index=True)


class EnvironmentIssue(Entity):
    """A reported issue matched to environments by name (no foreign key, by design)."""

    __tablename__ = "environment_issue"

    environment_name: Mapped[str] = mapped_column(String(), index=True)
    url: Mapped[str | None] = mapped_column(String())
    description: Mapped[str] = mapped_column(String())
    is_confirmed: Mapped[bool]
