"""Signing in: provisioning the user, creating the session; signing out."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import delete, func, literal, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from test_observer.audit.service import SYSTEM, Change, record_audit_events
from test_observer.db.models import (
    ConsumedAssertion,
    IssuedSamlRequest,
    SignInLink,
    Team,
    User,
    UserSession,
    team_users_association,
)
from test_observer.errors import BadRequestError, ForbiddenError, NotFoundError, UnavailableError
from test_observer.settings import Settings

from . import saml
from .launchpad import Launchpad, LaunchpadError
from .metadata import IdentityProvider, identity_provider

logger = logging.getLogger(__name__)

SESSION_LIFETIME = timedelta(days=14)
SIGN_IN_LINK_LIFETIME = timedelta(minutes=15)
# How long a person may take at the identity provider's page before signing in.
SAML_REQUEST_LIFETIME = timedelta(minutes=30)
NAME_ATTRIBUTE = "fullname"
AUTHENTICATION_FAILED = "Authentication failed"
UTC_NOW = text("timezone('utc', now())")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def service_provider(settings: Settings) -> saml.ServiceProvider:
    return saml.ServiceProvider(
        base_url=settings.saml_sp_base_url,
        certificate=settings.saml_sp_x509_cert,
        private_key=settings.saml_sp_key,
    )


def configured_identity_provider(settings: Settings) -> IdentityProvider:
    if not settings.saml_configured:
        hint = (
            "; sign in with a link from `test-observer admin login-url`"
            if settings.use_local_login
            else ""
        )
        # Permanent for this deployment, not a passing outage: 404, never a 503 to retry.
        raise NotFoundError("Single sign-on is not configured" + hint)
    return identity_provider(settings.saml_idp_metadata_url)


def safe_return_url(settings: Settings, url: str | None) -> str | None:
    """`url` if it leads to the frontend's host[:port], else None: never an open redirect."""
    if not url:
        return None
    target = urlsplit(url)
    frontend = urlsplit(settings.frontend_url)
    if target.scheme not in ("http", "https") or target.netloc != frontend.netloc:
        return None
    return url


def login_redirect(session: Session, settings: Settings, return_to: str | None) -> str:
    """The IdP's sign-in page, with a request whose id is remembered until it expires."""
    idp = configured_identity_provider(settings)
    request_id = saml.new_id()
    now = _now()
    session.execute(delete(IssuedSamlRequest).where(IssuedSamlRequest.expires_at < now))
    session.add(IssuedSamlRequest(request_id=request_id, expires_at=now + SAML_REQUEST_LIFETIME))
    return saml.login_url(
        service_provider(settings), idp, safe_return_url(settings, return_to), request_id
    )


def _check_solicited(session: Session, assertion: saml.Assertion) -> None:
    """Accept only an answer to a request this service sent and that has not expired. (The
    request may be answered more than once while it lasts, e.g. from two tabs; each assertion
    is still accepted once.)"""
    if assertion.in_response_to is None:
        logger.warning("refused an unsolicited SAML response for %s", assertion.name_id)
        raise ForbiddenError(AUTHENTICATION_FAILED)
    issued = session.scalar(
        select(IssuedSamlRequest.id).where(
            IssuedSamlRequest.request_id == assertion.in_response_to,
            IssuedSamlRequest.expires_at > _now(),
        )
    )
    if issued is None:
        logger.warning(
            "refused a SAML response to an unknown or expired request %s",
            assertion.in_response_to,
        )
        raise ForbiddenError(AUTHENTICATION_FAILED)


def _consume_assertion(session: Session, assertion: saml.Assertion) -> None:
    """Accept each assertion once: a second use, even concurrent, is refused."""
    session.execute(delete(ConsumedAssertion).where(ConsumedAssertion.expires_at < _now()))
    inserted = session.scalar(
        insert(ConsumedAssertion)
        .values(assertion_id=assertion.id, expires_at=assertion.expires_at)
        .on_conflict_do_nothing(index_elements=["assertion_id"])
        .returning(ConsumedAssertion.id)
    )
    if inserted is None:
        logger.warning("refused a replayed SAML assertion %s", assertion.id)
        raise ForbiddenError(AUTHENTICATION_FAILED)


