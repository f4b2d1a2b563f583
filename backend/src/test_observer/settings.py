"""Every setting of the API server, read from environment variables with their upstream names."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, IPvAnyNetwork, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from test_observer.db.models.enums import Permission

LogLevel = Literal["critical", "error", "warning", "info", "debug"]
LogFormat = Literal["json", "text"]


def interval_cron(seconds: int) -> str:
    """The cron schedule that runs a job every `seconds` seconds, aligned to the clock so every
    worker computes the same instants (which is what lets the queue run each instant once).

    The interval must divide a minute, an hour or a day, or be a whole number of days dividing a
    week (1 or 7 days).
    """
    if seconds <= 0:
        raise ValueError("an interval must be a positive number of seconds")
    if seconds < 60 and 60 % seconds == 0:
        return f"* * * * * */{seconds}"
    minutes, rest = divmod(seconds, 60)
    if not rest and minutes < 60 and 60 % minutes == 0:
        return f"*/{minutes} * * * *"
    hours, rest = divmod(seconds, 3600)
    if not rest and hours < 24 and 24 % hours == 0:
        return f"0 */{hours} * * *"
    if seconds == 86400:
        return "0 0 * * *"
    if seconds == 7 * 86400:
        return "0 0 * * 0"
    raise ValueError(
        f"{seconds} s does not divide a minute, an hour or a day, and is not a day or a week"
    )


class SettingsError(Exception):
    """A setting has a value the server cannot start with. The message names the variable."""


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _origin(value: str) -> str:
    # Browsers send an Origin without a trailing slash; CORS compares origins exactly.
    origin = value.strip().rstrip("/")
    scheme, sep, rest = origin.partition("://")
    if scheme not in ("http", "https") or not sep or not rest or "/" in rest:
        raise ValueError(f"{value!r} is not an origin like https://host[:port]")
    return origin


def _check_saml_key_pair(certificate: str, key: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from cryptography.x509 import load_pem_x509_certificate

    try:
        private_key = load_pem_private_key(key.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("SAML_SP_KEY is not an unencrypted PEM private key") from None
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise ValueError("SAML_SP_KEY must be an RSA key")
    try:
        public_key = load_pem_x509_certificate(certificate.encode()).public_key()
    except ValueError:
        raise ValueError("SAML_SP_X509_CERT is not a PEM certificate") from None
    if public_key != private_key.public_key():
        raise ValueError("SAML_SP_X509_CERT is not the certificate of SAML_SP_KEY")


def normalise_database_url(value: str) -> str:
    """Accept any PostgreSQL URL spelling and use the psycopg 3 driver for it."""
    try:
        url: URL = make_url(value)
    except ArgumentError as error:
        raise ValueError(f"not a database URL: {error}") from None
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise ValueError(f"only PostgreSQL is supported, got {url.get_backend_name()!r}")
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    # None means "no database configured": the command line then starts an embedded one.
    db_url: str | None = None
    frontend_url: str = "http://localhost:30001"
    additional_cors_origins: Annotated[list[str], NoDecode] = []
    require_authentication: bool = False
    ignore_permissions: Annotated[frozenset[Permission], NoDecode] = frozenset()
    # Empty means "generate one at start-up" (see `effective_sessions_secret`).
    sessions_secret: str = ""
    sessions_https_only: bool = True
    # What GET /v1/version reports instead of the installed package's version.
    version_override: str = ""
    log_level: LogLevel = "info"
    # Largest request body an upload endpoint (JUnit XML) reads; larger ones get 413.
    max_upload_bytes: Annotated[int, Field(gt=0)] = 50 * 1024 * 1024

    # Failed results get a failure signature when stored. Off, they are stored unsigned (and
    # unmatched by rules on signatures) until a backfill signs them: an escape hatch, and the
    # baseline of the signing benchmark.
    sign_failures: bool = True

    # Background jobs (see test_observer.jobs). Every external base URL is a setting so tests
    # and staging can point the jobs at fakes.
    disable_periodic_tasks: bool = False
    enable_issue_sync: bool = False
    snapcraft_api_url: str = "https://api.snapcraft.io"
    ubuntu_archive_url: str = "http://us.archive.ubuntu.com/ubuntu"
    ubuntu_ports_url: str = "http://ports.ubuntu.com/ubuntu-ports"
    github_api_url: str = "https://api.github.com"
    launchpad_api_url: str = "https://api.launchpad.net/devel"
    kernel_swm_status_url: str = "https://kernel.ubuntu.com/swm/status.json"
    git_app_id: str = ""
    git_app_private_key: str = ""
    http_timeout_s: float = Field(default=30.0, gt=0)
    promote_interval_s: int = 600
    kernel_swm_interval_s: int = 300
    clean_sessions_interval_s: int = 600
    # The audit trail keeps events this many days (at least 30: the table's trigger refuses
    # to delete anything younger); `prune-audit-events` deletes older ones.
    audit_retention_days: int = Field(default=400, ge=30)
    audit_prune_interval_s: int = 86400
    sync_open_interval_s: int = 3600
    sync_recent_closed_interval_s: int = 21600
    sync_old_closed_interval_s: int = 604800
    sync_old_closed_threshold_days: int = Field(default=30, ge=0)
    sync_batch_size: int = Field(default=50, ge=1)
    # A job whose worker has sent no heartbeat for this long is retried by another worker.
    job_stalled_after_s: int = Field(default=60, ge=5)
    # The worker reconnects to a lost database after waits doubling from the first to the
    # longest, and calls itself unhealthy once the database has been away this long.
    worker_reconnect_min_s: float = Field(default=1.0, gt=0)
    worker_reconnect_max_s: float = Field(default=30.0, gt=0)
    worker_outage_threshold_s: float = Field(default=60.0, ge=0)
    # Where the worker answers /health and /metrics; 0 turns that off.
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: Annotated[int, Field(ge=0, le=65535)] = 0

    # Outbound webhooks (see test_observer.webhooks). Targets in private, loopback, link-local
    # or metadata ranges are refused unless one of these networks contains them.
    webhook_allowed_networks: Annotated[list[IPvAnyNetwork], NoDecode] = []
    webhook_connect_timeout_s: float = Field(default=5.0, gt=0)
    webhook_read_timeout_s: float = Field(default=10.0, gt=0)
    # The first retry waits about this long; each next one twice as long, up to the cap.
    webhook_retry_base_s: float = Field(default=10.0, gt=0)
    webhook_retry_max_wait_s: float = Field(default=3600.0, gt=0)
    # A delivery still failing this long after its first attempt is marked failed.
    webhook_retry_for_s: float = Field(default=86400.0, gt=0)
    # Events and their deliveries are kept this many days (none still waiting to be sent is
    # deleted); `prune-webhook-events` deletes older ones.
    webhook_retention_days: int = Field(default=30, ge=1)
    webhook_prune_interval_s: int = 3600

    # SAML single sign-on. The service provider's entity id is its base URL.
    saml_sp_base_url: str = "http://localhost:30000"
    saml_idp_metadata_url: str = ""
    saml_sp_x509_cert: str = ""
    saml_sp_key: str = ""
    # Development only: sign in through one-time links (`test-observer admin login-url`) and
    # never ask Launchpad about people.
    use_local_login: bool = False

    # Jira: issue synchronisation needs the email and token, review cards all three.
    jira_cloud_id: str = ""
    jira_email: str = ""
    jira_api_token: str = ""
    # Empty means Atlassian's API gateway for JIRA_CLOUD_ID, or without one the Jira site
    # the original reported issues to (see `jira_base_url`).
    jira_api_url: str = ""

    sentry_dsn: str = ""

    # json for log collectors (the rock sets it), text for a person at a terminal.
    log_format: LogFormat = "text"
    # The Prometheus endpoint of `test-observer serve`; 0 turns it off.
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = 9090
    # The address it listens on: loopback, unless Prometheus scrapes from elsewhere (the pod's
    # address in a cluster).
    metrics_host: str = "127.0.0.1"
    # When set, a scrape must send `Authorization: Bearer <token>`; empty leaves it open to
    # whoever reaches METRICS_HOST.
    metrics_token: str = ""
    # How long a scrape reuses the previous scrape's database counts.
    metrics_cache_seconds: Annotated[float, Field(ge=0)] = 10.0
    # The domain series count results created in the last N days; 0 counts all history.
    metrics_init_days: Annotated[int, Field(ge=0)] = 30
    # OpenTelemetry tracing is loaded only when an OTLP endpoint is set.
    otel_exporter_otlp_endpoint: str = ""
    otel_service_name: str = "test-observer-api"

    # Bytes; a larger request body is answered with 413 before it is read. A 50 MB end-test fits.
    max_request_body_size: int = Field(default=64 * 1024 * 1024, gt=0)
    # Bytes an unauthenticated request body may have: a larger one is answered (401 when
    # authentication is required, 413 otherwise) from its headers, before it is read.
    anonymous_max_request_body_size: int = Field(default=1024 * 1024, gt=0)
    # Seconds one SQL statement may run before the database cancels it and the request fails.
    statement_timeout: float = Field(default=30.0, gt=0)
    # Per worker process: connections kept open, and extra ones opened under bursts. Every
    # unit opens at most workers x (DB_POOL_SIZE + DB_MAX_OVERFLOW) connections; see the
    # performance explanation for the sizing rule against PostgreSQL's max_connections.
    db_pool_size: Annotated[int, Field(ge=1, le=100)] = 5
    db_max_overflow: Annotated[int, Field(ge=0, le=100)] = 5
    # The job worker (and `jobs run`): its jobs' pool and overflow, and the most connections
    # the queue's own pool opens. The worker holds one more, listening for new jobs, so it
    # opens at most WORKER_DB_POOL_SIZE + WORKER_DB_MAX_OVERFLOW + WORKER_QUEUE_POOL_SIZE + 1.
    worker_db_pool_size: Annotated[int, Field(ge=1, le=100)] = 5
    worker_db_max_overflow: Annotated[int, Field(ge=0, le=100)] = 5
    worker_queue_pool_size: Annotated[int, Field(ge=1, le=100)] = 4

    @field_validator("db_url")
    @classmethod
    def _check_db_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return normalise_database_url(value.strip())

    @field_validator(
        "snapcraft_api_url",
        "ubuntu_archive_url",
        "ubuntu_ports_url",
        "github_api_url",
        "launchpad_api_url",
        "kernel_swm_status_url",
    )
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        url = value.strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return url

    @field_validator(
        "promote_interval_s",
        "kernel_swm_interval_s",
        "clean_sessions_interval_s",
        "audit_prune_interval_s",
        "webhook_prune_interval_s",
        "sync_open_interval_s",
        "sync_recent_closed_interval_s",
        "sync_old_closed_interval_s",
    )
    @classmethod
    def _check_interval(cls, value: int) -> int:
        interval_cron(value)  # raises ValueError with the accepted values
        return value

    @field_validator("frontend_url")
    @classmethod
    def _check_frontend_url(cls, value: str) -> str:
        return _origin(value)

    @field_validator("additional_cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("additional_cors_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        return [_origin(item) for item in value]

    @field_validator("webhook_allowed_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("ignore_permissions", mode="before")
    @classmethod
    def _parse_permissions(cls, value: object) -> object:
        items = _split_commas(value)
        if isinstance(items, list):
            return frozenset(item.lower() for item in items)
        return items

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_log_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_log_level(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("saml_idp_metadata_url")
    @classmethod
    def _check_metadata_url(cls, value: str) -> str:
        # The metadata carries the certificates sign-ins are checked with: never over plain HTTP.
        value = value.strip()
        if value and not value.startswith("https://"):
            raise ValueError(f"{value!r} is not an https:// URL")
        return value

    @field_validator("saml_sp_base_url", "launchpad_api_url", "jira_api_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.strip().rstrip("/")

    @model_validator(mode="after")
    def _check_saml_key_pair(self) -> Settings:
        # The key signs our requests and the certificate is what the IdP checks them with: one
        # without the other is a mistake, not a choice.
        if bool(self.saml_sp_x509_cert) != bool(self.saml_sp_key):
            raise ValueError("SAML_SP_X509_CERT and SAML_SP_KEY must be set together")
        if self.saml_sp_key:
            _check_saml_key_pair(self.saml_sp_x509_cert, self.saml_sp_key)
        return self

    @property
    def saml_configured(self) -> bool:
        return bool(self.saml_idp_metadata_url)

    @property
    def jira_configured(self) -> bool:
        return bool(self.jira_cloud_id and self.jira_email and self.jira_api_token)

    @property
    def jira_base_url(self) -> str:
        if self.jira_api_url:
            return self.jira_api_url
        if self.jira_cloud_id:
            return f"https://api.atlassian.com/ex/jira/{self.jira_cloud_id}"
        return "https://warthogs.atlassian.net"

    @property
    def cors_origins(self) -> list[str]:
        return list(dict.fromkeys([self.frontend_url, *self.additional_cors_origins]))


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning validation errors into one message naming the variables."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = []
        for item in error.errors():
            variable = str(item["loc"][0]).upper() if item["loc"] else "settings"
            problems.append(f"{variable}: {item['msg']}")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None
