"""Find-or-create by natural key, safe under concurrent writers.

Every identity lives in a unique index, so creation is `INSERT … ON CONFLICT DO NOTHING`: two
CI jobs announcing the same artefact at the same moment cannot both create it. The insert and
the lookup of an existing row share one statement; only when a concurrent transaction
committed the row after that statement's snapshot is a second lookup needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, TextClause, and_, literal, select, true
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from test_observer.db.models import Entity


def find_or_create(
    session: Session,
    model: type[Entity],
    key: Mapping[str, Any],
    values: Mapping[str, Any] | None = None,
    *,
    index_where: ColumnElement[bool] | TextClause | None = None,
) -> tuple[int, bool]:
    """(id, created) of the row whose unique `key` columns equal `key`.

    `values` are only used when the row is created. `index_where` names a partial unique index
    by its predicate.
    """
    columns = model.__table__.c
    inserted = (
        insert(model)
        .values({**key, **(values or {})})
        .on_conflict_do_nothing(index_elements=list(key), index_where=index_where)
        .returning(columns.id)
        .cte("inserted")
    )
    match = and_(
        *(
            columns[name].is_(None) if value is None else columns[name] == value
            for name, value in key.items()
        ),
        index_where if index_where is not None else true(),
    )
    row = session.execute(
        select(inserted.c.id, literal(True))
        .union_all(select(columns.id, literal(False)).where(match))
        .limit(1)
    ).first()
    if row is None:
        # The row was committed by another transaction after this statement began.
        row = session.execute(select(columns.id, literal(False)).where(match)).one()
    return row[0], row[1]
