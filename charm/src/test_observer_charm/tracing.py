"""The `tracing` relation (requirer): where the API sends its traces.

The relation is the `tracing` interface (v2) through its PyPI library: the leader asks for
the receivers the API can use, and the provider (Tempo, or a collector in front of it) answers
with their URLs. The API exports OTLP over HTTP only, so that is the one receiver asked for;
its URL becomes OTEL_EXPORTER_OTLP_ENDPOINT, which turns the API's tracing on.
"""

from __future__ import annotations

import logging
from typing import Final

import ops
from charmlibs.interfaces.tracing import TracingEndpointRequirer

logger = logging.getLogger(__name__)

TRACING_RELATION = "tracing"
# The API's exporter (opentelemetry-exporter-otlp-proto-http).
PROTOCOL: Final = "otlp_http"


class TracingRequirer:
    def __init__(self, charm: ops.CharmBase, relation_name: str = TRACING_RELATION) -> None:
        # The library asks for the protocol on every event the leader handles.
        self._requirer = TracingEndpointRequirer(charm, relation_name, protocols=[PROTOCOL])

    def endpoint(self) -> str | None:
        """The OTLP/HTTP receiver's base URL, once the provider has answered."""
        answer = self._requirer.get_all_endpoints()
        if answer is None:
            return None
        for receiver in answer.receivers:
            if receiver.protocol.name == PROTOCOL and receiver.url:
                return receiver.url
        # A provider that cannot take OTLP/HTTP: the API stays untraced rather than guessing.
        logger.warning("the tracing provider offers no %s receiver", PROTOCOL)
        return None
