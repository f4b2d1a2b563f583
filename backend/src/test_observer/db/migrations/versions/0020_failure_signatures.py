"""Failure signatures: their table, the reference from a result, and the rules' field.

Each failed result references the signature of its output (`signatures.derive`). A signature
counts its results and remembers when it was first and last seen. Those figures are kept by
three statement-level triggers on `test_result` (insert, update, delete), each adding the
statement's change per signature in one UPDATE: whatever writes or deletes results (ingestion,
backfill, cascades from a deleted artefact) keeps them exact, and concurrent writers only add
to them. The signatures a statement touches are locked in id order, so two writers cannot
deadlock on them. The same triggers check that a result's new signature exists, once per
statement, instead of a foreign key that would look it up for every row.

Attachment rules get `failure_signature_ids`: a rule may require one of those signatures.

Existing failed results are not signed here: on a large database that would hold the upgrade
for minutes. They are signed afterwards, in committed batches, by `test-observer signatures
backfill` or the `backfill-signatures` job; a partial index finds the ones left.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 18:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each trigger function reads the transition tables its trigger declares: `added` (new rows)
# and/or `removed` (old rows). A result adds one to its signature and moves its first and
# last seen times; a result that leaves a signature (deleted, re-signed, no longer failed)
# takes one off.
_CHANGES = {
    "inserted": "SELECT failure_signature_id AS id, 1 AS n, created_at, updated_at FROM added"
    " WHERE failure_signature_id IS NOT NULL",
    "updated": "SELECT failure_signature_id AS id, 1 AS n, created_at, updated_at FROM added"
    " WHERE failure_signature_id IS NOT NULL"
    " UNION ALL SELECT failure_signature_id, -1, NULL, NULL FROM removed"
    " WHERE failure_signature_id IS NOT NULL",
    "deleted": "SELECT failure_signature_id AS id, -1 AS n, NULL::timestamp AS created_at,"
    " NULL::timestamp AS updated_at FROM removed WHERE failure_signature_id IS NOT NULL",
}
_TRANSITIONS = {
    "inserted": ("INSERT", "NEW TABLE AS added"),
    "updated": ("UPDATE", "OLD TABLE AS removed NEW TABLE AS added"),
    "deleted": ("DELETE", "OLD TABLE AS removed"),
}


# New references must name existing signatures: as a foreign key would, but once per
# statement. The rows are locked until the transaction ends, so they cannot go meanwhile.
_CHECK_REFERENCES = """
    IF EXISTS (
        SELECT 1 FROM added AS a
        WHERE a.failure_signature_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM failure_signature AS f WHERE f.id = a.failure_signature_id)
    ) THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'A test result refers to a failure signature that does not exist',
            TABLE = 'test_result';
    END IF;
"""


def _function(kind: str) -> str:
    changes = _CHANGES[kind]
    check = _CHECK_REFERENCES if kind != "deleted" else ""
    return f"""
CREATE FUNCTION failure_signature_count_{kind}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM failure_signature
    WHERE id IN (SELECT c.id FROM ({changes}) AS c)
    ORDER BY id
    FOR NO KEY UPDATE;
    {check}
    UPDATE failure_signature AS s
    SET result_count = s.result_count + d.n,
        first_seen_at = least(s.first_seen_at, d.first),
        last_seen_at = greatest(s.last_seen_at, d.last)
    FROM (
        SELECT c.id, sum(c.n) AS n, min(c.created_at) AS first, max(c.updated_at) AS last
        FROM ({changes}) AS c
        GROUP BY c.id
    ) AS d
    WHERE s.id = d.id;
    RETURN NULL;
END
$$
"""


RULES = "issue_test_result_attachment_rule"


def upgrade() -> None:
    op.create_table(
        "failure_signature",
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("signature_version", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("excerpt", sa.String(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(), nullable=True),
        sa.Column("result_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(),
            server_default=sa.text("timezone('utc', now())"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="failure_signature_pkey"),
        sa.UniqueConstraint("hash", name="failure_signature_hash_key"),
    )
    op.create_index(
        "failure_signature_by_count_ix",
        "failure_signature",
        [sa.text("result_count DESC"), "id"],
    )
    op.add_column("test_result", sa.Column("failure_signature_id", sa.Integer(), nullable=True))
    op.create_index(
        "test_result_failure_signature_ix",
        "test_result",
        ["failure_signature_id", "created_at", "id"],
        postgresql_include=["environment_id", "test_case_id", "test_execution_id"],
        postgresql_where=sa.text("failure_signature_id IS NOT NULL"),
    )
    op.create_index(
        "test_result_unsigned_failure_ix",
        "test_result",
        ["id"],
        postgresql_where=sa.text("status = 'FAILED' AND failure_signature_id IS NULL"),
    )
    op.add_column(
        RULES,
        sa.Column(
            "failure_signature_ids",
            postgresql.ARRAY(sa.Integer()),
            server_default="{}",
            nullable=False,
        ),
    )
    for kind, (event, transitions) in _TRANSITIONS.items():
        op.execute(_function(kind))
        op.execute(
            f"CREATE TRIGGER test_result_{kind}_count_signatures AFTER {event} ON test_result"
            f" REFERENCING {transitions} FOR EACH STATEMENT"
            f" EXECUTE FUNCTION failure_signature_count_{kind}()"
        )


def downgrade() -> None:
    for kind in _TRANSITIONS:
        op.execute(f"DROP TRIGGER test_result_{kind}_count_signatures ON test_result")
        op.execute(f"DROP FUNCTION failure_signature_count_{kind}()")
    op.drop_column(RULES, "failure_signature_ids")
    op.drop_index("test_result_unsigned_failure_ix", table_name="test_result")
    op.drop_index("test_result_failure_signature_ix", table_name="test_result")
    op.drop_column("test_result", "failure_signature_id")
    op.drop_index("failure_signature_by_count_ix", table_name="failure_signature")
    op.drop_table("failure_signature")
