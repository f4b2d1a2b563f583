"""/v1/artefact-matching-rules."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from test_observer.auth import requires
from test_observer.auth.access import DbSession
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


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires(Permission.change_team)],
    responses={
        status.HTTP_400_BAD_REQUEST: {"description": "No team given"},
        status.HTTP_409_CONFLICT: {"description": "A rule with these values exists"},
        **NOT_FOUND,
    },
)
def create_artefact_matching_rule(
    body: ArtefactMatchingRuleRequest, session: DbSession
) -> ArtefactMatchingRuleResponse:
    rule = service.create_rule(session, body, body.team_ids)
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
    dependencies=[requires(Permission.change_team)],
    responses={
        status.HTTP_400_BAD_REQUEST: {"description": "`team_ids` is empty"},
        status.HTTP_409_CONFLICT: {"description": "Another rule has these values"},
        **NOT_FOUND,
    },
)
def update_artefact_matching_rule(
    rule_id: int, body: ArtefactMatchingRulePatch, session: DbSession
) -> ArtefactMatchingRuleResponse:
    rule = service.update_rule(session, rule_id, body)
    return ArtefactMatchingRuleResponse.model_validate(rule)


@router.delete(
    "/{rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[requires(Permission.change_team)],
    responses=NOT_FOUND,
)
def delete_artefact_matching_rule(rule_id: int, session: DbSession) -> Response:
    service.delete_rule(session, rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
