"""`test-observer import-original`: a database of the original's schema, built by the tests,
imported into ours and then read back through our own API."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import psycopg
import pytest
from click.testing import Result
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient
from typer.testing import CliRunner

from test_observer.auth.keys import digest_api_key
from test_observer.cli.main import app
from test_observer.db.models import Permission
from test_observer.original_import.service import libpq_url
from test_observer.original_import.tables import TABLES
from tests.backend.command_line import run_command
from tests.backend.original_import.dataset import ORIGINAL_API_KEY, OriginalShape, create_original
from tests.backend.principals import bearer
from tests.database import scratch_database

SHAPE = OriginalShape()


@pytest.fixture(scope="module")
def original_template(database_server: str) -> Iterator[str]:
    """The original's database, built once for the module and copied for each test."""
    with scratch_database(database_server, "original_template") as url:
        create_original(libpq_url(url), SHAPE)
        yield str(make_url(url).database)


@pytest.fixture
def original(database_server: str, original_template: str) -> Iterator[str]:
    with scratch_database(database_server, "original", template=original_template) as url:
        yield url


def import_command(target: str, *args: str) -> Result:
    # In process: the command's own code path, without a Python start-up per test.
    return CliRunner().invoke(
        app, ["import-original", *args], env={"DB_URL": target, "COLUMNS": "200"}
    )


def test_the_command_imports_into_the_configured_database(
    original: str, database_url: str, engine: Engine
) -> None:
    result = run_command("import-original", "--from", original, env={"DB_URL": database_url})
    assert result.returncode == 0, result.stderr
    assert (
        counts(database_url)["test_result"]
        == counts(original)["test_result"] - SHAPE.duplicate_results
    )


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(libpq_url(url)) as connection:
        return {
            copy.table: int(
                connection.execute(f'SELECT count(*) FROM "{copy.table}"').fetchone()[0]  # type: ignore[index]
            )
            for copy in TABLES
        }


# What the original's races duplicated, and how many rows of each the import merges.
EXPECTED_MERGES = {
    "test_execution_relevant_link": SHAPE.duplicate_links,
    "test_result": SHAPE.duplicate_results,
    # Each duplicated result had both uploads attached to the same issue.
    "issue_test_result_attachment": SHAPE.duplicate_results,
}


def test_every_table_is_imported_with_equal_counts_minus_merges(
    original: str, database_url: str, engine: Engine
) -> None:
    source = counts(original)
    assert all(source.values()), "the source dataset must fill every table"

    result = import_command(database_url, "--from", original)

    assert result.exit_code == 0, result.stderr
    target = counts(database_url)
    assert {
        table: source[table] - target[table] for table in source if source[table] != target[table]
    } == EXPECTED_MERGES
    for table, merged in EXPECTED_MERGES.items():
        assert f"Merged {merged} rows of {table}" in result.stderr
    # The final table names every table with its source and imported counts.
    for table in source:
        assert table in result.stdout


def test_api_keys_keep_working_and_no_clear_key_is_stored(
    original: str, database_url: str, make_client: Callable[..., TestClient]
) -> None:
    assert import_command(database_url, "--from", original).exit_code == 0
    api = make_client(require_authentication=True)

    assert api.get("/v1/artefacts", params={"family": "snap"}).status_code == 401
    response = api.get("/v1/artefacts", params={"family": "snap"}, headers=bearer(ORIGINAL_API_KEY))
    assert response.status_code == 200, response.text
    assert [artefact["name"] for artefact in response.json()] == ["core22"]

    with psycopg.connect(libpq_url(database_url)) as connection:
        digests = connection.execute(
            "SELECT api_key_digest, api_key_prefix FROM application"
        ).fetchall()
        # No column of any table holds the clear key.
        dump = connection.execute(
            "SELECT count(*) FROM application a WHERE a::text LIKE %s", (f"%{ORIGINAL_API_KEY}%",)
        ).fetchone()
    assert digests == [(digest_api_key(ORIGINAL_API_KEY), ORIGINAL_API_KEY[:7])]
    assert dump == (0,)


def test_ids_and_content_are_kept_as_the_api_shows_them(
    original: str, database_url: str, make_client: Callable[..., TestClient]
) -> None:
    assert import_command(database_url, "--from", original).exit_code == 0
    client = make_client(ignore_permissions=frozenset(Permission))

    snap = client.get("/v1/artefacts/1").json()
    assert (snap["name"], snap["version"], snap["store"], snap["stage"]) == (
        "core22",
        "20241001",
        "ubuntu",
        "beta",
    )
    assert snap["due_date"] == "2026-01-15"
    # The original kept no reviewer order: ours follows the user ids.
    assert [reviewer["id"] for reviewer in snap["reviewers"]] == [2, 3]

    builds = client.get("/v1/artefacts/1/builds").json()
    assert sorted((build["architecture"], build["revision"]) for build in builds) == [
        ("amd64", 1234),
        ("arm64", 1235),
    ]

    # Execution 1 had test case 1 uploaded twice: the later upload is the one kept, and both
    # uploads' attachments to issue 1 became one.
    results = client.get("/v1/test-executions/1/test-results").json()
    assert len(results) == SHAPE.results_per_execution
    first_case = next(result for result in results if result["name"] == "suite/case-1")
    assert (first_case["status"], first_case["comment"]) == ("FAILED", "uploaded again")
    assert [issue["issue"]["id"] for issue in first_case["issues"]] == [1]
    # The results search counts the imported results from the executions' counts.
    for params in ({}, {"test_result_statuses": "FAILED"}):
        everything = client.get("/v1/test-results", params={**params, "limit": 1000}).json()
        assert everything["count"] == len(everything["test_results"]) > 0

    # User 3 was notified twice of one review: one notification stays unread.
    with psycopg.connect(libpq_url(database_url)) as connection:
        unread = connection.execute(
            "SELECT id FROM notification WHERE user_id = 3 AND dismissed_at IS NULL"
        ).fetchall()
        # The original kept the environment on executions only; each result now has a copy.
        copies = connection.execute(
            "SELECT count(*) FILTER (WHERE r.environment_id = e.environment_id) "
            "FROM test_result r JOIN test_execution e ON e.id = r.test_execution_id"
        ).fetchone()
    assert unread == [(1,)]
    assert copies == (SHAPE.executions * SHAPE.results_per_execution,)

    closed = client.get("/v1/issues/2").json()
    assert (closed["status"], closed["key"]) == ("closed", "12")

    issue = client.get("/v1/users/3").json()
    assert issue["email"] == "user3@example.com"
    teams = client.get("/v1/teams").json()
    assert {team["name"]: sorted(member["id"] for member in team["members"]) for team in teams} == {
        "qa": [1, 2],
        "kernel": [3],
    }
    # A team that grants nothing was made by sign-in: it follows its Launchpad team from now on.
    links = {team["name"]: team["launchpad_team"] for team in teams}
    assert links["kernel"] == "kernel"


