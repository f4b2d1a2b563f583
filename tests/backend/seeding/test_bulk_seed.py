"""`test-observer seed --bulk`: the seed's dataset written with COPY, dated as a history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from pydantic import TypeAdapter
from sqlalchemy import Engine, text

from test_observer.db.engine import make_engine, make_session_factory
from test_observer.executions.requests import StartTestRequest
from test_observer.executions.start import StartTest, start_test
from test_observer.seeding.bulk_seed import bulk_seed
from test_observer.seeding.seed import SeedPlan, seed
from test_observer.settings import Settings
from tests.backend.command_line import run_command

# Two rounds over every combination and two environments: the third round tests the groups of
# the first again, which takes their rerun requests off the queue. Seed 3 makes a snap
# failure of issue 0's template, whose rule attaches it and whose issue asks for reruns.
PLAN = SeedPlan(
    artefacts=10, architectures=2, environments=2, executions=60, results=40, issues=9, seed=3
)
NOW = datetime(2025, 6, 1, 12, 0)

ARTEFACT = "concat_ws('/', a.family, a.name, a.version, a.sha256)"
# Every row in terms of natural keys, without ids or dates.
SNAPSHOT = {
    "artefacts": "SELECT to_jsonb(a) - 'id' - 'created_at' - 'updated_at' FROM artefact a",
    "builds": f"""
        SELECT {ARTEFACT}, b.architecture, b.revision
        FROM artefact_build b JOIN artefact a ON a.id = b.artefact_id""",
    "environments": "SELECT name, architecture FROM environment",
    "reviews": f"""
        SELECT {ARTEFACT}, b.architecture, e.name, r.review_decision::text, r.review_comment
        FROM artefact_build_environment_review r
        JOIN artefact_build b ON b.id = r.artefact_build_id
        JOIN artefact a ON a.id = b.artefact_id
        JOIN environment e ON e.id = r.environment_id""",
    "plans": "SELECT name FROM test_plan",
    "executions": f"""
        SELECT te.ci_link, te.c3_link, te.status::text, te.checkbox_version, te.resource_url,
               te.passed_count, te.failed_count, te.skipped_count,
               {ARTEFACT}, b.architecture, e.name, e.architecture, p.name
        FROM test_execution te
        JOIN artefact_build b ON b.id = te.artefact_build_id
        JOIN artefact a ON a.id = b.artefact_id
        JOIN environment e ON e.id = te.environment_id
        JOIN test_plan p ON p.id = te.test_plan_id""",
    "links": """
        SELECT te.ci_link, l.label, l.url
        FROM test_execution_relevant_link l
        JOIN test_execution te ON te.id = l.test_execution_id""",
    "metadata": """
        SELECT te.ci_link, m.category, m.value
        FROM test_execution_metadata_association_table link
        JOIN test_execution te ON te.id = link.test_execution_id
        JOIN test_execution_metadata m ON m.id = link.test_execution_metadata_id""",
    "test cases": "SELECT name, category, template_id FROM test_case",
    "results": """
        SELECT te.ci_link, tc.name, r.status::text, r.comment, r.io_log
        FROM test_result r
        JOIN test_execution te ON te.id = r.test_execution_id
        JOIN test_case tc ON tc.id = r.test_case_id""",
    "signatures": """
        SELECT te.ci_link, tc.name, s.text, s.signature_version
        FROM test_result r
        JOIN failure_signature s ON s.id = r.failure_signature_id
        JOIN test_execution te ON te.id = r.test_execution_id
        JOIN test_case tc ON tc.id = r.test_case_id""",
    "signature counts": "SELECT text, result_count FROM failure_signature",
    "issues": "SELECT to_jsonb(i) - 'id' - 'created_at' - 'updated_at' FROM issue i",
    "rules": """
        SELECT i.key, to_jsonb(r) - 'id' - 'created_at' - 'updated_at' - 'issue_id'
        FROM issue_test_result_attachment_rule r JOIN issue i ON i.id = r.issue_id""",
    "attachments": """
        SELECT i.key, te.ci_link, tc.name, rule.template_ids
        FROM issue_test_result_attachment att
        JOIN issue i ON i.id = att.issue_id
        JOIN test_result r ON r.id = att.test_result_id
        JOIN test_execution te ON te.id = r.test_execution_id
        JOIN test_case tc ON tc.id = r.test_case_id
        LEFT JOIN issue_test_result_attachment_rule rule ON rule.id = att.attachment_rule_id""",
    "reruns": f"""
        SELECT p.name, {ARTEFACT}, b.architecture, e.name, rr.priority
        FROM test_execution_rerun_request rr
        JOIN test_plan p ON p.id = rr.test_plan_id
        JOIN artefact_build b ON b.id = rr.artefact_build_id
        JOIN artefact a ON a.id = b.artefact_id
        JOIN environment e ON e.id = rr.environment_id""",
}


def snapshot(engine: Engine) -> dict[str, list[str]]:
    with engine.connect() as connection:
        return {
            name: sorted(repr(tuple(row)) for row in connection.execute(text(query)))
            for name, query in SNAPSHOT.items()
        }


@pytest.fixture
def bulk_engine(migrated_database: str) -> Iterator[Engine]:
    engine = make_engine(migrated_database)
    yield engine
    engine.dispose()


def test_bulk_seed_writes_what_the_service_path_writes(
    engine: Engine, database_url: str, bulk_engine: Engine
) -> None:
    seed(make_session_factory(engine), PLAN, Settings(db_url=database_url))
    done: list[int] = []
    counts = bulk_seed(bulk_engine, PLAN, progress=done.append, now=NOW)

    through_service, through_copy = snapshot(engine), snapshot(bulk_engine)
    for name in SNAPSHOT:
        assert through_copy[name] == through_service[name], name
    assert done[-1] == PLAN.executions
    assert counts["executions"] == PLAN.executions
    assert counts["results"] == len(through_copy["results"])
    # The plan reaches every path: attachments by rule and by hand, and rerun requests both
    # asked for and made by an issue with automatic reruns (priority 0 without `index % 10`).
    attachments = through_copy["attachments"]
    assert any("None)" in row for row in attachments)
    assert any("None)" not in row for row in attachments)
    with bulk_engine.connect() as connection:
        automatic = connection.scalar(
            text(
                """
                SELECT count(*) FROM test_execution_rerun_request rr
                WHERE NOT EXISTS (
                    SELECT 1 FROM test_execution te
                    WHERE (te.test_plan_id, te.artefact_build_id, te.environment_id)
                        = (rr.test_plan_id, rr.artefact_build_id, rr.environment_id)
                      AND split_part(te.ci_link, '/', 6)::int % 10 = 0)
                """
            )
        )
    assert automatic


def test_bulk_seed_dates_a_history_in_the_order_of_ids(bulk_engine: Engine) -> None:
    bulk_seed(bulk_engine, PLAN, now=NOW)
    with bulk_engine.connect() as connection:
        for table in ("artefact", "test_execution", "test_result", "test_case"):
            oldest, newest, backwards = connection.execute(
                text(
                    f"""
                    SELECT min(created_at), max(created_at),
                           count(*) FILTER (WHERE created_at < previous)
                    FROM (SELECT created_at, lag(created_at) OVER (ORDER BY id) AS previous
                          FROM {table}) AS dated
                    """
                )
            ).one()
            assert newest <= NOW + timedelta(days=1), table
            # Five versions a line, a week apart (test cases appear with the first results).
            if table != "test_case":
                assert newest - oldest > timedelta(weeks=4), table
            if table != "test_result":
                assert backwards == 0, table
        # Results are dated when they arrive, so executions that overlap interleave a little.
        newest_result = connection.execute(
            text("SELECT id FROM test_result ORDER BY created_at DESC, id DESC LIMIT 1")
        ).scalar_one()
        assert newest_result == connection.scalar(text("SELECT max(id) FROM test_result"))
        # VACUUM ANALYZE ran: the planner has statistics of the loaded tables.
        analysed = connection.scalar(
            text(
                "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                "WHERE relname = 'test_result'"
            )
        )
        assert analysed


def test_the_api_writes_after_a_bulk_seed(bulk_engine: Engine) -> None:
    """Sequences continue after the copied ids."""
    bulk_seed(bulk_engine, PLAN, now=NOW)
    url = bulk_engine.url.render_as_string(hide_password=False)
    request: StartTest = TypeAdapter(StartTestRequest).validate_python(
        {
            "family": "snap",
            "name": "after-bulk",
            "version": "1",
            "revision": 1,
            "track": "latest",
            "store": "ubuntu",
            "arch": "amd64",
            "execution_stage": "beta",
            "environment": "new-env",
            "test_plan": "new-plan",
            "ci_link": "https://ci.example.com/after-bulk",
            "relevant_links": [{"label": "Job", "url": "https://ci.example.com/after-bulk"}],
        }
    )
    factory = make_session_factory(bulk_engine)
    with factory() as session, session.begin():
        execution_id = start_test(session, request, Settings(db_url=url))
    assert execution_id == PLAN.executions + 1


def test_seed_command_bulk_with_a_history_factor(bulk_engine: Engine) -> None:
    url = bulk_engine.url.render_as_string(hide_password=False)
    completed = run_command(
        *("seed", "--bulk", "--history-factor", "2"),
        *("--artefacts", "5", "--executions", "15", "--results", "4", "--issues", "2"),
        *("--versions-per-line", "1", "--no-migrate"),
        env={"DB_URL": url, "PATH": ""},
        inherit_env=False,
    )
    assert completed.returncode == 0, completed.stderr
    with bulk_engine.connect() as connection:
        artefacts, versions, executions = connection.execute(
            text(
                "SELECT count(*), count(DISTINCT version), "
                "(SELECT count(*) FROM test_execution) FROM artefact"
            )
        ).one()
    assert (artefacts, versions, executions) == (10, 2, 30)
