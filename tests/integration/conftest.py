"""Integration tests need a Juju controller on microk8s, a packed charm and a published rock.

    CHARM_PATH=./test-observer-api_amd64.charm API_IMAGE=localhost:32000/test-observer:dev \\
        tox -e integration

Everything here is skipped on machines without a `juju` binary.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_configure(config: pytest.Config) -> None:
    # pytest-jubilant registers this marker too, but only where the integration group is installed.
    config.addinivalue_line("markers", "juju_setup: tests that set up part of the model")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if shutil.which("juju") is not None:
        return
    skip = pytest.mark.skip(reason="no juju binary")
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def charm_path() -> Path:
    path = os.environ.get("CHARM_PATH")
    if not path or not Path(path).is_file():
        pytest.fail("set CHARM_PATH to the packed charm (charmcraft pack)")
    return Path(path).resolve()


@pytest.fixture(scope="session")
def api_image() -> str:
    image = os.environ.get("API_IMAGE")
    if not image:
        pytest.fail("set API_IMAGE to the rock's image reference in a registry the cluster reads")
    return image
