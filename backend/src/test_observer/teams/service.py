"""Teams: permissions, members and rule sets."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select, union_all, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from test_observer.audit.service import record_audit_event
from test_observer.auth import Principal
from test_observer.auth.ceiling import require_within_ceiling
from test_observer.db.models import (
    ArtefactMatchingRule,
    Permission,
    Team,
    User,
    artefact_matching_rule_team_association,
    team_users_association,
)
from test_observer.errors import ConflictError, ForbiddenError, NotFoundError
from test_observer.matching_rules import service as rules
from test_observer.matching_rules.schemas import (
    ArtefactMatchingRuleBase,
    ArtefactMatchingRuleInResponse,
)
from test_observer.settings import Settings

from .schemas import TeamPatch, TeamResponse, UserMinimalResponse

TARGET = "team"


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
            launchpad_team=team.launchpad_team,
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


def _granted_by_team(session: Session, team_id: int) -> set[Permission]:
    """What a member of the team receives: its permissions and those its rules grant."""
    rules = artefact_matching_rule_team_association
    granted = session.scalars(
        union_all(
            select(func.unnest(Team.permissions)).where(Team.id == team_id),
            select(func.unnest(ArtefactMatchingRule.grant_permissions))
            .join(rules, rules.c.artefact_matching_rule_id == ArtefactMatchingRule.id)
            .where(rules.c.team_id == team_id),
        )
    ).all()
    return {Permission(p) for p in granted}


def _requested(
    permissions: list[Permission] | None, matching_rules: list[ArtefactMatchingRuleBase] | None
) -> list[Permission]:
    """Every permission a request would grant: the team's and its rules'."""
    wanted = list(permissions or [])
    for rule in matching_rules or []:
        wanted.extend(rule.grant_permissions)
    return wanted


def _require_grants_within_ceiling(
    session: Session, principal: Principal, settings: Settings, team_id: int
) -> None:
    """After a rule set is replaced: a spec equal to an existing rule links the team to that
    rule, which may grant more than the spec asked for (its other teams' permissions)."""
    require_within_ceiling(
        principal, settings, _granted_by_team(session, team_id), what="grant permissions"
    )


def _require_admin_to_link(principal: Principal | None) -> None:
    # Linking decides who joins the team from outside the service: only admins may.
    if principal is not None and not principal.is_admin:
        raise ForbiddenError("Only administrators can link a team to a Launchpad team")


def _rules_view(rules_: list[ArtefactMatchingRuleInResponse]) -> list[dict[str, object]]:
    return [rule.model_dump(exclude={"id"}) for rule in rules_]


def create_team(
    session: Session,
    principal: Principal,
    settings: Settings,
    name: str,
    permissions: list[Permission],
    matching_rules: list[ArtefactMatchingRuleBase],
    launchpad_team: str | None = None,
) -> TeamResponse:
    require_within_ceiling(
        principal, settings, _requested(permissions, matching_rules), what="grant permissions"
    )
    if launchpad_team is not None:
        _require_admin_to_link(principal)
    team_id = session.scalar(
        insert(Team)
        .values(name=name, permissions=list(dict.fromkeys(permissions)))
        .on_conflict_do_nothing(index_elements=[Team.name])
        .returning(Team.id)
    )
    if team_id is None:
        raise ConflictError(f"Team with name '{name}' already exists")
    if launchpad_team is not None:
        _link(session, team_id, launchpad_team)
    if matching_rules:
        rules.replace_team_rules(session, team_id, matching_rules)
        _require_grants_within_ceiling(session, principal, settings, team_id)
    response = team_response(session, team_id)
    record_audit_event(
        session,
        principal,
        "team.created",
        TARGET,
        team_id,
        after={
            "name": name,
            "permissions": response.permissions,
            "launchpad_team": launchpad_team,
            "artefact_matching_rules": _rules_view(response.artefact_matching_rules),
        },
    )
    return response


def _link(session: Session, team_id: int, launchpad_team: str | None) -> None:
    try:
        with session.begin_nested():
            session.execute(
                update(Team).where(Team.id == team_id).values(launchpad_team=launchpad_team)
            )
    except IntegrityError:
        raise ConflictError(
            f"Another team is already linked to Launchpad team '{launchpad_team}'"
        ) from None


def _lock(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id, with_for_update=True)
    if team is None:
        raise _team_not_found(team_id)
    return team


def _lock_within_ceiling(
    session: Session, principal: Principal, settings: Settings, team_id: int
) -> Team:
    """The team, locked, once the caller is known to hold everything it grants."""
    team = _lock(session, team_id)
    require_within_ceiling(
        principal, settings, _granted_by_team(session, team_id), what=f"act on team {team_id}"
    )
    return team


def update_team(
    session: Session,
    principal: Principal,
    settings: Settings,
    team_id: int,
    patch: TeamPatch,
) -> TeamResponse:
    permissions = patch.permissions
    matching_rules = patch.artefact_matching_rules
    team = _lock_within_ceiling(session, principal, settings, team_id)
    require_within_ceiling(
        principal, settings, _requested(permissions, matching_rules), what="grant permissions"
    )
    linking = "launchpad_team" in patch.model_fields_set
    if linking:
        _require_admin_to_link(principal)
    before: dict[str, object] = {}
    after: dict[str, object] = {}
    old_permissions = list(team.permissions)
    old_link = team.launchpad_team
    old_rules = (
        [
            ArtefactMatchingRuleInResponse.model_validate(rule)
            for rule in rules.rules_of_teams(session, [team_id])[team_id]
        ]
        if matching_rules is not None
        else []
    )
    if permissions is not None:
        team.permissions = list(dict.fromkeys(permissions))
        session.flush()
    if linking:
        _link(session, team_id, patch.launchpad_team)
    if matching_rules is not None:
        rules.replace_team_rules(session, team_id, matching_rules)
        _require_grants_within_ceiling(session, principal, settings, team_id)
    new = team_response(session, team_id)
    if permissions is not None:
        before["permissions"], after["permissions"] = old_permissions, new.permissions
    if linking:
        before["launchpad_team"], after["launchpad_team"] = old_link, new.launchpad_team
    if matching_rules is not None:
        before["artefact_matching_rules"] = _rules_view(old_rules)
        after["artefact_matching_rules"] = _rules_view(new.artefact_matching_rules)
    if after:
        record_audit_event(
            session, principal, "team.changed", TARGET, team_id, before=before, after=after
        )
    return new


def _require_user(session: Session, user_id: int) -> None:
    if session.scalar(select(User.id).where(User.id == user_id)) is None:
        raise NotFoundError(f"User {user_id} doesn't exist")


def add_member(
    session: Session, principal: Principal, settings: Settings, team_id: int, user_id: int
) -> TeamResponse:
    """Add a user to the team: the caller must hold everything the team grants. A team linked
    to Launchpad takes its members from Launchpad at sign-in, so none is added here."""
    team = _lock_within_ceiling(session, principal, settings, team_id)
    _require_user(session, user_id)
    if team.launchpad_team is not None:
        raise ConflictError(
            f"Team {team_id} follows Launchpad team '{team.launchpad_team}': its members "
            "join on Launchpad and are added when they sign in"
        )
    added = session.scalar(
        insert(team_users_association)
        .values(team_id=team_id, user_id=user_id)
        .on_conflict_do_nothing()
        .returning(team_users_association.c.user_id)
    )
    if added is not None:
        record_audit_event(
            session, principal, "team.member_added", TARGET, team_id, after={"user_id": user_id}
        )
    return team_response(session, team_id)


def remove_member(
    session: Session, principal: Principal, team_id: int, user_id: int
) -> TeamResponse:
    """Remove a user from the team; taking permissions away needs no ceiling."""
    _lock(session, team_id)
    _require_user(session, user_id)
    removed = session.scalar(
        delete(team_users_association)
        .where(
            team_users_association.c.team_id == team_id,
            team_users_association.c.user_id == user_id,
        )
        .returning(team_users_association.c.user_id)
    )
    if removed is not None:
        record_audit_event(
            session, principal, "team.member_removed", TARGET, team_id, before={"user_id": user_id}
        )
    return team_response(session, team_id)
