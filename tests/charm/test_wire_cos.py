"""The COS relations against the real libraries Prometheus, Grafana and Loki run.

- `metrics-endpoint`: prometheus-k8s's `MetricsEndpointConsumer` turns our databags into scrape
  jobs and alert rules files, which Prometheus's own `promtool` then accepts.
- `grafana-dashboard`: grafana-k8s's `GrafanaDashboardConsumer` decodes, renders and stores
  our dashboards without error.
- `logging`: loki-k8s's `LokiPushApiProvider` publishes its push endpoint; our charm forwards
  the workload's logs there, to the same Pebble log targets the library's own `LogForwarder`
  would configure.

For what we provide, the libraries' own providers (`MetricsEndpointProvider`,
`GrafanaDashboardProvider`) run on the same job, rules and dashboards, and the tests state
where our databags differ from theirs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import ops
import pytest
import yaml
from ops import testing
from test_observer_charm.observability import ALERT_RULES_DIR, DASHBOARDS_DIR, decode_dashboard

from . import interface_libs
from .states import charm_metadata, make_context, ready_state

scrape_lib = interface_libs.load("charms.prometheus_k8s.v0.prometheus_scrape")
dashboard_lib = interface_libs.load("charms.grafana_k8s.v0.grafana_dashboard")
loki_lib = interface_libs.load("charms.loki_k8s.v1.loki_push_api")

MODEL = testing.Model(name="test-observer", uuid="2f7c7e6a-0b8e-4c1e-9a43-6f1d2b3c4d5e")
LOKI_URL = "http://loki-k8s-0.loki-k8s-endpoints.cos.svc.cluster.local:3100"


def ours_on(endpoint: str, **config: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Our charm's app and unit databags on a COS relation."""
    ctx = make_context()
    relation = testing.Relation(endpoint, remote_app_name="cos")
    out = ctx.run(
        ctx.on.relation_joined(relation, remote_unit=0),
        ready_state(relations=[relation], config=config, model=MODEL),
    )
    written = out.get_relation(relation.id)
    return dict(written.local_app_data), dict(written.local_unit_data)


def read_back(charm_type: type[ops.CharmBase], meta: dict[str, Any], relation, read, extra=()):
    """Run a COS charm on relation-changed and let `read(charm)` look at what its library made."""
    ctx = testing.Context(charm_type, meta=meta)
    with ctx(
        ctx.on.relation_changed(relation, remote_unit=0),
        testing.State(leader=True, relations={relation, *extra}),
    ) as manager:
        out = manager.run()
        return read(manager.charm), out


def as_our_charm(
    charm_type: type[ops.CharmBase], endpoint: str, interface: str, files: Path, root: Path
) -> Any:
    """A library's own provider in our charm's place, shipping our files from src/ where the
    library looks for them; its side of the relation once a consumer has joined."""
    shutil.copytree(files, root / "src" / files.name)
    ctx = testing.Context(
        charm_type,
        meta={"name": "test-observer-api", "provides": {endpoint: {"interface": interface}}},
        charm_root=root,
        app_name="test-observer-api",
    )
    relation = testing.Relation(endpoint, remote_app_name="cos")
    state = testing.State(leader=True, relations={relation}, model=MODEL)
    out = ctx.run(ctx.on.relation_created(relation), state)
    created = out.get_relation(relation.id)
    out = ctx.run(ctx.on.relation_joined(created, remote_unit=0), out)
    return out.get_relation(relation.id)


# metrics-endpoint


class PrometheusCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self.metrics = scrape_lib.MetricsEndpointConsumer(self)


PROMETHEUS_META = {
    "name": "prometheus-k8s",
    "requires": {"metrics-endpoint": {"interface": "prometheus_scrape"}},
}


def prometheus_reads_us() -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, str]]:
    app, unit = ours_on("metrics-endpoint", **{"metrics-port": 9100})
    relation = testing.Relation(
        "metrics-endpoint",
        remote_app_name="test-observer-api",
        remote_app_data=app,
        remote_units_data={0: unit},
    )
    (jobs, alerts), out = read_back(
        PrometheusCharm,
        PROMETHEUS_META,
        relation,
        lambda charm: (charm.metrics.jobs(), charm.metrics.alerts),
    )
    return jobs, alerts, dict(out.get_relation(relation.id).local_app_data)


