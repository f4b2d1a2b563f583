"""Permission checks that depend on which artefacts a request touches.

A few operations (changing an artefact, requesting or cancelling reruns) can be granted either
generally (admin, team or application permission, or an ignored permission) or per artefact:
an artefact matching rule linked to one of the user's teams may grant the permission for the
artefacts it matches. Applications never get artefact-scoped grants.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, and_, any_, cast, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from test_observer.db.models import (
    MATCHING_FIELDS,
    Artefact,
    ArtefactMatchingRule,
    Permission,
    artefact_matching_rule_team_association,
    team_users_association,
)
from test_observer.db.models.enums import permission_type
from test_observer.errors import ForbiddenError
from test_observer.settings import Settings

from .principal import Principal

__all__ = [
    "has_permissions",
    "insufficient_permissions",
    "require_artefact_permission",
    "require_grantable",
    "require_permissions",
    "rule_matches_artefact",
]


def insufficient_permissions() -> ForbiddenError:
    return ForbiddenError("Insufficient permissions")


def has_permissions(principal: Principal, settings: Settings, *permissions: Permission) -> bool:
    """The general check: admin, or every permission ignored or granted to the caller."""
    if principal.is_admin:
        return True
    return not (frozenset(permissions) - settings.ignore_permissions - principal.granted)


def require_permissions(principal: Principal, settings: Settings, *permissions: Permission) -> None:
    """The general check, for permissions only needed under some condition (e.g. bulk edits)."""
    if not has_permissions(principal, settings, *permissions):
        raise insufficient_permissions()


def require_grantable(principal: Principal, settings: Settings, permission: Permission) -> None:
    """Refuse now a caller who could only get `permission` per artefact but cannot hold such
    grants: only users can, so anyone else needs the general permission. Called before the
    artefacts are looked up, so the answer does not reveal which artefact ids exist."""
    if principal.user is None:
        require_permissions(principal, settings, permission)


def rule_matches_artefact(
    rule: type[ArtefactMatchingRule] = ArtefactMatchingRule,
    artefact: type[Artefact] = Artefact,
) -> ColumnElement[bool]:
    """SQL condition: the rule's family equals the artefact's and every other field of the rule
    is either a wildcard ('') or equal to the artefact's value."""
    return and_(
        rule.family == artefact.family,
        *(
            or_(getattr(rule, name) == "", getattr(rule, name) == getattr(artefact, name))
            for name in MATCHING_FIELDS
        ),
    )


def _artefacts_granted_to_user(
    user_id: int, permission: Permission, artefact_ids: set[int]
) -> ColumnElement[int]:
    """How many of `artefact_ids` some rule of the user's teams grants `permission` on."""
    rules = artefact_matching_rule_team_association
    memberships = team_users_association
    granting_rule = exists(
        select(literal(1))
        .select_from(ArtefactMatchingRule)
        .join(rules, rules.c.artefact_matching_rule_id == ArtefactMatchingRule.id)
        .join(memberships, memberships.c.team_id == rules.c.team_id)
        .where(
            memberships.c.user_id == user_id,
            cast(permission.value, permission_type) == any_(ArtefactMatchingRule.grant_permissions),
            rule_matches_artefact(),
        )
    )
    return (
        select(func.count())
        .select_from(Artefact)
        .where(Artefact.id.in_(artefact_ids), granting_rule)
        .scalar_subquery()
    )


def require_artefact_permission(
    session: Session,
    principal: Principal,
    settings: Settings,
    permission: Permission,
    artefact_ids: Iterable[int],
) -> None:
    """Raise 403 "Insufficient permissions" unless the caller may use `permission` on every
    artefact in `artefact_ids`.

    Passes when the general check passes. Otherwise only a user can be granted the permission,
    and only when, for each artefact, a rule that matches it, grants the permission and is
    linked to one of the user's teams exists. No artefacts: nothing to check, passes. Ids of
    artefacts that do not exist are denied; callers answer 404 for those before checking.
    One query, whatever the number of artefacts.
    """
    if has_permissions(principal, settings, permission):
        return
    if principal.user is None:
        raise insufficient_permissions()
    wanted = set(artefact_ids)
    if not wanted:
        return
    granted = session.scalar(
        select(_artefacts_granted_to_user(principal.user.id, permission, wanted))
    )
    if granted != len(wanted):
        raise insufficient_permissions()
