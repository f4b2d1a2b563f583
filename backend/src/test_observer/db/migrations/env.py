"""Alembic environment: runs migrations on the connection or URL the caller provides."""

from alembic import context
from sqlalchemy import create_engine, pool

from test_observer.db.models import Base

config = context.config
target_metadata = Base.metadata


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    # The job queue's tables belong to procrastinate, installed by revision 0006, not to our
    # models: leave them out of the comparison with the models.
    # `auth_generation` (revision 0022) is written by triggers only and has no model either.
    if type_ == "table" and name == "auth_generation":
        return False
    return not (type_ == "table" and name is not None and name.startswith("procrastinate_"))


def _configure_and_run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        include_name=_include_name,
        # Each revision commits on its own, so a failure leaves the last good revision applied.
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    engine = create_engine(config.attributes["url"], poolclass=pool.NullPool)
    with engine.connect() as connection:
        _configure_and_run(connection)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported")
run_online()
