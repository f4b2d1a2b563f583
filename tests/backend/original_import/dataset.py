"""A database of the original Test Observer's schema, filled with every table and with the
duplicate shapes its races left behind, for the import tests and the import benchmark."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg

SCHEMA = Path(__file__).with_name("schema.sql")

# The clear key the original stored; after the import only its digest may exist.
ORIGINAL_API_KEY = "to_OriginalKeyThatCiJobsStillUse0123456789abcdef"


@dataclass(frozen=True)
class OriginalShape:
    executions: int = 40
    results_per_execution: int = 20
    # Results uploaded twice for one test case of one execution (the newest is kept).
    duplicate_results: int = 7
    # Relevant links added again by a retried start-test.
    duplicate_links: int = 3


def create_original(url: str, shape: OriginalShape = OriginalShape()) -> None:
    with psycopg.connect(url) as connection:
        connection.execute(SCHEMA.read_text())  # type: ignore[arg-type]
        _fill(connection, shape)


def _fill(connection: psycopg.Connection[tuple[object, ...]], shape: OriginalShape) -> None:
    run = connection.execute
    # The original's timestamps have no server default; every insert names them.
    run(
        """
        INSERT INTO app_user (created_at, updated_at, email, launchpad_handle, name, is_admin)
        SELECT now(), now(), 'user' || i || '@example.com', 'handle' || i, 'User ' || i, i = 1
        FROM generate_series(1, 5) AS i
        """
    )
    run(
        """
        INSERT INTO team (created_at, updated_at, name, permissions) VALUES
            (now(), now(), 'qa', '{view_test,change_test}'),
            (now(), now(), 'kernel', '{}')
        """
    )
    run("INSERT INTO team_users_association VALUES (1, 1), (2, 1), (3, 2)")
    run(
        """
        INSERT INTO application (created_at, updated_at, name, permissions, api_key)
        VALUES (now(), now(), 'jenkins', '{view_artefact,view_test,change_test}', %s)
        """,
        (ORIGINAL_API_KEY,),
    )
    run(
        """
        INSERT INTO user_session (created_at, updated_at, expires_at, user_id)
        VALUES (now(), now(), now() + interval '14 days', 2)
        """
    )
    run(
        """
        INSERT INTO notification (created_at, updated_at, user_id, notification_type,
                                  target_url, dismissed_at)
        VALUES (now(), now(), 3, 'USER_ASSIGNED_ARTEFACT_REVIEW', 'https://to.example/snaps/1',
                NULL),
               (now(), now(), 2, 'USER_ASSIGNED_ARTEFACT_REVIEW', 'https://to.example/debs/2',
                now()),
               -- Two concurrent assignments notified user 3 twice.
               (now(), now(), 3, 'USER_ASSIGNED_ARTEFACT_REVIEW', 'https://to.example/snaps/1',
                NULL)
        """
    )
    run(
        """
        INSERT INTO artefact_matching_rule (created_at, updated_at, family, name,
                                            grant_permissions)
        VALUES (now(), now(), 'snap', 'core22', '{change_artefact}')
        """
    )
    run("INSERT INTO artefact_matching_rule_team_association VALUES (1, 1)")
    run(
        """
        INSERT INTO test_plan (name) VALUES ('com.canonical.certification::smoke'),
            ('com.canonical.certification::full'), ('stress')
        """
    )
    run(
        """
        INSERT INTO environment (created_at, updated_at, name, architecture)
        SELECT now(), now(), 'machine-' || i, CASE WHEN mod(i, 2) = 0 THEN 'arm64' ELSE 'amd64' END
        FROM generate_series(1, 4) AS i
        """
    )
    run(
        """
        INSERT INTO test_case (created_at, updated_at, name, category, template_id)
        SELECT now(), now(), 'suite/case-' || i, 'Smoke',
               CASE WHEN mod(i, 5) = 0 THEN 'tmpl' ELSE '' END
        FROM generate_series(1, %s) AS i
        """,
        (shape.results_per_execution,),
    )
    # One artefact of every family; the snap carries a store and a Jira card.
    run(
        """
        INSERT INTO artefact (created_at, updated_at, name, version, stage, family, status,
            archived, comment, due_date, bug_link, jira_issue, store, track, branch, series,
            repo, source, os, release, sha256, owner, image_url, bundled_builds_hash)
        VALUES
            (now(), now(), 'core22', '20241001', 'beta', 'snap', 'UNDECIDED', false, '',
             '2026-01-15', '', 'TO-12', 'ubuntu', 'latest', '', '', '', '', '', '', '', '', '',
             NULL),
            (now(), now(), 'linux-generic', '6.8.0-41.41', 'proposed', 'deb', 'APPROVED',
             false, 'looks fine', NULL, '', NULL, '', '', '', 'noble', 'main', '', '', '', '',
             '', '', NULL),
            (now(), now(), 'postgresql-k8s', '14/rev281', 'candidate', 'charm',
             'MARKED_AS_FAILED', true, '', NULL, 'https://bugs.example/1', NULL, '', '14', '',
             '', '', '', '', '', '', '', '', NULL),
            (now(), now(), 'noble-desktop-amd64', '20240821', 'pending', 'image', 'UNDECIDED',
             false, '', NULL, '', NULL, '', '', '', '', '', '', 'ubuntu', 'noble', 'f00d',
             'canonical',
             'https://cdimage.example/noble.iso', NULL),
            (now(), now(), 'kernel-solution', '1.0', 'edge', 'solution', 'UNDECIDED', false, '',
             NULL, '', NULL, '', 'latest', '', '', '', 'ppa:x', '', '', '', '', '',
             encode(sha256('2'::bytea), 'hex'))
        """
    )
    run(
        """
        INSERT INTO artefact_build (created_at, updated_at, architecture, revision, artefact_id)
        VALUES (now(), now(), 'amd64', 1234, 1), (now(), now(), 'arm64', 1235, 1),
               (now(), now(), 'amd64', NULL, 2), (now(), now(), 'amd64', 281, 3),
               (now(), now(), 'amd64', NULL, 4), (now(), now(), 'amd64', NULL, 5)
        """
    )
    run("INSERT INTO artefact_bundled_builds_association VALUES (5, 2), (5, 1)")
    run("INSERT INTO artefact_reviewers_association VALUES (1, 3), (1, 2), (2, 4)")
    run(
        """
        INSERT INTO artefact_build_environment_review (created_at, updated_at, review_decision,
            review_comment, environment_id, artefact_build_id)
        SELECT now(), now(),
               CASE WHEN b = 1 THEN '{APPROVED_ALL_TESTS_PASS}'
                    ELSE '{}' END::artefactbuildenvironmentreviewdecision[],
               '', e, b
        FROM generate_series(1, 6) AS b, generate_series(1, 2) AS e
        """
    )
    run("INSERT INTO environment_review_reviewers_association VALUES (1, 2), (2, 3)")
    # Executions spread over the builds, environments and plans; a third have no ci_link.
    run(
        """
        INSERT INTO test_execution (created_at, updated_at, ci_link, c3_link, status,
            checkbox_version, resource_url, artefact_build_id, environment_id, test_plan_id)
        SELECT now() - (%(n)s - i) * interval '1 minute', now(),
               CASE WHEN mod(i, 3) = 0 THEN NULL ELSE 'https://jenkins.example/job/' || i END,
               NULL,
               (ARRAY['PASSED', 'FAILED', 'IN_PROGRESS'])[1 + mod(i, 3)]::testexecutionstatus,
               '4.0.0', '', 1 + mod(i, 6), 1 + mod(i, 4), 1 + mod(i, 3)
        FROM generate_series(1, %(n)s) AS i
        """,
        {"n": shape.executions},
    )
    run(
        """
        INSERT INTO test_execution_metadata (created_at, updated_at, category, value)
        VALUES (now(), now(), 'cpu', 'intel'), (now(), now(), 'cpu', 'amd'),
               (now(), now(), 'kernel', '6.8')
        """
    )
    run(
        """
        INSERT INTO test_execution_metadata_association_table
        SELECT i, 1 + mod(i, 2) FROM generate_series(1, %(n)s) AS i
        UNION ALL SELECT i, 3 FROM generate_series(1, %(n)s, 5) AS i
        """,
        {"n": shape.executions},
    )
    run(
        """
        INSERT INTO test_execution_relevant_link (created_at, updated_at, test_execution_id,
                                                  label, url)
        SELECT now(), now(), i, 'build log', 'https://logs.example/' || i
        FROM generate_series(1, %(n)s) AS i
        UNION ALL
        SELECT now(), now(), i, 'build log', 'https://logs.example/' || i
        FROM generate_series(1, %(d)s) AS i
        """,
        {"n": shape.executions, "d": shape.duplicate_links},
    )
    run(
        """
        INSERT INTO test_event (created_at, updated_at, event_name, timestamp, detail,
                                test_execution_id)
        SELECT now(), now(), 'job_start', now(), '', i FROM generate_series(1, %(n)s) AS i
        """,
        {"n": shape.executions},
    )
    run(
        """
        INSERT INTO test_execution_rerun_request (created_at, updated_at, test_plan_id,
                                                  artefact_build_id, environment_id, priority)
        VALUES (now(), now(), 1, 1, 1, 0), (now(), now(), 2, 3, 2, 5)
        """
    )
    run(
        """
        INSERT INTO test_result (created_at, updated_at, status, comment, io_log,
                                 test_execution_id, test_case_id)
        SELECT now(), now(),
               (ARRAY['PASSED', 'FAILED', 'SKIPPED'])[1 + mod((e + c), 3)]::testresultstatus,
               '', 'output of case ' || c, e, c
        FROM generate_series(1, %(n)s) AS e, generate_series(1, %(r)s) AS c
        ORDER BY e, c
        """,
        {"n": shape.executions, "r": shape.results_per_execution},
    )
    # Later uploads of the same test cases: status FAILED, so a test can tell which one is kept.
    run(
        """
        INSERT INTO test_result (created_at, updated_at, status, comment, io_log,
                                 test_execution_id, test_case_id)
        SELECT now(), now(), 'FAILED', 'uploaded again', 'second upload', i, 1
        FROM generate_series(1, %(d)s) AS i
        """,
        {"d": shape.duplicate_results},
    )
    run(
        """
        INSERT INTO issue (created_at, updated_at, source, project, key, title, status,
                           last_synced_at, labels, auto_rerun_enabled)
        VALUES (now(), now(), 'GITHUB', 'canonical/test_observer', '71', 'Flaky wifi', 'OPEN',
                now(), '{bug}', true),
               (now(), now(), 'JIRA', 'TO', '12', 'Kernel panic', 'CLOSED', NULL, NULL, false),
               (now(), now(), 'LAUNCHPAD', 'ubuntu', '2061234', '', 'UNKNOWN', NULL, NULL,
                false)
        """
    )
    run(
        """
        INSERT INTO issue_test_result_attachment_rule (created_at, updated_at, issue_id,
            enabled, families, environment_names, test_case_names, template_ids,
            test_result_statuses)
        VALUES (now(), now(), 1, true, '{snap}', '{machine-1}', '{}', '{}', '{FAILED}')
        """
    )
    run(
        """
        INSERT INTO issue_test_result_attachment_rule_execution_metadata (created_at,
            updated_at, attachment_rule_id, category, value)
        VALUES (now(), now(), 1, 'cpu', 'intel')
        """
    )
    # Both uploads of a duplicated result attached to one issue: one attachment after merging.
    run(
        """
        INSERT INTO issue_test_result_attachment (created_at, updated_at, issue_id,
                                                  test_result_id, attachment_rule_id)
        SELECT now(), now(), 1, r.id, 1
        FROM test_result r WHERE r.test_case_id = 1 AND r.test_execution_id <= %(d)s
        UNION ALL
        SELECT now(), now(), 2, r.id, NULL
        FROM test_result r WHERE r.test_case_id = 2 AND r.test_execution_id <= 5
        """,
        {"d": shape.duplicate_results},
    )
    run(
        """
        INSERT INTO test_case_issue (created_at, updated_at, template_id, case_name, url,
                                     description)
        VALUES (now(), now(), 'tmpl', 'suite/case-5', 'https://bugs.example/5', 'known')
        """
    )
    run(
        """
        INSERT INTO environment_issue (created_at, updated_at, environment_name, url,
                                       description, is_confirmed)
        VALUES (now(), now(), 'machine-1', NULL, 'flaky wifi card', true)
        """
    )
