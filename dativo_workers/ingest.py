"""Ingest one partition: read, conform, write fragments, record the winning attempt.

Everything comes from the ledger (job with secret references, table plan), so a task message
needs only a run id and a partition index. The function never raises: it returns a small
status record, so the commit step always runs and decides (DESIGN.md §6).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
import structlog
from sqlalchemy.exc import NoResultFound

from dativo_workers import metrics
from dativo_workers.config.job import LoadedJob, job_from_dict
from dativo_workers.config.runner import RunnerConfig
from dativo_workers.conform import (
    POSITION_COLUMN,
    RAW_COLUMN,
    REASON_COLUMN,
    Conformer,
    SchemaMismatch,
    to_record_batches,
)
from dativo_workers.errors import BadDataError, DativoError, SourceError
from dativo_workers.fragments import FragmentWriter, delete_uris, quarantine_dir
from dativo_workers.iceberg import TablePlan
from dativo_workers.ledger import Claim, Fragment, Ledger
from dativo_workers.plugins.base import DataReader, Partition, ReaderConversionError, RejectedRecords
from dativo_workers.plugins.manager import (
    create_reader,
    plugin_call,
    plugin_error,
    plugin_iter,
    reraise_as_plugin_error,
)
from dativo_workers.quality import PartitionQuality, QualityThread, Rule, planned_rules, sidecar_opener
from dativo_workers.retry import backoff_seconds, is_transient
from dativo_workers.schema import arrow_schema
from dativo_workers.secrets.redact import describe_error as redact_describe_error
from dativo_workers.secrets.redact import scrub, sensitive_columns
from dativo_workers.storage import StorageProperties, catalog_properties, filesystem, make_parent_dir
from dativo_workers.writers import TableFormatSink, WriterPlan, WriterSink, open_sink, writer_plan

log = structlog.get_logger("dativo.ingest")
T = TypeVar("T")
_read_ahead = True  # off when this process must stay on its own share of the cores


def share_cores(cores: int) -> None:
    """Limit this process to ``cores`` CPUs: Arrow's thread pool and the read-ahead thread.

    A pool of N worker processes on N cores runs fastest with one core each; a lone worker
    gets all of them (parsing on one thread while encoding on another)."""
    global _read_ahead
    cores = max(1, cores)
    pa.set_cpu_count(cores)
    _read_ahead = cores > 1


HEARTBEAT_SECONDS = 1.0
REDELIVERY_ALLOWANCE = 2  # deliveries beyond retry.max_attempts tolerated for lost workers


@dataclass
class _Attempt:
    run_id: str
    attempt: int
    job: LoadedJob
    table: TablePlan
    partition: Partition
    storage: StorageProperties
    ledger: Ledger
    writer: WriterPlan | None = None
    sensitive: frozenset[str] = frozenset()  # columns whose values errors must not show
    heartbeat: _Heartbeat | None = None
    quality_rules: list[Rule] | None = None  # the contract's quality rules (plan["quality"])
    quality_state: str | None = None  # what the partition's rows measured, for the ledger (JSON)
    merge: dict[str, Any] | None = None  # a merge run's MergeSpec (its rewrite partitions need it)


def ingest_partition(run_id: str, index: int, runner: RunnerConfig, ledger: Ledger | None = None) -> dict[str, Any]:
    """Run one attempt of a partition. Status: done, duplicate, skipped, cancelled, failed, retry
    (a transient error; with delay_s) or busy (a live attempt elsewhere holds it; look again after
    delay_s). A ledger error propagates: the caller retries it (the Celery task does)."""
    ledger = ledger or Ledger(runner.ledger_url)
    base = {"run_id": run_id, "partition": index}
    run = _runs.get((ledger.url, run_id))
    if run is None:  # the first partition of this run in this process
        run = ledger.run(run_id)
        if run is None:
            return {**base, "status": "failed", "error": f"unknown run {run_id}"}
        if run["state"] in ("committed", "cancelled", "failed"):
            return {**base, "status": "skipped", "reason": f"run is {run['state']}"}
    # the claim checks the run's state itself: a cached row is not trusted for it
    claim = ledger.claim_attempt(run_id, index, lease_seconds=runner.lease_seconds)
    if claim is None:
        return _not_started(ledger, base, runner.lease_seconds)
    base["attempt"] = claim.attempt
    heartbeat = _Heartbeat(ledger, run_id, index, claim.attempt, min(HEARTBEAT_SECONDS, runner.lease_seconds / 3))
    labels = (run["tenant"], run["table_ident"])
    started = metrics.partition_started(*labels)
    outcome = None
    try:
        status = _run_attempt(run, index, claim, runner, ledger, base, heartbeat)
        outcome = _OUTCOMES.get(status["status"])
        return status
    except BaseException:
        # left running, the partition would wait a whole lease for another worker; the task
        # retries a ledger error, and the reconciler resends a pending partition whose message is gone
        with contextlib.suppress(Exception):
            ledger.release_partition(run_id, index, claim.attempt)
        raise
    finally:
        heartbeat.stop()
        if outcome == "done":
            metrics.partition_ended(*labels, started, outcome, status["rows"], status["bytes"], status["bad_rows"])
        else:
            metrics.partition_ended(*labels, started, outcome)


_OUTCOMES = {"done": "done", "retry": "retried", "failed": "failed", "duplicate": "duplicate"}  # metrics' outcomes


class _RunCache:
    """The runs this process works on: their job and plan never change after planning, so a
    worker reads and validates them once per run, not once per partition (a run's state is
    never taken from here: every claim checks it in the ledger). Secrets are not kept: the
    storage properties are resolved again for every attempt."""

    SIZE = 8

    def __init__(self) -> None:
        self._runs: dict[tuple[str, str], dict[str, Any]] = {}
        self._jobs: dict[tuple[str, str], tuple[LoadedJob, dict[str, Any], TablePlan]] = {}

    def get(self, key: tuple[str, str]) -> dict[str, Any] | None:
        return self._runs.get(key)

    def job(self, key: tuple[str, str], run: dict[str, Any]) -> tuple[LoadedJob, dict[str, Any], TablePlan]:
        """The run's job (validated, ${ENV} expanded on this worker), plan and table plan. A job
        that does not load (a ${VAR} missing here) raises and is not remembered."""
        if key not in self._jobs:
            job = job_from_dict(run["job_path"], json.loads(run["job_json"]))
            plan = json.loads(run["plan_json"])
            while len(self._jobs) >= self.SIZE:
                oldest = next(iter(self._jobs))
                self._jobs.pop(oldest)
                self._runs.pop(oldest, None)
            self._jobs[key] = (job, plan, TablePlan.from_dict(plan["table"]))
            self._runs[key] = run
        return self._jobs[key]


_runs = _RunCache()


def _not_started(ledger: Ledger, base: dict[str, Any], lease_seconds: float) -> dict[str, Any]:
    """Why start_attempt refused: the run or the partition is past running, or a live attempt holds it."""
    run = ledger.run(base["run_id"]) or {"state": "unknown"}
    try:
        part = ledger.partition(base["run_id"], base["partition"])
    except NoResultFound:  # a message for a partition the run does not have: nothing to retry
        return {**base, "status": "failed", "error": f"run {base['run_id']} has no partition {base['partition']}"}
    if part["state"] == "done":
        return {**base, "status": "done", "reason": "already done"}
    if run["state"] not in ("pending", "running"):
        return {**base, "status": "skipped", "reason": f"run is {run['state']}"}
    if part["state"] == "running":  # held by an attempt that still beats: look again once its lease could lapse
        delay = max(1.0, (part["heartbeat_at"] or 0) + lease_seconds - time.time() + 1.0)
        return {**base, "status": "busy", "worker": part["worker"], "delay_s": round(delay, 2)}
    return {**base, "status": "skipped", "reason": f"partition is {part['state']}"}


def _run_attempt(
    run: dict[str, Any],
    index: int,
    claim: Claim,
    runner: RunnerConfig,
    ledger: Ledger,
    base: dict[str, Any],
    heartbeat: _Heartbeat,
) -> dict[str, Any]:
    run_id, attempt = run["run_id"], claim.attempt
    bound = log.bind(run_id=run_id, partition=index, attempt=attempt)
    try:
        job, plan, table = _runs.job((ledger.url, run_id), run)
    except DativoError as exc:  # a ${VAR} the job needs is not set on this worker
        message = describe_error(exc)
        ledger.fail_partition(run_id, index, attempt, message)
        bound.error("partition failed", error=message)
        return {**base, "status": "failed", "error": message}
    deliveries = attempt - claim.attempt_base
    if deliveries > job.config.retry.max_attempts + REDELIVERY_ALLOWANCE:
        # a message that kills its worker is redelivered forever unless someone counts
        message = f"partition was started {deliveries} times without finishing (worker lost each time); giving up"
        ledger.fail_partition(run_id, index, attempt, message)
        bound.error("partition failed", error=message)
        return {**base, "status": "failed", "error": message}
    try:
        work = _Attempt(
            run_id=run_id,
            attempt=attempt,
            job=job,
            table=table,
            partition=Partition.from_dict(json.loads(claim.spec_json)),
            storage=catalog_properties(runner.catalog(run["catalog"]), run["tenant"]),
            ledger=ledger,
            writer=writer_plan(plan),
            sensitive=_sensitive_columns(plan),
            heartbeat=heartbeat,
            quality_rules=planned_rules(plan),
            merge=plan.get("merge"),
        )
        produced, bad_rows = _read_and_write(work)
    except Exception as exc:
        message = describe_error(exc)
        if isinstance(exc, RunCancelled):
            bound.info("partition stopped: run cancelled")
            return {**base, "status": "cancelled"}
        metrics.source_error(run["tenant"], run["table_ident"], exc)
        policy = job.config.retry
        if is_transient(exc) and attempt < policy.max_attempts:
            delay = backoff_seconds(policy, attempt)
            bound.warning("partition attempt failed, will retry", error=message, delay_s=round(delay, 2))
            ledger.release_partition(run_id, index, attempt, message)
            return {**base, "status": "retry", "error": message, "delay_s": delay}
        bound.error("partition failed", error=message)
        ledger.fail_partition(run_id, index, attempt, message)
        return {**base, "status": "failed", "error": message}
    finished = ledger.finish_attempt(run_id, index, attempt, produced, bad_rows, work.quality_state)
    if not finished.won:
        # another attempt got there first: ours must not linger in the table location
        delete_uris([f.path for f in produced], work.storage)
        bound.info("partition duplicate discarded")
        return {**base, "status": "duplicate"}
    data = [f for f in produced if f.kind == "data"]
    rows = sum(f.rows for f in data)
    bound.info("partition done", rows=rows, files=len(data), bad_rows=bad_rows)
    # run_finished: no partition of the run was left open as this one finished (the task sends the commit)
    return {
        **base,
        "status": "done",
        "rows": rows,
        "files": len(data),
        "bytes": sum(f.bytes for f in data),
        "bad_rows": bad_rows,
        "run_finished": finished.run_finished,
    }


def describe_error(exc: BaseException) -> str:
    """The error as stored and returned: scrubbed of secrets, ${ENV} values and quoted source values."""
    return scrub(str(exc)) if isinstance(exc, SchemaMismatch) else redact_describe_error(exc)


def _sensitive_columns(plan: dict[str, Any]) -> frozenset[str]:
    """Columns the run's effective classification marks sensitive: bad-row errors mask their values."""
    columns = [f["name"] for f in json.loads(plan["table"]["schema"]).get("fields", [])]
    return sensitive_columns(plan.get("table_properties") or {}, columns)


