"""How many CPUs this process may really use: the smallest of the host's cores, the CPU affinity
mask (taskset, a cpuset) and the cgroup CPU quota (a container's CPU limit).

`os.cpu_count()` counts the node's cores: a pod limited to 4 CPUs on a 64-core node would
otherwise size Arrow's thread pool for 64 and spend its quota on contention.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def available_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    limits = [os.cpu_count() or 1]
    if hasattr(os, "sched_getaffinity"):
        limits.append(len(os.sched_getaffinity(0)))
    quota = cgroup_cpu_quota(cgroup_root)
    if quota is not None:
        limits.append(max(1, math.ceil(quota)))  # 2.5 CPUs of quota keep 3 threads busy part of the time
    return max(1, min(limits))


def cgroup_cpu_quota(cgroup_root: Path = CGROUP_ROOT) -> float | None:
    """The CPU limit of this process's cgroup in CPUs (quota / period), or None when unlimited:
    the smallest limit set on its cgroup or any parent (a pod's limit sits on the pod's cgroup).

    cgroup v2: `cpu.max` ("max 100000" or "400000 100000"); cgroup v1: `cpu.cfs_quota_us` /
    `cpu.cfs_period_us` (-1: unlimited). Inside a container the process's cgroup is usually the
    root of the mounted hierarchy.
    """
    limits = []
    for directory in _cgroup_dirs(cgroup_root):
        v2 = directory / "cpu.max"
        quota, _, period = _read(v2).partition(" ")
        if quota and quota != "max":
            limits.append(int(quota) / int(period or "100000"))
        quota_us = int(_read(directory / "cpu.cfs_quota_us") or "-1")
        if quota_us > 0:
            limits.append(quota_us / int(_read(directory / "cpu.cfs_period_us") or "100000"))
    return min(limits) if limits else None


def _cgroup_dirs(root: Path) -> list[Path]:
    """This process's cgroup directories (per hierarchy) and all their parents up to the root."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        lines = []
    bases = [root, root / "cpu", root / "cpu,cpuacct"]
    dirs = set(bases)
    for line in lines:  # "0::/kubepods/pod.../..." (v2) or "4:cpu,cpuacct:/docker/..." (v1)
        _, controllers, path = line.split(":", 2)
        if controllers and "cpu" not in controllers.split(","):
            continue
        for base in bases:
            node = base / path.lstrip("/")
            while node != base and base in node.parents:
                dirs.add(node)
                node = node.parent
    return sorted(dirs)


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""
