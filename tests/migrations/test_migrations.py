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
    # 46 tables (3 of them webhooks', 1 the callers' generation, 4 failure signatures'
    # spread, 1 comparison summaries), the job queue's 4 and alembic_version
    assert len(table_names(empty_database)) == 51
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


def test_teams_created_at_sign_in_become_linked(empty_database: str) -> None:
    """Revision 0016 links the teams sign-in created (those granting nothing, and those made in
    the transaction of a member's sign-in) and leaves teams made through the API alone; its
    downgrade drops the link and the `view_audit` permission, keeping the grants."""
    migrate.upgrade(empty_database, "0015")
    engine = create_engine(empty_database)
    with engine.begin() as connection:
        # One transaction, as a first sign-in: the user and the team share a creation time.
        connection.execute(
            text(
                "INSERT INTO app_user (email, name) VALUES ('ada@example.com', 'Ada');"
                "INSERT INTO team (name, permissions) VALUES ('hw-cert', '{}');"
                "INSERT INTO team_users_association SELECT u.id, t.id FROM app_user u, team t"
            )
        )
    with engine.begin() as connection:
        # Later requests: permissions granted to the sign-in team, and two API teams.
        connection.execute(
            text(
                "UPDATE team SET permissions = '{change_artefact}' WHERE name = 'hw-cert';"
                "INSERT INTO team (name, permissions) VALUES "
                "('admins', '{change_user}'), ('empty', '{}');"
                "INSERT INTO team_users_association "
                "SELECT u.id, t.id FROM app_user u, team t WHERE t.name = 'admins'"
            )
        )
    migrate.upgrade(empty_database, "0016")
    with engine.connect() as connection:
        links = dict(connection.execute(text("SELECT name, launchpad_team FROM team")).all())
    assert links == {"hw-cert": "hw-cert", "admins": None, "empty": "empty"}

    with engine.begin() as connection:
        connection.execute(
            text("UPDATE team SET permissions = '{change_user,view_audit}' WHERE name = 'admins'")
        )
    migrate.downgrade(empty_database, "0015")
    with engine.connect() as connection:
        permissions = connection.scalar(
            text("SELECT permissions::text FROM team WHERE name = 'admins'")
        )
    engine.dispose()
    assert permissions == "{change_user}"


def test_withdrawing_expected_environments_keeps_every_other_grant(empty_database: str) -> None:
    migrate.upgrade(empty_database, "0017")
    engine = create_engine(empty_database)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO team (name, permissions) VALUES "
                "('reviewers', '{view_artefact,change_expected_environment,view_test}'), "
                "('others', '{change_expected_environment}')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO issue (source, project, key, status) "
                "VALUES ('GITHUB', 'acme/x', '1', 'OPEN')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO issue_test_result_attachment_rule (issue_id, test_plans) "
                "SELECT id, '{smoke}' FROM issue"
            )
        )
        connection.execute(
            text(
                "INSERT INTO expected_environments (family, artefact_name, environments) "
                "VALUES ('deb', 'linux', '{rpi4}')"
            )
        )
    migrate.downgrade(empty_database, "0016")
    with engine.connect() as connection:
        grants = connection.execute(
            text("SELECT name, permissions::text[] FROM team ORDER BY name")
        ).all()
        labels = connection.scalars(text("SELECT unnest(enum_range(NULL::permission))::text")).all()
    assert [(name, list(permissions)) for name, permissions in grants] == [
        ("others", []),
        ("reviewers", ["view_artefact", "view_test"]),
    ]
    assert "change_expected_environment" not in labels
    assert len(labels) == 32
    assert "expected_environments" not in table_names(empty_database)
    migrate.upgrade(empty_database, "head")
    with engine.connect() as connection:
        rules = connection.scalars(
            text("SELECT test_plans FROM issue_test_result_attachment_rule")
        ).all()
    engine.dispose()
    # The rule's plans went with the column; it is back, accepting any plan.
    assert rules == [[]]


def test_webhook_permissions_are_taken_back_on_downgrade(empty_database: str) -> None:
    migrate.upgrade(empty_database, "0019")
    engine = create_engine(empty_database)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO team (name, permissions) "
                "VALUES ('releases', '{view_artefact,change_webhook,view_webhook}')"
            )
        )
    migrate.downgrade(empty_database, "0018")
    with engine.connect() as connection:
        kept = connection.scalar(text("SELECT permissions::text[] FROM team"))
        labels = connection.scalars(
            text("SELECT enumlabel FROM pg_enum WHERE enumtypid = 'permission'::regtype")
        ).all()
    engine.dispose()
    assert kept == ["view_artefact"]
    assert "change_webhook" not in labels
    assert "view_artefact" in labels
    migrate.upgrade(empty_database, "head")
