"""The test suite cannot reach the network: an escaped call fails at once."""

from __future__ import annotations

import httpx
import pytest

from tests.backend.offline import NetworkAccessError


def test_a_request_to_a_real_host_fails_at_once() -> None:
    with pytest.raises((NetworkAccessError, httpx.ConnectError)):
        httpx.get("https://api.launchpad.net/devel/people", timeout=30)


def test_connecting_to_a_public_address_fails_at_once() -> None:
    import socket

    with socket.socket() as sock, pytest.raises(NetworkAccessError):
        sock.connect(("192.0.2.1", 443))
