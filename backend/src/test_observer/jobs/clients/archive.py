"""Binary package indexes (`Packages.gz`) of the Ubuntu archive and its ports mirror.

An index is read as it arrives and decompressed a piece at a time, so that neither the download
nor what it expands to is ever held whole: both are bounded (`MAX_INDEX_BYTES`,
`MAX_UNPACKED_BYTES`), which is what keeps a hostile mirror's gzip bomb harmless.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

import httpx

from test_observer.errors import UnavailableError

from .http import UpstreamNotFoundError, segment, stream

# An index the archive does not have (e.g. a pocket not yet opened for a series) lists nothing.
IndexAbsentError = UpstreamNotFoundError

# The main archive carries these architectures; every other one is on the ports mirror.
MAIN_ARCHIVE_ARCHITECTURES = frozenset({"amd64", "i386"})

# The largest index of the archive (universe) is about 20 MB compressed and 100 MB expanded.
MAX_INDEX_BYTES = 128 * 1024 * 1024
MAX_UNPACKED_BYTES = 1024 * 1024 * 1024
# What one step of decompression may produce.
_PIECE = 1024 * 1024


def index_url(
    archive_url: str, ports_url: str, series: str, pocket: str, repo: str, arch: str
) -> str:
    mirror = archive_url if arch in MAIN_ARCHIVE_ARCHITECTURES else ports_url
    return (
        f"{mirror}/dists/{segment(f'{series}-{pocket}')}/{segment(repo)}/"
        f"{segment(f'binary-{arch}')}/Packages.gz"
    )


def _unpacked(url: str, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The decompressed content of a gzip stream (of one or more members), in pieces."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    total = 0
    try:
        for chunk in chunks:
            data = chunk
            while data:
                piece = decompressor.decompress(data, _PIECE)
                data = decompressor.unconsumed_tail
                if decompressor.eof:
                    # Another gzip member may follow.
                    data = decompressor.unused_data + data
                    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
                total += len(piece)
                if total > MAX_UNPACKED_BYTES:
                    raise UnavailableError(f"{url} expands to more than {MAX_UNPACKED_BYTES} bytes")
                yield piece
        if total == 0 or (not decompressor.eof and decompressor.flush()):
            raise UnavailableError(f"{url} is not a complete gzip file")
    except zlib.error:
        raise UnavailableError(f"{url} is not a gzip file") from None


def _stanzas(pieces: Iterable[bytes]) -> Iterator[str]:
    pending = b""
    for piece in pieces:
        pending += piece
        *complete, pending = pending.split(b"\n\n")
        for stanza in complete:
            yield stanza.decode("utf-8", errors="replace")
    if pending:
        yield pending.decode("utf-8", errors="replace")


def package_versions(client: httpx.Client, url: str, wanted: frozenset[str]) -> dict[str, set[str]]:
    """{package name: versions} for the wanted package names found in the index at `url`."""
    chunks = stream(client, "GET", url, max_bytes=MAX_INDEX_BYTES)
    found: dict[str, set[str]] = {}
    # Stanzas are separated by blank lines; only "Package:" and "Version:" matter here, and
    # names are compared as plain strings (package names may hold regex characters such as '+').
    for stanza in _stanzas(_unpacked(url, chunks)):
        name = version = None
        for line in stanza.splitlines():
            if line.startswith("Package:"):
                name = line[len("Package:") :].strip()
            elif line.startswith("Version:"):
                version = line[len("Version:") :].strip()
        if name is not None and version is not None and name in wanted:
            found.setdefault(name, set()).add(version)
    return found
