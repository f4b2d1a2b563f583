"""A migrated server run by the real command, with an API key, for tests that drive it from
outside (a browser): what the page tests share."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.contract.browser import find_browser
from tests.contract.charm_workload import free_port
from tests.contract.rock_tooling import private_tmp
from tests.database import scratch_database

CLI = str(Path(sys.executable).with_name("test-observer"))


def require_browser() -> str:
    found = find_browser()
    if found is None:
        pytest.skip("no chromium binary (Debian package chromium; .ci/run installs it)")
    return found


@contextmanager
def served_with_key(
    database_server: str,
    name: str,
    *,
    application: str,
    env: dict[str, str],
    permissions: tuple[str, ...],
    serve_options: tuple[str, ...] = (),
    ready_within: float,
) -> Iterator[tuple[str, str]]:
    """(base URL, API key of an application holding `permissions`) of a server on a scratch
    database, upgraded and served by `test-observer`; stopped on exit."""
    with scratch_database(database_server, name) as url, private_tmp(name) as tmp:
        environment = {**os.environ, "DB_URL": url, **env}
        upgraded = subprocess.run(
            [CLI, "db", "upgrade"], env=environment, capture_output=True, text=True, timeout=300
        )
        assert upgraded.returncode == 0, upgraded.stderr
        grants = [arg for p in permissions for arg in ("--permission", p)]
        created = subprocess.run(
            [CLI, "admin", "create-application", application, *grants],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert created.returncode == 0, created.stderr
        key = created.stdout.strip().splitlines()[-1]
        port = free_port()
        log = (tmp / "serve.log").open("w+")
        process = subprocess.Popen(
            [CLI, "serve", "--port", str(port), "--no-migrate", *serve_options],
            env=environment,
            stdout=log,
            stderr=log,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + ready_within
            while True:
                assert process.poll() is None, log.read()
                try:
                    if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, (
                    f"the server did not become ready in {ready_within:.0f} s: {log.read()}"
                )
                time.sleep(0.3)
            yield base, key
        finally:
            process.terminate()
            process.wait(timeout=20)
            log.close()
