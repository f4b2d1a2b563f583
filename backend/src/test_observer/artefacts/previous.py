"""The previous version of an artefact: what a reviewer compares it against.

An artefact belongs to a *line*: the artefacts of its family that share the fields naming the
thing being released, everything of its identity but the version. The previous version is the
newest artefact of the line created before it (creation time, then id), archived or not:
archiving is what happens to a version once a newer one replaces it, so the version a reviewer
signed off last time is usually archived by now.

The stage is never part of a line: promotion moves one artefact through the stages, and a new
version starts at the first stage while the previous one may have reached the last. A
solution's bundled builds are not part of it either: every version bundles new builds.

Missing environments, the comparison and readiness all call these functions, so the three
agree on what "previous" means.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select, true, tuple_
from sqlalchemy.orm import Session, aliased

from test_observer.db.models import Artefact, FamilyName

from .service import get_artefact

# The fields, besides the family, that artefacts of one line share.
LINE: dict[FamilyName, tuple[str, ...]] = {
    FamilyName.snap: ("name", "store", "track", "branch"),
    FamilyName.charm: ("name", "track", "branch"),
    FamilyName.deb: ("name", "series", "repo", "source"),
    FamilyName.image: ("name", "os", "release"),
    FamilyName.solution: ("name", "source", "track"),
}


def _earlier_in_line(
    earlier: type[Artefact], later: type[Artefact], family: FamilyName | None = None
) -> ColumnElement[bool]:
    """`earlier` is an artefact of `later`'s line created before it.

    With `family` known, the condition names only that family's fields; without it, it holds
    one branch per family so that it can be applied to artefacts of any family in one query.
    """

    def same_line(family: FamilyName) -> ColumnElement[bool]:
        return and_(
            earlier.family == family,
            later.family == family,
            *(getattr(earlier, field) == getattr(later, field) for field in LINE[family]),
        )

    line = same_line(family) if family is not None else or_(*(same_line(f) for f in FamilyName))
    return and_(
        line,
        tuple_(earlier.created_at, earlier.id) < tuple_(later.created_at, later.id),
    )


# Made once: an alias of `artefact` proxies each of its columns on first use, which took
# milliseconds of every comparison when two were made per call.
_EARLIER = aliased(Artefact, name="earlier")
_CURRENT = aliased(Artefact, name="current")


def previous_artefact_id(session: Session, artefact_id: int) -> int | None:
    """The id of the artefact's previous version, or None for the first of its line.

    404 (NotFoundError) when the artefact does not exist.
    """
    artefact = get_artefact(session, artefact_id)
    earlier, current = _EARLIER, _CURRENT
    return session.scalar(
        select(earlier.id)
        .join(current, current.id == artefact.id)
        .where(_earlier_in_line(earlier, current, artefact.family))
        .order_by(earlier.created_at.desc(), earlier.id.desc())
        .limit(1)
    )


def previous_artefact_ids(session: Session, artefact_ids: Collection[int]) -> dict[int, int | None]:
    """For each artefact id, the id of its previous version (None for the first of a line).

    One statement, whatever the number of artefacts; unknown ids are left out.
    """
    if not artefact_ids:
        return {}
    current = aliased(Artefact)
    earlier = aliased(Artefact)
    previous = (
        select(earlier.id)
        .where(_earlier_in_line(earlier, current))
        .order_by(earlier.created_at.desc(), earlier.id.desc())
        .limit(1)
        .correlate(current)
        .lateral("previous")
    )
    rows = session.execute(
        select(current.id, previous.c.id)
        .select_from(current)
        .outerjoin(previous, true())
        .where(current.id.in_(artefact_ids))
    ).all()
    return dict(tuple(row) for row in rows)


def next_version_ids(artefact_ids: Collection[int]) -> Select[Any]:
    """The ids of the artefacts whose previous version is one of these: the next of each line.

    A select for other statements to use; their comparison's base changes with these artefacts.
    """
    current = aliased(Artefact)
    later = aliased(Artefact)
    following = (
        select(later.id)
        .where(_earlier_in_line(current, later))
        .order_by(later.created_at, later.id)
        .limit(1)
        .correlate(current)
        .lateral("following")
    )
    return (
        select(following.c.id)
        .select_from(current)
        .join(following, true())
        .where(current.id.in_(list(artefact_ids)))
    )
