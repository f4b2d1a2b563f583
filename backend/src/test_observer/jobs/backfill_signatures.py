"""backfill-signatures: sign failed results stored unsigned or with older rules, in batches.

Migrations only add the signature columns; signing a large history is left to this job (or to
`test-observer signatures backfill`), which commits batch by batch while the service runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from test_observer.errors import UnprocessableError
from test_observer.signatures.backfill import backfill

from .environment import JobEnvironment


def run(env: JobEnvironment, since: str | None = None) -> dict[str, Any]:
    try:
        start = datetime.fromisoformat(since) if since else None
    except ValueError:
        raise UnprocessableError(f"SINCE must be an ISO date, not {since!r}") from None
    progress = backfill(env.sessions, start)
    return {"signed": progress.signed, "batches": progress.batches}
