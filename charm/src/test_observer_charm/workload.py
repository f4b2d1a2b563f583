"""The workload: the Pebble layer of the API and the `test-observer` CLI inside the container."""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import ops

from .config import CharmConfig
from .connections import Pools

logger = logging.getLogger(__name__)

CONTAINER = "api"
SERVICE = "test-observer-api"
WORKER_SERVICE = "test-observer-worker"
# Time the worker gets on stop to finish its current job before Pebble kills it (a killed job
# is retried by another unit's worker). Juju gives a pod 30 s to stop
# (terminationGracePeriodSeconds in the pod spec it generates), after which Kubernetes kills
# everything: the delay must end well before that for Pebble's own kill to happen at all.
WORKER_KILL_DELAY = "20s"
# The longest Kubernetes waits for a pod Juju created to stop.
POD_GRACE_PERIOD_SECONDS = 30
CLI = "test-observer"
# The rock's unprivileged user; Pebble itself runs as root in a charm's workload container.
WORKLOAD_USER = "_daemon_"
# Same names as the rock's checks, so the charm's layer replaces them instead of adding more.
LIVE_CHECK = "api-live"
READY_CHECK = "api-ready"
# The job worker answers /health here, on loopback only, for the check below: 503 once it has
# been unable to reach the database for longer than its outage threshold (it keeps running
# and reconnects by itself; the check only makes the outage visible in the unit's status).
WORKER_CHECK = "worker-database"
WORKER_HEALTH_PORT = 9099
# Migrations on a large database can take a while; a hook must still end eventually.
MIGRATION_TIMEOUT = 30 * 60
# Where the database's CA certificate is written when the provider requires TLS.
DATABASE_CA_PATH = "/etc/test-observer/database-ca.pem"
COMMAND_TIMEOUT = 5 * 60
# A job run on demand (run-job) may walk every artefact or issue.
JOB_TIMEOUT = 30 * 60


@dataclass(frozen=True)
class ApiInputs:
    """Everything the API's environment is derived from, besides the options."""

    config: CharmConfig
    database_url: str
    sessions_secret: str
    # Database pools per process, from the connection budget.
    pools: Pools
    frontend_origins: Sequence[str] = ()
    public_url: str = ""
    proxy: Mapping[str, str] = field(default_factory=dict)
    # Extra variables for the job worker only (intervals, tracker credentials).
    jobs_environment: Mapping[str, str] = field(default_factory=dict)
    # Sign-in, Jira and Sentry variables (see secrets.integration_environment).
    integrations: Mapping[str, str] = field(default_factory=dict)
    # The OTLP/HTTP receiver of the tracing relation; empty: no tracing.
    tracing_endpoint: str = ""
    # Where the metrics server listens (the pod's address) and the bearer token it requires.
    metrics_host: str = ""
    metrics_token: str = ""
    # Set while an ingress proxies to the unit: trust its X-Forwarded-* headers, and the path
    # prefix it strips (so that /docs and the OpenAPI document link to the public URLs).
    behind_proxy: bool = False
    root_path: str = ""


def environment(inputs: ApiInputs) -> dict[str, str]:
    """The API's environment, using the variable names the backend reads."""
    config = inputs.config
    # The first related frontend wins; without one the option applies. Every other
    # frontend and every configured origin is an additional CORS origin.
    frontends = list(inputs.frontend_origins)
    frontend_url = frontends[0] if frontends else config.frontend_url
    extra = [o for o in [*frontends[1:], *config.cors_origins] if o != frontend_url]
    if frontends and config.frontend_url and config.frontend_url not in extra:
        extra.append(config.frontend_url)
    env = {
        "DB_URL": inputs.database_url,
        "SESSIONS_SECRET": inputs.sessions_secret,
        # Browsers drop Secure cookies on plain http, which would make login impossible.
        "SESSIONS_HTTPS_ONLY": _bool(inputs.public_url.startswith("https://")),
        "REQUIRE_AUTHENTICATION": _bool(config.require_authentication),
        "LOG_LEVEL": config.log_level,
        # One JSON object per line, for Loki (see the logging relation).
        "LOG_FORMAT": "json",
        "METRICS_PORT": str(config.metrics_port),
        **inputs.pools.api_environment(),
    }
    if inputs.metrics_host:
        env["METRICS_HOST"] = inputs.metrics_host
    if inputs.metrics_token:
        env["METRICS_TOKEN"] = inputs.metrics_token
    if frontend_url:
        env["FRONTEND_URL"] = frontend_url
    if extra:
        env["ADDITIONAL_CORS_ORIGINS"] = ",".join(dict.fromkeys(extra))
    if config.ignore_permissions:
        env["IGNORE_PERMISSIONS"] = ",".join(config.ignore_permissions)
    if config.version:
        env["VERSION_OVERRIDE"] = config.version
    if inputs.tracing_endpoint:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = inputs.tracing_endpoint
    env.update(inputs.integrations)
    env.update(inputs.proxy)
    return env