def test_new_rows_get_ids_past_the_imported_ones(
    original: str, database_url: str, make_client: Callable[..., TestClient]
) -> None:
    assert import_command(database_url, "--from", original).exit_code == 0
    client = make_client(ignore_permissions=frozenset(Permission))

    response = client.put(
        "/v1/test-executions/start-test",
        json={
            "family": "deb",
            "name": "hello",
            "version": "2.10-3",
            "arch": "amd64",
            "series": "noble",
            "repo": "main",
            "execution_stage": "proposed",
            "environment": "machine-9",
            "ci_link": "https://jenkins.example/job/new",
            "test_plan": "stress",
        },
    )

    assert response.status_code == 200, response.text
    assert response.json()["id"] == SHAPE.executions + 1


def test_dry_run_reports_and_writes_nothing(
    original: str, database_url: str, engine: Engine
) -> None:
    result = import_command(database_url, "--from", original, "--dry-run")

    assert result.exit_code == 0, result.stderr
    assert "Would import" in result.stdout
    assert f"Merged {SHAPE.duplicate_results} rows of test_result" in result.stderr
    assert "nothing was written" in result.stderr
    assert set(counts(database_url).values()) == {0}


def test_a_source_our_schema_refuses_leaves_the_target_untouched(
    original: str, database_url: str, engine: Engine
) -> None:
    # An event of an execution that does not exist: our foreign key refuses it, late in the
    # import, after most tables have been copied.
    with psycopg.connect(libpq_url(original)) as connection:
        connection.execute(
            "ALTER TABLE test_event DROP CONSTRAINT test_event_test_execution_id_fkey"
        )
        connection.execute(
            "INSERT INTO test_event (created_at, updated_at, event_name, timestamp, detail, "
            "test_execution_id) VALUES (now(), now(), 'orphan', now(), '', 999999)"
        )

    result = import_command(database_url, "--from", original)

    assert result.exit_code != 0
    assert set(counts(database_url).values()) == {0}


@pytest.mark.parametrize(
    ("arrange", "reason"),
    [
        pytest.param("non_empty", "The target database is not empty", id="non-empty target"),
        pytest.param("wrong_revision", "is at revision 1234abcd", id="wrong source revision"),
        pytest.param("unreachable", "Cannot read the source database", id="unreachable source"),
        pytest.param("not_ours", "not a Test Observer database", id="not an original database"),
    ],
)
def test_refusals_are_one_line_and_exit_1(
    original: str, database_url: str, engine: Engine, arrange: str, reason: str
) -> None:
    source = original
    if arrange == "non_empty":
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO test_plan (name) VALUES ('already here')"))
    elif arrange == "wrong_revision":
        with psycopg.connect(libpq_url(original)) as connection:
            connection.execute("UPDATE alembic_version SET version_num = '1234abcd'")
    elif arrange == "unreachable":
        source = "postgresql://nobody@127.0.0.1:1/none"
    elif arrange == "not_ours":
        with psycopg.connect(libpq_url(original)) as connection:
            connection.execute("DROP TABLE alembic_version")

    result = import_command(database_url, "--from", source)

    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert reason in lines[0]
    assert result.stdout == ""


def test_an_unmigrated_target_is_refused(original: str, database_server: str) -> None:
    with scratch_database(database_server, "unmigrated") as target:
        result = import_command(target, "--from", original)
    assert result.exit_code == 1
    assert "run `test-observer db upgrade` first" in result.stderr


def test_json_report_with_the_source_url_from_the_environment(
    original: str, database_url: str, engine: Engine
) -> None:
    result = CliRunner().invoke(
        app,
        ["import-original", "--json"],
        env={"DB_URL": database_url, "ORIGINAL_DB_URL": original},
    )

    assert result.exit_code == 0, result.output
    report = {table["table"]: table for table in json.loads(result.stdout)["tables"]}
    assert [table for table in report.values() if table["merged-rows"]] == [
        {
            "table": table,
            "source-rows": counts(original)[table],
            "imported-rows": counts(original)[table] - merged,
            "merged-rows": merged,
        }
        for table, merged in EXPECTED_MERGES.items()
    ]
    assert {table: entry["imported-rows"] for table, entry in report.items()} == counts(
        database_url
    )
