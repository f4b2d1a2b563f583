"""The local tutorial works when followed to the letter.

The test runs what the tutorial tells a newcomer to run: the same `test-observer` commands and
the same requests with the same bodies, in the same order, against a real server and database,
and checks the outcome the tutorial promises.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.contract.rock_tooling import private_tmp
from tests.contract.test_docs_commands import commands_in_markdown
from tests.contract.test_docs_requests import requests_in_markdown
from tests.database import scratch_database

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "tutorial" / "first-run-locally.md"
CLI = str(Path(sys.executable).with_name("test-observer"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(args: tuple[str, ...], env: dict[str, str]) -> str:
    result = subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=300, env=env, check=False
    )
    assert result.returncode == 0, f"test-observer {' '.join(args)}: {result.stderr}"
    return result.stdout


@pytest.fixture
def server(database_server: str) -> Iterator[tuple[str, dict[str, str]]]:
    """(base URL, environment) of a freshly migrated server, as the tutorial has running."""
    with scratch_database(database_server, "tutorial") as url, private_tmp("tutorial") as tmp:
        env = {**os.environ, "DB_URL": url}
        _cli(("db", "upgrade"), env)
        port = _free_port()
        log = (tmp / "serve.log").open("w+")
        process = subprocess.Popen(
            [CLI, "serve", "--port", str(port), "--no-migrate"],
            env=env,
            stdout=log,
            stderr=log,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                assert process.poll() is None, log.read()
                try:
                    if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.3)
            yield base, env
        finally:
            process.terminate()
            process.wait(timeout=20)
            log.close()


def test_local_tutorial_reports_a_run_as_described(server: tuple[str, dict[str, str]]) -> None:
    base, env = server
    text = TUTORIAL.read_text(encoding="utf-8")

    creations = [
        c.args
        for c in commands_in_markdown(text, TUTORIAL.name)
        if c.args[:2] == ("admin", "create-application")
    ]
    assert creations, "the tutorial no longer creates an API key"
    key = _cli(creations[0], env).strip().splitlines()[-1]
    assert key.startswith("to_")

    execution_id: str | None = None
    requests = requests_in_markdown(text, TUTORIAL.name)
    assert requests
    with httpx.Client(base_url=base, timeout=30) as client:
        for request in requests:
            path = request.path
            if "$EXECUTION_ID" in path:
                assert execution_id is not None, f"{request} comes before start-test"
                path = path.replace("$EXECUTION_ID", execution_id)
            headers = {"Authorization": f"Bearer {key}"}
            if request.body is not None:
                headers["Content-Type"] = "application/json"
            response = client.request(request.method, path, headers=headers, content=request.body)
            assert response.is_success, f"{request}: {response.status_code} {response.text}"
            if request.path.endswith("/start-test"):
                execution_id = str(response.json()["id"])

        assert execution_id is not None
        headers = {"Authorization": f"Bearer {key}"}
        execution = client.get(f"/v1/test-executions/{execution_id}", headers=headers).json()
        results = client.get(
            f"/v1/test-executions/{execution_id}/test-results", headers=headers
        ).json()

    # What the tutorial's last section says the reader sees.
    assert execution["status"] == "FAILED"
    assert execution["environment"]["name"] == "my-laptop"
    assert execution["environment"]["architecture"] == "amd64"
    assert execution["test_plan"] == "tutorial-smoke"
    assert execution["ci_link"] == "https://ci.example.com/job/tutorial/1"
    assert sorted((r["name"], r["status"], r["category"]) for r in results) == [
        ("install", "PASSED", "Smoke"),
        ("launch", "FAILED", "Smoke"),
    ]
