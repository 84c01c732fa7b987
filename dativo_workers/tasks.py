"""Celery tasks: thin wrappers around the plain functions of ingest and pipeline.

Messages carry a run id and a partition index, nothing else: the job (with secret
references, never values) and the table plan are in the ledger.
"""

from __future__ import annotations

import uuid
from typing import Any

from celery import Task, chord, group

from dativo_workers.celery_app import DEFAULT_QUEUE, app, worker_runner
from dativo_workers.ingest import ingest_partition
from dativo_workers.ledger import Ledger
from dativo_workers.pipeline import commit_run
from dativo_workers.reconcile import reconcile

_ledgers: dict[str, Ledger] = {}


def _ledger() -> Ledger:
    url = worker_runner().ledger_url
    if url not in _ledgers:
        _ledgers[url] = Ledger(url)
    return _ledgers[url]


@app.task(name="dativo.ingest_partition", bind=True, max_retries=None)  # the ledger caps attempts
def ingest_partition_task(self: Task, run_id: str, index: int) -> dict[str, Any]:
    ledger = _ledger()
    status = ingest_partition(run_id, index, worker_runner(), ledger)
    if status["status"] == "retry":
        raise self.retry(countdown=status["delay_s"])
    if status["status"] in ("done", "failed") and ledger.all_partitions_finished(run_id):
        # Safety net beside the chord: a redelivered header task can make Redis chord counting
        # fire early or never. The ledger lets one committer claim the run; the other returns.
        run = ledger.run(run_id) or {}
        commit_run_task.apply_async(args=(None, run_id), queue=run.get("queue") or DEFAULT_QUEUE)
    return status


@app.task(name="dativo.commit_run")
def commit_run_task(_results: list[dict[str, Any]] | None, run_id: str) -> dict[str, Any]:
    """Chord body (header results are ignored: the ledger decides what is committed)."""
    return commit_run(run_id, worker_runner(), _ledger())


@app.task(name="dativo.reconcile")
def reconcile_task() -> dict[str, Any]:
    ledger = _ledger()
    return reconcile(
        worker_runner(), ledger, enqueue=lambda run_id, idx, queue: enqueue_partitions(run_id, idx, queue, ledger)
    )


def enqueue_partitions(run_id: str, indexes: list[int], queue: str | None = None, ledger: Ledger | None = None) -> str:
    """One ingest task per partition, the commit as the chord body. Returns the chord id.

    Task ids are recorded in the ledger so `dativo cancel` can revoke what has not run.
    """
    queue = queue or DEFAULT_QUEUE
    task_ids = {i: f"{run_id}-p{i:05d}-{uuid.uuid4().hex[:8]}" for i in indexes}
    (ledger or _ledger()).set_task_ids(run_id, task_ids, queue)
    header = group(ingest_partition_task.si(run_id, i).set(queue=queue, task_id=task_ids[i]) for i in indexes)
    result = chord(header)(commit_run_task.s(run_id).set(queue=queue))
    return str(result.id)
