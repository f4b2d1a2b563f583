"""Typed, validated charm configuration.

Juju only checks an option's basic type; everything else (ranges, origin syntax, enums) is
checked here so that a bad value blocks the unit with a message naming the option instead of
reaching the API, where it would stop start-up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

LOG_LEVELS = ("debug", "info", "warning", "error")
MAX_WORKERS = 32
# Ports below 1024 need privileges the rock's non-root user does not have; traefik's ingress
# accepts ports below 65535 only.
MIN_PORT = 1024
MAX_PORT = 65534
# postgresql-k8s opens max(4 x CPUs, 100) connections, 100 on a small node, and keeps 3 of them
# for superusers; its own Patroni, exporter and backups use a few more. 80 leaves that and
# room for a person's psql session (see connections.py).
DEFAULT_CONNECTION_BUDGET = 80
# A Kubernetes Ingress host: lower-case DNS labels (RFC 1123), not an address.
_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")


class InvalidConfigError(Exception):
    """An option has a value the charm cannot use."""

    def __init__(self, option: str, reason: str) -> None:
        super().__init__(f"invalid config option '{option}': {reason}")
        self.option = option
        self.reason = reason


@dataclass(frozen=True)
class CharmConfig:
    """The charm's options after validation."""

    port: int = 30000
    version: str = ""
    cors_origins: tuple[str, ...] = ()
    frontend_url: str = ""
    log_level: str = "info"
    # API processes; each has its own database pool, sized from db_connection_budget.
    workers: int = 2
    # Database connections the whole application may open (see connections.py).
    db_connection_budget: int = DEFAULT_CONNECTION_BUDGET
    # Where Prometheus scrapes the API's metrics; 0 turns them off.
    metrics_port: int = 9090
    require_authentication: bool = False
    ignore_permissions: tuple[str, ...] = ()
    # URI of a Juju user secret; resolving it needs the model, so it happens elsewhere.
    sessions_secret: str = ""
    # Single sign-on: all three or none (the key is the URI of a Juju user secret).
    saml_idp_metadata_url: str = ""
    saml_sp_cert: str = ""
    saml_sp_key: str = ""
    # URI of a Juju user secret with the keys cloud-id, email and api-token.
    jira_credentials: str = ""
    sentry_dsn: str = ""
    # The host the nginx-route relation asks for; empty: the application's name.
    hostname: str = ""

    @classmethod
    def from_options(cls, options: Mapping[str, object]) -> CharmConfig:
        """Validate Juju's option values; raise InvalidConfigError naming the first bad one."""
        port = _int(options, "port", 30000)
        if not MIN_PORT <= port <= MAX_PORT:
            raise InvalidConfigError("port", f"must be between {MIN_PORT} and {MAX_PORT}")
        workers = _int(options, "workers", 2)
        if not 1 <= workers <= MAX_WORKERS:
            # No "one per CPU": the connection budget needs a number the charm knows.
            raise InvalidConfigError("workers", f"must be between 1 and {MAX_WORKERS}")
        budget = _int(options, "db-connection-budget", DEFAULT_CONNECTION_BUDGET)
        if budget < 1:
            raise InvalidConfigError("db-connection-budget", "must be a positive number")
        metrics_port = _int(options, "metrics-port", 9090)
        if metrics_port != 0 and not MIN_PORT <= metrics_port <= MAX_PORT:
            raise InvalidConfigError(
                "metrics-port", f"must be 0 or between {MIN_PORT} and {MAX_PORT}"
            )
        if metrics_port == port:
            raise InvalidConfigError("metrics-port", "must differ from port")
        log_level = _str(options, "log-level", "info").lower()
        if log_level not in LOG_LEVELS:
            raise InvalidConfigError("log-level", f"must be one of {', '.join(LOG_LEVELS)}")
        version = _str(options, "version", "")
        if any(c.isspace() for c in version):
            raise InvalidConfigError("version", "must not contain whitespace")
        cors_origins = tuple(
            parse_origin(item, "cors-origins") for item in _list(options, "cors-origins")
        )
        frontend_url = _str(options, "frontend-url", "")
        if frontend_url:
            frontend_url = parse_origin(frontend_url, "frontend-url")
        # The names are checked by the API's own settings check (against its permission list)
        # before the service is changed; see Workload.settings_problems.
        ignore_permissions = _list(options, "ignore-permissions")
        require_authentication = options.get("require-authentication", False)
        if not isinstance(require_authentication, bool):
            raise InvalidConfigError("require-authentication", "must be true or false")
        return cls(
            port=port,
            version=version,
            cors_origins=cors_origins,
            frontend_url=frontend_url,
            log_level=log_level,
            workers=workers,
            db_connection_budget=budget,
            metrics_port=metrics_port,
            require_authentication=require_authentication,
            ignore_permissions=tuple(ignore_permissions),
            sessions_secret=_str(options, "sessions-secret", ""),
            **_saml(options),
            jira_credentials=_str(options, "jira-credentials", ""),
            sentry_dsn=_sentry_dsn(options),
            hostname=_hostname(options),
        )


