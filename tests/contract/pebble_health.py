"""Pebble's health checks and its /v1/health answer, as Pebble documents them.

From Pebble's health-check reference and its layer specification:

- a check runs every `period` (default 10 s); a run that fails (or outlasts `timeout`) is an
  error, and a check is "up" until it has had `threshold` errors in a row (default 3), when it
  becomes "down"; one success makes it up again;
- `level` is `alive`, `ready` or unset; `GET /v1/health?level=ready` is healthy when every
  check whose level is `ready` or `alive` is up ("ready implies alive"); `level=alive` counts
  only alive-level checks; checks with no level count for neither;
- Juju points a sidecar workload container's Kubernetes readiness probe at
  `/v1/health?level=ready` and its liveness probe at `/v1/health?level=alive`.

This model replays a plan's checks over time so a test can ask what Kubernetes would see.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ops import pebble

DEFAULT_PERIOD = 10.0
DEFAULT_THRESHOLD = 3


def _seconds(duration: str | None) -> float:
    if not duration:
        return DEFAULT_PERIOD
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for suffix in ("ms", "s", "m", "h"):
        if duration.endswith(suffix):
            return float(duration.removesuffix(suffix)) * units[suffix]
    raise ValueError(f"not a Pebble duration: {duration!r}")


@dataclass
class CheckState:
    level: str
    period: float
    threshold: int
    failures: int = 0

    @property
    def up(self) -> bool:
        return self.failures < self.threshold


def healthy(states: Mapping[str, CheckState], level: str) -> bool:
    """What GET /v1/health?level=LEVEL answers (True: 200, False: 502)."""
    counted = {"ready": {"ready", "alive"}, "alive": {"alive"}}.get(level)
    return all(state.up for state in states.values() if counted is None or state.level in counted)


def replay(
    checks: Mapping[str, pebble.Check],
    succeeds: Callable[[str, float], bool],
    *,
    seconds: float,
    level: str = "ready",
) -> list[tuple[float, bool]]:
    """(time, healthy at `level`) after every check run in the first `seconds`.

    `succeeds(name, t)` says whether the check `name` passes when it runs at time t.
    """
    states = {
        name: CheckState(
            level=str(
                check.level.value
                if isinstance(check.level, pebble.CheckLevel)
                else check.level or ""
            ),
            period=_seconds(check.period),
            threshold=check.threshold or DEFAULT_THRESHOLD,
        )
        for name, check in checks.items()
    }
    runs = sorted(
        (state.period * k, name)
        for name, state in states.items()
        for k in range(1, int(seconds // state.period) + 1)
    )
    timeline = [(0.0, healthy(states, level))]
    for t, name in runs:
        state = states[name]
        state.failures = 0 if succeeds(name, t) else state.failures + 1
        if timeline[-1][0] == t:
            timeline.pop()  # one answer per instant, after every check due then has run
        timeline.append((t, healthy(states, level)))
    return timeline
