"""Callers are remembered between requests and forgotten by every process as soon as they change.

One instance runs in this process (a TestClient with its lifespan, so that its listener runs),
the other is `test-observer serve` in a process of its own on the same database.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from test_observer.app import create_app
from test_observer.auth.cache import CallerCache
from test_observer.auth.prefetch import GenerationPrefetch
from test_observer.auth.principal import GENERATION_READ
from test_observer.db.models import Permission, Team
from test_observer.settings import Settings
from tests.backend.executions.live import free_port
from tests.backend.principals import (
    SESSIONS_SECRET,
    bearer,
    login,
    make_application,
    make_user,
    session_headers,
)
from tests.backend.statements import count_statements


@pytest.fixture
def here(engine: Engine, database_url: str) -> Iterator[TestClient]:
    app = create_app(Settings(db_url=database_url, sessions_secret=SESSIONS_SECRET), engine=engine)
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        yield client


@pytest.fixture
def there(engine: Engine, database_url: str, tmp_path: Path) -> Iterator[str]:
    """Another instance of the API, in a process of its own."""
    port = free_port()
    log = tmp_path / "serve.log"
    env = {
        **os.environ,
        "DB_URL": database_url,
        "SESSIONS_SECRET": SESSIONS_SECRET,
        "LOG_LEVEL": "warning",
    }
    with log.open("w") as output:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "test_observer", "serve", "--no-migrate"),
                *("--port", str(port), "--workers", "1"),
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{base}/health/live").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _admin(db_session: Session) -> dict[str, str]:
    return bearer(make_application(db_session, "admin", list(Permission))[1])


def _primed(base: str, headers: dict[str, str], path: str = "/v1/permissions") -> None:
    """Requests for a second: the other instance opens its generation connection aside on the
    first, and remembers the caller from then on."""
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:
        assert httpx.get(base + path, headers=headers).status_code == 200
        time.sleep(0.05)


def test_a_remembered_key_costs_no_statement(
    here: TestClient, db_session: Session, engine: Engine
) -> None:
    _, key = make_application(db_session, "ci", [Permission.view_permission])
    _connected(here.app.state.callers)  # type: ignore[attr-defined]
    assert here.get("/v1/version", headers=bearer(key)).status_code == 200
    with count_statements(engine) as counter:
        assert here.get("/v1/version", headers=bearer(key)).status_code == 200
    assert counter.statements == []


def test_a_key_rotated_on_one_instance_is_refused_at_once_by_the_other(
    here: TestClient, there: str, db_session: Session
) -> None:
    application, key = make_application(db_session, "ci", [Permission.view_permission])
    admin = _admin(db_session)
    _primed(there, bearer(key))
    rotated = here.post(f"/v1/applications/{application.id}/rotate", headers=admin)
    assert rotated.status_code == 200
    assert httpx.get(f"{there}/v1/permissions", headers=bearer(key)).status_code == 401
    new_key = rotated.json()["api_key"]
    assert httpx.get(f"{there}/v1/permissions", headers=bearer(new_key)).status_code == 200


def test_a_key_deleted_on_one_instance_is_refused_at_once_by_the_other(
    here: TestClient, there: str, db_session: Session
) -> None:
    application, key = make_application(db_session, "ci", [Permission.view_permission])
    admin = _admin(db_session)
    _primed(there, bearer(key))
    assert here.delete(f"/v1/applications/{application.id}", headers=admin).status_code == 204
    assert httpx.get(f"{there}/v1/permissions", headers=bearer(key)).status_code == 401


def test_an_application_permission_removed_is_refused_at_once_by_the_other(
    here: TestClient, there: str, db_session: Session
) -> None:
    application, key = make_application(db_session, "ci", [Permission.view_permission])
    admin = _admin(db_session)
    _primed(there, bearer(key))
    patched = here.patch(
        f"/v1/applications/{application.id}", json={"permissions": []}, headers=admin
    )
    assert patched.status_code == 200
    assert httpx.get(f"{there}/v1/permissions", headers=bearer(key)).status_code == 403


def test_a_team_member_removed_or_a_team_permission_withdrawn_is_refused_at_once(
    here: TestClient, there: str, db_session: Session
) -> None:
    admin = _admin(db_session)
    user = make_user(db_session, "ada@example.com", permissions=[Permission.view_permission])
    other = make_user(db_session, "bob@example.com", permissions=None)
    team = db_session.query(Team).filter_by(name="team-of-ada@example.com").one()
    assert here.post(f"/v1/teams/{team.id}/members/{other.id}", headers=admin).status_code == 200
    ada, bob = session_headers(login(db_session, user)), session_headers(login(db_session, other))
    _primed(there, ada)
    _primed(there, bob)

    removed = here.delete(f"/v1/teams/{team.id}/members/{other.id}", headers=admin)
    assert removed.status_code == 200
    assert httpx.get(f"{there}/v1/permissions", headers=bob).status_code == 403
    assert httpx.get(f"{there}/v1/permissions", headers=ada).status_code == 200

    withdrawn = here.patch(f"/v1/teams/{team.id}", json={"permissions": []}, headers=admin)
    assert withdrawn.status_code == 200
    assert httpx.get(f"{there}/v1/permissions", headers=ada).status_code == 403


def test_a_change_made_in_sql_is_seen_at_once_and_one_made_unannounced_is_not(
    here: TestClient, db_session: Session, engine: Engine
) -> None:
    """The triggers announce any change, whoever makes it; with them disabled, the remembered
    caller is served, which shows that it is remembered at all."""
    application, key = make_application(db_session, "ci", [Permission.view_permission])
    _connected(here.app.state.callers)  # type: ignore[attr-defined]
    _primed_here = [here.get("/v1/permissions", headers=bearer(key)) for _ in range(2)]
    assert all(response.status_code == 200 for response in _primed_here)

    with engine.begin() as connection:
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(
            text("UPDATE application SET permissions = '{}' WHERE id = :id"),
            {"id": application.id},
        )
    assert here.get("/v1/permissions", headers=bearer(key)).status_code == 200

    with engine.begin() as connection:
        connection.execute(
            text("UPDATE application SET name = 'renamed' WHERE id = :id"), {"id": application.id}
        )
    assert here.get("/v1/permissions", headers=bearer(key)).status_code == 403


def _connected(cache: CallerCache) -> int:
    """The generation, once the cache's own connection is open (it opens aside)."""
    deadline = time.monotonic() + 30
    while (generation := cache.generation()) is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return generation


