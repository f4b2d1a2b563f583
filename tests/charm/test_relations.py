"""The database, ingress and frontend relations as the charm sees them."""

from __future__ import annotations

import json

import pytest
from ops import pebble, testing

from .states import (
    HEAD,
    SERVICE,
    api_container,
    db_relation,
    db_secret,
    exec_commands,
    gate,
    ready_state,
    sessions_secret,
)


class TestDatabase:
    def test_without_a_relation_the_unit_is_blocked_and_does_not_serve(self, ctx):
        session = sessions_secret()
        state = testing.State(
            leader=True,
            containers={api_container()},
            relations={
                testing.PeerRelation(
                    "test-observer-peers", local_app_data={"sessions-secret-id": session.id}
                )
            },
            secrets={session},
        )

        out = ctx.run(ctx.on.config_changed(), state)

        assert out.unit_status == testing.BlockedStatus(
            "needs a database: juju integrate test-observer-api postgresql-k8s"
        )
        assert SERVICE not in out.get_container("api").plan.services

    def test_leader_requests_the_database_and_secret_fields(self, ctx):
        relation = testing.Relation("database", remote_app_name="postgresql-k8s")
        state = testing.State(leader=True, containers={api_container()}, relations={relation})

        out = ctx.run(ctx.on.relation_created(relation), state)

        local = out.get_relation(relation.id).local_app_data
        assert local["database"] == "test_observer"
        assert set(json.loads(local["requested-secrets"])) >= {"username", "password"}

    def test_non_leader_does_not_write_the_request(self, ctx):
        relation = testing.Relation("database", remote_app_name="postgresql-k8s")
        state = testing.State(leader=False, containers={api_container()}, relations={relation})

        out = ctx.run(ctx.on.relation_created(relation), state)

        assert out.get_relation(relation.id).local_app_data == {}

    def test_waits_until_the_provider_has_answered(self, ctx):
        relation = testing.Relation("database", remote_app_name="postgresql-k8s")
        state = ready_state(relation=relation)

        out = ctx.run(ctx.on.relation_changed(relation), state)

        assert out.unit_status == testing.WaitingStatus(
            "waiting for database credentials from postgresql-k8s"
        )
        assert "upgrade" not in str(exec_commands(ctx))

    def test_credentials_are_url_encoded_into_db_url(self, ctx):
        secret = db_secret(password="p@ss/w:rd%")
        relation = db_relation(secret)

        out = ctx.run(
            ctx.on.relation_changed(relation), ready_state(relation=relation, secret=secret)
        )

        env = out.get_container("api").plan.services[SERVICE].environment
        assert env["DB_URL"] == (
            "postgresql://relation_7:p%40ss%2Fw%3Ard%25"
            "@postgresql-k8s-primary.dev.svc.cluster.local:5432/test_observer"
        )

    def test_several_endpoints_become_a_multi_host_url(self, ctx):
        secret = db_secret(password="pw")
        relation = db_relation(secret, remote_app_data={"endpoints": "10.0.0.1:5432,10.0.0.2:5433"})

        out = ctx.run(
            ctx.on.relation_changed(relation), ready_state(relation=relation, secret=secret)
        )

        env = out.get_container("api").plan.services[SERVICE].environment
        assert env["DB_URL"] == (
            "postgresql://relation_7:pw@/test_observer?host=10.0.0.1:5432&host=10.0.0.2:5433"
        )

    def test_plain_databag_credentials_from_older_providers(self, ctx):
        relation = db_relation(remote_app_data={"username": "legacy", "password": "pw"})

        out = ctx.run(ctx.on.relation_changed(relation), ready_state(relation=relation))

        env = out.get_container("api").plan.services[SERVICE].environment
        assert env["DB_URL"].startswith("postgresql://legacy:pw@")

    def test_credential_rotation_restarts_the_api_with_the_new_password(self, ctx):
        secret = db_secret(
            password="old", latest_content={"username": "relation_7", "password": "new"}
        )
        relation = db_relation(secret)
        state = ready_state(
            relation=relation,
            secret=secret,
            container=api_container(running=True),
            gate_data=gate("c3d4e5f6a7b8", relation),
        )

        out = ctx.run(ctx.on.secret_changed(secret), state)

        env = out.get_container("api").plan.services[SERVICE].environment
        assert env["DB_URL"].startswith("postgresql://relation_7:new@")
        assert out.get_container("api").service_statuses[SERVICE] == pebble.ServiceStatus.ACTIVE
        # Rotation changes credentials, not the database: the schema is not migrated again.
        assert ["test-observer", "db", "upgrade", "head"] not in exec_commands(ctx)
        assert out.unit_status == testing.ActiveStatus()

    def test_relation_broken_stops_the_api_and_blocks(self, ctx):
        secret = db_secret()
        relation = db_relation(secret)
        state = ready_state(
            relation=relation,
            secret=secret,
            container=api_container(running=True),
            gate_data=gate("c3d4e5f6a7b8", relation),
        )

        out = ctx.run(ctx.on.relation_broken(relation), state)

        assert out.get_container("api").service_statuses[SERVICE] == pebble.ServiceStatus.INACTIVE
        assert out.unit_status == testing.BlockedStatus(
            "needs a database: juju integrate test-observer-api postgresql-k8s"
        )

    def test_a_new_database_relation_is_migrated_again(self, ctx):
        old = db_relation(db_secret())
        secret = db_secret()
        new = db_relation(secret)
        # The new database is empty; the record is for the old one.
        state = ready_state(
            relation=new,
            secret=secret,
            gate_data=gate("c3d4e5f6a7b8", old),
            container=api_container(db_revision="base"),
        )

        out = ctx.run(ctx.on.relation_changed(new), state)

        assert ["test-observer", "db", "upgrade", "--json", "--", "head"] in exec_commands(ctx)
        peer = next(r for r in out.relations if r.endpoint == "test-observer-peers")
        assert peer.local_app_data["migration-database"] == f"test_observer@relation-{new.id}"
        assert out.unit_status == testing.ActiveStatus()


