"""Artefact matching rules and the rule sets of teams."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, exists, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from test_observer.audit.service import record_audit_event
from test_observer.auth import Principal
from test_observer.auth.ceiling import require_within_ceiling
from test_observer.db.models import (
    MATCHING_FIELDS,
    ArtefactMatchingRule,
    FamilyName,
    Team,
    artefact_matching_rule_team_association,
)
from test_observer.db.models.enums import permission_type
from test_observer.errors import BadRequestError, ConflictError, NotFoundError
from test_observer.settings import Settings

from .schemas import ArtefactMatchingRuleBase, ArtefactMatchingRulePatch

UNIQUE_FIELDS = "artefact_matching_rule_fields_from_artefact"
ATTRIBUTES = ("family", *MATCHING_FIELDS)
rule_teams = artefact_matching_rule_team_association
TARGET = "artefact_matching_rule"


def _state(rule: ArtefactMatchingRule) -> dict[str, Any]:
    """What the audit trail keeps of a rule."""
    return {
        **{field: getattr(rule, field) for field in ATTRIBUTES},
        "grant_permissions": list(rule.grant_permissions),
        "team_ids": sorted(team.id for team in rule.teams),
    }


def _rule_not_found(rule_id: int) -> NotFoundError:
    return NotFoundError(f"Artefact matching rule {rule_id} doesn't exist")


def _require_teams(session: Session, team_ids: Sequence[int], empty_message: str) -> list[int]:
    wanted = list(dict.fromkeys(team_ids))
    if not wanted:
        raise BadRequestError(empty_message)
    found = set(session.scalars(select(Team.id).where(Team.id.in_(wanted))))
    for team_id in wanted:
        if team_id not in found:
            raise NotFoundError(f"Team {team_id} doesn't exist")
    return wanted


def _link_teams(session: Session, rule_id: int, team_ids: Iterable[int]) -> None:
    rows = [{"artefact_matching_rule_id": rule_id, "team_id": t} for t in team_ids]
    if rows:
        session.execute(insert(rule_teams).values(rows).on_conflict_do_nothing())


def _load(session: Session, rule_id: int) -> ArtefactMatchingRule:
    rule = session.scalar(
        select(ArtefactMatchingRule)
        .where(ArtefactMatchingRule.id == rule_id)
        .options(selectinload(ArtefactMatchingRule.teams))
        .execution_options(populate_existing=True)
    )
    if rule is None:
        raise _rule_not_found(rule_id)
    return rule


def list_rules(session: Session, family: FamilyName | None) -> list[ArtefactMatchingRule]:
    query = select(ArtefactMatchingRule).options(selectinload(ArtefactMatchingRule.teams))
    if family is not None:
        query = query.where(ArtefactMatchingRule.family == family)
    return list(session.scalars(query.order_by(ArtefactMatchingRule.id)))


def get_rule(session: Session, rule_id: int) -> ArtefactMatchingRule:
    return _load(session, rule_id)


def create_rule(
    session: Session,
    principal: Principal,
    settings: Settings,
    spec: ArtefactMatchingRuleBase,
    team_ids: Sequence[int],
) -> ArtefactMatchingRule:
    """A new rule linked to `team_ids`: the caller must hold every permission it grants."""
    require_within_ceiling(principal, settings, spec.grant_permissions, what="grant permissions")
    teams = _require_teams(
        session, team_ids, "At least one team is required to create a matching rule"
    )
    values = spec.model_dump(include={*ATTRIBUTES, "grant_permissions"})
    values["grant_permissions"] = list(dict.fromkeys(spec.grant_permissions))
    rule_id = session.scalar(
        insert(ArtefactMatchingRule)
        .values(**values)
        .on_conflict_do_nothing(constraint=UNIQUE_FIELDS)
        .returning(ArtefactMatchingRule.id)
    )
    if rule_id is None:
        raise ConflictError("Artefact matching rule with these values already exists")
    _link_teams(session, rule_id, teams)
    rule = _load(session, rule_id)
    record_audit_event(
        session, principal, "artefact_matching_rule.created", TARGET, rule_id, after=_state(rule)
    )
    return rule


def update_rule(
    session: Session,
    principal: Principal,
    settings: Settings,
    rule_id: int,
    patch: ArtefactMatchingRulePatch,
) -> ArtefactMatchingRule:
    """Change a rule: the caller must hold what it grants, before and after the change."""
    rule = session.get(ArtefactMatchingRule, rule_id, with_for_update=True)
    if rule is None:
        raise _rule_not_found(rule_id)
    require_within_ceiling(
        principal,
        settings,
        [*rule.grant_permissions, *(patch.grant_permissions or [])],
        what=f"act on artefact matching rule {rule_id}",
    )
    rule = _load(session, rule_id)
    before = _state(rule)
    teams = None
    if patch.team_ids is not None:
        teams = _require_teams(
            session, patch.team_ids, "At least one team is required for a matching rule"
        )
    changes = patch.model_dump(include=set(ATTRIBUTES), exclude_none=True)
    for field, value in changes.items():
        setattr(rule, field, value)
    if patch.grant_permissions is not None:
        rule.grant_permissions = list(dict.fromkeys(patch.grant_permissions))
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise ConflictError(
            "Another artefact matching rule with these values already exists",
        ) from None
    if teams is not None:
        session.execute(delete(rule_teams).where(rule_teams.c.artefact_matching_rule_id == rule_id))
        _link_teams(session, rule_id, teams)
    rule = _load(session, rule_id)
    after = _state(rule)
    if after != before:
        record_audit_event(
            session,
            principal,
            "artefact_matching_rule.changed",
            TARGET,
            rule_id,
            before=before,
            after=after,
        )
    return rule


def delete_rule(session: Session, principal: Principal, rule_id: int) -> None:
    rule = session.scalar(
        select(ArtefactMatchingRule)
        .where(ArtefactMatchingRule.id == rule_id)
        .options(selectinload(ArtefactMatchingRule.teams))
        .with_for_update()
    )
    if rule is None:
        raise _rule_not_found(rule_id)
    before = _state(rule)
    session.execute(delete(ArtefactMatchingRule).where(ArtefactMatchingRule.id == rule_id))
    session.expunge(rule)
    record_audit_event(
        session, principal, "artefact_matching_rule.deleted", TARGET, rule_id, before=before
    )


def rules_of_teams(
    session: Session, team_ids: Sequence[int]
) -> dict[int, list[ArtefactMatchingRule]]:
    """The rules linked to each of `team_ids`, in one query."""
    by_team: dict[int, list[ArtefactMatchingRule]] = {t: [] for t in team_ids}
    rows = session.execute(
        select(rule_teams.c.team_id, ArtefactMatchingRule)
        .join(rule_teams, rule_teams.c.artefact_matching_rule_id == ArtefactMatchingRule.id)
        .where(rule_teams.c.team_id.in_(team_ids))
        .order_by(ArtefactMatchingRule.id)
    )
    for team_id, rule in rows:
        by_team[team_id].append(rule)
    return by_team


def _merged_specs(specs: Sequence[ArtefactMatchingRuleBase]) -> list[dict[str, Any]]:
    """One row per distinct set of attributes; duplicates' permissions are merged."""
    merged: dict[tuple[str, ...], dict[str, Any]] = {}
    for spec in specs:
        values = spec.model_dump(include=set(ATTRIBUTES))
        key = tuple(str(values[field]) for field in ATTRIBUTES)
        row = merged.setdefault(key, {**values, "grant_permissions": []})
        row["grant_permissions"] = list(
            dict.fromkeys([*row["grant_permissions"], *spec.grant_permissions])
        )
    return list(merged.values())


