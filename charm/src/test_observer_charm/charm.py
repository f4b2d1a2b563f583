"""The Test Observer API charm: one reconcile for every event, one status for the unit.

Every event runs the same `_reconcile`: derive the desired state from config, relations and
the migration gate, then apply only the difference. Statuses are computed in one
collect-status handler from the same evaluation, so they never contradict each other.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field, replace

import ops

from .config import CharmConfig, InvalidConfigError
from .database import DatabaseInfo, DatabaseRequirer
from .frontend import FrontendProvider
from .ingress import IngressRequirer
from .migrations import (
    GateRecord,
    GateStatus,
    current_revision,
    upgrade_to_head,
)
from .observability import Observability
from .workload import (
    CONTAINER,
    MIGRATION_TIMEOUT,
    READY_CHECK,
    ApiInputs,
    CommandFailedError,
    Workload,
    environment,
    fetch_version,
    layer,
)

logger = logging.getLogger(__name__)

DATABASE_NAME = "test_observer"
DATABASE_RELATION = "database"
INGRESS_RELATION = "ingress"
FRONTEND_RELATION = "test-observer-rest-api"
PEER_RELATION = "test-observer-peers"
SESSIONS_SECRET_KEY = "sessions-secret-id"
SESSIONS_SECRET_LABEL = "sessions-secret"
_PROXY_VARIABLES = {
    "JUJU_CHARM_HTTP_PROXY": "HTTP_PROXY",
    "JUJU_CHARM_HTTPS_PROXY": "HTTPS_PROXY",
    "JUJU_CHARM_NO_PROXY": "NO_PROXY",
}


@dataclass
class Evaluation:
    """The unit's situation, derived from the model; computed at most once per state."""

    statuses: list[ops.StatusBase] = field(default_factory=list)
    config: CharmConfig | None = None
    database: DatabaseInfo | None = None
    heads: str | None = None
    inputs: ApiInputs | None = None
    gate: GateRecord = field(default_factory=GateRecord)

    @property
    def gate_open(self) -> bool:
        """The recorded schema is this unit's code head, for the related database."""
        return (
            self.database is not None
            and self.heads is not None
            and self.gate.allows_serving(self.database.identity, self.heads)
        )

    @property
    def may_serve(self) -> bool:
        return self.inputs is not None and self.gate_open


