"""The rock's own Pebble layer, for tests that need to start from what the image ships.

Charm tests should build their `testing.Container` from `rock_layer()` rather than from a
hand-written copy, so a change to `rockcraft.yaml` that the charm does not expect fails them.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from urllib.parse import urlsplit

from ops import pebble, testing

REPO_ROOT = Path(__file__).resolve().parents[2]
ROCKCRAFT_YAML = REPO_ROOT / "rockcraft.yaml"

SERVICE_NAME = "test-observer-api"


def rock_layer() -> pebble.Layer:
    """The Pebble layer the rock ships, read with ops.testing's own loader."""
    return testing.layer_from_rockcraft(ROCKCRAFT_YAML)


def rock_service() -> pebble.Service:
    return rock_layer().services[SERVICE_NAME]


def rock_command() -> list[str]:
    return shlex.split(rock_service().command)


def rock_port() -> int:
    """The port the service listens on, taken from its own `--port` flag."""
    argv = rock_command()
    return int(argv[argv.index("--port") + 1])


def rock_check_paths() -> dict[str, str]:
    """Check name → HTTP path for every HTTP check of the layer."""
    return {
        name: urlsplit(check.http["url"]).path
        for name, check in rock_layer().checks.items()
        if check.http is not None
    }