class _TypedReadFailed(Exception):
    pass


class _Heartbeat:
    """Beats in the ledger for the whole attempt, from its claim until the attempt ends, whether
    or not batches arrive: a slow first query, a long Retry-After or a slow conform step is not a
    silent worker, so the reconciler never steals a live partition. It carries the progress
    counters the attempt reports, and notices a cancelled run, which the attempt acts on at its
    next batch.

    One thread per process beats for every attempt under way in it, started with the first:
    starting and joining a thread per attempt cost more than a whole one-row partition on a
    busy host. A beat still in flight when its attempt stops changes nothing: the ledger
    touches only the attempt that holds a running partition."""

    _wake = threading.Condition()
    _beating: dict[int, _Heartbeat] = {}
    _thread: threading.Thread | None = None
    _wakes_at = 0.0  # while the thread waits: when it looks next (monotonic)

    def __init__(self, ledger: Ledger, run_id: str, index: int, attempt: int, every_s: float) -> None:
        self.ledger, self.run_id, self.index, self.attempt, self.every_s = ledger, run_id, index, attempt, every_s
        self.rows = self.bytes = 0
        self.cancelled = threading.Event()
        self.due = time.monotonic() + every_s
        cls = type(self)
        with cls._wake:
            cls._beating[id(self)] = self
            if cls._thread is None or not cls._thread.is_alive():
                cls._thread = threading.Thread(target=cls._run, name="dativo-heartbeat", daemon=True)
                cls._thread.start()
            elif self.due < cls._wakes_at:  # waking the thread costs a thread switch: only if it would be late
                cls._wake.notify()

    def progress(self, rows: int, nbytes: int) -> None:
        self.rows, self.bytes = rows, nbytes

    def stop(self) -> None:
        with self._wake:
            self._beating.pop(id(self), None)

    @classmethod
    def _run(cls) -> None:
        while True:
            with cls._wake:
                now = time.monotonic()
                due = [beat for beat in cls._beating.values() if beat.due <= now]
                if not due:
                    cls._wakes_at = min((b.due for b in cls._beating.values()), default=now + 60.0)
                    cls._wake.wait(cls._wakes_at - now)
                    cls._wakes_at = 0.0
                    continue
                for beat in due:
                    beat.due = now + beat.every_s
            for beat in due:
                beat._beat()

    @classmethod
    def _after_fork(cls) -> None:  # the parent's thread (and lock holder) do not exist in a child
        cls._wake, cls._beating, cls._thread, cls._wakes_at = threading.Condition(), {}, None, 0.0

    def _beat(self) -> None:
        try:
            state = self.ledger.heartbeat(self.run_id, self.index, self.attempt, self.rows, self.bytes)
        except Exception as exc:  # a ledger blip: beat again next time; only a long outage lapses the lease
            log.warning(
                "heartbeat failed", run_id=self.run_id, partition=self.index, error=f"{type(exc).__name__}: {exc}"
            )
            return
        if state == "cancelled":
            self.cancelled.set()


