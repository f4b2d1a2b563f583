"""Execution metadata values grouped by category."""

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from test_observer.db.models import TestExecutionMetadata


def metadata_by_category(session: Session) -> dict[str, list[str]]:
    """All known pairs, attached to executions or not."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for category, value in session.execute(
        select(TestExecutionMetadata.category, TestExecutionMetadata.value).order_by(
            TestExecutionMetadata.category, TestExecutionMetadata.value
        )
    ):
        grouped[category].append(value)
    return dict(grouped)
