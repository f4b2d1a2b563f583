"""How far each failure signature has spread, kept at ingestion rather than counted per request.

The list of signatures over the whole history showed each signature's environments, test
cases, artefacts and most attached issues by counting over all its results on every request,
so it slowed down as the history grew. Those figures are now kept:

* `failure_signature_environment`, `failure_signature_test_case` and
  `failure_signature_artefact` hold one row per (signature, environment / test case /
  artefact) with how many of the signature's results are there; a row goes when its count
  reaches zero. Statement-level triggers on each of them keep the signature's
  `environment_count`, `test_case_count` and `artefact_count` equal to its number of rows, so
  a row removed by any path (a count reaching zero, an artefact deleted) is counted.
* `failure_signature_issue` holds how many of a signature's results each issue is attached to,
  indexed so that a signature's most attached issues are read first.

Statement-level triggers on `test_result` add each statement's changes per key, set-based:
new results add one (`INSERT … ON CONFLICT DO UPDATE`), deleted or re-signed results take one
off (rows reaching zero are deleted). Triggers on `issue_test_result_attachment` do the same
for attaching and detaching. Every one of them first locks the signatures it touches in id
order, as the triggers of migration 0020 do, so concurrent writers of one signature take turns
and cannot deadlock, and the counts stay exact.

Two orders matter. A result's artefact is read through its execution; when an artefact is
deleted, its executions are gone by the time their results' trigger runs, and the artefact's
rows go with it by their foreign key instead (counted by the same trigger). A deleted result's
attachments are read by its trigger before `test_result_deleted_drop_attachments` (migration
0011) removes them: triggers on one event fire in name order, and `count_signature_spread`
sorts first. Detaching that finds no result (it was deleted) counts nothing, as the result's
trigger has.

Signatures listed for one artefact (or any filter that picks executions) are counted from the
signed results of its executions; a partial index on those, covering what is counted, spares
reading every result of the executions.

The upgrade fills the tables from the existing results in four grouped statements, while the
new triggers' locks keep writers out, so nothing written meanwhile is missed.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 21:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What a statement on `test_result` changes: +1 for each new signed row, -1 for each old one.
_CHANGES = {
    "inserted": "SELECT id, failure_signature_id AS sig, environment_id, test_case_id,"
    " test_execution_id, 1 AS n FROM added WHERE failure_signature_id IS NOT NULL",
    "updated": "SELECT id, failure_signature_id AS sig, environment_id, test_case_id,"
    " test_execution_id, 1 AS n FROM added WHERE failure_signature_id IS NOT NULL"
    " UNION ALL SELECT id, failure_signature_id, environment_id, test_case_id,"
    " test_execution_id, -1 FROM removed WHERE failure_signature_id IS NOT NULL",
    "deleted": "SELECT id, failure_signature_id AS sig, environment_id, test_case_id,"
    " test_execution_id, -1 AS n FROM removed WHERE failure_signature_id IS NOT NULL",
}
_TRANSITIONS = {
    "inserted": ("INSERT", "NEW TABLE AS added"),
    "updated": ("UPDATE", "OLD TABLE AS removed NEW TABLE AS added"),
    "deleted": ("DELETE", "OLD TABLE AS removed"),
}

# table: (its key column, the statement giving a change's (sig, k, n) rows from changes `c`).
# The planner cannot know how few rows a transition table holds, and would join a large table
# by scanning it whole; lookups here are written so that they can only be index probes (the
# signatures locked through `id = ANY (ARRAY(…))`, and below):
# the artefact once per (signature, execution), the attachments once per changed result
# (`OFFSET 0` keeps that subquery from being merged into a join).
_SPREAD = {
    "failure_signature_environment": (
        "environment_id",
        "SELECT c.sig, c.environment_id AS k, c.n FROM ({changes}) AS c",
    ),
    "failure_signature_test_case": (
        "test_case_id",
        "SELECT c.sig, c.test_case_id AS k, c.n FROM ({changes}) AS c",
    ),
    "failure_signature_artefact": (
        "artefact_id",
        "SELECT g.sig, (SELECT b.artefact_id FROM test_execution AS e"
        " JOIN artefact_build AS b ON b.id = e.artefact_build_id WHERE e.id = g.execution) AS k,"
        " g.n FROM (SELECT c.sig, c.test_execution_id AS execution, sum(c.n) AS n"
        " FROM ({changes}) AS c GROUP BY c.sig, c.test_execution_id) AS g",
    ),
    "failure_signature_issue": (
        "issue_id",
        "SELECT c.sig, a.issue_id AS k, c.n FROM ({changes}) AS c CROSS JOIN LATERAL"
        " (SELECT a.issue_id FROM issue_test_result_attachment AS a"
        " WHERE a.test_result_id = c.id OFFSET 0) AS a",
    ),
}
# The signature's column that counts each table's rows.
_COUNTED = {
    "failure_signature_environment": "environment_count",
    "failure_signature_test_case": "test_case_count",
    "failure_signature_artefact": "artefact_count",
}


def _adding(table: str, deltas: str) -> str:
    key = _SPREAD[table][0]
    return f"""INSERT INTO {table} AS p (failure_signature_id, {key}, result_count)
    SELECT d.sig, d.k, d.n FROM ({deltas}) AS d WHERE d.n > 0 ORDER BY d.sig, d.k
    ON CONFLICT (failure_signature_id, {key})
    DO UPDATE SET result_count = p.result_count + excluded.result_count"""


def _removing(table: str, deltas: str) -> tuple[str, str]:
    """Rows whose count reaches zero go; the others are counted down (disjoint rows, so one
    statement may do both)."""
    key = _SPREAD[table][0]
    matches = f"d.n < 0 AND p.failure_signature_id = d.sig AND p.{key} = d.k"
    return (
        f"DELETE FROM {table} AS p USING ({deltas}) AS d"
        f" WHERE {matches} AND p.result_count + d.n <= 0",
        f"UPDATE {table} AS p SET result_count = p.result_count + d.n FROM ({deltas}) AS d"
        f" WHERE {matches} AND p.result_count + d.n > 0",
    )


def _one_statement(statements: list[str]) -> str:
    """The statements as one, the changes read once (`c`): all but the last as the data-
    modifying parts of its WITH."""
    parts = ", ".join(f"s{i} AS ({statement})" for i, statement in enumerate(statements[:-1]))
    return f"WITH c AS MATERIALIZED ({{changes}}), {parts} {statements[-1]};"


def _result_function(kind: str) -> str:
    changes = _CHANGES[kind]
    adding: list[str] = []
    removing: list[str] = []
    for table, (_, rows) in _SPREAD.items():
        if table == "failure_signature_issue" and kind == "inserted":
            continue  # a new result has no attachments yet
        deltas = (
            f"SELECT r.sig, r.k, sum(r.n) AS n FROM ({rows.format(changes='SELECT * FROM c')})"
            " AS r WHERE r.k IS NOT NULL GROUP BY r.sig, r.k"
        )
        adding.append(_adding(table, deltas))
        removing.extend(_removing(table, deltas))
    body = []
    if kind != "deleted":
        body.append(_one_statement(adding))
    if kind != "inserted":
        body.append(_one_statement(removing))
    statements = "\n    ".join(body).replace("{changes}", changes)
    return f"""
