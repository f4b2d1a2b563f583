"""SAML single sign-on end to end, against an identity provider made in the tests; Launchpad
faked at its HTTP edge."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest
import respx
from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import IssuedSamlRequest, Team, User, UserSession
from test_observer.sign_in.metadata import forget_identity_providers
from tests.backend.identity_provider import (
    METADATA_URL,
    SLO_URL,
    SSO_URL,
    TestIdentityProvider,
    decode_redirect,
)
from tests.backend.principals import CSRF, SESSIONS_SECRET

SP = "https://api.example.test"
ACS = f"{SP}/v1/auth/saml/acs"
SLS = f"{SP}/v1/auth/saml/sls"
FRONTEND = "https://frontend.example.test"
LAUNCHPAD = "https://launchpad.example.test/devel"
ISSUED_REQUEST = "_request-sent-by-the-service"


@pytest.fixture
def idp() -> Iterator[TestIdentityProvider]:
    forget_identity_providers()
    yield TestIdentityProvider()
    forget_identity_providers()


@pytest.fixture
def edge(idp: TestIdentityProvider) -> Iterator[respx.MockRouter]:
    """The IdP's metadata and Launchpad, at their HTTP edge."""
    with respx.mock(assert_all_called=False) as router:
        router.get(METADATA_URL).respond(200, content=idp.metadata())
        people = router.get(f"{LAUNCHPAD}/people", params={"ws.op": "getByEmail"})
        people.side_effect = _launchpad_person
        router.get(f"{LAUNCHPAD}/~ada/super_teams").respond(
            200, json={"entries": [{"name": "hw-cert"}, {"name": "canonical"}]}
        )
        yield router


def _launchpad_person(request: httpx.Request) -> httpx.Response:
    if request.url.params["email"] == "ada@example.com":
        return httpx.Response(200, json={"name": "ada", "display_name": "Ada L"})
    return httpx.Response(200, json=None)


@pytest.fixture
def sso(make_client: Callable[..., TestClient]) -> Callable[..., TestClient]:
    def build(**settings: Any) -> TestClient:
        values: dict[str, Any] = {
            "sessions_secret": SESSIONS_SECRET,
            "saml_sp_base_url": SP,
            "saml_idp_metadata_url": METADATA_URL,
            "frontend_url": FRONTEND,
            "launchpad_api_url": LAUNCHPAD,
        }
        values.update(settings)
        client = make_client(**values)
        client.follow_redirects = False
        return client

    return build


def session_cookie(response: httpx.Response) -> str:
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(response.headers["set-cookie"])
    return cookie["session"].value


@pytest.fixture(autouse=True)
def _issued_request(db_session: Session) -> None:
    """The sign-in request the test IdP answers by default, as `GET /saml/login` records it
    (the end-to-end test answers a request it really sent)."""
    expires_at = datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=30)
    db_session.add(IssuedSamlRequest(request_id=ISSUED_REQUEST, expires_at=expires_at))
    db_session.commit()


def signed_response(idp: TestIdentityProvider, **assertion: Any) -> str:
    values: dict[str, Any] = {
        "sp_entity_id": SP,
        "acs_url": ACS,
        "email": "ada@example.com",
        "attributes": {"fullname": "Ada Lovelace"},
        "in_response_to": ISSUED_REQUEST,
    }
    values.update(assertion)
    destination = values.pop("destination", ACS)
    return idp.response(
        idp.assertion(**values), destination=destination, in_response_to=values["in_response_to"]
    )


def post_response(client: TestClient, message: str, relay_state: str | None = None) -> Any:
    form = {"SAMLResponse": message}
    if relay_state is not None:
        form["RelayState"] = relay_state
    return client.post("/v1/auth/saml/acs", data=form)