def test_a_remembered_caller_is_not_used_under_another_generation(engine: Engine) -> None:
    cache = CallerCache(engine)
    try:
        generation = _connected(cache)
        cache.store("k", "v", generation)
        assert cache.get("k", generation) == "v"
        with engine.begin() as connection:
            connection.execute(text("UPDATE app_user SET name = name WHERE false"))
        moved = cache.generation()
        assert moved == generation + 1
        assert cache.get("k", moved) is None
    finally:
        cache.close()


def _cut_generation_connections(engine: Engine) -> None:
    """End the server side of every connection that reads the generation, as a restart of
    PostgreSQL or a network cut would."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE '%auth_generation%' "
                "AND pid <> pg_backend_pid()"
            )
        )


def test_a_lost_connection_looks_callers_up_until_it_is_back(engine: Engine) -> None:
    cache = CallerCache(engine)
    try:
        _connected(cache)
        _cut_generation_connections(engine)
        assert cache.generation() is None
        _connected(cache)
    finally:
        cache.close()


def test_the_cache_is_bounded_and_forgets_the_least_recently_used(engine: Engine) -> None:
    cache = CallerCache(engine, capacity=3)
    for name in "abc":
        cache.store(name, name.upper(), 7)
    assert cache.get("a", 7) == "A"
    cache.store("d", "D", 7)
    assert len(cache) == 3
    assert cache.get("b", 7) is None
    assert [cache.get(name, 7) for name in "acd"] == ["A", "C", "D"]


def _lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The callers looked up in a thread from now on (by the access declarations, or by the
    edge for a large body): the name of each function sent to the thread pool for it."""
    trips: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(function: Any, *args: Any, **kwargs: Any) -> Any:
        name = getattr(function, "func", function).__qualname__
        if name == "resolve_principal" or name.startswith("_caller_identifier"):
            trips.append(name)
        return await run_sync(function, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    return trips


def test_a_remembered_key_is_known_without_the_thread_pool(
    here: TestClient, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, key = make_application(db_session, "ci", [Permission.view_permission])
    trips = _lookups(monkeypatch)
    # The event loop's connection opens aside on the first request; until it is there,
    # callers are looked up in a thread.
    deadline = time.monotonic() + 30
    while True:
        trips.clear()
        assert here.get("/v1/version", headers=bearer(key)).status_code == 200
        if not trips:
            break
        assert time.monotonic() < deadline, trips
        time.sleep(0.01)
    large = b"x" * (2 * 1024 * 1024)
    for _ in range(3):
        assert here.get("/v1/permissions", headers=bearer(key)).status_code == 200
        # A body larger than anonymous callers may send: the edge knows the caller too, and
        # lets it through to the permission check.
        refused = here.post(
            "/v1/applications", content=large, headers={**bearer(key), "content-type": "text/plain"}
        )
        assert refused.status_code == 403, refused.text
    assert trips == []

    # A key nobody remembers is looked up, in a thread.
    assert here.get("/v1/version", headers=bearer("to_unknown")).status_code == 401
    assert trips == ["resolve_principal"]


def _connected_async(cache: CallerCache) -> int:
    """`_connected`, on a connection of a new event loop."""

    async def connected() -> int:
        deadline = time.monotonic() + 30
        while (generation := await cache.current_generation()) is None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        return generation

    return asyncio.run(connected())


def test_the_event_loops_reading_follows_the_generation_and_each_loop(engine: Engine) -> None:
    cache = CallerCache(engine)
    try:
        generation = _connected(cache)
        assert _connected_async(cache) == generation
        with engine.begin() as connection:
            connection.execute(text("UPDATE app_user SET name = name WHERE false"))
        # Another loop, as a test client runs: a connection of its own, the same answer.
        assert _connected_async(cache) == generation + 1 == cache.generation()
    finally:
        cache.close()


def test_a_lost_event_loop_connection_looks_callers_up_until_it_is_back(engine: Engine) -> None:
    cache = CallerCache(engine)

    async def lose_and_find() -> None:
        deadline = time.monotonic() + 30
        while await cache.current_generation() is None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        _cut_generation_connections(engine)
        # Past the shared reading of the last request.
        await asyncio.sleep(0.01)
        assert await cache.current_generation() is None
        while await cache.current_generation() is None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        await cache.aclose()

    asyncio.run(lose_and_find())


@pytest.mark.parametrize(
    ("headers", "reads"),
    [
        ([(b"authorization", b"Bearer to_x")], True),
        ([(b"cookie", b"theme=dark; session=abc")], True),
        ([(b"cookie", b"theme=dark")], False),
        ([(b"accept", b"application/json")], False),
    ],
)
def test_the_generation_is_read_on_arrival_only_for_credentials(
    here: TestClient, headers: list[tuple[bytes, bytes]], reads: bool
) -> None:
    """The outermost middleware starts the read for a request that may name a caller, and
    leaves the others alone."""
    seen: dict[str, Any] = {}

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.update(scope.get("state", {}))

    scope = {"type": "http", "headers": headers, "app": here.app}

    async def arrive() -> None:
        await GenerationPrefetch(inner)(scope, None, None)
        read = seen.get(GENERATION_READ)
        if read is not None:
            await read

    asyncio.run(arrive())
    assert (GENERATION_READ in seen) is reads
