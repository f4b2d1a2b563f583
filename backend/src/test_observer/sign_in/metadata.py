"""The identity provider's SAML metadata: its entity id, endpoints and signing certificates.

Fetched over HTTPS from SAML_IDP_METADATA_URL and kept for an hour, so that a rotated IdP
certificate is picked up without a restart. A failed fetch is not cached.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import httpx
from lxml import etree

from test_observer.errors import UnavailableError

from .xml import NS, parse_xml

CACHE_SECONDS = 3600
TIMEOUT = httpx.Timeout(10.0)
REDIRECT_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"


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
    try:
        response = httpx.get(metadata_url, timeout=TIMEOUT, follow_redirects=True)
        response.raise_for_status()
        provider = parse_metadata(response.content)
    except httpx.HTTPError as error:
        raise UnavailableError(
            f"The identity provider's metadata cannot be fetched: {error}"
        ) from error
    except (ValueError, etree.XMLSyntaxError) as error:
        raise UnavailableError(f"The identity provider's metadata is invalid: {error}") from error
    with _lock:
        _cache[metadata_url] = (now, provider)
    return provider


def forget_identity_providers() -> None:
    with _lock:
        _cache.clear()
