"""Every revision upgrades and downgrades cleanly, and the models match the migrations."""

from __future__ import annotations

from sqlalchemy import Connection, create_engine, inspect, text

from test_observer.db import migrate


def revisions_in_order() -> list[str]:
    """Revision ids from the first to the head."""
    return [
        script.revision for script in reversed(list(migrate.script_directory().walk_revisions()))
    ]


def public_enum_types(url: str) -> list[str]:
    engine = create_engine(url)
    with engine.connect() as connection:
        names = connection.scalars(
            text(
                "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                "WHERE n.nspname = 'public' AND t.typtype = 'e'"
            )
        ).all()
    engine.dispose()
    return list(names)


def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    names = set(inspect(engine).get_table_names())
    engine.dispose()
    return names


def test_history_is_linear_with_one_head() -> None:
    assert len(migrate.heads()) == 1
    for script in migrate.script_directory().walk_revisions():
        assert not script.is_merge_point, script.revision
        assert not script.is_branch_point, script.revision


def test_each_revision_upgrades_downgrades_and_upgrades_again(empty_database: str) -> None:
    revisions = revisions_in_order()
    for revision in revisions:
        migrate.upgrade(empty_database, revision)
        assert migrate.current(empty_database) == [revision]
    for index in range(len(revisions) - 1, -1, -1):
        previous = revisions[index - 1] if index else "base"
        migrate.downgrade(empty_database, previous)
        assert migrate.current(empty_database) == ([] if previous == "base" else [previous])
    migrate.upgrade(empty_database, "head")
    assert migrate.current(empty_database) == migrate.heads()


def test_models_match_migrations(empty_database: str) -> None:
    migrate.upgrade(empty_database, "head")
    assert migrate.differences(empty_database) is None


def test_downgrade_to_base_leaves_no_table_or_enum_type(empty_database: str) -> None:
    migrate.upgrade(empty_database, "head")
    # 33 tables, the job queue's 4 and alembic_version
    assert len(table_names(empty_database)) == 38
    assert len(public_enum_types(empty_database)) == 11  # 9 and the job queue's 2
    migrate.downgrade(empty_database, "base")
    assert table_names(empty_database) <= {"alembic_version"}
    assert public_enum_types(empty_database) == []
    engine = create_engine(empty_database)
    with engine.connect() as connection:
        leftovers = connection.scalars(
            text(
                "SELECT proname FROM pg_proc WHERE proname LIKE 'procrastinate%' "
                "UNION ALL SELECT typname FROM pg_type WHERE typname LIKE 'procrastinate%'"
            )
        ).all()
    engine.dispose()
    assert leftovers == []


def add_executions(
    connection: Connection, environments: list[str], ci_links: list[str | None]
) -> None:
    """One build of one artefact, tested with one plan in each environment for each CI link;
    written in SQL, as the schema stands at whatever revision the test has reached."""
    for statement in (
        "INSERT INTO artefact (name, version, stage, family, status) "
        "VALUES ('core22', '20240101', 'beta', 'snap', 'UNDECIDED')",
        "INSERT INTO artefact_build (architecture, revision, artefact_id) "
        "SELECT 'amd64', 1, id FROM artefact",
        "INSERT INTO environment (name, architecture) "
        "SELECT name, 'arm64' FROM unnest(CAST(:environments AS text[])) AS name",
        "INSERT INTO test_plan (name) VALUES ('smoke')",
        "INSERT INTO test_execution "
        "(status, artefact_build_id, environment_id, test_plan_id, ci_link) "
        "SELECT 'IN_PROGRESS', b.id, e.id, p.id, link "
        "FROM artefact_build b, environment e, test_plan p, "
        "unnest(CAST(:ci_links AS text[])) AS link",
    ):
        connection.execute(text(statement), {"environments": environments, "ci_links": ci_links})


def test_round_trip_on_a_database_holding_rows(empty_database: str) -> None:
    migrate.upgrade(empty_database, "head")
    engine = create_engine(empty_database)
    with engine.begin() as connection:
        add_executions(connection, ["rpi4"], [None])
    engine.dispose()
    migrate.downgrade(empty_database, "base")
    migrate.upgrade(empty_database, "head")
    assert migrate.current(empty_database) == migrate.heads()


def test_result_counts_start_from_the_stored_results(empty_database: str) -> None:
    migrate.upgrade(empty_database, "0011")
    engine = create_engine(empty_database)
    with engine.begin() as connection:
        add_executions(connection, ["rpi4"], ["with", "without"])
        connection.execute(
            text(
                "INSERT INTO test_case (name, category) "
                "SELECT 'case' || i, '' FROM generate_series(1, 6) AS i;"
                "INSERT INTO test_result (status, comment, io_log, test_execution_id, "
                "test_case_id) SELECT (ARRAY['PASSED', 'PASSED', 'PASSED', 'FAILED', "
                "'SKIPPED', 'SKIPPED'])[c.id]::testresultstatus, '', '', te.id, c.id "
                "FROM test_case c, test_execution te WHERE te.ci_link = 'with'"
            )
        )
    migrate.upgrade(empty_database, "0012")
    with engine.connect() as connection:
        counts = dict(
            connection.execute(
                text(
                    "SELECT ci_link, ARRAY[passed_count, failed_count, skipped_count] "
                    "FROM test_execution"
                )
            ).all()
        )
    engine.dispose()
    assert counts == {"with": [3, 1, 2], "without": [0, 0, 0]}


def test_results_receive_their_executions_environment(empty_database: str) -> None:
    """Revision 0013 copies each execution's environment onto its results; its downgrade
    removes the copy and keeps the results."""
    migrate.upgrade(empty_database, "0012")
    engine = create_engine(empty_database)
    with engine.begin() as connection:
        add_executions(connection, ["rpi4", "rpi5"], [None])
        connection.execute(
            text("INSERT INTO test_case (name, category) VALUES ('a', ''), ('b', '')")
        )
        connection.execute(
            text(
                "INSERT INTO test_result (status, comment, io_log, test_execution_id, "
                "test_case_id) SELECT 'PASSED', '', '', e.id, c.id "
                "FROM test_execution e, test_case c"
            )
        )
    copies = text(
        "SELECT r.environment_id = e.environment_id "
        "FROM test_result r JOIN test_execution e ON e.id = r.test_execution_id"
    )
    migrate.upgrade(empty_database, "0013")
    with engine.connect() as connection:
        assert connection.scalars(copies).all() == [True] * 4
    migrate.downgrade(empty_database, "0012")
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM test_result")) == 4
        columns = {column["name"] for column in inspect(connection).get_columns("test_result")}
    assert "environment_id" not in columns
    engine.dispose()
