"""The Grafana dashboards the charm ships: valid PromQL, variables that exist, and all of them
published. (That every metric they query is really scraped is checked against a running API
in tests/backend/observability/test_dashboard_metrics.py.)"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from ops import testing
from test_observer_charm.observability import DASHBOARDS_DIR, decode_dashboard

from .states import ready_state

DASHBOARDS = sorted(DASHBOARDS_DIR.glob("*.json"))
# `$name`, `${name}` and `${name:format}`: Grafana's variable references.
VARIABLE = re.compile(r"\$\{?(\w+)(?::\w+)?\}?")
LABEL_VALUES = re.compile(r"^label_values\((.*),\s*\w+\)$", re.DOTALL)


def _load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def expressions(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression: the panels' targets and the selectors of the variables."""
    found = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        match = LABEL_VALUES.match(variable.get("query", ""))
        if match:
            found.append(match.group(1))
    return found


def test_the_domain_dashboards_are_shipped() -> None:
    titles = {_load(path)["title"] for path in DASHBOARDS}
    assert {
        "Test Observer",
        "Test Observer: charm compatibility matrix",
        "Test Observer: product and artefact deep dive",
    } <= titles
    uids = [_load(path)["uid"] for path in DASHBOARDS]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_every_variable_a_query_uses_is_defined(path: Path) -> None:
    dashboard = _load(path)
    defined = {variable["name"] for variable in dashboard["templating"]["list"]}
    used = {name for expr in expressions(dashboard) for name in VARIABLE.findall(expr)}
    assert used - defined - {"__rate_interval", "__interval", "__range"} == set()


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_every_query_is_valid_promql(path: Path, tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("no promtool binary (apt-get install prometheus)")
    rules = []
    for index, expr in enumerate(expressions(_load(path))):
        # What Grafana sends once the variables are chosen ("All" is the regex .*).
        rendered = VARIABLE.sub(lambda m: "5m" if m.group(1).startswith("__") else ".*", expr)
        rules.append({"record": f"dashboard:query_{index}:check", "expr": rendered})
    assert rules
    rules_file = tmp_path / "dashboard.rules"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": path.stem, "rules": rules}]}))

    checked = subprocess.run(
        [promtool, "check", "rules", str(rules_file)], capture_output=True, text=True
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_broken_query_is_caught(tmp_path: Path) -> None:
    """The check above can fail: promtool refuses an unbalanced expression."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("no promtool binary (apt-get install prometheus)")
    rules_file = tmp_path / "broken.rules"
    rules_file.write_text(
        yaml.safe_dump(
            {"groups": [{"name": "x", "rules": [{"record": "a:b", "expr": 'sum(up{a=~".*"}'}]}]}
        )
    )

    checked = subprocess.run([promtool, "check", "rules", str(rules_file)], capture_output=True)

    assert checked.returncode != 0


def test_the_leader_publishes_every_dashboard(ctx: testing.Context) -> None:
    relation = testing.Relation("grafana-dashboard", remote_app_name="grafana")

    out = ctx.run(
        ctx.on.relation_joined(relation, remote_unit=0), ready_state(relations={relation})
    )

    templates = json.loads(out.get_relation(relation.id).local_app_data["dashboards"])["templates"]
    assert set(templates) == {f"file:{path.stem}" for path in DASHBOARDS}
    for path in DASHBOARDS:
        assert decode_dashboard(templates[f"file:{path.stem}"]["content"]) == path.read_text()
