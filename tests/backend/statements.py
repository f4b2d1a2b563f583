"""Counting the SQL statements a piece of code sends, to prove it does not loop over rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event


class StatementCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)


@contextmanager
def count_statements(engine: Engine) -> Iterator[StatementCounter]:
    counter = StatementCounter()

    def record(*args: Any) -> None:
        counter.statements.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", record)