os.register_at_fork(after_in_child=_Heartbeat._after_fork)


class RunCancelled(DativoError):
    """The operator cancelled the run while this partition was being written."""


def _read_and_write(work: _Attempt) -> tuple[list[Fragment], int]:
    if "merge_rewrite" in work.partition.spec:  # not a source read: a merge's rewrite of one table file
        return _merge_rewrite(work), 0
    reader = create_reader(work.job)
    if hasattr(reader, "use_table_storage"):  # reads the table's own files (a compaction): the catalog's storage
        reader.use_table_storage(work.storage)
    try:
        try:
            return _write_partition(work, reader, typed=True)
        except _TypedReadFailed:
            # A value did not convert while parsing: re-read as text and sort out the bad rows.
            return _write_partition(work, reader, typed=False)
    finally:
        plugin_call(reader.name, reader.close)


def _merge_rewrite(work: _Attempt) -> list[Fragment]:
    from dativo_workers.iceberg import load_table, open_catalog
    from dativo_workers.merge import MergeSpec, rewrite_partition

    table = load_table(open_catalog(work.job.config.target.catalog, work.storage), work.table.identifier)
    if table is None or work.merge is None:
        raise DativoError(f"merge rewrite of run {work.run_id}: the table {'.'.join(work.table.identifier)} is gone")
    spec = MergeSpec.from_dict(work.merge)
    return rewrite_partition(table, work.storage, spec, work.run_id, work.partition.spec["merge_rewrite"], work.attempt)


