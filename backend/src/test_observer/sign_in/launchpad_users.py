"""Users created from their Launchpad accounts, as the original charm's `add-user` does."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from test_observer.db.models import User
from test_observer.errors import UnavailableError
from test_observer.sign_in.launchpad import Launchpad, LaunchpadError
from test_observer.users.service import create_user, valid_email


class UnknownLaunchpadEmailError(LookupError):
    pass


def add_launchpad_user(session: Session, launchpad: Launchpad, email: str) -> tuple[User, bool]:
    """Create a user from the Launchpad account with this email: its handle and display name.

    An existing user is left as is, without asking Launchpad; an email Launchpad does not know
    is refused, as the original's `add-user` does."""
    email = valid_email(email)
    existing = session.scalar(select(User).where(User.email == email))
    if existing is not None:
        return existing, False
    try:
        person = launchpad.person_by_email(email, teams=False)
    except LaunchpadError as error:
        raise UnavailableError(str(error)) from error
    if person is None:
        raise UnknownLaunchpadEmailError("Email not registered in launchpad")
    return create_user(session, email, person.display_name, person.handle)
