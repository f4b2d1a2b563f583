"""Provider side of the `http` relation the Test Observer frontend uses (`test-observer-rest-api`).

The leader publishes where the API is (`hostname`, `port`, `url`) in its application databag;
each related frontend publishes its own public `url`, which must become an allowed CORS
origin (and the frontend URL the API redirects to after login).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import ops

from .config import InvalidConfigError, parse_origin

logger = logging.getLogger(__name__)


class FrontendProvider(ops.Object):
    """Publishes the API's address and collects the frontends' origins."""

    def __init__(self, charm: ops.CharmBase, relation_name: str) -> None:
        super().__init__(charm, relation_name)
        self._charm = charm
        self.relation_name = relation_name

    def publish(self, hostname: str, port: int, url: str) -> None:
        """Leader only; idempotent."""
        if not self._charm.unit.is_leader():
            return
        wanted = {"hostname": hostname, "port": str(port), "url": url}
        for relation in self._charm.model.relations[self.relation_name]:
            databag = relation.data[self._charm.app]
            if any(databag.get(key) != value for key, value in wanted.items()):
                databag.update(wanted)

    def frontend_origins(self) -> list[str]:
        """Origins of the related frontends, in relation order, without duplicates."""
        origins: list[str] = []
        for relation in self._charm.model.relations[self.relation_name]:
            if relation.app is None:
                continue
            url = relation.data[relation.app].get("url", "")
            if not url:
                continue
            # The frontend may publish a URL with a path; CORS compares only the origin.
            parts = urlsplit(url)
            try:
                origin = parse_origin(f"{parts.scheme}://{parts.netloc}", self.relation_name)
            except InvalidConfigError:
                # A frontend's bad data must not take the API down; the origin is just skipped.
                logger.warning("ignoring invalid url %r from %s", url, relation.app.name)
                continue
            if origin not in origins:
                origins.append(origin)
        return origins