class TestIngress:
    def test_leader_requests_a_stripped_prefix_route_to_the_port(self, ctx):
        ingress = testing.Relation("ingress", remote_app_name="traefik-k8s")
        state = ready_state(relations=[ingress], config={"port": 8000})

        out = ctx.run(ctx.on.relation_joined(ingress), state)

        relation = out.get_relation(ingress.id)
        app = {k: json.loads(v) for k, v in relation.local_app_data.items()}
        assert app == {
            "model": out.model.name,
            "name": "test-observer-api",
            "port": 8000,
            "strip-prefix": True,
            "redirect-https": False,
            "scheme": "http",
            # Traefik probes this on every unit and stops routing to one that fails it.
            "healthcheck_params": {"path": "/health/serving", "interval": "10s", "timeout": "3s"},
        }
        unit = {k: json.loads(relation.local_unit_data[k]) for k in ("host", "ip")}
        assert unit["host"] == (
            f"test-observer-api-0.test-observer-api-endpoints.{out.model.name}.svc.cluster.local"
        )
        assert unit["ip"]

    def test_non_leader_publishes_only_its_unit_data(self, ctx):
        ingress = testing.Relation("ingress", remote_app_name="traefik-k8s")
        out = ctx.run(
            ctx.on.relation_joined(ingress), ready_state(leader=False, relations=[ingress])
        )

        relation = out.get_relation(ingress.id)
        assert relation.local_app_data == {}
        assert "host" in relation.local_unit_data

    def test_https_ingress_url_is_published_and_makes_session_cookies_secure(self, ctx):
        ingress = testing.Relation(
            "ingress",
            remote_app_name="traefik-k8s",
            remote_app_data={"ingress": json.dumps({"url": "https://ingress.example.com/dev-api"})},
        )
        frontend = testing.Relation("test-observer-rest-api", remote_app_name="frontend")
        state = ready_state(relations=[ingress, frontend])

        out = ctx.run(ctx.on.relation_changed(ingress), state)

        env = out.get_container("api").plan.services[SERVICE].environment
        assert env["SESSIONS_HTTPS_ONLY"] == "true"
        published = out.get_relation(frontend.id).local_app_data
        assert published["url"] == "https://ingress.example.com/dev-api"

    def test_behind_the_ingress_the_api_knows_its_prefix_and_trusts_the_proxy(self, ctx):
        ingress = testing.Relation(
            "ingress",
            remote_app_name="traefik-k8s",
            remote_app_data={
                "ingress": json.dumps({"url": "http://10.64.140.43/dev-test-observer-api"})
            },
        )

        out = ctx.run(ctx.on.relation_changed(ingress), ready_state(relations=[ingress]))
        alone = ctx.run(ctx.on.config_changed(), ready_state())

        command = out.get_container("api").plan.services[SERVICE].command
        assert command.endswith("--forwarded-allow-ips '*' --root-path /dev-test-observer-api")
        # Without an ingress nobody's forwarded headers are trusted and there is no prefix.
        command = alone.get_container("api").plan.services[SERVICE].command
        assert "--forwarded-allow-ips" not in command
        assert "--root-path" not in command

    def test_malformed_provider_data_is_ignored(self, ctx):
        ingress = testing.Relation(
            "ingress", remote_app_name="traefik-k8s", remote_app_data={"ingress": "not json"}
        )
        frontend = testing.Relation("test-observer-rest-api", remote_app_name="frontend")

        out = ctx.run(ctx.on.relation_changed(ingress), ready_state(relations=[ingress, frontend]))

        assert out.get_relation(frontend.id).local_app_data["url"].startswith("http://")
        assert out.unit_status == testing.ActiveStatus()


