"""Finding one artefact (its row or its response) and deleting one."""

from __future__ import annotations

from sqlalchemy import (
    delete,
    select,
)
from sqlalchemy.orm import Session

from test_observer.db.models import (
    Artefact,
    ArtefactBuild,
    TestExecution,
    test_execution_metadata_association_table,
)
from test_observer.errors import NotFoundError

from .response_queries import artefact_responses
from .schemas import (
    ArtefactResponse,
)


def not_found(artefact_id: int) -> NotFoundError:
    return NotFoundError(f"Artefact with id {artefact_id} not found")


def get_artefact(session: Session, artefact_id: int, *, lock: bool = False) -> Artefact:
    query = select(Artefact).where(Artefact.id == artefact_id)
    if lock:
        query = query.with_for_update()
    artefact = session.scalar(query)
    if artefact is None:
        raise not_found(artefact_id)
    return artefact


def artefact_response(session: Session, artefact_id: int) -> ArtefactResponse:
    response = artefact_responses(session, [artefact_id]).get(artefact_id)
    if response is None:
        raise not_found(artefact_id)
    return response


def delete_artefact(session: Session, artefact_id: int) -> Artefact:
    """Delete an artefact with its builds, executions, results and reviews.

    The database cascades from the artefact row. Rows other artefacts may share (environments,
    test cases, test plans, execution metadata values) are left alone: only the links to them
    go.
    """
    artefact = session.scalar(select(Artefact).where(Artefact.id == artefact_id).with_for_update())
    if artefact is None:
        raise LookupError(f"Artefact with id {artefact_id} not found")
    # Explicit, so the deletion does not depend on how the association's foreign key cascades.
    execution_ids = (
        select(TestExecution.id)
        .join(ArtefactBuild, ArtefactBuild.id == TestExecution.artefact_build_id)
        .where(ArtefactBuild.artefact_id == artefact_id)
    )
    association = test_execution_metadata_association_table
    session.execute(delete(association).where(association.c.test_execution_id.in_(execution_ids)))
    session.execute(delete(Artefact).where(Artefact.id == artefact_id))
    return artefact
