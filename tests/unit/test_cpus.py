"""CPUs a process may use: the cgroup quota (a container's CPU limit) and the affinity mask
count, not only the node's cores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dativo_workers.cpus import available_cpus, cgroup_cpu_quota


def _write(root: Path, name: str, text: str) -> None:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(text + "\n")


def test_cgroup_v2_quota(tmp_path: Path) -> None:
    _write(tmp_path, "cpu.max", "150000 100000")
    assert cgroup_cpu_quota(tmp_path) == 1.5
    assert available_cpus(tmp_path) == min(2, os.cpu_count() or 1, len(os.sched_getaffinity(0)))


def test_cgroup_v2_without_a_limit(tmp_path: Path) -> None:
    _write(tmp_path, "cpu.max", "max 100000")
    assert cgroup_cpu_quota(tmp_path) is None


def test_cgroup_v1_quota_and_unlimited(tmp_path: Path) -> None:
    _write(tmp_path, "cpu/cpu.cfs_quota_us", "50000")
    _write(tmp_path, "cpu/cpu.cfs_period_us", "100000")
    assert cgroup_cpu_quota(tmp_path) == 0.5
    assert available_cpus(tmp_path) == 1
    _write(tmp_path, "cpu/cpu.cfs_quota_us", "-1")
    assert cgroup_cpu_quota(tmp_path) is None


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to narrow the mask")
def test_affinity_mask_counts(tmp_path: Path) -> None:
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(before)})
        assert available_cpus(tmp_path) == 1  # no cgroup files here: the mask decides
    finally:
        os.sched_setaffinity(0, before)
