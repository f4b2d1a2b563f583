"""The background-job worker: its options, its credentials and its environment.

Every unit runs `test-observer worker` next to the API once the schema matches its code; the
job queue in PostgreSQL makes each periodic job run once per period however many units there
are, so there is no leader-only scheduler to move around.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import ops

from .config import InvalidConfigError

# Option name -> the backend's variable; values are seconds.
INTERVAL_OPTIONS = {
    "promote-interval": "PROMOTE_INTERVAL_S",
    "kernel-swm-interval": "KERNEL_SWM_INTERVAL_S",
    "clean-sessions-interval": "CLEAN_SESSIONS_INTERVAL_S",
    "sync-open-interval": "SYNC_OPEN_INTERVAL_S",
    "sync-recent-closed-interval": "SYNC_RECENT_CLOSED_INTERVAL_S",
    "sync-old-closed-interval": "SYNC_OLD_CLOSED_INTERVAL_S",
}
GITHUB_OPTION = "github-app-credentials"


def valid_interval(seconds: int) -> bool:
    """What the backend can schedule: a divisor of a minute, an hour or a day, a day, a week."""
    if seconds <= 0:
        return False
    if seconds < 60:
        return 60 % seconds == 0
    if seconds < 3600:
        return seconds % 60 == 0 and 60 % (seconds // 60) == 0
    if seconds < 86400:
        return seconds % 3600 == 0 and 24 % (seconds // 3600) == 0
    return seconds in (86400, 7 * 86400)


@dataclass(frozen=True)
class JobsConfig:
    enable_issue_sync: bool = False
    intervals: tuple[tuple[str, int], ...] = ()
    github_secret: str = ""

    @classmethod
    def from_options(cls, options: Mapping[str, object]) -> JobsConfig:
        enable = options.get("enable-issue-sync", False)
        if not isinstance(enable, bool):
            raise InvalidConfigError("enable-issue-sync", "must be true or false")
        intervals = []
        for option in INTERVAL_OPTIONS:
            if option not in options:
                continue
            value = options[option]
            if isinstance(value, bool) or not isinstance(value, int) or not valid_interval(value):
                raise InvalidConfigError(
                    option,
                    "must be seconds dividing a minute, an hour or a day (e.g. 300, 3600), "
                    "or 86400 or 604800",
                )
            intervals.append((option, value))
        github = options.get(GITHUB_OPTION, "")
        return cls(
            enable_issue_sync=enable,
            intervals=tuple(intervals),
            github_secret=str(github or "").strip(),
        )


def github_app_credentials(model: ops.Model, app_name: str, secret_id: str) -> tuple[str, str]:
    """(app id, private key) from the operator's secret, or raise naming the option."""
    try:
        content = model.get_secret(id=secret_id).get_content(refresh=True)
    except (ops.SecretNotFoundError, ops.ModelError):
        raise InvalidConfigError(
            GITHUB_OPTION, f"secret not found or not granted: juju grant-secret <secret> {app_name}"
        ) from None
    app_id = content.get("app-id", "").strip()
    key = content.get("private-key", "")
    if not app_id or not key.strip():
        raise InvalidConfigError(GITHUB_OPTION, "the secret needs the keys app-id and private-key")
    return app_id, key


def environment(config: JobsConfig, github: tuple[str, str] | None) -> dict[str, str]:
    """The variables only the worker and the run-job action need (never the API)."""
    env = {"ENABLE_ISSUE_SYNC": "true" if config.enable_issue_sync else "false"}
    for option, seconds in config.intervals:
        env[INTERVAL_OPTIONS[option]] = str(seconds)
    if github is not None:
        env["GIT_APP_ID"], env["GIT_APP_PRIVATE_KEY"] = github
    return env
