"""`ingress` (v2) against traefik's real ingress library.

A minimal traefik, built on the library's `IngressPerAppProvider`, validates the application
and unit data our charm writes with the library's own models and publishes a URL; our charm
reads exactly what it published. Data the library refuses never reaches the URL.
"""

from __future__ import annotations

import json

import ops
import pytest
from ops import testing

from . import interface_libs
from .states import SERVICE, make_context, ready_state

ingress_lib = interface_libs.load("charms.traefik_k8s.v2.ingress")

TRAEFIK_META = {"name": "traefik-k8s", "provides": {"ingress": {"interface": "ingress"}}}
CLIENT_META = {"name": "some-client", "requires": {"ingress": {"interface": "ingress"}}}
EXTERNAL = "https://ingress.example.com"


class TraefikCharm(ops.CharmBase):
    """Publishes `<external>/<model>-<app>` for every request the library accepts."""

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self.ingress = ingress_lib.IngressPerAppProvider(self, "ingress")
        framework.observe(self.ingress.on.data_provided, self._on_data_provided)

    def _on_data_provided(self, event: ops.EventBase) -> None:
        self.ingress.publish_url(event.relation, f"{EXTERNAL}/{event.model}-{event.name}")


class ClientCharm(ops.CharmBase):
    """Any charm using the library's own requirer, for comparison."""

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self.ingress = ingress_lib.IngressPerAppRequirer(self, port=30000, strip_prefix=True)


def our_request(port: int = 30000) -> tuple[dict[str, str], dict[str, str]]:
    """Our charm's application and unit databags on the ingress relation."""
    ctx = make_context()
    ingress = testing.Relation("ingress", remote_app_name="traefik-k8s")
    out = ctx.run(
        ctx.on.relation_joined(ingress, remote_unit=0),
        ready_state(relations=[ingress], config={"port": port}),
    )
    written = out.get_relation(ingress.id)
    return dict(written.local_app_data), dict(written.local_unit_data)


def traefik(app: dict[str, str], unit: dict[str, str]) -> tuple[TraefikCharm, dict[str, str]]:
    """Run traefik on our data; the library's view of it and what traefik wrote back."""
    ctx = testing.Context(TraefikCharm, meta=TRAEFIK_META)
    relation = testing.Relation(
        "ingress",
        remote_app_name="test-observer-api",
        remote_app_data=app,
        remote_units_data={0: unit},
    )
    state = testing.State(leader=True, relations={relation})
    with ctx(ctx.on.relation_changed(relation, remote_unit=0), state) as manager:
        out = manager.run()
        data = (
            manager.charm.ingress.get_data(manager.charm.model.get_relation("ingress"))
            if manager.charm.ingress.is_ready()
            else None
        )
    return data, dict(out.get_relation(relation.id).local_app_data)


def test_traefik_accepts_our_request_and_its_url_becomes_our_public_url():
    app, unit = our_request()

    data, published = traefik(app, unit)

    assert data is not None
    assert (data.app.name, data.app.port) == ("test-observer-api", 30000)
    assert data.app.strip_prefix is True
    assert data.app.healthcheck_params.path == "/health/serving"
    (seen_unit,) = data.units
    assert seen_unit.host.startswith("test-observer-api-0.test-observer-api-endpoints.")
    url = json.loads(published["ingress"])["url"]
    assert url == f"{EXTERNAL}/{data.app.model}-test-observer-api"

    ctx = make_context()
    frontend = testing.Relation("test-observer-rest-api", remote_app_name="frontend")
    answered = testing.Relation(
        "ingress", remote_app_name="traefik-k8s", local_app_data=app, remote_app_data=published
    )
    out = ctx.run(ctx.on.relation_changed(answered), ready_state(relations=[answered, frontend]))
    assert out.get_relation(frontend.id).local_app_data["url"] == url
    env = out.get_container("api").plan.services[SERVICE].environment
    # Served over https behind the proxy: session cookies are sent over https only.
    assert env["SESSIONS_HTTPS_ONLY"] == "true"


def test_the_highest_port_the_charm_accepts_is_one_traefik_accepts():
    data, published = traefik(*our_request(65534))

    assert data is not None
    assert data.app.port == 65534
    assert "ingress" in published


def test_traefik_refuses_port_65535_so_the_charm_never_sends_it():
    app, unit = our_request()

    data, published = traefik({**app, "port": json.dumps(65535)}, unit)

    assert data is None
    assert "ingress" not in published
    ctx = make_context()
    ingress = testing.Relation("ingress", remote_app_name="traefik-k8s")
    out = ctx.run(ctx.on.config_changed(), ready_state(relations=[ingress], config={"port": 65535}))
    assert "port" not in out.get_relation(ingress.id).local_app_data


@pytest.mark.parametrize(
    ("field", "bad"),
    [("ip", json.dumps("somewhere")), ("host", json.dumps(7))],
)
def test_traefik_refuses_a_unit_it_cannot_route_to(field, bad):
    app, unit = our_request()

    data, published = traefik(app, {**unit, field: bad})

    assert data is None
    assert "ingress" not in published


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("healthcheck_params", json.dumps({"interval": "10s"})),
        ("scheme", json.dumps("ftp")),
        ("port", json.dumps("30000")),
    ],
    ids=["health-check-without-path", "unknown-scheme", "port-as-string"],
)
def test_traefik_refuses_an_application_request_it_cannot_route(field, bad):
    app, unit = our_request()

    data, published = traefik({**app, field: bad}, unit)

    assert data is None
    assert "ingress" not in published


def test_our_request_carries_every_field_the_librarys_requirer_sends():
    ctx = testing.Context(ClientCharm, meta=CLIENT_META)
    relation = testing.Relation("ingress", remote_app_name="traefik-k8s")
    # The library publishes on relation-changed; ours from relation-created on.
    out = ctx.run(
        ctx.on.relation_changed(relation, remote_unit=0),
        testing.State(leader=True, relations={relation}),
    )
    theirs = out.get_relation(relation.id)
    app, unit = our_request()

    # The library leaves out fields at their default (`redirect-https`, `scheme`, and
    # `is_port_open` unless the unit opened the port in Juju); we write ours out in full.
    assert set(theirs.local_app_data) < set(app)
    juju = {"egress-subnets", "ingress-address", "private-address"}
    assert set(theirs.local_unit_data) - juju == set(unit) - juju == {"host", "ip"}
