"""The SAML 2.0 Web Browser SSO profile, as a service provider.

Requests go to the IdP with the HTTP-Redirect binding; responses come back with HTTP-POST.
XML signatures are checked with signxml against the certificates in the IdP's metadata; only
the element the signature covers is read afterwards, so content added around a signed assertion
(signature wrapping) is never trusted. Encrypted assertions are not supported.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode
from xml.sax.saxutils import escape, quoteattr

from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import load_pem_x509_certificate
from lxml import etree

from .metadata import IdentityProvider
from .xml import NS, parse_xml

EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
POST_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
# Tolerated difference between our clock and the IdP's.
CLOCK_SKEW = timedelta(seconds=90)


class SamlError(Exception):
    """The message is not acceptable; the text says why (for logs, not for clients)."""


class MalformedMessageError(SamlError):
    """Not a SAML message at all (bad encoding or XML)."""


@dataclass(frozen=True)
class ServiceProvider:
    base_url: str
    certificate: str = ""  # PEM
    private_key: str = ""  # PEM

    @property
    def entity_id(self) -> str:
        return self.base_url

    @property
    def acs_url(self) -> str:
        return f"{self.base_url}/v1/auth/saml/acs"

    @property
    def sls_url(self) -> str:
        return f"{self.base_url}/v1/auth/saml/sls"


@dataclass(frozen=True)
class Assertion:
    id: str
    name_id: str
    expires_at: datetime  # naive UTC
    session_index: str | None
    attributes: dict[str, list[str]] = field(default_factory=dict)
    # The id of the request this assertion answers; None for an unsolicited response.
    in_response_to: str | None = None


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _instant(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_instant(value: str | None, what: str) -> datetime:
    if not value:
        raise SamlError(f"{what} is missing")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SamlError(f"{what} is not a time: {value!r}") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def new_id() -> str:
    # IDs must not start with a digit (xs:ID).
    return "_" + secrets.token_hex(20)


# Requests (HTTP-Redirect binding) ----------------------------------------------------------------


def _redirect_url(
    sp: ServiceProvider, destination: str, kind: str, message: str, relay_state: str | None
) -> str:
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    encoded = base64.b64encode(deflater.compress(message.encode()) + deflater.flush()).decode()
    params = [(kind, encoded)]
    if relay_state:
        params.append(("RelayState", relay_state))
    if sp.private_key:
        params.append(("SigAlg", RSA_SHA256))
        key = serialization.load_pem_private_key(sp.private_key.encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise SamlError("SAML_SP_KEY must be an RSA key")
        # The signature covers the query string exactly as sent (SAML bindings, 3.4.4.1).
        signature = key.sign(urlencode(params).encode(), padding.PKCS1v15(), hashes.SHA256())
        params.append(("Signature", base64.b64encode(signature).decode()))
    separator = "&" if "?" in destination else "?"
    return destination + separator + urlencode(params)


def login_url(
    sp: ServiceProvider, idp: IdentityProvider, relay_state: str | None, request_id: str
) -> str:
    """Where to send the browser to sign in; `request_id` (from `new_id`) names the request,
    which the IdP's response must answer."""
    request = (
        '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
        f'ID={quoteattr(request_id)} Version="2.0" IssueInstant="{_instant(_now())}" '
        f"Destination={quoteattr(idp.sso_url)} ProtocolBinding={quoteattr(POST_BINDING)} "
        f"AssertionConsumerServiceURL={quoteattr(sp.acs_url)}>"
        f"<saml:Issuer>{escape(sp.entity_id)}</saml:Issuer>"
        f'<samlp:NameIDPolicy Format="{EMAIL_FORMAT}" AllowCreate="true"/>'
        "</samlp:AuthnRequest>"
    )
    return _redirect_url(sp, idp.sso_url, "SAMLRequest", request, relay_state)


def logout_url(
    sp: ServiceProvider, idp: IdentityProvider, name_id: str, relay_state: str | None
) -> str | None:
    if not idp.slo_url:
        return None
    request = (
        '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
        f'ID="{new_id()}" Version="2.0" IssueInstant="{_instant(_now())}" '
        f"Destination={quoteattr(idp.slo_url)}>"
        f"<saml:Issuer>{escape(sp.entity_id)}</saml:Issuer>"
        f'<saml:NameID Format="{EMAIL_FORMAT}">{escape(name_id)}</saml:NameID>'
        "</samlp:LogoutRequest>"
    )
    return _redirect_url(sp, idp.slo_url, "SAMLRequest", request, relay_state)


