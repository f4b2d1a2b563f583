"""/v1/teams: groups of users with permissions and artefact matching rules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, status

from test_observer.auth import AppSettings, Principal, requires
from test_observer.db.engine import DbSession
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
CEILING: dict[int | str, dict[str, Any]] = {
    status.HTTP_403_FORBIDDEN: {
        "description": "The caller lacks a permission it would grant, or one the team grants"
    }
}


@router.get("", dependencies=[requires(Permission.view_team)])
def get_teams(session: DbSession) -> list[TeamResponse]:
    return service.list_teams(session)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={
        status.HTTP_409_CONFLICT: {"description": "A team with this name exists"},
        **CEILING,
    },
)
def create_team(
    body: TeamCreate,
    session: DbSession,
    settings: AppSettings,
    principal: Annotated[Principal, requires(Permission.change_team)],
) -> TeamResponse:
    """Create a team; the caller must hold every permission it and its rules grant."""
    return service.create_team(
        session,
        principal,
        settings,
        body.name,
        body.permissions,
        body.artefact_matching_rules,
        body.launchpad_team,
    )


@router.get("/{team_id}", dependencies=[requires(Permission.view_team)], responses=TEAM_NOT_FOUND)
def get_team(team_id: int, session: DbSession) -> TeamResponse:
    return service.team_response(session, team_id)


@router.patch("/{team_id}", responses={**TEAM_NOT_FOUND, **CEILING})
def update_team(
    team_id: int,
    body: TeamPatch,
    session: DbSession,
    settings: AppSettings,
    principal: Annotated[Principal, requires(Permission.change_team)],
) -> TeamResponse:
    """Replace the team's permissions, its rule set and/or its Launchpad link (fields left out
    are kept). The caller must hold everything the team grants, before and after."""
    return service.update_team(session, principal, settings, team_id, body)


@router.post(
    "/{team_id}/members/{user_id}",
    responses={
        **MEMBER_NOT_FOUND,
        **CEILING,
        status.HTTP_409_CONFLICT: {"description": "The team follows a Launchpad team"},
    },
)
def add_team_member(
    team_id: int,
    user_id: int,
    session: DbSession,
    settings: AppSettings,
    principal: Annotated[Principal, requires(Permission.change_team)],
) -> TeamResponse:
    """Add a user; the caller must hold everything the team grants."""
    return service.add_member(session, principal, settings, team_id, user_id)


@router.delete("/{team_id}/members/{user_id}", responses=MEMBER_NOT_FOUND)
def remove_team_member(
    team_id: int,
    user_id: int,
    session: DbSession,
    principal: Annotated[Principal, requires(Permission.change_team)],
) -> TeamResponse:
    return service.remove_member(session, principal, team_id, user_id)
