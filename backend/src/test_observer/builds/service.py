"""The artefact page's builds: each latest build with its test executions.

Builds depend on both artefacts and executions, so they live in their own folder and neither of
those imports the other through them.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from test_observer.artefacts.queries import latest_builds
from test_observer.artefacts.schemas import ArtefactMinimalResponse
from test_observer.artefacts.service import get_artefact
from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    Environment,
    TestExecution,
    artefact_bundled_builds_association,
)
from test_observer.executions.response_queries import execution_responses

from .schemas import ArtefactBuildResponse


def artefact_builds(session: Session, artefact_id: int) -> list[ArtefactBuildResponse]:
    get_artefact(session, artefact_id)
    latest = latest_builds([artefact_id]).subquery()
    builds = session.scalars(
        select(ArtefactBuild)
        .join(latest, latest.c.id == ArtefactBuild.id)
        .order_by(ArtefactBuild.architecture, ArtefactBuild.id)
    ).all()
    build_ids = [build.id for build in builds]
    if not build_ids:
        return []

    executions_by_build: dict[int, list[int]] = defaultdict(list)
    for execution_id, build_id in session.execute(
        select(TestExecution.id, TestExecution.artefact_build_id)
        .join(Environment, Environment.id == TestExecution.environment_id)
        .where(TestExecution.artefact_build_id.in_(build_ids))
        .order_by(Environment.name, TestExecution.id)
    ):
        executions_by_build[build_id].append(execution_id)
    executions = execution_responses(
        session, [e for ids in executions_by_build.values() for e in ids]
    )

    bundled_in: dict[int, list[ArtefactMinimalResponse]] = defaultdict(list)
    association = artefact_bundled_builds_association
    for build_id, solution in session.execute(
        select(association.c.artefact_build_id, Artefact)
        .join(Artefact, Artefact.id == association.c.artefact_id)
        .where(association.c.artefact_build_id.in_(build_ids))
        .order_by(Artefact.id)
    ):
        bundled_in[build_id].append(
            ArtefactMinimalResponse(
                id=solution.id,
                name=solution.name,
                version=solution.version,
                family=solution.family,
            )
        )

    return [
        ArtefactBuildResponse(
            id=build.id,
            architecture=build.architecture,
            revision=build.revision,
            test_executions=[executions[e] for e in executions_by_build[build.id]],
            bundled_in=bundled_in[build.id],
        )
        for build in builds
    ]