# Responses --------------------------------------------------------------------------------------


def _decode(message: str, *, deflated: bool) -> etree._Element:
    try:
        raw = base64.b64decode(message, validate=False)
        if deflated:
            raw = zlib.decompress(raw, -15)
        return parse_xml(raw)
    except (binascii.Error, zlib.error, ValueError, etree.XMLSyntaxError) as error:
        raise MalformedMessageError(f"not a SAML message: {error}") from error


def _verified(element_bytes: bytes, idp: IdentityProvider) -> etree._Element:
    """The element covered by a valid signature of one of the IdP's certificates."""
    # Imported on the first sign-in rather than with the app: signxml is a sixth of the
    # app's import time, and most processes (workers, the CLI, instances without SAML) never
    # verify a signature.
    from signxml.exceptions import InvalidInput, InvalidSignature
    from signxml.verifier import XMLVerifier

    failures = []
    for certificate in idp.certificates:
        try:
            result = XMLVerifier().verify(element_bytes, x509_cert=certificate)
        except (InvalidSignature, InvalidInput) as error:
            failures.append(str(error))
            continue
        signed = result.signed_xml  # type: ignore[union-attr]
        if signed is None:
            break
        return signed
    raise SamlError(f"signature not valid: {'; '.join(failures) or 'nothing signed'}")


def _check_status(root: etree._Element) -> None:
    status = root.find("samlp:Status/samlp:StatusCode", NS)
    if status is None or status.get("Value") != SUCCESS:
        value = status.get("Value") if status is not None else None
        raise SamlError(f"the identity provider answered {value!r}")


def _check_issuer(element: etree._Element, idp: IdentityProvider, required: bool) -> None:
    issuer = element.find("saml:Issuer", NS)
    if issuer is None:
        if required:
            raise SamlError("no Issuer")
        return
    if (issuer.text or "").strip() != idp.entity_id:
        raise SamlError(f"issued by {issuer.text!r}, not {idp.entity_id!r}")


def parse_login_response(
    sp: ServiceProvider, idp: IdentityProvider, message: str, now: datetime | None = None
) -> Assertion:
    """Check a posted `SAMLResponse` and return its assertion.

    Checks: the signature (of the response or of the assertion) by the IdP; exactly one
    assertion; issuer; status; destination and recipient (our ACS URL); audience (our entity
    id); the validity window of the conditions and of the bearer confirmation. The request the
    response answers (`in_response_to`, read from what the signature covers) is the caller's to
    check.
    """
    now = now or _now()
    root = _decode(message, deflated=False)
    if root.tag != f"{{{NS['samlp']}}}Response":
        raise SamlError("not a Response")
    if root.findall(".//saml:EncryptedAssertion", NS):
        raise SamlError("encrypted assertions are not supported")
    if len(root.findall(".//saml:Assertion", NS)) != 1:
        raise SamlError("a response must hold exactly one assertion")
    _check_status(root)
    destination = root.get("Destination")
    if destination is not None and destination != sp.acs_url:
        raise SamlError(f"sent to {destination!r}, not to {sp.acs_url!r}")

    signed = _verified(etree.tostring(root), idp)
    if signed.tag == f"{{{NS['samlp']}}}Response":
        assertions = signed.findall("saml:Assertion", NS)
        if len(assertions) != 1:
            raise SamlError("the signed response holds no assertion")
        assertion = assertions[0]
    elif signed.tag == f"{{{NS['saml']}}}Assertion":
        assertion = signed
    else:
        raise SamlError("the signature covers neither the response nor the assertion")

    _check_issuer(assertion, idp, required=True)
    assertion_id = assertion.get("ID")
    if not assertion_id:
        raise SamlError("the assertion has no ID")

    conditions = assertion.find("saml:Conditions", NS)
    if conditions is None:
        raise SamlError("the assertion has no conditions")
    not_before = conditions.get("NotBefore")
    if not_before and _parse_instant(not_before, "NotBefore") - CLOCK_SKEW > now:
        raise SamlError("the assertion is not valid yet")
    not_on_or_after = conditions.get("NotOnOrAfter")
    if not_on_or_after and _parse_instant(not_on_or_after, "NotOnOrAfter") + CLOCK_SKEW <= now:
        raise SamlError("the assertion has expired")
    audiences = [
        (audience.text or "").strip()
        for audience in conditions.findall("saml:AudienceRestriction/saml:Audience", NS)
    ]
    if sp.entity_id not in audiences:
        raise SamlError(f"the assertion is for {audiences!r}, not for {sp.entity_id!r}")

    subject = assertion.find("saml:Subject", NS)
    name_id = subject.find("saml:NameID", NS) if subject is not None else None
    if subject is None or name_id is None or not (name_id.text or "").strip():
        raise SamlError("the assertion names nobody")
    confirmation = subject.find(
        f"saml:SubjectConfirmation[@Method='{BEARER}']/saml:SubjectConfirmationData", NS
    )
    if confirmation is None:
        raise SamlError("no bearer subject confirmation")
    if confirmation.get("Recipient") != sp.acs_url:
        raise SamlError(f"the assertion is for recipient {confirmation.get('Recipient')!r}")
    expires_at = _parse_instant(
        confirmation.get("NotOnOrAfter"), "SubjectConfirmationData NotOnOrAfter"
    )
    if expires_at + CLOCK_SKEW <= now:
        raise SamlError("the assertion has expired")
    in_response_to = _answered_request(root, signed, confirmation)

    attributes: dict[str, list[str]] = {}
    for attribute in assertion.findall("saml:AttributeStatement/saml:Attribute", NS):
        values = [(value.text or "") for value in attribute.findall("saml:AttributeValue", NS)]
        attributes.setdefault(attribute.get("Name", ""), []).extend(values)
    statement = assertion.find("saml:AuthnStatement", NS)
    return Assertion(
        id=assertion_id,
        name_id=(name_id.text or "").strip(),
        expires_at=expires_at + CLOCK_SKEW,
        session_index=statement.get("SessionIndex") if statement is not None else None,
        attributes=attributes,
        in_response_to=in_response_to,
    )


