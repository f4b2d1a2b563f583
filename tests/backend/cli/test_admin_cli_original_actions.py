"""`test-observer admin add-user --launchpad` and `admin change-assignee`: the commands behind
the charm's `add-user` and `change-assignee` actions, run in the test process against the test
database, with Launchpad faked at its HTTP edge."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from test_observer.artefacts.reviewers import reviewer_ids
from test_observer.db.models import AuditEvent, User
from tests.backend.cli.test_admin_cli import admin
from tests.backend.command_line import Completed
from tests.backend.factories import make_artefact
from tests.backend.jobs.fake_http import FakeService, Request, fake_service

ADA = {"name": "ada-l", "display_name": "Ada Lovelace"}


def _person(request: Request) -> tuple[int, object]:
    # Launchpad answers `null` for an address it does not know.
    return 200, ADA if "ada%40example.com" in request.query else None


@pytest.fixture
def launchpad() -> Iterator[FakeService]:
    with fake_service() as service:
        service.on("/devel/people", _person)
        yield service


def add_from_launchpad(database_url: str, launchpad: FakeService, email: str) -> Completed:
    return admin(
        database_url,
        "add-user",
        "--launchpad",
        email,
        LAUNCHPAD_API_URL=f"{launchpad.url}/devel",
    )


def test_new_commands_have_help() -> None:
    for command in (["change-assignee"], ["add-user"]):
        result = admin("postgresql://nobody@127.0.0.1:1/none", *command, "--help")
        assert result.returncode == 0, result.stderr
        assert "Usage" in result.stdout
    assert "--launchpad" in admin("postgresql://x@127.0.0.1:1/none", "add-user", "--help").stdout


def test_add_user_from_launchpad_takes_handle_and_name(
    database_url: str, db_session: Session, launchpad: FakeService
) -> None:
    result = add_from_launchpad(database_url, launchpad, "ada@example.com")

    assert result.returncode == 0, result.stderr
    assert "Looking ada@example.com up on Launchpad" in result.stderr
    assert "Created user ada@example.com" in result.stderr
    user = db_session.scalars(select(User)).one()
    assert (user.email, user.name, user.launchpad_handle) == (
        "ada@example.com",
        "Ada Lovelace",
        "ada-l",
    )
    event = db_session.scalars(select(AuditEvent)).one()
    assert (event.action, event.actor_kind, event.actor_name, event.target_id) == (
        "user.created",
        "system",
        "command line",
        str(user.id),
    )
    assert event.after == {
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "launchpad_handle": "ada-l",
    }


def test_an_email_launchpad_does_not_know_is_refused(
    database_url: str, db_session: Session, launchpad: FakeService
) -> None:
    result = add_from_launchpad(database_url, launchpad, "eve@example.com")

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == "Error: Email not registered in launchpad"
    assert db_session.scalars(select(User)).all() == []
    assert db_session.scalars(select(AuditEvent)).all() == []


def test_an_existing_user_is_left_alone_without_asking_launchpad(
    database_url: str, db_session: Session, launchpad: FakeService
) -> None:
    db_session.add(User(email="ada@example.com", name="Ada"))
    db_session.commit()

    result = add_from_launchpad(database_url, launchpad, "ada@example.com")

    assert result.returncode == 0, result.stderr
    assert (
        result.stderr.strip().splitlines()[-1]
        == "User with email ada@example.com already exists. Skipping creation."
    )
    assert launchpad.requests == []
    db_session.expire_all()
    assert db_session.scalars(select(User.name)).all() == ["Ada"]
    assert db_session.scalars(select(AuditEvent)).all() == []


def test_launchpad_out_of_reach_is_one_line(database_url: str, db_session: Session) -> None:
    result = admin(
        database_url,
        "add-user",
        "--launchpad",
        "ada@example.com",
        LAUNCHPAD_API_URL="http://127.0.0.1:9/devel",
    )

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: Launchpad lookup of ada@example.com failed")
    assert db_session.scalars(select(User)).all() == []


def _users(session: Session, *emails: str) -> list[User]:
    users = [User(email=email, name=email.split("@")[0]) for email in emails]
    session.add_all(users)
    session.flush()
    return users


@pytest.mark.parametrize("by", ["id", "email"])
def test_change_assignee_replaces_the_reviewers(
    database_url: str, db_session: Session, by: str
) -> None:
    ada, bob, cy = _users(db_session, "ada@example.com", "bob@example.com", "cy@example.com")
    artefact = make_artefact(db_session, reviewers=[ada])
    db_session.commit()
    given = [str(cy.id), str(bob.id)] if by == "id" else [cy.email, bob.email]

    result = admin(database_url, "change-assignee", str(artefact.id), *given)

    assert result.returncode == 0, result.stderr
    assert (
        f"is reviewed by cy@example.com (id {cy.id}), bob@example.com (id {bob.id})"
        in result.stderr
    )
    # Through the API's own patch: the order is kept, and the change is on the audit trail.
    db_session.expire_all()
    assert reviewer_ids(db_session, artefact.id) == [cy.id, bob.id]
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "artefact.changed")
    ).one()
    assert (event.actor_kind, event.actor_name) == ("system", "command line")
    assert event.before == {"reviewer_ids": [ada.id]}
    assert event.after == {"reviewer_ids": [cy.id, bob.id]}


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["999999", "1"], "Artefact with id 999999 not found"),
        (["{artefact}", "999999"], "User with id 999999 not found"),
        (["{artefact}", "nobody@example.com"], "User with email 'nobody@example.com' not found"),
        (["{artefact}", "ada"], "'ada' is neither a user id nor an email address"),
        (["{artefact}", "{ada}", "bob@example.com"], "either all by user id or all by email"),
        (["{artefact}", "12345678901"], "neither a user id nor an email address"),
    ],
)
def test_change_assignee_failures_change_nothing(
    database_url: str, db_session: Session, args: list[str], reason: str
) -> None:
    (ada,) = _users(db_session, "ada@example.com")
    _users(db_session, "bob@example.com")
    artefact = make_artefact(db_session, reviewers=[ada])
    db_session.commit()
    argv = [a.format(artefact=artefact.id, ada=ada.id) for a in args]

    result = admin(database_url, "change-assignee", *argv)

    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: ")
    assert reason.lower() in lines[0].lower()
    db_session.expire_all()
    assert reviewer_ids(db_session, artefact.id) == [ada.id]
    assert db_session.scalars(select(AuditEvent)).all() == []
