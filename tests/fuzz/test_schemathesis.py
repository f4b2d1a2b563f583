"""Schemathesis against the committed OpenAPI document, on a real server and database.

Every generated request, valid or not, must get an answer that is not a 5xx and that matches the
document (status, content type, body schema), and an undeclared method must be a 405. The run is
seeded, so a failure reproduces with the same FUZZ_SEED, and bounded by FUZZ_SECONDS of
wall-clock time whatever the machine's speed: three minutes in CI (CI=true), a ten-second
smoke run otherwise, so that the default local run stays short.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fastapi import FastAPI

from tests.backend.executions.live import serve

FULL_SECONDS = 180
SMOKE_SECONDS = 10
DOCUMENT = Path(__file__).parents[2] / "backend" / "schemata" / "openapi.json"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "content_type_conformance",
        "response_schema_conformance",
        "unsupported_method",
    ]
)


def test_no_server_error_and_no_schema_violation(app: FastAPI, tmp_path: Path) -> None:
    default = FULL_SECONDS if os.environ.get("CI", "").lower() == "true" else SMOKE_SECONDS
    seconds = int(os.environ.get("FUZZ_SECONDS", default))
    seed = os.environ.get("FUZZ_SEED", "16")
    with serve(app) as base_url:
        command = [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            str(DOCUMENT),
            "--url",
            base_url,
            "--checks",
            CHECKS,
            "--seed",
            seed,
            "--max-time",
            str(seconds),
            "--request-timeout",
            "30",
            "--report-dir",
            str(tmp_path),
            "--no-color",
            # Its whole purpose is to fail with a 500, so that an operator can see the error
            # arrive in Sentry (platform spec §2.10); every other operation is checked.
            "--exclude-path",
            "/sentry-debug",
        ]
        # The subprocess has its own deadline: the run must never outlive its budget by much.
        finished = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=seconds + 120,
            check=False,
            # Schemathesis keeps a cache in its working directory.
            cwd=tmp_path,
        )
    output = finished.stdout + finished.stderr
    print(output)
    assert finished.returncode == 0, output[-20000:]
