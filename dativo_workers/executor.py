"""Embedded executor: the run's partitions on a local process pool, no broker.

The same plan / ingest / commit functions as the Celery path; progress is read from the
ledger, exactly as `dativo submit --wait` will read it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, wait
from typing import Any

from dativo_workers.config.job import LoadedJob
from dativo_workers.config.runner import RunnerConfig
from dativo_workers.cpus import available_cpus
from dativo_workers.errors import SchemaChangeError
from dativo_workers.ingest import ingest_partition, share_cores
from dativo_workers.ledger import Ledger
from dativo_workers.logging import configure_from_env
from dativo_workers.pipeline import commit_run, plan_run, run_summary
from dativo_workers.plugins.base import DataReader

ProgressCallback = Callable[[list[dict[str, Any]]], None]
POLL_SECONDS = 0.25
MAX_POOL_RESTARTS = 20  # a backstop: the ledger's delivery cap fails a partition long before

_process_ledgers: dict[str, Ledger] = {}
_shared_pools: dict[tuple[int, int], ProcessPoolExecutor] | None = None  # see shared_pools()


def _init_worker(cores: int) -> None:
    configure_from_env()
    share_cores(cores)


def _ingest_in_worker(run_id: str, index: int, runner_data: dict[str, Any]) -> dict[str, Any]:
    runner = RunnerConfig.model_validate(runner_data)
    ledger = _process_ledgers.get(runner.ledger_url)
    if ledger is None:
        ledger = _process_ledgers[runner.ledger_url] = Ledger(runner.ledger_url)
    return ingest_with_retries(run_id, index, runner, ledger)


def ingest_with_retries(run_id: str, index: int, runner: RunnerConfig, ledger: Ledger) -> dict[str, Any]:
    """Embedded mode's retry loop: transient failures wait their backoff and go again."""
    while True:
        status = ingest_partition(run_id, index, runner, ledger)
        if status["status"] != "retry":
            return status
        time.sleep(status["delay_s"])


def default_workers(runner: RunnerConfig) -> int:
    return runner.workers or available_cpus()  # the container's CPU limit, not the node's cores


def execute(
    job: LoadedJob,
    runner: RunnerConfig,
    workers: int | None = None,
    on_plan: Callable[[str, int], None] | None = None,
    on_progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Plan, ingest every partition, commit. Returns the run summary."""
    ledger = Ledger(runner.ledger_url)
    # The planning reader stays open until the partitions are read: it may hold the snapshot
    # they all read (this process outlives them, unlike a fleet's producer).
    planner: list[DataReader] = []
    try:
        try:
            planned = plan_run(job, runner, ledger, hold=planner)
        except SchemaChangeError as exc:
            if exc.run_id is None:
                raise
            return run_summary(ledger, exc.run_id)  # refused before anything was written, and recorded
        run_id = planned.run_id
        if on_plan:
            on_plan(run_id, len(planned.partitions))
        ingest_all(ledger, runner, run_id, [p.index for p in planned.partitions], workers, on_progress)
    finally:
        for reader in planner:
            with contextlib.suppress(Exception):  # the reads are over: a failing close must not fail the run
                reader.close()
    rewrites: list[int] = []  # a merge's rewrite of touched files, as partitions on the same pool
    summary = commit_run(run_id, runner, ledger, dispatch=lambda _run, indexes, _queue: rewrites.extend(indexes))
    if rewrites:
        ingest_all(ledger, runner, run_id, rewrites, workers, on_progress)
        summary = commit_run(run_id, runner, ledger)
    if on_progress:
        on_progress(ledger.partitions(run_id))
    return summary


def ingest_all(
    ledger: Ledger,
    runner: RunnerConfig,
    run_id: str,
    indexes: list[int],
    workers: int | None,
    on_progress: ProgressCallback | None,
) -> None:
    """Every partition of the run: in a thread of this process, or on a local process pool."""
    pool_size = max(1, min(workers or default_workers(runner), len(indexes) or 1))

    if pool_size == 1:
        # In-process (a thread, so the caller keeps drawing progress): no pool start-up cost.
        finished = threading.Event()
        thread = threading.Thread(
            target=lambda: ([ingest_with_retries(run_id, i, runner, ledger) for i in indexes], finished.set()),
            daemon=True,
        )
        thread.start()
        _watch(ledger, run_id, on_progress, finished.wait)
        thread.join()
    else:
        context = multiprocessing.get_context("spawn")  # fork is unsafe with Arrow's and SQLite's threads
        runner_data = runner.model_dump()
        cores = max(1, available_cpus() // pool_size)  # no oversubscription: each worker its share
        # A pool process that dies (OOM-killed, segfault) breaks the whole pool: the partitions it
        # did not finish go to a fresh pool. The ledger counts each start, so a partition that kills
        # its process every time fails after retry.max_attempts + 2 deliveries, as on a fleet.
        died: dict[int, str] = dict.fromkeys(indexes, "")
        for _ in range(MAX_POOL_RESTARTS + 1):
            died = _ingest_on_pool(ledger, run_id, list(died), runner_data, context, pool_size, cores, on_progress)
            if not died:
                return
        for index, error in died.items():
            ledger.fail_partition(run_id, index, None, f"worker process died: {error}")


def _ingest_on_pool(
    ledger: Ledger,
    run_id: str,
    indexes: list[int],
    runner_data: dict[str, Any],
    context: Any,
    pool_size: int,
    cores: int,
    on_progress: ProgressCallback | None,
) -> dict[int, str]:
    """One pool for ``indexes``; returns the partitions whose process died, with the error."""
    key = (pool_size, cores)
    pool = _shared_pools.get(key) if _shared_pools is not None else None
    if pool is None:
        pool = ProcessPoolExecutor(pool_size, mp_context=context, initializer=_init_worker, initargs=(cores,))
        if _shared_pools is not None:
            _shared_pools[key] = pool
    try:
        futures: list[Future[dict[str, Any]]] = [
            pool.submit(_ingest_in_worker, run_id, i, runner_data) for i in indexes
        ]
        _watch(ledger, run_id, on_progress, lambda timeout: not wait(futures, timeout=timeout).not_done)
    finally:
        if _shared_pools is None:
            pool.shutdown()
    died = {i: str(f.exception()) for f, i in zip(futures, indexes, strict=True) if f.exception() is not None}
    if died and _shared_pools is not None:  # a process died: the pool is broken, the next run needs a fresh one
        _shared_pools.pop(key, None)
        pool.shutdown(wait=False)
    return died


@contextlib.contextmanager
def shared_pools() -> Iterator[None]:
    """Within this block the runs reuse their local process pools: a job of many tables (one
    run each) starts its worker processes once, not once per table."""
    global _shared_pools
    outer, _shared_pools = _shared_pools, {}
    try:
        yield
    finally:
        pools, _shared_pools = _shared_pools, outer
        for pool in pools.values():
            pool.shutdown(cancel_futures=True)


def _watch(
    ledger: Ledger, run_id: str, on_progress: ProgressCallback | None, wait_done: Callable[[float], bool]
) -> None:
    """Report progress until the partitions are done; returns as soon as they are."""
    while True:
        if on_progress:
            on_progress(ledger.partitions(run_id))
        if wait_done(POLL_SECONDS):
            return
