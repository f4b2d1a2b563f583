"""Requirer side of the `postgresql_client` interface, v0 wire format.

postgresql-k8s only speaks v0, so this is a small requirer written from the interface
specification. The rest of the charm sees one narrow question, "what database URL, if any?",
so a packaged library can replace this module without touching the charm.

Wire format (application databags):
- we write `database` (the name to create) and `requested-secrets` (JSON list of the
  secret fields we want delivered as Juju secrets);
- the provider answers with `endpoints` (comma-separated host:port), `database`, and
  `secret-user` (a secret URI whose content has `username` and `password`); older providers
  put plain `username`/`password` fields in the databag instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

import ops

REQUESTED_SECRETS = ("username", "password", "tls", "tls-ca", "uris", "read-only-uris")


@dataclass(frozen=True)
class DatabaseInfo:
    """What the provider has granted us."""

    relation_id: int
    database: str
    endpoints: tuple[str, ...]
    username: str
    password: str

    @property
    def identity(self) -> str:
        """Which database the schema lives in; credentials and endpoints may change freely."""
        return f"{self.database}@relation-{self.relation_id}"

    @property
    def url(self) -> str:
        """SQLAlchemy/libpq URL with the credentials URL-encoded."""
        user = quote(self.username, safe="")
        password = quote(self.password, safe="")
        name = quote(self.database, safe="")
        if len(self.endpoints) == 1:
            return f"postgresql://{user}:{password}@{self.endpoints[0]}/{name}"
        # Several endpoints: libpq's multi-host form, which tries them in order.
        hosts = "&".join(f"host={quote(endpoint, safe=':[]')}" for endpoint in self.endpoints)
        return f"postgresql://{user}:{password}@/{name}?{hosts}"


class DatabaseRequirer(ops.Object):
    """Requests a database and reads the credentials the provider grants."""

    def __init__(self, charm: ops.CharmBase, relation_name: str, database_name: str) -> None:
        super().__init__(charm, relation_name)
        self._charm = charm
        self.relation_name = relation_name
        self.database_name = database_name

    @property
    def relation(self) -> ops.Relation | None:
        """The database relation, if one exists (the endpoint has limit 1)."""
        return self._charm.model.get_relation(self.relation_name)

    @property
    def remote_app_name(self) -> str:
        relation = self.relation
        return relation.app.name if relation is not None and relation.app else "the provider"

    def request(self) -> None:
        """Ask the provider for our database (leader only; idempotent)."""
        relation = self.relation
        if relation is None or not self._charm.unit.is_leader():
            return
        wanted = {
            "database": self.database_name,
            "requested-secrets": json.dumps(list(REQUESTED_SECRETS)),
        }
        databag = relation.data[self._charm.app]
        if any(databag.get(key) != value for key, value in wanted.items()):
            databag.update(wanted)

    def get(self) -> DatabaseInfo | None:
        """The granted database, or None while the provider has not answered completely."""
        relation = self.relation
        if relation is None or relation.app is None:
            return None
        remote = relation.data[relation.app]
        endpoints = tuple(e.strip() for e in remote.get("endpoints", "").split(",") if e.strip())
        database = remote.get("database", "")
        if not endpoints or database != self.database_name:
            return None
        credentials = self._credentials(remote)
        if credentials is None:
            return None
        username, password = credentials
        return DatabaseInfo(relation.id, database, endpoints, username, password)

    def _credentials(self, remote: ops.RelationDataContent) -> tuple[str, str] | None:
        secret_id = remote.get("secret-user")
        if secret_id:
            try:
                secret = self._charm.model.get_secret(id=secret_id)
                # refresh=True: start tracking the newest revision so a rotation reaches us.
                content = secret.get_content(refresh=True)
            except (ops.SecretNotFoundError, ops.ModelError):
                return None
            username, password = content.get("username"), content.get("password")
        else:
            username, password = remote.get("username"), remote.get("password")
        if not username or not password:
            return None
        return username, password
