"""Celery tasks: thin wrappers around the plain functions of ingest and pipeline.

Messages carry a run id and a partition index, nothing else: the job (with secret
references, never values) and the table plan are in the ledger.

A task that raises is acknowledged by Celery and its message is gone, so a ledger error (the
database restarting, failing over, refusing connections) is never let out of a task: the task
retries itself with backoff instead. The reconciler is the net beneath: it resends a pending
partition whose message is nowhere in the broker.
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from typing import Any

import structlog
from celery import Task
from sqlalchemy.exc import SQLAlchemyError

from dativo_workers.celery_app import DEFAULT_QUEUE, app, worker_runner
from dativo_workers.ingest import describe_error, ingest_partition
from dativo_workers.ledger import Ledger
from dativo_workers.pipeline import commit_run
from dativo_workers.reconcile import reconcile

log = structlog.get_logger("dativo.tasks")
_ledgers: dict[str, Ledger] = {}
LEDGER_RETRY_MAX_S = 60.0
BROKER_SCAN_CHUNK = 1000
PUBLISH_BATCH = 1000  # Redis commands per pipelined round trip when enqueueing partitions


def _ledger() -> Ledger:
    url = worker_runner().ledger_url
    if url not in _ledgers:
        _ledgers[url] = Ledger(url)
    return _ledgers[url]


def ledger_retry_delay(retries: int) -> float:
    """1 s, 2 s, 4 s ... up to a minute, with jitter so a fleet does not reconnect in step."""
    return min(LEDGER_RETRY_MAX_S, 2.0 ** min(retries, 6)) * random.uniform(0.75, 1.25)


# The ledger caps attempts and holds each partition's outcome: the result backend gets no
# STARTED/SUCCESS record per partition (two Redis writes each, and a week of memory at 100,000
# partitions), only the (scrubbed) error of an exception that escaped.
@app.task(
    name="dativo.ingest_partition",
    bind=True,
    max_retries=None,
    ignore_result=True,
    store_errors_even_if_ignored=True,
)
def ingest_partition_task(self: Task, run_id: str, index: int) -> dict[str, Any]:
    try:
        ledger = _ledger()
        status = ingest_partition(run_id, index, worker_runner(), ledger)
        if "run_finished" in status:  # read with the partition's finish, in its transaction
            finished = bool(status.pop("run_finished"))
        else:
            finished = status["status"] in ("done", "failed") and ledger.all_partitions_finished(run_id)
        run = (ledger.run(run_id) or {}) if finished else {}
    except SQLAlchemyError as exc:
        delay = ledger_retry_delay(self.request.retries)
        log.warning(
            "ledger unavailable, partition task will retry",
            run_id=run_id,
            partition=index,
            delay_s=round(delay, 2),
            error=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
        )
        raise self.retry(countdown=delay) from None
    except Exception as exc:
        raise _scrubbed(exc) from None
    if status["status"] in ("retry", "busy"):
        raise self.retry(countdown=status["delay_s"])
    if finished:
        # The partition that leaves none open sends the commit. Two that finish at once may both
        # see that and both send it: the ledger lets one committer claim the run, the other returns.
        commit_run_task.apply_async(args=(None, run_id), queue=run.get("queue") or DEFAULT_QUEUE)
    return status


@app.task(name="dativo.commit_run", bind=True, max_retries=None)
def commit_run_task(self: Task, _results: list[dict[str, Any]] | None, run_id: str) -> dict[str, Any]:
    """Commit a run whose partitions have all finished (the first argument is unused: it was the
    chord's header results, kept so messages already queued by an older producer still run)."""
    try:
        ledger = _ledger()  # a merge may send the rewrite of its touched files as partitions first
        return commit_run(
            run_id, worker_runner(), ledger, dispatch=lambda r, idx, q: enqueue_partitions(r, idx, q, ledger)
        )
    except SQLAlchemyError as exc:
        delay = ledger_retry_delay(self.request.retries)
        log.warning("ledger unavailable, commit will retry", run_id=run_id, delay_s=round(delay, 2), error=str(exc))
        raise self.retry(countdown=delay) from None
    except Exception as exc:
        raise _scrubbed(exc) from None


class TaskFailed(Exception):
    """What the result backend stores for an exception that escaped a task: its scrubbed text."""


def _scrubbed(exc: Exception) -> TaskFailed:
    # Celery stores an escaping exception's text and traceback in the result backend (and
    # Flower shows it); the original may quote a secret or a source value
    return TaskFailed(describe_error(exc))


@app.task(name="dativo.reconcile")
def reconcile_task() -> dict[str, Any]:
    try:
        ledger = _ledger()
        return reconcile(
            worker_runner(),
            ledger,
            enqueue=lambda run_id, idx, queue: enqueue_partitions(run_id, idx, queue, ledger),
            broker=broker_task_ids,
        )
    except Exception as exc:  # the next pass tries again; its text reaches the result backend and Flower
        raise _scrubbed(exc) from None


def enqueue_partitions(run_id: str, indexes: list[int], queue: str | None = None, ledger: Ledger | None = None) -> str:
    """One ingest message per partition; returns the enqueue batch id (part of every task id).

    Task ids (and when they were sent) are recorded in the ledger first, in one statement, so
    `dativo cancel` can revoke what has not run and the reconciler can tell a queued partition
    from a lost one. Then the messages go out in pipelined batches (`_publish`).

    No chord: the partition that leaves none open sends the commit (the ledger tells it), and
    the reconciler commits a run whose partitions all finished if that message is lost. A chord
    would count in Redis, carry the commit's signature in every message, and send the body every
    header's result (10,000 status records in one message for 10,000 partitions). A batch that
    fails half-way is not resent here: a message that never reached the broker is a lost
    message, which the reconciler sends again (a duplicate is harmless: the ledger decides).
    """
    queue = queue or DEFAULT_QUEUE
    batch = uuid.uuid4().hex[:8]
    ledger = ledger or _ledger()
    task_ids = ledger.set_task_batch(run_id, indexes, batch, queue)
    if not indexes:  # nothing to ingest (a source with no rows): commit at once
        commit_run_task.apply_async(args=(None, run_id), queue=queue)
    else:
        _publish(run_id, task_ids, queue)
    return batch


def _publish(run_id: str, task_ids: dict[int, str], queue: str) -> None:
    """Send one ingest message per partition, ``PUBLISH_BATCH`` per round trip.

    On Redis the messages are built from one Celery-made template (only the task id and the
    partition index change) and LPUSHed through a pipeline: 0.1 ms a message instead of the
    ~1.5 ms of `apply_async` (routing, entity declarations, a task-sent event and a result
    subscription per message). The envelope is kombu's Redis format, the one `broker_task_ids`
    reads. Flower then sees a partition from when a worker receives it (no task-sent event).
    Other transports go through Celery with kombu's publish batch where the transport has one.
    """
    template = app.amqp.create_task_message(
        "", ingest_partition_task.name, (run_id, 0), {}, ignore_result=True, reply_to=app.thread_oid
    )
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        key_for = getattr(channel, "_q_for_pri", None)
        acquire = getattr(channel, "conn_or_acquire", None)
        if key_for is None or acquire is None:
            with app.producer_or_acquire() as producer, producer.batch(max_size=PUBLISH_BATCH):
                for idx, task_id in task_ids.items():
                    ingest_partition_task.apply_async(
                        (run_id, idx), task_id=task_id, queue=queue, producer=producer, ignore_result=True
                    )
            return
        key = key_for(queue, 0)  # the default priority's list
        with acquire() as client, client.pipeline(transaction=False) as pipe:
            for idx, task_id in task_ids.items():
                pipe.lpush(key, json.dumps(_redis_message(template, task_id, (run_id, idx), queue)))
                if len(pipe) >= PUBLISH_BATCH:
                    pipe.execute()
            pipe.execute()


def _redis_message(template: Any, task_id: str, args: tuple[str, int], queue: str) -> dict[str, Any]:
    """What kombu's Redis transport pushes for `apply_async(args, task_id=..., queue=queue)`."""
    body = json.dumps([list(args), {}, template.body[2]]).encode()
    return {
        "body": base64.b64encode(body).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {**template.headers, "id": task_id, "root_id": task_id, "argsrepr": repr(args)},
        "properties": {
            **template.properties,
            "correlation_id": task_id,
            "delivery_mode": 2,  # persistent
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }


def broker_task_ids(queues: set[str], candidates: set[str]) -> set[str] | None:
    """Which of the ``candidates`` (task ids) the broker still holds for ``queues``: waiting in a
    queue, or handed to a live worker and not acknowledged yet (prefetched, waiting out a retry
    countdown, running). None when the broker cannot be inspected (a transport other than
    Redis, or unreachable): the caller then cannot tell.

    Redis keeps a queue as a list (one per priority step) and every delivered, unacknowledged
    message in the `unacked` hash; both are read in chunks, once per reconciler pass, and only
    when some partition has waited longer than the lease. A message in `unacked` may belong to
    a worker that died (Redis hands it out again only after the visibility timeout): it counts
    as held only if a live worker reports it (active, reserved or scheduled).
    """
    try:
        with app.connection_for_read() as conn:
            channel = conn.default_channel
            client = getattr(channel, "client", None)
            key_for = getattr(channel, "_q_for_pri", None)
            if client is None or key_for is None or not hasattr(channel, "unacked_key"):
                return None
            queued: set[str] = set()
            for queue in queues:
                for key in {key_for(queue, step) for step in channel.priority_steps}:
                    start = 0
                    while chunk := client.lrange(key, start, start + BROKER_SCAN_CHUNK - 1):
                        queued.update(filter(None, (_task_id(json.loads(raw)) for raw in chunk)))
                        start += len(chunk)
            delivered: set[str] = set()
            for _tag, raw in client.hscan_iter(channel.unacked_key, count=BROKER_SCAN_CHUNK):
                delivered.update(filter(None, [_task_id(json.loads(raw)[0])]))
    except Exception as exc:  # the pass goes on without this check; the next one looks again
        log.warning("could not inspect the broker's queues", error=f"{type(exc).__name__}: {exc}")
        return None
    held = candidates & queued
    suspects = (candidates & delivered) - queued
    if suspects:
        live = _held_by_live_workers(suspects)
        held |= suspects if live is None else suspects & live
    return held


def _held_by_live_workers(task_ids: set[str]) -> set[str] | None:
    """Which of ``task_ids`` the live workers hold (running, prefetched, or waiting for their
    countdown), as they answer one broadcast; None when the broadcast fails. A worker that does
    not answer in time may see its message sent again: a duplicate the ledger resolves."""
    try:
        # one round trip: a worker answers for every request it holds, scheduled ones included
        replies = app.control.inspect(timeout=1.0).query_task(*sorted(task_ids))
    except Exception as exc:
        log.warning("could not ask the workers what they hold", error=f"{type(exc).__name__}: {exc}")
        return None
    return {task_id for held in (replies or {}).values() for task_id in held}


def _task_id(message: Any) -> str | None:
    if not isinstance(message, dict):
        return None
    headers = message.get("headers") or {}
    return headers.get("id") or (message.get("properties") or {}).get("correlation_id")
