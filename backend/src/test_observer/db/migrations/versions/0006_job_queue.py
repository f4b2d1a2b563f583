"""Install the job queue's schema (procrastinate 3.10.0).

Background jobs are queued in this database by procrastinate. Its tables, types and functions
are installed here, by our own migrations, so that `test-observer db upgrade` stays the one way
to migrate. The SQL is the schema file shipped in the procrastinate package, which the backend
pins to exactly this version. The revision refuses to run with any other version, so a
dependency bump can never silently install a different schema: moving to a newer procrastinate
takes a new revision that applies the package's migration scripts between the two versions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 02:10:00.000000
"""

from collections.abc import Sequence
from importlib import metadata, resources

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PROCRASTINATE_VERSION = "3.10.0"

TABLES = (
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_jobs",
    "procrastinate_workers",
)
TYPES = ("procrastinate_job_to_defer_v1", "procrastinate_job_event_type", "procrastinate_job_status")


def upgrade() -> None:
    installed = metadata.version("procrastinate")
    if installed != PROCRASTINATE_VERSION:
        raise RuntimeError(
            f"revision {revision} installs the job queue schema of procrastinate "
            f"{PROCRASTINATE_VERSION}, but {installed} is installed"
        )
    schema = (resources.files("procrastinate.sql") / "schema.sql").read_text(encoding="utf-8")
    # On the driver's connection (same transaction): the SQL holds '%' and ':' that a
    # parameterised statement would try to interpret.
    op.get_bind().connection.driver_connection.execute(schema)  # type: ignore[union-attr]


def downgrade() -> None:
    # Triggers go with their tables; the functions are every procrastinate_* function.
    op.execute(f"DROP TABLE IF EXISTS {', '.join(TABLES)} CASCADE")
    op.execute(
        """
        DO $$
        DECLARE routine record;
        BEGIN
            FOR routine IN
                SELECT p.oid::regprocedure AS signature
                FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%'
            LOOP
                EXECUTE 'DROP FUNCTION ' || routine.signature || ' CASCADE';
            END LOOP;
        END
        $$
        """
    )
    for name in TYPES:
        op.execute(f"DROP TYPE IF EXISTS {name}")
