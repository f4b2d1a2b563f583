"""A realistic, deterministic dataset for development and benchmarks.

Everything goes through the same service functions CI requests use (start-test, end-test,
posting results, metadata, reruns), so the data has the shape the API produces. Work is
committed in batches; a rerun of the same numbers and seed builds the same database. What each
execution does is planned apart from how it is written (`plan_execution`, from a random
generator of its own), so that `bulk_seed` writes the same executions with COPY.

Shape: artefacts are spread over the five families in lines of several versions (so results
have history), each version is built for every architecture, and executions walk through the
(artefact, architecture, environment) combinations. Each execution gets its results from a
shared pool of test names per family, mostly passing, with failures carrying long logs.
Issues triage recurring failures, some through attachment rules, others by hand.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from test_observer.auth import Principal
from test_observer.db.models import (
    Artefact,
    FamilyName,
    Issue,
    IssueTestResultAttachment,
    IssueTestResultAttachmentRule,
    Permission,
    TestExecution,
    TestResult,
    TestResultStatus,
)
from test_observer.executions.requests import (
    C3_STATUS,
    C3TestResult,
    EndTestExecutionRequest,
    StartTestRequest,
    TestExecutionsPatchRequest,
    TestResultRequest,
)
from test_observer.executions.reruns import RerunRequest, create_reruns
from test_observer.executions.results import IncomingResult, end_test, post_results
from test_observer.executions.service import patch_execution
from test_observer.executions.start import StartTest, start_test
from test_observer.settings import Settings

from .issues import attach_by_hand, create_issues

FAMILIES = list(FamilyName)
ARCHITECTURES = ["amd64", "arm64", "armhf", "riscv64", "s390x", "ppc64el"]
CATEGORIES = ["Audio", "Bluetooth", "CPU", "Disk", "Graphics", "Networking", "Power", "USB"]
_START: TypeAdapter[StartTest] = TypeAdapter(StartTestRequest)
C3_NAMES = {status: c3 for c3, status in C3_STATUS.items()}
# The seeder acts with every permission ignored, as no caller in particular.
SEEDER = Principal()


@dataclass(frozen=True)
class SeedPlan:
    artefacts: int = 300
    architectures: int = 3
    environments: int = 10
    executions: int = 2600
    results: int = 200
    # Versions of each artefact line: more versions grow history without growing dashboards.
    versions_per_line: int = 5
    seed: int = 0
    batch: int = 50
    # Issues triaging recurring failures (see seeding/issues.py).
    issues: int = 60

    def with_history(self, factor: int) -> SeedPlan:
        """`factor` times the history: `factor` times the versions of every artefact line,
        each tested as often as before. The dashboards, which show the newest version of each
        line, keep their size (but for charms, where every artefact is its own line)."""
        return replace(
            self,
            artefacts=self.artefacts * factor,
            versions_per_line=self.versions_per_line * factor,
            executions=self.executions * factor,
        )


def _artefact_payload(index: int, family: FamilyName, versions_per_line: int) -> dict[str, Any]:
    line, version = divmod(index, versions_per_line)
    name = f"{family.value}-{line:03d}"
    if family == FamilyName.deb and line % 4 == 0:
        name = f"linux-{name}"
    base: dict[str, Any] = {"family": family.value, "name": name, "version": f"1.{version}.0"}
    match family:
        case FamilyName.snap:
            base |= {"track": "latest", "store": "ubuntu", "execution_stage": "beta"}
        case FamilyName.charm:
            base |= {"track": "14", "execution_stage": "candidate"}
        case FamilyName.deb:
            base |= {"series": "noble", "repo": "main", "execution_stage": "proposed"}
        case FamilyName.solution:
            base |= {"track": "2024.1", "source": "sunbeam", "execution_stage": "edge"}
        case FamilyName.image:
            base |= {
                "sha256": f"{index:064x}",
                "os": "ubuntu",
                "release": "noble",
                "owner": "certification",
                "image_url": f"https://images.example.com/{name}/{version}.img",
                "execution_stage": "pending",
            }
    return base


def _io_log(rng: random.Random, name: str, status: TestResultStatus) -> str:
    if status == TestResultStatus.PASSED:
        return "" if rng.random() < 0.7 else f"{name}: ok\n"
    lines = rng.randint(5, 40)
    return "".join(_step(i, name, i == lines - 1, rng.randint(1, 120)) for i in range(lines))


def _step(i: int, name: str, last: bool, errno: int) -> str:
    # The failing step says why, as real logs do: the failures then fall into causes (one per
    # error number) that failure signatures group.
    outcome = f"FAILED: {os.strerror(errno)}" if last else "ok"
    return f"[{i:04d}] {name}: step {i} {outcome} (errno {errno})\n"


def _template(i: int) -> str:
    return f"{CATEGORIES[i % len(CATEGORIES)].lower()}/check_{i // 8:03d}"


def _templates(results: int) -> list[str]:
    return list(dict.fromkeys(_template(i) for i in range(results)))


def _results(rng: random.Random, family: FamilyName, count: int) -> list[IncomingResult]:
    results = []
    for i in range(count):
        template = _template(i)
        name = f"{family.value}/{template}_{i % 3}"
        roll = rng.random()
        status = (
            TestResultStatus.FAILED
            if roll < 0.05
            else TestResultStatus.SKIPPED
            if roll < 0.1
            else TestResultStatus.PASSED
        )
        results.append(
            IncomingResult(
                name=name,
                status=status,
                category=CATEGORIES[i % len(CATEGORIES)],
                template_id=template,
                comment="" if status == TestResultStatus.PASSED else "see log",
                io_log=_io_log(rng, name, status),
            )
        )
    return results


class Outcome(Enum):
    ENDED = "ended"  # finished through end-test with every result
    RUNNING = "running"  # still running, half of its results posted
    STARTED = "started"  # started, nothing posted yet


@dataclass(frozen=True)
class PlannedExecution:
    """What the seed does for one execution; the same whichever way it is written."""

    index: int
    artefact_index: int
    # The position of the build's architecture among the plan's (before images pin theirs).
    arch_slot: int
    # The pass over all (artefact, architecture) combinations this execution belongs to.
    round: int
    payload: dict[str, Any]
    outcome: Outcome
    results: list[IncomingResult]
    metadata: dict[str, list[str]]
    rerun_priority: int | None

    @property
    def family(self) -> FamilyName:
        return FamilyName(self.payload["family"])

    @property
    def ci_link(self) -> str:
        return str(self.payload["ci_link"])

    @property
    def c3_link(self) -> str:
        return f"https://c3.example.com/submissions/{self.index}"


CHECKBOX_VERSION = "4.1.0"


def artefact_payloads(plan: SeedPlan) -> list[dict[str, Any]]:
    return [
        _artefact_payload(i // len(FAMILIES), FAMILIES[i % len(FAMILIES)], plan.versions_per_line)
        for i in range(plan.artefacts)
    ]


def execution_slot(plan: SeedPlan, index: int) -> tuple[int, int, int]:
    """(round, artefact index, architecture slot) of execution `index`: executions walk
    through every (artefact, architecture) combination, round after round."""
    round_, slot = divmod(index, plan.artefacts * plan.architectures)
    artefact_index, arch_slot = divmod(slot, plan.architectures)
    return round_, artefact_index, arch_slot


def plan_execution(plan: SeedPlan, payloads: list[dict[str, Any]], index: int) -> PlannedExecution:
    """Execution `index` of the plan. Each execution draws from a generator of its own, so
    executions can be produced in any order and still be the same."""
    rng = random.Random(f"{plan.seed}/{index}")
    round_, artefact_index, arch_slot = execution_slot(plan, index)
    environment = (round_ + arch_slot * 7 + artefact_index) % plan.environments
    payload = dict(payloads[artefact_index])
    family = FamilyName(payload["family"])
    # An image is built for one architecture only.
    arch_index = artefact_index % plan.architectures if family == FamilyName.image else arch_slot
    arch = ARCHITECTURES[arch_index]
    ci_link = f"https://ci.example.com/job/{family.value}/{index}"
    payload |= {
        "arch": arch,
        "environment": f"{arch}-lab-{environment:02d}",
        "test_plan": f"{family.value}-certification",
        "ci_link": ci_link,
        "relevant_links": [{"label": "Job", "url": ci_link}],
        "needs_assignment": False,
    }
    if family in (FamilyName.snap, FamilyName.charm):
        payload["revision"] = 100 + artefact_index
    roll = rng.random()
    outcome = Outcome.ENDED if roll < 0.85 else Outcome.RUNNING if roll < 0.95 else Outcome.STARTED
    count = {Outcome.ENDED: plan.results, Outcome.RUNNING: plan.results // 2}.get(outcome, 0)
    return PlannedExecution(
        index=index,
        artefact_index=artefact_index,
        arch_slot=arch_slot,
        round=round_,
        payload=payload,
        outcome=outcome,
        results=_results(rng, family, count),
        metadata={"lab": [f"lab-{environment % 3}"]} if index % 2 == 0 else {},
        rerun_priority=index % 3 if index % 10 == 0 else None,
    )


def check_can_seed(factory: sessionmaker[Session], plan: SeedPlan) -> None:
    """Raise ValueError when `plan` cannot be seeded into this database."""
    if plan.architectures > len(ARCHITECTURES):
        raise ValueError(f"At most {len(ARCHITECTURES)} architectures can be seeded")
    with factory() as session:
        if session.scalar(select(func.count()).select_from(Artefact)):
            raise ValueError(
                "The database already holds artefacts: seed an empty one (a new DB_URL, or "
                "reset the embedded one with `test-observer db embedded reset --yes`)"
            )


def seed(
    factory: sessionmaker[Session],
    plan: SeedPlan,
    settings: Settings,
    *,
    progress: Callable[[int], None] = lambda _: None,
) -> dict[str, int]:
    """Fill an empty database; `progress` is called with the number of executions done."""
    check_can_seed(factory, plan)
    payloads = artefact_payloads(plan)
    templates = _templates(plan.results)
    # Rules exist before results arrive, so that ingestion attaches through its hook.
    with factory() as session, session.begin():
        issue_ids = create_issues(session, plan.issues, FAMILIES, templates)
    done = 0
    while done < plan.executions:
        with factory() as session, session.begin():
            for index in range(done, min(done + plan.batch, plan.executions)):
                _one_execution(session, settings, plan_execution(plan, payloads, index))
        done = min(done + plan.batch, plan.executions)
        progress(done)
    with factory() as session, session.begin():
        attach_by_hand(session, issue_ids, FAMILIES, templates)
    return seeded_counts(factory)


def seeded_counts(factory: sessionmaker[Session]) -> dict[str, int]:
    """What the database holds, by the names the seed's summary uses."""
    with factory() as session:
        return {
            name: session.scalar(select(func.count()).select_from(model)) or 0
            for name, model in (
                ("artefacts", Artefact),
                ("executions", TestExecution),
                ("results", TestResult),
                ("issues", Issue),
                ("attachment_rules", IssueTestResultAttachmentRule),
                ("attachments", IssueTestResultAttachment),
            )
        }


