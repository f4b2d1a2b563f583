"""The COS relations: what Prometheus, Grafana and Loki read from the charm."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from ops import testing
from test_observer_charm.observability import (
    ALERT_RULES_DIR,
    DASHBOARDS_DIR,
    decode_dashboard,
)

from .states import HEAD, SERVICE, db_relation, db_secret, gate, peer_data, ready_state


def metrics_relation() -> testing.Relation:
    return testing.Relation("metrics-endpoint", remote_app_name="prometheus")


class TestMetricsEndpoint:
    def test_the_leader_generates_the_metrics_token_once_and_every_unit_uses_it(self, ctx):
        state = ready_state()
        peer = next(r for r in state.relations if r.endpoint == "test-observer-peers")
        without = testing.PeerRelation(
            "test-observer-peers",
            id=peer.id,
            local_app_data={
                k: v for k, v in peer.local_app_data.items() if k != "metrics-token-id"
            },
        )
        state = testing.State(
            **{
                **{f: getattr(state, f) for f in ("leader", "config", "containers", "secrets")},
                "relations": {*(r for r in state.relations if r is not peer), without},
            }
        )

        first = ctx.run(ctx.on.config_changed(), state)
        again = ctx.run(ctx.on.config_changed(), first)

        token_id = peer_data(first)["metrics-token-id"]
        assert peer_data(again)["metrics-token-id"] == token_id
        token = first.get_secret(id=token_id).tracked_content["value"]
        assert len(token) >= 32
        env = again.get_container("api").plan.services[SERVICE].environment
        assert env["METRICS_TOKEN"] == token
        # The metrics server listens on the pod's address, not on every interface.
        assert env["METRICS_HOST"] == "192.0.2.0"
        assert "0.0.0.0" not in env["METRICS_HOST"]

    def test_a_non_leader_waits_for_the_token_rather_than_serve_open_metrics(self, ctx):
        state = ready_state(leader=False)
        peer = next(r for r in state.relations if r.endpoint == "test-observer-peers")
        without = testing.PeerRelation(
            "test-observer-peers",
            id=peer.id,
            local_app_data={
                k: v for k, v in peer.local_app_data.items() if k != "metrics-token-id"
            },
        )
        state = testing.State(
            **{
                **{f: getattr(state, f) for f in ("leader", "config", "containers", "secrets")},
                "relations": {*(r for r in state.relations if r is not peer), without},
            }
        )

        out = ctx.run(ctx.on.config_changed(), state)

        assert out.unit_status == testing.WaitingStatus(
            "waiting for the leader to generate the application's secrets"
        )
        assert SERVICE not in out.get_container("api").plan.services

    def test_the_scrape_job_carries_the_gate_state_and_the_alert_ignores_a_drain(self, ctx):
        relation = metrics_relation()
        secret = db_secret()
        database = db_relation(secret)
        draining = gate(HEAD, database, "draining", drain="1", drain_for="operator")
        state = ready_state(
            relations={relation}, relation=database, secret=secret, gate_data=draining
        )

        out = ctx.run(ctx.on.update_status(), state)

        app = out.get_relation(relation.id).local_app_data
        (job,) = json.loads(app["scrape_jobs"])
        assert job["static_configs"][0]["labels"] == {"test_observer_gate": "draining"}
        rules = json.loads(app["alert_rules"])
        down = next(
            rule
            for group in rules["groups"]
            for rule in group["rules"]
            if rule["alert"] == "TestObserverApiDown"
        )
        assert 'test_observer_gate!="draining"' in down["expr"]

    def test_leader_publishes_the_scrape_job_on_the_metrics_port(self, ctx):
        relation = metrics_relation()
        state = ready_state(relations={relation}, config={"metrics-port": 9100})

        out = ctx.run(ctx.on.relation_joined(relation, remote_unit=0), state)

        app = out.get_relation(relation.id).local_app_data
        assert json.loads(app["scrape_jobs"]) == [
            {
                "metrics_path": "/metrics",
                "static_configs": [
                    {"targets": ["*:9100"], "labels": {"test_observer_gate": "none"}}
                ],
                # The token the leader generated, which the metrics server requires.
                "authorization": {"type": "Bearer", "credentials": "generated-metrics-token"},
            }
        ]
        metadata = json.loads(app["scrape_metadata"])
        assert metadata["application"] == "test-observer-api"
        assert metadata["charm_name"] == "test-observer-api"
        assert {"model", "model_uuid", "unit"} <= set(metadata)
        unit = out.get_relation(relation.id).local_unit_data
        assert unit["prometheus_scrape_unit_name"] == "test-observer-api/0"
        assert unit["prometheus_scrape_unit_address"]

    def test_alert_rules_are_scoped_to_this_application(self, ctx):
        relation = metrics_relation()
        state = ready_state(relations={relation})

        out = ctx.run(ctx.on.relation_joined(relation, remote_unit=0), state)

        rules = json.loads(out.get_relation(relation.id).local_app_data["alert_rules"])
        alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
        assert set(alerts) == {
            "TestObserverApiDown",
            "TestObserverServerErrors",
            "TestObserverNotReady",
            "TestObserverJobFailing",
            "TestObserverWebhookFailing",
        }
        for rule in alerts.values():
            assert "%%juju_topology%%" not in rule["expr"]
            assert 'juju_application="test-observer-api"' in rule["expr"]
            assert rule["labels"]["juju_application"] == "test-observer-api"

    def test_metrics_port_zero_publishes_no_job(self, ctx):
        relation = metrics_relation()
        state = ready_state(relations={relation}, config={"metrics-port": 0})

        out = ctx.run(ctx.on.config_changed(), state)

        assert json.loads(out.get_relation(relation.id).local_app_data["scrape_jobs"]) == []

    def test_non_leader_publishes_only_its_address(self, ctx):
        relation = metrics_relation()
        state = ready_state(leader=False, relations={relation})

        out = ctx.run(ctx.on.relation_joined(relation, remote_unit=0), state)

        assert out.get_relation(relation.id).local_app_data == {}
        assert "prometheus_scrape_unit_name" in out.get_relation(relation.id).local_unit_data

    def test_the_api_serves_metrics_on_the_configured_port_in_json_logs(self, ctx):
        db_pw = db_secret()
        relation = db_relation(db_pw)
        state = ready_state(
            relation=relation,
            secret=db_pw,
            gate_data=gate(HEAD, relation),
            config={"metrics-port": 9100},
        )

        out = ctx.run(ctx.on.config_changed(), state)

        env = out.get_container("api").plan.services[SERVICE].environment
        assert env["METRICS_PORT"] == "9100"
        assert env["LOG_FORMAT"] == "json"

    def test_a_metrics_port_equal_to_the_api_port_is_refused(self, ctx):
        out = ctx.run(ctx.on.config_changed(), ready_state(config={"metrics-port": 30000}))

        assert out.unit_status == testing.BlockedStatus(
            "invalid config option 'metrics-port': must differ from port: fix it with `juju config`"
        )


class TestGrafanaDashboard:
    def test_leader_publishes_every_dashboard_compressed(self, ctx):
        relation = testing.Relation("grafana-dashboard", remote_app_name="grafana")
        state = ready_state(relations={relation})

        out = ctx.run(ctx.on.relation_joined(relation, remote_unit=0), state)

        data = json.loads(out.get_relation(relation.id).local_app_data["dashboards"])
        template = data["templates"]["file:test-observer"]
        shipped = (DASHBOARDS_DIR / "test-observer.json").read_text()
        assert decode_dashboard(template["content"]) == shipped
        assert template["charm"] == "test-observer-api"
        assert template["juju_topology"]["application"] == "test-observer-api"
        assert data["uuid"]

    def test_the_uuid_stays_while_the_content_does(self, ctx):
        relation = testing.Relation("grafana-dashboard", remote_app_name="grafana")
        first = ctx.run(
            ctx.on.relation_joined(relation, remote_unit=0), ready_state(relations={relation})
        )
        again = ctx.run(ctx.on.config_changed(), first)

        uuids = [
            json.loads(state.get_relation(relation.id).local_app_data["dashboards"])["uuid"]
            for state in (first, again)
        ]
        assert uuids[0] == uuids[1]


def loki_relation(*urls: str) -> testing.Relation:
    return testing.Relation(
        "logging",
        remote_app_name="loki",
        remote_units_data={
            index: {"endpoint": json.dumps({"url": url})} for index, url in enumerate(urls)
        },
    )


class TestLogging:
    def test_pebble_forwards_all_services_to_every_loki_unit(self, ctx):
        relation = loki_relation(
            "http://loki-0.loki-endpoints:3100/loki/api/v1/push",
            "http://loki-1.loki-endpoints:3100/loki/api/v1/push",
        )
        state = ready_state(relations={relation})

        out = ctx.run(ctx.on.relation_changed(relation, remote_unit=0), state)

        targets = out.get_container("api").plan.log_targets
        assert {name: t.location for name, t in targets.items()} == {
            "loki-0": "http://loki-0.loki-endpoints:3100/loki/api/v1/push",
            "loki-1": "http://loki-1.loki-endpoints:3100/loki/api/v1/push",
        }
        target = targets["loki-0"]
        assert target.type == "loki"
        assert target.services == ["all"]
        assert target.labels["juju_application"] == "test-observer-api"
        assert target.labels["juju_unit"] == "test-observer-api/0"

    def test_a_departed_loki_unit_gets_no_more_logs(self, ctx):
        relation = loki_relation(
            "http://loki-0.loki-endpoints:3100/loki/api/v1/push",
            "http://loki-1.loki-endpoints:3100/loki/api/v1/push",
        )
        forwarding = ctx.run(
            ctx.on.relation_changed(relation, remote_unit=0), ready_state(relations={relation})
        )

        out = ctx.run(
            ctx.on.relation_departed(relation, remote_unit=1, departing_unit=1), forwarding
        )

        targets = out.get_container("api").plan.log_targets
        assert targets["loki-0"].services == ["all"]
        assert targets["loki-1"].services == ["-all"]

    def test_without_loki_nothing_is_forwarded(self, ctx):
        out = ctx.run(ctx.on.config_changed(), ready_state())

        assert out.get_container("api").plan.log_targets == {}


ROOT = Path(__file__).resolve().parents[2]


def test_alert_rules_pass_promtool(tmp_path: Path) -> None:
    promtool = subprocess.run(["which", "promtool"], capture_output=True, text=True).stdout.strip()
    if not promtool:
        pytest.skip("no promtool binary (apt-get install prometheus)")
    for path in ALERT_RULES_DIR.glob("*.rules"):
        rendered = tmp_path / path.name
        rendered.write_text(
            path.read_text().replace("%%juju_topology%%", 'juju_application="test-observer-api"')
        )
        result = subprocess.run(
            [promtool, "check", "rules", str(rendered)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_and_dashboards_are_well_formed() -> None:
    for path in ALERT_RULES_DIR.glob("*.rules"):
        document = yaml.safe_load(path.read_text())
        for group in document["groups"]:
            assert group["name"]
            for rule in group["rules"]:
                assert {"alert", "expr", "labels", "annotations"} <= set(rule)
                assert rule["labels"]["severity"] in ("critical", "warning", "info")
    for path in DASHBOARDS_DIR.glob("*.json"):
        dashboard = json.loads(path.read_text())
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), "panel ids must be unique"
        assert dashboard["uid"]
        assert dashboard["title"]
        for panel in dashboard["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == "${prometheusds}"
            assert panel["targets"]
            assert all(target["expr"] for target in panel["targets"])
