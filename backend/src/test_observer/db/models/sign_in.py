"""What sign-in needs to remember briefly: the SAML requests sent to the identity provider,
consumed SAML assertions and one-time sign-in links."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Entity


class IssuedSamlRequest(Entity):
    """An authentication request this service sent to the identity provider. A response is
    accepted only `InResponseTo` one of these, until it expires: the IdP cannot be made to sign
    a user in who did not start signing in here (unsolicited responses)."""

    __tablename__ = "issued_saml_request"

    request_id: Mapped[str] = mapped_column(String(), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(), index=True)


class ConsumedAssertion(Entity):
    """A SAML assertion already used to sign in. Its id is refused until it expires, so a
    captured response cannot be posted again."""

    __tablename__ = "consumed_assertion"

    assertion_id: Mapped[str] = mapped_column(String(), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(), index=True)


class SignInLink(Entity):
    """A one-time sign-in link for development deployments without an identity provider.

    Only a digest of the link's token is stored."""

    __tablename__ = "sign_in_link"

    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String())
    expires_at: Mapped[datetime] = mapped_column(DateTime(), index=True)