CREATE FUNCTION failure_signature_spread_{kind}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM failure_signature
    WHERE id = ANY (ARRAY(SELECT DISTINCT c.sig FROM ({changes}) AS c))
    ORDER BY id
    FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;  -- no signed result changed (most uploads with no failures)
    END IF;
    {statements}
    RETURN NULL;
END
$$
"""


# Attaching and detaching: the signature is the result's (a deleted result's attachments were
# counted off by the result's own trigger, and find no result here).
_ATTACHMENTS = {"attached": ("INSERT", "written", 1), "detached": ("DELETE", "written", -1)}


def _attachment_function(kind: str) -> str:
    _, _, sign = _ATTACHMENTS[kind]
    # Each attachment's result looked up by its key (see _SPREAD).
    deltas = (
        f"SELECT r.sig, r.k, {sign} * count(*) AS n FROM (SELECT w.issue_id AS k,"
        " (SELECT failure_signature_id FROM test_result WHERE id = w.test_result_id) AS sig"
        " FROM written AS w) AS r WHERE r.sig IS NOT NULL GROUP BY r.sig, r.k"
    )
    key = "failure_signature_id, issue_id"
    matches = "p.failure_signature_id = d.sig AND p.issue_id = d.k"
    # Attaching to 100,000 results at once happens: the results are joined once per statement,
    # and the first statement locks the signatures (its `locked` is evaluated before any row
    # is written) rather than a statement of its own joining them again.
    if sign > 0:
        statements = f"""
    WITH d AS MATERIALIZED ({deltas}),
    locked AS (SELECT id FROM failure_signature WHERE id = ANY (ARRAY(SELECT sig FROM d))
               ORDER BY id FOR NO KEY UPDATE)
    INSERT INTO failure_signature_issue AS p ({key}, result_count)
    SELECT d.sig, d.k, d.n FROM d WHERE (SELECT count(*) FROM locked) >= 0 ORDER BY d.sig, d.k
    ON CONFLICT ({key}) DO UPDATE SET result_count = p.result_count + excluded.result_count;"""
    else:
        statements = f"""
    WITH d AS MATERIALIZED ({deltas}),
    locked AS (SELECT id FROM failure_signature WHERE id = ANY (ARRAY(SELECT sig FROM d))
               ORDER BY id FOR NO KEY UPDATE)
    DELETE FROM failure_signature_issue AS p USING d
    WHERE (SELECT count(*) FROM locked) >= 0 AND {matches} AND p.result_count + d.n <= 0;
    UPDATE failure_signature_issue AS p SET result_count = p.result_count + d.n
    FROM ({deltas}) AS d WHERE {matches};"""
    return f"""
