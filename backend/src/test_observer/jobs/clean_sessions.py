"""clean-sessions: delete expired browser sessions, as `admin clean-sessions` does."""

from __future__ import annotations

from typing import Any

from test_observer.users.service import clean_expired_sessions

from .environment import JobEnvironment


def run(env: JobEnvironment) -> dict[str, Any]:
    with env.sessions.begin() as session:
        return {"deleted": clean_expired_sessions(session)}
