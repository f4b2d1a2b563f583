"""The migration gate.

Only the leader changes the schema. It records, in the peer relation's application databag,
which schema revision the database is at, which database that is, and how the last run went.
Every unit (the leader included) serves only while the recorded revision equals the head of
its own code for the database it is related to. So during a refresh, units running the old
code stop as soon as the leader has migrated, units running the new code wait until it has,
and after a rollback no unit serves until the code matches the schema again.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from .workload import MIGRATION_TIMEOUT, CommandFailedError, Workload

_PREFIX = "migration-"


class GateStatus(enum.StrEnum):
    NONE = ""
    # The leader migrated to its code's head.
    APPLIED = "applied"
    # `db upgrade head` failed; retried on update-status, upgrade-charm or the migrate action.
    FAILED = "failed"
    # An operator moved the schema to a revision that is not the code's head (rollback, or
    # migrate to a revision); the leader leaves it there until the code changes.
    HELD = "held"
    # The database is at a revision this code does not know: it was written by newer code.
    SCHEMA_NEWER = "schema-newer"


@dataclass(frozen=True)
class GateRecord:
    """What the leader recorded; empty strings when nothing has been recorded yet."""

    revision: str = ""
    database: str = ""
    status: GateStatus = GateStatus.NONE
    # The code head the last failed or held run was made with: a different head means new
    # code, which is worth trying again automatically.
    target: str = ""
    error: str = ""

    @classmethod
    def from_databag(cls, databag: Mapping[str, str]) -> GateRecord:
        status = databag.get(f"{_PREFIX}status", "")
        return cls(
            revision=databag.get(f"{_PREFIX}revision", ""),
            database=databag.get(f"{_PREFIX}database", ""),
            status=GateStatus(status) if status in set(GateStatus) else GateStatus.NONE,
            target=databag.get(f"{_PREFIX}target", ""),
            error=databag.get(f"{_PREFIX}error", ""),
        )

    def to_databag(self) -> dict[str, str]:
        # Empty values are written too: Juju deletes a key that is set to "".
        return {f"{_PREFIX}{key}": str(value) for key, value in asdict(self).items()}

    def allows_serving(self, database: str, heads: str) -> bool:
        return bool(self.revision) and self.database == database and self.revision == heads

    def needs_migration(self, database: str, heads: str, *, retry: bool) -> bool:
        """Whether the leader should run `db upgrade head` now."""
        if self.database != database:
            return True
        if self.revision == heads:
            return False
        if self.target == heads:
            if self.status is GateStatus.FAILED:
                return retry
            if self.status in (GateStatus.HELD, GateStatus.SCHEMA_NEWER):
                return False
        return True


def upgrade_to_head(
    workload: Workload, env: Mapping[str, str], heads: str, record: GateRecord, database: str
) -> GateRecord:
    """Run `test-observer db upgrade head` and return what the gate should record."""
    try:
        workload.run(["db", "upgrade", "head"], env, timeout=MIGRATION_TIMEOUT)
    except CommandFailedError as e:
        known = record.revision if record.database == database else ""
        newer = schema_revision_unknown_to_code(workload, env, heads, known)
        if newer is not None:
            return GateRecord(
                revision=newer,
                database=database,
                status=GateStatus.SCHEMA_NEWER,
                target=heads,
                error=e.reason,
            )
        return GateRecord(
            revision=known,
            database=database,
            status=GateStatus.FAILED,
            target=heads,
            error=e.reason,
        )
    return GateRecord(revision=heads, database=database, status=GateStatus.APPLIED, target=heads)


def current_revision(workload: Workload, env: Mapping[str, str]) -> str:
    """The database's revision as `test-observer db current` prints it."""
    for line in workload.run(["db", "current"], env).stdout.splitlines():
        if line.strip():
            return line.split()[0]
    raise CommandFailedError(["db", "current"], "printed no revision")


def schema_revision_unknown_to_code(
    workload: Workload, env: Mapping[str, str], heads: str, recorded: str
) -> str | None:
    """After a failed upgrade: the database's revision if this code does not know it.

    Upgrading to the database's own revision is a no-op for code that knows the revision and
    an error for code that does not, which tells "newer schema" apart from a broken migration.
    """
    try:
        revision = current_revision(workload, env)
        confirmed = True
    except CommandFailedError:
        # Some tools refuse to print a revision they do not know; fall back to the record.
        revision, confirmed = recorded, False
    if not revision or revision == "base" or revision in heads.split(","):
        return None
    try:
        workload.run(["db", "upgrade", revision], env, timeout=MIGRATION_TIMEOUT)
    except CommandFailedError as e:
        # Without a confirmed current revision, only an error that names the revision counts;
        # an unreachable database must not be mistaken for a newer schema.
        return revision if confirmed or revision in e.reason else None
    return None
