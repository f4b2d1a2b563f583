"""Requirer side of the `ingress` interface, version 2.

Written from the interface specification: every databag value is JSON-encoded. The leader
publishes the application's `model`, `name`, `port`, `strip-prefix`, `redirect-https` and
`scheme`, and `healthcheck_params` (the path the provider probes on every unit before it
routes to it); each unit publishes its `host` (and `ip` when known). The provider answers in
its application databag with `ingress` = `{"url": "..."}`.
"""

from __future__ import annotations

import json
import logging
import socket

from .endpoint import SingleRelationEndpoint, update_databag

logger = logging.getLogger(__name__)


class IngressRequirer(SingleRelationEndpoint):
    """Asks the ingress provider to route to our units and reads the public URL."""

    def publish(self, port: int, health_path: str) -> None:
        """Write our side of the relation (idempotent); a no-op without a relation."""
        relation = self.relation
        if relation is None:
            return
        model = self._charm.model
        unit_data = {"host": json.dumps(self._unit_host())}
        binding = model.get_binding(relation)
        address = binding.network.ingress_address if binding is not None else None
        if address is not None:
            unit_data["ip"] = json.dumps(str(address))
        update_databag(relation.data[self._charm.unit], unit_data)
        if self._charm.unit.is_leader():
            update_databag(
                relation.data[self._charm.app],
                {
                    "model": json.dumps(model.name),
                    "name": json.dumps(self._charm.app.name),
                    "port": json.dumps(port),
                    # The API serves from the root path; the provider removes its prefix.
                    "strip-prefix": json.dumps(True),
                    "redirect-https": json.dumps(False),
                    "scheme": json.dumps("http"),
                    # Traefik stops routing to a unit whose API the gate stopped, or whose
                    # schema no longer matches its code.
                    "healthcheck_params": json.dumps(
                        {"path": health_path, "interval": "10s", "timeout": "3s"}
                    ),
                },
            )

    def url(self) -> str | None:
        """The public URL the provider gave us, if any."""
        relation = self.relation
        if relation is None or relation.app is None:
            return None
        raw = relation.data[relation.app].get("ingress")
        if not raw:
            return None
        try:
            url = json.loads(raw).get("url")
        except (ValueError, AttributeError):
            logger.warning("ignoring malformed ingress data from %s", relation.app.name)
            return None
        return url if isinstance(url, str) and url else None

    def _unit_host(self) -> str:
        # The stable per-unit DNS name Juju creates for sidecar charms.
        unit = self._charm.unit.name.replace("/", "-")
        app = self._charm.app.name
        return f"{unit}.{app}-endpoints.{self._charm.model.name}.svc.{cluster_domain()}"


def cluster_domain() -> str:
    """The cluster's DNS domain, read from this pod's own name (not always cluster.local)."""
    fqdn = socket.getfqdn()
    if ".svc." in fqdn:
        return fqdn.split(".svc.", 1)[1].rstrip(".")
    return "cluster.local"
