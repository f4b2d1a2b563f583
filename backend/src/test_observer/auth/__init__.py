"""Who is calling (principals) and what they may do (permissions)."""

from .access import (
    AppSettings,
    authenticated,
    caller,
    loopback_only,
    probe,
    requires,
    requires_for_artefacts,
    requires_for_page,
)
from .artefact_access import require_artefact_permission, require_grantable, require_permissions
from .principal import Principal

__all__ = [
    "AppSettings",
    "Principal",
    "authenticated",
    "caller",
    "loopback_only",
    "probe",
    "require_artefact_permission",
    "require_grantable",
    "require_permissions",
    "requires",
    "requires_for_artefacts",
    "requires_for_page",
]