def test_sign_in_and_out_end_to_end(
    sso: Callable[..., TestClient],
    idp: TestIdentityProvider,
    edge: respx.MockRouter,
    db_session: Session,
) -> None:
    client = sso()
    return_to = f"{FRONTEND}/snaps?page=2"

    login = client.get("/v1/auth/saml/login", params={"return_to": return_to})
    assert login.status_code == 307
    assert login.headers["location"].startswith(SSO_URL + "?")
    request, query = decode_redirect(login.headers["location"])
    assert request.get("AssertionConsumerServiceURL") == ACS
    assert request.get("Destination") == SSO_URL
    assert query["RelayState"] == return_to

    answer = signed_response(idp, in_response_to=request.get("ID"))
    signed_in = post_response(client, answer, query["RelayState"])
    assert signed_in.status_code == 302, signed_in.text
    assert signed_in.headers["location"] == return_to
    cookie = session_cookie(signed_in)
    assert "samesite=lax" in signed_in.headers["set-cookie"].lower()

    me = client.get("/v1/users/me", headers={"Cookie": f"session={cookie}", **CSRF}).json()
    assert me["email"] == "ada@example.com"
    assert me["name"] == "Ada Lovelace"
    assert me["launchpad_handle"] == "ada"
    assert sorted(team["name"] for team in me["teams"]) == ["canonical", "hw-cert"]
    row = db_session.scalars(select(UserSession)).one()
    lifetime = row.expires_at - datetime.now(UTC).replace(tzinfo=None)
    assert timedelta(days=13, hours=23) < lifetime <= timedelta(days=14)

    # The frontend's sign-out: the cookie and the X-CSRF-Token header.
    logout = client.get(
        "/v1/auth/saml/logout",
        params={"return_to": FRONTEND + "/"},
        headers={"Cookie": f"session={cookie}", **CSRF},
    )
    assert logout.status_code == 307
    logout_request, logout_query = decode_redirect(logout.headers["location"])
    assert logout.headers["location"].startswith(SLO_URL + "?")
    name_id = logout_request.find("{urn:oasis:names:tc:SAML:2.0:assertion}NameID")
    assert name_id is not None
    assert name_id.text == "ada@example.com"
    assert db_session.scalar(select(func.count()).select_from(UserSession)) == 0
    again = client.get("/v1/users/me", headers={"Cookie": f"session={cookie}", **CSRF})
    assert again.json() is None

    back = client.get(
        "/v1/auth/saml/sls",
        params={
            "SAMLResponse": idp.logout_response(destination=SLS),
            "RelayState": logout_query["RelayState"],
        },
    )
    assert back.status_code == 302
    assert back.headers["location"] == FRONTEND + "/"


def test_second_sign_in_keeps_teams_added_through_the_api(
    sso: Callable[..., TestClient],
    idp: TestIdentityProvider,
    edge: respx.MockRouter,
    db_session: Session,
) -> None:
    client = sso()
    assert post_response(client, signed_response(idp)).json() == {
        "message": "Authentication successful"
    }
    ada = db_session.scalars(select(User)).one()
    extra = Team(name="reviewers")
    extra.members = [ada]
    db_session.add(extra)
    db_session.commit()

    assert post_response(client, signed_response(idp)).status_code == 200
    teams = db_session.scalars(select(Team.name).join(Team.members).where(User.id == ada.id))
    assert sorted(teams) == ["canonical", "hw-cert", "reviewers"]
    assert db_session.scalar(select(func.count()).select_from(User)) == 1
    assert db_session.scalar(select(func.count()).select_from(UserSession)) == 2


def test_local_login_setting_never_asks_launchpad(
    sso: Callable[..., TestClient],
    idp: TestIdentityProvider,
    edge: respx.MockRouter,
    db_session: Session,
) -> None:
    client = sso(use_local_login=True)
    assert post_response(client, signed_response(idp)).status_code == 200
    user = db_session.scalars(select(User)).one()
    assert user.launchpad_handle is None
    assert db_session.scalars(select(Team)).all() == []
    assert not edge.routes[1].called


def test_launchpad_outage_does_not_stop_sign_in(
    sso: Callable[..., TestClient],
    idp: TestIdentityProvider,
    edge: respx.MockRouter,
    db_session: Session,
) -> None:
    edge.routes[1].side_effect = httpx.ConnectError("down")
    response = post_response(sso(), signed_response(idp))
    assert response.status_code == 200
    assert db_session.scalars(select(User.launchpad_handle)).one() is None


