"""The workload: the Pebble layer of the API and the `test-observer` CLI inside the container."""

from __future__ import annotations

import json
import logging
import shlex
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import ops

from .config import CharmConfig

logger = logging.getLogger(__name__)

CONTAINER = "api"
SERVICE = "test-observer-api"
CLI = "test-observer"
# The rock's unprivileged user; Pebble itself runs as root in a charm's workload container.
WORKLOAD_USER = "_daemon_"
# Same names as the rock's checks, so the charm's layer replaces them instead of adding more.
LIVE_CHECK = "api-live"
READY_CHECK = "api-ready"
# Migrations on a large database can take a while; a hook must still end eventually.
MIGRATION_TIMEOUT = 30 * 60
HEADS_CACHE = "/tmp/test-observer-charm/code-heads"
COMMAND_TIMEOUT = 5 * 60


@dataclass(frozen=True)
class ApiInputs:
    """Everything the API's environment is derived from, besides the options."""

    config: CharmConfig
    database_url: str
    sessions_secret: str
    frontend_origins: Sequence[str] = ()
    public_url: str = ""
    proxy: Mapping[str, str] = field(default_factory=dict)


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
    }
    if frontend_url:
        env["FRONTEND_URL"] = frontend_url
    if extra:
        env["ADDITIONAL_CORS_ORIGINS"] = ",".join(dict.fromkeys(extra))
    if config.ignore_permissions:
        env["IGNORE_PERMISSIONS"] = ",".join(config.ignore_permissions)
    if config.version:
        env["VERSION_OVERRIDE"] = config.version
    env.update(inputs.proxy)
    return env


def serve_command(config: CharmConfig) -> str:
    """The service command; migrations never run here, the leader runs them once."""
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
        ]
    )


def layer(inputs: ApiInputs, *, serve: bool) -> ops.pebble.LayerDict:
    """The charm's Pebble layer; with serve=False the service is defined but not started."""
    port = inputs.config.port
    return {
        "summary": "Test Observer API",
        "services": {
            SERVICE: {
                "override": "replace",
                "summary": "Test Observer API",
                "command": serve_command(inputs.config),
                "startup": "enabled" if serve else "disabled",
                "user": WORKLOAD_USER,
                "group": WORKLOAD_USER,
                "environment": environment(inputs),
                # Pebble restarts a hung server itself; this is not an alive-level check
                # because Kubernetes would then kill the pod whenever the gate stops the API.
                "on-check-failure": {LIVE_CHECK: "restart"},
            }
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
                # Ready level: Kubernetes sends traffic only to units whose API is ready.
                "level": "ready",
                "period": "10s",
                "timeout": "3s",
                "threshold": 3,
                "http": {"url": f"http://localhost:{port}/health/ready"},
            },
        },
    }


class CommandFailedError(Exception):
    """A `test-observer` command failed; the message is its one-line reason."""

    def __init__(self, command: Sequence[str], reason: str) -> None:
        super().__init__(reason)
        self.command = list(command)
        self.reason = reason


@dataclass(frozen=True)
class CommandOutput:
    stdout: str
    stderr: str


class Workload:
    """Operations on the `api` container."""

    def __init__(self, container: ops.Container) -> None:
        self.container = container
        self._heads: str | None = None

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
            raise CommandFailedError(command, _reason(e.stderr, e.stdout, e.exit_code)) from e
        except ops.pebble.TimeoutError as e:
            raise CommandFailedError(command, f"timed out after {timeout:.0f}s") from e
        except (ops.pebble.ChangeError, ops.pebble.APIError, ops.pebble.ConnectionError) as e:
            raise CommandFailedError(command, f"could not run: {e}") from e
        return CommandOutput(stdout or "", stderr or "")

    def code_heads(self) -> str:
        """Head revision(s) of the code in this unit's image, comma-joined and sorted.

        Running the CLI costs an interpreter start, so the answer is kept in a file inside the
        workload container: a new image always means a new container, whose /tmp starts empty.
        """
        if self._heads is not None:
            return self._heads
        try:
            cached = self.container.pull(HEADS_CACHE).read().strip()
        except (ops.pebble.PathError, ops.pebble.APIError):
            cached = ""
        if not cached:
            output = self.run(["db", "heads"]).stdout
            heads = sorted({line.split()[0] for line in output.splitlines() if line.strip()})
            if not heads:
                raise CommandFailedError([CLI, "db", "heads"], "printed no revision")
            cached = ",".join(heads)
            try:
                self.container.push(HEADS_CACHE, cached, make_dirs=True)
            except (ops.pebble.PathError, ops.pebble.APIError) as e:
                logger.warning("cannot keep the code's schema head in the container: %s", e)
        self._heads = cached
        return cached

    def apply(self, new_layer: ops.pebble.LayerDict, *, serve: bool) -> None:
        """Make the container's plan match the layer, restarting the API only on real change."""
        self.container.add_layer(SERVICE, new_layer, combine=True)
        if serve:
            # replan starts enabled services and restarts only those whose definition changed.
            self.container.replan()
        else:
            self.stop()

    def stop(self) -> None:
        services = self.container.get_services(SERVICE)
        if SERVICE in services and services[SERVICE].is_running():
            self.container.stop(SERVICE)

    def is_serving(self) -> bool:
        services = self.container.get_services(SERVICE)
        return SERVICE in services and services[SERVICE].is_running()


def fetch_version(port: int, timeout: float = 3.0) -> str | None:
    """Ask the running API which version it reports (the charm shares the pod's network)."""
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/v1/version", timeout=timeout
        ) as response:
            version = json.load(response).get("version")
    except (OSError, ValueError, AttributeError) as e:
        logger.debug("could not read the API version: %s", e)
        return None
    return version if isinstance(version, str) and version else None


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _reason(stderr: str | bytes | None, stdout: str | bytes | None, exit_code: int) -> str:
    for stream in (stderr, stdout):
        text = stream.decode(errors="replace") if isinstance(stream, bytes) else stream or ""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            # The CLI's contract is a one-line reason; a traceback ends with the exception.
            return lines[-1][:300]
    return f"exited with status {exit_code}"
