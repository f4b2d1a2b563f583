"""Intervals become clock-aligned schedules that every worker computes alike."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

import croniter
import pytest

from test_observer.settings import SettingsError, interval_cron, load_settings


@pytest.mark.parametrize("seconds", [1, 2, 30, 60, 300, 600, 1800, 3600, 21600, 86400, 604800])
def test_runs_are_exactly_one_interval_apart_at_multiples_of_it(seconds: int) -> None:
    # Any start works; seven seconds past a Monday midnight avoids landing on a run.
    start = datetime(2026, 11, 30, 0, 0, 7, tzinfo=UTC).timestamp()
    schedule = croniter.croniter(interval_cron(seconds), start)
    runs = [schedule.get_next(float) for _ in range(4)]
    assert [b - a for a, b in pairwise(runs)] == [seconds] * 3


@pytest.mark.parametrize("seconds", [0, 7, 45, 420, 5000, 7200 * 5, 2 * 86400])
def test_intervals_off_the_clock_are_refused(seconds: int) -> None:
    with pytest.raises(ValueError, match=r"interval|divide"):
        interval_cron(seconds)


def test_settings_name_the_bad_interval_and_clean_urls() -> None:
    with pytest.raises(SettingsError, match="KERNEL_SWM_INTERVAL_S"):
        load_settings(kernel_swm_interval_s=7)
    with pytest.raises(SettingsError, match="SNAPCRAFT_API_URL"):
        load_settings(snapcraft_api_url="ftp://store")
    settings = load_settings(github_api_url="https://ghe.example.com/api/v3/")
    assert settings.github_api_url == "https://ghe.example.com/api/v3"
