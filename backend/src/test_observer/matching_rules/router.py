"""/v1/artefact-matching-rules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response, status

from test_observer.auth import AppSettings, Principal, requires
from test_observer.db.engine import DbSession
from test_observer.db.models import FamilyName, Permission
from test_observer.input_safety import EdgeRoute

from . import service
from .schemas import (
    ArtefactMatchingRulePatch,
    ArtefactMatchingRuleRequest,
    ArtefactMatchingRuleResponse,
)

router = APIRouter(
    prefix="/v1/artefact-matching-rules", tags=["artefact matching rules"], route_class=EdgeRoute
)

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"description": "The rule or a team does not exist"}
}


CEILING: dict[int | str, dict[str, Any]] = {
    status.HTTP_403_FORBIDDEN: {"description": "The caller lacks a permission the rule grants"}
}
ChangeTeam = Annotated[Principal, requires(Permission.change_team)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={
        **CEILING,
        status.HTTP_400_BAD_REQUEST: {"description": "No team given"},
        status.HTTP_409_CONFLICT: {"description": "A rule with these values exists"},
        **NOT_FOUND,
    },
)
def create_artefact_matching_rule(
    body: ArtefactMatchingRuleRequest,
    session: DbSession,
    settings: AppSettings,
    principal: ChangeTeam,
) -> ArtefactMatchingRuleResponse:
    """Create a rule; the caller must hold every permission it grants."""
    rule = service.create_rule(session, principal, settings, body, body.team_ids)
    return ArtefactMatchingRuleResponse.model_validate(rule)


@router.get("", dependencies=[requires(Permission.view_team)])
def get_artefact_matching_rules(
    session: DbSession, family: FamilyName | None = None
) -> list[ArtefactMatchingRuleResponse]:
    return [
        ArtefactMatchingRuleResponse.model_validate(rule)
        for rule in service.list_rules(session, family)
    ]


@router.get("/{rule_id}", dependencies=[requires(Permission.view_team)], responses=NOT_FOUND)
def get_artefact_matching_rule(rule_id: int, session: DbSession) -> ArtefactMatchingRuleResponse:
    return ArtefactMatchingRuleResponse.model_validate(service.get_rule(session, rule_id))


@router.patch(
    "/{rule_id}",
    responses={
        **CEILING,
        status.HTTP_400_BAD_REQUEST: {"description": "`team_ids` is empty"},
        status.HTTP_409_CONFLICT: {"description": "Another rule has these values"},
        **NOT_FOUND,
    },
)
def update_artefact_matching_rule(
    rule_id: int,
    body: ArtefactMatchingRulePatch,
    session: DbSession,
    settings: AppSettings,
    principal: ChangeTeam,
) -> ArtefactMatchingRuleResponse:
    """Change a rule; the caller must hold what it grants, before and after."""
    rule = service.update_rule(session, principal, settings, rule_id, body)
    return ArtefactMatchingRuleResponse.model_validate(rule)


@router.delete(
    "/{rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
)
def delete_artefact_matching_rule(
    rule_id: int, session: DbSession, principal: ChangeTeam
) -> Response:
    service.delete_rule(session, principal, rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