def _write_partition(work: _Attempt, reader: DataReader, *, typed: bool) -> tuple[list[Fragment], int]:
    cfg, table, partition = work.job.config, work.table, work.partition
    schema = _arrow_schema_of(table)
    policy = cfg.bad_rows
    writer: FragmentWriter | WriterSink | TableFormatSink = FragmentWriter(
        location=table.location,
        storage=work.storage,
        run_id=work.run_id,
        partition_index=partition.index,
        attempt=work.attempt,
        schema=schema,
        table_schema=table.schema,
        spec=table.spec,
        target_bytes=cfg.target.file_size_mb * 1024 * 1024,
        row_group_bytes=cfg.target.row_group_mb * 1024 * 1024,
    )
    if work.writer is not None:  # a writer target, or a writer as the Iceberg table's format
        schema, writer = open_sink(
            work.writer,
            work.job,
            writer,
            location=table.location,
            storage=work.storage,
            run_id=work.run_id,
            partition_index=partition.index,
            attempt=work.attempt,
        )
    quarantine = _QuarantineWriter(
        f"{table.location}/{quarantine_dir(work.run_id)}/p{partition.index:05d}-a{work.attempt:02d}.parquet",
        work.storage,
        schema.names,
    )
    conformer = Conformer(
        schema,
        lambda row: reader.describe_position(partition, row),
        max_bad=0 if policy.action == "fail" else policy.max,
        sensitive=work.sensitive,
    )
    bad_rows = rows = 0
    checks = None
    if work.quality_rules:
        opener = sidecar_opener(table.location, work.run_id, partition.index, work.attempt, work.storage)
        checks = QualityThread(PartitionQuality(work.quality_rules, opener))  # measures beside the writing

    def sort_out(bad: pa.Table) -> None:
        """Apply the job's bad_rows policy to these bad rows."""
        nonlocal bad_rows
        bad_rows += bad.num_rows
        if policy.action == "fail":
            first = bad.slice(0, 1).to_pylist()[0]
            raise BadDataError(
                f"{first[POSITION_COLUMN]}: {first[REASON_COLUMN]} "
                "(bad_rows.action is 'fail'; use 'quarantine' or 'skip' to load the other rows)"
            )
        if policy.max is not None and bad_rows > policy.max:
            raise BadDataError(
                f"more than bad_rows.max={policy.max} rows do not fit the schema; last: "
                f"{bad.column(POSITION_COLUMN)[-1]}: {bad.column(REASON_COLUMN)[-1]}"
            )
        if policy.action == "quarantine":
            quarantine.write(bad)

    try:
        batches = _batches(reader, partition, schema, typed)
        for batch in prefetched(batches) if _read_ahead else batches:
            if isinstance(batch, RejectedRecords):
                if len(batch):
                    sort_out(_rejected_table(batch))
                continue
            result = conformer.conform(batch)
            if result.bad is not None and result.bad.num_rows:
                sort_out(result.bad)
            writer.write(result.good)
            if checks is not None:  # the contract's quality metrics, on the rows as they go by
                checks.observe(result.good)
            rows += result.good.num_rows
            if work.heartbeat is not None:  # its thread reports these, and tells us of a cancel
                work.heartbeat.progress(rows, writer.bytes_written)
                if work.heartbeat.cancelled.is_set():
                    raise RunCancelled(f"run {work.run_id} was cancelled")
        if conformer.ignored_columns:
            log.warning(
                "source columns not in the table schema were not loaded",
                run_id=work.run_id,
                partition=partition.index,
                columns=sorted(conformer.ignored_columns),
            )
        if checks is not None:
            checks.finish()  # its last rows measured while the writer closes its files
        produced = writer.close()
        if checks is not None:
            state = checks.close()
            work.quality_state = json.dumps(state)
            produced += [Fragment("quality", uri, 0, 0) for uri in state["sidecars"].values()]
        if (q := quarantine.close()) is not None:
            produced.append(q)
        return produced, bad_rows
    except BaseException:
        writer.abort()
        if checks is not None:
            delete_uris(checks.abort(), work.storage)
        quarantine.abort()
        raise


