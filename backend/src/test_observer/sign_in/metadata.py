"""The identity provider's SAML metadata: its entity id, endpoints and signing certificates.

Fetched over HTTPS from SAML_IDP_METADATA_URL and kept for an hour, so that a rotated IdP
certificate is picked up without a restart. A failed fetch is not cached.

The metadata holds the certificates every sign-in is checked against: whoever can change them
can sign in as anyone. So they are read only over HTTPS, and a redirect is followed only to
another path of the same host (over HTTPS); anywhere else is an error, as plain HTTP is.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from lxml import etree

from test_observer.errors import UnavailableError

from .xml import NS, parse_xml

CACHE_SECONDS = 3600
TIMEOUT_S = 10.0
REDIRECT_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
MAX_REDIRECTS = 5
# Metadata documents are kilobytes; a larger answer is not one.
MAX_METADATA_BYTES = 1024 * 1024


@dataclass(frozen=True)
class IdentityProvider:
    entity_id: str
    sso_url: str
    slo_url: str | None
    certificates: tuple[str, ...]  # PEM


_cache: dict[str, tuple[float, IdentityProvider]] = {}
_lock = threading.Lock()


def _pem(base64_der: str) -> str:
    body = "".join(base64_der.split())
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def parse_metadata(document: bytes) -> IdentityProvider:
    """Read an IdP's metadata; ValueError says what is missing."""
    root = parse_xml(document)
    descriptor = root if root.tag == f"{{{NS['md']}}}EntityDescriptor" else None
    if descriptor is None:
        descriptor = root.find("md:EntityDescriptor", NS)
    if descriptor is None:
        raise ValueError("no EntityDescriptor")
    idp = descriptor.find("md:IDPSSODescriptor", NS)
    if idp is None:
        raise ValueError("no IDPSSODescriptor")
    sso = idp.find(f"md:SingleSignOnService[@Binding='{REDIRECT_BINDING}']", NS)
    if sso is None or not sso.get("Location"):
        raise ValueError("no SingleSignOnService with the HTTP-Redirect binding")
    slo = idp.find(f"md:SingleLogoutService[@Binding='{REDIRECT_BINDING}']", NS)
    certificates = tuple(
        _pem(element.text or "")
        for key in idp.findall("md:KeyDescriptor", NS)
        if key.get("use") in (None, "signing")
        for element in key.findall(".//ds:X509Certificate", NS)
    )
    if not certificates:
        raise ValueError("no signing certificate")
    entity_id = descriptor.get("entityID")
    if not entity_id:
        raise ValueError("no entityID")
    return IdentityProvider(
        entity_id=entity_id,
        sso_url=str(sso.get("Location")),
        slo_url=slo.get("Location") if slo is not None else None,
        certificates=certificates,
    )


def identity_provider(metadata_url: str) -> IdentityProvider:
    """The IdP described at `metadata_url`; 503 with the reason when it cannot be read."""
    now = time.monotonic()
    with _lock:
        cached = _cache.get(metadata_url)
    if cached is not None and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    # Imported here: it costs every process that starts the app a tenth of a second.
    import httpx

    try:
        provider = parse_metadata(fetch_metadata(metadata_url))
    except httpx.HTTPError as error:
        raise UnavailableError(
            f"The identity provider's metadata cannot be fetched: {error}"
        ) from error
    except (ValueError, etree.XMLSyntaxError) as error:
        raise UnavailableError(f"The identity provider's metadata is invalid: {error}") from error
    with _lock:
        _cache[metadata_url] = (now, provider)
    return provider


def fetch_metadata(metadata_url: str) -> bytes:
    """The document at `metadata_url`, read over HTTPS from that host only."""
    origin = urlsplit(metadata_url)
    if origin.scheme != "https":
        raise UnavailableError("The identity provider's metadata URL must be an https:// URL")
    url = metadata_url
    import httpx

    with httpx.Client(timeout=TIMEOUT_S, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            with client.stream("GET", url) as response:
                if response.is_redirect:
                    url = urljoin(url, response.headers.get("location", ""))
                    target = urlsplit(url)
                    if target.scheme != "https" or target.netloc != origin.netloc:
                        raise UnavailableError(
                            "The identity provider's metadata URL redirects to another host "
                            f"or scheme ({target.scheme}://{target.netloc}), which is refused"
                        )
                    continue
                response.raise_for_status()
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_METADATA_BYTES:
                        raise UnavailableError(
                            f"The identity provider's metadata is larger than {MAX_METADATA_BYTES}"
                            " bytes"
                        )
                return body
    raise UnavailableError(
        f"The identity provider's metadata URL redirects more than {MAX_REDIRECTS} times"
    )


def forget_identity_providers() -> None:
    with _lock:
        _cache.clear()