def test_redirects_only_go_to_the_frontend(
    sso: Callable[..., TestClient], idp: TestIdentityProvider, edge: respx.MockRouter
) -> None:
    client = sso()
    login = client.get("/v1/auth/saml/login", params={"return_to": "https://evil.example/"})
    _, query = decode_redirect(login.headers["location"])
    assert "RelayState" not in query

    foreign = post_response(client, signed_response(idp), "https://evil.example/x")
    assert (foreign.status_code, foreign.headers["location"]) == (302, FRONTEND)
    other_port = post_response(client, signed_response(idp), FRONTEND + ":8443/x")
    assert other_port.headers["location"] == FRONTEND

    out = client.get(
        "/v1/auth/saml/logout", params={"return_to": "https://evil.example/"}, headers=CSRF
    )
    # Nobody was signed in: no single logout, straight back to the frontend.
    assert (out.status_code, out.headers["location"]) == (307, FRONTEND)
    sls = client.get(
        "/v1/auth/saml/sls",
        params={
            "SAMLResponse": idp.logout_response(destination=SLS),
            "RelayState": "https://evil.example/",
        },
    )
    assert (sls.status_code, sls.json()) == (200, None)


# Refusals ---------------------------------------------------------------------------------------


def _refused(response: Any) -> None:
    assert (response.status_code, response.json()) == (403, {"detail": "Authentication failed"})


def test_tampered_signature_is_refused(
    sso: Callable[..., TestClient],
    idp: TestIdentityProvider,
    edge: respx.MockRouter,
    db_session: Session,
) -> None:
    document = base64.b64decode(signed_response(idp))
    tampered = document.replace(b"ada@example.com", b"eve@example.com")
    assert tampered != document
    _refused(post_response(sso(), base64.b64encode(tampered).decode()))
    assert db_session.scalars(select(User)).all() == []


def test_signature_of_another_key_is_refused(
    sso: Callable[..., TestClient], idp: TestIdentityProvider, edge: respx.MockRouter
) -> None:
    impostor = TestIdentityProvider()
    _refused(post_response(sso(), signed_response(impostor)))


def test_unsigned_assertion_is_refused(
    sso: Callable[..., TestClient], idp: TestIdentityProvider, edge: respx.MockRouter
) -> None:
    document = etree.fromstring(base64.b64decode(signed_response(idp)))
    for signature in document.findall(".//{http://www.w3.org/2000/09/xmldsig#}Signature"):
        signature.getparent().remove(signature)
    _refused(post_response(sso(), base64.b64encode(etree.tostring(document)).decode()))


def test_wrapped_assertion_is_refused(
    sso: Callable[..., TestClient], idp: TestIdentityProvider, edge: respx.MockRouter
) -> None:
    """A second, unsigned assertion next to a validly signed one is not trusted."""
    document = etree.fromstring(base64.b64decode(signed_response(idp, email="eve@example.com")))
    genuine = etree.fromstring(base64.b64decode(signed_response(idp)))
    assertion = genuine.find("{urn:oasis:names:tc:SAML:2.0:assertion}Assertion")
    document.insert(2, assertion)
    _refused(post_response(sso(), base64.b64encode(etree.tostring(document)).decode()))


def test_wrong_audience_is_refused(
    sso: Callable[..., TestClient], idp: TestIdentityProvider, edge: respx.MockRouter
) -> None:
    _refused(post_response(sso(), signed_response(idp, audience="https://other-sp.example")))


def test_wrong_destination_and_recipient_are_refused(
    sso: Callable[..., TestClient], idp: TestIdentityProvider, edge: respx.MockRouter
) -> None:
    client = sso()
    _refused(post_response(client, signed_response(idp, destination="https://other/acs")))
    _refused(post_response(client, signed_response(idp, acs_url="https://other/acs")))


def test_expired_and_future_assertions_are_refused(
    sso: Callable[..., TestClient], idp: TestIdentityProvider, edge: respx.MockRouter
) -> None:
    client = sso()
    past = datetime.now(UTC) - timedelta(hours=1)
    _refused(post_response(client, signed_response(idp, issued=past)))
    future = datetime.now(UTC) + timedelta(hours=1)
    _refused(post_response(client, signed_response(idp, issued=future)))