SAML_OPTIONS = ("saml-idp-metadata-url", "saml-sp-cert", "saml-sp-key")


def _saml(options: Mapping[str, object]) -> dict[str, str]:
    """The SAML options, all or none set; a partial set names what is missing."""
    values = {name: _str(options, name, "") for name in SAML_OPTIONS}
    missing = [name for name, value in values.items() if not value]
    if 0 < len(missing) < len(SAML_OPTIONS):
        raise InvalidConfigError(
            missing[0],
            f"SAML config incomplete: missing {', '.join(missing)} (set all of "
            f"{', '.join(SAML_OPTIONS)}, or none)",
        )
    url = values["saml-idp-metadata-url"]
    if url and urlsplit(url).scheme not in ("http", "https"):
        raise InvalidConfigError("saml-idp-metadata-url", f"'{url}' is not an http(s) URL")
    cert = values["saml-sp-cert"]
    if cert and "BEGIN CERTIFICATE" not in cert:
        raise InvalidConfigError("saml-sp-cert", "must be a PEM certificate")
    return {
        "saml_idp_metadata_url": url,
        "saml_sp_cert": cert,
        "saml_sp_key": values["saml-sp-key"],
    }


def _hostname(options: Mapping[str, object]) -> str:
    hostname = _str(options, "hostname", "")
    if hostname and (not _HOSTNAME.match(hostname) or hostname.replace(".", "").isdigit()):
        raise InvalidConfigError(
            "hostname", f"'{hostname}' is not a lower-case DNS name (such as api.example.com)"
        )
    return hostname


def _sentry_dsn(options: Mapping[str, object]) -> str:
    dsn = _str(options, "sentry-dsn", "")
    if dsn and urlsplit(dsn).scheme not in ("http", "https"):
        raise InvalidConfigError("sentry-dsn", f"'{dsn}' is not a Sentry DSN")
    return dsn


def parse_origin(value: str, option: str) -> str:
    """Return `value` as a normalised `scheme://host[:port]` origin, or raise."""
    value = value.strip()
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as e:
        raise InvalidConfigError(option, f"'{value}' is not a URL: {e}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidConfigError(option, f"'{value}' is not a scheme://host[:port] origin")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise InvalidConfigError(option, f"'{value}' must not have a path, query or user")
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def _int(options: Mapping[str, object], name: str, default: int) -> int:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidConfigError(name, "must be an integer")
    return value


def _str(options: Mapping[str, object], name: str, default: str) -> str:
    value = options.get(name, default)
    if not isinstance(value, str):
        raise InvalidConfigError(name, "must be a string")
    return value.strip()


def _list(options: Mapping[str, object], name: str) -> list[str]:
    return [item.strip() for item in _str(options, name, "").split(",") if item.strip()]
