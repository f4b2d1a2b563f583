"""Baseline: the complete schema of Test Observer.

Enum types are created and dropped explicitly so that a downgrade to base leaves nothing behind.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 09:26:18.722544
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Every PostgreSQL enum type of the schema, created once up front.
PERMISSION_ENUM = postgresql.ENUM('view_user', 'change_user', 'view_team', 'change_team', 'add_application', 'change_application', 'view_application', 'view_permission', 'view_issue', 'change_issue', 'change_issue_attachment', 'change_issue_attachment_bulk', 'change_attachment_rule', 'change_auto_rerun', 'view_test', 'change_test', 'view_rerun', 'change_rerun', 'change_rerun_bulk', 'view_artefact', 'change_artefact', 'view_environment_review', 'change_environment_review', 'view_report', 'view_test_case_reported_issue', 'change_test_case_reported_issue', 'view_environment_reported_issue', 'change_environment_reported_issue', 'view_notification', 'change_notification', 'view_sentry_debug', name='permission', create_type=False)
FAMILYNAME_ENUM = postgresql.ENUM('snap', 'deb', 'charm', 'image', 'solution', name='familyname', create_type=False)
ARTEFACTSTATUS_ENUM = postgresql.ENUM('APPROVED', 'MARKED_AS_FAILED', 'UNDECIDED', name='artefactstatus', create_type=False)
ISSUESOURCE_ENUM = postgresql.ENUM('JIRA', 'GITHUB', 'LAUNCHPAD', name='issuesource', create_type=False)
ISSUESTATUS_ENUM = postgresql.ENUM('UNKNOWN', 'OPEN', 'CLOSED', name='issuestatus', create_type=False)
TESTRESULTSTATUS_ENUM = postgresql.ENUM('PASSED', 'FAILED', 'SKIPPED', name='testresultstatus', create_type=False)
NOTIFICATIONTYPE_ENUM = postgresql.ENUM('USER_ASSIGNED_ARTEFACT_REVIEW', 'USER_ASSIGNED_ENVIRONMENT_REVIEW', name='notificationtype', create_type=False)
ARTEFACTBUILDENVIRONMENTREVIEWDECISION_ENUM = postgresql.ENUM('REJECTED', 'APPROVED_INCONSISTENT_TEST', 'APPROVED_UNSTABLE_PHYSICAL_INFRA', 'APPROVED_CUSTOMER_PREREQUISITE_FAIL', 'APPROVED_FAULTY_HARDWARE', 'APPROVED_ALL_TESTS_PASS', name='artefactbuildenvironmentreviewdecision', create_type=False)
TESTEXECUTIONSTATUS_ENUM = postgresql.ENUM('NOT_STARTED', 'IN_PROGRESS', 'PASSED', 'FAILED', 'NOT_TESTED', 'ENDED_PREMATURELY', name='testexecutionstatus', create_type=False)
ENUMS = [PERMISSION_ENUM, FAMILYNAME_ENUM, ARTEFACTSTATUS_ENUM, ISSUESOURCE_ENUM, ISSUESTATUS_ENUM, TESTRESULTSTATUS_ENUM, NOTIFICATIONTYPE_ENUM, ARTEFACTBUILDENVIRONMENTREVIEWDECISION_ENUM, TESTEXECUTIONSTATUS_ENUM]

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    for enum in ENUMS:
        enum.create(bind)
    op.create_table('app_user',
    sa.Column('email', sa.String(), nullable=False),
    sa.Column('launchpad_handle', sa.String(), nullable=True),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('is_admin', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('app_user_pkey')),
    sa.UniqueConstraint('email', name=op.f('app_user_email_key'))
    )
    op.create_table('application',
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('permissions', postgresql.ARRAY(PERMISSION_ENUM), server_default='{}', nullable=False),
    sa.Column('api_key_digest', sa.String(length=64), nullable=False),
    sa.Column('api_key_prefix', sa.String(length=16), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('application_pkey')),
    sa.UniqueConstraint('api_key_digest', name=op.f('application_api_key_digest_key')),
    sa.UniqueConstraint('name', name=op.f('application_name_key'))
    )
    op.create_table('artefact',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('version', sa.String(), nullable=False),
    sa.Column('stage', sa.String(length=100), nullable=False),
    sa.Column('family', FAMILYNAME_ENUM, nullable=False),
    sa.Column('status', ARTEFACTSTATUS_ENUM, nullable=False),
    sa.Column('archived', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('comment', sa.String(), server_default='', nullable=False),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('bug_link', sa.String(), server_default='', nullable=False),
    sa.Column('jira_issue', sa.String(), nullable=True),
    sa.Column('store', sa.String(), server_default='', nullable=False),
    sa.Column('track', sa.String(), server_default='', nullable=False),
    sa.Column('branch', sa.String(length=200), server_default='', nullable=False),
    sa.Column('series', sa.String(), server_default='', nullable=False),
    sa.Column('repo', sa.String(), server_default='', nullable=False),
    sa.Column('source', sa.String(length=200), server_default='', nullable=False),
    sa.Column('os', sa.String(length=200), server_default='', nullable=False),
    sa.Column('release', sa.String(length=200), server_default='', nullable=False),
    sa.Column('sha256', sa.String(length=200), server_default='', nullable=False),
    sa.Column('owner', sa.String(length=200), server_default='', nullable=False),
    sa.Column('image_url', sa.String(length=200), server_default='', nullable=False),
    sa.Column('bundled_builds_hash', sa.String(length=64), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('artefact_pkey'))
    )
    op.create_index(op.f('artefact_archived_ix'), 'artefact', ['archived'], unique=False)
    op.create_index(op.f('artefact_family_archived_name_ix'), 'artefact', ['family', 'archived', 'name'], unique=False)
    op.create_index(op.f('artefact_name_ix'), 'artefact', ['name'], unique=False)
    op.create_index('unique_charm', 'artefact', ['name', 'version', 'track', 'branch'], unique=True, postgresql_where=sa.text("family = 'charm'"))
    op.create_index('unique_deb', 'artefact', ['name', 'version', 'series', 'repo', 'source'], unique=True, postgresql_where=sa.text("family = 'deb'"))
    op.create_index('unique_image', 'artefact', ['sha256'], unique=True, postgresql_where=sa.text("family = 'image'"))
    op.create_index('unique_snap', 'artefact', ['name', 'version', 'store', 'track', 'branch'], unique=True, postgresql_where=sa.text("family = 'snap'"))
    op.create_index('unique_solution', 'artefact', ['name', 'source', 'version', 'track', 'stage', 'bundled_builds_hash'], unique=True, postgresql_where=sa.text("family = 'solution'"))
    op.create_table('artefact_matching_rule',
    sa.Column('family', FAMILYNAME_ENUM, nullable=False),
    sa.Column('name', sa.String(length=200), server_default='', nullable=False),
    sa.Column('stage', sa.String(length=100), server_default='', nullable=False),
    sa.Column('track', sa.String(length=200), server_default='', nullable=False),
    sa.Column('branch', sa.String(length=200), server_default='', nullable=False),
    sa.Column('store', sa.String(length=200), server_default='', nullable=False),
    sa.Column('series', sa.String(length=200), server_default='', nullable=False),
    sa.Column('os', sa.String(length=200), server_default='', nullable=False),
    sa.Column('release', sa.String(length=200), server_default='', nullable=False),
    sa.Column('owner', sa.String(length=200), server_default='', nullable=False),
    sa.Column('grant_permissions', postgresql.ARRAY(PERMISSION_ENUM), server_default='{}', nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('artefact_matching_rule_pkey')),
    sa.UniqueConstraint('name', 'family', 'stage', 'track', 'branch', 'store', 'series', 'os', 'release', 'owner', name='artefact_matching_rule_fields_from_artefact')
    )
    op.create_table('environment',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('architecture', sa.String(length=100), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('environment_pkey')),
    sa.UniqueConstraint('name', 'architecture', name=op.f('environment_name_architecture_key'))
    )
    op.create_index(op.f('environment_architecture_ix'), 'environment', ['architecture'], unique=False)
    op.create_index(op.f('environment_name_ix'), 'environment', ['name'], unique=False)
    op.create_table('environment_issue',
    sa.Column('environment_name', sa.String(), nullable=False),
    sa.Column('url', sa.String(), nullable=True),
    sa.Column('description', sa.String(), nullable=False),
    sa.Column('is_confirmed', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('environment_issue_pkey'))
    )
    op.create_index(op.f('environment_issue_environment_name_ix'), 'environment_issue', ['environment_name'], unique=False)
    op.create_table('issue',
    sa.Column('source', ISSUESOURCE_ENUM, nullable=False),
    sa.Column('project', sa.String(length=200), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('title', sa.String(), server_default='', nullable=False),
    sa.Column('status', ISSUESTATUS_ENUM, nullable=False),
    sa.Column('last_synced_at', sa.DateTime(), nullable=True),
    sa.Column('labels', postgresql.ARRAY(sa.String()), nullable=True),
    sa.Column('auto_rerun_enabled', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('issue_pkey')),
    sa.UniqueConstraint('project', 'source', 'key', name=op.f('issue_project_source_key_key'))
    )
    op.create_index('idx_issue_status_last_synced', 'issue', ['status', 'last_synced_at'], unique=False)
    op.create_table('team',
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('permissions', postgresql.ARRAY(PERMISSION_ENUM), server_default='{}', nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('team_pkey')),
    sa.UniqueConstraint('name', name=op.f('team_name_key'))
    )
    op.create_table('test_case',
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('category', sa.String(), nullable=False),
    sa.Column('template_id', sa.String(), server_default='', nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('test_case_pkey')),
    sa.UniqueConstraint('name', name=op.f('test_case_name_key'))
    )
    op.create_index(op.f('test_case_category_ix'), 'test_case', ['category'], unique=False)
    op.create_index(op.f('test_case_template_id_ix'), 'test_case', ['template_id'], unique=False)
    op.create_table('test_case_issue',
    sa.Column('template_id', sa.String(), nullable=False),
    sa.Column('case_name', sa.String(), nullable=False),
    sa.Column('url', sa.String(), nullable=False),
    sa.Column('description', sa.String(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('test_case_issue_pkey'))
    )
    op.create_index(op.f('test_case_issue_case_name_ix'), 'test_case_issue', ['case_name'], unique=False)
    op.create_index(op.f('test_case_issue_template_id_ix'), 'test_case_issue', ['template_id'], unique=False)
    op.create_table('test_execution_metadata',
    sa.Column('category', sa.String(length=200), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('test_execution_metadata_pkey')),
    sa.UniqueConstraint('category', 'value', name=op.f('test_execution_metadata_category_value_key'))
    )
    op.create_table('test_plan',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('test_plan_pkey'))
    )
    op.create_index(op.f('test_plan_name_ix'), 'test_plan', ['name'], unique=True)
    op.create_table('artefact_build',
    sa.Column('architecture', sa.String(length=100), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=True),
    sa.Column('artefact_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.ForeignKeyConstraint(['artefact_id'], ['artefact.id'], name=op.f('artefact_build_artefact_id_fkey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('artefact_build_pkey'))
    )
    op.create_index(op.f('artefact_build_architecture_ix'), 'artefact_build', ['architecture'], unique=False)
    op.create_index(op.f('artefact_build_artefact_id_ix'), 'artefact_build', ['artefact_id'], unique=False)
    op.create_index('unique_artefact_build', 'artefact_build', ['artefact_id', 'architecture', 'revision'], unique=True, postgresql_where=sa.text('revision IS NOT NULL'))
    op.create_index('unique_artefact_build_null_revision', 'artefact_build', ['artefact_id', 'architecture'], unique=True, postgresql_where=sa.text('revision IS NULL'))
    op.create_table('artefact_matching_rule_team_association',
    sa.Column('artefact_matching_rule_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['artefact_matching_rule_id'], ['artefact_matching_rule.id'], name=op.f('artefact_matching_rule_team_association_artefact_matching_rule_id_fkey'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('artefact_matching_rule_team_association_team_id_fkey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('artefact_matching_rule_id', 'team_id', name=op.f('artefact_matching_rule_team_association_pkey'))
    )
    op.create_index(op.f('artefact_matching_rule_team_association_team_id_ix'), 'artefact_matching_rule_team_association', ['team_id'], unique=False)
    op.create_table('artefact_reviewers_association',
    sa.Column('artefact_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['artefact_id'], ['artefact.id'], name=op.f('artefact_reviewers_association_artefact_id_fkey'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('artefact_reviewers_association_user_id_fkey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('artefact_id', 'user_id', name=op.f('artefact_reviewers_association_pkey'))
    )
    op.create_index(op.f('artefact_reviewers_association_user_id_ix'), 'artefact_reviewers_association', ['user_id'], unique=False)
    op.create_table('issue_test_result_attachment_rule',
    sa.Column('issue_id', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('families', postgresql.ARRAY(FAMILYNAME_ENUM), server_default='{}', nullable=False),
    sa.Column('artefacts', postgresql.ARRAY(sa.String()), server_default='{}', nullable=False),
    sa.Column('artefact_versions', postgresql.ARRAY(sa.String()), server_default='{}', nullable=False),
    sa.Column('artefact_stages', postgresql.ARRAY(sa.String()), server_default='{}', nullable=False),
    sa.Column('artefact_tracks', postgresql.ARRAY(sa.String()), server_default='{}', nullable=False),
    sa.Column('environment_names', postgresql.ARRAY(sa.String()), server_default='{}', nullable=False),
    sa.Column('test_case_names', postgresql.ARRAY(sa.String()), server_default='{}', nullable=False),
    sa.Column('template_ids', postgresql.ARRAY(sa.String()), server_default='{}', nullable=False),
    sa.Column('test_result_statuses', postgresql.ARRAY(TESTRESULTSTATUS_ENUM), server_default='{}', nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.ForeignKeyConstraint(['issue_id'], ['issue.id'], name=op.f('issue_test_result_attachment_rule_issue_id_fkey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('issue_test_result_attachment_rule_pkey'))
    )
    op.create_index(op.f('issue_test_result_attachment_rule_enabled_ix'), 'issue_test_result_attachment_rule', ['enabled'], unique=False)
    op.create_index(op.f('issue_test_result_attachment_rule_issue_id_ix'), 'issue_test_result_attachment_rule', ['issue_id'], unique=False)
    op.create_table('notification',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('notification_type', NOTIFICATIONTYPE_ENUM, nullable=False),
    sa.Column('target_url', sa.String(), nullable=True),
    sa.Column('dismissed_at', sa.DateTime(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('notification_user_id_fkey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('notification_pkey'))
    )
    op.create_index(op.f('notification_user_id_ix'), 'notification', ['user_id'], unique=False)
    op.create_table('team_users_association',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('team_users_association_team_id_fkey'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('team_users_association_user_id_fkey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'team_id', name=op.f('team_users_association_pkey'))
    )
    op.create_index(op.f('team_users_association_team_id_ix'), 'team_users_association', ['team_id'], unique=False)
    op.create_table('user_session',
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('user_session_user_id_fkey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('user_session_pkey'))
    )
    op.create_index(op.f('user_session_user_id_ix'), 'user_session', ['user_id'], unique=False)
    op.create_table('artefact_build_environment_review',
    sa.Column('review_decision', postgresql.ARRAY(ARTEFACTBUILDENVIRONMENTREVIEWDECISION_ENUM), server_default='{}', nullable=False),
    sa.Column('review_comment', sa.String(), server_default='', nullable=False),
    sa.Column('environment_id', sa.Integer(), nullable=False),
    sa.Column('artefact_build_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.ForeignKeyConstraint(['artefact_build_id'], ['artefact_build.id'], name=op.f('artefact_build_environment_review_artefact_build_id_fkey'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['environment_id'], ['environment.id'], name=op.f('artefact_build_environment_review_environment_id_fkey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('artefact_build_environment_review_pkey')),
    sa.UniqueConstraint('artefact_build_id', 'environment_id', name=op.f('artefact_build_environment_review_artefact_build_id_environment_id_key'))
    )
    op.create_index(op.f('artefact_build_environment_review_artefact_build_id_ix'), 'artefact_build_environment_review', ['artefact_build_id'], unique=False)
    op.create_index(op.f('artefact_build_environment_review_environment_id_ix'), 'artefact_build_environment_review', ['environment_id'], unique=False)
    op.create_table('artefact_bundled_builds_association',
    sa.Column('artefact_id', sa.Integer(), nullable=False),
    sa.Column('artefact_build_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['artefact_build_id'], ['artefact_build.id'], name=op.f('artefact_bundled_builds_association_artefact_build_id_fkey'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['artefact_id'], ['artefact.id'], name=op.f('artefact_bundled_builds_association_artefact_id_fkey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('artefact_id', 'artefact_build_id', name=op.f('artefact_bundled_builds_association_pkey'))
    )
    op.create_index(op.f('artefact_bundled_builds_association_artefact_build_id_ix'), 'artefact_bundled_builds_association', ['artefact_build_id'], unique=False)
    op.create_table('issue_test_result_attachment_rule_execution_metadata',
    sa.Column('attachment_rule_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=200), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.ForeignKeyConstraint(['attachment_rule_id'], ['issue_test_result_attachment_rule.id'], name=op.f('issue_test_result_attachment_rule_execution_metadata_attachment_rule_id_fkey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('issue_test_result_attachment_rule_execution_metadata_pkey')),
    sa.UniqueConstraint('attachment_rule_id', 'category', 'value', name=op.f('issue_test_result_attachment_rule_execution_metadata_attachment_rule_id_category_value_key'))
    )
    op.create_table('test_execution',
    sa.Column('ci_link', sa.String(length=200), nullable=True),
    sa.Column('c3_link', sa.String(length=200), nullable=True),
    sa.Column('status', TESTEXECUTIONSTATUS_ENUM, nullable=False),
    sa.Column('checkbox_version', sa.String(length=200), nullable=True),
    sa.Column('resource_url', sa.String(), server_default='', nullable=False),
    sa.Column('artefact_build_id', sa.Integer(), nullable=False),
    sa.Column('environment_id', sa.Integer(), nullable=False),
    sa.Column('test_plan_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.ForeignKeyConstraint(['artefact_build_id'], ['artefact_build.id'], name=op.f('test_execution_artefact_build_id_fkey'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['environment_id'], ['environment.id'], name=op.f('test_execution_environment_id_fkey')),
    sa.ForeignKeyConstraint(['test_plan_id'], ['test_plan.id'], name=op.f('test_execution_test_plan_id_fkey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('test_execution_pkey')),
    sa.UniqueConstraint('ci_link', name=op.f('test_execution_ci_link_key'))
    )
    op.create_index(op.f('test_execution_artefact_build_id_ix'), 'test_execution', ['artefact_build_id'], unique=False)
    op.create_index(op.f('test_execution_created_at_ix'), 'test_execution', ['created_at'], unique=False)
    op.create_index(op.f('test_execution_environment_id_ix'), 'test_execution', ['environment_id'], unique=False)
    op.create_index(op.f('test_execution_test_plan_id_artefact_build_id_environment_id_ix'), 'test_execution', ['test_plan_id', 'artefact_build_id', 'environment_id'], unique=False)
    op.create_index(op.f('test_execution_test_plan_id_ix'), 'test_execution', ['test_plan_id'], unique=False)
    op.create_index(op.f('test_execution_updated_at_ix'), 'test_execution', ['updated_at'], unique=False)
    op.create_table('test_execution_rerun_request',
    sa.Column('test_plan_id', sa.Integer(), nullable=False),
    sa.Column('artefact_build_id', sa.Integer(), nullable=False),
    sa.Column('environment_id', sa.Integer(), nullable=False),
    sa.Column('priority', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.ForeignKeyConstraint(['artefact_build_id'], ['artefact_build.id'], name=op.f('test_execution_rerun_request_artefact_build_id_fkey'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['environment_id'], ['environment.id'], name=op.f('test_execution_rerun_request_environment_id_fkey'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['test_plan_id'], ['test_plan.id'], name=op.f('test_execution_rerun_request_test_plan_id_fkey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('test_execution_rerun_request_pkey')),
    sa.UniqueConstraint('test_plan_id', 'artefact_build_id', 'environment_id', name='uq_rerun_request_group')
    )
    op.create_index('idx_rerun_request_priority_created_at', 'test_execution_rerun_request', [sa.literal_column('priority DESC'), 'created_at'], unique=False)
    op.create_index(op.f('test_execution_rerun_request_artefact_build_id_ix'), 'test_execution_rerun_request', ['artefact_build_id'], unique=False)
    op.create_index(op.f('test_execution_rerun_request_environment_id_ix'), 'test_execution_rerun_request', ['environment_id'], unique=False)
    op.create_index(op.f('test_execution_rerun_request_test_plan_id_ix'), 'test_execution_rerun_request', ['test_plan_id'], unique=False)
    op.create_table('environment_review_reviewers_association',
    sa.Column('environment_review_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['environment_review_id'], ['artefact_build_environment_review.id'], name=op.f('environment_review_reviewers_association_environment_review_id_fkey'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('environment_review_reviewers_association_user_id_fkey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('environment_review_id', 'user_id', name=op.f('environment_review_reviewers_association_pkey'))
    )
    op.create_index(op.f('environment_review_reviewers_association_user_id_ix'), 'environment_review_reviewers_association', ['user_id'], unique=False)
    op.create_table('test_event',
    sa.Column('event_name', sa.String(), nullable=False),
    sa.Column('timestamp', sa.DateTime(), nullable=False),
    sa.Column('detail', sa.String(), nullable=False),
    sa.Column('test_execution_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.ForeignKeyConstraint(['test_execution_id'], ['test_execution.id'], name=op.f('test_event_test_execution_id_fkey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('test_event_pkey'))
    )
    op.create_index(op.f('test_event_test_execution_id_ix'), 'test_event', ['test_execution_id'], unique=False)
    op.create_table('test_execution_metadata_association_table',
    sa.Column('test_execution_id', sa.Integer(), nullable=False),
    sa.Column('test_execution_metadata_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['test_execution_id'], ['test_execution.id'], name=op.f('test_execution_metadata_association_table_test_execution_id_fkey'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['test_execution_metadata_id'], ['test_execution_metadata.id'], name=op.f('test_execution_metadata_association_table_test_execution_metadata_id_fkey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('test_execution_id', 'test_execution_metadata_id', name=op.f('test_execution_metadata_association_table_pkey'))
    )
    op.create_index(op.f('test_execution_metadata_association_table_test_execution_metadata_id_ix'), 'test_execution_metadata_association_table', ['test_execution_metadata_id'], unique=False)
    op.create_table('test_execution_relevant_link',
    sa.Column('test_execution_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(), nullable=False),
    sa.Column('url', sa.String(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.ForeignKeyConstraint(['test_execution_id'], ['test_execution.id'], name=op.f('test_execution_relevant_link_test_execution_id_fkey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('test_execution_relevant_link_pkey'))
    )
    op.create_index(op.f('test_execution_relevant_link_test_execution_id_ix'), 'test_execution_relevant_link', ['test_execution_id'], unique=False)
    op.create_table('test_result',
    sa.Column('status', TESTRESULTSTATUS_ENUM, nullable=False),
    sa.Column('comment', sa.String(), nullable=False),
    sa.Column('io_log', sa.String(), nullable=False),
    sa.Column('test_execution_id', sa.Integer(), nullable=False),
    sa.Column('test_case_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.ForeignKeyConstraint(['test_case_id'], ['test_case.id'], name=op.f('test_result_test_case_id_fkey'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['test_execution_id'], ['test_execution.id'], name=op.f('test_result_test_execution_id_fkey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('test_result_pkey')),
    sa.UniqueConstraint('test_execution_id', 'test_case_id', name=op.f('test_result_test_execution_id_test_case_id_key'))
    )
    op.create_index(op.f('test_result_created_at_ix'), 'test_result', ['created_at'], unique=False)
    op.create_index(op.f('test_result_test_case_id_ix'), 'test_result', ['test_case_id'], unique=False)
    op.create_table('issue_test_result_attachment',
    sa.Column('issue_id', sa.Integer(), nullable=False),
    sa.Column('test_result_id', sa.Integer(), nullable=False),
    sa.Column('attachment_rule_id', sa.Integer(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
    sa.ForeignKeyConstraint(['attachment_rule_id'], ['issue_test_result_attachment_rule.id'], name=op.f('issue_test_result_attachment_attachment_rule_id_fkey'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['issue_id'], ['issue.id'], name=op.f('issue_test_result_attachment_issue_id_fkey'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['test_result_id'], ['test_result.id'], name=op.f('issue_test_result_attachment_test_result_id_fkey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('issue_test_result_attachment_pkey')),
    sa.UniqueConstraint('issue_id', 'test_result_id', name=op.f('issue_test_result_attachment_issue_id_test_result_id_key'))
    )
    op.create_index(op.f('issue_test_result_attachment_attachment_rule_id_ix'), 'issue_test_result_attachment', ['attachment_rule_id'], unique=False)
    op.create_index(op.f('issue_test_result_attachment_issue_id_ix'), 'issue_test_result_attachment', ['issue_id'], unique=False)
    op.create_index(op.f('issue_test_result_attachment_test_result_id_ix'), 'issue_test_result_attachment', ['test_result_id'], unique=False)


def downgrade() -> None:
    # Reverse creation order, so that every table goes before the tables it references.
    for table in [
        'issue_test_result_attachment',
        'test_result',
        'test_execution_relevant_link',
        'test_execution_metadata_association_table',
        'test_event',
        'environment_review_reviewers_association',
        'test_execution_rerun_request',
        'test_execution',
        'issue_test_result_attachment_rule_execution_metadata',
        'artefact_bundled_builds_association',
        'artefact_build_environment_review',
        'user_session',
        'team_users_association',
        'notification',
        'issue_test_result_attachment_rule',
        'artefact_reviewers_association',
        'artefact_matching_rule_team_association',
        'artefact_build',
        'test_plan',
        'test_execution_metadata',
        'test_case_issue',
        'test_case',
        'team',
        'issue',
        'environment_issue',
        'environment',
        'artefact_matching_rule',
        'artefact',
        'application',
        'app_user',
    ]:
        op.drop_table(table)
    bind = op.get_bind()
    for enum in reversed(ENUMS):
        enum.drop(bind)
