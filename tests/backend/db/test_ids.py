"""Filtering by ids: statements PostgreSQL can plan once per connection."""

from __future__ import annotations

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from test_observer.db.ids import one_of
from test_observer.db.models import TestExecution
from test_observer.executions.response_queries import execution_responses
from tests.backend.factories import make_artefact, make_build, make_environment, make_execution


def test_one_executions_response_is_planned_once_for_every_call(
    engine: Engine, db_session: Session
) -> None:
    # The statement built after every write to an execution (PATCH, results, end-test): with its
    # id as an array PostgreSQL planned it again on every call, in more time than it ran.
    execution = make_execution(
        db_session, make_build(db_session, make_artefact(db_session)), make_environment(db_session)
    )
    db_session.commit()
    with Session(engine) as session:
        connection = session.connection()
        raw = connection.connection.driver_connection
        assert raw is not None
        # Prepared on the server from the first call, as the driver does from the fifth on.
        raw.prepare_threshold = 0
        try:
            for _ in range(8):
                assert execution.id in execution_responses(session, [execution.id])
            plans = connection.execute(
                text(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                    "WHERE statement LIKE '%json_agg%' "
                    "AND statement NOT LIKE '%pg_prepared_statements%'"
                )
            ).all()
        finally:
            raw.prepare_threshold = 5
    assert len(plans) == 1, plans
    generic, custom = plans[0]
    # Five plans for the values of the first calls, then the generic plan for every call.
    assert (generic, custom) == (3, 5)


def test_several_ids_travel_as_one_array() -> None:
    one = str(select(TestExecution.id).where(one_of(TestExecution.id, [1])))
    two = str(select(TestExecution.id).where(one_of(TestExecution.id, [1, 2])))
    eight = str(select(TestExecution.id).where(one_of(TestExecution.id, list(range(8)))))
    assert two == eight
    assert "ANY" in two
    assert "ANY" not in one
