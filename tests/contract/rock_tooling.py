"""Host tools the rock contract tests drive: uv, a Python 3.12 and a scratch PostgreSQL."""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def uv_binary() -> str:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("no uv binary on PATH")
    return uv


def _is_python312(candidate: str) -> bool:
    try:
        out = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return False
    return out.returncode == 0 and out.stdout.strip() == "True"


@cache
def python312() -> str | None:
    """An interpreter matching the rock's Python (ubuntu@24.04 ships 3.12), if the host has one."""
    candidates = [os.environ.get("PYTHON312", "")]
    found = subprocess.run(
        ["uv", "python", "find", "3.12"], capture_output=True, text=True, check=False
    )
    if found.returncode == 0:
        candidates.append(found.stdout.strip())
    candidates.append(shutil.which("python3.12") or "")
    # pyenv installs are often invisible to uv when pyenv's shims are not initialised.
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")))
    for candidate in candidates:
        if candidate and _is_python312(candidate):
            return candidate
    return None


def require_python312() -> str:
    interpreter = python312()
    if interpreter is None:
        pytest.skip("no Python 3.12 interpreter on this host")
    return interpreter


def python_for_rock() -> str:
    """Python 3.12 when available, as in the rock; otherwise the interpreter running the tests."""
    return python312() or sys.executable


def clean_env(**overrides: str) -> dict[str, str]:
    """The environment without the outer `uv run` virtualenv leaking into child tools."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_"))}
    env.pop("PYTHONPATH", None)
    env.update(overrides)
    return env


@contextmanager
def scratch_database() -> Iterator[str]:
    """A uniquely-named, empty database on the test server; dropped afterwards.

    Yields a `postgresql://` URL for it. Several test runs may share the server, hence the
    process id and random token in the name.
    """
    admin_url = os.environ.get("TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    name = f"to_rock_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server reachable for tests ({exc.__class__.__name__})")
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            info = admin.info
            host = info.host if not info.host.startswith("/") else "127.0.0.1"
            password = f":{info.password}" if info.password else ""
            yield f"postgresql://{info.user}{password}@{host}:{info.port}/{name}"
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def git_files(root: Path) -> list[Path]:
    """Files git would ship from `root`: tracked plus new, not ignored."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root,
        capture_output=True,
        check=True,
    )
    return [root / p for p in out.stdout.decode().split("\0") if p and (root / p).is_file()]


def copy_source_tree(root: Path, dest: Path) -> Path:
    """Copy what the rock's part pulls (the repository without ignored files) into `dest`."""
    for path in git_files(root):
        target = dest / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return dest
