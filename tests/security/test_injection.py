"""What a client or a third-party service sends cannot become something else further on.

Attacks: a percent-encoded CR/LF in a path forging lines in the text log; a `javascript:` link
stored for the frontend to render; artefact fields climbing out of their URL path segment in the
jobs' requests; a service answering a huge document or a gzip bomb; framing or sniffing the
API's answers; importing the original's sessions, or reading it over an unverified connection.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
from collections.abc import Callable, Iterator

import httpx
import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import Permission, UserSession
from test_observer.errors import UnavailableError
from test_observer.jobs.clients import archive, http, snap_store, swm, trackers
from test_observer.observability.logging import JsonFormatter, TextFormatter
from test_observer.original_import.service import libpq_url, source_ssl_options
from tests.backend.jobs.fake_http import FakeService, fake_service
from tests.backend.original_import.dataset import OriginalShape, create_original
from tests.database import scratch_database

EVERY_PERMISSION = ",".join(permission.value for permission in Permission)
FORGED = "2026-01-01 00:00:00,000 INFO    test_observer.request: GET /v1/admin 200"


# Log lines -------------------------------------------------------------------------------------


@pytest.fixture
def request_log() -> Iterator[Callable[[logging.Formatter], io.StringIO]]:
    logger = logging.getLogger("test_observer.request")
    handlers: list[logging.Handler] = []
    level = logger.level

    def capture(formatter: logging.Formatter) -> io.StringIO:
        buffer = io.StringIO()
        handler = logging.StreamHandler(buffer)
        handler.setFormatter(formatter)
        logger.addHandler(handler)
        handlers.append(handler)
        logger.setLevel(logging.INFO)
        return buffer

    yield capture
    for handler in handlers:
        logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.mark.parametrize("formatter", [TextFormatter, JsonFormatter])
def test_a_percent_encoded_line_break_in_a_path_forges_no_log_line(
    edge_client: Callable[..., TestClient],
    edge_db: Session,
    request_log: Callable[[logging.Formatter], io.StringIO],
    formatter: type[logging.Formatter],
) -> None:
    log = request_log(formatter())
    forged_path = "/v1/nothing-here%0D%0A" + FORGED.replace(" ", "%20") + "%1B%5B2K"
    assert edge_client().get(forged_path).status_code == 404
    lines = log.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert not any(line.startswith("2026-01-01") for line in lines)
    assert "\x1b" not in log.getvalue()


# Stored links ----------------------------------------------------------------------------------

START = {
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


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(document.cookie)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
    ],
)
def test_a_link_that_runs_script_is_not_stored(
    edge_client: Callable[..., TestClient], edge_db: Session, link: str
) -> None:
    client = edge_client(ignore_permissions=EVERY_PERMISSION)
    started = client.put("/v1/test-executions/start-test", json={**START, "ci_link": link})
    assert started.status_code == 422, started.text
    assert "link" in started.text.lower()

    client.put("/v1/test-executions/start-test", json={**START, "ci_link": "https://ci/1"})
    ended = client.put(
        "/v1/test-executions/end-test",
        json={"ci_link": "https://ci/1", "c3_link": link, "test_results": []},
    )
    assert ended.status_code == 422, ended.text
    execution = client.get("/v1/test-executions", params={"ci_link": "https://ci/1"})
    assert link not in execution.text


@pytest.mark.parametrize("link", ["https://ci.example/job/1", "http://ci/2", "jenkins-run-3"])
def test_web_links_and_plain_identifiers_are_still_stored(
    edge_client: Callable[..., TestClient], edge_db: Session, link: str
) -> None:
    client = edge_client(ignore_permissions=EVERY_PERMISSION)
    started = client.put("/v1/test-executions/start-test", json={**START, "ci_link": link})
    assert started.status_code == 200, started.text


# Security headers ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/version", "/v1/nothing-here", "/docs", "/redocs"])
def test_every_answer_forbids_framing_and_sniffing(
    edge_client: Callable[..., TestClient], edge_db: Session, path: str
) -> None:
    response = edge_client().get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    if path == "/redocs":
        # The page's own policy is kept alongside.
        assert "img-src 'self' data:" in response.headers["content-security-policy"]


# Job clients -----------------------------------------------------------------------------------


@pytest.fixture
def service() -> Iterator[FakeService]:
    with fake_service() as fake:
        yield fake


def test_an_artefact_name_stays_one_path_segment(service: FakeService) -> None:
    with httpx.Client(timeout=5) as client:
        with pytest.raises(UnavailableError):
            snap_store.channel_map(client, service.url, "../../v1/admin?steal=1#", "ubuntu")
        with pytest.raises(UnavailableError):
            archive.package_versions(
                client,
                archive.index_url(
                    service.url, service.url, "noble", "updates", "main/../../../x?", "amd64"
                ),
                frozenset({"linux"}),
            )
        tracker = trackers.Launchpad(client, service.url)
        with pytest.raises(UnavailableError):
            tracker.get_issue("ubuntu", "1/../../people?x")
    requested = [(request.path, request.query) for request in service.requests]
    assert requested == [
        ("/v2/snaps/info/..%2F..%2Fv1%2Fadmin%3Fsteal%3D1%23", ""),
        ("/dists/noble-updates/main%2F..%2F..%2F..%2Fx%3F/binary-amd64/Packages.gz", ""),
        ("/bugs/1%2F..%2F..%2Fpeople%3Fx", ""),
    ]


@pytest.mark.parametrize("name", ["..", "."])
def test_a_dot_segment_is_never_requested(service: FakeService, name: str) -> None:
    with httpx.Client(timeout=5) as client, pytest.raises(UnavailableError):
        snap_store.channel_map(client, service.url, name, "ubuntu")
    assert service.requests == []


def test_a_huge_answer_is_not_read_whole(
    service: FakeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "MAX_RESPONSE_BYTES", 1024 * 1024)
    huge = {"trackers": {}, "padding": "x" * (2 * 1024 * 1024)}
    service.on("/status.json", (200, huge))
    with httpx.Client(timeout=5) as client, pytest.raises(UnavailableError, match="more than"):
        swm.status(client, f"{service.url}/status.json")


def test_a_gzip_bomb_is_refused_before_it_expands(
    service: FakeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive, "MAX_UNPACKED_BYTES", 8 * 1024 * 1024)
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 100 * 1024
    path = "/dists/noble-updates/main/binary-amd64/Packages.gz"
    service.on(path, (200, bomb))
    with httpx.Client(timeout=30) as client, pytest.raises(UnavailableError, match="expands"):
        archive.package_versions(client, f"{service.url}{path}", frozenset({"linux"}))


def test_an_index_read_in_pieces_finds_every_package(service: FakeService) -> None:
    stanzas = [f"Package: pkg{n}\nVersion: 1.{n}\nArchitecture: amd64\n" for n in range(20000)]
    # Two gzip members, as some mirrors serve.
    half = len(stanzas) // 2
    body = gzip.compress("\n".join(stanzas[:half]).encode() + b"\n\n") + gzip.compress(
        "\n".join(stanzas[half:]).encode()
    )
    service.on("/Packages.gz", (200, body))
    wanted = frozenset({"pkg0", "pkg9999", "pkg10000", "pkg19999"})
    with httpx.Client(timeout=30) as client:
        found = archive.package_versions(client, f"{service.url}/Packages.gz", wanted)
    assert found == {name: {f"1.{name[3:]}"} for name in wanted}


# Importing the original ------------------------------------------------------------------------


def test_sessions_of_the_original_are_not_imported(
    database_server: str, edge_database_url: str, edge_db: Session
) -> None:
    from typer.testing import CliRunner

    from test_observer.cli.main import app

    with scratch_database(database_server, "original_sessions") as original:
        create_original(libpq_url(original), OriginalShape())
        with psycopg.connect(libpq_url(original)) as source:
            sessions = source.execute("SELECT count(*) FROM user_session").fetchone()
        assert sessions is not None
        assert sessions[0] > 0
        result = CliRunner().invoke(
            app,
            ["import-original", "--from", original, "--json"],
            env={"DB_URL": edge_database_url},
        )
    assert result.exit_code == 0, result.output
    assert edge_db.scalar(select(func.count()).select_from(UserSession)) == 0
    assert "user_session" not in [table["table"] for table in json.loads(result.stdout)["tables"]]


@pytest.mark.parametrize(
    ("url", "sslmode", "expected"),
    [
        ("postgresql://u:p@db.example.com/to", None, "verify-full"),
        ("postgresql://u:p@10.1.2.3:5432/to", None, "verify-full"),
        ("postgresql://u:p@localhost/to", None, "prefer"),
        ("postgresql://u:p@127.0.0.1/to", None, "prefer"),
        ("postgresql://u:p@[::1]/to", None, "prefer"),
        ("postgresql://u:p@db.example.com/to", "require", "require"),
    ],
)
def test_a_remote_original_is_read_over_verified_tls_by_default(
    url: str, sslmode: str | None, expected: str
) -> None:
    options = source_ssl_options(url, sslmode)  # type: ignore[arg-type]
    assert options["sslmode"] == expected
    if expected == "verify-full":
        assert options["sslrootcert"] == "system"


def test_the_sources_own_sslmode_is_kept() -> None:
    assert source_ssl_options("postgresql://u@db.example.com/to?sslmode=disable", None) == {}


def test_a_remote_original_without_tls_is_refused(edge_database_url: str, edge_db: Session) -> None:
    """The test server speaks no TLS: a remote-looking source (an address that is not
    loopback, here the server's own on another name) must not fall back to plain text."""
    from typer.testing import CliRunner

    from test_observer.cli.main import app

    result = CliRunner().invoke(
        app,
        ["import-original", "--from", edge_database_url, "--sslmode", "verify-full", "--json"],
        env={"DB_URL": edge_database_url},
    )
    assert result.exit_code == 1
    assert "Cannot read the source database" in result.output
