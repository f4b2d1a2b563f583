"""Declarative base shared by every model, with the constraint naming convention."""

from datetime import datetime

from sqlalchemy import DateTime, MetaData, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Alembic autogenerate compares constraint names, so they must be deterministic.
NAMING_CONVENTION = {
    "ix": "%(table_name)s_%(column_0_N_name)s_ix",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_N_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}

# Timestamps are `timestamp without time zone` in UTC. Taking "now" in UTC inside the database
# keeps them independent of the session's TimeZone setting and lets bulk SQL inserts omit them.
UTC_NOW = text("timezone('utc', now())")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Entity(Base):
    """An entity table: serial id plus creation and last-update timestamps."""

    __abstract__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(), server_default=UTC_NOW)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(), server_default=UTC_NOW, onupdate=UTC_NOW
    )
