"""The COS relations: metrics scraping, Grafana dashboards and log forwarding to Loki.

Written from the interfaces' public definitions (prometheus_scrape, grafana_dashboard and
loki_push_api), so the charm needs no Charmhub library:

- `metrics-endpoint` (prometheus_scrape, provider): the leader publishes `scrape_metadata`,
  `scrape_jobs` and `alert_rules` (JSON) in the application databag; each unit publishes
  `prometheus_scrape_unit_address` and `prometheus_scrape_unit_name`. A `*` target host means
  "every unit of the application". The job carries Prometheus's `authorization` (the bearer
  token the metrics server requires) and a static label with the migration gate's state.
- `grafana-dashboard` (grafana_dashboard, provider): the leader publishes `dashboards`, JSON
  with `templates` (per dashboard: `charm`, `content` as LZMA-compressed base64,
  `juju_topology`, `inject_dropdowns`) and a `uuid` that changes with the content.
- `logging` (loki_push_api, requirer): each Loki unit publishes `endpoint` = `{"url": ...}`;
  Pebble forwards every service's logs to each of them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import lzma
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ops
import yaml

logger = logging.getLogger(__name__)

METRICS_RELATION = "metrics-endpoint"
DASHBOARD_RELATION = "grafana-dashboard"
LOGGING_RELATION = "logging"
METRICS_PATH = "/metrics"
GATE_LABEL = "test_observer_gate"
LOGGING_LAYER = "cos-logging"
# The files ship inside the charm next to the package (charm/src).
SOURCE_DIR = Path(__file__).resolve().parent.parent
DASHBOARDS_DIR = SOURCE_DIR / "grafana_dashboards"
ALERT_RULES_DIR = SOURCE_DIR / "prometheus_alert_rules"
TOPOLOGY_PLACEHOLDER = "%%juju_topology%%"


def topology(charm: ops.CharmBase) -> dict[str, str]:
    model = charm.model
    return {
        "model": model.name,
        "model_uuid": model.uuid,
        "application": charm.app.name,
        "unit": charm.unit.name,
        "charm_name": charm.meta.name,
    }


def topology_identifier(charm: ops.CharmBase) -> str:
    """`<model>_<first 8 of the model's uuid>_<application>`, as COS names an application."""
    labels = topology(charm)
    return f"{labels['model']}_{labels['model_uuid'][:8]}_{labels['application']}"


def _topology_selector(charm: ops.CharmBase) -> str:
    labels = topology(charm)
    return ",".join(f'juju_{key}="{labels[key]}"' for key in ("model", "model_uuid", "application"))


def alert_rules(charm: ops.CharmBase, directory: Path = ALERT_RULES_DIR) -> dict[str, Any]:
    """Every rule file's groups, with expressions limited to this application's series and
    the rules labelled with its topology (what Prometheus expects from a scrape provider)."""
    selector = _topology_selector(charm)
    labels = topology(charm)
    groups: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.rules")):
        document = yaml.safe_load(path.read_text())
        for group in document.get("groups", []):
            rules = []
            for rule in group.get("rules", []):
                rule = dict(rule)
                rule["expr"] = rule["expr"].replace(TOPOLOGY_PLACEHOLDER, selector)
                rule["labels"] = {
                    **rule.get("labels", {}),
                    "juju_model": labels["model"],
                    "juju_model_uuid": labels["model_uuid"],
                    "juju_application": labels["application"],
                    "juju_charm": labels["charm_name"],
                }
                rules.append(rule)
            groups.append({"name": f"{topology_identifier(charm)}_{group['name']}", "rules": rules})
    return {"groups": groups}


def encode_dashboard(content: str) -> str:
    """LZMA-compressed, base64-encoded: how the interface carries dashboard JSON."""
    return base64.b64encode(lzma.compress(content.encode())).decode()


def decode_dashboard(encoded: str) -> str:
    return lzma.decompress(base64.b64decode(encoded)).decode()


class Observability(ops.Object):
    """Publishes what COS needs to scrape, chart and collect the logs of the API."""

    def __init__(
        self,
        charm: ops.CharmBase,
        *,
        container_name: str,
        metrics_port: Callable[[], int | None],
        metrics_token: Callable[[], str | None] = lambda: None,
        gate_state: Callable[[], str] = lambda: "",
    ) -> None:
        super().__init__(charm, "observability")
        self._charm = charm
        self._container_name = container_name
        self._metrics_port = metrics_port
        self._metrics_token = metrics_token
        self._gate_state = gate_state
        on = charm.on
        events: list[ops.BoundEvent] = [
            on.leader_elected,
            on.upgrade_charm,
            on.config_changed,
            on[container_name].pebble_ready,
        ]
        for relation in (METRICS_RELATION, DASHBOARD_RELATION, LOGGING_RELATION):
            events += [
                on[relation].relation_joined,
                on[relation].relation_changed,
                on[relation].relation_departed,
                on[relation].relation_broken,
            ]
        for event in events:
            self.framework.observe(event, self._on_change)

    def _on_change(self, event: ops.EventBase) -> None:
        self.publish_scrape_jobs()
        self.publish_dashboards()
        self.forward_logs(event)

    # metrics-endpoint

    def publish_scrape_jobs(self) -> None:
        port = self._metrics_port()
        for relation in self._charm.model.relations[METRICS_RELATION]:
            address = self._unit_address(relation)
            unit_data = {"prometheus_scrape_unit_name": self._charm.unit.name}
            if address:
                unit_data["prometheus_scrape_unit_address"] = address
            _update(relation.data[self._charm.unit], unit_data)
            if not self._charm.unit.is_leader():
                continue
            jobs: list[dict[str, Any]] = []
            if port:
                job: dict[str, Any] = {
                    "metrics_path": METRICS_PATH,
                    "static_configs": [
                        {
                            "targets": [f"*:{port}"],
                            # The migration gate's state on every series, `up` included, so
                            # an intended drain can be told from an outage.
                            "labels": {GATE_LABEL: self._gate_state() or "none"},
                        }
                    ],
                }
                token = self._metrics_token()
                if token:
                    job["authorization"] = {"type": "Bearer", "credentials": token}
                jobs.append(job)
            _update(
                relation.data[self._charm.app],
                {
                    "scrape_metadata": json.dumps(topology(self._charm)),
                    "scrape_jobs": json.dumps(jobs),
                    "alert_rules": json.dumps(alert_rules(self._charm)),
                },
            )

    def _unit_address(self, relation: ops.Relation) -> str | None:
        binding = self._charm.model.get_binding(relation)
        address = binding.network.ingress_address if binding is not None else None
        return str(address) if address is not None else None

    # grafana-dashboard

    def publish_dashboards(self) -> None:
        if not self._charm.unit.is_leader():
            return
        labels = topology(self._charm)
        templates = {}
        for path in sorted(DASHBOARDS_DIR.glob("*.json")):
            content = path.read_text()
            # Keyed by the file's stem, as the grafana_dashboard library keys its own.
            templates[f"file:{path.stem}"] = {
                "charm": labels["charm_name"],
                "content": encode_dashboard(content),
                "juju_topology": {
                    key: labels[key] for key in ("model", "model_uuid", "application", "unit")
                },
                "inject_dropdowns": True,
                "dashboard_alt_uid": hashlib.sha256(
                    f"{labels['model_uuid']}:{labels['application']}:{path.name}".encode()
                ).hexdigest()[:40],
            }
        # The uuid changes exactly when the content does, so Grafana reloads only then.
        digest = hashlib.sha256(json.dumps(templates, sort_keys=True).encode()).hexdigest()
        wanted = {"dashboards": json.dumps({"templates": templates, "uuid": digest})}
        for relation in self._charm.model.relations[DASHBOARD_RELATION]:
            _update(relation.data[self._charm.app], wanted)

    # logging

    def loki_endpoints(self, departing: ops.Unit | None = None) -> dict[str, str]:
        """Push URL per Loki unit, from every logging relation."""
        endpoints: dict[str, str] = {}
        for relation in self._charm.model.relations[LOGGING_RELATION]:
            for unit in relation.units:
                if unit == departing:
                    continue
                raw = relation.data[unit].get("endpoint")
                if not raw:
                    continue
                try:
                    url = json.loads(raw)["url"]
                except (ValueError, KeyError, TypeError):
                    logger.warning("ignoring malformed logging endpoint from %s", unit.name)
                    continue
                if isinstance(url, str) and url:
                    endpoints[unit.name] = url
        return endpoints

    def forward_logs(self, event: ops.EventBase | None = None) -> None:
        container = self._charm.unit.get_container(self._container_name)
        if not container.can_connect():
            return
        # During relation-broken the relation is no longer listed; during relation-departed
        # the departing unit still is.
        departing = event.departing_unit if isinstance(event, ops.RelationDepartedEvent) else None
        endpoints = self.loki_endpoints(departing)
        labels = topology(self._charm)
        existing = container.get_plan().log_targets
        targets: dict[str, Any] = {}
        for unit_name, url in endpoints.items():
            targets[_target_name(unit_name)] = {
                "override": "replace",
                "type": "loki",
                "location": url,
                "services": ["all"],
                "labels": {
                    "product": "Juju",
                    "charm": labels["charm_name"],
                    "juju_model": labels["model"],
                    "juju_model_uuid": labels["model_uuid"],
                    "juju_application": labels["application"],
                    "juju_unit": labels["unit"],
                    # The labels of the loki_push_api library's own forwarder, `job`
                    # included, so our streams look like every other charm's in Loki.
                    "job": f"juju_{topology_identifier(self._charm)}",
                },
            }
        # A target cannot be removed from a plan; one that is gone forwards nothing.
        for name, target in existing.items():
            if name not in targets and target.services != ["-all"]:
                targets[name] = {
                    "override": "replace",
                    "type": target.type,
                    "location": target.location,
                    "services": ["-all"],
                }
        if not targets:
            return
        container.add_layer(LOGGING_LAYER, {"log-targets": targets}, combine=True)


def _target_name(unit_name: str) -> str:
    return unit_name.replace("/", "-")


def _update(databag: ops.RelationDataContent, wanted: dict[str, str]) -> None:
    if any(databag.get(key) != value for key, value in wanted.items()):
        databag.update(wanted)
