"""Find-or-create by natural key, safe under concurrent writers.

Every identity lives in a unique index, so creation is `INSERT … ON CONFLICT DO NOTHING`: two
CI jobs announcing the same artefact at the same moment cannot both create it. The insert and
the lookup of an existing row share one statement; only when a concurrent transaction
committed the row after that statement's snapshot is a second lookup needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, and_, bindparam, literal, select, text, true
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from test_observer.db.models import Entity


@lru_cache(maxsize=64)
def _statements(
    model: type[Entity],
    key_names: tuple[str, ...],
    null_names: frozenset[str],
    value_names: tuple[str, ...],
    index_where: str | None,
) -> tuple[Select[int, bool], Select[int, bool]]:
    """(insert-or-find, find) for one shape of call, built once: building SQLAlchemy
    statements costs more than running these."""
    columns = model.__table__.c
    predicate = text(index_where) if index_where is not None else None
    inserted = (
        insert(model)
        .values({name: bindparam(name) for name in (*key_names, *value_names)})
        .on_conflict_do_nothing(index_elements=list(key_names), index_where=predicate)
        .returning(columns.id)
        .cte("inserted")
    )
    match = and_(
        *(
            columns[name].is_(None) if name in null_names else columns[name] == bindparam(name)
            for name in key_names
        ),
        predicate if predicate is not None else true(),
    )
    find = select(columns.id, literal(False)).where(match)
    both = select(inserted.c.id, literal(True)).union_all(find).limit(1)
    return both, find  # type: ignore[return-value]


def find_or_create(
    session: Session,
    model: type[Entity],
    key: Mapping[str, Any],
    values: Mapping[str, Any] | None = None,
    *,
    index_where: str | None = None,
) -> tuple[int, bool]:
    """(id, created) of the row whose unique `key` columns equal `key`.

    `values` are only used when the row is created. `index_where` is the predicate (SQL text)
    of the partial unique index the key belongs to.
    """
    values = values or {}
    both, find = _statements(
        model,
        tuple(key),
        frozenset(name for name, value in key.items() if value is None),
        tuple(values),
        index_where,
    )
    params = {**key, **values}
    row = session.execute(both, params).first()
    if row is None:
        # The row was committed by another transaction after this statement began.
        row = session.execute(find, params).one()
    return row[0], row[1]
