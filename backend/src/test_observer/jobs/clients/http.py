"""Shared HTTP handling: one error type for every way a request can fail."""

from __future__ import annotations

from typing import Any

import httpx

from test_observer.errors import UnavailableError


class UpstreamNotFoundError(UnavailableError):
    """The service answered 404."""


def get(client: httpx.Client, url: str, **options: Any) -> httpx.Response:
    """GET `url`, raising UnavailableError for timeouts, connection errors and non-2xx answers."""
    return request(client, "GET", url, **options)


def request(client: httpx.Client, method: str, url: str, **options: Any) -> httpx.Response:
    try:
        response = client.request(method, url, **options)
    except httpx.TimeoutException:
        raise UnavailableError(f"{method} {url} timed out") from None
    except httpx.HTTPError as error:
        raise UnavailableError(f"{method} {url} failed: {error}") from None
    if response.status_code == 404:
        raise UpstreamNotFoundError(f"{method} {url} answered 404")
    if response.is_error:
        raise UnavailableError(f"{method} {url} answered {response.status_code}")
    return response


def json_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise UnavailableError(f"{response.request.url} did not answer JSON") from None
