"""Test environments (devices, clouds), the free-text issues reported against them, and the
environments reviewers expect an artefact line to be tested on."""

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from .base import Entity
from .enums import FamilyName, family_name_type


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


class ExpectedEnvironments(Entity):
    """The environments that every version of an artefact (a family and a name) must be tested
    on, optionally with one test plan. Matched by names, like the issues above: a declaration
    can name an environment or a plan before any CI has reported it."""

    __tablename__ = "expected_environments"
    __table_args__ = (UniqueConstraint("family", "artefact_name", "test_plan"),)

    family: Mapped[FamilyName] = mapped_column(family_name_type)
    artefact_name: Mapped[str] = mapped_column(String(200))
    # "" for "with any test plan": a NULL would not take part in the unique constraint (before
    # PostgreSQL 15), and PUT relies on it to replace a declaration rather than add one.
    test_plan: Mapped[str] = mapped_column(String(200), server_default="")
    environments: Mapped[list[str]] = mapped_column(ARRAY(String(200)))
