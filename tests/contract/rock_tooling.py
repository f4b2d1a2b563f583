"""Host tools the rock contract tests drive: uv and a Python 3.12."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest


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


@contextmanager
def private_tmp(label: str) -> Iterator[Path]:
    """A temporary directory outside pytest's base temporary directory.

    pytest keeps only its last few base directories and deletes older ones, so a run that
    overlaps with others on the same machine can lose its files mid-test.
    """
    with tempfile.TemporaryDirectory(prefix=f"to-contract-{label}-") as path:
        yield Path(path)
