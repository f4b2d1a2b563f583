"""The test databases themselves: the emptying after each test leaves what TRUNCATE would."""

from __future__ import annotations

from sqlalchemy import Engine, text

from test_observer.db.engine import make_engine, make_session_factory
from test_observer.db.models import Base
from test_observer.seeding.seed import SeedPlan, seed
from test_observer.settings import Settings
from tests.database import empty_tables

PLAN = SeedPlan(artefacts=4, architectures=1, environments=2, executions=6, results=4, seed=3)
TABLES = Base.metadata.sorted_tables


def state(engine: Engine) -> dict[str, object]:
    """Every table's row count and every sequence's position."""
    with engine.connect() as connection:
        counts = {
            table.name: connection.scalar(text(f'SELECT count(*) FROM "{table.name}"'))
            for table in TABLES
        }
        sequences = connection.scalars(
            text("SELECT format('%I.%I', schemaname, sequencename) FROM pg_sequences")
        ).all()
        positions = {
            name: tuple(connection.execute(text(f"SELECT last_value, is_called FROM {name}")).one())
            for name in sequences
        }
    return {"counts": counts, "sequences": positions}


def test_emptying_leaves_what_truncate_restart_identity_cascade_leaves(
    migrated_database: str,
) -> None:
    engine = make_engine(migrated_database)
    fill = make_session_factory(engine)
    settings = Settings(db_url=migrated_database)  # type: ignore[arg-type]
    try:
        seed(fill, PLAN, settings)
        filled = state(engine)
        assert sum(filled["counts"].values()) > 0  # type: ignore[attr-defined]
        empty_tables(engine, TABLES)
        emptied = state(engine)

        seed(fill, PLAN, settings)
        assert state(engine) == filled  # the ids started again from the start
        names = ", ".join(f'"{table.name}"' for table in TABLES)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        truncated = state(engine)
    finally:
        engine.dispose()

    assert set(truncated["counts"].values()) == {0}  # type: ignore[attr-defined]
    assert emptied == truncated
