"""Integration tests need a Juju controller on microk8s, a packed charm and a published rock.

    tox -e integration

packs the charm and the rock where charmcraft and rockcraft are installed (see artefacts.py);
`CHARM_PATH` and `API_IMAGE` name prebuilt ones instead. Everything here is skipped on machines
without a `juju` binary, and collected everywhere, so that a broken module fails `tox -e charm`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from . import artefacts

HERE = Path(__file__).parent


def pytest_configure(config: pytest.Config) -> None:
    # pytest-jubilant registers this marker too, but only where the integration group is installed.
    config.addinivalue_line("markers", "juju_setup: tests that set up part of the model")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if shutil.which("juju") is not None:
        return
    skip = pytest.mark.skip(reason="no `juju` binary on PATH: needs a Juju controller on microk8s")
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def charm_path() -> Path:
    try:
        return artefacts.charm()
    except (artefacts.MissingToolError, FileNotFoundError) as e:
        pytest.fail(str(e))


@pytest.fixture(scope="session")
def api_image() -> str:
    try:
        return artefacts.rock_image()
    except (artefacts.MissingToolError, FileNotFoundError) as e:
        pytest.fail(str(e))
