"""Attack tests run on the same real PostgreSQL and app fixtures as the API tests; the edge,
metrics and injection tests' own fixtures are in `edge_fixtures`, named `edge_*`."""

from tests.backend.conftest import (  # noqa: F401 (fixtures, found by pytest by name)
    _apps,
    _empty_tables_after_test,
    api,
    client,
    database_url,
    db_session,
    engine,
    make_client,
)
from tests.security.edge_fixtures import (  # noqa: F401 (fixtures)
    edge_app,
    edge_client,
    edge_database_url,
    edge_db,
    edge_engine,
)
