"""Attack tests run on the same real PostgreSQL and app fixtures as the API tests."""

from tests.backend.conftest import (  # noqa: F401 (fixtures, found by pytest by name)
    _empty_tables_after_test,
    api,
    client,
    database_url,
    db_session,
    engine,
    make_client,
)
