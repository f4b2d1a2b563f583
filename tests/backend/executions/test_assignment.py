"""Reviewer assignment on start-test (needs_assignment)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import (
    Artefact,
    ArtefactMatchingRule,
    FamilyName,
    Notification,
    NotificationType,
    Team,
    User,
    artefact_reviewers_association,
    environment_review_reviewers_association,
)
from tests.backend.executions.conftest import EVERY_PERMISSION, deb, snap, start


def team_with_rule(session: Session, name: str, members: int, **rule: object) -> list[User]:
    users = [User(email=f"{name}{i}@example.com", name=f"{name} {i}") for i in range(members)]
    team = Team(name=name, members=users)
    matching = ArtefactMatchingRule(**{"family": FamilyName.snap, **rule})
    matching.teams = [team]
    session.add_all([team, matching])
    session.commit()
    return users


def reviewers(session: Session) -> list[int]:
    return list(session.scalars(select(artefact_reviewers_association.c.user_id)))


def review_holders(session: Session) -> list[int]:
    return list(session.scalars(select(environment_review_reviewers_association.c.user_id)))


def test_one_environment_three_users_gets_one_reviewer(
    api: TestClient, db_session: Session
) -> None:
    team_with_rule(db_session, "qa", 3)
    start(api, snap(needs_assignment=True))
    assert len(reviewers(db_session)) == 1
    artefact = db_session.scalars(select(Artefact)).one()
    assert artefact.due_date == datetime.now(UTC).date() + timedelta(days=10)
    notification = db_session.scalars(select(Notification)).one()
    assert notification.notification_type == NotificationType.USER_ASSIGNED_ARTEFACT_REVIEW
    assert notification.target_url == f"http://localhost:30001/snaps/{artefact.id}"
    assert review_holders(db_session) == reviewers(db_session)
    # Repeating the call adds nobody and notifies nobody again.
    start(api, snap(needs_assignment=True))
    assert len(db_session.scalars(select(Notification)).all()) == 1


def test_reviewer_count_grows_with_executions(api: TestClient, db_session: Session) -> None:
    team_with_rule(db_session, "qa", 2)
    for i in range(52):
        start(api, snap(needs_assignment=True, environment=f"env{i % 4}"))
    assert len(reviewers(db_session)) == 2
    # Every review has exactly one reviewer.
    assert len(review_holders(db_session)) == 4


def test_unassigned_reviews_are_spread_evenly(api: TestClient, db_session: Session) -> None:
    users = team_with_rule(db_session, "qa", 2)
    for i in range(4):
        start(api, snap(environment=f"env{i}"))
    artefact = db_session.scalars(select(Artefact)).one()
    db_session.execute(
        insert(artefact_reviewers_association),
        [{"artefact_id": artefact.id, "user_id": user.id} for user in users],
    )
    db_session.commit()
    start(api, snap(needs_assignment=True, environment="env0"))
    holders = review_holders(db_session)
    assert sorted(holders.count(user.id) for user in users) == [2, 2]


def test_most_specific_rule_wins(api: TestClient, db_session: Session) -> None:
    team_with_rule(db_session, "broad", 2)
    specific = team_with_rule(db_session, "beta", 1, stage="beta")
    start(api, snap(needs_assignment=True))
    assert reviewers(db_session) == [specific[0].id]


def test_without_assignment_or_matching_rule_nobody_is_assigned(
    api: TestClient, db_session: Session
) -> None:
    team_with_rule(db_session, "qa", 2)
    start(api, snap())
    start(api, deb(needs_assignment=True))
    assert reviewers(db_session) == []
    assert db_session.scalars(select(Artefact.due_date)).all() == [None, None]


def test_manual_reviewer_gets_reviews_without_notification(
    api: TestClient, db_session: Session
) -> None:
    start(api, snap())
    user = User(email="m@example.com", name="M")
    db_session.add(user)
    db_session.flush()
    artefact = db_session.scalars(select(Artefact)).one()
    db_session.execute(
        insert(artefact_reviewers_association).values(artefact_id=artefact.id, user_id=user.id)
    )
    db_session.commit()
    start(api, snap(needs_assignment=True, environment="other"))
    assert review_holders(db_session) == [user.id, user.id]
    assert db_session.scalars(select(Notification)).all() == []


def test_kernel_artefacts_get_no_due_date(api: TestClient, db_session: Session) -> None:
    team_with_rule(db_session, "qa", 1)
    start(api, snap(name="linux-raspi", needs_assignment=True))
    artefact = db_session.scalars(select(Artefact)).one()
    assert reviewers(db_session)
    assert artefact.due_date is None


def test_assignment_and_patch_write_the_same_reviewer_rows(
    make_client: Callable[..., TestClient], db_session: Session
) -> None:
    # A trailing slash in the setting must not reach the link either way.
    api = make_client(ignore_permissions=EVERY_PERMISSION, frontend_url="https://observer.example/")
    (user,) = team_with_rule(db_session, "qa", 1)
    start(api, snap(name="assigned", needs_assignment=True))
    start(api, snap(name="patched"))
    artefacts = {a.name: a.id for a in db_session.scalars(select(Artefact))}
    response = api.patch(f"/v1/artefacts/{artefacts['patched']}", json={"reviewer_ids": [user.id]})
    assert response.status_code == 200, response.text

    def rows(name: str) -> tuple[list[tuple[int, int]], list[tuple[int, object, str]]]:
        artefact_id = artefacts[name]
        association = artefact_reviewers_association
        reviewer_rows = db_session.execute(
            select(association.c.user_id, association.c.position).where(
                association.c.artefact_id == artefact_id
            )
        ).all()
        notifications = db_session.execute(
            select(
                Notification.user_id, Notification.notification_type, Notification.target_url
            ).where(Notification.target_url.endswith(f"/{artefact_id}"))
        ).all()
        return (
            [tuple(row) for row in reviewer_rows],
            [(u, t, url.replace(str(artefact_id), "ID")) for u, t, url in notifications],
        )

    assigned, patched = rows("assigned"), rows("patched")
    assert assigned == patched
    assert assigned == (
        [(user.id, 0)],
        [
            (
                user.id,
                NotificationType.USER_ASSIGNED_ARTEFACT_REVIEW,
                "https://observer.example/snaps/ID",
            )
        ],
    )
