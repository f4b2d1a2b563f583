"""Check an attachment's rule once per statement too, and read the written rows once.

Revision 0011 moved the references to the issue and to the result into one statement-level
check, but kept the foreign key to the rule: it fires a trigger of its own for every attached
row, even a row with no rule (every row attached by hand), which was a seventh of the time of
a 100,000-result bulk attachment. The rule is now checked by the same statement-level trigger
(and on updates, the only way a rule reference can change), and deleting rules clears their
attachments' references with one statement, as ON DELETE SET NULL did.

The check also reads the written rows once to find which issues and rules they name instead of
once per question: a bulk attachment names one issue and at most one rule, so their smallest
and largest ids settle it without collecting the distinct ones.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 17:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "issue_test_result_attachment"
RULES = "issue_test_result_attachment_rule"
FOREIGN_KEY = f"{TABLE}_attachment_rule_id_fkey"

_CHECK_REFERENCES = """
CREATE OR REPLACE FUNCTION issue_test_result_attachment_check_references() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    first_issue integer;
    last_issue integer;
    first_rule integer;
    last_rule integer;
    wanted integer[];
    found integer;
BEGIN
    SELECT min(issue_id), max(issue_id), min(attachment_rule_id), max(attachment_rule_id)
    INTO first_issue, last_issue, first_rule, last_rule
    FROM written;
    -- An update cannot move an attachment (a row trigger refuses it): only its rule is new.
    IF TG_OP = 'INSERT' AND first_issue IS NOT NULL THEN
        IF first_issue = last_issue THEN
            wanted := ARRAY[first_issue];
        ELSE
            SELECT array_agg(DISTINCT issue_id) INTO wanted FROM written;
        END IF;
        -- The locks keep the issues, and below the rules, from being deleted before this
        -- transaction ends, as a foreign key's would.
        PERFORM 1 FROM issue WHERE id = ANY (wanted) ORDER BY id FOR KEY SHARE;
        GET DIAGNOSTICS found = ROW_COUNT;
        IF found < cardinality(wanted) THEN
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
    END IF;
    IF first_rule IS NOT NULL THEN
        IF first_rule = last_rule THEN
            wanted := ARRAY[first_rule];
        ELSE
            SELECT array_agg(DISTINCT attachment_rule_id) INTO wanted
            FROM written WHERE attachment_rule_id IS NOT NULL;
        END IF;
        PERFORM 1 FROM issue_test_result_attachment_rule
        WHERE id = ANY (wanted) ORDER BY id FOR KEY SHARE;
        GET DIAGNOSTICS found = ROW_COUNT;
        IF found < cardinality(wanted) THEN
            RAISE foreign_key_violation USING
                MESSAGE = 'An issue attachment refers to an attachment rule that does not exist',
                TABLE = 'issue_test_result_attachment';
        END IF;
    END IF;
    RETURN NULL;
END
$$
"""

# What revision 0011 created, for the downgrade.
_CHECK_REFERENCES_0011 = """
CREATE OR REPLACE FUNCTION issue_test_result_attachment_check_references() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
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

_UNLINK_DELETED_RULES = """
CREATE FUNCTION issue_test_result_attachment_unlink_deleted_rules() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE issue_test_result_attachment a SET attachment_rule_id = NULL
    FROM removed r WHERE a.attachment_rule_id = r.id;
    RETURN NULL;
END
$$
"""

_TRIGGERS = {
    "issue_test_result_attachment_updated": (
        TABLE,
        f"AFTER UPDATE ON {TABLE} REFERENCING NEW TABLE AS written FOR EACH STATEMENT "
        "EXECUTE FUNCTION issue_test_result_attachment_check_references()",
    ),
    "issue_test_result_attachment_rule_deleted_unlink_attachments": (
        RULES,
        f"AFTER DELETE ON {RULES} REFERENCING OLD TABLE AS removed FOR EACH STATEMENT "
        "EXECUTE FUNCTION issue_test_result_attachment_unlink_deleted_rules()",
    ),
}


def upgrade() -> None:
    op.drop_constraint(FOREIGN_KEY, TABLE, type_="foreignkey")
    op.execute(_CHECK_REFERENCES)
    op.execute(_UNLINK_DELETED_RULES)
    for name, (table, definition) in _TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {definition}")


def downgrade() -> None:
    for name, (table, _) in _TRIGGERS.items():
        op.execute(f"DROP TRIGGER {name} ON {table}")
    op.execute("DROP FUNCTION issue_test_result_attachment_unlink_deleted_rules()")
    op.execute(_CHECK_REFERENCES_0011)
    op.create_foreign_key(
        FOREIGN_KEY, TABLE, RULES, ["attachment_rule_id"], ["id"], ondelete="SET NULL"
    )
