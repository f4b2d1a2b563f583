"""The grant ceiling: nobody can grant, or obtain, a permission they do not hold.

Every write that gives permissions to someone (an application's permissions, a team's
permissions, the permissions an artefact matching rule grants to a team's members) or that gives
someone access to permissions already granted (rotating another application's key and so
receiving it, adding a user to a team, linking a rule to a team) calls `require_within_ceiling`
with every permission involved: those being granted and those the target already has. Without
it, `add_application`, `change_application` and `change_team` would each be every permission.

Held means: granted to the caller (through its teams or its key), or ignored for everyone by
`IGNORE_PERMISSIONS` (every caller passes those checks already, so granting them gives no more
than the caller has). Admins hold everything.
"""

from __future__ import annotations

from collections.abc import Iterable

from test_observer.db.models import Permission
from test_observer.errors import ForbiddenError
from test_observer.settings import Settings

from .principal import Principal


def missing_permissions(
    principal: Principal | None, settings: Settings, permissions: Iterable[Permission]
) -> list[Permission]:
    """The permissions among `permissions` the caller does not hold, in the catalogue's order.

    `principal` None is the operator at the command line, who has the database itself."""
    if principal is None or principal.is_admin:
        return []
    missing = set(permissions) - principal.granted - settings.ignore_permissions
    return sorted(missing, key=list(Permission).index)


def require_within_ceiling(
    principal: Principal | None, settings: Settings, permissions: Iterable[Permission], *, what: str
) -> None:
    """403 naming the missing permissions unless the caller holds every one of `permissions`.

    `what` says what the caller tried, e.g. "grant" or "act on application 3", for the detail.
    """
    missing = missing_permissions(principal, settings, permissions)
    if missing:
        names = ", ".join(permission.value for permission in missing)
        raise ForbiddenError(f"Cannot {what} without holding these permissions: {names}")
