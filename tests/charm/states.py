"""Shared builders for the charm's state-transition tests.

The charm's metadata, options and actions come from the real charmcraft.yaml, so a test that
uses an undeclared option, action or relation fails in the framework's consistency checker.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from ops import pebble, testing
from test_observer_charm.charm import TestObserverCharm

CHARMCRAFT = Path(__file__).resolve().parents[2] / "charmcraft.yaml"
HEAD = "c3d4e5f6a7b8"
OLD = "a1b2c3d4e5f6"
NEWER = "f0e1d2c3b4a5"
SERVICE = "test-observer-api"
DB_PASSWORD = "p@ss/w:rd%"


def charm_metadata() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    data = yaml.safe_load(CHARMCRAFT.read_text())
    config = data.pop("config")
    actions = data.pop("actions")
    return data, config, actions


def make_context(unit_id: int = 0) -> testing.Context[TestObserverCharm]:
    meta, config, actions = charm_metadata()
    return testing.Context(
        TestObserverCharm,
        meta=meta,
        config=config,
        actions=actions,
        app_name="test-observer-api",
        unit_id=unit_id,
    )


def cli(*args: str, stdout: str = "", stderr: str = "", rc: int = 0) -> testing.Exec:
    return testing.Exec(["test-observer", *args], stdout=stdout, stderr=stderr, return_code=rc)


def schema_json(
    current: str, heads: str = HEAD, *, known: bool = True, error: str | None = None
) -> str:
    """What `test-observer db current --json` (and the schema commands) print."""
    revisions = [] if current == "base" else current.split(",")
    return (
        json.dumps(
            {
                "current": revisions,
                "heads": heads.split(","),
                "at_head": sorted(revisions) == sorted(heads.split(",")),
                "known": known,
                "error": error,
            }
        )
        + "\n"
    )


def schema_command(
    verb: str, after: str, heads: str = HEAD, *, rc: int = 0, error: str | None = None, **kw: Any
) -> testing.Exec:
    """A schema command that leaves the database at `after` (and fails when rc != 0)."""
    return cli(
        "db",
        verb,
        "--json",
        stdout=schema_json(after, heads, error=error, **kw),
        stderr=f"Error: {error}\n" if error else "",
        rc=rc,
    )


SETTINGS_OK = json.dumps({"valid": True, "problems": [], "version": "1.0.0-test"}) + "\n"


def api_container(
    *,
    heads: str = HEAD,
    db_revision: str | None = None,
    known: bool = True,
    upgrade: testing.Exec | None = None,
    execs: Iterable[testing.Exec] = (),
    running: bool = False,
    ready: bool = False,
    can_connect: bool = True,
    mounts: dict[str, testing.Mount] | None = None,
    check_infos: Iterable[testing.CheckInfo] = (),
) -> testing.Container:
    """The api container with the CLI answering like a unit whose code is at `heads`.

    `db_revision` is where the database really is (default: the code's head); the schema
    commands answer with the revision they leave it at, so a test can make a record and the
    database disagree.
    """
    current = db_revision if db_revision is not None else heads
    defaults = {
        ("db", "current", "--json"): cli(
            "db", "current", "--json", stdout=schema_json(current, heads, known=known)
        ),
        ("db", "upgrade", "--json"): upgrade or schema_command("upgrade", heads, heads),
        ("db", "downgrade", "--json"): schema_command("downgrade", "base", heads),
        ("settings", "check", "--json"): cli("settings", "check", "--json", stdout=SETTINGS_OK),
    }
    for ex in execs:
        defaults[tuple(ex.command_prefix[1:])] = ex
    infos = set(check_infos)
    if ready and not infos:
        infos = {testing.CheckInfo("api-ready", level=pebble.CheckLevel.READY)}
    layers: dict[str, pebble.Layer] = {}
    if running:
        layers["rock"] = pebble.Layer(
            {
                "services": {
                    SERVICE: {
                        "override": "replace",
                        "command": "test-observer serve --host 0.0.0.0 --port 30000 --no-migrate",
                        "startup": "enabled",
                    }
                }
            }
        )
    if infos:
        # The rock defines the checks the charm's layer replaces.
        layers["rock-checks"] = pebble.Layer(
            {
                "checks": {
                    info.name: {
                        "override": "replace",
                        "level": "ready",
                        "http": {"url": "http://localhost:30000/health/ready"},
                    }
                    for info in infos
                }
            }
        )
    return testing.Container(
        "api",
        can_connect=can_connect,
        mounts=mounts or {},
        execs=set(defaults.values()),
        service_statuses={SERVICE: pebble.ServiceStatus.ACTIVE} if running else {},
        layers=layers,
        check_infos=frozenset(infos),
    )


def db_secret(password: str = DB_PASSWORD, **kwargs: Any) -> testing.Secret:
    return testing.Secret({"username": "relation_7", "password": password}, **kwargs)


def db_relation(secret: testing.Secret | None = None, **kwargs: Any) -> testing.Relation:
    remote: dict[str, str] = {
        "endpoints": "postgresql-k8s-primary.dev.svc.cluster.local:5432",
        "database": "test_observer",
        "version": "16.9",
    }
    if secret is not None:
        remote["secret-user"] = secret.id
    remote.update(kwargs.pop("remote_app_data", {}))
    return testing.Relation(
        "database",
        remote_app_name="postgresql-k8s",
        remote_app_data=remote,
        local_app_data={"database": "test_observer"},
        **kwargs,
    )


def gate(
    revision: str, relation: testing.Relation, status: str = "applied", **extra: str
) -> dict[str, str]:
    data = {
        "migration-revision": revision,
        "migration-database": f"test_observer@relation-{relation.id}",
        "migration-status": status,
        "migration-target": extra.pop("target", revision),
        "migration-error": extra.pop("error", ""),
    }
    data.update({f"migration-{key.replace('_', '-')}": value for key, value in extra.items()})
    return data


def sessions_secret() -> testing.Secret:
    return testing.Secret({"value": "generated-sessions-key"}, owner="app", label="sessions-secret")


def metrics_token() -> testing.Secret:
    return testing.Secret({"value": "generated-metrics-token"}, owner="app", label="metrics-token")


def ready_state(
    *,
    leader: bool = True,
    container: testing.Container | None = None,
    gate_data: dict[str, str] | None = None,
    relation: testing.Relation | None = None,
    secret: testing.Secret | None = None,
    config: dict[str, Any] | None = None,
    relations: Iterable[testing.RelationBase] = (),
    secrets: Iterable[testing.Secret] = (),
    **kwargs: Any,
) -> testing.State:
    """A unit with a database, a sessions secret and a container; the gate as given."""
    secret = secret or db_secret()
    relation = relation or db_relation(secret)
    session = sessions_secret()
    token = metrics_token()
    peer_data = {"sessions-secret-id": session.id, "metrics-token-id": token.id}
    peer_data.update(gate_data if gate_data is not None else {})
    return testing.State(
        leader=leader,
        config=config or {},
        containers={container or api_container()},
        relations={
            relation,
            testing.PeerRelation("test-observer-peers", local_app_data=peer_data),
            *relations,
        },
        secrets={secret, session, token, *secrets},
        **kwargs,
    )


def peer_data(state: testing.State) -> dict[str, str]:
    (peer,) = [r for r in state.relations if r.endpoint == "test-observer-peers"]
    return dict(peer.local_app_data)


def exec_commands(ctx: testing.Context[TestObserverCharm]) -> list[list[str]]:
    return [list(e.command) for e in ctx.exec_history.get("api", [])]
