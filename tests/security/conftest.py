"""Fixtures of this layer. The edge, metrics and injection tests' own are in `edge_fixtures`,
named `edge_*`."""

from tests.security.edge_fixtures import (  # noqa: F401 (fixtures)
    edge_app,
    edge_client,
    edge_database_url,
    edge_db,
    edge_engine,
)