def serve_command(config: CharmConfig, *, root_path: str = "", behind_proxy: bool = False) -> str:
    """The service command; migrations never run here, the leader runs them once."""
    proxy = []
    if behind_proxy:
        # The ingress proxies from addresses the charm cannot know; what a forged header could
        # change is the client address in logs and the scheme of generated URLs.
        proxy += ["--forwarded-allow-ips", "*"]
    if root_path:
        proxy += ["--root-path", root_path]
    return shlex.join(
        [
            CLI,
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(config.port),
            "--no-migrate",
            "--workers",
            str(config.workers),
            "--log-level",
            config.log_level,
            *proxy,
        ]
    )


def worker_command() -> str:
    return shlex.join([CLI, "worker"])


def worker_environment(inputs: ApiInputs) -> dict[str, str]:
    return {
        **environment(inputs),
        **inputs.pools.worker_environment(),
        **inputs.jobs_environment,
        "WORKER_METRICS_HOST": "127.0.0.1",
        "WORKER_METRICS_PORT": str(WORKER_HEALTH_PORT),
    }


def layer(inputs: ApiInputs, *, serve: bool) -> ops.pebble.LayerDict:
    """The charm's Pebble layer; with serve=False the service is defined but not started."""
    port = inputs.config.port
    return {
        "summary": "Test Observer API",
        "services": {
            SERVICE: {
                "override": "replace",
                "summary": "Test Observer API",
                "command": serve_command(
                    inputs.config, root_path=inputs.root_path, behind_proxy=inputs.behind_proxy
                ),
                "startup": "enabled" if serve else "disabled",
                "user": WORKLOAD_USER,
                "group": WORKLOAD_USER,
                "environment": environment(inputs),
                # Pebble restarts a hung server itself; this is not an alive-level check
                # because Kubernetes would then kill the pod whenever the gate stops the API.
                "on-check-failure": {LIVE_CHECK: "restart"},
            },
            # Runs with the API: only once the schema matches this unit's code.
            WORKER_SERVICE: {
                "override": "replace",
                "summary": "Test Observer background jobs",
                "command": worker_command(),
                "startup": "enabled" if serve else "disabled",
                "user": WORKLOAD_USER,
                "group": WORKLOAD_USER,
                "environment": worker_environment(inputs),
                "kill-delay": WORKER_KILL_DELAY,
            },
        },
        "checks": {
            LIVE_CHECK: {
                "override": "replace",
                "period": "10s",
                "timeout": "3s",
                "threshold": 3,
                "http": {"url": f"http://localhost:{port}/health/live"},
            },
            READY_CHECK: {
                "override": "replace",
                # No level on purpose. Juju points the pod's Kubernetes readiness probe at
                # Pebble's /v1/health?level=ready, which counts only ready- and alive-level
                # checks. A unit the migration gate holds stopped is where it should be: were
                # this check ready-level it would turn the pod NotReady `threshold` periods
                # after the gate closed, and a `juju refresh` (a StatefulSet rollout, which
                # waits for each pod to be Ready) would depend on catching it before then.
                # Traffic is kept off such a unit by the ingress's own health check of
                # /health/serving. The charm still watches this check for the unit's status.
                "period": "10s",
                "timeout": "3s",
                "threshold": 3,
                # Fails as soon as the schema is not this code's, even between two events.
                "http": {"url": f"http://localhost:{port}/health/serving"},
            },
            WORKER_CHECK: {
                "override": "replace",
                # No level: Kubernetes must not restart a pod because its database is away.
                "period": "10s",
                "timeout": "3s",
                "threshold": 3,
                "http": {"url": f"http://127.0.0.1:{WORKER_HEALTH_PORT}/health"},
            },
        },
    }


class CommandFailedError(Exception):
    """A `test-observer` command failed; the message is its one-line reason."""

    def __init__(self, command: Sequence[str], reason: str, stdout: str = "") -> None:
        super().__init__(reason)
        self.command = list(command)
        self.reason = reason
        self.stdout = stdout


class ServiceStartError(Exception):
    """Pebble could not start the API service; the message says why."""


@dataclass(frozen=True)
class SettingProblem:
    """One environment variable the API would refuse at start-up."""

    variable: str
    input: str | None
    message: str


