"""Database errors answer by what the client can do: retry later (503), fix the request (422),
or neither (504 for a statement past the timeout). Only an unreachable database is a 503."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.app import create_app
from test_observer.db.engine import make_session_factory
from test_observer.db.errors import DatabaseTimeoutError, classify
from test_observer.errors import ConflictError, UnavailableError, UnprocessableError
from test_observer.settings import Settings
from tests.backend.conftest import LOCAL_CLIENT
from tests.backend.executions.conftest import EVERY_PERMISSION, snap
from tests.backend.system.test_system import database_relay

UNINDEXABLE = "".join(chr(0x20000 + (i * 7919) % 0xA000) for i in range(8000))


def _error_of(engine: Engine, statement: str, **parameters: object) -> DBAPIError:
    with Session(engine) as session, pytest.raises(DBAPIError) as caught:
        session.execute(text(statement), parameters)
    return caught.value


def test_a_value_too_large_to_index_is_a_422_not_a_503(engine: Engine) -> None:
    # psycopg files this (ProgramLimitExceeded) under OperationalError.
    error = _error_of(
        engine, "INSERT INTO team (name, permissions) VALUES (:name, '{}')", name=UNINDEXABLE
    )
    answer = classify(error)
    assert isinstance(answer, UnprocessableError)
    assert answer.detail == "A value is too large to be stored or indexed"


def test_data_errors_are_422(engine: Engine) -> None:
    out_of_range = _error_of(engine, "SELECT CAST(:n AS integer)", n=str(2**40))
    nul = _error_of(engine, "SELECT CAST(:s AS text)", s="a\x00b")
    assert isinstance(classify(out_of_range), UnprocessableError)
    assert isinstance(classify(nul), UnprocessableError)


def test_a_unique_violation_is_a_409(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO team (name, permissions) VALUES ('twice', '{}')"))
    error = _error_of(engine, "INSERT INTO team (name, permissions) VALUES ('twice', '{}')")
    assert isinstance(classify(error), ConflictError)


def test_a_refused_connection_is_a_503_with_retry_after() -> None:
    # Port 9 (discard) has no PostgreSQL behind it here: the connection is refused.
    dead = create_engine("postgresql+psycopg://postgres@127.0.0.1:9/none")
    with pytest.raises(DBAPIError) as caught, dead.connect():
        pass
    answer = classify(caught.value)
    assert isinstance(answer, UnavailableError)
    assert answer.headers == {"Retry-After": "5"}


def test_a_statement_past_the_timeout_is_cancelled_and_a_504(engine: Engine) -> None:
    factory = make_session_factory(engine, statement_timeout=0.2)
    with factory() as session, pytest.raises(DBAPIError) as caught:
        session.execute(text("SELECT pg_sleep(3)"))
    assert isinstance(classify(caught.value), DatabaseTimeoutError)
    # The limit is local to the transaction: the pooled connection does not keep it.
    with engine.connect() as connection:
        assert connection.execute(text("SHOW statement_timeout")).scalar_one() == "0"


def test_an_app_with_its_own_engine_limits_statements_without_a_statement_per_request(
    database_url: str, engine: Engine
) -> None:
    app = create_app(
        Settings(db_url=database_url, statement_timeout=0.2, ignore_permissions=EVERY_PERMISSION)  # type: ignore[arg-type]
    )
    sent: list[str] = []
    event.listen(app.state.engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
    with TestClient(app, client=LOCAL_CLIENT) as client:
        assert client.put("/v1/test-executions/start-test", json=snap()).status_code == 200
        assert sent
        assert not [statement for statement in sent if "statement_timeout" in statement]
        factory = app.state.session_factory
        with factory() as session, pytest.raises(DBAPIError) as caught:
            session.execute(text("SELECT pg_sleep(3)"))
        assert isinstance(classify(caught.value), DatabaseTimeoutError)
        with app.state.engine.connect() as connection:
            assert connection.execute(text("SHOW statement_timeout")).scalar_one() == "200ms"
    # Only the app's own connections carry it.
    with engine.connect() as connection:
        assert connection.execute(text("SHOW statement_timeout")).scalar_one() == "0"
        assert connection.execute(text("SELECT count(*) FROM test_execution")).scalar_one() == 1


def test_a_write_while_the_database_is_away_is_a_503_and_its_retry_succeeds(
    database_url: str, engine: Engine
) -> None:
    with database_relay(database_url) as (relayed_url, switch):
        app = create_app(Settings(db_url=relayed_url, ignore_permissions=EVERY_PERMISSION))  # type: ignore[arg-type]
        client = TestClient(app, client=LOCAL_CLIENT)
        path = "/v1/test-executions/start-test"
        assert client.put(path, json=snap(ci_link="https://ci/before")).status_code == 200

        switch(False)
        away = client.put(path, json=snap(ci_link="https://ci/during"))
        assert away.status_code == 503, away.text
        assert away.json() == {"detail": "The database is unavailable"}
        assert away.headers["retry-after"] == "5"

        switch(True)
        retried = client.put(path, json=snap(ci_link="https://ci/during"))
        assert retried.status_code == 200, retried.text
        app.state.engine.dispose()
    with engine.connect() as connection:
        links = connection.execute(text("SELECT ci_link FROM test_execution ORDER BY id")).all()
    assert [link for (link,) in links] == ["https://ci/before", "https://ci/during"]
