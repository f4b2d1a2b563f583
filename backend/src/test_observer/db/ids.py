"""Filtering by a list of ids with one parameter."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import ColumnElement, Integer, SQLColumnExpression, any_, bindparam, literal
from sqlalchemy.dialects.postgresql import ARRAY


def one_of(column: SQLColumnExpression[int], ids: Collection[int]) -> ColumnElement[bool]:
    """`column = ANY(:ids)`, or `column = :id` for a single id.

    Unlike `IN (...)`, whose text has one parameter per id, the statement's text is the same for
    any number of ids, so the driver prepares it once per connection. A single id is bound as a
    scalar because of how PostgreSQL plans a prepared statement: it keeps a generic plan only
    when that plan's estimate is no worse than the plans made for each call's values, and it
    estimates an array parameter at ten elements. With one id the array form is therefore planned
    again on every call (milliseconds for a response query of several joins, against a tenth of
    that to run it), while `= :id` estimates one row either way and is planned once.
    """
    values = list(ids)
    if len(values) == 1:
        return column == values[0]
    return column == any_(literal(values, ARRAY(Integer)))


def one_of_parameter(column: SQLColumnExpression[int], *, single: bool) -> ColumnElement[bool]:
    """`one_of` for a statement built once and run many times, with `ids_parameters(ids)` as
    its parameters: `single` for a statement only ever run with one id."""
    if single:
        return column == bindparam("id", type_=Integer)
    return column == any_(bindparam("ids", type_=ARRAY(Integer)))


def ids_parameters(ids: Collection[int]) -> dict[str, object]:
    """The parameters of a statement built with `one_of_parameter`, single if `ids` is one."""
    values = list(ids)
    return {"id": values[0]} if len(values) == 1 else {"ids": values}
