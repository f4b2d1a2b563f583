"""The COS relations with the real Prometheus, Grafana and Loki charms: the API is scraped with
its token and its alert rules are loaded, its dashboards appear in Grafana, its logs in Loki."""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .model import APP, deploy_with_database, wait_active

if TYPE_CHECKING:
    import jubilant

pytestmark = pytest.mark.integration
PROMETHEUS, GRAFANA, LOKI = "prometheus-k8s", "grafana-k8s", "loki-k8s"
COS_CHANNEL = "latest/stable"
DASHBOARDS = Path(__file__).resolve().parents[2] / "charm" / "src" / "grafana_dashboards"
SETTLE = 10 * 60


def get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def eventually(check: Callable[[], bool], what: str) -> None:
    """Scrapes, dashboard loads and log pushes happen on their own schedules."""
    deadline = time.monotonic() + SETTLE
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(10)
    pytest.fail(f"not seen within {SETTLE} s: {what}")


def address(juju: jubilant.Juju, app: str) -> str:
    return juju.status().apps[app].units[f"{app}/0"].address


@pytest.mark.juju_setup
def test_deploy_and_relate_to_cos(juju: jubilant.Juju, charm_path: Path, api_image: str):
    for app in (PROMETHEUS, GRAFANA, LOKI):
        juju.deploy(app, channel=COS_CHANNEL, trust=True)
    deploy_with_database(juju, charm_path, api_image)
    juju.integrate(f"{APP}:metrics-endpoint", PROMETHEUS)
    juju.integrate(f"{APP}:grafana-dashboard", GRAFANA)
    juju.integrate(f"{APP}:logging", LOKI)

    wait_active(juju, PROMETHEUS, GRAFANA, LOKI)


def test_prometheus_scrapes_the_api_with_its_token(juju: jubilant.Juju):
    url = f"http://{address(juju, PROMETHEUS)}:9090/api/v1/targets"

    def up() -> bool:
        targets = get_json(url)["data"]["activeTargets"]
        ours = [t for t in targets if t["labels"].get("juju_application") == APP]
        return bool(ours) and all(t["health"] == "up" for t in ours)

    eventually(up, f"every {APP} target up in Prometheus")


def test_prometheus_loaded_the_alert_rules(juju: jubilant.Juju):
    url = f"http://{address(juju, PROMETHEUS)}:9090/api/v1/rules"

    def loaded() -> bool:
        groups = get_json(url)["data"]["groups"]
        names = {rule["name"] for group in groups for rule in group["rules"]}
        return "TestObserverApiDown" in names

    eventually(loaded, "TestObserverApiDown among Prometheus's rules")


def test_grafana_shows_the_dashboards(juju: jubilant.Juju):
    password = juju.run(f"{GRAFANA}/0", "get-admin-password").results["admin-password"]
    token = base64.b64encode(f"admin:{password}".encode()).decode()
    url = f"http://{address(juju, GRAFANA)}:3000/api/search?type=dash-db"
    titles = {json.loads(p.read_text())["title"] for p in DASHBOARDS.glob("*.json")}

    def shown() -> bool:
        found = {d["title"] for d in get_json(url, {"Authorization": f"Basic {token}"})}
        return titles <= found

    eventually(shown, f"dashboards {sorted(titles)} in Grafana")


def test_loki_receives_the_api_logs(juju: jubilant.Juju):
    url = f"http://{address(juju, LOKI)}:3100/loki/api/v1/label/juju_application/values"

    eventually(lambda: APP in get_json(url).get("data", []), f"{APP}'s logs in Loki")
