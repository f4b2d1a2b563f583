"""Start-test: a CI job announces that it is testing a build on an environment with a plan.

Everything happens in the caller's transaction, so a failure leaves nothing behind.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import and_, delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from test_observer.artefacts.readiness_events import announce_readiness_of_executions
from test_observer.db.models import (
    ARTEFACT_IDENTITY,
    Artefact,
    ArtefactBuild,
    ArtefactBuildEnvironmentReview,
    Environment,
    FamilyName,
    TestExecution,
    TestExecutionRerunRequest,
    TestPlan,
)
from test_observer.errors import ConflictError, UnprocessableError
from test_observer.settings import Settings

from .assignment import assign_reviewers
from .identity import find_or_create
from .requests import (
    StartCharmTestExecutionRequest,
    StartDebTestExecutionRequest,
    StartImageTestExecutionRequest,
    StartSnapTestExecutionRequest,
    StartSolutionTestExecutionRequest,
)

StartTest = (
    StartSnapTestExecutionRequest
    | StartDebTestExecutionRequest
    | StartCharmTestExecutionRequest
    | StartImageTestExecutionRequest
    | StartSolutionTestExecutionRequest
)

# Solutions announced through start-test bundle no builds: their hash is that of no ids.
NO_BUNDLED_BUILDS_HASH = hashlib.sha256(b"").hexdigest()

IMAGE_DETAILS = (
    "name",
    "version",
    "os",
    "release",
    "owner",
    "image_url",
    "execution_stage",
    "arch",
)


def artefact_fields(request: StartTest) -> dict[str, Any]:
    """The artefact's columns as a new artefact would get them from this request."""
    fields: dict[str, Any] = {
        "family": FamilyName(request.family),
        "name": request.name,
        "version": request.version,
        "stage": str(request.execution_stage or ""),
    }
    match request:
        case StartSnapTestExecutionRequest():
            fields |= {"store": request.store, "track": request.track, "branch": request.branch}
        case StartCharmTestExecutionRequest():
            fields |= {"track": request.track, "branch": request.branch}
        case StartDebTestExecutionRequest():
            fields |= {"series": request.series, "repo": request.repo, "source": request.source}
        case StartSolutionTestExecutionRequest():
            fields |= {
                "track": request.track,
                "source": request.source,
                "bundled_builds_hash": NO_BUNDLED_BUILDS_HASH,
            }
        case StartImageTestExecutionRequest():
            fields |= {
                "sha256": request.sha256,
                "os": request.os,
                "release": request.release,
                "owner": request.owner,
                "image_url": str(request.image_url),
            }
    return fields


def _artefact(session: Session, request: StartTest) -> tuple[int, str]:
    """(artefact id, build architecture). Existing artefacts are reused unchanged."""
    family = FamilyName(request.family)
    partial_index = f"family = '{family.value}'"
    if isinstance(request, StartImageTestExecutionRequest):
        existing = session.scalar(
            select(Artefact.id).where(
                Artefact.family == FamilyName.image, Artefact.sha256 == request.sha256
            )
        )
        if existing is None:
            if any(getattr(request, name) is None for name in IMAGE_DETAILS):
                raise UnprocessableError(
                    "No image with this sha256 exists yet; provide the full image details to "
                    "create it."
                )
        else:
            return existing, _image_arch(session, existing, request.arch)

    fields = artefact_fields(request)
    key = {name: fields[name] for name in ARTEFACT_IDENTITY[family]}
    values = {name: value for name, value in fields.items() if name not in key}
    artefact_id, created = find_or_create(session, Artefact, key, values, index_where=partial_index)
    if isinstance(request, StartImageTestExecutionRequest) and not created:
        # A concurrent request created the image first: its builds decide, as above.
        return artefact_id, _image_arch(session, artefact_id, request.arch)
    assert request.arch is not None  # images reach here only with their full details
    return artefact_id, request.arch


def _image_arch(session: Session, artefact_id: int, arch: str | None) -> str:
    architectures = set(
        session.scalars(
            select(ArtefactBuild.architecture).where(ArtefactBuild.artefact_id == artefact_id)
        )
    )
    if arch is not None:
        # An image without builds yet accepts its first architecture.
        if architectures and arch not in architectures:
            raise UnprocessableError("'arch' must match the existing image build architecture.")
        return arch
    if len(architectures) != 1:
        raise UnprocessableError(
            "'arch' is required and could not be derived from the image's builds."
        )
    return architectures.pop()


