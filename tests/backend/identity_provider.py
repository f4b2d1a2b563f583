"""A SAML identity provider made for the tests: its own key and certificate, generated at test
time, signing responses with signxml as a real IdP would."""

from __future__ import annotations

import base64
import secrets
import zlib
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLSigner
from signxml.algorithms import CanonicalizationMethod

ENTITY_ID = "https://idp.example.test/metadata"
METADATA_URL = "https://idp.example.test/metadata"
SSO_URL = "https://idp.example.test/sso"
SLO_URL = "https://idp.example.test/slo"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"


def key_and_certificate(common_name: str) -> tuple[str, str]:
    """A fresh RSA key and a self-signed certificate for it, both PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM).decode()


def _instant(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def decode_redirect(url: str) -> tuple[etree._Element, dict[str, str]]:
    """The SAML message in a redirect URL and its query parameters."""
    query = {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
    raw = zlib.decompress(base64.b64decode(query["SAMLRequest"]), -15)
    return etree.fromstring(raw), query


class TestIdentityProvider:
    __test__ = False

    def __init__(self, entity_id: str = ENTITY_ID) -> None:
        self.entity_id = entity_id
        self.key, self.certificate = key_and_certificate("test identity provider")

    def metadata(self) -> bytes:
        body = "".join(
            line for line in self.certificate.splitlines() if not line.startswith("-----")
        )
        return f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{self.entity_id}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>{body}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="{SLO_URL}"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="{SSO_URL}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>""".encode()

    def _sign(self, element: etree._Element) -> etree._Element:
        signer = XMLSigner(c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
        return signer.sign(element, key=self.key, cert=self.certificate)

    def assertion(
        self,
        *,
        sp_entity_id: str,
        acs_url: str,
        email: str,
        attributes: dict[str, str],
        assertion_id: str | None = None,
        audience: str | None = None,
        issued: datetime | None = None,
        lifetime: timedelta = timedelta(minutes=5),
        in_response_to: str | None = None,
    ) -> etree._Element:
        issued = issued or datetime.now(UTC)
        expires = issued + lifetime
        not_before = issued - timedelta(seconds=30)
        answered = f' InResponseTo="{in_response_to}"' if in_response_to else ""
        statements = "".join(
            f'<saml:Attribute Name="{escape(name)}"><saml:AttributeValue>{escape(value)}'
            "</saml:AttributeValue></saml:Attribute>"
            for name, value in attributes.items()
        )
        xml = f"""<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"
 xmlns:ds="http://www.w3.org/2000/09/xmldsig#"
 ID="{assertion_id or "_" + secrets.token_hex(16)}" Version="2.0" IssueInstant="{_instant(issued)}">
<saml:Issuer>{self.entity_id}</saml:Issuer><ds:Signature Id="placeholder"/>
<saml:Subject>
<saml:NameID Format="{EMAIL_FORMAT}">{escape(email)}</saml:NameID>
<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">
<saml:SubjectConfirmationData NotOnOrAfter="{_instant(expires)}" Recipient="{acs_url}"{answered}/>
</saml:SubjectConfirmation></saml:Subject>
<saml:Conditions NotBefore="{_instant(not_before)}" NotOnOrAfter="{_instant(expires)}">
<saml:AudienceRestriction>
<saml:Audience>{audience or sp_entity_id}</saml:Audience>
</saml:AudienceRestriction>
</saml:Conditions>
<saml:AuthnStatement AuthnInstant="{_instant(issued)}" SessionIndex="_s1"/>
<saml:AttributeStatement>{statements}</saml:AttributeStatement>
</saml:Assertion>"""
        return self._sign(etree.fromstring(xml.encode()))

    def response(
        self,
        assertion: etree._Element,
        *,
        destination: str,
        status: str = SUCCESS,
        in_response_to: str | None = None,
    ) -> str:
        """A base64 `SAMLResponse` holding `assertion`, as the IdP's page would post it."""
        answered = f' InResponseTo="{in_response_to}"' if in_response_to else ""
        root = etree.fromstring(
            f"""<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"
 xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_{secrets.token_hex(16)}" Version="2.0"
 IssueInstant="{_instant(datetime.now(UTC))}" Destination="{destination}"{answered}>
<saml:Issuer>{self.entity_id}</saml:Issuer>
<samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status>
</samlp:Response>""".encode()
        )
        root.append(assertion)
        return base64.b64encode(etree.tostring(root)).decode()

    def logout_response(self, *, destination: str, status: str = SUCCESS) -> str:
        """A deflated, base64 `SAMLResponse` for the HTTP-Redirect binding."""
        xml = f"""<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"
 xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_{secrets.token_hex(16)}" Version="2.0"
 IssueInstant="{_instant(datetime.now(UTC))}" Destination="{destination}">
<saml:Issuer>{self.entity_id}</saml:Issuer>
<samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status>
</samlp:LogoutResponse>"""
        deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
        return base64.b64encode(deflater.compress(xml.encode()) + deflater.flush()).decode()
