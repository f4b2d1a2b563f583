"""The migration gate: what the database's schema really is, and what the leader recorded.

Two sources, with different jobs:

- The database itself, read with `test-observer db current --json` in the unit's own
  container, decides whether a unit may serve: only when the schema is exactly its code's head.
  Every unit reads it on every event, so no record can keep a unit serving on a schema its
  code was not written for.
- The leader's record in the peer relation's application data says what the leader did last
  (the revision a schema command left the database at, failures and their back-off) and
  coordinates the drain: before a migration every unit stops its API and acknowledges that in
  its own unit data, so that no unit serves while the schema changes.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace

from .workload import MIGRATION_TIMEOUT, CommandFailedError, Workload

_PREFIX = "migration-"
# The key each unit writes in its own peer unit data once its API is stopped for a drain.
DRAINED_KEY = "migration-drained"
# A failed automatic migration is retried after 5 minutes, then 10, 20... at most 6 hours.
FIRST_RETRY_DELAY = 5 * 60
MAX_RETRY_DELAY = 6 * 60 * 60


def now() -> float:
    """The clock the back-off uses (a function so that tests can move it)."""
    return time.time()


class GateStatus(enum.StrEnum):
    NONE = ""
    # The database is at the head of the leader's code.
    APPLIED = "applied"
    # Every unit is asked to stop its API before the schema changes.
    DRAINING = "draining"
    # An automatic `db upgrade head` failed; retried with back-off.
    FAILED = "failed"
    # An operator's migrate or rollback left the schema at a revision that is not the code's
    # head (on purpose, or because the command failed half-way); nothing moves it automatically.
    HELD = "held"
    # The database is at a revision the leader's code does not know: newer code migrated it.
    SCHEMA_NEWER = "schema-newer"


class DrainPurpose(enum.StrEnum):
    NONE = ""
    # The leader drains to migrate to its code's head and migrates by itself once drained.
    UPGRADE = "upgrade"
    # An operator's migrate or rollback action asked for the drain; it runs on the next try.
    OPERATOR = "operator"


@dataclass(frozen=True)
class SchemaReport:
    """The database's schema as the unit's own code sees it (`db current --json`)."""

    current: tuple[str, ...]
    heads: tuple[str, ...]
    known: bool
    error: str | None = None

    @property
    def at_head(self) -> bool:
        return bool(self.heads) and sorted(self.current) == sorted(self.heads)

    @property
    def revision(self) -> str:
        return ",".join(sorted(self.current)) or "base"

    @property
    def head(self) -> str:
        return ",".join(sorted(self.heads))

    @classmethod
    def parse(cls, output: str) -> SchemaReport | None:
        """The report from a command's stdout, or None if it printed none."""
        for line in reversed(output.splitlines()):
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                data = json.loads(line)
                return cls(
                    current=tuple(str(r) for r in data["current"]),
                    heads=tuple(str(r) for r in data["heads"]),
                    known=bool(data["known"]),
                    error=data.get("error") or None,
                )
            except (ValueError, KeyError, TypeError):
                return None
        return None


