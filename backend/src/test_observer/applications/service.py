"""Applications: creation, permissions, key rotation. Keys are kept only as digests."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from test_observer.audit.service import record_audit_event
from test_observer.auth import Principal
from test_observer.auth.ceiling import require_within_ceiling
from test_observer.auth.keys import digest_api_key, generate_api_key, masked, visible_prefix
from test_observer.db.models import Application, Permission
from test_observer.errors import ConflictError, NotFoundError
from test_observer.settings import Settings

TARGET = "application"


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


def _permission_names(permissions: list[Permission]) -> list[str]:
    return [permission.value for permission in permissions]


def create_application(
    session: Session,
    principal: Principal | None,
    settings: Settings,
    name: str,
    permissions: list[Permission],
) -> ApplicationView:
    """A new application with a fresh key, returned in clear this once; 409 if the name is taken.
    403 if the caller does not hold every permission it grants."""
    wanted = list(dict.fromkeys(permissions))
    require_within_ceiling(principal, settings, wanted, what="grant permissions")
    key = generate_api_key()
    application = session.scalar(
        insert(Application)
        .values(name=name, permissions=wanted, **_key_columns(key))
        .on_conflict_do_nothing(index_elements=[Application.name])
        .returning(Application)
    )
    if application is None:
        raise ConflictError(f"Application with name '{name}' already exists")
    record_audit_event(
        session,
        principal,
        "application.created",
        TARGET,
        application.id,
        after={"name": name, "permissions": _permission_names(wanted)},
    )
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


def _lock_within_ceiling(
    session: Session, principal: Principal | None, settings: Settings, application_id: int
) -> Application | None:
    """The application, locked, once the caller is known to hold all its permissions."""
    application = session.get(Application, application_id, with_for_update=True)
    if application is not None:
        require_within_ceiling(
            principal,
            settings,
            application.permissions,
            what=f"act on application {application_id}",
        )
    return application


def update_permissions(
    session: Session,
    principal: Principal,
    settings: Settings,
    application_id: int,
    permissions: list[Permission] | None,
) -> ApplicationView:
    application = _lock_within_ceiling(session, principal, settings, application_id)
    if application is None:
        raise NotFoundError(f"Application {application_id} doesn't exist")
    if permissions is not None:
        wanted = list(dict.fromkeys(permissions))
        require_within_ceiling(principal, settings, wanted, what="grant permissions")
        before = _permission_names(list(application.permissions))
        application.permissions = wanted
        session.flush()
        record_audit_event(
            session,
            principal,
            "application.permissions_changed",
            TARGET,
            application_id,
            before={"permissions": before},
            after={"permissions": _permission_names(wanted)},
        )
    return _view(application)


def _replace_key(session: Session, application_id: int) -> tuple[Application | None, str]:
    key = generate_api_key()
    application = session.scalar(
        update(Application)
        .where(Application.id == application_id)
        .values(**_key_columns(key))
        .returning(Application)
    )
    return application, key


def rotate_key(
    session: Session, principal: Principal | None, settings: Settings, application_id: int
) -> ApplicationView:
    """Replace another application's key; the old one stops working when the transaction
    commits. The caller receives the key, so it must hold the application's permissions."""
    if _lock_within_ceiling(session, principal, settings, application_id) is None:
        raise _not_found(application_id)
    application, key = _replace_key(session, application_id)
    if application is None:
        raise _not_found(application_id)
    record_audit_event(session, principal, "application.key_rotated", TARGET, application_id)
    return _view(application, key)


def rotate_own_key(session: Session, principal: Principal) -> ApplicationView:
    """Replace the calling application's own key (it holds its permissions by definition)."""
    assert principal.application is not None
    application_id = principal.application.id
    application, key = _replace_key(session, application_id)
    if application is None:
        raise _not_found(application_id)
    record_audit_event(session, principal, "application.key_rotated", TARGET, application_id)
    return _view(application, key)


def delete_application(
    session: Session, principal: Principal, settings: Settings, application_id: int
) -> None:
    application = _lock_within_ceiling(session, principal, settings, application_id)
    if application is None:
        return
    before = {"name": application.name, "permissions": _permission_names(application.permissions)}
    session.execute(delete(Application).where(Application.id == application_id))
    session.expunge(application)
    record_audit_event(
        session, principal, "application.deleted", TARGET, application_id, before=before
    )
