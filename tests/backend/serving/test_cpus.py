"""The default number of worker processes follows the CPUs the container may use."""

from __future__ import annotations

import os
from pathlib import Path

from test_observer.serving.cpus import available_cpus


def _affinity() -> int:
    return len(os.sched_getaffinity(0))


def test_a_cgroup_v2_quota_caps_the_workers_rounding_up(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert available_cpus(tmp_path) == min(_affinity(), 2)
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert available_cpus(tmp_path) == 1


def test_no_quota_means_the_cpu_affinity(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert available_cpus(tmp_path) == _affinity()
    # No cgroup files at all (not in a container, or an unreadable hierarchy).
    assert available_cpus(tmp_path / "missing") == _affinity()


def test_a_cgroup_v1_quota_caps_the_workers(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert available_cpus(tmp_path) == 1
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert available_cpus(tmp_path) == _affinity()
