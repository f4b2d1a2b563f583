"""Case-insensitive substring search in SQL, shared by every domain's search."""

from __future__ import annotations

from sqlalchemy import ColumnElement, SQLColumnExpression, func


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with LIKE's wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def contains(column: SQLColumnExpression[str], text: str) -> ColumnElement[bool]:
    """`column` contains `text`, ignoring case; `%` and `_` in `text` match only themselves."""
    return func.lower(column).like(like_pattern(text), escape="\\")