def _build(session: Session, artefact_id: int, arch: str, revision: int | None) -> int:
    key: dict[str, Any] = {"artefact_id": artefact_id, "architecture": arch}
    if revision is None:
        build_id, _ = find_or_create(
            session, ArtefactBuild, key, {"revision": None}, index_where="revision IS NULL"
        )
    else:
        build_id, _ = find_or_create(
            session,
            ArtefactBuild,
            key | {"revision": revision},
            index_where="revision IS NOT NULL",
        )
    return build_id


def _execution(
    session: Session,
    request: StartTest,
    build_id: int,
    environment_id: int,
    test_plan_id: int,
) -> int:
    values = {
        "artefact_build_id": build_id,
        "environment_id": environment_id,
        "test_plan_id": test_plan_id,
        "status": request.initial_status,
    }
    if request.ci_link is None:
        return session.execute(
            insert(TestExecution).values(values).returning(TestExecution.id)
        ).scalar_one()
    execution_id, created = find_or_create(
        session, TestExecution, {"ci_link": request.ci_link}, values
    )
    if created:
        return execution_id
    # Reusing a ci_link must describe the same run; the lock serialises the relevant links
    # of concurrent retries.
    existing = session.execute(
        select(
            TestExecution.artefact_build_id,
            TestExecution.environment_id,
            TestExecution.test_plan_id,
        )
        .where(TestExecution.id == execution_id)
        .with_for_update(key_share=True)
    ).one()
    if tuple(existing) != (build_id, environment_id, test_plan_id):
        raise ConflictError(
            f"ci_link {request.ci_link!r} already belongs to test execution {execution_id}, "
            "which tests another build, environment or test plan",
        )
    return execution_id


def _add_relevant_links(session: Session, execution_id: int, request: StartTest) -> None:
    """Append the links the execution does not have yet, so retries add no duplicates."""
    links = list(dict.fromkeys((link.label, str(link.url)) for link in request.relevant_links))
    if not links:
        return
    session.execute(
        _ADD_LINKS,
        {
            "execution_id": execution_id,
            "labels": [label for label, _ in links],
            "urls": [url for _, url in links],
        },
    )


_ADD_LINKS = text(
    """
    INSERT INTO test_execution_relevant_link (test_execution_id, label, url)
    SELECT :execution_id, l.label, l.url
    FROM unnest(CAST(:labels AS varchar[]), CAST(:urls AS varchar[]))
         WITH ORDINALITY AS l(label, url, position)
    WHERE NOT EXISTS (
        SELECT 1 FROM test_execution_relevant_link AS existing
        WHERE existing.test_execution_id = :execution_id
          AND existing.label = l.label AND existing.url = l.url
    )
    ORDER BY l.position
    """
)


def start_test(session: Session, request: StartTest, settings: Settings) -> int:
    """The id of the execution the request describes, created with everything it needs."""
    artefact_id, arch = _artefact(session, request)
    environment_id, _ = find_or_create(
        session, Environment, {"name": request.environment, "architecture": arch}
    )
    revision = (
        request.revision
        if isinstance(request, StartSnapTestExecutionRequest | StartCharmTestExecutionRequest)
        else None
    )
    build_id = _build(session, artefact_id, arch, revision)
    find_or_create(
        session,
        ArtefactBuildEnvironmentReview,
        {"artefact_build_id": build_id, "environment_id": environment_id},
        {"review_decision": [], "review_comment": ""},
    )
    test_plan_id, _ = find_or_create(session, TestPlan, {"name": request.test_plan})
    execution_id = _execution(session, request, build_id, environment_id, test_plan_id)
    _add_relevant_links(session, execution_id, request)
    # CI is running the group again: the rerun it was asked for is under way.
    session.execute(
        delete(TestExecutionRerunRequest).where(
            and_(
                TestExecutionRerunRequest.test_plan_id == test_plan_id,
                TestExecutionRerunRequest.artefact_build_id == build_id,
                TestExecutionRerunRequest.environment_id == environment_id,
            )
        )
    )
    # Before the assignment's event (see `readiness_events`).
    announce_readiness_of_executions(session, [execution_id])
    if request.needs_assignment:
        assign_reviewers(session, artefact_id, settings)
    return execution_id
