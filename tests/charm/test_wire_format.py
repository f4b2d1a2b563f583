"""Our requirers against the providers' side of each interface, in both directions.

The charm writes its request; the provider (tests/charm/providers.py) validates it as
postgresql-k8s or traefik-k8s would and answers; the charm reads the answer.
"""

from __future__ import annotations

import json

import pytest
from ops import testing

from .providers import PostgresqlProvider, ProviderRefusedError, TraefikProvider
from .states import SERVICE, api_container, ready_state, sessions_secret

CA = "-----BEGIN CERTIFICATE-----\nMIIBwire\n-----END CERTIFICATE-----"


def _request_database(ctx) -> tuple[testing.Relation, dict[str, str]]:
    relation = testing.Relation("database", remote_app_name="postgresql-k8s")
    session = sessions_secret()
    state = testing.State(
        leader=True,
        containers={api_container()},
        relations={
            relation,
            testing.PeerRelation(
                "test-observer-peers", local_app_data={"sessions-secret-id": session.id}
            ),
        },
        secrets={session},
    )
    out = ctx.run(ctx.on.relation_created(relation), state)
    return relation, dict(out.get_relation(relation.id).local_app_data)


@pytest.mark.parametrize("tls_ca", [None, CA])
def test_postgresql_provider_answers_our_request_and_we_read_its_answer(ctx, tls_ca):
    relation, request = _request_database(ctx)
    provider = PostgresqlProvider(tls_ca=tls_ca)

    answer, granted = provider.answer(request)

    # We asked for the credentials and the TLS fields as Juju secrets, so they come as such.
    assert "secret-user" in answer
    assert "secret-tls" in answer
    assert "password" not in answer
    answered = testing.Relation(
        "database",
        id=relation.id,
        remote_app_name="postgresql-k8s",
        local_app_data=request,
        remote_app_data=answer,
    )
    state = ready_state(relation=answered, secret=granted[0], secrets=granted[1:])
    out = ctx.run(ctx.on.relation_changed(answered), state)

    env = out.get_container("api").plan.services[SERVICE].environment
    assert env["DB_URL"].startswith(
        "postgresql://relation_7:Zq8%2Aw%2Fy%3A%40%25@postgresql-k8s-primary.dev.svc.cluster.local"
        ":5432/test_observer"
    )
    assert ("sslmode=verify-full" in env["DB_URL"]) is (tls_ca is not None)
    assert out.unit_status == testing.ActiveStatus()


def test_postgresql_provider_refuses_a_request_without_a_database():
    with pytest.raises(ProviderRefusedError):
        PostgresqlProvider().answer({"requested-secrets": "[]"})


def _ingress_request(ctx, port: int) -> tuple[testing.Relation, dict[str, str], dict[str, str]]:
    ingress = testing.Relation("ingress", remote_app_name="traefik-k8s")
    relation_state = ready_state(relations=[ingress], config={"port": port})
    out = ctx.run(ctx.on.relation_joined(ingress), relation_state)
    written = out.get_relation(ingress.id)
    return ingress, dict(written.local_app_data), dict(written.local_unit_data)


def test_traefik_accepts_our_request_and_its_url_becomes_the_public_url(ctx):
    ingress, app, unit = _ingress_request(ctx, 30000)
    provider = TraefikProvider(scheme="https")

    answer = provider.answer(app, [unit])

    frontend = testing.Relation("test-observer-rest-api", remote_app_name="frontend")
    answered = testing.Relation(
        "ingress",
        id=ingress.id,
        remote_app_name="traefik-k8s",
        local_app_data=app,
        remote_app_data=answer,
    )
    out = ctx.run(ctx.on.relation_changed(answered), ready_state(relations=[answered, frontend]))

    url = out.get_relation(frontend.id).local_app_data["url"]
    assert url == f"https://ingress.example.com/{json.loads(app['model'])}-test-observer-api"
    env = out.get_container("api").plan.services[SERVICE].environment
    assert env["SESSIONS_HTTPS_ONLY"] == "true"


def test_the_highest_port_the_charm_accepts_is_one_traefik_accepts(ctx):
    _, app, unit = _ingress_request(ctx, 65534)

    TraefikProvider().answer(app, [unit])


def test_traefik_refuses_port_65535_so_the_charm_never_sends_it(ctx):
    _, app, unit = _ingress_request(ctx, 30000)

    with pytest.raises(ProviderRefusedError, match="port out of TCP range"):
        TraefikProvider().answer({**app, "port": json.dumps(65535)}, [unit])

    ingress = testing.Relation("ingress", remote_app_name="traefik-k8s")
    out = ctx.run(ctx.on.config_changed(), ready_state(relations=[ingress], config={"port": 65535}))
    assert "port" not in out.get_relation(ingress.id).local_app_data


def test_traefik_refuses_a_health_check_without_a_path(ctx):
    _, app, unit = _ingress_request(ctx, 30000)
    health = json.loads(app["healthcheck_params"])
    health.pop("path")

    with pytest.raises(ProviderRefusedError, match="healthcheck path"):
        TraefikProvider().answer({**app, "healthcheck_params": json.dumps(health)}, [unit])


def test_a_unit_whose_ip_is_not_an_address_is_refused(ctx):
    _, app, unit = _ingress_request(ctx, 30000)

    with pytest.raises(ProviderRefusedError, match="not a valid ip"):
        TraefikProvider().answer(app, [{**unit, "ip": json.dumps("somewhere")}])
