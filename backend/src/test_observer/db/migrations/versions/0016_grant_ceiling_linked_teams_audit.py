"""Launchpad-linked teams, the `view_audit` permission and the append-only audit trail.

Linked teams. `team.launchpad_team` names the Launchpad team a team follows at sign-in; only
linked teams are joined (and left) at sign-in. Teams that sign-in created implicitly so far
become linked to the Launchpad team of their name. They are recognised by either of:

* they grant nothing: no permissions and no artefact matching rule, which is how sign-in
  creates them (linking such a team gives nobody anything it did not have);
* they were created in the transaction of a sign-in of one of their members: the team's
  `created_at` (the transaction's start time) equals that member's `created_at` (a first
  sign-in) or the `created_at` of one of that member's browser sessions.

Any other team (created through the API, or granted permissions after a sign-in whose session
has since expired) stays unlinked, so no Launchpad team can take over its membership by its
name; an admin links it through `PATCH /v1/teams/{team_id}` if it should follow Launchpad.

Audit trail. `audit_event` refuses UPDATE and DELETE in a row trigger, except the deletion of
rows older than the horizon the retention job sets in the transaction-local setting
`test_observer.audit_prune_before`; the trigger never accepts a horizon less than 30 days ago,
so recent events cannot be deleted even by someone who sets it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 18:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_NOW = sa.text("timezone('utc', now())")

APPEND_ONLY_FUNCTION = """
CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    horizon text := current_setting('test_observer.audit_prune_before', true);
BEGIN
    IF TG_OP = 'DELETE' AND coalesce(horizon, '') <> ''
       AND horizon::timestamp <= timezone('utc', now()) - interval '30 days'
       AND OLD.created_at < horizon::timestamp THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""

APPEND_ONLY_TRIGGER = """
CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()
"""

LINK_IMPLICIT_TEAMS = """
UPDATE team SET launchpad_team = team.name
WHERE (
    cardinality(team.permissions) = 0
    AND NOT EXISTS (
        SELECT 1 FROM artefact_matching_rule_team_association rules
        WHERE rules.team_id = team.id
    )
) OR EXISTS (
    SELECT 1 FROM team_users_association members
    JOIN app_user ON app_user.id = members.user_id
    WHERE members.team_id = team.id
      AND (
        app_user.created_at = team.created_at
        OR EXISTS (
            SELECT 1 FROM user_session
            WHERE user_session.user_id = app_user.id
              AND user_session.created_at = team.created_at
        )
      )
)
"""

PERMISSION_COLUMNS = (
    ("application", "permissions"),
    ("team", "permissions"),
    ("artefact_matching_rule", "grant_permissions"),
)


def upgrade() -> None:
    # ADD VALUE may run in a transaction; the value is not used before this revision commits.
    op.execute("ALTER TYPE permission ADD VALUE IF NOT EXISTS 'view_audit'")

    op.add_column("team", sa.Column("launchpad_team", sa.String(), nullable=True))
    op.create_unique_constraint("team_launchpad_team_key", "team", ["launchpad_team"])
    op.execute(LINK_IMPLICIT_TEAMS)

    op.create_table(
        "audit_event",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=UTC_NOW, nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_application_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(), nullable=True),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("target_type", sa.String(length=50), nullable=False),
        sa.Column("target_id", sa.String(length=100), nullable=False),
        sa.Column("artefact_id", sa.Integer(), nullable=True),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.CheckConstraint(
            "actor_kind IN ('user', 'application', 'system', 'anonymous')",
            name="audit_event_actor_kind_check",
        ),
        sa.PrimaryKeyConstraint("id", name="audit_event_pkey"),
    )
    op.create_index(
        "audit_event_target_type_target_id_created_at_ix",
        "audit_event",
        ["target_type", "target_id", "created_at"],
    )
    op.create_index("audit_event_created_at_ix", "audit_event", ["created_at"])
    op.create_index(
        "audit_event_artefact_id_created_at_ix",
        "audit_event",
        ["artefact_id", "created_at"],
        postgresql_where=sa.text("artefact_id IS NOT NULL"),
    )
    op.create_index(
        "audit_event_actor_user_id_created_at_ix",
        "audit_event",
        ["actor_user_id", "created_at"],
        postgresql_where=sa.text("actor_user_id IS NOT NULL"),
    )
    op.create_index(
        "audit_event_actor_application_id_created_at_ix",
        "audit_event",
        ["actor_application_id", "created_at"],
        postgresql_where=sa.text("actor_application_id IS NOT NULL"),
    )
    op.execute(APPEND_ONLY_FUNCTION)
    op.execute(APPEND_ONLY_TRIGGER)


def _drop_view_audit() -> None:
    """PostgreSQL cannot drop an enum value: rebuild the type without it."""
    for table, column in PERMISSION_COLUMNS:
        op.execute(f"UPDATE {table} SET {column} = array_remove({column}, 'view_audit')")
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT")
    op.execute("ALTER TYPE permission RENAME TO permission_with_view_audit")
    labels = [
        row[0]
        for row in op.get_bind().execute(
            sa.text(
                "SELECT enumlabel FROM pg_enum JOIN pg_type ON pg_type.oid = enumtypid "
                "WHERE typname = 'permission_with_view_audit' AND enumlabel <> 'view_audit' "
                "ORDER BY enumsortorder"
            )
        )
    ]
    quoted = ", ".join(f"'{label}'" for label in labels)
    op.execute(f"CREATE TYPE permission AS ENUM ({quoted})")
    for table, column in PERMISSION_COLUMNS:
        op.execute(
            f"ALTER TABLE {table} ALTER COLUMN {column} "
            f"TYPE permission[] USING {column}::text[]::permission[]"
        )
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT '{{}}'")
    op.execute("DROP TYPE permission_with_view_audit")


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_event_append_only ON audit_event")
    op.execute("DROP FUNCTION audit_event_append_only()")
    op.drop_table("audit_event")
    op.drop_constraint("team_launchpad_team_key", "team", type_="unique")
    op.drop_column("team", "launchpad_team")
    _drop_view_audit()
