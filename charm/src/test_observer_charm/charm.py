"""The Test Observer API charm: one reconcile for every event, one status for the unit.

Every event runs the same `_reconcile`: derive the desired state from config, relations, the
database's schema and the leader's record, then apply only the difference. Statuses are
computed in one collect-status handler from the same evaluation, so they never contradict
each other. Each concern lives in its own module: options (config), the database relation
(database), ingress, the frontend relation (frontend), the trace endpoint (tracing), the schema
gate (migrations), action parameters (actions) and the container (workload).
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

import ops

from . import original_import
from .actions import (
    PREVIOUS,
    AddUserParams,
    ChangeAssigneeParams,
    CreateApplicationParams,
    DeleteArtefactParams,
    MigrateParams,
    PromoteUserParams,
    RollbackParams,
    RunJobParams,
)
from .config import CharmConfig, InvalidConfigError
from .connections import pools as connection_pools
from .credentials import Credentials, integration_environment, read_credentials
from .database import DatabaseInfo, DatabaseRequirer, TlsCaMissingError
from .frontend import FrontendProvider
from .ingress import IngressRequirer, cluster_domain
from .jobs import JobsConfig, github_app_credentials
from .jobs import environment as jobs_environment
from .migrations import (
    DRAINED_KEY,
    DrainPurpose,
    GateRecord,
    GateStatus,
    SchemaReport,
    all_drained,
    change_schema,
    read_schema,
)
from .nginx_route import NginxRouteRequirer
from .observability import Observability
from .original_import import ImportOriginalParams
from .tracing import TRACING_RELATION, TracingRequirer
from .workload import (
    CONTAINER,
    DATABASE_CA_PATH,
    JOB_TIMEOUT,
    READY_CHECK,
    SERVICE,
    WORKER_CHECK,
    ApiInputs,
    CommandFailedError,
    CommandOutput,
    ServiceStartError,
    Workload,
    environment,
    layer,
    worker_environment,
)

logger = logging.getLogger(__name__)

DATABASE_NAME = "test_observer"
DATABASE_RELATION = "database"
INGRESS_RELATION = "ingress"
NGINX_ROUTE_RELATION = "nginx-route"
FRONTEND_RELATION = "test-observer-rest-api"
PEER_RELATION = "test-observer-peers"
SESSIONS_SECRET_KEY = "sessions-secret-id"
SESSIONS_SECRET_LABEL = "sessions-secret"
# The bearer token Prometheus must present to the metrics server (peer key of its secret's id).
METRICS_TOKEN_KEY = "metrics-token-id"
# Secrets the leader generates once: peer key -> (label, description).
_GENERATED_SECRETS = {
    SESSIONS_SECRET_KEY: (SESSIONS_SECRET_LABEL, "Signs Test Observer login sessions"),
    METRICS_TOKEN_KEY: ("metrics-token", "Bearer token Prometheus scrapes Test Observer with"),
}
# The path the ingress probes on every unit: answered to the whole cluster, status only.
SERVING_PATH = "/health/serving"
_PROXY_VARIABLES = {
    "JUJU_CHARM_HTTP_PROXY": "HTTP_PROXY",
    "JUJU_CHARM_HTTPS_PROXY": "HTTPS_PROXY",
    "JUJU_CHARM_NO_PROXY": "NO_PROXY",
}
# Which option (or relation) each variable the API's settings check names comes from.
_SOURCE_OF_VARIABLE = {
    "IGNORE_PERMISSIONS": "ignore-permissions",
    "LOG_LEVEL": "log-level",
    "ADDITIONAL_CORS_ORIGINS": "cors-origins",
    "FRONTEND_URL": "frontend-url",
    "VERSION_OVERRIDE": "version",
    "REQUIRE_AUTHENTICATION": "require-authentication",
    "SESSIONS_SECRET": "sessions-secret",
    "DB_POOL_SIZE": "db-connection-budget",
    "DB_MAX_OVERFLOW": "db-connection-budget",
}


@dataclass
class Evaluation:
    """The unit's situation, derived from the model; computed at most once per state."""

    statuses: list[ops.StatusBase] = field(default_factory=list)
    config: CharmConfig | None = None
    database: DatabaseInfo | None = None
    inputs: ApiInputs | None = None
    gate: GateRecord = field(default_factory=GateRecord)
    # The database's schema as this unit's code sees it; None when it could not be read.
    schema: SchemaReport | None = None

    @property
    def draining(self) -> bool:
        return self.database is not None and self.gate.draining(self.database.identity)

    @property
    def schema_fits(self) -> bool:
        """The database is at this unit's code head and no drain is asking units to stop."""
        return self.schema is not None and self.schema.at_head and not self.draining

    @property
    def may_serve(self) -> bool:
        return self.inputs is not None and self.schema_fits