def sign_in_with_saml(session: Session, settings: Settings, saml_response: str | None) -> int:
    """Check the IdP's response, provision its user and open a session; the session's id."""
    if not saml_response:
        raise BadRequestError("SAMLResponse is missing")
    idp = configured_identity_provider(settings)
    try:
        assertion = saml.parse_login_response(service_provider(settings), idp, saml_response)
    except saml.MalformedMessageError as error:
        logger.warning("malformed SAML response: %s", error)
        raise BadRequestError("SAMLResponse is not a SAML response") from error
    except saml.SamlError as error:
        logger.warning("refused SAML response: %s", error)
        raise ForbiddenError(AUTHENTICATION_FAILED) from error
    names = [name.strip() for name in assertion.attributes.get(NAME_ATTRIBUTE, []) if name.strip()]
    if not names:
        raise BadRequestError(
            f"The identity provider sent no '{NAME_ATTRIBUTE}' attribute for {assertion.name_id}"
        )
    _check_solicited(session, assertion)
    _consume_assertion(session, assertion)
    user_id = provision_user(session, settings, assertion.name_id, names[0])
    return open_session(session, user_id)


def provision_user(session: Session, settings: Settings, email: str, name: str) -> int:
    """Create or refresh the user signing in, and bring their Launchpad-linked teams in line.

    Only teams linked to a Launchpad team (`team.launchpad_team`) are joined or left here;
    memberships of other teams, granted through the API, stay as they are. A Launchpad outage
    does not stop the sign-in; the teams are then brought up to date at the next one.
    """
    handle: str | None = None
    teams: list[str] | None = None
    if not settings.use_local_login:
        try:
            person = Launchpad(settings.launchpad_api_url).person_by_email(email)
        except LaunchpadError as error:
            logger.warning("%s; signing in without refreshing teams", error)
        else:
            # Launchpad knowing nobody with this email is an answer: the person is in no team.
            handle, teams = (person.handle, person.teams) if person else (None, [])
    user_id = _upsert_user(session, email, name, handle)
    if teams is not None:
        _sync_linked_teams(session, user_id, teams)
    return user_id


def _sync_linked_teams(session: Session, user_id: int, launchpad_teams: list[str]) -> None:
    """Make the user a member of exactly the linked teams whose Launchpad team they are in.

    A Launchpad team no team follows yet gets a new team of that name, linked to it, unless a
    team of that name exists: a team created or granted through the API is never joined because
    of its name.
    """
    changes: list[Change] = []
    if launchpad_teams:
        created = session.execute(
            insert(Team)
            .values([{"name": team, "launchpad_team": team} for team in launchpad_teams])
            .on_conflict_do_nothing()
            .returning(Team.id, Team.name)
        ).all()
        changes += [
            Change(
                "team.created", "team", row.id, after={"name": row.name, "launchpad_team": row.name}
            )
            for row in created
        ]
    members = team_users_association
    linked = select(Team.id).where(Team.launchpad_team.is_not(None))
    left = session.scalars(
        delete(members)
        .where(
            members.c.user_id == user_id,
            members.c.team_id.in_(linked.where(Team.launchpad_team.not_in(launchpad_teams))),
        )
        .returning(members.c.team_id)
    ).all()
    joined = (
        session.scalars(
            insert(members)
            .from_select(
                ["user_id", "team_id"],
                select(literal(user_id), Team.id).where(Team.launchpad_team.in_(launchpad_teams)),
            )
            .on_conflict_do_nothing()
            .returning(members.c.team_id)
        ).all()
        if launchpad_teams
        else []
    )
    changes += [
        Change("team.member_removed", "team", team_id, before={"user_id": user_id})
        for team_id in left
    ]
    changes += [
        Change("team.member_added", "team", team_id, after={"user_id": user_id})
        for team_id in joined
    ]
    # The service acts on Launchpad's word, not on the signing-in user's.
    record_audit_events(session, SYSTEM, changes)