def _answered_request(
    root: etree._Element, signed: etree._Element, confirmation: etree._Element
) -> str | None:
    """The id of the request a response answers, from the signed part only: the bearer
    confirmation's `InResponseTo`, or the response's when the response itself is signed.
    Where both say, they must agree, and an unsigned response may not name another."""
    answered = {
        value
        for value in (
            confirmation.get("InResponseTo"),
            signed.get("InResponseTo") if signed.tag == root.tag else None,
        )
        if value
    }
    if len(answered) > 1:
        raise SamlError(f"the response answers several requests: {sorted(answered)!r}")
    request_id = next(iter(answered), None)
    outer = root.get("InResponseTo")
    if outer and outer != request_id:
        raise SamlError(f"the response answers {outer!r}, its signed assertion {request_id!r}")
    return request_id


def check_logout_response(
    sp: ServiceProvider,
    idp: IdentityProvider,
    message: str,
    *,
    deflated: bool,
    signed_query: tuple[str, str, str] | None = None,
) -> None:
    """Check the IdP's answer to our logout request.

    `signed_query` is (signed part of the query string, SigAlg, Signature) when the IdP signed
    a redirect; the signature must then be valid.
    """
    root = _decode(message, deflated=deflated)
    if root.tag != f"{{{NS['samlp']}}}LogoutResponse":
        raise SamlError("not a LogoutResponse")
    _check_issuer(root, idp, required=False)
    destination = root.get("Destination")
    if destination is not None and destination != sp.sls_url:
        raise SamlError(f"sent to {destination!r}, not to {sp.sls_url!r}")
    if signed_query is not None:
        _check_redirect_signature(idp, *signed_query)
    _check_status(root)


def _check_redirect_signature(
    idp: IdentityProvider, signed_part: str, algorithm: str, signature: str
) -> None:
    if algorithm != RSA_SHA256:
        raise SamlError(f"unsupported signature algorithm {algorithm!r}")
    try:
        raw_signature = base64.b64decode(signature)
    except binascii.Error as error:
        raise MalformedMessageError("the signature is not base64") from error
    for certificate in idp.certificates:
        key = load_pem_x509_certificate(certificate.encode()).public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            continue
        try:
            key.verify(raw_signature, signed_part.encode(), padding.PKCS1v15(), hashes.SHA256())
        except CryptoInvalidSignature:
            continue
        return
    raise SamlError("the redirect signature is not valid")