@dataclass(frozen=True)
class GateRecord:
    """What the leader recorded; empty strings when nothing has been recorded yet."""

    revision: str = ""
    database: str = ""
    status: GateStatus = GateStatus.NONE
    # The code head the last run (or the current drain) is for.
    target: str = ""
    error: str = ""
    drain: str = ""
    drain_for: DrainPurpose = DrainPurpose.NONE
    attempts: int = 0
    retry_after: float = 0.0
    # Where the database was when the last upgrade started: what `rollback` returns to.
    previous: str = ""

    @classmethod
    def from_databag(cls, databag: Mapping[str, str]) -> GateRecord:
        def get(key: str) -> str:
            return databag.get(f"{_PREFIX}{key}", "")

        status, purpose = get("status"), get("drain-for")
        return cls(
            revision=get("revision"),
            database=get("database"),
            status=GateStatus(status) if status in set(GateStatus) else GateStatus.NONE,
            target=get("target"),
            error=get("error"),
            drain=get("drain"),
            drain_for=DrainPurpose(purpose) if purpose in set(DrainPurpose) else DrainPurpose.NONE,
            attempts=_int(get("attempts")),
            retry_after=_float(get("retry-after")),
            previous=get("previous"),
        )

    def to_databag(self) -> dict[str, str]:
        # Empty values are written too: Juju deletes a key that is set to "".
        data = {}
        for key, value in asdict(self).items():
            if key == "attempts":
                value = str(value) if value else ""
            elif key == "retry_after":
                value = f"{value:.0f}" if value else ""
            data[f"{_PREFIX}{key.replace('_', '-')}"] = str(value)
        return data

    def draining(self, database: str) -> bool:
        return self.status is GateStatus.DRAINING and self.database == database

    def upgrade_from(self, report: SchemaReport) -> GateRecord:
        """The record as an upgrade of the database at `report` starts: remember where from.

        A retry after a failed run keeps the first starting point: the failed run may have
        committed some revisions, and rolling back to those would not undo the upgrade.
        """
        if report.at_head or not report.known:
            return self
        if self.previous and self.status is GateStatus.FAILED and self.target == report.head:
            return self
        return replace(self, previous=report.revision)

    def cancel_drain(self, report: SchemaReport) -> GateRecord:
        """The record once an operator called a drain off, the schema where it is.

        Not at the leader's head, the record holds: the leader must not drain again by itself
        right after being told to stop.
        """
        return replace(
            self,
            revision=report.revision,
            status=GateStatus.APPLIED if report.at_head else GateStatus.HELD,
            target=report.head,
            error="",
            drain_for=DrainPurpose.NONE,
            attempts=0,
            retry_after=0,
        )

    def start_drain(self, database: str, report: SchemaReport, purpose: DrainPurpose) -> GateRecord:
        start = self.upgrade_from(report) if purpose is DrainPurpose.UPGRADE else self
        return replace(
            start,
            revision=report.revision,
            database=database,
            status=GateStatus.DRAINING,
            target=report.head,
            drain=str(_int(self.drain) + 1),
            drain_for=purpose,
        )

    def after_command(
        self, database: str, report: SchemaReport, *, automatic: bool, error: str | None
    ) -> GateRecord:
        """The record after a schema command, from where the database really is."""
        ended = replace(
            self,
            revision=report.revision,
            database=database,
            target=report.head,
            error=error or "",
            drain_for=DrainPurpose.NONE,
        )
        if report.at_head:
            return replace(ended, status=GateStatus.APPLIED, error="", attempts=0, retry_after=0)
        if not report.known:
            return replace(ended, status=GateStatus.SCHEMA_NEWER)
        if automatic:
            attempts = self.attempts + 1 if self.target == report.head else 1
            delay = min(FIRST_RETRY_DELAY * 2 ** (attempts - 1), MAX_RETRY_DELAY)
            return replace(
                ended,
                status=GateStatus.FAILED,
                error=error or "the schema is not at the code's head after the upgrade",
                attempts=attempts,
                retry_after=now() + delay,
            )
        return replace(ended, status=GateStatus.HELD)

    def observed(self, database: str, report: SchemaReport) -> GateRecord:
        """The record once the leader has read the database without changing it."""
        if self.draining(database) and self.drain_for is DrainPurpose.OPERATOR:
            # The units stay stopped until the operator runs the action again.
            return self
        if report.at_head:
            return self.after_command(database, report, automatic=False, error=None)
        if not report.known:
            return replace(
                self,
                revision=report.revision,
                database=database,
                status=GateStatus.SCHEMA_NEWER,
                target=report.head,
                error="",
                drain_for=DrainPurpose.NONE,
            )
        return self

    def wants_upgrade(self, database: str, report: SchemaReport) -> bool:
        """Leader: whether to start draining for `db upgrade head` now."""
        if report.at_head or not report.known:
            return False
        if self.database != database or self.target != report.head:
            # A new database, or new code: always worth a try.
            return True
        if self.status is GateStatus.HELD:
            return False
        if self.status is GateStatus.FAILED:
            return now() >= self.retry_after
        return self.status is not GateStatus.DRAINING


def all_drained(record: GateRecord, acknowledgements: Iterable[str]) -> bool:
    return bool(record.drain) and all(ack == record.drain for ack in acknowledgements)


def read_schema(workload: Workload, env: Mapping[str, str]) -> SchemaReport:
    """The database's schema as this unit's code sees it; raise CommandFailedError."""
    output = workload.run(["db", "current", "--json"], env).stdout
    report = SchemaReport.parse(output)
    if report is None:
        raise CommandFailedError(["db", "current"], "printed no schema report")
    return report


def change_schema(
    workload: Workload, env: Mapping[str, str], verb: str, revision: str
) -> tuple[SchemaReport | None, str | None]:
    """Run a schema command; return where the database is afterwards and the error, if any.

    The command prints its report even when it fails, because migrations commit one revision
    at a time and a failure can leave the database between two revisions. If it printed none
    (it could not even start), the database is asked separately.
    """
    error: str | None = None
    try:
        # "--" so that a revision such as "-1" is never mistaken for an option.
        args = ["db", verb, "--json", "--", revision]
        output = workload.run(args, env, timeout=MIGRATION_TIMEOUT).stdout
    except CommandFailedError as e:
        error, output = e.reason, e.stdout
    report = SchemaReport.parse(output)
    if report is not None and report.error:
        error = report.error
    if report is None:
        try:
            report = read_schema(workload, env)
        except CommandFailedError:
            report = None
    return report, error


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0


def _float(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return 0.0
