-- The schema of the original Test Observer at its Alembic revision eba1d1c92dba, written from
-- the published description of its tables (types, nullability, defaults, keys and indexes).
-- The import tests build a source database from it.

CREATE TYPE familyname AS ENUM ('snap', 'deb', 'charm', 'image', 'solution');
CREATE TYPE testexecutionstatus AS ENUM (
    'NOT_STARTED', 'IN_PROGRESS', 'PASSED', 'FAILED', 'NOT_TESTED', 'ENDED_PREMATURELY');
CREATE TYPE testresultstatus AS ENUM ('PASSED', 'FAILED', 'SKIPPED');
CREATE TYPE artefactstatus AS ENUM ('APPROVED', 'MARKED_AS_FAILED', 'UNDECIDED');
CREATE TYPE artefactbuildenvironmentreviewdecision AS ENUM (
    'REJECTED', 'APPROVED_INCONSISTENT_TEST', 'APPROVED_UNSTABLE_PHYSICAL_INFRA',
    'APPROVED_CUSTOMER_PREREQUISITE_FAIL', 'APPROVED_FAULTY_HARDWARE', 'APPROVED_ALL_TESTS_PASS');
CREATE TYPE issuesource AS ENUM ('JIRA', 'GITHUB', 'LAUNCHPAD');
CREATE TYPE issuestatus AS ENUM ('UNKNOWN', 'OPEN', 'CLOSED');
CREATE TYPE notificationtype AS ENUM (
    'USER_ASSIGNED_ARTEFACT_REVIEW', 'USER_ASSIGNED_ENVIRONMENT_REVIEW');
CREATE TYPE permission AS ENUM (
    'add_application', 'change_application', 'change_artefact', 'change_attachment_rule',
    'change_auto_rerun', 'change_environment_reported_issue', 'change_environment_review',
    'change_issue', 'change_issue_attachment', 'change_issue_attachment_bulk',
    'change_notification', 'change_rerun', 'change_rerun_bulk', 'change_team', 'change_test',
    'change_test_case_reported_issue', 'change_user', 'view_application', 'view_artefact',
    'view_environment_reported_issue', 'view_environment_review', 'view_issue',
    'view_notification', 'view_permission', 'view_report', 'view_rerun', 'view_sentry_debug',
    'view_team', 'view_test', 'view_test_case_reported_issue', 'view_user');

CREATE TABLE alembic_version (
    version_num varchar(32) NOT NULL CONSTRAINT alembic_version_pkc PRIMARY KEY
);

CREATE TABLE app_user (
    id serial CONSTRAINT user_pkey PRIMARY KEY,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL,
    email varchar NOT NULL CONSTRAINT app_user_email_key UNIQUE,
    launchpad_handle varchar,
    name varchar NOT NULL,
    is_admin boolean NOT NULL DEFAULT false
);

CREATE TABLE team (
    id serial CONSTRAINT team_pkey PRIMARY KEY,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL,
    name varchar NOT NULL CONSTRAINT team_name_key UNIQUE,
    permissions permission[] NOT NULL DEFAULT '{}'
);

CREATE TABLE team_users_association (
    user_id integer NOT NULL REFERENCES app_user (id),
    team_id integer NOT NULL REFERENCES team (id),
    CONSTRAINT team_users_association_pkey PRIMARY KEY (user_id, team_id)
);

CREATE TABLE application (
    id serial CONSTRAINT application_pkey PRIMARY KEY,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL,
    name varchar NOT NULL CONSTRAINT application_name_key UNIQUE,
    permissions permission[] NOT NULL,
    api_key varchar NOT NULL CONSTRAINT application_api_key_key UNIQUE
);

CREATE TABLE user_session (
    id serial CONSTRAINT user_session_pkey PRIMARY KEY,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL,
    expires_at timestamp NOT NULL,
    user_id integer NOT NULL REFERENCES app_user (id) ON DELETE CASCADE
);
CREATE INDEX user_session_user_id_ix ON user_session (user_id);

CREATE TABLE notification (
    id serial CONSTRAINT notification_pkey PRIMARY KEY,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL,
    user_id integer NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    notification_type notificationtype NOT NULL,
    target_url varchar,
    dismissed_at timestamp
);
CREATE INDEX notification_user_id_ix ON notification (user_id);

