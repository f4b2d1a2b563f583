"""Binary package indexes (`Packages.gz`) of the Ubuntu archive and its ports mirror."""

from __future__ import annotations

import gzip
import zlib

import httpx

from test_observer.errors import UnavailableError

from .http import UpstreamNotFoundError, get

# An index the archive does not have (e.g. a pocket not yet opened for a series) lists nothing.
IndexAbsentError = UpstreamNotFoundError

# The main archive carries these architectures; every other one is on the ports mirror.
MAIN_ARCHIVE_ARCHITECTURES = frozenset({"amd64", "i386"})


def index_url(
    archive_url: str, ports_url: str, series: str, pocket: str, repo: str, arch: str
) -> str:
    mirror = archive_url if arch in MAIN_ARCHIVE_ARCHITECTURES else ports_url
    return f"{mirror}/dists/{series}-{pocket}/{repo}/binary-{arch}/Packages.gz"


def package_versions(client: httpx.Client, url: str, wanted: frozenset[str]) -> dict[str, set[str]]:
    """{package name: versions} for the wanted package names found in the index at `url`."""
    try:
        text = gzip.decompress(get(client, url).content).decode("utf-8", errors="replace")
    except (OSError, EOFError, zlib.error):
        raise UnavailableError(f"{url} is not a gzip file") from None
    found: dict[str, set[str]] = {}
    # Stanzas are separated by blank lines; only "Package:" and "Version:" matter here, and
    # names are compared as plain strings (package names may hold regex characters such as '+').
    for stanza in text.split("\n\n"):
        name = version = None
        for line in stanza.splitlines():
            if line.startswith("Package:"):
                name = line[len("Package:") :].strip()
            elif line.startswith("Version:"):
                version = line[len("Version:") :].strip()
        if name is not None and version is not None and name in wanted:
            found.setdefault(name, set()).add(version)
    return found
