"""Listing artefacts: the dashboards, name search, the history of a name and versions of a line.

Every function answers in a fixed number of statements, whatever the number of rows.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    ColumnElement,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from test_observer.db.like import contains
from test_observer.db.models import (
    Artefact,
    FamilyName,
)

from .readiness import readiness_summaries
from .response_queries import artefact_responses
from .schemas import (
    ArtefactHistoryItemResponse,
    ArtefactHistoryResponse,
    ArtefactSearchResponse,
    ArtefactVersionResponse,
    ArtefactWithReadinessResponse,
    StageName,
)
from .service import get_artefact

# The fields that make artefacts of one family "the same thing" on the dashboard: only the
# newest artefact of each group is current. `None` means every artefact is its own group.
DASHBOARD_GROUPS: dict[FamilyName, tuple[str, ...] | None] = {
    FamilyName.snap: ("stage", "name", "track", "branch", "store"),
    FamilyName.deb: ("stage", "name", "repo", "series", "source"),
    FamilyName.charm: None,
    FamilyName.image: ("stage", "name", "os", "release"),
    FamilyName.solution: ("stage", "name", "source", "track"),
}

# The fields that make artefacts versions of one line (the versions endpoint).
VERSION_LINE = (
    "family",
    "name",
    "store",
    "track",
    "branch",
    "series",
    "repo",
    "os",
    "release",
    "source",
)

# Families whose artefacts have a track worth defaulting to "latest" in the history.
TRACKED_FAMILIES = frozenset({FamilyName.snap, FamilyName.charm})


def current_artefact_ids(session: Session, family: FamilyName) -> list[int]:
    """Non-archived artefacts that are the newest of their dashboard group, by name and age.

    One row per group even when several artefacts share the newest creation time (the highest
    id wins), which a comparison with max(created_at) would not guarantee.
    """
    group = DASHBOARD_GROUPS[family]
    base = select(Artefact.id, Artefact.name, Artefact.created_at).where(
        Artefact.family == family, Artefact.archived.is_(False)
    )
    if group is not None:
        columns = [getattr(Artefact, name) for name in group]
        base = base.ext(distinct_on(*columns)).order_by(
            *columns, Artefact.created_at.desc(), Artefact.id.desc()
        )
    current = base.subquery()
    return list(
        session.scalars(
            select(current.c.id).order_by(current.c.name, current.c.created_at, current.c.id)
        )
    )


def list_current_artefacts(
    session: Session, family: FamilyName | None, *, with_readiness: bool = False
) -> list[ArtefactWithReadinessResponse]:
    families = [family] if family is not None else list(DASHBOARD_GROUPS)
    ids = [artefact_id for f in families for artefact_id in current_artefact_ids(session, f)]
    responses = artefact_responses(session, ids)
    summaries = readiness_summaries(session, ids) if with_readiness else {}
    return [
        ArtefactWithReadinessResponse(
            **responses[artefact_id].model_dump(), readiness=summaries.get(artefact_id)
        )
        for artefact_id in ids
    ]


def search_artefact_names(
    session: Session,
    q: str | None,
    families: Sequence[FamilyName],
    limit: int,
    offset: int,
) -> ArtefactSearchResponse:
    conditions: list[ColumnElement[bool]] = [Artefact.archived.is_(False)]
    text = (q or "").strip()
    if text:
        conditions.append(contains(Artefact.name, text))
    if families:
        conditions.append(Artefact.family.in_(families))
    names = select(Artefact.name).where(*conditions).distinct().subquery()
    count = session.scalar(select(func.count()).select_from(names)) or 0
    page = session.scalars(
        select(names.c.name).order_by(names.c.name).limit(limit).offset(offset)
    ).all()
    return ArtefactSearchResponse(artefacts=list(page), count=count, limit=limit, offset=offset)


def artefact_history(
    session: Session,
    *,
    name: str,
    family: FamilyName,
    track: str | None,
    stage: StageName | None,
    limit: int,
    offset: int,
) -> ArtefactHistoryResponse:
    conditions: list[ColumnElement[bool]] = [Artefact.name == name, Artefact.family == family]
    if track is None and family in TRACKED_FAMILIES:
        track = "latest"
    if track is not None:
        conditions.append(Artefact.track == track)
    if stage is not None:
        conditions.append(Artefact.stage == stage.value)
    count = session.scalar(select(func.count(Artefact.id)).where(*conditions)) or 0
    rows = session.execute(
        select(Artefact.id, Artefact.name, Artefact.version, Artefact.stage, Artefact.created_at)
        .where(*conditions)
        .order_by(Artefact.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return ArtefactHistoryResponse(
        count=count,
        items=[
            ArtefactHistoryItemResponse(
                artefact_id=row.id,
                name=row.name,
                version=row.version,
                stage=row.stage,
                created_at=row.created_at,
            )
            for row in rows
        ],
    )


def artefact_versions(
    session: Session, artefact_id: int, limit: int, offset: int
) -> list[ArtefactVersionResponse]:
    artefact = get_artefact(session, artefact_id)
    rows = session.execute(
        select(Artefact.version, Artefact.id)
        .where(
            *(getattr(Artefact, field) == getattr(artefact, field) for field in VERSION_LINE),
            Artefact.bundled_builds_hash.is_not_distinct_from(artefact.bundled_builds_hash),
        )
        .order_by(Artefact.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [ArtefactVersionResponse(version=version, artefact_id=id_) for version, id_ in rows]
