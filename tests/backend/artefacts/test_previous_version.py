"""The previous version of an artefact, shared by missing environments, comparison and readiness."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from test_observer.artefacts.previous import previous_artefact_id, previous_artefact_ids
from test_observer.db.models import Artefact, FamilyName
from test_observer.errors import NotFoundError
from tests.backend.factories import make_artefact
from tests.backend.statements import count_statements

START = datetime(2026, 1, 1)

# For each family: the fields of one line, and a field whose change starts another line.
LINES = {
    FamilyName.snap: ({"name": "core", "store": "ubuntu", "track": "22", "branch": ""}, "branch"),
    FamilyName.charm: ({"name": "pg", "track": "14", "branch": ""}, "track"),
    FamilyName.deb: ({"name": "linux", "series": "noble", "repo": "main", "source": ""}, "series"),
    FamilyName.image: ({"name": "ubuntu", "os": "ubuntu", "release": "noble"}, "release"),
    FamilyName.solution: ({"name": "stack", "source": "s", "track": "1"}, "source"),
}


def _version(
    session: Session, family: FamilyName, version: str, day: int, **fields: object
) -> Artefact:
    line, _ = LINES[family]
    values = {"stage": "beta", **line, **fields}
    if family is FamilyName.image:
        values.setdefault("sha256", f"{values['release']}-{version}")
    return make_artefact(
        session,
        family=family,
        version=version,
        created_at=START + timedelta(days=day),
        **values,
    )


@pytest.mark.parametrize("family", list(FamilyName))
def test_previous_is_the_newest_earlier_version_of_the_line(
    db_session: Session, engine: Engine, family: FamilyName
) -> None:
    _, other_field = LINES[family]
    first = _version(db_session, family, "1", 0)
    second = _version(db_session, family, "2", 1, archived=True, stage="stable")
    third = _version(db_session, family, "3", 2)
    # Another line, created in between, never counts.
    _version(db_session, family, "2.5", 1, **{other_field: "other"})
    db_session.commit()

    assert previous_artefact_id(db_session, first.id) is None
    # Archived and at another stage: still the version signed off last time.
    assert previous_artefact_id(db_session, third.id) == second.id
    assert previous_artefact_id(db_session, second.id) == first.id
    with count_statements(engine) as counter:
        found = previous_artefact_ids(db_session, [first.id, second.id, third.id, 999_999])
    assert found == {first.id: None, second.id: first.id, third.id: second.id}
    assert counter.count == 1


def test_other_families_with_the_same_name_are_other_lines(db_session: Session) -> None:
    snap = _version(db_session, FamilyName.snap, "1", 0, name="shared")
    charm = _version(db_session, FamilyName.charm, "2", 1, name="shared")
    db_session.commit()
    assert previous_artefact_id(db_session, charm.id) is None
    assert previous_artefact_ids(db_session, [snap.id, charm.id]) == {snap.id: None, charm.id: None}


def test_an_unknown_artefact_is_not_found(db_session: Session) -> None:
    with pytest.raises(NotFoundError):
        previous_artefact_id(db_session, 12345)
    assert previous_artefact_ids(db_session, []) == {}
