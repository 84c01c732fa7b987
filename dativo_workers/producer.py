"""Producer side of distributed runs: submit, retry, cancel, and wait on the ledger."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from dativo_workers import lineage
from dativo_workers.config.job import LoadedJob
from dativo_workers.config.runner import RunnerConfig
from dativo_workers.errors import DativoError
from dativo_workers.fragments import sweep_run
from dativo_workers.ledger import FINAL_STATES, Ledger
from dativo_workers.pipeline import commit_run, plan_run, record_committed, run_summary, snapshot_in_table
from dativo_workers.storage import catalog_properties


def submit(job: LoadedJob, runner: RunnerConfig, ledger: Ledger, queue: str | None) -> str:
    """Plan the run, record it, send its partitions. Returns the run id at once."""
    from dativo_workers.celery_app import DEFAULT_QUEUE
    from dativo_workers.tasks import enqueue_partitions

    queue = queue or DEFAULT_QUEUE
    planned = plan_run(job, runner, ledger, queue=queue)
    enqueue_partitions(planned.run_id, [p.index for p in planned.partitions], queue, ledger)
    return planned.run_id


def retry(run_id: str, runner: RunnerConfig, ledger: Ledger, queue: str | None) -> list[int]:
    """Re-run only the partitions that failed or never finished, then commit the run once."""
    from dativo_workers.tasks import enqueue_partitions

    run = _existing(ledger, run_id)
    if run["state"] in ("committed", "cancelled"):
        raise DativoError(f"run {run_id} is {run['state']}: nothing to retry")
    if json.loads(run["plan_json"]).get("refused"):  # failed while planning: it has no partitions to re-run
        raise DativoError(f"run {run_id} was refused before reading anything ({run['error']}); run the job again")
    indexes = ledger.reopen(run_id, runner.lease_seconds)
    if indexes:
        enqueue_partitions(run_id, indexes, queue or run["queue"], ledger)
    else:  # every partition is done: only the commit is missing
        commit_run(run_id, runner, ledger)
    return indexes


def cancel(run_id: str, runner: RunnerConfig, ledger: Ledger) -> dict[str, Any]:
    """Revoke what has not run, mark the run cancelled, delete its fragments; commit nothing."""
    from dativo_workers.celery_app import app

    run = _existing(ledger, run_id)
    snapshot_id, table = snapshot_in_table(run, runner)
    if snapshot_id is not None:
        # the table is the truth: a run whose snapshot landed is committed, whatever the ledger says
        if run["state"] != "committed":
            record_committed(ledger, run_id, snapshot_id)
        raise DativoError(f"run {run_id} is committed (snapshot {snapshot_id}); cancel changes nothing")
    if not ledger.cancel(run_id):
        raise DativoError(f"run {run_id} is {run['state']} and cannot be cancelled")
    if run["state"] != "failed":  # a failed run's FAIL was its end event
        lineage.ended(ledger, run_id, runner)  # ABORT
    task_ids = [p["task_id"] for p in ledger.partitions(run_id) if p["task_id"]]
    if task_ids:
        app.control.revoke(task_ids)
    storage = catalog_properties(runner.catalog(run["catalog"]), run["tenant"])
    location = json.loads(run["plan_json"])["table"]["location"]
    sweep_run(location, run_id, keep=set(), storage=storage, table=table)
    return run_summary(ledger, run_id)


def wait(
    run_id: str,
    ledger: Ledger,
    on_progress: Callable[[list[dict[str, Any]]], None] | None = None,
    poll_seconds: float = 0.5,
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """Follow a run in the ledger until it is committed, failed or cancelled."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        if on_progress:
            on_progress(ledger.partitions(run_id))
        summary = run_summary(ledger, run_id)
        if summary["state"] in FINAL_STATES:
            return summary
        if deadline is not None and time.monotonic() > deadline:
            return summary
        time.sleep(poll_seconds)


def _existing(ledger: Ledger, run_id: str) -> dict[str, Any]:
    run = ledger.run(run_id)
    if run is None:
        raise DativoError(f"unknown run {run_id}: check the id, or the runner config's ledger_url")
    return run
