"""Applications: creation, permissions, key rotation. Keys are kept only as digests."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from test_observer.auth.keys import digest_api_key, generate_api_key, masked, visible_prefix
from test_observer.db.models import Application, Permission
from test_observer.errors import ConflictError, NotFoundError


@dataclass(frozen=True)
class ApplicationView:
    """An application as shown to clients: `api_key` is in clear only right after it was made."""

    id: int
    name: str
    permissions: list[Permission]
    api_key: str


def _view(application: Application, key: str | None = None) -> ApplicationView:
    return ApplicationView(
        id=application.id,
        name=application.name,
        permissions=list(application.permissions),
        api_key=key if key is not None else masked(application.api_key_prefix),
    )


def _not_found(application_id: int) -> NotFoundError:
    return NotFoundError(f"Application with id {application_id} not found")


def _key_columns(key: str) -> dict[str, str]:
    return {"api_key_digest": digest_api_key(key), "api_key_prefix": visible_prefix(key)}


def create_application(
    session: Session, name: str, permissions: list[Permission]
) -> ApplicationView:
    """A new application with a fresh key, returned in clear this once; 409 if the name is taken."""
    key = generate_api_key()
    application = session.scalar(
        insert(Application)
        .values(name=name, permissions=list(dict.fromkeys(permissions)), **_key_columns(key))
        .on_conflict_do_nothing(index_elements=[Application.name])
        .returning(Application)
    )
    if application is None:
        raise ConflictError(f"Application with name '{name}' already exists")
    return _view(application, key)


def list_applications(session: Session) -> list[ApplicationView]:
    return [_view(a) for a in session.scalars(select(Application).order_by(Application.id))]


def get_application(session: Session, application_id: int) -> ApplicationView:
    application = session.get(Application, application_id)
    if application is None:
        raise _not_found(application_id)
    return _view(application)


def view_of(application: Application) -> ApplicationView:
    return _view(application)


def update_permissions(
    session: Session, application_id: int, permissions: list[Permission] | None
) -> ApplicationView:
    application = session.get(Application, application_id, with_for_update=True)
    if application is None:
        raise NotFoundError(f"Application {application_id} doesn't exist")
    if permissions is not None:
        application.permissions = list(dict.fromkeys(permissions))
        session.flush()
    return _view(application)


def rotate_key(session: Session, application_id: int) -> ApplicationView:
    """Replace the key; the old one stops working when the transaction commits."""
    key = generate_api_key()
    application = session.scalar(
        update(Application)
        .where(Application.id == application_id)
        .values(**_key_columns(key))
        .returning(Application)
    )
    if application is None:
        raise _not_found(application_id)
    return _view(application, key)


def delete_application(session: Session, application_id: int) -> None:
    session.execute(delete(Application).where(Application.id == application_id))
