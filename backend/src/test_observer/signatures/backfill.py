"""Signing the failed results stored before signing existed, or with older rules.

Batches of at most `batch_size` results, each in its own transaction: the results are read
and locked together (`FOR UPDATE SKIP LOCKED`, so a result being written by an ingestion
right now is left to that ingestion, and the backfill never waits for one), signed in Python,
their signatures inserted in one statement and the results updated in one more. The
signatures' counts follow through the triggers on `test_result`.

What needs signing is found again by every batch (failed and unsigned, or signed with an older
`SIGNATURE_VERSION`), so a backfill that stops for any reason resumes where it stopped when
run again; within one run, a cursor on the result id keeps each batch's scan short.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from .derive import SIGNATURE_VERSION, derive
from .store import store_signatures

BATCH_SIZE = 1000

# What needs signing, in two parts each read off its own index: unsigned failures (the partial
# index of migration 0020, empty once everything is signed) and results of signatures made by
# older rules (through the signatures' index).
_NEEDS_SIGNING = """
    (SELECT id FROM test_result
     WHERE status = 'FAILED' AND failure_signature_id IS NULL AND id > :after
       AND (created_at >= :since OR CAST(:since AS timestamp) IS NULL)
     ORDER BY id LIMIT :batch)
    UNION ALL
    (SELECT r.id FROM failure_signature AS s
     JOIN test_result AS r ON r.failure_signature_id = s.id
     WHERE s.signature_version <> :version AND r.id > :after
       AND (r.created_at >= :since OR CAST(:since AS timestamp) IS NULL)
     ORDER BY r.id LIMIT :batch)
"""

_NEXT_BATCH = text(
    f"""
    SELECT id, io_log, comment
    FROM test_result
    WHERE id IN ({_NEEDS_SIGNING})
    ORDER BY id
    LIMIT :batch
    FOR UPDATE SKIP LOCKED
    """
)

_PENDING = text(f"SELECT count(*) FROM ({_NEEDS_SIGNING.replace('LIMIT :batch', '')}) AS pending")

_SIGN = text(
    """
    UPDATE test_result
    SET failure_signature_id = failure_signature.id
    FROM unnest(CAST(:ids AS integer[]), CAST(:hashes AS varchar[])) AS s(id, hash)
    JOIN failure_signature ON failure_signature.hash = s.hash
    WHERE test_result.id = s.id
    """
)


@dataclass
class Progress:
    pending: int
    signed: int = 0
    batches: int = 0


def pending(session: Session, since: datetime | None) -> int:
    """How many failed results a backfill from `since` would sign now."""
    return session.scalar(_PENDING, {"since": since, "version": SIGNATURE_VERSION, "after": 0}) or 0


def sign_batch(
    session: Session, after: int, since: datetime | None, batch_size: int = BATCH_SIZE
) -> tuple[int, int]:
    """Sign the next batch after result id `after`; (its number of results, its last id)."""
    rows = session.execute(
        _NEXT_BATCH,
        {"after": after, "since": since, "version": SIGNATURE_VERSION, "batch": batch_size},
    ).all()
    if not rows:
        return 0, after
    signatures = [derive(io_log, comment) for _, io_log, comment in rows]
    store_signatures(session, signatures)
    session.execute(
        _SIGN,
        {
            "ids": [row[0] for row in rows],
            "hashes": [signature.hash for signature in signatures],
        },
    )
    return len(rows), rows[-1][0]


def backfill(
    sessions: sessionmaker[Session],
    since: datetime | None = None,
    *,
    batch_size: int = BATCH_SIZE,
    on_batch: Callable[[Progress], None] = lambda progress: None,
) -> Progress:
    """Sign every failed result that needs it, one committed batch at a time."""
    with sessions.begin() as session:
        progress = Progress(pending=pending(session, since))
    after = 0
    while True:
        with sessions.begin() as session:
            signed, after = sign_batch(session, after, since, batch_size)
        if not signed:
            return progress
        progress.signed += signed
        progress.batches += 1
        on_batch(progress)
