"""prune-audit-events: delete audit events older than the retention setting."""

from __future__ import annotations

from typing import Any

from test_observer.audit.service import prune_audit_events

from .environment import JobEnvironment


def run(env: JobEnvironment) -> dict[str, Any]:
    with env.sessions.begin() as session:
        return {"deleted": prune_audit_events(session, env.settings.audit_retention_days)}