_arrow_schemas: dict[int, tuple[TablePlan, pa.Schema]] = {}


def _arrow_schema_of(table: TablePlan) -> pa.Schema:
    """The table plan's Arrow schema, converted once per plan: a run's plan is one object in this
    process (`_RunCache`), and the conversion costs ~0.1 ms, a noticeable share of a tiny partition."""
    hit = _arrow_schemas.get(id(table))
    if hit is None or hit[0] is not table:
        if len(_arrow_schemas) >= _RunCache.SIZE:
            _arrow_schemas.clear()
        hit = _arrow_schemas[id(table)] = (table, arrow_schema(table.schema))
    return hit[1]


def _rejected_table(rejected: RejectedRecords) -> pa.Table:
    """Records a reader could not make rows of, in the quarantine layout: their text, not columns."""
    return pa.table(
        {
            RAW_COLUMN: pa.array(rejected.text, pa.string()),
            REASON_COLUMN: pa.array(rejected.reasons, pa.string()),
            POSITION_COLUMN: pa.array(rejected.positions, pa.string()),
        }
    )


def _batches(
    reader: DataReader, partition: Partition, schema: pa.Schema, typed: bool
) -> Iterator[pa.RecordBatch | RejectedRecords]:
    """The reader's output as record batches, and the records it rejected; whatever the reader
    raises names it (PluginError)."""
    name = reader.name
    if not typed:
        try:
            source = reader.read_untyped(partition, schema)
        except NotImplementedError:
            raise SourceError(f"reader {name!r} produced values that do not convert") from None
        for obj in plugin_iter(name, source):
            if isinstance(obj, RejectedRecords):
                yield obj
                continue
            yield from plugin_iter(name, to_record_batches(obj))
        return
    iterator = plugin_call(name, lambda: iter(reader.read(partition, schema)))
    while True:
        try:
            obj = next(iterator)
        except StopIteration:
            return
        except (pa.ArrowInvalid, ReaderConversionError) as exc:
            if type(reader).read_untyped is DataReader.read_untyped:
                raise plugin_error(name, SourceError(f"{partition.label}: {exc}") if partition.label else exc) from None
            raise _TypedReadFailed(str(exc)) from None
        except BaseException as exc:
            reraise_as_plugin_error(name, exc)
        if isinstance(obj, RejectedRecords):
            yield obj
            continue
        yield from plugin_iter(name, to_record_batches(obj))