class TestFrontend:
    def test_leader_publishes_hostname_port_and_url(self, ctx):
        frontend = testing.Relation("test-observer-rest-api", remote_app_name="frontend")
        out = ctx.run(ctx.on.relation_joined(frontend), ready_state(relations=[frontend]))

        data = out.get_relation(frontend.id).local_app_data
        host = f"test-observer-api.{out.model.name}.svc.cluster.local"
        assert data == {"hostname": host, "port": "30000", "url": f"http://{host}:30000"}

    def test_non_leader_publishes_nothing(self, ctx):
        frontend = testing.Relation("test-observer-rest-api", remote_app_name="frontend")
        out = ctx.run(
            ctx.on.relation_joined(frontend), ready_state(leader=False, relations=[frontend])
        )

        assert out.get_relation(frontend.id).local_app_data == {}

    def test_the_frontend_url_becomes_the_frontend_origin(self, ctx):
        frontend = testing.Relation(
            "test-observer-rest-api",
            remote_app_name="frontend",
            remote_app_data={"url": "https://test-observer.example.com/ui/"},
        )
        state = ready_state(
            relations=[frontend],
            config={
                "frontend-url": "https://fallback.example.com",
                "cors-origins": "https://dashboards.example.com",
            },
        )

        out = ctx.run(ctx.on.relation_changed(frontend), state)

        env = out.get_container("api").plan.services[SERVICE].environment
        assert env["FRONTEND_URL"] == "https://test-observer.example.com"
        assert env["ADDITIONAL_CORS_ORIGINS"] == (
            "https://dashboards.example.com,https://fallback.example.com"
        )

    def test_an_invalid_frontend_url_is_skipped(self, ctx):
        frontend = testing.Relation(
            "test-observer-rest-api",
            remote_app_name="frontend",
            remote_app_data={"url": "nonsense"},
        )
        state = ready_state(
            relations=[frontend], config={"frontend-url": "https://fallback.example.com"}
        )

        out = ctx.run(ctx.on.relation_changed(frontend), state)

        env = out.get_container("api").plan.services[SERVICE].environment
        assert env["FRONTEND_URL"] == "https://fallback.example.com"
        assert out.unit_status == testing.ActiveStatus()


def test_a_removed_frontend_is_no_longer_an_allowed_origin(ctx):
    frontend = testing.Relation(
        "test-observer-rest-api",
        remote_app_name="frontend",
        remote_app_data={"url": "https://test-observer.example.com"},
    )
    state = ready_state(
        relations=[frontend], config={"frontend-url": "https://fallback.example.com"}
    )

    out = ctx.run(ctx.on.relation_broken(frontend), state)

    env = out.get_container("api").plan.services[SERVICE].environment
    assert env["FRONTEND_URL"] == "https://fallback.example.com"
    assert "ADDITIONAL_CORS_ORIGINS" not in env


def test_a_departing_ingress_unit_keeps_the_api_serving(ctx):
    ingress = testing.Relation("ingress", remote_app_name="traefik-k8s")
    secret = db_secret()
    relation = db_relation(secret)
    state = ready_state(
        relations=[ingress],
        relation=relation,
        secret=secret,
        gate_data=gate("c3d4e5f6a7b8", relation),
        container=api_container(running=True),
    )

    out = ctx.run(ctx.on.relation_departed(ingress, remote_unit=0, departing_unit=0), state)

    assert out.get_container("api").service_statuses[SERVICE] == pebble.ServiceStatus.ACTIVE
    assert out.unit_status == testing.ActiveStatus()


CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----"


