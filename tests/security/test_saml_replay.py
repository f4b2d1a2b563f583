"""Sign-in and sign-out cannot be started by someone else.

Attacks: posting a response the IdP signed without this service asking (an unsolicited or
IdP-initiated response, or one answering somebody else's or an expired request); changing the
unsigned `InResponseTo`; signing a user out from another site with a link; serving the IdP's
metadata (its signing certificates) over plain HTTP or through a redirect to another host.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any

import pytest
import respx
from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import IssuedSamlRequest, UserSession
from test_observer.errors import UnavailableError
from test_observer.settings import SettingsError, load_settings
from test_observer.sign_in.metadata import fetch_metadata, forget_identity_providers
from tests.backend.identity_provider import (
    METADATA_URL,
    SLO_URL,
    SSO_URL,
    TestIdentityProvider,
    decode_redirect,
)
from tests.backend.principals import CSRF, login, make_user

SP = "https://api.example.test"
ACS = f"{SP}/v1/auth/saml/acs"
FRONTEND = "https://frontend.example.test"
LAUNCHPAD = "https://launchpad.example.test/devel"


@pytest.fixture
def idp() -> Iterator[TestIdentityProvider]:
    forget_identity_providers()
    yield TestIdentityProvider()
    forget_identity_providers()


@pytest.fixture
def metadata(idp: TestIdentityProvider) -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        router.get(METADATA_URL).respond(200, content=idp.metadata())
        router.get(f"{LAUNCHPAD}/people").respond(200, json=None)
        yield router


@pytest.fixture
def sso(edge_client: Callable[..., TestClient]) -> Callable[..., TestClient]:
    def build(**settings: Any) -> TestClient:
        client = edge_client(
            saml_sp_base_url=SP,
            saml_idp_metadata_url=METADATA_URL,
            frontend_url=FRONTEND,
            launchpad_api_url=LAUNCHPAD,
            use_local_login=True,  # Launchpad is not asked about people
            **settings,
        )
        client.follow_redirects = False
        return client

    return build


def _response(
    idp: TestIdentityProvider, in_response_to: str | None, outer: str | None = None
) -> str:
    """A signed assertion answering `in_response_to`, in an unsigned response answering
    `outer` (when given)."""
    assertion = idp.assertion(
        sp_entity_id=SP,
        acs_url=ACS,
        email="ada@example.com",
        attributes={"fullname": "Ada Lovelace"},
        in_response_to=in_response_to,
    )
    return idp.response(assertion, destination=ACS, in_response_to=outer)


def _sent_request_id(client: TestClient) -> str:
    started = client.get("/v1/auth/saml/login")
    assert started.status_code == 307, started.text
    request, _ = decode_redirect(started.headers["location"])
    request_id = request.get("ID")
    assert request_id
    return str(request_id)


def _post(client: TestClient, message: str) -> Any:
    return client.post("/v1/auth/saml/acs", data={"SAMLResponse": message})


def test_a_response_to_a_request_this_service_sent_signs_in(
    sso: Callable[..., TestClient],
    idp: TestIdentityProvider,
    metadata: respx.MockRouter,
    edge_db: Session,
) -> None:
    client = sso()
    signed_in = _post(client, _response(idp, _sent_request_id(client)))
    assert signed_in.status_code == 200, signed_in.text


@pytest.mark.parametrize("in_response_to", [None, "_a-request-nobody-sent"])
def test_an_unsolicited_response_is_refused(
    sso: Callable[..., TestClient],
    idp: TestIdentityProvider,
    metadata: respx.MockRouter,
    edge_db: Session,
    in_response_to: str | None,
) -> None:
    client = sso()
    _sent_request_id(client)  # a request exists, but the response does not answer it
    refused = _post(client, _response(idp, in_response_to))
    assert refused.status_code == 403
    assert refused.json() == {"detail": "Authentication failed"}
    assert edge_db.scalar(select(func.count()).select_from(UserSession)) == 0


def test_a_response_to_an_expired_request_is_refused(
    sso: Callable[..., TestClient],
    idp: TestIdentityProvider,
    metadata: respx.MockRouter,
    edge_db: Session,
) -> None:
    client = sso()
    request_id = _sent_request_id(client)
    row = edge_db.scalars(select(IssuedSamlRequest)).one()
    assert row.request_id == request_id
    row.expires_at = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
    edge_db.commit()
    assert _post(client, _response(idp, request_id)).status_code == 403


def test_the_unsigned_in_response_to_cannot_be_changed(
    sso: Callable[..., TestClient],
    idp: TestIdentityProvider,
    metadata: respx.MockRouter,
    edge_db: Session,
) -> None:
    """Only the assertion is signed: the response's own InResponseTo is the attacker's to
    write, and naming a real request there does not make a foreign assertion acceptable."""
    client = sso()
    request_id = _sent_request_id(client)
    message = _response(idp, "_another-services-request", outer=request_id)
    document = etree.fromstring(base64.b64decode(message))
    assert document.get("InResponseTo") == request_id
    assert _post(client, message).status_code == 403


def _sessions(db: Session) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(UserSession)) or 0)


def test_a_link_from_another_site_does_not_sign_out(
    sso: Callable[..., TestClient], metadata: respx.MockRouter, edge_db: Session
) -> None:
    client = sso()
    cookie = login(edge_db, make_user(edge_db, "ada@example.com"))
    navigation = client.get(
        "/v1/auth/saml/logout",
        params={"return_to": FRONTEND + "/"},
        headers={"Cookie": f"session={cookie}"},
    )
    # A page asking to confirm, not a sign-out.
    assert navigation.status_code == 200
    assert "<form" in navigation.text
    assert _sessions(edge_db) == 1
    page_cookie = SimpleCookie()
    page_cookie.load(navigation.headers["set-cookie"])
    with_token = page_cookie["session"].value
    token = re.search(r'name="token" value="([^"]+)"', navigation.text)
    assert token is not None

    # What another site can send: the cookie (SameSite=Lax allows a top-level form post to
    # carry it in some browsers' grace periods) but neither the header nor the page's token.
    for form in ({}, {"token": "guessed"}):
        forged = client.post(
            "/v1/auth/saml/logout", data=form, headers={"Cookie": f"session={with_token}"}
        )
        assert forged.status_code == 403
    assert _sessions(edge_db) == 1

    confirmed = client.post(
        "/v1/auth/saml/logout",
        params={"return_to": FRONTEND + "/"},
        data={"token": token.group(1)},
        headers={"Cookie": f"session={with_token}"},
    )
    assert confirmed.status_code == 303
    assert confirmed.headers["location"].startswith(SLO_URL + "?")
    assert _sessions(edge_db) == 0


def test_the_frontend_signs_out_with_the_csrf_header(
    sso: Callable[..., TestClient], metadata: respx.MockRouter, edge_db: Session
) -> None:
    client = sso()
    cookie = login(edge_db, make_user(edge_db, "ada@example.com"))
    signed_out = client.post(
        "/v1/auth/saml/logout",
        params={"return_to": FRONTEND + "/"},
        headers={"Cookie": f"session={cookie}", **CSRF},
    )
    assert signed_out.status_code == 200
    assert signed_out.json()["redirect_to"].startswith(SLO_URL + "?")
    assert _sessions(edge_db) == 0


def test_metadata_over_plain_http_is_refused(edge_db: Session) -> None:
    with pytest.raises(SettingsError, match="SAML_IDP_METADATA_URL"):
        load_settings(saml_idp_metadata_url="http://idp.example.test/metadata")
    with pytest.raises(UnavailableError, match="https"):
        fetch_metadata("http://idp.example.test/metadata")


def test_a_redirect_to_another_host_is_not_followed(
    sso: Callable[..., TestClient], idp: TestIdentityProvider, edge_db: Session
) -> None:
    with respx.mock(assert_all_called=False) as router:
        router.get(METADATA_URL).respond(
            302, headers={"Location": "https://attacker.example/metadata"}
        )
        elsewhere = router.get("https://attacker.example/metadata").respond(
            200, content=idp.metadata()
        )
        refused = sso().get("/v1/auth/saml/login")
    assert refused.status_code == 503
    assert "another host" in refused.json()["detail"]
    assert not elsewhere.called


def test_a_redirect_within_the_host_is_followed(
    sso: Callable[..., TestClient], idp: TestIdentityProvider, edge_db: Session
) -> None:
    moved = METADATA_URL.rsplit("/", 1)[0] + "/moved/metadata"
    with respx.mock(assert_all_called=False) as router:
        router.get(METADATA_URL).respond(301, headers={"Location": "/moved/metadata"})
        router.get(moved).respond(200, content=idp.metadata())
        started = sso().get("/v1/auth/saml/login")
    assert started.status_code == 307
    assert started.headers["location"].startswith(SSO_URL + "?")
