"""Filtering by a list of ids with one array parameter."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import ColumnElement, Integer, SQLColumnExpression, any_, literal
from sqlalchemy.dialects.postgresql import ARRAY


def one_of(column: SQLColumnExpression[int], ids: Collection[int]) -> ColumnElement[bool]:
    """`column = ANY(:ids)`: unlike `IN (...)`, whose text has one parameter per id, the
    statement's text is the same for any number of ids, so the driver prepares it once and
    PostgreSQL plans it once per connection instead of once per list length.
    """
    return column == any_(literal(list(ids), ARRAY(Integer)))
