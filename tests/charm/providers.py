"""The provider sides of the charm's relations, written from the public interface definitions.

postgresql-k8s answers `postgresql_client` (v0) and traefik-k8s answers `ingress` (v2). Their
libraries are published on Charmhub only, so these small providers reproduce what they read
from a requirer and what they validate (field names, JSON encoding, types, ranges), and answer
the way they do. They let the tests run our requirers against a provider that would refuse
what the real one refuses.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass

from ops import testing


class ProviderRefusedError(Exception):
    """The provider would not accept the requirer's data (the real one logs and ignores it)."""


# postgresql_client v0


@dataclass(frozen=True)
class PostgresqlProvider:
    """Answers a database request as postgresql-k8s does."""

    host: str = "postgresql-k8s-primary.dev.svc.cluster.local"
    port: int = 5432
    username: str = "relation_7"
    password: str = "Zq8*w/y:@%"
    engine_version: str = "16.9"
    tls_ca: str | None = None

    def answer(
        self, requirer_app: Mapping[str, str]
    ) -> tuple[dict[str, str], list[testing.Secret]]:
        """The provider's application databag and the secrets it grants, for a request."""
        database = requirer_app.get("database")
        if not database:
            # No database field: the provider waits and writes nothing.
            raise ProviderRefusedError("the requirer asked for no database")
        try:
            requested = json.loads(requirer_app.get("requested-secrets", "[]"))
        except ValueError as e:
            raise ProviderRefusedError(f"requested-secrets is not JSON: {e}") from None
        if not isinstance(requested, list) or not all(isinstance(f, str) for f in requested):
            raise ProviderRefusedError("requested-secrets must be a JSON list of field names")
        data = {
            "database": database,
            "endpoints": f"{self.host}:{self.port}",
            "read-only-endpoints": f"{self.host.replace('primary', 'replicas')}:{self.port}",
            "version": self.engine_version,
        }
        secrets: list[testing.Secret] = []
        user = {"username": self.username, "password": self.password}
        if {"username", "password"} <= set(requested):
            secret = testing.Secret(user, label="database.7.user.secret")
            secrets.append(secret)
            data["secret-user"] = secret.id
        else:
            data.update(user)
        tls = {"tls": "True" if self.tls_ca else "False"}
        if self.tls_ca:
            tls["tls-ca"] = self.tls_ca
        if {"tls", "tls-ca"} <= set(requested):
            secret = testing.Secret(tls, label="database.7.tls.secret")
            secrets.append(secret)
            data["secret-tls"] = secret.id
        else:
            data.update(tls)
        return data, secrets


# ingress v2

_SCHEMES = {"http", "https", "h2c"}


def _json_fields(databag: Mapping[str, str], fields: set[str]) -> dict[str, object]:
    try:
        return {k: json.loads(v) for k, v in databag.items() if k in fields}
    except ValueError as e:
        raise ProviderRefusedError(f"databag value is not JSON: {e}") from None


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ProviderRefusedError(message)


@dataclass(frozen=True)
class TraefikProvider:
    """Validates an ingress request as traefik-k8s's ingress v2 provider does, and answers."""

    external_host: str = "ingress.example.com"
    scheme: str = "http"

    def validate_app(self, databag: Mapping[str, str]) -> dict[str, object]:
        fields = {
            "model",
            "name",
            "port",
            "strip-prefix",
            "redirect-https",
            "scheme",
            "healthcheck_params",
        }
        data = _json_fields(databag, fields)
        _require(isinstance(data.get("model"), str), "model must be a string")
        _require(isinstance(data.get("name"), str), "name must be a string")
        port = data.get("port")
        _require(isinstance(port, int) and not isinstance(port, bool), "port must be an int")
        assert isinstance(port, int)
        _require(0 < port < 65535, "port out of TCP range")
        for flag in ("strip-prefix", "redirect-https"):
            _require(isinstance(data.get(flag, False), bool), f"{flag} must be a boolean")
        _require(data.get("scheme", "http") in _SCHEMES, "invalid scheme")
        health = data.get("healthcheck_params")
        if health is not None:
            _require(isinstance(health, dict), "healthcheck_params must be an object")
            assert isinstance(health, dict)
            _require(isinstance(health.get("path"), str), "healthcheck path is required")
            for key in ("scheme", "hostname", "interval", "timeout"):
                _require(
                    health.get(key) is None or isinstance(health[key], str),
                    f"healthcheck {key} must be a string",
                )
            _require(
                health.get("port") is None or isinstance(health["port"], int),
                "healthcheck port must be an int",
            )
            _require(
                set(health) <= {"path", "scheme", "hostname", "port", "interval", "timeout"},
                "unknown healthcheck field",
            )
        return data

    def validate_unit(self, databag: Mapping[str, str]) -> dict[str, object]:
        data = _json_fields(databag, {"host", "ip"})
        _require(isinstance(data.get("host"), str), "host must be a string")
        ip = data.get("ip")
        if ip is not None:
            _require(isinstance(ip, str), "ip must be a string")
            try:
                ipaddress.ip_address(str(ip))
            except ValueError:
                raise ProviderRefusedError(f"{ip!r} is not a valid ip address") from None
        return data

    def answer(self, app: Mapping[str, str], units: list[Mapping[str, str]]) -> dict[str, str]:
        request = self.validate_app(app)
        for unit in units:
            self.validate_unit(unit)
        url = f"{self.scheme}://{self.external_host}/{request['model']}-{request['name']}"
        return {"ingress": json.dumps({"url": url})}