class TestDatabaseTls:
    def _state(self, tls_content: dict[str, str] | None):
        secret = db_secret()
        tls = testing.Secret(tls_content) if tls_content is not None else None
        extra = {"secret-tls": tls.id} if tls is not None else {}
        relation = db_relation(secret, remote_app_data=extra)
        state = ready_state(
            relation=relation,
            secret=secret,
            secrets=[tls] if tls is not None else [],
            gate_data=gate(HEAD, relation),
        )
        return state, relation

    def test_with_tls_on_the_url_verifies_the_server_with_the_providers_ca(self, ctx, tmp_path):
        state, relation = self._state({"tls": "True", "tls-ca": CA_PEM})
        container = api_container(
            mounts={"etc": testing.Mount(location="/etc/test-observer", source=tmp_path)}
        )
        state = testing.State(**{**_fields(state), "containers": {container}})

        out = ctx.run(ctx.on.relation_changed(relation), state)

        env = out.get_container("api").plan.services[SERVICE].environment
        assert env["DB_URL"].endswith(
            "/test_observer?sslmode=verify-full&sslrootcert=/etc/test-observer/database-ca.pem"
        )
        assert (tmp_path / "database-ca.pem").read_text() == CA_PEM + "\n"
        # Schema commands connect the same way.
        current = next(e for e in ctx.exec_history["api"] if "current" in e.command)
        assert "sslmode=verify-full" in current.environment["DB_URL"]
        assert out.unit_status == testing.ActiveStatus()

    @pytest.mark.parametrize("content", [None, {"tls": "False"}])
    def test_with_tls_off_the_url_has_no_tls_parameters(self, ctx, content):
        state, relation = self._state(content)

        out = ctx.run(ctx.on.relation_changed(relation), state)

        env = out.get_container("api").plan.services[SERVICE].environment
        assert "sslmode" not in env["DB_URL"]
        assert out.unit_status == testing.ActiveStatus()

    def test_tls_on_without_a_ca_waits_rather_than_connecting_unverified(self, ctx):
        state, relation = self._state({"tls": "True"})

        out = ctx.run(ctx.on.relation_changed(relation), state)

        assert out.unit_status == testing.WaitingStatus(
            "waiting for the CA certificate from postgresql-k8s (TLS is on)"
        )
        assert not any("upgrade" in c for c in exec_commands(ctx))
        assert SERVICE not in out.get_container("api").plan.services

    def test_plain_databag_tls_fields_from_older_providers(self, ctx):
        relation = db_relation(
            remote_app_data={"username": "u", "password": "p", "tls": "True", "tls-ca": CA_PEM}
        )

        out = ctx.run(ctx.on.relation_changed(relation), ready_state(relation=relation))

        env = out.get_container("api").plan.services[SERVICE].environment
        assert "sslmode=verify-full" in env["DB_URL"]


def _fields(state: testing.State) -> dict[str, object]:
    return {
        "leader": state.leader,
        "containers": state.containers,
        "relations": state.relations,
        "secrets": state.secrets,
        "config": state.config,
    }


class TestIngressLimits:
    def test_port_65535_is_refused_because_traefik_refuses_it(self, ctx):
        ingress = testing.Relation("ingress", remote_app_name="traefik-k8s")

        out = ctx.run(
            ctx.on.config_changed(), ready_state(relations=[ingress], config={"port": 65535})
        )

        assert out.unit_status == testing.BlockedStatus(
            "invalid config option 'port': must be between 1024 and 65534: fix it with "
            "`juju config`"
        )
        assert out.get_relation(ingress.id).local_app_data == {}

    def test_the_cluster_domain_comes_from_the_pods_own_name(self, ctx, monkeypatch):
        monkeypatch.setattr(
            "socket.getfqdn",
            lambda *a: "test-observer-api-0.test-observer-api-endpoints.dev.svc.k8s.example.org",
        )
        ingress = testing.Relation("ingress", remote_app_name="traefik-k8s")
        frontend = testing.Relation("test-observer-rest-api", remote_app_name="frontend")

        out = ctx.run(ctx.on.config_changed(), ready_state(relations=[ingress, frontend]))

        host = json.loads(out.get_relation(ingress.id).local_unit_data["host"])
        assert host.endswith(".svc.k8s.example.org")
        published = out.get_relation(frontend.id).local_app_data
        assert published["hostname"] == f"test-observer-api.{out.model.name}.svc.k8s.example.org"
