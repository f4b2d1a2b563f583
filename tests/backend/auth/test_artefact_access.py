"""Artefact-scoped permissions: artefact matching rules grant a permission on the artefacts they
match, to the members of their teams (never to applications)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from test_observer.auth import Principal, require_artefact_permission
from test_observer.auth.keys import digest_api_key
from test_observer.db.models import (
    Application,
    Artefact,
    ArtefactMatchingRule,
    FamilyName,
    Permission,
    Team,
    User,
)
from test_observer.errors import DomainError
from test_observer.settings import Settings

CHANGE = Permission.change_artefact


def artefact(session: Session, **fields: Any) -> Artefact:
    values: dict[str, Any] = {
        "name": "core22",
        "version": "1",
        "stage": "beta",
        "family": FamilyName.snap,
        "track": "latest",
        "store": "ubuntu",
        **fields,
    }
    row = Artefact(**values)
    session.add(row)
    session.flush()
    return row


def user_in_team_with_rule(
    session: Session, *, grant: list[Permission], **rule_fields: Any
) -> User:
    user = User(email="ada@example.com", name="Ada")
    team = Team(name="reviewers", permissions=[])
    rule = ArtefactMatchingRule(
        **{"family": FamilyName.snap, **rule_fields}, grant_permissions=grant
    )
    rule.teams = [team]
    team.members = [user]
    session.add_all([user, team, rule])
    session.flush()
    return user


def check(session: Session, principal: Principal, ids: list[int], **settings: Any) -> None:
    require_artefact_permission(
        session,
        principal,
        Settings(db_url="postgresql+psycopg://localhost/unused", **settings),
        CHANGE,
        ids,
    )


def denied(session: Session, principal: Principal, ids: list[int], **settings: Any) -> bool:
    try:
        check(session, principal, ids, **settings)
    except DomainError as error:
        outcome = (error.status_code, error.detail)
    else:
        return False
    assert outcome == (403, "Insufficient permissions")
    return True


def test_matching_rule_of_users_team_grants_permission(db_session: Session) -> None:
    user = user_in_team_with_rule(db_session, grant=[CHANGE], stage="beta")
    target = artefact(db_session)
    assert not denied(db_session, Principal(user=user), [target.id])


def test_rule_without_the_permission_does_not_grant_it(db_session: Session) -> None:
    user = user_in_team_with_rule(db_session, grant=[Permission.change_rerun])
    target = artefact(db_session)
    assert denied(db_session, Principal(user=user), [target.id])


def test_rule_of_another_team_does_not_grant(db_session: Session) -> None:
    user_in_team_with_rule(db_session, grant=[CHANGE])
    outsider = User(email="bob@example.com", name="Bob")
    db_session.add(outsider)
    target = artefact(db_session)
    assert denied(db_session, Principal(user=outsider), [target.id])


def test_no_matching_rule_denies(db_session: Session) -> None:
    user = user_in_team_with_rule(db_session, grant=[CHANGE], stage="edge")
    assert denied(db_session, Principal(user=user), [artefact(db_session).id])
    other_family = artefact(db_session, family=FamilyName.charm, name="pg", store="")
    assert denied(db_session, Principal(user=user), [other_family.id])


@pytest.mark.parametrize("field", ["stage", "track", "name", "store"])
def test_every_non_empty_rule_field_must_equal_the_artefacts(
    db_session: Session, field: str
) -> None:
    user = user_in_team_with_rule(db_session, grant=[CHANGE], **{field: "something-else"})
    assert denied(db_session, Principal(user=user), [artefact(db_session).id])


def test_all_artefacts_must_be_granted(db_session: Session) -> None:
    user = user_in_team_with_rule(db_session, grant=[CHANGE], stage="beta")
    beta = artefact(db_session)
    edge = artefact(db_session, version="2", stage="edge")
    assert not denied(db_session, Principal(user=user), [beta.id])
    assert denied(db_session, Principal(user=user), [beta.id, edge.id])


def test_unknown_artefact_ids_are_denied(db_session: Session) -> None:
    user = user_in_team_with_rule(db_session, grant=[CHANGE])
    target = artefact(db_session)
    assert denied(db_session, Principal(user=user), [target.id, target.id + 1000])


def test_no_artefacts_pass(db_session: Session) -> None:
    user = User(email="ada@example.com", name="Ada")
    db_session.add(user)
    db_session.flush()
    assert not denied(db_session, Principal(user=user), [])


def test_applications_never_get_artefact_scoped_grants(db_session: Session) -> None:
    """P8: even an application whose name matches nothing special is refused."""
    user_in_team_with_rule(db_session, grant=[CHANGE])
    app = Application(
        name="ci", permissions=[], api_key_digest=digest_api_key("to_x"), api_key_prefix="to_x"
    )
    db_session.add(app)
    db_session.flush()
    target = artefact(db_session)
    assert denied(db_session, Principal(application=app), [target.id])
    assert denied(db_session, Principal(), [target.id])


def test_general_grants_pass_without_rules(db_session: Session) -> None:
    target = artefact(db_session)
    admin = User(email="root@example.com", name="Root", is_admin=True)
    app = Application(
        name="ci", permissions=[CHANGE], api_key_digest=digest_api_key("to_y"), api_key_prefix="x"
    )
    db_session.add_all([admin, app])
    db_session.flush()
    assert not denied(db_session, Principal(user=admin), [target.id])
    assert not denied(db_session, Principal(application=app, granted=frozenset({CHANGE})), [1])
    assert not denied(db_session, Principal(), [target.id], ignore_permissions="change_artefact")


def test_one_query_for_many_artefacts(db_session: Session) -> None:
    user = user_in_team_with_rule(db_session, grant=[CHANGE])
    ids = [artefact(db_session, version=str(n)).id for n in range(20)]
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    engine = db_session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        check(db_session, Principal(user=user), ids)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1
