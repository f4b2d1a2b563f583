"""SQL building blocks about artefacts that several domains share."""

from collections.abc import Collection

from sqlalchemy import Select, func, select
from sqlalchemy.dialects.postgresql import distinct_on

from test_observer.db.ids import one_of
from test_observer.db.models import ArtefactBuild


def latest_builds(artefact_ids: Collection[int] | None = None) -> Select[int, int]:
    """(build id, artefact id) of each artefact's latest build per architecture.

    Latest = highest revision, a missing revision counting as 0; on a tie the oldest build.
    """
    query = (
        select(ArtefactBuild.id, ArtefactBuild.artefact_id)
        .ext(distinct_on(ArtefactBuild.artefact_id, ArtefactBuild.architecture))
        .order_by(
            ArtefactBuild.artefact_id,
            ArtefactBuild.architecture,
            func.coalesce(ArtefactBuild.revision, 0).desc(),
            ArtefactBuild.id,
        )
    )
    if artefact_ids is not None:
        query = query.where(one_of(ArtefactBuild.artefact_id, artefact_ids))
    return query
