"""A generation of who may call, moved by every change to it.

Servers remember the callers they resolved (`auth/cache.py`) for as long as the single row of
`auth_generation` keeps its value. Any statement that can alter what a key or a session
resolves to (an application's key, permissions or deletion, a user, a session, a team's
permissions or deletion, a team's members) adds one to it in its own transaction, whoever
runs it. Insertions of applications, users, sessions and teams are left out: nothing can
remember what did not exist yet. The table has no model: only the triggers write it.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 21:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Table → the statements after which callers may resolve differently (once per statement).
WATCHED = {
    "application": "UPDATE OR DELETE OR TRUNCATE",
    "app_user": "UPDATE OR DELETE OR TRUNCATE",
    "user_session": "UPDATE OR DELETE OR TRUNCATE",
    "team": "UPDATE OR DELETE OR TRUNCATE",
    "team_users_association": "INSERT OR UPDATE OR DELETE OR TRUNCATE",
}


def upgrade() -> None:
    op.execute(
        "CREATE TABLE auth_generation (id smallint PRIMARY KEY CHECK (id = 1), value bigint NOT NULL)"
    )
    op.execute("INSERT INTO auth_generation VALUES (1, 0)")
    # Written in the changing transaction (not a sequence), so that a new value is visible
    # only once the change is. Changes of who may call are rare; the row lock that orders
    # them costs nothing that matters.
    op.execute(
        """
        CREATE FUNCTION auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO auth_generation VALUES (1, 1)
            ON CONFLICT (id) DO UPDATE SET value = auth_generation.value + 1;
            RETURN NULL;
        END
        $$
        """
    )
    for table, events in WATCHED.items():
        op.execute(
            f"CREATE TRIGGER {table}_auth_changed AFTER {events} ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION auth_changed()"
        )


def downgrade() -> None:
    for table in WATCHED:
        op.execute(f"DROP TRIGGER {table}_auth_changed ON {table}")
    op.execute("DROP FUNCTION auth_changed()")
    op.execute("DROP TABLE auth_generation")
