"""The edge reads nothing expensive before it knows the caller.

Attacks: an anonymous caller sends a body of many megabytes (parsed on the event loop, it held
every other request for seconds), or a small body of nested brackets (it broke the parser and
answered 500). The timing tests run a real server on a loopback port and compare a small
request's latency under attack with its latency just before, in the same test.
"""

from __future__ import annotations

import http.client
import json
import socket
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.auth.access import operations
from test_observer.db.models import Permission
from test_observer.input_safety import MAX_JSON_DEPTH, EdgeRoute
from tests.backend.executions.live import serve
from tests.backend.principals import application_headers, login, make_user

MB = 1024 * 1024
HUGE = 12 * MB
START_TEST = "/v1/test-executions/start-test"
# The margin the refusal and the delay must stay under.
BUDGET_S = 0.050
SAMPLES = 40


def _start_test_payload() -> dict[str, Any]:
    return {
        "family": "snap",
        "name": "core22",
        "version": "1",
        "revision": 1,
        "track": "22",
        "store": "ubuntu",
        "arch": "amd64",
        "execution_stage": "beta",
        "environment": "rpi4b",
        "test_plan": "smoke",
    }


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed after {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def _huge_request(port: int, extra_headers: str = "") -> tuple[float, int, bytes]:
    """Declare a 12 MB JSON body, send its first 64 kB (nested brackets, the costliest thing to
    parse) and wait for the answer: seconds until it arrived, status and body. A server that
    wanted the whole body would wait for the rest and this would time out."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        head = (
            f"PUT {START_TEST} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {HUGE}\r\n{extra_headers}\r\n"
        )
        started = time.perf_counter()
        sock.sendall(head.encode() + b"[" * 65536)
        status, _, body = _read_response(sock)
        return time.perf_counter() - started, status, body


def _small_request_latency(connection: http.client.HTTPConnection, key: dict[str, str]) -> float:
    started = time.perf_counter()
    connection.request("GET", "/v1/version", headers=key)
    response = connection.getresponse()
    response.read()
    assert response.status == 200
    return time.perf_counter() - started


def _latencies(port: int, count: int, key: dict[str, str]) -> list[float]:
    """A known caller's small requests, one after the other on one connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        _small_request_latency(connection, key)  # warm the connection
        return [_small_request_latency(connection, key) for _ in range(count)]
    finally:
        connection.close()


@pytest.fixture
def live_server(edge_app: Callable[..., FastAPI]) -> Callable[..., Any]:
    def start(**settings: object) -> Any:
        return serve(edge_app(**settings))

    return start


def _attack(port: int, stop: threading.Event, refusals: list[tuple[float, int, bytes]]) -> None:
    """One huge request after another, each once the previous one is answered. (Not a flood:
    that would measure how the test's own threads share one interpreter with the server.)"""
    while not stop.wait(0.01):
        refusals.append(_huge_request(port))


def _slow_sender(port: int, stop: threading.Event) -> None:
    """An anonymous caller that sends a small body one byte at a time."""
    body = json.dumps(_start_test_payload()).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            f"PUT {START_TEST} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        )
        for byte in body:
            if stop.wait(0.01):
                return
            sock.sendall(bytes([byte]))


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@pytest.mark.parametrize(("require_authentication", "status"), [(False, 413), (True, 401)])
def test_a_huge_anonymous_body_is_refused_from_its_headers_without_delaying_others(
    live_server: Callable[..., Any],
    edge_db: Session,
    require_authentication: bool,
    status: int,
) -> None:
    with live_server(require_authentication=require_authentication) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        key = application_headers(edge_db, Permission.view_test)
        baseline = _latencies(port, SAMPLES, key)

        stop = threading.Event()
        refusals: list[tuple[float, int, bytes]] = []
        attackers = [
            threading.Thread(target=_attack, args=(port, stop, refusals)),
            threading.Thread(target=_slow_sender, args=(port, stop)),
        ]
        for thread in attackers:
            thread.start()
        try:
            while len(refusals) < 3:
                time.sleep(0.005)
            under_attack = _latencies(port, SAMPLES, key)
        finally:
            stop.set()
            for thread in attackers:
                thread.join(timeout=10)

    assert refusals
    assert {answer for _, answer, _ in refusals} == {status}
    detail = json.loads(refusals[0][2])["detail"]
    assert "anonymous" in detail
    refusal_times = [seconds for seconds, _, _ in refusals]
    delay = statistics.median(under_attack) - statistics.median(baseline)
    print(
        f"\nload average {_load()}; {len(refusals)} refusals, median "
        f"{statistics.median(refusal_times) * 1000:.1f} ms, p90 "
        f"{_percentile(refusal_times, 0.9) * 1000:.1f} ms; small request median "
        f"{statistics.median(baseline) * 1000:.1f} ms alone, "
        f"{statistics.median(under_attack) * 1000:.1f} ms under attack (p90 "
        f"{_percentile(baseline, 0.9) * 1000:.1f} / {_percentile(under_attack, 0.9) * 1000:.1f})"
    )
    assert statistics.median(refusal_times) < BUDGET_S
    assert delay < BUDGET_S


def _load() -> str:
    with open("/proc/loadavg") as loadavg:
        return " ".join(loadavg.read().split()[:3])


def test_an_unknown_key_does_not_open_the_large_limit(
    live_server: Callable[..., Any], edge_db: Session
) -> None:
    with live_server() as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        # No time limit asserted: that an answer comes at all, while 12 MB of the declared
        # body are never sent, is what shows the body was not waited for (the socket gives
        # up after 5 s otherwise). A first request to a new server on a busy machine can
        # take over a second, which once failed this test for no fault of the server.
        _, status, body = _huge_request(port, "Authorization: Bearer not-a-key\r\n")
    assert status == 401
    assert json.loads(body)["detail"] == "Invalid API key"


def test_a_known_caller_may_send_more_than_an_anonymous_one(
    edge_client: Callable[..., TestClient], edge_db: Session
) -> None:
    client = edge_client()
    # Valid JSON of 2 MB: the payload followed by white space.
    body = json.dumps(_start_test_payload()).encode() + b" " * (2 * MB)
    headers = {"Content-Type": "application/json"}

    anonymous = client.put(START_TEST, content=body, headers=headers)
    assert anonymous.status_code == 413

    key = application_headers(edge_db, Permission.change_test)
    assert client.put(START_TEST, content=body, headers={**headers, **key}).status_code == 200

    cookie = login(edge_db, make_user(edge_db, "ada@example.com", permissions=[]))
    user = {"Cookie": f"session={cookie}", "X-CSRF-Token": "1"}
    # Known, so the body is read; then refused for the missing permission, not its size.
    assert client.put(START_TEST, content=body, headers={**headers, **user}).status_code == 403
    # A cookie without the CSRF header does not name a caller: anonymous again.
    cookie_only = {"Cookie": f"session={cookie}"}
    assert (
        client.put(START_TEST, content=body, headers={**headers, **cookie_only}).status_code == 413
    )


def test_a_chunked_anonymous_body_is_cut_at_the_anonymous_limit(
    live_server: Callable[..., Any], edge_db: Session
) -> None:
    """Without a Content-Length the size is unknown: the server counts and answers once past
    the anonymous limit, without waiting for (here: never sent) the rest of the body."""
    chunk = b" " * 65536
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    with live_server() as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(
                f"PUT {START_TEST} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            )
            # 1.5 MB of a body that never ends.
            for _ in range(24):
                sock.sendall(framed)
            status, _, body = _read_response(sock)
    assert status == 413
    assert "1048576" in json.loads(body)["detail"]


def _nested(levels: int, *, objects: bool = False) -> bytes:
    if objects:
        return b'{"a":' * levels + b"1" + b"}" * levels
    return b"[" * levels + b"]" * levels


@pytest.mark.parametrize(
    "body",
    [
        _nested(50_000),
        _nested(5_000),
        _nested(20_000, objects=True),
        _nested(MAX_JSON_DEPTH + 1),
    ],
    # Bodies over INLINE_JSON_BYTES are parsed in the thread pool, smaller ones on the loop.
    ids=["100-kB-of-brackets", "10-kB-of-brackets", "objects", "one-level-too-deep"],
)
def test_a_deeply_nested_body_is_a_422_not_a_500(
    edge_client: Callable[..., TestClient], edge_db: Session, body: bytes
) -> None:
    client = edge_client(ignore_permissions=Permission.change_test.value)
    response = client.put(START_TEST, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert f"deeper than {MAX_JSON_DEPTH} levels" in response.text


def test_nesting_up_to_the_limit_reaches_validation(
    edge_client: Callable[..., TestClient], edge_db: Session
) -> None:
    client = edge_client(ignore_permissions=Permission.change_test.value)
    response = client.put(
        START_TEST, content=_nested(MAX_JSON_DEPTH), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert "deeper than" not in response.text


def test_a_deep_body_on_a_route_without_a_body_is_refused_too(
    edge_client: Callable[..., TestClient], edge_db: Session
) -> None:
    response = edge_client().request(
        "GET", "/v1/version", content=_nested(50_000), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert "deeper than" in response.text


def test_every_route_parses_json_through_the_edge_checks(
    edge_app: Callable[..., FastAPI], edge_db: Session
) -> None:
    found = list(operations(edge_app()))
    assert len(found) > 50
    assert [op.path for op in found if not isinstance(op.route, EdgeRoute)] == []
