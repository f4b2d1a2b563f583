"""The Snap Store's channel map of a snap."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from .http import get, json_of, segment


@dataclass(frozen=True)
class Release:
    track: str
    risk: str
    architecture: str
    version: str


def channel_map(client: httpx.Client, base_url: str, name: str, store: str) -> list[Release]:
    response = get(
        client,
        f"{base_url}/v2/snaps/info/{segment(name)}",
        headers={"Snap-Device-Series": "16", "Snap-Device-Store": store},
    )
    releases = []
    for entry in json_of(response).get("channel-map", []):
        channel = entry.get("channel", {})
        releases.append(
            Release(
                track=str(channel.get("track", "")),
                risk=str(channel.get("risk", "")),
                architecture=str(channel.get("architecture", "")),
                version=str(entry.get("version", "")),
            )
        )
    return releases
