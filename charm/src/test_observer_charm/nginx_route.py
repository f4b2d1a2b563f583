"""Requirer side of the `nginx-route` interface (version 0), for nginx-ingress-integrator.

Written from the interface's public specification: a one-way relation. The leader writes, in
its application databag, plain strings: `service-hostname` (the host the Kubernetes Ingress
routes), `service-name` (our Kubernetes Service: the application's name), `service-namespace`
(our model) and `service-port`. Every other field of the integrator's configuration is
optional and left to its defaults. The provider answers nothing; it creates a host-based Ingress
to the Service, so the API is served from the root path of `https://<hostname>` (the
integrator terminates TLS in the deployments this relation is meant for).
"""

from __future__ import annotations

from .endpoint import SingleRelationEndpoint, update_databag


class NginxRouteRequirer(SingleRelationEndpoint):
    """Asks nginx-ingress-integrator for an Ingress to our Service."""

    def hostname(self, configured: str) -> str:
        return configured or self._charm.app.name

    def publish(self, hostname: str, port: int) -> None:
        """Write the route (leader only; idempotent); a no-op without a relation."""
        relation = self.relation
        if relation is None or not self._charm.unit.is_leader():
            return
        wanted = {
            "service-hostname": self.hostname(hostname),
            "service-name": self._charm.app.name,
            "service-namespace": self._charm.model.name,
            "service-port": str(port),
        }
        update_databag(relation.data[self._charm.app], wanted)

    def url(self, hostname: str) -> str | None:
        """The public URL of the route, once related."""
        if self.relation is None:
            return None
        return f"https://{self.hostname(hostname)}"
