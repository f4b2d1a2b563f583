"""Shared HTTP handling: one error type for every way a request can fail, answers read only up
to a bound, and values put into URL paths as single segments."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx

from test_observer.errors import UnavailableError

# The largest answer a job reads into memory (after any Content-Encoding is undone). The
# documents the jobs read (a snap's channel map, an issue, the SWM status) are kilobytes to a
# few megabytes; a larger answer is a misbehaving or hostile service.
MAX_RESPONSE_BYTES = 32 * 1024 * 1024


class UpstreamNotFoundError(UnavailableError):
    """The service answered 404."""


class ResponseTooLargeError(UnavailableError):
    """The answer is larger than the client reads."""


def segment(value: object) -> str:
    """`value` as exactly one path segment of a URL: `/`, `?`, `#`, `%` and the rest quoted,
    and the dot segments (which would climb the path) refused."""
    text = str(value)
    if text in ("", ".", ".."):
        raise UnavailableError(f"{text!r} cannot be a segment of a URL path")
    return quote(text, safe="")


def get(client: httpx.Client, url: str, **options: Any) -> httpx.Response:
    """GET `url`, raising UnavailableError for timeouts, connection errors, non-2xx answers and
    answers larger than `max_bytes` (default `MAX_RESPONSE_BYTES`)."""
    return request(client, "GET", url, **options)


def request(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    max_bytes: int | None = None,
    **options: Any,
) -> httpx.Response:
    limit = MAX_RESPONSE_BYTES if max_bytes is None else max_bytes
    try:
        with client.stream(method, url, **options) as response:
            _check_status(method, url, response)
            body = b"".join(_bounded(method, url, response, limit))
    except httpx.TimeoutException:
        raise UnavailableError(f"{method} {url} timed out") from None
    except httpx.HTTPError as error:
        raise UnavailableError(f"{method} {url} failed: {error}") from None
    # The body is decoded already: the headers must not ask for it to be decoded again.
    headers = [
        (name, value)
        for name, value in response.headers.multi_items()
        if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    return httpx.Response(
        response.status_code, headers=headers, content=body, request=response.request
    )


def stream(
    client: httpx.Client, method: str, url: str, *, max_bytes: int, **options: Any
) -> Iterator[bytes]:
    """The answer's body in chunks (Content-Encoding undone), failing as `request` does once
    more than `max_bytes` have arrived: nothing larger is ever held."""
    try:
        with client.stream(method, url, **options) as response:
            _check_status(method, url, response)
            yield from _bounded(method, url, response, max_bytes)
    except httpx.TimeoutException:
        raise UnavailableError(f"{method} {url} timed out") from None
    except httpx.HTTPError as error:
        raise UnavailableError(f"{method} {url} failed: {error}") from None


def _check_status(method: str, url: str, response: httpx.Response) -> None:
    if response.status_code == 404:
        raise UpstreamNotFoundError(f"{method} {url} answered 404")
    if response.is_error:
        raise UnavailableError(f"{method} {url} answered {response.status_code}")


def _bounded(method: str, url: str, response: httpx.Response, max_bytes: int) -> Iterator[bytes]:
    declared = response.headers.get("content-length", "")
    # A declared length says so before anything is read (it is the encoded size: a lower bound
    # only when the answer is not compressed).
    if (
        declared.isdigit()
        and int(declared) > max_bytes
        and "content-encoding" not in response.headers
    ):
        raise ResponseTooLargeError(f"{method} {url} answered more than {max_bytes} bytes")
    received = 0
    for chunk in response.iter_bytes():
        received += len(chunk)
        if received > max_bytes:
            raise ResponseTooLargeError(f"{method} {url} answered more than {max_bytes} bytes")
        yield chunk


def json_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise UnavailableError(f"{response.request.url} did not answer JSON") from None