CREATE TABLE artefact_matching_rule (
    id serial CONSTRAINT artefact_matching_rule_pkey PRIMARY KEY,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL,
    family familyname NOT NULL,
    name varchar(200) NOT NULL DEFAULT '',
    stage varchar(100) NOT NULL DEFAULT '',
    track varchar(200) NOT NULL DEFAULT '',
    branch varchar(200) NOT NULL DEFAULT '',
    store varchar(200) NOT NULL DEFAULT '',
    series varchar(200) NOT NULL DEFAULT '',
    os varchar(200) NOT NULL DEFAULT '',
    release varchar(200) NOT NULL DEFAULT '',
    owner varchar(200) NOT NULL DEFAULT '',
    grant_permissions permission[] NOT NULL DEFAULT '{}',
    CONSTRAINT artefact_matching_rule_fields_from_artefact
        UNIQUE (name, family, stage, track, branch, store, series, os, release, owner)
);

CREATE TABLE artefact_matching_rule_team_association (
    artefact_matching_rule_id integer NOT NULL
        REFERENCES artefact_matching_rule (id) ON DELETE CASCADE,
    team_id integer NOT NULL REFERENCES team (id),
    PRIMARY KEY (artefact_matching_rule_id, team_id)
);

CREATE TABLE test_plan (
    id serial CONSTRAINT test_plan_pkey PRIMARY KEY,
    created_at timestamp NOT NULL DEFAULT now(),
    updated_at timestamp NOT NULL DEFAULT now(),
    name varchar(200) NOT NULL
);
CREATE UNIQUE INDEX test_plan_name_ix ON test_plan (name);

CREATE TABLE environment (
    id serial CONSTRAINT environment_pkey PRIMARY KEY,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL,
    name varchar(200) NOT NULL,
    architecture varchar(100) NOT NULL,
    CONSTRAINT environment_name_architecture_key UNIQUE (name, architecture)
);
CREATE INDEX environment_name_ix ON environment (name);
CREATE INDEX environment_architecture_ix ON environment (architecture);

CREATE TABLE test_case (
    id serial CONSTRAINT test_case_pkey PRIMARY KEY,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL,
    name varchar NOT NULL CONSTRAINT test_case_name_key UNIQUE,
    category varchar NOT NULL,
    template_id varchar NOT NULL DEFAULT ''
);
CREATE INDEX test_case_category_ix ON test_case (category);
CREATE INDEX test_case_template_id_ix ON test_case (template_id);

CREATE TABLE artefact (
    id serial CONSTRAINT artefact_pkey PRIMARY KEY,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL,
    name varchar(200) NOT NULL,
    version varchar NOT NULL,
    stage varchar(100) NOT NULL,
    family familyname NOT NULL,
    status artefactstatus NOT NULL,
    archived boolean NOT NULL DEFAULT false,
    comment varchar NOT NULL,
    due_date date,
    bug_link varchar NOT NULL DEFAULT '',
    jira_issue varchar,
    store varchar NOT NULL,
    track varchar NOT NULL,
    branch varchar(200) NOT NULL,
    series varchar NOT NULL,
    repo varchar NOT NULL,
    source varchar(200) NOT NULL,
    os varchar(200) NOT NULL,
    release varchar(200) NOT NULL,
    sha256 varchar(200) NOT NULL,
    owner varchar(200) NOT NULL,
    image_url varchar(200) NOT NULL,
    bundled_builds_hash varchar(64)
);
CREATE INDEX artefact_name_ix ON artefact (name);
CREATE INDEX artefact_archived_ix ON artefact (archived);
-- The original's snap identity leaves out the store.
CREATE UNIQUE INDEX unique_snap ON artefact (name, version, track, branch)
    WHERE family = 'snap';
CREATE UNIQUE INDEX unique_charm ON artefact (name, version, track, branch)
    WHERE family = 'charm';
CREATE UNIQUE INDEX unique_deb ON artefact (name, version, series, repo, source)
    WHERE family = 'deb';
