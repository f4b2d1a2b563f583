"""What is copied from a database of the original Test Observer, table by table.

The original's schema (Alembic revision `eba1d1c92dba`) and ours share table and column names,
so a table is copied column for column except where ours differs:

- `application` keeps SHA-256 digests of API keys, never the keys: the digest and the visible
  prefix are computed on the source side, so no clear key reaches our database.
- reviewer and bundled-build links carry a `position` here; the original kept no order, so
  the order is that of the ids. A closed issue's `closed_at` is its last update. A result
  carries its execution's environment.
- the original's races left duplicates that our unique constraints refuse; each is merged
  deterministically (`Merge`), and references to a merged row move to the row that is kept.

Order matters: a table comes after every table it references.
"""

from __future__ import annotations

from dataclasses import dataclass

from test_observer.auth.keys import VISIBLE_CHARACTERS

ORIGINAL_REVISION = "eba1d1c92dba"


@dataclass(frozen=True)
class Merge:
    """Rows of the original that our schema holds once: kept by `keep`, counted as merged."""

    description: str
    # When set, SELECT DISTINCT ON these columns ORDER BY them and `keep`: the first row of
    # each group is kept. Otherwise the source relation leaves the merged rows out itself.
    distinct_on: tuple[str, ...] = ()
    keep: str = "id"


@dataclass(frozen=True)
class TableCopy:
    table: str
    # Columns computed on the source side, by target column name; every other target column
    # that the source also has is copied as it is.
    computed: tuple[tuple[str, str], ...] = ()
    # The source rows to read; defaults to the whole table of the same name.
    source: str | None = None
    merge: Merge | None = None

    @property
    def source_relation(self) -> str:
        return self.source or self.table


# Each result replaced by a later upload of the same test case is merged into the newest one,
# and attachments follow the result that is kept. Duplicates are few, so they are found by
# grouping ids alone; the rows themselves are never sorted.
_DUPLICATE_GROUPS = """
    SELECT test_execution_id, test_case_id, max(id) AS kept_id
    FROM test_result GROUP BY test_execution_id, test_case_id HAVING count(*) > 1
"""
_MERGED_RESULTS = f"""(
    SELECT r.id, g.kept_id FROM test_result r
    JOIN ({_DUPLICATE_GROUPS}) g USING (test_execution_id, test_case_id)
    WHERE r.id <> g.kept_id
)"""
# Each result also carries its execution's environment, which the original kept only on the
# execution.
_KEPT_RESULTS = f"""(
    SELECT r.*, e.environment_id FROM test_result r
    JOIN test_execution e ON e.id = r.test_execution_id
    WHERE NOT EXISTS (SELECT FROM {_MERGED_RESULTS} m WHERE m.id = r.id)
)"""
_ATTACHMENTS_ON_KEPT_RESULTS = f"""(
    SELECT a.id, a.created_at, a.updated_at, a.issue_id,
           coalesce(m.kept_id, a.test_result_id) AS test_result_id, a.attachment_rule_id
    FROM issue_test_result_attachment a
    LEFT JOIN {_MERGED_RESULTS} m ON m.id = a.test_result_id
)"""

TABLES: tuple[TableCopy, ...] = (
    TableCopy("app_user"),
    TableCopy("team"),
    TableCopy("team_users_association"),
    TableCopy(
        "application",
        computed=(
            ("api_key_digest", "encode(sha256(convert_to(api_key, 'UTF8')), 'hex')"),
            ("api_key_prefix", f"left(api_key, {VISIBLE_CHARACTERS})"),
        ),
    ),
    # Sessions are not imported: a session cookie stolen from the original, or one it never
    # expired, must not open a session here. People sign in again.
    # The original's concurrent assignments could notify a reviewer twice; like the migration
    # that made unread notifications unique, the later duplicates arrive dismissed.
    TableCopy(
        "notification",
        computed=(
            (
                "dismissed_at",
                """CASE WHEN s.dismissed_at IS NULL AND EXISTS (
                    SELECT FROM notification older
                    WHERE older.dismissed_at IS NULL AND older.user_id = s.user_id
                      AND older.notification_type = s.notification_type
                      AND older.target_url IS NOT DISTINCT FROM s.target_url
                      AND older.id < s.id
                ) THEN timezone('utc', now()) ELSE s.dismissed_at END""",
            ),
        ),
    ),
    TableCopy("artefact_matching_rule"),
    TableCopy("artefact_matching_rule_team_association"),
    TableCopy("test_plan"),
    TableCopy("environment"),
    TableCopy("test_case"),
    TableCopy("artefact"),
    TableCopy("artefact_build"),
    TableCopy(
        "artefact_bundled_builds_association",
        computed=(
            (
                "position",
                "row_number() OVER (PARTITION BY artefact_id ORDER BY artefact_build_id) - 1",
            ),
        ),
    ),
    TableCopy(
        "artefact_reviewers_association",
        computed=(
            ("position", "row_number() OVER (PARTITION BY artefact_id ORDER BY user_id) - 1"),
        ),
    ),
    TableCopy("artefact_build_environment_review"),
    TableCopy("environment_review_reviewers_association"),
    TableCopy("test_execution"),
    TableCopy("test_execution_metadata"),
    TableCopy("test_execution_metadata_association_table"),
    TableCopy(
        "test_execution_relevant_link",
        merge=Merge(
            "the same link added again to an execution by a retried start-test",
            distinct_on=("test_execution_id", "label", "url"),
            keep="id",
        ),
    ),
    TableCopy("test_event"),
    TableCopy("test_execution_rerun_request"),
    TableCopy(
        "test_result",
        computed=(("environment_id", "environment_id"),),
        source=_KEPT_RESULTS,
        merge=Merge("several results of one test case in one execution (concurrent uploads)"),
    ),
    # The original kept no closing time: as the migration that added it, take the last
    # update of a closed issue, so the sync job ages it as before.
    TableCopy(
        "issue",
        computed=(("closed_at", "CASE WHEN status = 'CLOSED' THEN updated_at END"),),
    ),
    TableCopy("issue_test_result_attachment_rule"),
    TableCopy("issue_test_result_attachment_rule_execution_metadata"),
    TableCopy(
        "issue_test_result_attachment",
        source=_ATTACHMENTS_ON_KEPT_RESULTS,
        merge=Merge(
            "attachments of merged results to the same issue",
            distinct_on=("issue_id", "test_result_id"),
            keep="id",
        ),
    ),
    TableCopy("test_case_issue"),
    TableCopy("environment_issue"),
)

# Source columns that are read only to compute or choose others, never copied.
SOURCE_ONLY_COLUMNS = {
    "application": {"api_key"},
    # Attachments are keyed by (result, issue); the original's id only picks the kept row.
    "issue_test_result_attachment": {"id"},
}
