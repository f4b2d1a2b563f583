"""Key attachments by (test result, issue) and check their references once per statement.

Attaching an issue to every result a filter matches writes one row per result: 100,000 rows
for a broad filter. Two foreign keys made each of those rows run two lookups of its own (and
lock every attached result), which took longer than the rows themselves. The references to
the issue and to the result are now checked by statement-level triggers, one set-based check
per statement, and the deletions that used to cascade are done by statement-level triggers on
`issue` and `test_result`. The rule reference keeps its foreign key: it is NULL on rows
attached by hand, which it does not look up.

The surrogate id goes too: (issue_id, test_result_id) identifies an attachment, so its unique
constraint becomes the primary key, and one index fewer is written per attached result.

Writers that select results while another transaction may delete them lock the results'
executions FOR SHARE first (`issues/attachments.py`); whoever deletes results holds a stronger
lock on their execution, so the two never interleave.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 13:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "issue_test_result_attachment"

_CHECK_REFERENCES = """
CREATE FUNCTION issue_test_result_attachment_check_references() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- The lock keeps the issues from being deleted before this transaction ends, as a foreign
    -- key's would.
    PERFORM 1 FROM issue WHERE id IN (SELECT issue_id FROM written) ORDER BY id FOR KEY SHARE;
    IF EXISTS (
        SELECT 1 FROM written w WHERE NOT EXISTS (SELECT 1 FROM issue i WHERE i.id = w.issue_id)
    ) THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'An issue attachment refers to an issue that does not exist',
            TABLE = 'issue_test_result_attachment';
    END IF;
    IF EXISTS (
        SELECT 1 FROM written w
        WHERE NOT EXISTS (SELECT 1 FROM test_result r WHERE r.id = w.test_result_id)
    ) THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'An issue attachment refers to a test result that does not exist',
            TABLE = 'issue_test_result_attachment';
    END IF;
    RETURN NULL;
END
$$
"""

# Only the rule of an attachment ever changes (when the rule is deleted); an attachment to
# something else is a new row, checked when it is inserted.
_REFUSE_REKEYING = """
CREATE FUNCTION issue_test_result_attachment_refuse_rekeying() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE integrity_constraint_violation USING
        MESSAGE = 'An issue attachment cannot be moved to another issue or test result',
        TABLE = 'issue_test_result_attachment';
END
$$
"""

_DROP_WITH_RESULTS = """
CREATE FUNCTION issue_test_result_attachment_drop_with_results() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM issue_test_result_attachment a USING removed r WHERE a.test_result_id = r.id;
    RETURN NULL;
END
$$
"""

_DROP_WITH_ISSUES = """
CREATE FUNCTION issue_test_result_attachment_drop_with_issues() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM issue_test_result_attachment a USING removed i WHERE a.issue_id = i.id;
    RETURN NULL;
END
$$
"""

_TRIGGERS = (
    (
        "issue_test_result_attachment_inserted",
        f"AFTER INSERT ON {TABLE} REFERENCING NEW TABLE AS written FOR EACH STATEMENT "
        "EXECUTE FUNCTION issue_test_result_attachment_check_references()",
    ),
    (
        "issue_test_result_attachment_rekeyed",
        f"BEFORE UPDATE OF issue_id, test_result_id ON {TABLE} FOR EACH ROW "
        "WHEN (OLD.issue_id <> NEW.issue_id OR OLD.test_result_id <> NEW.test_result_id) "
        "EXECUTE FUNCTION issue_test_result_attachment_refuse_rekeying()",
    ),
    (
        "test_result_deleted_drop_attachments",
        "AFTER DELETE ON test_result REFERENCING OLD TABLE AS removed FOR EACH STATEMENT "
        "EXECUTE FUNCTION issue_test_result_attachment_drop_with_results()",
    ),
    (
        "issue_deleted_drop_attachments",
        "AFTER DELETE ON issue REFERENCING OLD TABLE AS removed FOR EACH STATEMENT "
        "EXECUTE FUNCTION issue_test_result_attachment_drop_with_issues()",
    ),
)
_FUNCTIONS = (
    "issue_test_result_attachment_check_references",
    "issue_test_result_attachment_refuse_rekeying",
    "issue_test_result_attachment_drop_with_results",
    "issue_test_result_attachment_drop_with_issues",
)
_TRIGGER_TABLES = {
    "issue_test_result_attachment_inserted": TABLE,
    "issue_test_result_attachment_rekeyed": TABLE,
    "test_result_deleted_drop_attachments": "test_result",
    "issue_deleted_drop_attachments": "issue",
}


def upgrade() -> None:
    op.drop_constraint(f"{TABLE}_issue_id_fkey", TABLE, type_="foreignkey")
    op.drop_constraint(f"{TABLE}_test_result_id_fkey", TABLE, type_="foreignkey")
    op.drop_constraint(f"{TABLE}_pkey", TABLE, type_="primary")
    op.drop_column(TABLE, "id")
    op.drop_constraint(f"{TABLE}_issue_id_test_result_id_key", TABLE, type_="unique")
    op.create_primary_key(f"{TABLE}_pkey", TABLE, ["issue_id", "test_result_id"])
    for body in (_CHECK_REFERENCES, _REFUSE_REKEYING, _DROP_WITH_RESULTS, _DROP_WITH_ISSUES):
        op.execute(body)
    for name, definition in _TRIGGERS:
        op.execute(f"CREATE TRIGGER {name} {definition}")


def downgrade() -> None:
    for name, _ in _TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON {_TRIGGER_TABLES[name]}")
    for function in _FUNCTIONS:
        op.execute(f"DROP FUNCTION {function}()")
    op.drop_constraint(f"{TABLE}_pkey", TABLE, type_="primary")
    # Ids are given again in the order the attachments were made.
    op.add_column(TABLE, sa.Column("id", sa.Integer(), autoincrement=True))
    op.execute(f"CREATE SEQUENCE {TABLE}_id_seq OWNED BY {TABLE}.id")
    op.execute(
        f"UPDATE {TABLE} SET id = numbered.n FROM ("
        f"  SELECT test_result_id, issue_id,"
        f"         row_number() OVER (ORDER BY created_at, issue_id, test_result_id) AS n"
        f"  FROM {TABLE}) AS numbered"
        f" WHERE numbered.test_result_id = {TABLE}.test_result_id"
        f"   AND numbered.issue_id = {TABLE}.issue_id"
    )
    op.execute(
        f"SELECT setval('{TABLE}_id_seq', coalesce((SELECT max(id) FROM {TABLE}), 0) + 1, false)"
    )
    op.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id SET DEFAULT nextval('{TABLE}_id_seq')")
    op.alter_column(TABLE, "id", nullable=False)
    op.create_primary_key(f"{TABLE}_pkey", TABLE, ["id"])
    op.create_unique_constraint(
        f"{TABLE}_issue_id_test_result_id_key", TABLE, ["issue_id", "test_result_id"]
    )
    op.create_foreign_key(
        f"{TABLE}_issue_id_fkey", TABLE, "issue", ["issue_id"], ["id"], ondelete="CASCADE"
    )
    op.create_foreign_key(
        f"{TABLE}_test_result_id_fkey",
        TABLE,
        "test_result",
        ["test_result_id"],
        ["id"],
        ondelete="CASCADE",
    )
