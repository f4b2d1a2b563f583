"""The kernel SRU workflow manager's status document."""

from __future__ import annotations

from typing import Any

import httpx

from test_observer.errors import UnavailableError

from .http import get, json_of


def status(client: httpx.Client, url: str) -> dict[str, Any]:
    data = json_of(get(client, url))
    if not isinstance(data, dict) or not isinstance(data.get("trackers", {}), dict):
        raise UnavailableError(f"{url} did not answer a status document with trackers")
    return data
