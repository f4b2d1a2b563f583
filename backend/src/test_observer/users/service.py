"""Users: search, admin rights, removal and provisioning from the command line."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, true
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, selectinload

from test_observer.audit.service import COMMAND_LINE, record_audit_event
from test_observer.auth import Principal
from test_observer.db.like import like_pattern
from test_observer.db.models import User, UserSession
from test_observer.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnavailableError,
)
from test_observer.sign_in.launchpad import Launchpad, LaunchpadError


def _not_found(user_id: int) -> NotFoundError:
    return NotFoundError(f"User with id {user_id} not found")


def _matches(q: str | None) -> ColumnElement[bool]:
    """Every word of `q` must match the email, name or handle (case-insensitively, anywhere),
    or be the user's id."""
    conditions = []
    for word in (q or "").split():
        pattern = like_pattern(word)
        alternatives: list[ColumnElement[bool]] = [
            User.email.ilike(pattern, escape="\\"),
            User.name.ilike(pattern, escape="\\"),
            User.launchpad_handle.ilike(pattern, escape="\\"),
        ]
        # Ids are 32-bit integers in PostgreSQL; a longer number cannot be one.
        if word.isdigit() and len(word) < 10:
            alternatives.append(User.id == int(word))
        conditions.append(or_(*alternatives))
    return and_(*conditions) if conditions else true()


def search_users(
    session: Session, q: str | None, limit: int, offset: int
) -> tuple[list[User], int]:
    condition = _matches(q)
    count = session.scalar(select(func.count()).select_from(User).where(condition)) or 0
    users = session.scalars(
        select(User)
        .where(condition)
        .options(selectinload(User.teams))
        .order_by(User.name, User.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return list(users), count


def get_user(session: Session, user_id: int) -> User:
    user = session.scalar(select(User).where(User.id == user_id).options(selectinload(User.teams)))
    if user is None:
        raise _not_found(user_id)
    return user


def _forbid_removing_last_admin(session: Session, user: User) -> None:
    # Locking every admin row serialises concurrent demotions, so two admins demoting each
    # other at once cannot leave none.
    admins = session.scalars(
        select(User.id).where(User.is_admin).order_by(User.id).with_for_update()
    ).all()
    if user.is_admin and admins == [user.id]:
        raise ConflictError("Cannot remove the last administrator")


def update_user(
    session: Session, principal: Principal, user_id: int, *, is_admin: bool | None
) -> User:
    """Change a user's admin flag. Only an admin may grant or revoke admin rights, and the
    last admin cannot be demoted."""
    user = get_user(session, user_id)
    if is_admin is None:
        return user
    if not principal.is_admin:
        raise ForbiddenError("Only administrators can change administrator rights")
    if user.is_admin and not is_admin:
        _forbid_removing_last_admin(session, user)
    was_admin = user.is_admin
    user.is_admin = is_admin
    session.flush()
    if was_admin != is_admin:
        record_audit_event(
            session,
            principal,
            "user.admin_changed",
            "user",
            user_id,
            before={"is_admin": was_admin},
            after={"is_admin": is_admin},
        )
    return user


def delete_user(session: Session, principal: Principal, user_id: int) -> None:
    """Remove a user with their sessions, notifications, memberships and reviewer links
    (the database cascades). Unknown ids are accepted: deleting is idempotent."""
    user = session.get(User, user_id)
    if user is None:
        return
    if user.is_admin:
        if not principal.is_admin:
            raise ForbiddenError("Only administrators can delete an administrator")
        _forbid_removing_last_admin(session, user)
    before = {"email": user.email, "name": user.name, "is_admin": user.is_admin}
    session.execute(delete(User).where(User.id == user_id))
    session.expunge(user)
    record_audit_event(session, principal, "user.deleted", "user", user_id, before=before)


class UnknownUserError(LookupError):
    pass


class UnknownLaunchpadEmailError(LookupError):
    pass


def _valid_email(email: str) -> str:
    email = email.strip()
    local, _, domain = email.partition("@")
    if not local or not domain or any(c.isspace() for c in email):
        raise ValueError(f"{email!r} is not an email address")
    return email


def already_exists(email: str) -> str:
    """What adding an existing user says (the original's words)."""
    return f"User with email {email} already exists. Skipping creation."


def _create_user(
    session: Session, email: str, name: str, launchpad_handle: str | None = None
) -> tuple[User, bool]:
    """Insert the user unless one with this email exists (a concurrent add included); the
    creation is on the audit trail as the command line's."""
    created = session.scalar(
        insert(User)
        .values(email=email, name=name, launchpad_handle=launchpad_handle)
        .on_conflict_do_nothing(index_elements=[User.email])
        .returning(User.id)
    )
    user = session.scalars(select(User).where(User.email == email)).one()
    if created is not None:
        record_audit_event(
            session,
            COMMAND_LINE,
            "user.created",
            "user",
            user.id,
            after={"email": email, "name": name, "launchpad_handle": launchpad_handle},
        )
    return user, created is not None


def add_user(session: Session, email: str, name: str | None = None) -> tuple[User, bool]:
    """Create the user with this email unless one exists; (user, created)."""
    email = _valid_email(email)
    return _create_user(session, email, name or email.split("@")[0])


def add_launchpad_user(session: Session, launchpad: Launchpad, email: str) -> tuple[User, bool]:
    """Create a user from the Launchpad account with this email: its handle and display name.

    An existing user is left as is, without asking Launchpad; an email Launchpad does not know
    is refused, as the original's `add-user` does."""
    email = _valid_email(email)
    existing = session.scalar(select(User).where(User.email == email))
    if existing is not None:
        return existing, False
    try:
        person = launchpad.person_by_email(email, teams=False)
    except LaunchpadError as error:
        raise UnavailableError(str(error)) from error
    if person is None:
        raise UnknownLaunchpadEmailError("Email not registered in launchpad")
    return _create_user(session, email, person.display_name, person.handle)


def promote_to_admin(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email.strip()))
    if user is None:
        raise UnknownUserError(f"no user with email {email!r}")
    if not user.is_admin:
        user.is_admin = True
        session.flush()
        record_audit_event(
            session,
            COMMAND_LINE,
            "user.admin_changed",
            "user",
            user.id,
            before={"is_admin": False},
            after={"is_admin": True},
        )
    return user


def clean_expired_sessions(session: Session) -> int:
    """Delete the browser sessions whose expiry has passed; how many were deleted."""
    now = datetime.now(UTC).replace(tzinfo=None)
    deleted = session.scalars(
        delete(UserSession).where(UserSession.expires_at <= now).returning(UserSession.id)
    )
    return len(deleted.all())