def replace_team_rules(
    session: Session, team_id: int, specs: Sequence[ArtefactMatchingRuleBase]
) -> None:
    """Make `specs` the team's rule set.

    A rule with the same attributes as a spec is reused (shared with the teams already linked
    to it) and the spec's permissions are added to it; other specs become new rules. Rules the
    team leaves that no team uses any more are deleted. The team's own permissions are left as
    they are.
    """
    previous = list(
        session.scalars(
            delete(rule_teams)
            .where(rule_teams.c.team_id == team_id)
            .returning(rule_teams.c.artefact_matching_rule_id)
        )
    )
    rows = _merged_specs(specs)
    if rows:
        statement = insert(ArtefactMatchingRule).values(rows)
        union = literal_column(
            "ARRAY(SELECT DISTINCT p FROM unnest(artefact_matching_rule.grant_permissions"
            " || excluded.grant_permissions) AS p ORDER BY p)",
            ARRAY(permission_type),
        )
        rule_ids = session.scalars(
            statement.on_conflict_do_update(
                constraint=UNIQUE_FIELDS, set_={"grant_permissions": union}
            ).returning(ArtefactMatchingRule.id)
        ).all()
        session.execute(
            insert(rule_teams)
            .values([{"artefact_matching_rule_id": r, "team_id": team_id} for r in rule_ids])
            .on_conflict_do_nothing()
        )
    if previous:
        session.execute(
            delete(ArtefactMatchingRule).where(
                ArtefactMatchingRule.id.in_(previous),
                ~exists().where(rule_teams.c.artefact_matching_rule_id == ArtefactMatchingRule.id),
            )
        )
    # Objects loaded before these statements may be stale.
    session.expire_all()