def test_prometheus_scrapes_every_unit_with_the_token_and_the_gate_label():
    jobs, _, _ = prometheus_reads_us()

    (job,) = jobs
    assert job["metrics_path"] == "/metrics"
    # The library keeps `authorization` (it is on its list of allowed keys).
    assert job["authorization"] == {"type": "Bearer", "credentials": "generated-metrics-token"}
    (targets,) = job["static_configs"]
    # The `*` host became this unit's address, labelled with the unit's name.
    assert targets["targets"] == ["192.0.2.0:9100"]
    assert targets["labels"]["juju_unit"] == "test-observer-api/0"
    assert targets["labels"]["juju_application"] == "test-observer-api"
    assert targets["labels"]["test_observer_gate"] == "none"


def test_prometheus_accepts_our_scrape_jobs_as_configuration(tmp_path: Path):
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("no promtool binary (apt-get install prometheus)")
    jobs, _, _ = prometheus_reads_us()
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({"scrape_configs": jobs}))

    result = subprocess.run(
        [promtool, "check", "config", "--syntax-only", str(config)],
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_takes_our_alert_rules_and_promtool_accepts_its_file(tmp_path: Path):
    _, alerts, written = prometheus_reads_us()

    (identifier,) = alerts
    # The file is named from the rules' own topology labels, not from a fallback.
    assert identifier.startswith(f"{MODEL.name}_{MODEL.uuid[:8]}_test-observer-api_")
    names = {rule["alert"] for group in alerts[identifier]["groups"] for rule in group["rules"]}
    assert "TestObserverApiDown" in names
    # Prometheus reports no error back to us.
    assert "errors" not in json.loads(written.get("event", "{}"))
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("no promtool binary (apt-get install prometheus)")
    rules = tmp_path / f"juju_{identifier}.rules"
    rules.write_text(yaml.safe_dump(alerts[identifier]))
    result = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


class ScrapeTargetCharm(ops.CharmBase):
    """Any charm offering metrics with the library's own provider, our job and rules."""

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self.metrics = scrape_lib.MetricsEndpointProvider(
            self, jobs=[{"metrics_path": "/metrics", "static_configs": [{"targets": ["*:9100"]}]}]
        )


def test_we_publish_what_the_librarys_provider_publishes_but_generic_host_alerts(tmp_path: Path):
    written = as_our_charm(
        ScrapeTargetCharm, "metrics-endpoint", "prometheus_scrape", ALERT_RULES_DIR, tmp_path
    )
    app, unit = ours_on("metrics-endpoint", **{"metrics-port": 9100})

    assert set(app) == set(written.local_app_data)
    assert app["scrape_metadata"] == written.local_app_data["scrape_metadata"]
    # The library also publishes the unit's FQDN; the consumer scrapes the address either way.
    assert set(written.local_unit_data) - set(unit) == {"prometheus_scrape_unit_fqdn"}
    theirs = {
        rule["alert"]: rule
        for group in json.loads(written.local_app_data["alert_rules"])["groups"]
        for rule in group["rules"]
    }
    ours = {
        rule["alert"]: rule
        for group in json.loads(app["alert_rules"])["groups"]
        for rule in group["rules"]
    }
    # The library adds cosl's generic host alerts; TestObserverApiDown covers a unit down.
    assert set(theirs) - set(ours) == {"HostDown", "HostMetricsMissing"}
    for name, rule in ours.items():
        assert rule["labels"] == theirs[name]["labels"]
        assert rule["annotations"] == theirs[name]["annotations"]


# grafana-dashboard


class GrafanaCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self.dashboards = dashboard_lib.GrafanaDashboardConsumer(self)

    @property
    def peers(self) -> ops.Relation | None:
        # The library keeps what it rendered in grafana's peer relation.
        return self.model.get_relation("grafana")


GRAFANA_META = {
    "name": "grafana-k8s",
    "requires": {"grafana-dashboard": {"interface": "grafana_dashboard"}},
    "peers": {"grafana": {"interface": "grafana_peers"}},
}


def test_grafana_renders_every_dashboard_we_ship():
    app, _ = ours_on("grafana-dashboard")
    relation = testing.Relation(
        "grafana-dashboard",
        remote_app_name="test-observer-api",
        remote_app_data=app,
        remote_units_data={0: {}},
    )

    dashboards, out = read_back(
        GrafanaCharm,
        GRAFANA_META,
        relation,
        lambda charm: charm.dashboards.dashboards,
        extra=[testing.PeerRelation("grafana")],
    )

    shipped = {
        json.loads(path.read_text())["title"]: path.name for path in DASHBOARDS_DIR.glob("*.json")
    }
    assert shipped
    assert {d["dashboard_title"] for d in dashboards} == set(shipped)
    assert "errors" not in json.loads(
        out.get_relation(relation.id).local_app_data.get("event", "{}")
    )
    for dashboard in dashboards:
        assert dashboard["id"] == f"file:{Path(shipped[dashboard['dashboard_title']]).stem}"
        assert dashboard["charm"] == "test-observer-api"
        content = json.loads(dashboard["content"])
        # Every dashboard has a uid (ours or the one we derive), so Grafana keeps it.
        assert dashboard["dashboard_uid"]
        # Grafana added its Juju topology dropdowns, as we asked.
        variables = {v["name"] for v in content["templating"]["list"]}
        assert {"juju_model", "juju_application"} <= variables


class DashboardsCharm(ops.CharmBase):
    """Any charm shipping its dashboards with the library's own provider."""

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self.dashboards = dashboard_lib.GrafanaDashboardProvider(self)


def test_our_dashboards_are_published_as_the_librarys_provider_publishes_them(tmp_path: Path):
    written = as_our_charm(
        DashboardsCharm, "grafana-dashboard", "grafana_dashboard", DASHBOARDS_DIR, tmp_path
    )
    theirs = json.loads(written.local_app_data["dashboards"])["templates"]
    ours = json.loads(ours_on("grafana-dashboard")[0]["dashboards"])["templates"]

    assert set(ours) == set(theirs)
    for key, template in ours.items():
        their_template = theirs[key]
        for field in ("charm", "juju_topology", "inject_dropdowns"):
            assert template[field] == their_template[field]
        content = json.loads(decode_dashboard(template["content"]))
        their_content = json.loads(decode_dashboard(their_template["content"]))
        # The library replaces a uid that is not 40 hex digits with one derived from the charm
        # and the file; ours is fixed in the file, the same in every deployment all the same.
        content.pop("uid")
        their_content.pop("uid")
        assert content == their_content


# logging


class LokiCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self.logging = loki_lib.LokiPushApiProvider(self)
        framework.observe(self.on.logging_relation_changed, self._on_changed)

    def _on_changed(self, event: ops.RelationChangedEvent) -> None:
        self.logging.update_endpoint(LOKI_URL, event.relation)


class ForwardingCharm(ops.CharmBase):
    """Any workload charm forwarding its logs with the library's own requirer."""

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self.logging = loki_lib.LogForwarder(self)


LOKI_META = {"name": "loki-k8s", "provides": {"logging": {"interface": "loki_push_api"}}}


def loki_answer(requirer_app: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    relation = testing.Relation(
        "logging",
        remote_app_name="test-observer-api",
        remote_app_data=requirer_app,
        remote_units_data={0: {}},
    )
    alerts, out = read_back(LokiCharm, LOKI_META, relation, lambda charm: charm.logging.alerts)
    return alerts, dict(out.get_relation(relation.id).local_unit_data)


def log_targets(ctx: testing.Context[Any], state: testing.State, relation) -> dict[str, Any]:
    out = ctx.run(ctx.on.relation_changed(relation, remote_unit=0), state)
    return {
        name: target.to_dict() for name, target in out.get_container("api").plan.log_targets.items()
    }


def test_our_logs_go_to_the_endpoint_loki_publishes_as_the_librarys_forwarder_sends_them():
    alerts, loki_unit = loki_answer({})
    endpoint = json.loads(loki_unit["endpoint"])
    assert endpoint == {"url": f"{LOKI_URL}/loki/api/v1/push"}
    # We send Loki no alert rules, and it reads that as none rather than an error.
    assert alerts == {}
    relation = testing.Relation(
        "logging",
        remote_app_name="loki-k8s",
        remote_units_data={0: {"endpoint": loki_unit["endpoint"]}},
    )

    ours = log_targets(make_context(), ready_state(relations=[relation], model=MODEL), relation)
    meta, _, _ = charm_metadata()
    forwarder = testing.Context(ForwardingCharm, meta=meta, app_name="test-observer-api")
    theirs = log_targets(
        forwarder,
        testing.State(
            leader=True,
            relations={relation},
            containers={testing.Container("api", can_connect=True)},
            model=MODEL,
        ),
        relation,
    )

    (our_target,) = ours.values()
    (their_target,) = theirs.values()
    assert our_target["location"] == their_target["location"] == endpoint["url"]
    assert our_target["services"] == their_target["services"] == ["all"]
    assert our_target == their_target
