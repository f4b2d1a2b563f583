"""OpenTelemetry tracing, switched on by OTEL_EXPORTER_OTLP_ENDPOINT.

Without an endpoint, nothing of OpenTelemetry is imported: no cost and nothing sent.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine

from test_observer.settings import Settings

logger = logging.getLogger(__name__)


def enable_tracing(app: Any, engine: Engine, settings: Settings) -> bool:
    """Trace requests and SQL statements to the OTLP endpoint; False when none is configured."""
    endpoint = settings.otel_exporter_otlp_endpoint.strip()
    if not endpoint:
        return False
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: settings.otel_service_name}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=_traces_url(endpoint)))
    )
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls="health/.*")
    # The instrumentation declares support up to SQLAlchemy 2.0 only, but the engine events it
    # uses are unchanged in 2.1 (the tests check that query spans arrive).
    SQLAlchemyInstrumentor().instrument(
        engine=engine, tracer_provider=provider, skip_dep_check=True
    )
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(provider)
    app.state.tracer_provider = provider
    logger.info("tracing to %s", endpoint)
    return True


def _traces_url(endpoint: str) -> str:
    # OTEL_EXPORTER_OTLP_ENDPOINT is the collector's base URL; the HTTP exporter wants the path.
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else endpoint + "/v1/traces"
