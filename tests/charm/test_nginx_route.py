"""The nginx-route relation (nginx-ingress-integrator), alone and beside the ingress relation."""

from __future__ import annotations

import json

import pytest
from ops import testing

from .states import SERVICE, ready_state

NGINX = "nginx-ingress-integrator"


def nginx_route() -> testing.Relation:
    # The provider answers nothing: the relation is one-way.
    return testing.Relation("nginx-route", remote_app_name=NGINX)


def traefik(url: str = "https://ingress.example.com/dev-api") -> testing.Relation:
    return testing.Relation(
        "ingress",
        remote_app_name="traefik-k8s",
        remote_app_data={"ingress": json.dumps({"url": url})},
    )


class TestNginxRoute:
    def test_leader_asks_for_a_route_to_its_service_and_port(self, ctx):
        route = nginx_route()
        state = ready_state(relations=[route], config={"port": 8000, "hostname": "to.example.com"})

        out = ctx.run(ctx.on.relation_joined(route, remote_unit=0), state)

        assert out.get_relation(route.id).local_app_data == {
            "service-hostname": "to.example.com",
            "service-name": "test-observer-api",
            "service-namespace": out.model.name,
            "service-port": "8000",
        }
        assert out.unit_status == testing.ActiveStatus()

    def test_without_a_hostname_the_application_name_is_the_host(self, ctx):
        route = nginx_route()

        out = ctx.run(ctx.on.relation_joined(route, remote_unit=0), ready_state(relations=[route]))

        assert out.get_relation(route.id).local_app_data["service-hostname"] == (
            "test-observer-api"
        )

    def test_a_new_port_or_hostname_is_published_again(self, ctx):
        route = nginx_route()
        first = ctx.run(
            ctx.on.relation_joined(route, remote_unit=0), ready_state(relations=[route])
        )

        out = ctx.run(
            ctx.on.config_changed(),
            testing.State(
                leader=True,
                config={**first.config, "port": 8080, "hostname": "api.example.com"},
                relations=first.relations,
                containers=first.containers,
                secrets=first.secrets,
            ),
        )

        data = out.get_relation(route.id).local_app_data
        assert (data["service-hostname"], data["service-port"]) == ("api.example.com", "8080")

    def test_non_leader_writes_nothing(self, ctx):
        route = nginx_route()

        out = ctx.run(
            ctx.on.relation_joined(route, remote_unit=0),
            ready_state(leader=False, relations=[route]),
        )

        assert out.get_relation(route.id).local_app_data == {}
        assert out.unit_status == testing.ActiveStatus()

    def test_behind_nginx_the_api_trusts_the_proxy_at_the_root_path(self, ctx):
        route = nginx_route()
        frontend = testing.Relation("test-observer-rest-api", remote_app_name="frontend")
        state = ready_state(relations=[route, frontend], config={"hostname": "to.example.com"})

        out = ctx.run(ctx.on.relation_changed(route), state)

        service = out.get_container("api").plan.services[SERVICE]
        # Host-based routing: nothing to strip, so no --root-path; forwarded headers trusted
        # exactly as behind traefik.
        assert service.command.endswith("--forwarded-allow-ips '*'")
        assert "--root-path" not in service.command
        assert service.environment["SESSIONS_HTTPS_ONLY"] == "true"
        assert out.get_relation(frontend.id).local_app_data["url"] == "https://to.example.com"

    @pytest.mark.parametrize(
        "hostname", ["To.example.com", "-api.example.com", "api_1.example.com", "10.1.2.3"]
    )
    def test_an_invalid_hostname_blocks_and_names_the_option(self, ctx, hostname):
        out = ctx.run(ctx.on.config_changed(), ready_state(config={"hostname": hostname}))

        assert isinstance(out.unit_status, testing.BlockedStatus)
        assert "invalid config option 'hostname'" in out.unit_status.message


class TestBothIngressKinds:
    def test_both_block_while_the_api_keeps_serving_through_traefik(self, ctx):
        route, ingress = nginx_route(), traefik()
        frontend = testing.Relation("test-observer-rest-api", remote_app_name="frontend")

        out = ctx.run(
            ctx.on.relation_joined(route, remote_unit=0),
            ready_state(relations=[route, ingress, frontend]),
        )

        assert out.unit_status == testing.BlockedStatus(
            "cannot have both ingress and nginx-route relations at the same time: "
            "juju remove-relation test-observer-api:nginx-route (or :ingress)"
        )
        service = out.get_container("api").plan.services[SERVICE]
        assert service.startup == "enabled"
        assert service.command.endswith("--forwarded-allow-ips '*' --root-path /dev-api")
        assert out.get_relation(frontend.id).local_app_data["url"] == (
            "https://ingress.example.com/dev-api"
        )

    @pytest.mark.parametrize("removed", ["nginx-route", "ingress"])
    def test_removing_either_restores_active(self, ctx, removed):
        route, ingress = nginx_route(), traefik()
        both = ctx.run(
            ctx.on.relation_joined(route, remote_unit=0), ready_state(relations=[route, ingress])
        )
        gone = route if removed == "nginx-route" else ingress

        out = ctx.run(ctx.on.relation_broken(both.get_relation(gone.id)), both)

        assert out.unit_status == testing.ActiveStatus()