class TestObserverCharm(ops.CharmBase):
    """Operates the Test Observer API in the `api` container."""

    __test__ = False  # the name starts with "Test"; pytest must not collect it

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self.database = DatabaseRequirer(self, DATABASE_RELATION, DATABASE_NAME)
        self.ingress = IngressRequirer(self, INGRESS_RELATION)
        self.frontend = FrontendProvider(self, FRONTEND_RELATION)
        self.workload = Workload(self.unit.get_container(CONTAINER))
        # COS relations (metrics-endpoint, grafana-dashboard, logging) handle their own events.
        self.observability = Observability(
            self, container_name=CONTAINER, metrics_port=self._metrics_port
        )
        self._evaluation: Evaluation | None = None
        self._retry_failed_migration = False

        on = self.on
        container = on[CONTAINER]
        for event in (
            on.config_changed,
            on.upgrade_charm,
            on.leader_elected,
            on.update_status,
            on.secret_changed,
            container.pebble_ready,
            container.pebble_check_recovered,
        ):
            framework.observe(event, self._on_event)
        for relation in (DATABASE_RELATION, INGRESS_RELATION, FRONTEND_RELATION, PEER_RELATION):
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
        framework.observe(on.db_status_action, self._on_db_status_action)
        framework.observe(on.create_application_action, self._on_create_application_action)
        framework.observe(on.promote_user_to_admin_action, self._on_promote_user_action)
        framework.observe(on.delete_artefact_action, self._on_delete_artefact_action)

    def _metrics_port(self) -> int | None:
        try:
            return CharmConfig.from_options(dict(self.config)).metrics_port or None
        except InvalidConfigError:
            return None

    # Reconcile

    def _on_event(self, event: ops.EventBase) -> None:
        # A failed migration is retried on update-status and after a refresh, not on every
        # event, so that a broken migration does not run again on each relation change.
        self._retry_failed_migration = isinstance(
            event, ops.UpdateStatusEvent | ops.UpgradeCharmEvent
        )
        self._reconcile()

    def _reconcile(self) -> None:
        if self.unit.is_leader():
            self.database.request()
            self._ensure_sessions_secret()
        evaluation = self._evaluate()
        if self.unit.is_leader():
            if self._migrate_if_needed(evaluation):
                evaluation = self._evaluate()
            elif evaluation.gate_open and evaluation.gate.status is not GateStatus.APPLIED:
                # The code caught up with a held or newer schema (a refresh after a rollback,
                # or back to the newer code): that is an applied schema again.
                self._record(replace(evaluation.gate, status=GateStatus.APPLIED, error=""))
                evaluation = self._evaluate()
        if evaluation.config is not None:
            self._publish(evaluation.config)
        if evaluation.inputs is not None:
            self.workload.apply(
                layer(evaluation.inputs, serve=evaluation.may_serve), serve=evaluation.may_serve
            )
        elif evaluation.config is None and evaluation.gate_open:
            # A typo in an option must not take a working API down; it keeps its last plan.
            pass
        elif self.workload.can_connect():
            # No database, no sessions secret, or a schema that is not this code's.
            self.workload.stop()
        self._set_workload_version(evaluation)

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
            sessions_secret = self._sessions_secret(ev.config)
        except InvalidConfigError as e:
            ev.config = None
            ev.statuses.append(ops.BlockedStatus(f"{e}: fix it with `juju config`"))
            sessions_secret = None
        if self.database.relation is None:
            ev.statuses.append(
                ops.BlockedStatus(
                    f"needs a database: juju integrate {self.app.name} postgresql-k8s"
                )
            )
        if not self.workload.can_connect():
            ev.statuses.append(ops.WaitingStatus("waiting for Pebble in the api container"))
            return ev
        try:
            ev.heads = self.workload.code_heads()
        except CommandFailedError as e:
            ev.statuses.append(ops.BlockedStatus(f"cannot read the code's schema head: {e.reason}"))
            return ev
        if self.database.relation is None:
            return ev
        ev.database = self.database.get()
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
        if ev.config is not None and sessions_secret is None:
            ev.statuses.append(
                ops.WaitingStatus("waiting for the leader to generate the sessions secret")
            )
        if ev.config is not None and sessions_secret is not None:
            ev.inputs = ApiInputs(
                config=ev.config,
                database_url=ev.database.url,
                sessions_secret=sessions_secret,
                frontend_origins=self.frontend.frontend_origins(),
                public_url=self._public_url(ev.config),
                proxy=_proxy_environment(),
            )
        status = self._gate_status(ev.gate, ev.database.identity, ev.heads)
        if status is not None:
            ev.statuses.append(status)
        return ev

    def _gate_status(self, gate: GateRecord, database: str, heads: str) -> ops.StatusBase | None:
        if gate.allows_serving(database, heads):
            return None
        leader = self.unit.is_leader()
        if gate.database == database and gate.target == heads:
            if gate.status is GateStatus.FAILED:
                return ops.BlockedStatus(
                    f"migration to {heads} failed: {gate.error}; fix the cause, then run "
                    "the migrate action (retried on update-status)"
                )
            if gate.status is GateStatus.SCHEMA_NEWER:
                return ops.BlockedStatus(
                    f"schema {gate.revision} is newer than this code ({heads}): refresh to "
                    "the charm revision that applied it, or roll back there first"
                )
            if gate.status is GateStatus.HELD:
                return ops.BlockedStatus(
                    f"schema held at {gate.revision or 'base'}, code is at {heads}: refresh "
                    "to the matching charm revision, or run the migrate action"
                )
        if gate.database != database:
            return ops.WaitingStatus(
                "waiting for the leader to migrate the database"
                if not leader
                else "database migration pending"
            )
        if gate.status in (GateStatus.HELD, GateStatus.SCHEMA_NEWER):
            # Another unit's code recorded this state; the leader decides what happens next.
            return ops.WaitingStatus(
                f"schema at {gate.revision or 'base'}, code at {heads}: waiting for the leader"
            )
        if gate.status is GateStatus.FAILED and not leader:
            return ops.WaitingStatus(
                f"waiting for the leader to migrate to {heads} (last run failed: {gate.error})"
            )
        return ops.WaitingStatus(
            f"waiting for the leader to migrate the schema from {gate.revision or 'base'} "
            f"to {heads}"
            if not leader
            else f"database migration to {heads} pending"
        )

    def _migrate_if_needed(self, ev: Evaluation) -> bool:
        """Leader only: run `db upgrade head` when the gate asks for it. True if it ran."""
        if ev.database is None or ev.heads is None or ev.inputs is None:
            return False
        if not ev.gate.needs_migration(
            ev.database.identity, ev.heads, retry=self._retry_failed_migration
        ):
            return False
        env = self._command_environment(ev.inputs)
        # Set immediately (not via collect-status) so operators see it while the hook runs.
        self.unit.status = ops.MaintenanceStatus(f"migrating the database to {ev.heads}")
        record = upgrade_to_head(self.workload, env, ev.heads, ev.gate, ev.database.identity)
        if record.status is GateStatus.APPLIED:
            logger.info("database %s migrated to %s", ev.database.identity, ev.heads)
        else:
            logger.error("database migration to %s failed: %s", ev.heads, record.error)
        self._record(record)
        return True

    def _record(self, record: GateRecord) -> None:
        peer = self.model.get_relation(PEER_RELATION)
        if peer is None:  # pragma: no cover - callers check the peer relation first
            raise RuntimeError("no peer relation")
        peer.data[self.app].update(record.to_databag())
        self._evaluation = None

    def _publish(self, config: CharmConfig) -> None:
        self.unit.set_ports(config.port)
        self.ingress.publish(config.port)
        hostname = f"{self.app.name}.{self.model.name}.svc.cluster.local"
        self.frontend.publish(hostname, config.port, self._public_url(config))

    def _public_url(self, config: CharmConfig) -> str:
        return (
            self.ingress.url()
            or f"http://{self.app.name}.{self.model.name}.svc.cluster.local:{config.port}"
        )

    def _set_workload_version(self, ev: Evaluation) -> None:
        if ev.config is None:
            return
        if ev.config.version:
            self.unit.set_workload_version(ev.config.version)
            return
        if not ev.may_serve or not self._api_ready():
            # Asking a server that is still starting would fail; pebble-check-recovered
            # brings us back here once it answers.
            return
        version = fetch_version(ev.config.port)
        if version:
            self.unit.set_workload_version(version)

    def _api_ready(self) -> bool:
        try:
            checks = self.workload.container.get_checks(READY_CHECK)
        except (ops.pebble.ConnectionError, ops.pebble.APIError):
            return False
        check = checks.get(READY_CHECK)
        return check is not None and check.status == ops.pebble.CheckStatus.UP

    # Sessions secret

    def _ensure_sessions_secret(self) -> None:
        """Leader: generate the sessions secret once if the operator did not provide one."""
        peer = self.model.get_relation(PEER_RELATION)
        if peer is None or self.config.get("sessions-secret"):
            return
        if peer.data[self.app].get(SESSIONS_SECRET_KEY):
            return
        secret = self.app.add_secret(
            {"value": secrets.token_urlsafe(32)},
            label=SESSIONS_SECRET_LABEL,
            description="Signs Test Observer login sessions",
        )
        assert secret.id is not None  # an app's own new secret always has an id
        peer.data[self.app][SESSIONS_SECRET_KEY] = secret.id

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
        peer = self.model.get_relation(PEER_RELATION)
        secret_id = peer.data[self.app].get(SESSIONS_SECRET_KEY) if peer is not None else None
        if not secret_id:
            return None
        try:
            return self.model.get_secret(id=secret_id).get_content().get("value")
        except (ops.SecretNotFoundError, ops.ModelError):
            return None

    # Status

    def _on_collect_status(self, event: ops.CollectStatusEvent) -> None:
        ev = self._evaluate()
        for status in ev.statuses:
            event.add_status(status)
        event.add_status(ops.ActiveStatus())

    # Actions

    def _command_environment(self, inputs: ApiInputs) -> dict[str, str]:
        return environment(inputs)

    def _action_context(
        self, event: ops.ActionEvent, *, leader_only: bool = False, gate_open: bool = False
    ) -> tuple[Evaluation, dict[str, str]] | None:
        """What an action needs to run a command, or None after failing the action."""
        if leader_only and not self.unit.is_leader():
            event.fail(f"run this action on the leader unit: juju run {self.app.name}/leader")
            return None
        ev = self._evaluate()
        if ev.inputs is None or ev.database is None or ev.heads is None:
            reason = ev.statuses[0].message if ev.statuses else "the unit is not ready"
            event.fail(f"cannot run: {reason}")
            return None
        if gate_open and not ev.may_serve:
            event.fail(
                "the database schema does not match this unit's code; run db-status to see why"
            )
            return None
        return ev, self._command_environment(ev.inputs)

    def _on_migrate_action(self, event: ops.ActionEvent) -> None:
        # Juju fills in the defaults from charmcraft.yaml; the same defaults apply here so a
        # missing parameter can never turn into an unintended revision.
        revision = str(event.params.get("revision") or "head")
        # "--" so that a revision such as "-1" is never mistaken for an option.
        self._change_schema(event, ["db", "upgrade", "--", revision], "migrate")

    def _on_rollback_action(self, event: ops.ActionEvent) -> None:
        revision = str(event.params.get("revision") or "-1")
        self._change_schema(event, ["db", "downgrade", "--", revision], "rollback")

    def _change_schema(self, event: ops.ActionEvent, args: list[str], name: str) -> None:
        context = self._action_context(event, leader_only=True)
        if context is None:
            return
        ev, env = context
        assert ev.database is not None
        assert ev.heads is not None
        shown = " ".join(a for a in args if a != "--")
        event.log(f"running test-observer {shown}")
        self.unit.status = ops.MaintenanceStatus(f"{name}: test-observer {shown}")
        try:
            self.workload.run(args, env, timeout=MIGRATION_TIMEOUT)
            revision = current_revision(self.workload, env)
        except CommandFailedError as e:
            event.fail(f"{name} failed: {e.reason}")
            return
        at_head = revision == ev.heads
        self._record(
            GateRecord(
                revision=revision,
                database=ev.database.identity,
                status=GateStatus.APPLIED if at_head else GateStatus.HELD,
                target=ev.heads,
            )
        )
        event.set_results({"revision": revision, "code-head": ev.heads, "serving": at_head})
        # Stop or start this unit's API now; other units follow on peer-relation-changed.
        self._reconcile()

    def _on_db_status_action(self, event: ops.ActionEvent) -> None:
        context = self._action_context(event)
        if context is None:
            return
        ev, env = context
        assert ev.database is not None
        assert ev.heads is not None
        try:
            current = current_revision(self.workload, env)
        except CommandFailedError as e:
            event.fail(f"db-status failed: {e.reason}")
            return
        results: dict[str, str | bool] = {
            "current": current,
            "code-head": ev.heads,
            "pending": current != ev.heads,
            "database": ev.database.identity,
            "gate-revision": ev.gate.revision or "none",
            "gate-status": ev.gate.status.value or "none",
            "serving": ev.may_serve,
        }
        if ev.gate.error:
            results["gate-error"] = ev.gate.error
        event.set_results(results)

    def _on_create_application_action(self, event: ops.ActionEvent) -> None:
        name = str(event.params["name"]).strip()
        permissions = [
            p.strip() for p in str(event.params.get("permissions", "")).split(",") if p.strip()
        ]
        all_permissions = bool(event.params.get("all-permissions", False))
        if not name:
            event.fail("name must not be empty")
            return
        if all_permissions == bool(permissions):
            event.fail("give either permissions=P1,P2 or all-permissions=true")
            return
        args = ["admin", "create-application"]
        if all_permissions:
            args.append("--all-permissions")
        for permission in permissions:
            args += ["--permission", permission]
        # Positional values after "--": a name or email starting with "-" stays a value.
        args += ["--", name]
        output = self._run_admin(event, args)
        if output is not None:
            lines = [line.strip() for line in output.splitlines() if line.strip()]
            if not lines:
                event.fail("create-application printed no API key")
                return
            event.set_results({"name": name, "api-key": lines[-1]})

    def _on_promote_user_action(self, event: ops.ActionEvent) -> None:
        email = str(event.params["email"]).strip()
        if self._run_admin(event, ["admin", "promote-user-to-admin", "--", email]) is not None:
            event.set_results({"result": f"{email} is an administrator"})

    def _on_delete_artefact_action(self, event: ops.ActionEvent) -> None:
        artefact_id = int(event.params["artefact-id"])
        if self._run_admin(event, ["admin", "delete-artefact", "--", str(artefact_id)]) is not None:
            event.set_results({"result": f"artefact {artefact_id} deleted"})

    def _run_admin(self, event: ops.ActionEvent, args: list[str]) -> str | None:
        context = self._action_context(event, gate_open=True)
        if context is None:
            return None
        _, env = context
        try:
            return self.workload.run(args, env).stdout
        except CommandFailedError as e:
            event.fail(f"{args[1]} failed: {e.reason}")
            return None


def _proxy_environment() -> dict[str, str]:
    """The model's proxy settings, in both spellings HTTP clients look for."""
    env: dict[str, str] = {}
    for juju_name, name in _PROXY_VARIABLES.items():
        value = os.environ.get(juju_name)
        if value:
            env[name] = value
            env[name.lower()] = value
    return env
