"""The Pebble layer the rock ships is the one the charm and the backend agree on."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import yaml
from ops import pebble, testing

from tests.contract.rock_layer import (
    REPO_ROOT,
    SERVICE_NAME,
    rock_check_paths,
    rock_command,
    rock_layer,
    rock_port,
    rock_service,
)

# What the charm expects, when the charm is not in this tree to ask.
CONTRACT_PORT = 30000
CONTRACT_SERVICE = "test-observer-api"
WORKER_SERVICE = "test-observer-worker"
CONTRACT_CONTAINER = "api"
CONTRACT_RESOURCE = "api-image"


def test_layer_loads_with_ops_testing_and_has_the_api_and_the_worker() -> None:
    layer = rock_layer()
    assert list(layer.services) == [SERVICE_NAME, WORKER_SERVICE]
    service = rock_service()
    assert service.override == "replace"
    assert service.startup == "enabled"
    # The worker is the charm's (or operator's) to start, once the schema is migrated.
    worker = layer.services[WORKER_SERVICE]
    assert worker.command == "test-observer worker"
    assert worker.startup == "disabled"
    assert worker.user == "_daemon_"


def test_service_runs_the_backend_console_script_without_migrating() -> None:
    argv = rock_command()
    assert argv[:2] == ["test-observer", "serve"]
    assert "--no-migrate" in argv
    # Other pods reach the API through the Kubernetes service, so it must not bind loopback.
    assert argv[argv.index("--host") + 1] == "0.0.0.0"


def test_checks_probe_both_health_endpoints_on_localhost_at_the_service_port() -> None:
    layer = rock_layer()
    assert sorted(rock_check_paths().values()) == ["/health/live", "/health/ready"]
    levels = {}
    for name, check in layer.checks.items():
        assert check.http is not None, name
        url = urlsplit(check.http["url"])
        # The API answers its health endpoints for loopback clients only.
        assert url.hostname == "localhost", name
        assert url.port == rock_port(), name
        levels[url.path] = check.level
    # An alive-level check would get the pod killed while a charm holds the service stopped.
    assert levels["/health/live"] == pebble.CheckLevel.UNSET
    assert levels["/health/ready"] == pebble.CheckLevel.READY


def test_a_failing_liveness_check_restarts_the_service() -> None:
    live = next(name for name, path in rock_check_paths().items() if path == "/health/live")
    assert rock_service().on_check_failure == {live: "restart"}


def test_charm_container_plan_starts_from_the_rock_layer() -> None:
    container = testing.Container(
        CONTRACT_CONTAINER, can_connect=True, layers={"rock": rock_layer()}
    )
    plan = container.plan
    assert plan.services[SERVICE_NAME].command == rock_service().command
    assert set(plan.checks) == set(rock_layer().checks)


def _charmcraft() -> dict[str, Any] | None:
    path = REPO_ROOT / "charmcraft.yaml"
    if not path.is_file():
        return None
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def test_port_matches_what_the_charm_expects() -> None:
    charmcraft = _charmcraft()
    expected = CONTRACT_PORT
    if charmcraft is not None:
        options = (charmcraft.get("config") or {}).get("options") or {}
        port_options = [v for k, v in options.items() if "port" in k and "default" in v]
        if port_options:
            expected = port_options[0]["default"]
    assert rock_port() == expected


def test_service_and_container_names_match_the_charm() -> None:
    charmcraft = _charmcraft()
    if charmcraft is None:
        # Until the charm is in this tree, the shared contract is what it will expect.
        assert SERVICE_NAME == CONTRACT_SERVICE
        return
    containers = charmcraft.get("containers") or {}
    assert CONTRACT_CONTAINER in containers
    assert containers[CONTRACT_CONTAINER].get("resource") == CONTRACT_RESOURCE
    charm_sources = "\n".join(
        p.read_text() for p in (REPO_ROOT / "charm").rglob("*.py") if "test" not in p.name
    )
    assert SERVICE_NAME in charm_sources
    # Same check names, so the charm's layer replaces the rock's checks instead of adding to them.
    for check in rock_layer().checks:
        assert f'"{check}"' in charm_sources, check