@dataclass(frozen=True)
class SettingsReport:
    """The API's verdict on an environment, and the version it would report with it."""

    problems: list[SettingProblem]
    version: str | None


@dataclass(frozen=True)
class CommandOutput:
    stdout: str
    stderr: str


class Workload:
    """Operations on the `api` container."""

    def __init__(self, container: ops.Container) -> None:
        self.container = container

    def can_connect(self) -> bool:
        return self.container.can_connect()

    def run(
        self,
        args: Sequence[str],
        env: Mapping[str, str] | None = None,
        timeout: float = COMMAND_TIMEOUT,
    ) -> CommandOutput:
        """Run `test-observer ARGS` in the container; raise CommandFailedError on failure."""
        command = [CLI, *args]
        try:
            process = self.container.exec(
                command,
                environment=dict(env or {}),
                timeout=timeout,
                user=WORKLOAD_USER,
                group=WORKLOAD_USER,
            )
            stdout, stderr = process.wait_output()
        except ops.pebble.ExecError as e:
            out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout
            raise CommandFailedError(
                command, _reason(e.stderr, e.stdout, e.exit_code), out or ""
            ) from e
        except ops.pebble.TimeoutError as e:
            raise CommandFailedError(command, f"timed out after {timeout:.0f}s") from e
        except (ops.pebble.ChangeError, ops.pebble.APIError, ops.pebble.ConnectionError) as e:
            raise CommandFailedError(command, f"could not run: {e}") from e
        return CommandOutput(stdout or "", stderr or "")

    def check_settings(self, env: Mapping[str, str]) -> SettingsReport:
        """Run the API's own settings check on `env`: what it rejects, and its version."""
        try:
            output = self.run(["settings", "check", "--json"], env).stdout
        except CommandFailedError as e:
            if not e.stdout.strip():
                raise
            output = e.stdout
        for line in reversed(output.splitlines()):
            if line.strip().startswith("{"):
                try:
                    report = json.loads(line)
                    problems = [
                        SettingProblem(
                            str(p["variable"]),
                            None if p.get("input") is None else str(p["input"]),
                            str(p["message"]),
                        )
                        for p in report["problems"]
                    ]
                    version = report.get("version")
                    return SettingsReport(problems, str(version) if version else None)
                except (ValueError, KeyError, TypeError):
                    break
        raise CommandFailedError([CLI, "settings", "check"], "printed no report")

    def planned_environment(self) -> dict[str, str] | None:
        """The API service's environment in the current plan, if it is defined."""
        service = self.container.get_plan().services.get(SERVICE)
        return dict(service.environment) if service is not None else None

    def push_file(self, path: str, content: str) -> None:
        """Write a file readable by the workload user (only when its content changed)."""
        try:
            if self.container.pull(path).read() == content:
                return
        except (ops.pebble.PathError, ops.pebble.APIError):
            pass
        self.container.push(path, content, make_dirs=True, permissions=0o644)

    def apply(self, new_layer: ops.pebble.LayerDict, *, serve: bool) -> None:
        """Make the container's plan match the layer, restarting the API only on real change.

        Raises ServiceStartError when Pebble cannot start the service (it exited at once).
        """
        self.container.add_layer(SERVICE, new_layer, combine=True)
        if serve:
            try:
                # replan starts enabled services and restarts only those whose definition
                # changed.
                self.container.replan()
            except ops.pebble.ChangeError as e:
                raise ServiceStartError(_change_reason(e)) from e
        else:
            self.stop()

    def stop(self) -> None:
        services = self.container.get_services(SERVICE, WORKER_SERVICE)
        running = [name for name, service in services.items() if service.is_running()]
        if running:
            self.container.stop(*running)

    def is_serving(self) -> bool:
        services = self.container.get_services(SERVICE)
        return SERVICE in services and services[SERVICE].is_running()


def _change_reason(error: ops.pebble.ChangeError) -> str:
    # The change's error holds the service's last output lines; the last one says why.
    lines = [line.strip() for line in str(error.err).splitlines() if line.strip()]
    return lines[-1][:200] if lines else "the service exited at start-up"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _reason(stderr: str | bytes | None, stdout: str | bytes | None, exit_code: int) -> str:
    for stream in (stderr, stdout):
        text = stream.decode(errors="replace") if isinstance(stream, bytes) else stream or ""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            # The CLI's contract is a one-line reason ("Error: ..."); a traceback ends with the
            # exception.
            return lines[-1].removeprefix("Error: ")[:300]
    return f"exited with status {exit_code}"
