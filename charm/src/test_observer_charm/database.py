"""Requirer side of the `postgresql_client` interface, v0 wire format.

postgresql-k8s only speaks v0, so this is a small requirer written from the interface
specification. The rest of the charm sees one narrow question, "what database URL, if any?",
so a packaged library can replace this module without touching the charm.

Wire format (application databags):
- we write `database` (the name to create) and `requested-secrets` (JSON list of the
  secret fields we want delivered as Juju secrets);
- the provider answers with `endpoints` (comma-separated host:port), `database`,
  `secret-user` (a secret URI whose content has `username` and `password`) and, when TLS is
  on, `secret-tls` (content `tls` = "True" and `tls-ca`, the CA's PEM). Older providers put
  the same fields in plain text in the databag instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote, urlencode

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
    # The CA certificate(s) that signed the server's certificate, when the provider has TLS on.
    tls_ca: str | None = None

    @property
    def identity(self) -> str:
        """Which database the schema lives in; credentials and endpoints may change freely."""
        return f"{self.database}@relation-{self.relation_id}"

    def url(self, ca_path: str | None = None) -> str:
        """SQLAlchemy/libpq URL with the credentials URL-encoded.

        With TLS on (`ca_path` names where the CA is in the container), libpq must verify the
        server's certificate and its host name: anything weaker lets a machine in the middle
        read the credentials.
        """
        user = quote(self.username, safe="")
        password = quote(self.password, safe="")
        name = quote(self.database, safe="")
        tls = ""
        if self.tls_ca is not None and ca_path is not None:
            tls = urlencode({"sslmode": "verify-full", "sslrootcert": ca_path}, safe="/")
        if len(self.endpoints) == 1:
            return f"postgresql://{user}:{password}@{self.endpoints[0]}/{name}" + (
                f"?{tls}" if tls else ""
            )
        # Several endpoints: libpq's multi-host form, which tries them in order.
        hosts = "&".join(f"host={quote(endpoint, safe=':[]')}" for endpoint in self.endpoints)
        return f"postgresql://{user}:{password}@/{name}?{hosts}" + (f"&{tls}" if tls else "")


class TlsCaMissingError(Exception):
    """The provider has TLS on but has not sent the CA certificate yet."""


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
        """The granted database, or None while the provider has not answered completely.

        Raises TlsCaMissingError when TLS is on but the CA has not arrived: connecting without
        verifying the server is never an option.
        """
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
        return DatabaseInfo(
            relation.id, database, endpoints, username, password, self._tls_ca(remote)
        )

    def _tls_ca(self, remote: ops.RelationDataContent) -> str | None:
        secret_id = remote.get("secret-tls")
        if secret_id:
            try:
                content = self._charm.model.get_secret(id=secret_id).get_content(refresh=True)
            except (ops.SecretNotFoundError, ops.ModelError):
                content = {}
            tls, ca = content.get("tls", ""), content.get("tls-ca", "")
        else:
            tls, ca = remote.get("tls", ""), remote.get("tls-ca", "")
        if tls.strip().lower() not in ("true", "enabled", "yes", "1"):
            return None
        if not ca.strip():
            raise TlsCaMissingError()
        return ca.strip() + "\n"

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
