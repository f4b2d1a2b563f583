"""The tracing relation: the provider's OTLP/HTTP receiver becomes the API's trace endpoint."""

from __future__ import annotations

import dataclasses
import json

from ops import testing

from .states import SERVICE, ready_state

TEMPO_HTTP = "http://tempo-0.tempo-endpoints.cos.svc.cluster.local:4318"
WORKER = "test-observer-worker"


def tracing_relation(*receivers: tuple[str, str, str]) -> testing.Relation:
    """A provider that answered with these (protocol, transport, url) receivers."""
    answer = [
        {"protocol": {"name": name, "type": transport}, "url": url}
        for name, transport, url in receivers
    ]
    return testing.Relation(
        "tracing",
        remote_app_name="tempo",
        remote_app_data={"receivers": json.dumps(answer)} if receivers else {},
    )


def environment(state: testing.State, service: str = SERVICE) -> dict[str, str]:
    return dict(state.get_container("api").plan.services[service].environment)


def test_the_leader_asks_for_an_otlp_http_receiver(ctx):
    relation = tracing_relation()

    out = ctx.run(ctx.on.relation_created(relation), ready_state(relations=[relation]))

    requested = out.get_relation(relation.id).local_app_data
    assert json.loads(requested["receivers"]) == ["otlp_http"]
    # No answer yet: the API is not traced.
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in environment(out)


def test_the_receiver_url_is_the_apis_trace_endpoint(ctx):
    relation = tracing_relation(
        ("otlp_grpc", "grpc", "tempo-0.tempo-endpoints.cos.svc.cluster.local:4317"),
        ("otlp_http", "http", TEMPO_HTTP),
    )

    out = ctx.run(ctx.on.relation_changed(relation), ready_state(relations=[relation]))

    assert environment(out)["OTEL_EXPORTER_OTLP_ENDPOINT"] == TEMPO_HTTP
    assert environment(out, WORKER)["OTEL_EXPORTER_OTLP_ENDPOINT"] == TEMPO_HTTP
    assert out.unit_status == testing.ActiveStatus()


def test_a_non_leader_uses_the_endpoint_without_asking(ctx):
    relation = tracing_relation(("otlp_http", "http", TEMPO_HTTP))

    out = ctx.run(
        ctx.on.relation_changed(relation), ready_state(leader=False, relations=[relation])
    )

    assert environment(out)["OTEL_EXPORTER_OTLP_ENDPOINT"] == TEMPO_HTTP
    assert out.get_relation(relation.id).local_app_data == {}


def test_removing_the_relation_stops_tracing(ctx):
    relation = tracing_relation(("otlp_http", "http", TEMPO_HTTP))
    traced = ctx.run(ctx.on.relation_changed(relation), ready_state(relations=[relation]))
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in environment(traced)

    out = ctx.run(ctx.on.relation_broken(traced.get_relation(relation.id)), traced)

    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in environment(out)
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in environment(out, WORKER)
    assert out.unit_status == testing.ActiveStatus()


def test_a_provider_without_otlp_http_leaves_the_api_untraced(ctx):
    relation = tracing_relation(("otlp_grpc", "grpc", "tempo:4317"))

    out = ctx.run(ctx.on.relation_changed(relation), ready_state(relations=[relation]))

    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in environment(out)
    assert out.unit_status == testing.ActiveStatus()


def test_malformed_provider_data_leaves_the_api_untraced(ctx):
    relation = dataclasses.replace(tracing_relation(), remote_app_data={"receivers": "not json"})

    out = ctx.run(ctx.on.relation_changed(relation), ready_state(relations=[relation]))

    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in environment(out)
    assert out.unit_status == testing.ActiveStatus()
