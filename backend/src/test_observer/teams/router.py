"""/v1/teams: groups of users with permissions and artefact matching rules."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from test_observer.auth import requires
from test_observer.auth.access import DbSession
from test_observer.db.models import Permission
from test_observer.input_safety import EdgeRoute

from . import service
from .schemas import TeamCreate, TeamPatch, TeamResponse

router = APIRouter(prefix="/v1/teams", tags=["teams"], route_class=EdgeRoute)

TEAM_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"description": "The team does not exist"}
}
MEMBER_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"description": "The team or user does not exist"}
}


@router.get("", dependencies=[requires(Permission.view_team)])
def get_teams(session: DbSession) -> list[TeamResponse]:
    return service.list_teams(session)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires(Permission.change_team)],
    responses={status.HTTP_409_CONFLICT: {"description": "A team with this name exists"}},
)
def create_team(body: TeamCreate, session: DbSession) -> TeamResponse:
    return service.create_team(session, body.name, body.permissions, body.artefact_matching_rules)


@router.get("/{team_id}", dependencies=[requires(Permission.view_team)], responses=TEAM_NOT_FOUND)
def get_team(team_id: int, session: DbSession) -> TeamResponse:
    return service.team_response(session, team_id)


@router.patch(
    "/{team_id}", dependencies=[requires(Permission.change_team)], responses=TEAM_NOT_FOUND
)
def update_team(team_id: int, body: TeamPatch, session: DbSession) -> TeamResponse:
    """Replace the team's permissions and/or its rule set (fields left out are kept)."""
    return service.update_team(session, team_id, body.permissions, body.artefact_matching_rules)


@router.post(
    "/{team_id}/members/{user_id}",
    dependencies=[requires(Permission.change_team)],
    responses=MEMBER_NOT_FOUND,
)
def add_team_member(team_id: int, user_id: int, session: DbSession) -> TeamResponse:
    return service.add_member(session, team_id, user_id)


@router.delete(
    "/{team_id}/members/{user_id}",
    dependencies=[requires(Permission.change_team)],
    responses=MEMBER_NOT_FOUND,
)
def remove_team_member(team_id: int, user_id: int, session: DbSession) -> TeamResponse:
    return service.remove_member(session, team_id, user_id)
