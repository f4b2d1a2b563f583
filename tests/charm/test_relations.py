"""The database, ingress and frontend relations as the charm sees them."""

from __future__ import annotations

import json

from ops import pebble, testing

from .states import (
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
        state = ready_state(relation=new, secret=secret, gate_data=gate("c3d4e5f6a7b8", old))

        out = ctx.run(ctx.on.relation_changed(new), state)

        assert ["test-observer", "db", "upgrade", "head"] in exec_commands(ctx)
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
