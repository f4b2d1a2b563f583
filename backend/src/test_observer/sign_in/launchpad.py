"""Who a person is on Launchpad: their handle and the teams they belong to.

Launchpad's anonymous web service API, at LAUNCHPAD_API_URL. Only used at sign-in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Imported where used: it costs every process that starts the app a tenth of a second,
    # and only a sign-in calls Launchpad.
    import httpx

logger = logging.getLogger(__name__)

TIMEOUT_S = 10.0
# Enough pages for anyone's teams; a loop in `next_collection_link` must not run forever.
MAX_PAGES = 20


@dataclass(frozen=True)
class LaunchpadPerson:
    handle: str
    teams: list[str]
    display_name: str = ""


class LaunchpadError(Exception):
    pass


class Launchpad:
    def __init__(self, base_url: str, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.transport = transport

    def _client(self) -> httpx.Client:
        import httpx

        return httpx.Client(
            timeout=TIMEOUT_S, headers={"Accept": "application/json"}, transport=self.transport
        )

    def person_by_email(self, email: str, *, teams: bool = True) -> LaunchpadPerson | None:
        """The person with this (public) email address, or None if Launchpad knows nobody;
        with their teams unless `teams` is false."""
        import httpx

        try:
            with self._client() as client:
                response = client.get(
                    f"{self.base_url}/people", params={"ws.op": "getByEmail", "email": email}
                )
                response.raise_for_status()
                person = response.json()
                if not person:
                    return None
                handle = str(person["name"])
                return LaunchpadPerson(
                    handle=handle,
                    teams=self._teams(client, handle) if teams else [],
                    display_name=str(person.get("display_name") or handle),
                )
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise LaunchpadError(f"Launchpad lookup of {email} failed: {error}") from error

    def _teams(self, client: httpx.Client, handle: str) -> list[str]:
        teams: list[str] = []
        url: str | None = f"{self.base_url}/~{handle}/super_teams"
        for _ in range(MAX_PAGES):
            if url is None:
                break
            response = client.get(url)
            response.raise_for_status()
            page = response.json()
            teams.extend(str(entry["name"]) for entry in page.get("entries", []))
            url = page.get("next_collection_link")
            # Follow only links into the configured API, never to another host.
            if url is not None and not url.startswith(self.base_url + "/"):
                break
        return sorted(set(teams))
