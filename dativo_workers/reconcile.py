"""The reconciler: finishes what the chord could not.

- a running partition whose heartbeat is older than `runner.lease_seconds` (a dead host) is
  put back to pending and enqueued again; a duplicate this may cause is harmless (invariant 2);
- a run whose partitions have all finished but which has no snapshot yet (its chord callback
  never fired, or its commit died) is committed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog

from dativo_workers.config.runner import RunnerConfig
from dativo_workers.ledger import Ledger
from dativo_workers.pipeline import commit_run

log = structlog.get_logger("dativo.reconcile")
Enqueue = Callable[[str, list[int], str | None], Any]


def reconcile(runner: RunnerConfig, ledger: Ledger, enqueue: Enqueue | None) -> dict[str, Any]:
    report: dict[str, Any] = {"requeued": {}, "committed": [], "failed": []}
    stale_before = time.time() - runner.lease_seconds
    for run in ledger.active_runs():
        run_id = run["run_id"]
        if run["created_at"] > stale_before and run["state"] == "pending":
            continue  # just submitted: its tasks are probably still queued
        parts = ledger.partitions(run_id)
        stale = [p for p in parts if p["state"] == "running" and (p["heartbeat_at"] or 0) < stale_before]
        if stale and enqueue is not None:
            requeued = [p["idx"] for p in stale if ledger.release_partition(run_id, p["idx"], p["attempts"])]
            if requeued:
                enqueue(run_id, requeued, run["queue"])
                report["requeued"][run_id] = requeued
                log.warning("re-enqueued silent partitions", run_id=run_id, partitions=requeued)
            continue
        if all(p["state"] not in ("pending", "running") for p in parts):
            summary = commit_run(run_id, runner, ledger)
            report["committed" if summary["state"] == "committed" else "failed"].append(run_id)
            log.info("reconciled run", run_id=run_id, state=summary["state"])
    return report