CREATE UNIQUE INDEX unique_image ON artefact (sha256) WHERE family = 'image';
CREATE UNIQUE INDEX unique_solution
    ON artefact (name, source, version, track, stage, bundled_builds_hash)
    WHERE family = 'solution';

CREATE TABLE artefact_build (
    id serial CONSTRAINT artefact_build_pkey PRIMARY KEY,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL,
    architecture varchar(100) NOT NULL,
    revision integer,
    artefact_id integer NOT NULL REFERENCES artefact (id) ON DELETE CASCADE
);
CREATE INDEX artefact_build_architecture_ix ON artefact_build (architecture);
CREATE INDEX artefact_build_artefact_id_ix ON artefact_build (artefact_id);
CREATE UNIQUE INDEX unique_artefact_build_null_revision
    ON artefact_build (artefact_id, architecture) WHERE revision IS NULL;
CREATE UNIQUE INDEX unique_artefact_build
    ON artefact_build (artefact_id, architecture, revision) WHERE revision IS NOT NULL;

CREATE TABLE artefact_bundled_builds_association (
    artefact_id integer NOT NULL REFERENCES artefact (id) ON DELETE CASCADE,
    artefact_build_id integer NOT NULL REFERENCES artefact_build (id) ON DELETE CASCADE,
    PRIMARY KEY (artefact_id, artefact_build_id)
);

CREATE TABLE artefact_reviewers_association (
    artefact_id integer NOT NULL REFERENCES artefact (id) ON DELETE CASCADE,
    user_id integer NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    PRIMARY KEY (artefact_id, user_id)
);

CREATE TABLE artefact_build_environment_review (
    id serial CONSTRAINT artefact_build_environment_review_pkey PRIMARY KEY,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL,
    review_decision artefactbuildenvironmentreviewdecision[] NOT NULL,
    review_comment varchar NOT NULL,
    environment_id integer NOT NULL REFERENCES environment (id) ON DELETE CASCADE,
    artefact_build_id integer NOT NULL REFERENCES artefact_build (id) ON DELETE CASCADE,
    UNIQUE (artefact_build_id, environment_id)
);

CREATE TABLE environment_review_reviewers_association (
    environment_review_id integer NOT NULL
        REFERENCES artefact_build_environment_review (id) ON DELETE CASCADE,
    user_id integer NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    PRIMARY KEY (environment_review_id, user_id)
);

CREATE TABLE test_execution (
    id serial CONSTRAINT test_execution_pkey PRIMARY KEY,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL,
    ci_link varchar(200) CONSTRAINT test_execution_ci_link_key UNIQUE,
    c3_link varchar(200),
    status testexecutionstatus NOT NULL,
    checkbox_version varchar(200),
    resource_url varchar NOT NULL DEFAULT '',
    artefact_build_id integer NOT NULL REFERENCES artefact_build (id) ON DELETE CASCADE,
    environment_id integer NOT NULL REFERENCES environment (id),
    test_plan_id integer NOT NULL REFERENCES test_plan (id) ON DELETE CASCADE
);
CREATE INDEX test_execution_updated_at_ix ON test_execution (updated_at);

CREATE TABLE test_execution_metadata (
    id serial CONSTRAINT test_execution_metadata_pkey PRIMARY KEY,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL,
    category varchar(200) NOT NULL,
    value varchar(200) NOT NULL,
    UNIQUE (category, value)
);

CREATE TABLE test_execution_metadata_association_table (
    test_execution_id integer NOT NULL REFERENCES test_execution (id),
    test_execution_metadata_id integer NOT NULL REFERENCES test_execution_metadata (id),
    PRIMARY KEY (test_execution_id, test_execution_metadata_id)
);

CREATE TABLE test_execution_relevant_link (
    id serial CONSTRAINT test_execution_relevant_link_pkey PRIMARY KEY,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL,
    test_execution_id integer NOT NULL REFERENCES test_execution (id) ON DELETE CASCADE,
    label varchar NOT NULL,
    url varchar NOT NULL
);

CREATE TABLE test_event (
    id serial CONSTRAINT test_event_pkey PRIMARY KEY,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL,
    event_name varchar NOT NULL,
    timestamp timestamp NOT NULL,
    detail varchar NOT NULL,
    test_execution_id integer NOT NULL REFERENCES test_execution (id) ON DELETE CASCADE
);

