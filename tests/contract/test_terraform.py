"""The terraform/ module is well formed, and valid against the Juju provider when it can be had."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "terraform"


def _terraform() -> str:
    binary = shutil.which("terraform")
    if binary is None:
        pytest.skip("no terraform binary")
    return binary


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    return subprocess.run(
        [_terraform(), *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300
    )


def test_the_module_is_formatted():
    result = _run("fmt", "-check", "-diff", "-recursive", cwd=MODULE)

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_module_validates_against_the_juju_provider(tmp_path):
    copy = tmp_path / "module"
    shutil.copytree(MODULE, copy)
    init = _run("init", "-backend=false", "-input=false", "-no-color", cwd=copy)
    if init.returncode != 0:
        if "registry.terraform.io" in init.stderr or "Failed to query" in init.stderr:
            pytest.skip("no access to the Terraform registry to install the juju provider")
        pytest.fail(init.stderr)

    result = _run("validate", "-no-color", cwd=copy)

    assert result.returncode == 0, result.stderr


def test_the_module_uses_the_charms_name_and_endpoints():
    charm = yaml.safe_load((ROOT / "charmcraft.yaml").read_text())
    main = (MODULE / "main.tf").read_text()

    assert f'name     = "{charm["name"]}"' in main
    endpoints = set(re.findall(r'endpoint = "([a-z-]+)"', main))
    assert endpoints <= set(charm["requires"]) | set(charm["provides"])
    assert {"database", "ingress"} <= endpoints


def test_the_module_targets_provider_1_by_model_uuid_with_constraints():
    versions = (MODULE / "versions.tf").read_text()
    main = (MODULE / "main.tf").read_text()
    variables = (MODULE / "variables.tf").read_text()

    assert re.search(r'version\s*=\s*">= 1\.0\.0, < 2\.0\.0"', versions)
    # Every resource names its model by UUID, as provider 1.x requires.
    resources = re.findall(r'^resource "juju_\w+"', main, flags=re.MULTILINE)
    assert len(re.findall(r"^\s*model_uuid\s*=\s*var\.model_uuid", main, re.MULTILINE)) == len(
        resources
    )
    assert not re.search(r"^\s*model\s*=", main, re.MULTILINE)
    assert 'variable "constraints"' in variables
    assert re.search(r"^\s*constraints\s*=\s*var\.constraints", main, re.MULTILINE)


def test_the_outputs_name_every_endpoint_of_the_charm():
    charm = yaml.safe_load((ROOT / "charmcraft.yaml").read_text())
    outputs = (MODULE / "outputs.tf").read_text()

    named = set(re.findall(r'=\s*"([a-z-]+)"', outputs))
    assert named == set(charm["requires"]) | set(charm["provides"])
