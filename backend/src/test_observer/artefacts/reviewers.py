"""The one writer of an artefact's reviewers.

Reviewers are set by a PATCH of the artefact and added by the automatic assignment on
start-test; both come through here, so the order (`position`), the refusal to list a user twice
and what follows from becoming a reviewer (the notification and its link to the artefact's
page) are decided once. Callers hold a lock on the artefact row.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from test_observer.db.models import Artefact, User, artefact_reviewers_association
from test_observer.notifications.service import notify_reviewers_assigned
from test_observer.settings import Settings
from test_observer.webhooks.events import EventType, about, emit

_reviewers = artefact_reviewers_association


def reviewer_ids(session: Session, artefact_id: int) -> list[int]:
    """The artefact's reviewers, in their order."""
    return list(
        session.scalars(
            select(_reviewers.c.user_id)
            .where(_reviewers.c.artefact_id == artefact_id)
            .order_by(_reviewers.c.position, _reviewers.c.user_id)
        )
    )


def set_reviewers(
    session: Session, artefact: Artefact, user_ids: Sequence[int], settings: Settings
) -> list[int]:
    """Make `user_ids` the reviewers, in that order; answers the users newly added."""
    before = reviewer_ids(session, artefact.id)
    previous = set(before)
    wanted = list(dict.fromkeys(user_ids))
    session.execute(delete(_reviewers).where(_reviewers.c.artefact_id == artefact.id))
    _insert(session, artefact.id, wanted, first_position=0)
    added = [user_id for user_id in wanted if user_id not in previous]
    if wanted != before:
        _announce(session, artefact, wanted, added, [i for i in before if i not in set(wanted)])
    return _reviewers_added(session, artefact, added, settings)


def add_reviewers(
    session: Session, artefact: Artefact, user_ids: Sequence[int], settings: Settings
) -> list[int]:
    """Append `user_ids` after the current reviewers, skipping those already reviewing;
    answers the users newly added."""
    current = reviewer_ids(session, artefact.id)
    added = [user_id for user_id in dict.fromkeys(user_ids) if user_id not in set(current)]
    _insert(session, artefact.id, added, first_position=len(current))
    if added:
        _announce(session, artefact, [*current, *added], added, [])
    return _reviewers_added(session, artefact, added, settings)


def _insert(
    session: Session, artefact_id: int, user_ids: Sequence[int], *, first_position: int
) -> None:
    if user_ids:
        session.execute(
            insert(_reviewers),
            [
                {"artefact_id": artefact_id, "user_id": user_id, "position": position}
                for position, user_id in enumerate(user_ids, start=first_position)
            ],
        )


def _announce(
    session: Session,
    artefact: Artefact,
    reviewers: Sequence[int],
    added: Sequence[int],
    removed: Sequence[int],
) -> None:
    names = dict(session.execute(select(User.id, User.name).where(User.id.in_(reviewers))).all())
    data = {
        "reviewers": [{"id": user_id, "name": names.get(user_id, "")} for user_id in reviewers],
        "added": list(added),
        "removed": list(removed),
    }
    emit(session, [about(artefact, EventType.ARTEFACT_REVIEWERS_CHANGED, data)])


def _reviewers_added(
    session: Session, artefact: Artefact, added: list[int], settings: Settings
) -> list[int]:
    """Everything that follows from users becoming reviewers of the artefact."""
    notify_reviewers_assigned(session, settings, artefact.id, added)
    return added