CREATE TABLE test_execution_rerun_request (
    id serial CONSTRAINT test_execution_rerun_request_pkey PRIMARY KEY,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL,
    test_plan_id integer NOT NULL REFERENCES test_plan (id) ON DELETE CASCADE,
    artefact_build_id integer NOT NULL REFERENCES artefact_build (id) ON DELETE CASCADE,
    environment_id integer NOT NULL REFERENCES environment (id) ON DELETE CASCADE,
    priority integer NOT NULL DEFAULT 0,
    CONSTRAINT uq_rerun_request_group UNIQUE (test_plan_id, artefact_build_id, environment_id)
);

-- Not unique per (execution, test case): the original's races left duplicates here.
CREATE TABLE test_result (
    id serial CONSTRAINT test_result_pkey PRIMARY KEY,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL,
    status testresultstatus NOT NULL,
    comment varchar NOT NULL,
    io_log varchar NOT NULL,
    test_execution_id integer NOT NULL REFERENCES test_execution (id) ON DELETE CASCADE,
    test_case_id integer NOT NULL REFERENCES test_case (id) ON DELETE CASCADE
);
CREATE INDEX test_result_created_at_ix ON test_result (created_at);
CREATE INDEX test_result_test_execution_id_ix ON test_result (test_execution_id);

CREATE TABLE issue (
    id serial CONSTRAINT issue_pkey PRIMARY KEY,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL,
    source issuesource NOT NULL,
    project varchar(200) NOT NULL,
    key varchar(200) NOT NULL,
    title varchar NOT NULL,
    status issuestatus NOT NULL,
    last_synced_at timestamp,
    labels varchar[],
    auto_rerun_enabled boolean NOT NULL DEFAULT false,
    CONSTRAINT issue_project_source_key_key UNIQUE (project, source, key)
);

CREATE TABLE issue_test_result_attachment_rule (
    id serial CONSTRAINT issue_test_result_attachment_rule_pkey PRIMARY KEY,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL,
    issue_id integer NOT NULL REFERENCES issue (id) ON DELETE CASCADE,
    enabled boolean NOT NULL,
    families familyname[] NOT NULL,
    artefacts varchar[] NOT NULL DEFAULT '{}',
    artefact_versions varchar[] NOT NULL DEFAULT '{}',
    artefact_stages varchar[] NOT NULL DEFAULT '{}',
    artefact_tracks varchar[] NOT NULL DEFAULT '{}',
    environment_names varchar[] NOT NULL,
    test_case_names varchar[] NOT NULL,
    template_ids varchar[] NOT NULL,
    test_result_statuses testresultstatus[] NOT NULL
);

CREATE TABLE issue_test_result_attachment_rule_execution_metadata (
    id serial PRIMARY KEY,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL,
    attachment_rule_id integer NOT NULL
        REFERENCES issue_test_result_attachment_rule (id) ON DELETE CASCADE,
    category varchar(200) NOT NULL,
    value varchar(200) NOT NULL,
    UNIQUE (attachment_rule_id, category, value)
);

CREATE TABLE issue_test_result_attachment (
    id serial CONSTRAINT issue_test_result_attachment_pkey PRIMARY KEY,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL,
    issue_id integer NOT NULL REFERENCES issue (id) ON DELETE CASCADE,
    test_result_id integer NOT NULL REFERENCES test_result (id) ON DELETE CASCADE,
    attachment_rule_id integer
        REFERENCES issue_test_result_attachment_rule (id) ON DELETE SET NULL,
    UNIQUE (issue_id, test_result_id)
);

CREATE TABLE test_case_issue (
    id serial CONSTRAINT test_case_issue_pkey PRIMARY KEY,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL,
    template_id varchar NOT NULL,
    case_name varchar NOT NULL,
    url varchar NOT NULL,
    description varchar NOT NULL
);

CREATE TABLE environment_issue (
    id serial CONSTRAINT environment_issue_pkey PRIMARY KEY,
    created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL,
    environment_name varchar NOT NULL,
    url varchar,
    description varchar NOT NULL,
    is_confirmed boolean NOT NULL
);

INSERT INTO alembic_version VALUES ('eba1d1c92dba');