def test_replayed_assertion_is_refused(
    sso: Callable[..., TestClient],
    idp: TestIdentityProvider,
    edge: respx.MockRouter,
    db_session: Session,
) -> None:
    client = sso()
    message = signed_response(idp)
    assert post_response(client, message).status_code == 200
    _refused(post_response(client, message))
    assert db_session.scalar(select(func.count()).select_from(UserSession)) == 1


def test_failed_status_is_refused(
    sso: Callable[..., TestClient], idp: TestIdentityProvider, edge: respx.MockRouter
) -> None:
    assertion = idp.assertion(
        sp_entity_id=SP, acs_url=ACS, email="ada@example.com", attributes={"fullname": "Ada"}
    )
    message = idp.response(
        assertion, destination=ACS, status="urn:oasis:names:tc:SAML:2.0:status:Responder"
    )
    _refused(post_response(sso(), message))


def test_missing_fullname_is_a_client_error(
    sso: Callable[..., TestClient],
    idp: TestIdentityProvider,
    edge: respx.MockRouter,
    db_session: Session,
) -> None:
    response = post_response(sso(), signed_response(idp, attributes={"mail": "x"}))
    assert response.status_code == 400
    assert "fullname" in response.json()["detail"]
    assert db_session.scalars(select(User)).all() == []


def test_malformed_posts_are_client_errors(
    sso: Callable[..., TestClient], idp: TestIdentityProvider, edge: respx.MockRouter
) -> None:
    client = sso()
    assert client.post("/v1/auth/saml/acs", data={}).status_code == 400
    assert post_response(client, "not base64 at all!").status_code == 400
    assert post_response(client, base64.b64encode(b"<not-closed").decode()).status_code == 400
    entity = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>'
    assert post_response(client, base64.b64encode(entity).decode()).status_code == 400
    json_body = client.post("/v1/auth/saml/acs", json={"SAMLResponse": "x"})
    assert json_body.status_code == 400


def test_identity_provider_problems_are_clear_503s(
    sso: Callable[..., TestClient], idp: TestIdentityProvider, edge: respx.MockRouter
) -> None:
    edge.routes[0].respond(500)
    failed = sso().get("/v1/auth/saml/login")
    assert failed.status_code == 503
    assert "metadata" in failed.json()["detail"]

    forget_identity_providers()
    edge.routes[0].respond(200, content=b"<html>not metadata</html>")
    invalid = sso().post("/v1/auth/saml/acs", data={"SAMLResponse": signed_response(idp)})
    assert invalid.status_code == 503
    assert "invalid" in invalid.json()["detail"]

    unconfigured = sso(saml_idp_metadata_url="").get("/v1/auth/saml/login")
    assert unconfigured.status_code == 404
    assert unconfigured.json() == {"detail": "Single sign-on is not configured"}


def test_logout_response_problems(
    sso: Callable[..., TestClient], idp: TestIdentityProvider, edge: respx.MockRouter
) -> None:
    client = sso()
    assert client.get("/v1/auth/saml/sls").status_code == 400
    failed = client.get(
        "/v1/auth/saml/sls",
        params={
            "SAMLResponse": idp.logout_response(
                destination=SLS, status="urn:oasis:names:tc:SAML:2.0:status:Requester"
            )
        },
    )
    assert (failed.status_code, failed.json()) == (400, {"detail": "Logout failed"})
    elsewhere = client.get(
        "/v1/auth/saml/sls",
        params={"SAMLResponse": idp.logout_response(destination="https://other/sls")},
    )
    assert elsewhere.status_code == 400


def test_requests_are_signed_with_the_service_provider_key(
    sso: Callable[..., TestClient], idp: TestIdentityProvider, edge: respx.MockRouter
) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.x509 import load_pem_x509_certificate

    from tests.backend.identity_provider import key_and_certificate

    key, certificate = key_and_certificate("service provider")
    client = sso(saml_sp_x509_cert=certificate, saml_sp_key=key)
    location = client.get("/v1/auth/saml/login", params={"return_to": FRONTEND}).headers["location"]
    query = location.split("?", 1)[1]
    signed_part, _, signature = query.rpartition("&Signature=")
    _, params = decode_redirect(location)
    assert params["SigAlg"] == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    public_key = load_pem_x509_certificate(certificate.encode()).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(
        base64.b64decode(params["Signature"]),
        signed_part.encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    assert signature
