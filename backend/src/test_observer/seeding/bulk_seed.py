"""The seed's dataset written with COPY, for histories too long to build through the service
code: ten times the default size (about 4.7 M results) takes minutes instead of hours.

The executions are the seed's own (`seed.plan_execution`): the same artefacts, builds,
environments, results, metadata and rerun requests, and the same issues, rules and
attachments. Issues, their rules and the attachments made by hand go through the service code
as in the seed; everything else is written with `COPY`, and what the service code would derive
on the way (ids, execution statuses, the attachments rules make during ingestion, rerun
requests) is derived here. A test checks that both ways give the same data.

Unlike the service path, which stamps every row with the moment it ran, this one spreads the
history over time: every artefact line releases a version a week, each version is tested over
the following days, and rows get their ids in the order of their dates. A long history then
looks to the planner like one that grew over months. It all happens in one transaction,
followed by VACUUM ANALYZE, which leaves the tables as autovacuum would have: statistics
gathered and index-only scans possible.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from test_observer.db.models import (
    ArtefactStatus,
    FamilyName,
    Issue,
    TestExecutionStatus,
    TestResultStatus,
)
from test_observer.executions.requests import StartTestRequest
from test_observer.executions.results import IncomingResult
from test_observer.executions.start import StartTest, artefact_fields
from test_observer.signatures.backfill import backfill

from .issues import attach_by_hand, create_issues
from .seed import (
    CHECKBOX_VERSION,
    FAMILIES,
    Outcome,
    PlannedExecution,
    SeedPlan,
    _templates,
    artefact_payloads,
    check_can_seed,
    execution_slot,
    plan_execution,
    seeded_counts,
)

_START: TypeAdapter[StartTest] = TypeAdapter(StartTestRequest)

# A new version of every line each week; each round of testing a version a day later.
RELEASE_EVERY = timedelta(days=7)
ROUND_EVERY = timedelta(days=1)
# Executions of one chunk are written together: a few COPY statements per table and chunk.
CHUNK = 200

ARTEFACT_COLUMNS = (
    "family",
    "name",
    "version",
    "stage",
    "store",
    "track",
    "branch",
    "series",
    "repo",
    "source",
    "os",
    "release",
    "sha256",
    "owner",
    "image_url",
    "bundled_builds_hash",
)
ENTITY = ("id", "created_at", "updated_at")
# Table, columns, in an order that respects the foreign keys.
TABLES: dict[str, tuple[str, ...]] = {
    "artefact": (*ENTITY, "status", "comment", *ARTEFACT_COLUMNS),
    "artefact_build": (*ENTITY, "artefact_id", "architecture", "revision"),
    "environment": (*ENTITY, "name", "architecture"),
    "test_plan": (*ENTITY, "name"),
    "artefact_build_environment_review": (*ENTITY, "artefact_build_id", "environment_id"),
    "test_execution": (
        *ENTITY,
        "ci_link",
        "c3_link",
        "status",
        "checkbox_version",
        "artefact_build_id",
        "environment_id",
        "test_plan_id",
        "passed_count",
        "failed_count",
        "skipped_count",
    ),
    "test_execution_relevant_link": (*ENTITY, "test_execution_id", "label", "url"),
    "test_execution_metadata": (*ENTITY, "category", "value"),
    "test_execution_metadata_association_table": (
        "test_execution_id",
        "test_execution_metadata_id",
    ),
    "test_case": (*ENTITY, "name", "category", "template_id"),
    "test_result": (
        *ENTITY,
        "status",
        "comment",
        "io_log",
        "test_execution_id",
        "environment_id",
        "test_case_id",
    ),
    "issue_test_result_attachment": (
        "created_at",
        "updated_at",
        "issue_id",
        "test_result_id",
        "attachment_rule_id",
    ),
    "test_execution_rerun_request": (
        *ENTITY,
        "test_plan_id",
        "artefact_build_id",
        "environment_id",
        "priority",
    ),
}
# Tables without a serial id.
NO_ID = frozenset({"test_execution_metadata_association_table", "issue_test_result_attachment"})


@dataclass(frozen=True)
class _Rule:
    """An attachment rule as ingestion applies it; an empty filter accepts anything."""

    id: int
    issue_id: int
    families: frozenset[str]
    artefacts: frozenset[str]
    versions: frozenset[str]
    stages: frozenset[str]
    tracks: frozenset[str]
    environments: frozenset[str]
    test_plans: frozenset[str]
    names: frozenset[str]
    templates: frozenset[str]
    statuses: frozenset[str]
    # The seed sets an execution's metadata after its results, so when ingestion applies the
    # rules no execution has metadata yet, and a rule that requires some matches nothing.
    needs_metadata: bool

    def accepts_execution(self, artefact: dict[str, Any], environment: str, test_plan: str) -> bool:
        return not self.needs_metadata and all(
            not allowed or value in allowed
            for allowed, value in (
                (self.families, str(artefact["family"])),
                (self.artefacts, artefact["name"]),
                (self.versions, artefact["version"]),
                (self.stages, artefact["stage"]),
                (self.tracks, artefact.get("track", "")),
                (self.environments, environment),
                (self.test_plans, test_plan),
            )
        )

    def accepts_case(self, name: str, template: str) -> bool:
        return (not self.names or name in self.names) and (
            not self.templates or template in self.templates
        )


def _rules(session: Session) -> list[_Rule]:
    rows = session.execute(
        text(
            """
            SELECT r.id, r.issue_id, r.families::text[], r.artefacts, r.artefact_versions,
                   r.artefact_stages, r.artefact_tracks, r.environment_names,
                   r.test_plans, r.test_case_names, r.template_ids,
                   r.test_result_statuses::text[],
                   EXISTS (SELECT 1 FROM issue_test_result_attachment_rule_execution_metadata m
                           WHERE m.attachment_rule_id = r.id)
            FROM issue_test_result_attachment_rule r
            WHERE r.enabled
            ORDER BY r.id
            """
        )
    ).all()
    return [
        _Rule(
            id=row[0],
            issue_id=row[1],
            families=frozenset(row[2]),
            artefacts=frozenset(row[3]),
            versions=frozenset(row[4]),
            stages=frozenset(row[5]),
            tracks=frozenset(row[6]),
            environments=frozenset(row[7]),
            test_plans=frozenset(row[8]),
            names=frozenset(row[9]),
            templates=frozenset(row[10]),
            statuses=frozenset(row[11]),
            needs_metadata=row[12],
        )
        for row in rows
    ]


@dataclass
class _Rows:
    """Rows waiting for the next COPY, per table."""

    tables: dict[str, list[tuple[Any, ...]]] = field(
        default_factory=lambda: {table: [] for table in TABLES}
    )

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        self.tables[table].append(row)

    def flush(self, cursor: Any) -> None:
        for table, rows in self.tables.items():
            if not rows:
                continue
            columns = ", ".join(TABLES[table])
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            rows.clear()


class _Ids:
    """Ids handed out in creation order, one counter per table, for rows found by a key."""

    def __init__(self) -> None:
        self.last: dict[str, int] = dict.fromkeys(TABLES, 0)
        self.known: dict[tuple[Any, ...], int] = {}

    def next(self, table: str) -> int:
        self.last[table] += 1
        return self.last[table]

    def find(self, table: str, key: Any) -> int | None:
        return self.known.get((table, key))

    def remember(self, table: str, key: Any) -> int:
        self.known[(table, key)] = new = self.next(table)
        return new


class _Writer:
    def __init__(self, plan: SeedPlan, rules: list[_Rule], auto_rerun: set[int]) -> None:
        self.plan = plan
        self.rules = rules
        self.auto_rerun = auto_rerun
        self.ids = _Ids()
        self.rows = _Rows()
        self.payloads = artefact_payloads(plan)
        self.artefacts: dict[int, tuple[int, dict[str, Any]]] = {}
        self.matchers: dict[tuple[int, ...], dict[tuple[str, str], list[_Rule]]] = {}
        # Pending rerun requests by (plan, build, environment) group: [priority, created at].
        self.reruns: dict[tuple[int, int, int], list[Any]] = {}

    def _once(self, table: str, key: Any, at: datetime, *values: Any) -> int:
        """The id of the row with `key`, written the first time it is needed."""
        found = self.ids.find(table, key)
        if found is not None:
            return found
        new = self.ids.remember(table, key)
        self.rows.add(table, (new, at, at, *values))
        return new

    def _artefact(self, planned: PlannedExecution, request: StartTest, at: datetime) -> int:
        known = self.artefacts.get(planned.artefact_index)
        if known is not None:
            return known[0]
        fields = artefact_fields(request)
        values = [fields.get(name, "") for name in ARTEFACT_COLUMNS]
        values[ARTEFACT_COLUMNS.index("bundled_builds_hash")] = fields.get("bundled_builds_hash")
        values[0] = FamilyName(fields["family"]).value
        artefact_id = self._once(
            "artefact", planned.artefact_index, at, ArtefactStatus.UNDECIDED.value, "", *values
        )
        self.artefacts[planned.artefact_index] = (artefact_id, fields)
        return artefact_id

    def _rules_for(
        self, planned: PlannedExecution, environment: str
    ) -> tuple[list[_Rule], dict[tuple[str, str], list[_Rule]]]:
        """The rules that may attach results of this execution, and a cache of those that
        accept a (test name, template) shared by the executions these rules apply to."""
        fields = self.artefacts[planned.artefact_index][1]
        test_plan = str(planned.payload["test_plan"])
        chosen = [r for r in self.rules if r.accepts_execution(fields, environment, test_plan)]
        cache = self.matchers.setdefault(tuple(r.id for r in chosen), {})
        return chosen, cache

    def execution(self, planned: PlannedExecution, started: datetime) -> None:
        request = _START.validate_python(planned.payload)
        artefact_id = self._artefact(planned, request, started)
        arch = str(planned.payload["arch"])
        environment = str(planned.payload["environment"])
        revision = planned.payload.get("revision")
        build_id = self._once(
            "artefact_build", (artefact_id, arch, revision), started, artefact_id, arch, revision
        )
        environment_id = self._once("environment", (environment, arch), started, environment, arch)
        self._once(
            "artefact_build_environment_review",
            (build_id, environment_id),
            started,
            build_id,
            environment_id,
        )
        test_plan = str(planned.payload["test_plan"])
        plan_id = self._once("test_plan", test_plan, started, test_plan)
        group = (plan_id, build_id, environment_id)
        # CI starting the group again takes its pending rerun request off the queue.
        self.reruns.pop(group, None)

        duration = timedelta(minutes=20 + planned.index % 41)
        ended = planned.outcome == Outcome.ENDED
        arrived = started + (duration if ended else duration / 2)
        # Within one payload the last result of a name wins.
        results = list({r.name: r for r in planned.results}.values())
        statuses = Counter(result.status for result in results)
        status = (
            (
                TestExecutionStatus.FAILED
                if TestResultStatus.FAILED in statuses
                else TestExecutionStatus.PASSED
            )
            if ended and statuses
            else TestExecutionStatus.ENDED_PREMATURELY
            if ended
            else request.initial_status
        )
        execution_id = self.ids.next("test_execution")
        self.rows.add(
            "test_execution",
            (
                execution_id,
                started,
                started + duration if ended else started,
                planned.ci_link,
                planned.c3_link if ended else None,
                status.value,
                CHECKBOX_VERSION if ended else None,
                build_id,
                environment_id,
                plan_id,
                statuses[TestResultStatus.PASSED],
                statuses[TestResultStatus.FAILED],
                statuses[TestResultStatus.SKIPPED],
            ),
        )
        for label, url in dict.fromkeys(
            (link.label, str(link.url)) for link in request.relevant_links
        ):
            self.rows.add(
                "test_execution_relevant_link",
                (
                    self.ids.next("test_execution_relevant_link"),
                    started,
                    started,
                    execution_id,
                    label,
                    url,
                ),
            )

        triggers_rerun = self._results(
            planned, results, (execution_id, environment_id), environment, arrived
        )
        settled = arrived if planned.results else started
        if triggers_rerun:
            self.reruns.setdefault(group, [0, settled])
        for pair in sorted((c, v) for c, values in planned.metadata.items() for v in values):
            metadata_id = self._once("test_execution_metadata", pair, settled, *pair)
            self.rows.add("test_execution_metadata_association_table", (execution_id, metadata_id))
        if planned.rerun_priority is not None:
            self.reruns.setdefault(group, [0, settled])[0] = planned.rerun_priority

    def _results(
        self,
        planned: PlannedExecution,
        results: list[IncomingResult],
        execution: tuple[int, int],
        environment: str,
        at: datetime,
    ) -> bool:
        """Write the results of `execution` (its id and environment id) and the attachments
        rules make; whether one of those issues asks for automatic reruns."""
        if not results:
            return False
        chosen_rules, cache = self._rules_for(planned, environment)
        triggers_rerun = False
        for result in results:
            case_id = self._once(
                "test_case", result.name, at, result.name, result.category, result.template_id
            )
            result_id = self.ids.next("test_result")
            self.rows.add(
                "test_result",
                (
                    result_id,
                    at,
                    at,
                    result.status.value,
                    result.comment,
                    result.io_log,
                    *execution,
                    case_id,
                ),
            )
            key = (result.name, result.template_id)
            rules = cache.get(key)
            if rules is None:
                cache[key] = rules = [r for r in chosen_rules if r.accepts_case(*key)]
            if not rules:
                continue
            # One attachment per issue, recording the issue's lowest matching rule.
            chosen: dict[int, int] = {}
            for rule in rules:
                if not rule.statuses or result.status.value in rule.statuses:
                    chosen.setdefault(rule.issue_id, rule.id)
            for issue_id, rule_id in sorted(chosen.items()):
                self.rows.add(
                    "issue_test_result_attachment",
                    (at, at, issue_id, result_id, rule_id),
                )
                triggers_rerun |= issue_id in self.auto_rerun
        return triggers_rerun

    def finish(self) -> None:
        for (plan_id, build_id, environment_id), (priority, at) in self.reruns.items():
            self.rows.add(
                "test_execution_rerun_request",
                (
                    self.ids.next("test_execution_rerun_request"),
                    at,
                    at,
                    plan_id,
                    build_id,
                    environment_id,
                    priority,
                ),
            )


def schedule(plan: SeedPlan, now: datetime) -> list[tuple[datetime, int]]:
    """(start, index) of every execution, in the order of their starts.

    Versions are released in order (every line's first version, then every line's second, ...),
    spread evenly over `RELEASE_EVERY` per version; each round of tests of a build starts a
    day after the previous one, each architecture an hour after the previous one.
    """
    families = len(FAMILIES)

    def release_order(artefact_index: int) -> tuple[int, int, int]:
        line, version = divmod(artefact_index // families, plan.versions_per_line)
        return version, line, artefact_index % families

    order = sorted(range(plan.artefacts), key=release_order)
    rank = {artefact_index: position for position, artefact_index in enumerate(order)}
    span = RELEASE_EVERY * plan.versions_per_line
    rounds = math.ceil(plan.executions / (plan.artefacts * plan.architectures))
    begin = now - span - ROUND_EVERY * rounds
    starts = []
    for index in range(plan.executions):
        round_, artefact_index, arch_slot = execution_slot(plan, index)
        release = begin + span * rank[artefact_index] / plan.artefacts
        starts.append((release + ROUND_EVERY * round_ + timedelta(hours=arch_slot), index))
    return sorted(starts)


def _set_sequences(session: Session, tables: Iterable[str]) -> None:
    for table in tables:
        session.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
            )
        )


def bulk_seed(
    engine: Engine,
    plan: SeedPlan,
    *,
    progress: Callable[[int], None] = lambda _: None,
    now: datetime | None = None,
) -> dict[str, int]:
    """Fill an empty database with the seed's dataset for `plan`, its newest rows dated
    around `now`; `progress` is called with the number of executions written."""
    factory = sessionmaker(engine)
    check_can_seed(factory, plan)
    now = now or datetime.now(UTC).replace(tzinfo=None)
    templates = _templates(plan.results)
    payloads = artefact_payloads(plan)
    with factory() as session, session.begin():
        issue_ids = create_issues(session, plan.issues, FAMILIES, templates)
        rules = _rules(session)
        auto_rerun = set(session.scalars(select(Issue.id).where(Issue.auto_rerun_enabled)))
        writer = _Writer(plan, rules, auto_rerun)
        cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
        done = 0
        starts = schedule(plan, now)
        for first in range(0, len(starts), CHUNK):
            chunk = starts[first : first + CHUNK]
            for started, index in chunk:
                writer.execution(plan_execution(plan, payloads, index), started)
            writer.rows.flush(cursor)
            done += len(chunk)
            progress(done)
        writer.finish()
        writer.rows.flush(cursor)
        _set_sequences(session, (table for table in TABLES if table not in NO_ID))
        attach_by_hand(session, issue_ids, FAMILIES, templates)
    # Failed results are signed as ingestion would have signed them, in batches.
    backfill(factory)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    return seeded_counts(factory)
