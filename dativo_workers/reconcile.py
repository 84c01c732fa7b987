"""The reconciler: finishes what the workers could not.

- a running partition whose heartbeat is older than `runner.lease_seconds` (a dead host) is
  put back to pending and enqueued again; a duplicate this may cause is harmless (invariant 2);
- a pending partition whose task message is lost (Redis flushed or failed over, a message
  acknowledged after an error, a worker that died holding it for a retry countdown) is
  enqueued again. Lost means: last enqueued longer than the lease ago, and its task id is
  neither waiting in the run's queue nor held by a live worker (prefetched, waiting for a retry
  countdown, running). A partition waiting behind a long backlog is in the queue, so it is
  left alone however long it waits. When the broker cannot be inspected, the reconciler falls
  back on time alone: a partition enqueued longer ago than the broker's visibility timeout
  counts as lost;
- a run whose partitions have all finished but which has no snapshot yet (its commit message
  was lost, or its commit died) is committed.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import structlog

from dativo_workers import metrics
from dativo_workers.config.runner import RunnerConfig
from dativo_workers.ledger import Ledger
from dativo_workers.pipeline import commit_run

log = structlog.get_logger("dativo.reconcile")
Enqueue = Callable[[str, list[int], str | None], Any]
# (queues, candidate task ids) -> the candidates the broker still holds; None: cannot tell
BrokerView = Callable[[set[str], set[str]], set[str] | None]
LOST_WITHOUT_BROKER_S = 6 * 3600  # the visibility timeout: Redis itself would redeliver by then


def reconcile(
    runner: RunnerConfig, ledger: Ledger, enqueue: Enqueue | None, broker: BrokerView | None = None
) -> dict[str, Any]:
    report: dict[str, Any] = {"requeued": {}, "lost": {}, "committed": [], "failed": []}
    now = time.time()
    stale_before = now - runner.lease_seconds
    waiting: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)  # queue -> (run id, partition)
    for run in ledger.active_runs():
        run_id = run["run_id"]
        if run["created_at"] > stale_before and run["state"] == "pending":
            continue  # just submitted: its tasks are probably still queued
        parts = ledger.partition_states(run_id)
        stale = [p for p in parts if p["state"] == "running" and (p["heartbeat_at"] or 0) < stale_before]
        if stale and enqueue is not None:
            requeued = [p["idx"] for p in stale if ledger.release_partition(run_id, p["idx"], p["attempts"])]
            if requeued:
                metrics.lease_stolen(run["tenant"], run["table_ident"], len(requeued))
                enqueue(run_id, requeued, run["queue"])
                report["requeued"][run_id] = requeued
                log.warning("re-enqueued silent partitions", run_id=run_id, partitions=requeued)
        if run["queue"] is not None:  # embedded runs (no queue) have their own process pool
            waiting[run["queue"]].extend(
                (run_id, p) for p in parts if p["state"] == "pending" and (p["enqueued_at"] or 0) < stale_before
            )
        if not stale and all(p["state"] not in ("pending", "running") for p in parts):
            # a distributed run's merge may send its rewrite partitions to the workers first
            dispatch = enqueue if run["queue"] is not None else None
            summary = commit_run(run_id, runner, ledger, dispatch=dispatch)
            if summary["state"] != "running":  # running: it sent a merge's rewrite partitions
                report["committed" if summary["state"] == "committed" else "failed"].append(run_id)
            log.info("reconciled run", run_id=run_id, state=summary["state"])
    if waiting and enqueue is not None:
        _requeue_lost(ledger, enqueue, broker, waiting, now, report)
    return report


def _requeue_lost(
    ledger: Ledger,
    enqueue: Enqueue,
    broker: BrokerView | None,
    waiting: dict[str, list[tuple[str, dict[str, Any]]]],
    now: float,
    report: dict[str, Any],
) -> None:
    # The ledger was read before the broker: a message that moves from the queue to a worker
    # while we look is found in one place or the other, and a partition that started or
    # finished meanwhile fails the claim below (it is no longer pending).
    candidates = {part["task_id"] for parts in waiting.values() for _, part in parts if part["task_id"]}
    held = broker(set(waiting), candidates) if broker is not None else None
    lost: dict[tuple[str, str], list[int]] = defaultdict(list)  # (run id, queue) -> partitions
    for queue, candidates in waiting.items():
        for run_id, part in candidates:
            if held is not None:
                if part["task_id"] in held:
                    continue  # still queued or with a worker: waiting is not lost
            elif (part["enqueued_at"] or 0) > now - LOST_WITHOUT_BROKER_S:
                continue
            if ledger.claim_requeue(run_id, part["idx"], part["enqueued_at"]):
                lost[(run_id, queue)].append(part["idx"])
    for (run_id, queue), indexes in lost.items():
        enqueue(run_id, indexes, queue)
        report["lost"][run_id] = indexes
        log.warning("re-enqueued partitions whose task message was lost", run_id=run_id, partitions=indexes)
