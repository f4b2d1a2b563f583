"""kernel-swm against a fake SWM status document (J7), and clean-sessions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from test_observer.db.models import Artefact, User, UserSession
from test_observer.errors import UnavailableError
from test_observer.jobs import clean_sessions, kernel_swm
from test_observer.jobs.environment import JobEnvironment
from tests.backend.factories import make_artefact
from tests.backend.jobs.fake_http import FakeService


def tracker(status: str | None, **ours: object) -> dict[str, object]:
    task = {"kernel-sru-workflow": {"status": status}} if status else {}
    return {"test-observer": ours, "task": task}


def test_open_trackers_set_due_date_and_bug_link(
    db_session: Session, fake: FakeService, make_env: Callable[..., JobEnvironment]
) -> None:
    dated = make_artefact(db_session, name="linux-raspi", version="1")
    undated = make_artefact(db_session, name="linux-oem", version="1", due_date=date(2030, 1, 1))
    finished = make_artefact(db_session, name="linux-aws", version="1")
    db_session.commit()
    fake.on(
        "/swm/status.json",
        (
            200,
            {
                "trackers": {
                    "2001": tracker("In Progress", updates=dated.id, **{"due-date": "2031-02-03"}),
                    "2002": tracker("Confirmed", proposed=undated.id),
                    "2003": tracker(
                        "Fix Released", proposed=finished.id, **{"due-date": "2031-01-01"}
                    ),
                    "2004": tracker("In Progress", proposed=999999),  # not an artefact of ours
                    "2005": tracker(None, proposed=finished.id),  # no workflow status
                }
            },
        ),
    )

    summary = kernel_swm.run(make_env(kernel_swm_status_url=fake.url + "/swm/status.json"))

    assert summary == {"trackers": 5, "open_trackers_with_artefact": 3, "artefacts_updated": 2}
    db_session.expire_all()
    first = db_session.get_one(Artefact, dated.id)
    assert first.due_date == date(2031, 2, 3)
    assert first.bug_link == "https://bugs.launchpad.net/kernel-sru-workflow/+bug/2001"
    second = db_session.get_one(Artefact, undated.id)
    assert second.due_date == date(2030, 1, 1)  # a tracker without a date keeps ours
    assert second.bug_link.endswith("/+bug/2002")
    third = db_session.get_one(Artefact, finished.id)
    assert (third.due_date, third.bug_link) == (None, "")


@pytest.mark.parametrize("answer", [(500, {"error": "x"}), (200, ["not", "a", "document"])])
def test_a_bad_status_document_fails_the_run_and_changes_nothing(
    db_session: Session,
    fake: FakeService,
    make_env: Callable[..., JobEnvironment],
    answer: tuple[int, object],
) -> None:
    artefact = make_artefact(db_session, name="linux-raspi")
    db_session.commit()
    fake.on("/status.json", answer)

    with pytest.raises(UnavailableError):
        kernel_swm.run(make_env(kernel_swm_status_url=fake.url + "/status.json"))
    db_session.expire_all()
    assert db_session.get_one(Artefact, artefact.id).bug_link == ""


def test_clean_sessions_deletes_only_expired_sessions(
    db_session: Session, make_env: Callable[..., JobEnvironment]
) -> None:
    user = User(email="a@example.com", name="A", launchpad_handle="a")
    db_session.add(user)
    db_session.flush()
    now = datetime.now(UTC).replace(tzinfo=None)
    db_session.add_all(
        [
            UserSession(user_id=user.id, expires_at=now - timedelta(minutes=1)),
            UserSession(user_id=user.id, expires_at=now + timedelta(days=1)),
        ]
    )
    db_session.commit()

    assert clean_sessions.run(make_env()) == {"deleted": 1}
    assert db_session.scalar(select(func.count()).select_from(UserSession)) == 1
