"""Storing failure signatures: one set-based upsert per batch of failed results.

The signatures are derived in Python (`derive`), then every new one is inserted with one
`INSERT … SELECT FROM unnest(…) ON CONFLICT (hash) DO NOTHING`, in hash order so that
concurrent writers of the same new signatures lock them in the same order. Results then refer
to them by hash inside their own upsert; the signatures' counts and first/last seen times are
kept by triggers on `test_result` (migration 0020).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from test_observer.db.models import FailureSignature
from test_observer.errors import UnprocessableError

from .derive import SIGNATURE_VERSION, Signature, derive

_INSERT_SIGNATURES = text(
    """
    INSERT INTO failure_signature (hash, signature_version, text, excerpt)
    SELECT s.hash, :version, s.text, s.excerpt
    FROM unnest(CAST(:hashes AS varchar[]), CAST(:texts AS varchar[]),
                CAST(:excerpts AS varchar[])) AS s(hash, text, excerpt)
    -- Most signatures exist already: an anti-join skips them more cheaply than a conflict.
    WHERE NOT EXISTS (SELECT 1 FROM failure_signature AS f WHERE f.hash = s.hash)
    ORDER BY s.hash
    ON CONFLICT (hash) DO NOTHING
    """
)


def store_signatures(session: Session, signatures: Iterable[Signature]) -> None:
    """Make sure a row exists for each signature (one statement, none if there are none)."""
    # The first result with a signature gives it its excerpt.
    distinct: dict[str, Signature] = {}
    for signature in signatures:
        distinct.setdefault(signature.hash, signature)
    if not distinct:
        return
    ordered = sorted(distinct.values(), key=lambda signature: signature.hash)
    session.execute(
        _INSERT_SIGNATURES,
        {
            "version": SIGNATURE_VERSION,
            "hashes": [signature.hash for signature in ordered],
            "texts": [signature.text for signature in ordered],
            "excerpts": [signature.excerpt for signature in ordered],
        },
    )


def sign(session: Session, failures: Iterable[tuple[str, str] | None]) -> list[str | None]:
    """The signature hash of each (io_log, comment) pair, None where there is no failure; the
    signatures are stored."""
    signatures = [None if failure is None else derive(*failure) for failure in failures]
    store_signatures(session, (signature for signature in signatures if signature is not None))
    return [None if signature is None else signature.hash for signature in signatures]


def known_signatures(session: Session, ids: Iterable[int]) -> list[int]:
    """`ids` without repeats, all of which must exist (else 422, naming the unknown ones)."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    found = set(session.scalars(select(FailureSignature.id).where(FailureSignature.id.in_(wanted))))
    missing = [signature_id for signature_id in wanted if signature_id not in found]
    if missing:
        raise UnprocessableError(f"Unknown failure signatures: {missing}")
    return wanted
