"""Teams: permissions, members and rule sets."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, selectinload

from test_observer.db.models import Permission, Team, User, team_users_association
from test_observer.errors import ConflictError, NotFoundError
from test_observer.matching_rules import service as rules
from test_observer.matching_rules.schemas import (
    ArtefactMatchingRuleBase,
    ArtefactMatchingRuleInResponse,
)

from .schemas import TeamResponse, UserMinimalResponse


def _team_not_found(team_id: int) -> NotFoundError:
    return NotFoundError(f"Team {team_id} doesn't exist")


def _responses(session: Session, teams: Sequence[Team]) -> list[TeamResponse]:
    """Teams with their members and rules, loaded with one query each for all teams."""
    rules_by_team = rules.rules_of_teams(session, [team.id for team in teams])
    return [
        TeamResponse(
            id=team.id,
            name=team.name,
            permissions=list(team.permissions),
            members=[UserMinimalResponse.model_validate(user) for user in team.members],
            artefact_matching_rules=[
                ArtefactMatchingRuleInResponse.model_validate(rule)
                for rule in rules_by_team[team.id]
            ],
        )
        for team in teams
    ]


def _load(session: Session, team_ids: Sequence[int] | None = None) -> list[Team]:
    query = (
        select(Team)
        .options(selectinload(Team.members))
        .order_by(Team.id)
        .execution_options(populate_existing=True)
    )
    if team_ids is not None:
        query = query.where(Team.id.in_(team_ids))
    return list(session.scalars(query))


def team_response(session: Session, team_id: int) -> TeamResponse:
    teams = _load(session, [team_id])
    if not teams:
        raise _team_not_found(team_id)
    return _responses(session, teams)[0]


def list_teams(session: Session) -> list[TeamResponse]:
    return _responses(session, _load(session))


def create_team(
    session: Session,
    name: str,
    permissions: list[Permission],
    matching_rules: list[ArtefactMatchingRuleBase],
) -> TeamResponse:
    team_id = session.scalar(
        insert(Team)
        .values(name=name, permissions=list(dict.fromkeys(permissions)))
        .on_conflict_do_nothing(index_elements=[Team.name])
        .returning(Team.id)
    )
    if team_id is None:
        raise ConflictError(f"Team with name '{name}' already exists")
    if matching_rules:
        rules.replace_team_rules(session, team_id, matching_rules)
    return team_response(session, team_id)


def _lock(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id, with_for_update=True)
    if team is None:
        raise _team_not_found(team_id)
    return team


def update_team(
    session: Session,
    team_id: int,
    permissions: list[Permission] | None,
    matching_rules: list[ArtefactMatchingRuleBase] | None,
) -> TeamResponse:
    team = _lock(session, team_id)
    if permissions is not None:
        team.permissions = list(dict.fromkeys(permissions))
        session.flush()
    if matching_rules is not None:
        rules.replace_team_rules(session, team_id, matching_rules)
    return team_response(session, team_id)


def _require_user(session: Session, user_id: int) -> None:
    if session.scalar(select(User.id).where(User.id == user_id)) is None:
        raise NotFoundError(f"User {user_id} doesn't exist")


def add_member(session: Session, team_id: int, user_id: int) -> TeamResponse:
    _lock(session, team_id)
    _require_user(session, user_id)
    session.execute(
        insert(team_users_association)
        .values(team_id=team_id, user_id=user_id)
        .on_conflict_do_nothing()
    )
    return team_response(session, team_id)


def remove_member(session: Session, team_id: int, user_id: int) -> TeamResponse:
    _lock(session, team_id)
    _require_user(session, user_id)
    session.execute(
        delete(team_users_association).where(
            team_users_association.c.team_id == team_id,
            team_users_association.c.user_id == user_id,
        )
    )
    return team_response(session, team_id)
