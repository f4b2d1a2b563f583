"""No test may reach the network: third-party services are faked at their HTTP edge.

Connections to anything but this machine fail at once with `NetworkAccessError` instead of
waiting for a timeout, so a code path that escaped its fake fails its test loudly.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo

LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", ""})


class NetworkAccessError(RuntimeError):
    pass


def _is_local(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str) or host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(address: Any) -> None:
    # Unix sockets are strings; IP sockets are (host, port, ...) tuples.
    if isinstance(address, tuple) and not _is_local(address[0]):
        raise NetworkAccessError(f"the tests may not connect to {address[0]}:{address[1]}")


def _connect(self: socket.socket, address: Any) -> None:
    _check(address)
    _real_connect(self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    _check(address)
    return _real_connect_ex(self, address)


def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if not _is_local(host):
        raise NetworkAccessError(f"the tests may not look up {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


def forbid_network() -> None:
    socket.socket.connect = _connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _getaddrinfo
