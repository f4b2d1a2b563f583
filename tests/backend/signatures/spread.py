"""What the triggers keep per signature, against a count over the results themselves."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

# Each kept table, and the same rows counted from the results.
RECOUNTS = {
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
COUNTED = {
    "failure_signature_environment": "environment_count",
    "failure_signature_test_case": "test_case_count",
    "failure_signature_artefact": "artefact_count",
}


def _rows(session: Session, query: str) -> set[tuple[int, ...]]:
    return {tuple(row) for row in session.execute(text(query))}


def kept(session: Session) -> dict[str, set[tuple[int, ...]]]:
    """Every kept table's rows, and each signature's kept counts."""
    session.expire_all()
    tables = {table: _rows(session, f"SELECT * FROM {table}") for table in RECOUNTS}
    tables["failure_signature"] = _rows(
        session,
        "SELECT id, result_count, environment_count, test_case_count, artefact_count"
        " FROM failure_signature",
    )
    return tables


def recounted(session: Session) -> dict[str, set[tuple[int, ...]]]:
    """The same, counted from the results."""
    tables = {table: _rows(session, query) for table, query in RECOUNTS.items()}
    signatures = {
        row[0]: [0, 0, 0, 0] for row in _rows(session, "SELECT id FROM failure_signature")
    }
    for row in _rows(
        session,
        "SELECT failure_signature_id, count(*) FROM test_result"
        " WHERE failure_signature_id IS NOT NULL GROUP BY 1",
    ):
        signatures[row[0]][0] = row[1]
    for position, table in enumerate(COUNTED, start=1):
        for signature_id, *_ in tables[table]:
            signatures[signature_id][position] += 1
    tables["failure_signature"] = {(key, *value) for key, value in signatures.items()}
    return tables


def assert_kept_exactly(session: Session) -> None:
    assert kept(session) == recounted(session)
