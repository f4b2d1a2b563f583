"""Which addresses a webhook may reach, decided when it is sent.

A webhook's host is resolved at every attempt, each address is checked, and the connection is
made to the address that was checked, never to a second resolution of the name (which a
hostile DNS server could answer differently). Addresses that are not globally routable
(private, loopback, link-local such as the cloud metadata service at 169.254.169.254, shared,
reserved, multicast) are refused unless a network in WEBHOOK_ALLOWED_NETWORKS contains them.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

SCHEMES = ("http", "https")


class RefusedTargetError(Exception):
    """The webhook's URL may not be reached; the message says why."""


def check_url(url: str) -> str:
    """A webhook URL as stored: http(s), with a host; ValueError says what is wrong."""
    parts = urlsplit(url.strip())
    if parts.scheme not in SCHEMES:
        raise ValueError("the URL must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    if parts.username or parts.password:
        raise ValueError("the URL must not carry a user name or password")
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        raise ValueError("the URL's port is not a number") from None
    return url.strip()


def resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for the host, in its order."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise RefusedTargetError(f"cannot resolve {host}: {error.strerror}") from None
    return list(dict.fromkeys(str(answer[4][0]) for answer in answers))


def _allowed(address: IPAddress, allowed: Sequence[IPNetwork]) -> bool:
    if any(address in network for network in allowed if network.version == address.version):
        return True
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # ::ffff:10.0.0.1 reaches 10.0.0.1.
        return _allowed(address.ipv4_mapped, allowed)
    return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class Target:
    """Where to connect (a checked address) and what to call the server (its host name)."""

    scheme: str
    host: str
    address: str
    port: int
    path: str

    @property
    def url(self) -> str:
        """The URL with the checked address in place of the host name."""
        literal = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{literal}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


def target(url: str, allowed: Sequence[IPNetwork], resolver: Resolver = resolve) -> Target:
    """The address to send to; RefusedTargetError when no address of the host may be reached."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise RefusedTargetError("only http and https URLs with a host are sent to")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    addresses = resolver(parts.hostname, port)
    refused = []
    for text_address in addresses:
        address = ipaddress.ip_address(text_address.split("%", 1)[0])
        if _allowed(address, allowed):
            return Target(parts.scheme, parts.hostname, str(address), port, path)
        refused.append(str(address))
    raise RefusedTargetError(
        f"{parts.hostname} resolves only to addresses that are not allowed "
        f"({', '.join(refused) or 'none'}); see WEBHOOK_ALLOWED_NETWORKS"
    )
