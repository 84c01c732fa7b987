"""The Celery app: one app for producers and workers, configured from the runner config.

`celery -A dativo_workers.celery_app worker` and `dativo worker` start the same worker. The
settings encode DESIGN.md §6: acks late, one message prefetched, redelivery of a task whose
worker died (capped by the ledger's attempt count), JSON only, visibility timeout above the
longest partition everywhere Redis needs it. Task events only when the runner sets
`task_events` or a monitor (Flower) enables them.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from typing import Any

import structlog
from celery import Celery, signals
from kombu import Queue

from dativo_workers.config.runner import RunnerConfig, load_runner
from dativo_workers.cpus import available_cpus
from dativo_workers.errors import ConfigError
from dativo_workers.secrets.redact import redact_event

DEFAULT_QUEUE = "dativo"
CONTROL_QUEUE = "dativo.control"  # the reconciler must not wait behind a backlog of partitions
VISIBILITY_TIMEOUT_S = 6 * 3600  # above the longest partition: a redelivery before that duplicates work
RESULT_EXPIRES_S = 7 * 24 * 3600  # well above the longest run
PARTITION_KILL_AFTER_S = 60  # hard time limit = runner.partition_timeout_seconds + this


@functools.cache
def worker_runner() -> RunnerConfig:
    """The runner config of this process (workers resolve their own, never from messages)."""
    return load_runner(None)


def partition_time_limits(runner: RunnerConfig) -> tuple[int, int]:
    """(soft, hard) seconds for one partition attempt. The soft limit raises inside the task, so
    the attempt fails cleanly (its error says so); the hard limit kills the pool process if the
    source ignores that. Both stay below the visibility timeout; a worker's shutdown grace period
    (terminationGracePeriodSeconds, stop_grace_period) must be longer than the hard limit."""
    soft = runner.partition_timeout_seconds
    return soft, soft + PARTITION_KILL_AFTER_S


def celery_settings(runner: RunnerConfig) -> dict[str, Any]:
    transport = {"visibility_timeout": VISIBILITY_TIMEOUT_S}
    return {
        "broker_url": runner.broker_url,
        "result_backend": runner.result_backend,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # without --concurrency: one process per CPU this container may use, not per core of the node
        "worker_concurrency": available_cpus(),
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": transport,
        "result_backend_transport_options": transport,
        "visibility_timeout": VISIBILITY_TIMEOUT_S,
        "result_expires": RESULT_EXPIRES_S,
        "result_extended": True,
        "task_track_started": True,
        # off unless the runner asks: a worker publishes three events per task otherwise (a
        # third of its main process's work on one-row partitions); Flower enables them remotely
        "worker_send_task_events": runner.task_events,
        "task_send_sent_event": runner.task_events,
        "task_default_queue": DEFAULT_QUEUE,
        "task_queues": [Queue(DEFAULT_QUEUE), Queue(CONTROL_QUEUE)],
        "task_routes": {"dativo.reconcile": {"queue": CONTROL_QUEUE}},
        "worker_hijack_root_logger": False,
        "beat_schedule": {
            "dativo-reconcile": {
                "task": "dativo.reconcile",
                "schedule": float(runner.reconcile_seconds),
                # a pass that waited a whole interval is stale: the next one is due, so passes
                # slower than the interval never pile up in the control queue
                "options": {"expires": float(runner.reconcile_seconds)},
            },
        },
    }


def make_app(runner: RunnerConfig) -> Celery:
    celery = Celery("dativo", include=["dativo_workers.tasks"])
    celery.conf.update(celery_settings(runner))
    return celery


def _runner_or_exit() -> RunnerConfig:
    """The runner config, or a clean exit: `celery -A dativo_workers.celery_app worker|beat|flower`
    imports this module first, and a traceback through Celery's loader would bury the one line
    (file, line, key) that says what is wrong."""
    try:
        return worker_runner()
    except ConfigError as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(2) from None


app = make_app(_runner_or_exit())


@signals.celeryd_init.connect
def _plan_core_shares(options: dict[str, Any] | None = None, **_: Any) -> None:
    """Each pool process gets CPUs / concurrency (inherited by the forked processes), counting the
    CPUs this container may use (cgroup quota, affinity), not the node's cores."""
    cpus = available_cpus()
    concurrency = (options or {}).get("concurrency") or cpus
    os.environ["DATIVO_PROCESS_CORES"] = str(max(1, cpus // int(concurrency)))


@signals.celeryd_init.connect
def _apply_time_limits(**_: Any) -> None:
    """The worker enforces its own runner's partition time limits. Set on the worker's task, not in
    the app's settings: there the producer would stamp its own limits into every message, and a
    message's limits win over the worker's."""
    soft, hard = partition_time_limits(worker_runner())
    task = app.tasks["dativo.ingest_partition"]
    task.soft_time_limit, task.time_limit = soft, hard


@signals.worker_process_init.connect
def _apply_core_share(**_: Any) -> None:
    if cores := os.environ.get("DATIVO_PROCESS_CORES"):
        from dativo_workers.ingest import share_cores

        share_cores(int(cores))


@signals.worker_process_shutdown.connect
def _metrics_process_dead(pid: int | None = None, **_: Any) -> None:
    """A pool process exits: its live gauges stop counting (its counters' totals stay)."""
    from dativo_workers.metrics import process_dead

    process_dead(pid or os.getpid())


@signals.setup_logging.connect
def _setup_logging(**_: Any) -> None:
    """Workers log through structlog too (JSON with DATIVO_LOG_FORMAT=json)."""
    from dativo_workers.logging import configure_from_env

    configure_from_env()
    logging.getLogger("celery").setLevel(logging.INFO)
    if os.environ.get("DATIVO_LOG_FORMAT") == "json":  # Celery's own lines too, not only Dativo's events
        formatter = structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.format_exc_info,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                redact_event,  # the traceback was rendered from exc_info here: scrub it again
                structlog.processors.JSONRenderer(),
            ],
        )
        for handler in logging.getLogger().handlers:
            handler.setFormatter(formatter)