class TestObserverCharm(ops.CharmBase):
    """Operates the Test Observer API in the `api` container."""

    __test__ = False  # the name starts with "Test"; pytest must not collect it

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self.database = DatabaseRequirer(self, DATABASE_RELATION, DATABASE_NAME)
        self.ingress = IngressRequirer(self, INGRESS_RELATION)
        self.nginx_route = NginxRouteRequirer(self, NGINX_ROUTE_RELATION)
        self.frontend = FrontendProvider(self, FRONTEND_RELATION)
        self.workload = Workload(self.unit.get_container(CONTAINER))
        # COS relations (metrics-endpoint, grafana-dashboard, logging) handle their own events.
        self.observability = Observability(
            self,
            container_name=CONTAINER,
            metrics_port=self._metrics_port,
            metrics_token=lambda: self._generated_secret(METRICS_TOKEN_KEY),
            gate_state=self._gate_state,
        )
        self.tracing = TracingRequirer(self, TRACING_RELATION)
        self._evaluation: Evaluation | None = None
        # A schema report fresher than the database read (the output of a schema command).
        self._schema_override: SchemaReport | None = None
        # Problems found while applying, shown by collect-status with the evaluation's.
        self._apply_statuses: list[ops.StatusBase] = []
        self._pebble_lost = False

        on = self.on
        container = on[CONTAINER]
        for event in (
            on.config_changed,
            on.upgrade_charm,
            on.leader_elected,
            on.update_status,
            on.secret_changed,
            container.pebble_ready,
            container.pebble_check_failed,
            container.pebble_check_recovered,
        ):
            framework.observe(event, self._on_event)
        for relation in (
            DATABASE_RELATION,
            INGRESS_RELATION,
            NGINX_ROUTE_RELATION,
            FRONTEND_RELATION,
            PEER_RELATION,
            TRACING_RELATION,
        ):
            for event in (
                on[relation].relation_created,
                on[relation].relation_joined,
                on[relation].relation_changed,
                on[relation].relation_departed,
                on[relation].relation_broken,
            ):
                framework.observe(event, self._on_event)
        framework.observe(on.collect_unit_status, self._on_collect_status)

        framework.observe(on.migrate_action, self._on_migrate_action)
        framework.observe(on.rollback_action, self._on_rollback_action)
        framework.observe(on.cancel_drain_action, self._on_cancel_drain_action)
        framework.observe(on.db_status_action, self._on_db_status_action)
        framework.observe(on.create_application_action, self._on_create_application_action)
        framework.observe(on.promote_user_to_admin_action, self._on_promote_user_action)
        framework.observe(on.delete_artefact_action, self._on_delete_artefact_action)
        framework.observe(on.add_user_action, self._on_add_user_action)
        framework.observe(on.change_assignee_action, self._on_change_assignee_action)
        framework.observe(on.import_original_action, self._on_import_original_action)
        framework.observe(on.run_job_action, self._on_run_job_action)

    def _gate_state(self) -> str:
        peer = self.model.get_relation(PEER_RELATION)
        if peer is None:
            return ""
        return GateRecord.from_databag(peer.data[self.app]).status.value

    def _metrics_port(self) -> int | None:
        try:
            return CharmConfig.from_options(dict(self.config)).metrics_port or None
        except InvalidConfigError:
            return None

    # Reconcile

    def _on_event(self, _: ops.EventBase) -> None:
        self._reconcile()

    def _reconcile(self) -> None:
        try:
            self._reconcile_workload()
        except ops.pebble.ConnectionError as e:
            # Pebble went away mid-hook (the pod is restarting); pebble-ready brings us back.
            logger.warning("lost the connection to Pebble: %s", e)
            self._pebble_lost = True
            self._apply_statuses.append(
                ops.WaitingStatus("waiting for Pebble in the api container (connection lost)")
            )

    def _reconcile_workload(self) -> None:
        if self.unit.is_leader():
            self.database.request()
            self._ensure_sessions_secret()
            self._lead(self._evaluate())
        evaluation = self._evaluate()
        if evaluation.config is not None:
            self._publish(evaluation.config)
        self._apply(evaluation)
        self._acknowledge_drain(evaluation)
        # The gate's state rides on the scrape job: republish it when the gate moved.
        self.observability.publish_scrape_jobs()

    def _evaluate(self) -> Evaluation:
        if self._evaluation is not None:
            return self._evaluation
        ev = Evaluation()
        self._evaluation = ev
        peer = self.model.get_relation(PEER_RELATION)
        if peer is not None:
            ev.gate = GateRecord.from_databag(peer.data[self.app])
        try:
            ev.config = CharmConfig.from_options(dict(self.config))
            pools = connection_pools(
                ev.config.db_connection_budget, _unit_count(peer), ev.config.workers
            )
            sessions_secret = self._sessions_secret(ev.config)
            jobs_env = self._jobs_environment()
            credentials = read_credentials(self.model, ev.config)
        except InvalidConfigError as e:
            ev.config = None
            ev.statuses.append(ops.BlockedStatus(f"{e}: fix it with `juju config`"))
            sessions_secret = None
            pools = None
            jobs_env = {}
            credentials = Credentials()
        if self.ingress.relation is not None and self.nginx_route.relation is not None:
            # Two routes to one API, each with its own public URL: the operator picks one.
            # Until then the API keeps serving as the ingress relation (traefik) has it.
            ev.statuses.append(
                ops.BlockedStatus(
                    "cannot have both ingress and nginx-route relations at the same time: "
                    f"juju remove-relation {self.app.name}:nginx-route (or :ingress)"
                )
            )
        if self.database.relation is None:
            ev.statuses.append(
                ops.BlockedStatus(
                    f"needs a database: juju integrate {self.app.name} postgresql-k8s"
                )
            )
            return ev
        if not self.workload.can_connect():
            ev.statuses.append(ops.WaitingStatus("waiting for Pebble in the api container"))
            return ev
        try:
            ev.database = self.database.get()
        except TlsCaMissingError:
            ev.statuses.append(
                ops.WaitingStatus(
                    f"waiting for the CA certificate from {self.database.remote_app_name} "
                    "(TLS is on)"
                )
            )
            return ev
        if ev.database is None:
            ev.statuses.append(
                ops.WaitingStatus(
                    f"waiting for database credentials from {self.database.remote_app_name}"
                )
            )
            return ev
        if peer is None:
            ev.statuses.append(ops.WaitingStatus("waiting for the peer relation"))
            return ev
        metrics_token = self._generated_secret(METRICS_TOKEN_KEY)
        if ev.config is not None and (sessions_secret is None or metrics_token is None):
            ev.statuses.append(
                ops.WaitingStatus("waiting for the leader to generate the application's secrets")
            )
        elif ev.config is not None and sessions_secret is not None and pools is not None:
            public_url = self._public_url(ev.config)
            ingress_url = self.ingress.url()
            ev.inputs = ApiInputs(
                config=ev.config,
                database_url=ev.database.url(DATABASE_CA_PATH),
                sessions_secret=sessions_secret,
                pools=pools,
                metrics_host=self._pod_address(),
                metrics_token=metrics_token or "",
                behind_proxy=self._proxied(),
                root_path=urlsplit(ingress_url).path.rstrip("/") if ingress_url else "",
                frontend_origins=self.frontend.frontend_origins(),
                public_url=public_url,
                proxy=_proxy_environment(),
                jobs_environment=jobs_env,
                integrations=integration_environment(ev.config, credentials, public_url),
                tracing_endpoint=self.tracing.endpoint() or "",
            )
        ev.schema = self._schema_override or self._read_schema(ev)
        if ev.schema is not None:
            status = self._gate_status(ev)
            if status is not None:
                ev.statuses.append(status)
        return ev

    def _read_schema(self, ev: Evaluation) -> SchemaReport | None:
        if ev.database is None:
            return None
        try:
            self._write_database_ca(ev.database)
            return read_schema(self.workload, self._database_environment(ev))
        except CommandFailedError as e:
            ev.statuses.append(
                ops.WaitingStatus(f"cannot read the database's schema revision: {e.reason}")
            )
            return None

    def _database_environment(self, ev: Evaluation) -> dict[str, str]:
        """Enough environment for schema commands, even while an option is invalid."""
        if ev.inputs is not None:
            return environment(ev.inputs)
        assert ev.database is not None
        return {"DB_URL": ev.database.url(DATABASE_CA_PATH), **_proxy_environment()}

    def _write_database_ca(self, database: DatabaseInfo) -> None:
        if database.tls_ca is not None:
            self.workload.push_file(DATABASE_CA_PATH, database.tls_ca)

    def _invalidate(self) -> None:
        self._evaluation = None

    # The gate

    def _gate_status(self, ev: Evaluation) -> ops.StatusBase | None:
        assert ev.schema is not None
        assert ev.database is not None
        schema, gate, leader = ev.schema, ev.gate, self.unit.is_leader()
        if ev.draining:
            if gate.drain_for is DrainPurpose.OPERATOR and leader:
                return ops.BlockedStatus(
                    "units stopped for an operator's schema change: run the migrate or "
                    "rollback action again"
                )
            waiting = self._undrained_units(gate) if leader else []
            if waiting:
                return ops.MaintenanceStatus(
                    f"waiting for {', '.join(waiting)} to stop before migrating to {gate.target}"
                )
            return ops.MaintenanceStatus(
                "stopped for a schema change: the leader migrates once every unit has stopped"
            )
        if schema.at_head:
            return None
        if not schema.known:
            if leader:
                return ops.BlockedStatus(
                    f"schema {schema.revision} is newer than this code ({schema.head}): refresh "
                    "to the charm revision that applied it, or roll back there first"
                )
            return ops.WaitingStatus(
                f"schema {schema.revision} is newer than this unit's code ({schema.head}): "
                "waiting for the refresh to reach this unit"
            )
        same_run = gate.database == ev.database.identity and gate.target == schema.head
        if same_run and gate.status is GateStatus.FAILED:
            return ops.BlockedStatus(
                f"migration to {schema.head} failed at {schema.revision}: {gate.error}; fix "
                "the cause and run the migrate action (retried automatically with back-off)"
            )
        if same_run and gate.status is GateStatus.HELD:
            return ops.BlockedStatus(
                f"schema held at {schema.revision}, code is at {schema.head}: refresh to the "
                "matching charm revision, or run the migrate action"
            )
        if leader:
            return ops.WaitingStatus(f"database migration from {schema.revision} pending")
        return ops.WaitingStatus(
            f"waiting for the leader to migrate the schema from {schema.revision} to {schema.head}"
        )

    def _lead(self, ev: Evaluation) -> None:
        """Leader only: keep the record true to the database and migrate when it is due."""
        peer = self.model.get_relation(PEER_RELATION)
        if ev.database is None or ev.schema is None or peer is None:
            return
        database, schema = ev.database.identity, ev.schema
        gate = ev.gate.observed(database, schema)
        if ev.inputs is not None and gate.wants_upgrade(database, schema):
            gate = gate.start_drain(database, schema, DrainPurpose.UPGRADE)
            logger.info("draining every unit before migrating to %s", schema.head)
        if gate != ev.gate:
            self._record(gate)
        if not (gate.draining(database) and gate.drain_for is DrainPurpose.UPGRADE):
            return
        ev = self._evaluate()
        self._stop_and_acknowledge(ev)
        if self._all_units_drained(gate):
            self._upgrade(ev)

    def _upgrade(self, ev: Evaluation) -> None:
        assert ev.database is not None
        assert ev.schema is not None
        # Set immediately (not via collect-status) so operators see it while the hook runs.
        self.unit.status = ops.MaintenanceStatus(f"migrating the database to {ev.schema.head}")
        report, error = change_schema(
            self.workload, self._database_environment(ev), "upgrade", "head"
        )
        database = ev.database.identity
        if report is None:
            # Neither the command nor the database said where the schema is: record that it
            # is unknown, never a revision nobody read.
            error = error or "cannot read the schema after the upgrade"
            record = replace(
                ev.gate.after_command(database, ev.schema, automatic=True, error=error),
                revision="unknown",
            )
            self._record(record)
            return
        record = ev.gate.after_command(database, report, automatic=True, error=error)
        if record.status is GateStatus.APPLIED:
            logger.info("database migrated to %s", report.head)
        else:
            logger.error("migration to %s failed at %s: %s", report.head, report.revision, error)
        self._record(record, report)

    def _record(self, record: GateRecord, report: SchemaReport | None = None) -> None:
        peer = self.model.get_relation(PEER_RELATION)
        if peer is None:  # pragma: no cover - callers check the peer relation first
            raise RuntimeError("no peer relation")
        peer.data[self.app].update(record.to_databag())
        # Recording does not move the database: keep what was read unless a command did.
        known = self._evaluation.schema if self._evaluation is not None else None
        self._schema_override = report or known or self._schema_override
        self._invalidate()

    def _stop_and_acknowledge(self, ev: Evaluation) -> None:
        """Stop this unit's API for the current drain and say so in its peer unit data."""
        if not ev.draining:
            return
        self.workload.stop()
        peer = self.model.get_relation(PEER_RELATION)
        if peer is not None and peer.data[self.unit].get(DRAINED_KEY) != ev.gate.drain:
            peer.data[self.unit][DRAINED_KEY] = ev.gate.drain

    def _acknowledge_drain(self, ev: Evaluation) -> None:
        if ev.draining and self.workload.can_connect():
            self._stop_and_acknowledge(ev)

    def _all_units_drained(self, gate: GateRecord) -> bool:
        peer = self.model.get_relation(PEER_RELATION)
        if peer is None:
            return False
        acks = [peer.data[unit].get(DRAINED_KEY, "") for unit in (self.unit, *peer.units)]
        return all_drained(gate, acks)

    def _undrained_units(self, gate: GateRecord) -> list[str]:
        peer = self.model.get_relation(PEER_RELATION)
        if peer is None:
            return []
        return sorted(
            unit.name for unit in peer.units if peer.data[unit].get(DRAINED_KEY) != gate.drain
        )

    # The workload

    def _apply(self, ev: Evaluation) -> None:
        if not self.workload.can_connect():
            return
        if ev.inputs is None:
            if ev.config is None and ev.schema_fits:
                # A typo in an option must not take a working API down; it keeps its last plan.
                return
            # No database, no sessions secret, or a schema that is not this code's.
            self.workload.stop()
            return
        assert ev.database is not None
        self._write_database_ca(ev.database)
        serve = ev.may_serve
        env = environment(ev.inputs)
        if env != self.workload.planned_environment() and not self._settings_accepted(ev, env):
            if not serve:
                self.workload.stop()
            return
        try:
            self.workload.apply(layer(ev.inputs, serve=serve), serve=serve)
        except ServiceStartError as e:
            self._apply_statuses.append(
                ops.BlockedStatus(f"the API did not start: {e}; see `juju debug-log`")
            )

    def _settings_accepted(self, ev: Evaluation, env: dict[str, str]) -> bool:
        """Run the API's own settings check on the new environment before using it."""
        try:
            report = self.workload.check_settings(env)
        except CommandFailedError as e:
            self._apply_statuses.append(
                ops.BlockedStatus(f"cannot check the API's settings: {e.reason}")
            )
            return False
        for problem in report.problems:
            source = _SOURCE_OF_VARIABLE.get(problem.variable)
            rejected = f"'{problem.input}'" if problem.input is not None else "the value"
            if source is None:
                message = f"the API rejects {problem.variable}: {problem.message[:80]}"
            else:
                message = (
                    f"invalid config option '{source}': the API rejects {rejected}; "
                    "fix it with `juju config`"
                )
            self._apply_statuses.append(ops.BlockedStatus(message))
        if report.problems:
            return False
        assert ev.config is not None
        version = ev.config.version or report.version
        if version:
            # Known before the server starts, so `juju status` shows it straight away.
            self.unit.set_workload_version(version)
        return True

    def _serving_status(self, ev: Evaluation) -> ops.StatusBase | None:
        """While the gate lets the API serve: is it running and ready?"""
        if self._pebble_lost or not ev.may_serve or not self.workload.can_connect():
            return None
        try:
            services = self.workload.container.get_services(SERVICE)
            checks = self.workload.container.get_checks(READY_CHECK)
        except (ops.pebble.ConnectionError, ops.pebble.APIError):
            return None
        service = services.get(SERVICE)
        if service is None or not service.is_running():
            return ops.BlockedStatus(
                "the API is not running: Pebble could not keep it up; see `juju debug-log`"
            )
        check = checks.get(READY_CHECK)
        if check is not None and check.status == ops.pebble.CheckStatus.DOWN:
            return ops.WaitingStatus(
                f"the API is not ready: its readiness check failed {check.failures} times"
            )
        try:
            worker = self.workload.container.get_checks(WORKER_CHECK).get(WORKER_CHECK)
        except (ops.pebble.ConnectionError, ops.pebble.APIError):
            return None
        if worker is not None and worker.status == ops.pebble.CheckStatus.DOWN:
            return ops.WaitingStatus(
                "the job worker cannot reach the database: background jobs wait until it is back"
            )
        return None

    def _publish(self, config: CharmConfig) -> None:
        self.unit.set_ports(config.port)
        self.ingress.publish(config.port, SERVING_PATH)
        self.nginx_route.publish(config.hostname, config.port)
        self.frontend.publish(self._service_hostname(), config.port, self._public_url(config))

    def _service_hostname(self) -> str:
        return f"{self.app.name}.{self.model.name}.svc.{cluster_domain()}"

    def _public_url(self, config: CharmConfig) -> str:
        return (
            self.ingress.url()
            or self.nginx_route.url(config.hostname)
            or f"http://{self._service_hostname()}:{config.port}"
        )

    def _proxied(self) -> bool:
        """An ingress (traefik or nginx) forwards the requests: trust its X-Forwarded-*."""
        return self.ingress.relation is not None or self.nginx_route.relation is not None

    def _jobs_environment(self) -> dict[str, str]:
        jobs = JobsConfig.from_options(dict(self.config))
        github = (
            github_app_credentials(self.model, self.app.name, jobs.github_secret)
            if jobs.github_secret
            else None
        )
        return jobs_environment(jobs, github)

    # Sessions secret

    def _ensure_sessions_secret(self) -> None:
        """Leader: generate each application secret once (the sessions key only when the
        operator did not provide one), kept in a Juju secret whose id the peers read."""
        peer = self.model.get_relation(PEER_RELATION)
        if peer is None:
            return
        for key, (label, description) in _GENERATED_SECRETS.items():
            if key == SESSIONS_SECRET_KEY and self.config.get("sessions-secret"):
                continue
            if peer.data[self.app].get(key):
                continue
            secret = self.app.add_secret(
                {"value": secrets.token_urlsafe(32)}, label=label, description=description
            )
            assert secret.id is not None  # an app's own new secret always has an id
            peer.data[self.app][key] = secret.id

    def _generated_secret(self, key: str) -> str | None:
        peer = self.model.get_relation(PEER_RELATION)
        secret_id = peer.data[self.app].get(key) if peer is not None else None
        if not secret_id:
            return None
        try:
            return self.model.get_secret(id=secret_id).get_content().get("value")
        except (ops.SecretNotFoundError, ops.ModelError):
            return None

    def _pod_address(self) -> str:
        binding = self.model.get_binding(PEER_RELATION)
        address = binding.network.bind_address if binding is not None else None
        return str(address) if address is not None else ""

    def _sessions_secret(self, config: CharmConfig) -> str | None:
        if config.sessions_secret:
            try:
                content = self.model.get_secret(id=config.sessions_secret).get_content(refresh=True)
            except (ops.SecretNotFoundError, ops.ModelError):
                raise InvalidConfigError(
                    "sessions-secret",
                    f"secret not found or not granted: juju grant-secret <secret> {self.app.name}",
                ) from None
            value = content.get("value")
            if not value:
                raise InvalidConfigError("sessions-secret", "the secret has no 'value' key")
            return value
        return self._generated_secret(SESSIONS_SECRET_KEY)

    # Status

    # Status

    def _on_collect_status(self, event: ops.CollectStatusEvent) -> None:
        ev = self._evaluate()
        for status in [*ev.statuses, *self._apply_statuses]:
            event.add_status(status)
        serving = self._serving_status(ev)
        if serving is not None:
            event.add_status(serving)
        event.add_status(ops.ActiveStatus())

    # Actions

    def _action_context(
        self, event: ops.ActionEvent, *, leader_only: bool = False, serving: bool = False
    ) -> Evaluation | None:
        """The evaluation an action needs to run a command, or None after failing it."""
        if leader_only and not self.unit.is_leader():
            event.fail(f"run this action on the leader unit: juju run {self.app.name}/leader")
            return None
        ev = self._evaluate()
        if ev.database is None or ev.schema is None:
            statuses = [*ev.statuses, *self._apply_statuses]
            reason = statuses[0].message if statuses else "the unit is not ready"
            event.fail(f"cannot run: {reason}")
            return None
        if serving and not ev.may_serve:
            event.fail(
                "the database schema does not match this unit's code; run db-status to see why"
            )
            return None
        return ev

    def _on_migrate_action(self, event: ops.ActionEvent) -> None:
        params = event.load_params(MigrateParams, errors="fail")
        self._change_schema(event, "upgrade", params.revision, "migrate")

    def _on_rollback_action(self, event: ops.ActionEvent) -> None:
        params = event.load_params(RollbackParams, errors="fail")
        revision = params.revision
        if revision == PREVIOUS:
            if not self.unit.is_leader():
                event.fail(f"run this action on the leader unit: juju run {self.app.name}/leader")
                return
            peer = self.model.get_relation(PEER_RELATION)
            recorded = GateRecord.from_databag(peer.data[self.app]) if peer else GateRecord()
            if not recorded.previous:
                event.fail(
                    "no upgrade is recorded, so there is no previous revision: give "
                    "revision=<id> (see db-status)"
                )
                return
            revision = recorded.previous
            try:
                params.check_confirmed(revision)
            except ValueError as e:
                event.fail(f"the revision before the last upgrade is base: {e}")
                return
            event.log(f"rolling back to {revision}, where the last upgrade started")
        self._change_schema(event, "downgrade", revision, "rollback")

    def _on_cancel_drain_action(self, event: ops.ActionEvent) -> None:
        ev = self._action_context(event, leader_only=True)
        if ev is None:
            return
        assert ev.schema is not None
        if not ev.draining:
            event.fail("no drain is under way: the units are not stopped for a schema change")
            return
        self._record(ev.gate.cancel_drain(ev.schema))
        self._reconcile()
        ev = self._evaluate()
        event.set_results(
            {
                "revision": ev.schema.revision if ev.schema else "unknown",
                "code-head": ev.schema.head if ev.schema else "unknown",
                "serving": _flag(ev.may_serve),
            }
        )

    def _change_schema(self, event: ops.ActionEvent, verb: str, revision: str, name: str) -> None:
        ev = self._action_context(event, leader_only=True)
        if ev is None:
            return
        assert ev.database is not None
        assert ev.schema is not None
        database, ev_schema = ev.database.identity, ev.schema
        peer = self.model.get_relation(PEER_RELATION)
        if peer is not None and peer.units:
            # No unit may serve while the schema changes: stop them all first.
            gate = ev.gate
            if not (ev.draining and gate.drain_for is DrainPurpose.OPERATOR):
                gate = gate.start_drain(database, ev.schema, DrainPurpose.OPERATOR)
                self._record(gate)
            self._stop_and_acknowledge(self._evaluate())
            waiting = self._undrained_units(gate)
            if waiting:
                event.fail(
                    f"stopping the other units before the schema changes (waiting for "
                    f"{', '.join(waiting)}); run the action again once `juju status` shows "
                    "them stopped"
                )
                return
        self.workload.stop()
        ev = self._evaluate()
        schema = ev.schema or ev_schema
        shown = f"test-observer db {verb} {revision}"
        event.log(f"running {shown}")
        self.unit.status = ops.MaintenanceStatus(f"{name}: {shown}")
        report, error = change_schema(self.workload, self._database_environment(ev), verb, revision)
        if report is None:
            # The command could not start and the database cannot be read: say so, and hold
            # everything still until an operator looks.
            self._record(
                GateRecord(
                    revision="unknown",
                    database=database,
                    status=GateStatus.HELD,
                    target=schema.head,
                    error=error or "cannot read the schema",
                    previous=ev.gate.previous,
                )
            )
            self._reconcile()
            event.fail(f"{name} failed: {error}; the database's revision is unknown")
            return
        start = ev.gate.upgrade_from(schema) if verb == "upgrade" else ev.gate
        self._record(start.after_command(database, report, automatic=False, error=error))
        self._schema_override = report
        self._invalidate()
        self._reconcile()
        if error is not None:
            event.fail(f"{name} failed: {error} (the database is now at {report.revision})")
            return
        event.set_results(
            {
                "revision": report.revision,
                "code-head": report.head,
                "serving": _flag(report.at_head),
            }
        )

    def _on_db_status_action(self, event: ops.ActionEvent) -> None:
        ev = self._action_context(event)
        if ev is None:
            return
        assert ev.database is not None
        assert ev.schema is not None
        results: dict[str, str] = {
            "current": ev.schema.revision,
            "code-head": ev.schema.head,
            "pending": _flag(not ev.schema.at_head),
            "known": _flag(ev.schema.known),
            "database": ev.database.identity,
            "gate-revision": ev.gate.revision or "none",
            "gate-status": ev.gate.status.value or "none",
            "gate-previous": ev.gate.previous or "none",
            "serving": _flag(ev.may_serve),
        }
        if ev.gate.error:
            results["gate-error"] = ev.gate.error
        if ev.gate.status is GateStatus.FAILED and ev.gate.retry_after:
            results["retry-after"] = f"{ev.gate.retry_after:.0f}"
        event.set_results(results)

    def _on_create_application_action(self, event: ops.ActionEvent) -> None:
        params = event.load_params(CreateApplicationParams, errors="fail")
        args = ["admin", "create-application"]
        if params.all_permissions:
            args.append("--all-permissions")
        for permission in params.permission_list:
            args += ["--permission", permission]
        # Positional values after "--": a name or email starting with "-" stays a value.
        args += ["--", params.name]
        output = self._run_admin(event, args)
        if output is not None:
            lines = [line.strip() for line in output.stdout.splitlines() if line.strip()]
            if not lines:
                event.fail("create-application printed no API key")
                return
            event.set_results({"name": params.name, "api-key": lines[-1]})

    def _on_promote_user_action(self, event: ops.ActionEvent) -> None:
        params = event.load_params(PromoteUserParams, errors="fail")
        args = ["admin", "promote-user-to-admin", "--", params.email]
        if self._run_admin(event, args) is not None:
            event.set_results({"result": f"{params.email} is an administrator"})

    def _on_delete_artefact_action(self, event: ops.ActionEvent) -> None:
        params = event.load_params(DeleteArtefactParams, errors="fail")
        args = ["admin", "delete-artefact", "--", str(params.artefact_id)]
        if self._run_admin(event, args) is not None:
            event.set_results({"result": f"artefact {params.artefact_id} deleted"})

    def _on_add_user_action(self, event: ops.ActionEvent) -> None:
        params = event.load_params(AddUserParams, errors="fail")
        args = ["admin", "add-user", "--launchpad", "--", params.launchpad_email]
        output = self._run_admin(event, args)
        if output is not None:
            event.set_results({"result": _last_line(output.stderr)})

    def _on_change_assignee_action(self, event: ops.ActionEvent) -> None:
        params = event.load_params(ChangeAssigneeParams, errors="fail")
        args = ["admin", "change-assignee", "--", str(params.artefact_id), *params.reviewer_list]
        output = self._run_admin(event, args)
        if output is not None:
            event.set_results({"result": _last_line(output.stderr)})

    def _on_import_original_action(self, event: ops.ActionEvent) -> None:
        params = event.load_params(ImportOriginalParams, errors="fail")
        ev = self._action_context(event, leader_only=True, serving=True)
        if ev is None or ev.inputs is None:
            return
        env = environment(ev.inputs)
        try:
            url = original_import.source_url(self.model, params.source_url)
        except ValueError as e:
            event.fail(str(e))
            return
        event.log("importing the original database; this can take minutes")
        try:
            output = self.workload.run(
                original_import.command(params),
                {**env, "ORIGINAL_DB_URL": url},
                timeout=original_import.IMPORT_TIMEOUT,
            ).stdout
        except CommandFailedError as e:
            event.fail(f"import-original failed: {e.reason}")
            return
        event.set_results(original_import.results(output))

    def _on_run_job_action(self, event: ops.ActionEvent) -> None:
        params = event.load_params(RunJobParams, errors="fail")
        name = params.name.strip()
        arguments = params.args.split()
        ev = self._action_context(event, serving=True)
        if ev is None or ev.inputs is None:
            return
        event.log(f"running job {name}")
        try:
            output = self.workload.run(
                ["jobs", "run", "--", name, *arguments],
                worker_environment(ev.inputs),
                timeout=JOB_TIMEOUT,
            )
        except CommandFailedError as e:
            event.fail(f"job {name} failed: {e.reason}")
            return
        event.set_results({"job": name, "summary": output.stdout.strip()})

    def _run_admin(self, event: ops.ActionEvent, args: list[str]) -> CommandOutput | None:
        ev = self._action_context(event, serving=True)
        if ev is None or ev.inputs is None:
            return None
        try:
            return self.workload.run(args, environment(ev.inputs))
        except CommandFailedError as e:
            event.fail(f"{args[1]} failed: {e.reason}")
            return None


def _unit_count(peer: ops.Relation | None) -> int:
    """This application's units as this unit knows them (itself and its peers)."""
    return 1 + (len(peer.units) if peer is not None else 0)


def _last_line(text: str) -> str:
    """What a command said last (its outcome; earlier lines are progress)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "done"


def _flag(value: bool) -> str:
    """Juju action results are strings; booleans are written the way the docs show them."""
    return "true" if value else "false"


def _proxy_environment() -> dict[str, str]:
    """The model's proxy settings, in both spellings HTTP clients look for."""
    env: dict[str, str] = {}
    for juju_name, name in _PROXY_VARIABLES.items():
        value = os.environ.get(juju_name)
        if value:
            env[name] = value
            env[name.lower()] = value
    return env
