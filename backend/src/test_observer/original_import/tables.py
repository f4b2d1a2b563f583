"""What is copied from a database of the original Test Observer, table by table.

The original's schema (Alembic revision `eba1d1c92dba`) and ours share table and column names,
so a table is copied column for column except where ours differs:

- `application` keeps SHA-256 digests of API keys, never the keys: the digest and the visible
  prefix are computed on the source side, so no clear key reaches our database.
- reviewer and bundled-build links carry a `position` here; the original kept no order, so
  the order is that of the ids.
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
    # SELECT DISTINCT ON these columns ...
    distinct_on: tuple[str, ...]
    # ... ORDER BY distinct_on, then this: the first row of each group is kept.
    keep: str


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


# Each result replaced by a later upload of the same test case is merged into the newest one;
# attachments follow the result that is kept.
_KEPT_RESULTS = """(
    SELECT r.*, first_value(r.id) OVER (
        PARTITION BY r.test_execution_id, r.test_case_id ORDER BY r.id DESC
    ) AS kept_id
    FROM test_result r
)"""

_ATTACHMENTS_ON_KEPT_RESULTS = f"""(
    SELECT a.id, a.created_at, a.updated_at, a.issue_id, k.kept_id AS test_result_id,
           a.attachment_rule_id
    FROM issue_test_result_attachment a
    JOIN {_KEPT_RESULTS} k ON k.id = a.test_result_id
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
    TableCopy("user_session"),
    TableCopy("notification"),
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
        merge=Merge(
            "several results of one test case in one execution (concurrent uploads)",
            distinct_on=("test_execution_id", "test_case_id"),
            keep="id DESC",
        ),
    ),
    TableCopy("issue"),
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

# Source columns that are read only to compute others, never copied.
SOURCE_ONLY_COLUMNS = {"application": {"api_key"}}