CREATE FUNCTION failure_signature_issue_{kind}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM written) THEN
        RETURN NULL;  -- ingestion's rules often attach nothing
    END IF;
    {statements}
    RETURN NULL;
END
$$
"""


# A spread table's rows counted on the signature; `written` holds the rows inserted or deleted.
def _counted_function(table: str, kind: str) -> str:
    column = _COUNTED[table]
    sign = "+" if kind == "inserted" else "-"
    # The result triggers that write these rows hold the signatures' locks already; an
    # artefact's rows can also go by a cascade, which takes them here, in id order as every
    # writer of these signatures does.
    lock = (
        """
    PERFORM 1 FROM failure_signature
    WHERE id = ANY (ARRAY(SELECT DISTINCT failure_signature_id FROM written))
    ORDER BY id
    FOR NO KEY UPDATE;"""
        if table == "failure_signature_artefact"
        else ""
    )
    return f"""
CREATE FUNCTION {table}_{kind}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN{lock}
    UPDATE failure_signature AS s SET {column} = s.{column} {sign} d.n
    FROM (SELECT failure_signature_id AS id, count(*) AS n FROM written GROUP BY 1) AS d
    WHERE s.id = d.id;
    RETURN NULL;
END
$$
"""


def _triggers() -> list[tuple[str, str, str, str]]:
    """(trigger, table, definition, function) of every trigger this migration creates."""
    triggers = []
    for kind, (event, transitions) in _TRANSITIONS.items():
        triggers.append(
            (
                f"test_result_{kind}_count_signature_spread",
                "test_result",
                f"AFTER {event} ON test_result REFERENCING {transitions} FOR EACH STATEMENT",
                f"failure_signature_spread_{kind}",
            )
        )
    for kind, (event, name, _) in _ATTACHMENTS.items():
        direction = "NEW" if event == "INSERT" else "OLD"
        triggers.append(
            (
                f"issue_test_result_attachment_{kind}_count_signature_issues",
                "issue_test_result_attachment",
                f"AFTER {event} ON issue_test_result_attachment"
                f" REFERENCING {direction} TABLE AS {name} FOR EACH STATEMENT",
                f"failure_signature_issue_{kind}",
            )
        )
    for table in _COUNTED:
        for kind, event, direction in (("inserted", "INSERT", "NEW"), ("deleted", "DELETE", "OLD")):
            triggers.append(
                (
                    f"{table}_{kind}_count",
                    table,
                    f"AFTER {event} ON {table} REFERENCING {direction} TABLE AS written"
                    " FOR EACH STATEMENT",
                    f"{table}_{kind}",
                )
            )
    return triggers


def _spread_table(table: str, key: str, *foreign_key: sa.ForeignKeyConstraint) -> None:
    op.create_table(
        table,
        sa.Column("failure_signature_id", sa.Integer(), nullable=False),
        sa.Column(key, sa.Integer(), nullable=False),
        sa.Column("result_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("failure_signature_id", key, name=f"{table}_pkey"),
        *foreign_key,
    )


# Filling the tables from the results there are (the counting triggers set the signatures'
# columns as the rows go in).
_FILL = {
    "failure_signature_environment": """
        SELECT failure_signature_id, environment_id, count(*) FROM test_result
        WHERE failure_signature_id IS NOT NULL GROUP BY 1, 2""",
    "failure_signature_test_case": """
        SELECT failure_signature_id, test_case_id, count(*) FROM test_result
        WHERE failure_signature_id IS NOT NULL GROUP BY 1, 2""",
    "failure_signature_artefact": """
        SELECT r.failure_signature_id, b.artefact_id, count(*) FROM test_result AS r
        JOIN test_execution AS e ON e.id = r.test_execution_id
        JOIN artefact_build AS b ON b.id = e.artefact_build_id
        WHERE r.failure_signature_id IS NOT NULL GROUP BY 1, 2""",
    "failure_signature_issue": """
        SELECT r.failure_signature_id, a.issue_id, count(*) FROM test_result AS r
        JOIN issue_test_result_attachment AS a ON a.test_result_id = r.id
        WHERE r.failure_signature_id IS NOT NULL GROUP BY 1, 2""",
}


def upgrade() -> None:
    op.create_index(
        "test_result_signed_by_execution_ix",
        "test_result",
        ["test_execution_id"],
        postgresql_include=["failure_signature_id", "environment_id", "test_case_id"],
        postgresql_where=sa.text("failure_signature_id IS NOT NULL"),
    )
    for column in _COUNTED.values():
        op.add_column(
            "failure_signature",
            sa.Column(column, sa.Integer(), server_default=sa.text("0"), nullable=False),
        )
    for table, (key, _) in _SPREAD.items():
        foreign_keys = (
            [
                sa.ForeignKeyConstraint(
                    ["artefact_id"],
                    ["artefact.id"],
                    name=f"{table}_artefact_id_fkey",
                    ondelete="CASCADE",
                )
            ]
            if key == "artefact_id"
            else []
        )
        _spread_table(table, key, *foreign_keys)
    op.create_index(
        "failure_signature_issue_by_count_ix",
        "failure_signature_issue",
        ["failure_signature_id", sa.text("result_count DESC"), "issue_id"],
    )
    for kind in _TRANSITIONS:
        op.execute(_result_function(kind))
    for kind in _ATTACHMENTS:
        op.execute(_attachment_function(kind))
    for table in _COUNTED:
        for kind in ("inserted", "deleted"):
            op.execute(_counted_function(table, kind))
    for name, _, definition, function in _triggers():
        op.execute(f"CREATE TRIGGER {name} {definition} EXECUTE FUNCTION {function}()")
    for table, rows in _FILL.items():
        key = _SPREAD[table][0]
        op.execute(
            f"INSERT INTO {table} (failure_signature_id, {key}, result_count) {rows} ORDER BY 1, 2"
        )


def downgrade() -> None:
    for name, table, _, function in _triggers():
        op.execute(f"DROP TRIGGER {name} ON {table}")
        op.execute(f"DROP FUNCTION {function}()")
    for table in _SPREAD:
        op.drop_table(table)
    for column in _COUNTED.values():
        op.drop_column("failure_signature", column)
    op.drop_index("test_result_signed_by_execution_ix", table_name="test_result")