def _one_execution(session: Session, settings: Settings, planned: PlannedExecution) -> None:
    request: StartTest = _START.validate_python(planned.payload)
    execution_id = start_test(session, request, settings)
    results = planned.results
    if planned.outcome == Outcome.ENDED:
        # Finished: the final list through end-test, which also sets the status.
        end_test(
            session,
            EndTestExecutionRequest.model_construct(
                ci_link=planned.ci_link,
                c3_link=planned.c3_link,
                checkbox_version=CHECKBOX_VERSION,
                test_results=[
                    C3TestResult.model_construct(
                        name=r.name,
                        template_id=r.template_id,
                        status=C3_NAMES[r.status],
                        category=r.category,
                        comment=r.comment,
                        io_log=r.io_log,
                    )
                    for r in results
                ],
            ),
        )
    elif planned.outcome == Outcome.RUNNING:
        post_results(
            session,
            execution_id,
            [
                TestResultRequest.model_construct(
                    name=r.name,
                    status=r.status,
                    template_id=r.template_id,
                    category=r.category,
                    comment=r.comment,
                    io_log=r.io_log,
                )
                for r in results
            ],
        )
    if planned.metadata:
        patch_execution(
            session,
            execution_id,
            TestExecutionsPatchRequest(execution_metadata=planned.metadata),
        )
    if planned.rerun_priority is not None:
        create_reruns(
            session,
            SEEDER,
            settings.model_copy(update={"ignore_permissions": frozenset(Permission)}),
            RerunRequest(test_execution_ids={execution_id}, priority=planned.rerun_priority),
            silent=True,
        )