def _upsert_user(session: Session, email: str, name: str, handle: str | None) -> int:
    """The user's id; the name follows the IdP, the handle follows Launchpad when it answered."""
    values = insert(User).values(email=email, name=name, launchpad_handle=handle)
    statement = values.on_conflict_do_update(
        index_elements=["email"],
        set_={
            "name": values.excluded.name,
            "launchpad_handle": func.coalesce(
                values.excluded.launchpad_handle, User.launchpad_handle
            ),
            "updated_at": UTC_NOW,
        },
    ).returning(User.id)
    user_id: int = session.execute(statement).scalar_one()
    return user_id


def open_session(session: Session, user_id: int) -> int:
    row = UserSession(user_id=user_id, expires_at=_now() + SESSION_LIFETIME)
    session.add(row)
    session.flush()
    return row.id


def sign_out(session: Session, session_id: object) -> str | None:
    """Delete the session row; the signed-out user's email (for the IdP), if there was one."""
    if not isinstance(session_id, int):
        return None
    email = session.scalar(
        select(User.email)
        .join(UserSession, UserSession.user_id == User.id)
        .where(UserSession.id == session_id)
    )
    session.execute(delete(UserSession).where(UserSession.id == session_id))
    return email


def logout_redirect(settings: Settings, email: str | None, return_to: str | None) -> str:
    """Where the browser goes after signing out: the IdP's single logout when there is one."""
    safe = safe_return_url(settings, return_to)
    if email and settings.saml_configured:
        try:
            idp = identity_provider(settings.saml_idp_metadata_url)
        except UnavailableError as error:
            # Signing out here already happened; the IdP session ends on its own.
            logger.warning("no single logout: %s", error)
        else:
            url = saml.logout_url(service_provider(settings), idp, email, safe)
            if url is not None:
                return url
    return safe or settings.frontend_url


def check_logout_response(
    settings: Settings,
    message: str | None,
    *,
    deflated: bool,
    signed_query: tuple[str, str, str] | None,
) -> None:
    if not message:
        raise BadRequestError("Logout failed: SAMLResponse is missing")
    idp = configured_identity_provider(settings)
    try:
        saml.check_logout_response(
            service_provider(settings), idp, message, deflated=deflated, signed_query=signed_query
        )
    except saml.SamlError as error:
        logger.warning("refused SAML logout response: %s", error)
        raise BadRequestError("Logout failed") from error


# Development sign-in links ----------------------------------------------------------------------


def local_sign_in_enabled(settings: Settings) -> bool:
    return settings.use_local_login and not settings.saml_configured


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_sign_in_link(
    session: Session, settings: Settings, email: str, name: str | None = None
) -> str:
    """A one-time link signing `email` in (created if new), valid for 15 minutes."""
    if not local_sign_in_enabled(settings):
        raise BadRequestError(
            "sign-in links need USE_LOCAL_LOGIN=true and no SAML_IDP_METADATA_URL"
        )
    if "@" not in email:
        raise BadRequestError(f"{email!r} is not an email address")
    statement = insert(User).values(email=email, name=name or email.split("@")[0])
    session.execute(statement.on_conflict_do_nothing(index_elements=["email"]))
    token = secrets.token_urlsafe(32)
    session.add(
        SignInLink(
            token_digest=_digest(token), email=email, expires_at=_now() + SIGN_IN_LINK_LIFETIME
        )
    )
    session.flush()
    return f"{settings.saml_sp_base_url}/v1/auth/local/login?token={token}"


def sign_in_with_link(session: Session, settings: Settings, token: str) -> int:
    """Use a sign-in link (once); the new session's id."""
    if not local_sign_in_enabled(settings):
        raise NotFoundError("Local sign-in is disabled")
    email = session.scalar(
        delete(SignInLink)
        .where(SignInLink.token_digest == _digest(token), SignInLink.expires_at > _now())
        .returning(SignInLink.email)
    )
    if email is None:
        raise ForbiddenError("This sign-in link is invalid, expired or already used")
    user_id = session.scalar(select(User.id).where(User.email == email))
    if user_id is None:
        raise ForbiddenError("This sign-in link's user no longer exists")
    return open_session(session, user_id)
