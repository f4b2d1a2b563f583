"""Launchpad team names no longer become permissions: only teams linked to a Launchpad team are
joined at sign-in, and their membership follows Launchpad (added and removed).

Launchpad is a real HTTP server on localhost; the sign-in's provisioning runs against the real
database.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from test_observer.db.models import Permission, Team, User
from test_observer.settings import Settings
from test_observer.sign_in.service import provision_user
from tests.backend.jobs.fake_http import FakeService, fake_service

EMAIL = "mallory@example.com"


@pytest.fixture
def launchpad() -> Iterator[FakeService]:
    with fake_service() as service:
        service.on("/people", (200, {"name": "mallory"}))
        yield service


def in_teams(launchpad: FakeService, *teams: str) -> None:
    entries = [{"name": team} for team in teams]
    launchpad.on("/~mallory/super_teams", (200, {"entries": entries}))


def sign_in(db_session: Session, database_url: str, launchpad: FakeService) -> int:
    settings = Settings(db_url=database_url, launchpad_api_url=launchpad.url)  # type: ignore[call-arg]
    user_id = provision_user(db_session, settings, EMAIL, "Mallory")
    db_session.commit()
    return user_id


def teams_of(db_session: Session, user_id: int) -> list[str]:
    db_session.expire_all()
    return sorted(
        db_session.scalars(select(Team.name).join(Team.members).where(User.id == user_id))
    )


def test_refused_a_launchpad_team_named_like_a_privileged_team(
    db_session: Session, database_url: str, launchpad: FakeService
) -> None:
    """Anyone can register a Launchpad team called "admins": it is not this service's admins."""
    db_session.add(Team(name="admins", permissions=[Permission.change_user]))
    db_session.commit()
    in_teams(launchpad, "admins", "hw-cert")
    user_id = sign_in(db_session, database_url, launchpad)
    assert teams_of(db_session, user_id) == ["hw-cert"]
    # The privileged team was neither joined nor linked.
    admins = db_session.scalar(select(Team).where(Team.name == "admins"))
    assert admins is not None
    assert admins.launchpad_team is None


def test_refused_keeping_a_linked_team_after_leaving_it_on_launchpad(
    db_session: Session, database_url: str, launchpad: FakeService
) -> None:
    db_session.add(
        Team(name="certifiers", permissions=[Permission.change_artefact], launchpad_team="hw-cert")
    )
    db_session.commit()
    in_teams(launchpad, "hw-cert", "canonical")
    user_id = sign_in(db_session, database_url, launchpad)
    assert teams_of(db_session, user_id) == ["canonical", "certifiers"]

    in_teams(launchpad, "canonical")
    sign_in(db_session, database_url, launchpad)
    assert teams_of(db_session, user_id) == ["canonical"]


def test_memberships_granted_through_the_api_stay(
    db_session: Session, database_url: str, launchpad: FakeService
) -> None:
    in_teams(launchpad, "canonical")
    user_id = sign_in(db_session, database_url, launchpad)
    granted = Team(name="reviewers", permissions=[Permission.change_test])
    granted.members = [db_session.get_one(User, user_id)]
    db_session.add(granted)
    db_session.commit()
    in_teams(launchpad)
    sign_in(db_session, database_url, launchpad)
    assert teams_of(db_session, user_id) == ["reviewers"]


def test_a_launchpad_outage_changes_no_membership(
    db_session: Session, database_url: str, launchpad: FakeService
) -> None:
    in_teams(launchpad, "canonical")
    user_id = sign_in(db_session, database_url, launchpad)
    launchpad.on("/people", (503, {"error": "down"}))
    sign_in(db_session, database_url, launchpad)
    assert teams_of(db_session, user_id) == ["canonical"]