_DONE = object()


def prefetched(batches: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Read the next batches on a helper thread while this one converts and writes.

    Parsing and Parquet encoding both release the GIL, so one worker keeps two cores busy;
    ``depth`` bounds how many batches wait in memory. Reader errors surface here, in order.
    """
    slots: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        slots.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            slots.put(exc)
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()  # the reader's files are released on this thread, where they were used

    thread = threading.Thread(target=produce, name="dativo-prefetch", daemon=True)
    thread.start()
    try:
        while (item := slots.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                slots.get(timeout=0.1)
        thread.join()


class _QuarantineWriter:
    """Bad rows, as text with their reason and position, in one Parquet file per attempt.

    Layout: the first bad rows' columns and the table's, then the record's text (only for a
    record the reader could not split into columns), the reason and the position."""

    def __init__(self, uri: str, storage: StorageProperties, columns: list[str]) -> None:
        self.uri = uri
        self.storage = storage
        self.columns = columns
        self.fs, self.path = filesystem(uri, storage)
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, bad: pa.Table) -> None:
        if self.writer is None:
            extra = (RAW_COLUMN, REASON_COLUMN, POSITION_COLUMN)
            names = [n for n in bad.schema.names if n not in extra]
            names += [n for n in self.columns if n not in names]
            layout = pa.schema(
                [bad.schema.field(n) if n in bad.schema.names else pa.field(n, pa.string()) for n in names]
                + [pa.field(n, pa.string()) for n in extra]
            )
            make_parent_dir(self.fs, self.path)
            self.writer = pq.ParquetWriter(self.fs.open_output_stream(self.path), layout, compression="zstd")
        # later bad rows (from another file, or rejected records) may have other columns: align them
        layout = self.writer.schema
        have = bad.schema.names
        bad = pa.Table.from_arrays(
            [bad.column(f.name) if f.name in have else pa.nulls(len(bad), f.type) for f in layout], schema=layout
        )
        self.writer.write_table(bad)
        self.rows += bad.num_rows

    def close(self) -> Fragment | None:
        if self.writer is None:
            return None
        self.writer.close()
        size = self.fs.get_file_info(self.path).size
        return Fragment("quarantine", self.uri, self.rows, size)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
            delete_uris([self.uri], self.storage)
            self.writer = None
