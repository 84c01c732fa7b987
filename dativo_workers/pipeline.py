"""The three stages of a run as plain functions: plan, ingest one partition, commit.

Embedded mode calls them from a process pool; the Celery tasks wrap the same functions.
Everything a worker needs travels through the ledger (job with secret references, table
plan); messages carry only a run id and a partition index.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import structlog

from dativo_workers.config.asset import Asset, load_asset
from dativo_workers.config.job import LoadedJob, job_from_dict
from dativo_workers.config.runner import RunnerConfig
from dativo_workers.conform import Conformer, SchemaMismatch, to_record_batches
from dativo_workers.errors import BadDataError, ConfigError, DativoError, SourceError
from dativo_workers.fragments import FragmentWriter, delete_uris, filesystem_for
from dativo_workers.governance import column_docs, table_properties
from dativo_workers.iceberg import CommitRequest, TablePlan, commit, open_catalog, plan_table
from dativo_workers.ledger import Fragment, Ledger
from dativo_workers.plugins.base import DataReader, Partition
from dativo_workers.plugins.manager import create_reader
from dativo_workers.schema import arrow_schema, arrow_to_iceberg, asset_schema

log = structlog.get_logger("dativo.pipeline")
HEARTBEAT_SECONDS = 1.0


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def load_job_asset(job: LoadedJob) -> Asset | None:
    if not job.config.asset_path:
        return None
    path = job.resolve(job.config.asset_path)
    if not path.exists():
        raise ConfigError(f"{job.path}: asset_path: asset file {path} does not exist")
    return load_asset(path)


@dataclass
class PlannedRun:
    run_id: str
    partitions: list[Partition]
    table: TablePlan


def plan_run(job: LoadedJob, runner: RunnerConfig, ledger: Ledger, run_id: str | None = None) -> PlannedRun:
    """Validate, fix the table schema, split the source and record the run in the ledger."""
    cfg = job.config
    asset = load_job_asset(job)
    reader = create_reader(job)
    try:
        if asset is not None:
            source_schema = asset_schema(asset)
        else:
            inferred = reader.schema()
            if inferred is None:
                raise ConfigError(
                    f"{job.path}: the {reader.name!r} source cannot tell its schema; "
                    "set `asset_path` to a data contract"
                )
            source_schema = arrow_to_iceberg(inferred)
        partitions = reader.plan()
        catalog_cfg = runner.catalog(cfg.target.catalog)
        catalog = open_catalog(cfg.target.catalog, catalog_cfg)
        table = plan_table(catalog, cfg.target, source_schema, catalog_cfg.warehouse)
    finally:
        reader.close()
    run_id = run_id or new_run_id()
    columns = [f.name for f in table.schema.fields]
    plan = {
        "table": table.to_dict(),
        "mode": cfg.target.mode,
        "table_properties": table_properties(cfg, asset, columns),
        "column_docs": column_docs(cfg, asset, columns),
    }
    ledger.create_run(
        run_id=run_id,
        tenant=cfg.tenant_id,
        job_name=cfg.name,
        job_path=str(job.path),
        job=job.raw,
        catalog=cfg.target.catalog,
        table_ident=f"{cfg.target.namespace}.{cfg.target.table}",
        plan=plan,
        partition_specs=[p.to_dict() for p in partitions],
    )
    log.info(
        "run planned", run_id=run_id, partitions=len(partitions), table=f"{cfg.target.namespace}.{cfg.target.table}"
    )
    return PlannedRun(run_id, partitions, table)


# -- ingest ---------------------------------------------------------------------------------


class _TypedReadFailed(Exception):
    pass


class _QuarantineWriter:
    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.fs, self.path = filesystem_for(uri)
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, bad: pa.Table) -> None:
        if self.writer is None:
            self.fs.create_dir(self.path.rsplit("/", 1)[0], recursive=True)
            self.writer = pq.ParquetWriter(self.fs.open_output_stream(self.path), bad.schema, compression="zstd")
        else:  # align later batches (a later file may have other columns) with the first one's layout
            bad = pa.table(
                {
                    f.name: bad.column(f.name) if f.name in bad.schema.names else pa.nulls(len(bad), f.type)
                    for f in self.writer.schema
                }
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
            delete_uris([self.uri])
            self.writer = None


def ingest_partition(run_id: str, index: int, runner: RunnerConfig, ledger: Ledger | None = None) -> dict[str, Any]:
    """Read one partition and write its fragments. Never raises: returns a small status record."""
    ledger = ledger or Ledger(runner.ledger_url)
    run = ledger.run(run_id)
    if run is None:
        return {"run_id": run_id, "partition": index, "status": "failed", "error": f"unknown run {run_id}"}
    if run["state"] in ("committed", "cancelled", "failed"):
        return {"run_id": run_id, "partition": index, "status": "skipped", "reason": f"run is {run['state']}"}
    attempt = ledger.start_attempt(run_id, index)
    if attempt is None:
        return {"run_id": run_id, "partition": index, "status": "done", "reason": "already done"}
    bound = log.bind(run_id=run_id, partition=index, attempt=attempt)
    if run["state"] == "pending":
        ledger.set_run_state(run_id, "running")
    try:
        produced, bad_rows = _ingest(run, index, attempt, ledger)
    except Exception as exc:
        message = _describe_error(exc)
        bound.error("partition failed", error=message)
        ledger.fail_partition(run_id, index, attempt, message)
        return {"run_id": run_id, "partition": index, "attempt": attempt, "status": "failed", "error": message}
    won = ledger.finish_partition(run_id, index, attempt, produced, bad_rows)
    if not won:  # another attempt got there first: ours must not linger in the table location
        delete_uris([f.path for f in produced])
        return {"run_id": run_id, "partition": index, "attempt": attempt, "status": "duplicate"}
    rows = sum(f.rows for f in produced if f.kind == "data")
    bound.info("partition done", rows=rows, files=len(produced), bad_rows=bad_rows)
    return {
        "run_id": run_id,
        "partition": index,
        "attempt": attempt,
        "status": "done",
        "rows": rows,
        "files": sum(1 for f in produced if f.kind == "data"),
        "bad_rows": bad_rows,
    }


def _describe_error(exc: Exception) -> str:
    if isinstance(exc, DativoError | SchemaMismatch):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _ingest(run: dict[str, Any], index: int, attempt: int, ledger: Ledger) -> tuple[list[Fragment], int]:
    job = job_from_dict(run["job_path"], json.loads(run["job_json"]))
    plan = json.loads(run["plan_json"])
    table = TablePlan.from_dict(plan["table"])
    spec = next(p for p in ledger.partitions(run["run_id"]) if p["idx"] == index)
    partition = Partition.from_dict(json.loads(spec["spec_json"]))
    reader = create_reader(job)
    try:
        try:
            return _write_partition(job, reader, partition, table, run["run_id"], attempt, ledger, typed=True)
        except _TypedReadFailed:
            # A value did not convert while parsing: re-read as text and sort out the bad rows.
            return _write_partition(job, reader, partition, table, run["run_id"], attempt, ledger, typed=False)
    finally:
        reader.close()


def _write_partition(
    job: LoadedJob,
    reader: DataReader,
    partition: Partition,
    table: TablePlan,
    run_id: str,
    attempt: int,
    ledger: Ledger,
    *,
    typed: bool,
) -> tuple[list[Fragment], int]:
    cfg = job.config
    schema = arrow_schema(table.schema)
    policy = cfg.bad_rows
    writer = FragmentWriter(
        location=table.location,
        run_id=run_id,
        partition_index=partition.index,
        attempt=attempt,
        schema=schema,
        table_schema=table.schema,
        spec=table.spec,
        target_bytes=cfg.target.file_size_mb * 1024 * 1024,
    )
    quarantine = _QuarantineWriter(
        f"{table.location}/_dativo_quarantine/{run_id}/p{partition.index:05d}-a{attempt:02d}.parquet"
    )
    conformer = Conformer(
        schema,
        lambda row: reader.describe_position(partition, row),
        max_bad=0 if policy.action == "fail" else policy.max,
    )
    bad_rows = rows = 0
    last_beat = time.monotonic()
    try:
        for batch in _batches(reader, partition, schema, typed):
            result = conformer.conform(batch)
            if result.bad is not None and result.bad.num_rows:
                bad_rows += result.bad.num_rows
                if policy.action == "fail":
                    first = result.bad.slice(0, 1).to_pylist()[0]
                    raise BadDataError(
                        f"{first['_dativo_position']}: {first['_dativo_reason']} "
                        "(bad_rows.action is 'fail'; use 'quarantine' or 'skip' to load the other rows)"
                    )
                if policy.max is not None and bad_rows > policy.max:
                    raise BadDataError(
                        f"more than bad_rows.max={policy.max} rows do not fit the schema; last: "
                        f"{result.bad.column('_dativo_position')[-1]}: {result.bad.column('_dativo_reason')[-1]}"
                    )
                if policy.action == "quarantine":
                    quarantine.write(result.bad)
            writer.write(result.good)
            rows += result.good.num_rows
            if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                ledger.heartbeat(run_id, partition.index, attempt, rows, writer.bytes_written)
                last_beat = time.monotonic()
        produced = writer.close()
        if (q := quarantine.close()) is not None:
            produced.append(q)
        return produced, bad_rows
    except BaseException:
        writer.abort()
        quarantine.abort()
        raise


def _batches(reader: DataReader, partition: Partition, schema: pa.Schema, typed: bool) -> Iterator[pa.RecordBatch]:
    if not typed:
        try:
            source = reader.read_untyped(partition, schema)
        except NotImplementedError:
            raise SourceError(f"reader {reader.name!r} produced values that do not convert") from None
        for obj in source:
            yield from to_record_batches(obj)
        return
    iterator = iter(reader.read(partition, schema))
    while True:
        try:
            obj = next(iterator)
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            if type(reader).read_untyped is DataReader.read_untyped:
                raise SourceError(f"{partition.label or reader.name}: {exc}") from None
            raise _TypedReadFailed(str(exc)) from None
        yield from to_record_batches(obj)


# -- commit ---------------------------------------------------------------------------------


def commit_run(run_id: str, runner: RunnerConfig, ledger: Ledger | None = None) -> dict[str, Any]:
    """Commit a finished run as ONE snapshot, or fail it. Idempotent; returns the run summary."""
    ledger = ledger or Ledger(runner.ledger_url)
    run = ledger.run(run_id)
    if run is None:
        raise DativoError(f"unknown run {run_id}")
    if run["state"] in ("committed", "cancelled", "failed"):
        return run_summary(ledger, run_id)
    parts = ledger.partitions(run_id)
    unfinished = [p for p in parts if p["state"] in ("pending", "running")]
    if unfinished:
        return run_summary(ledger, run_id)  # not ready: the last partition will fire the commit
    job = json.loads(run["job_json"])
    failed = [p for p in parts if p["state"] != "done"]
    bad_total = sum(p["bad_rows"] for p in parts)
    max_bad = (job.get("bad_rows") or {}).get("max")
    if failed:
        errors = "; ".join(f"partition {p['idx']} ({p['label']}): {p['error']}" for p in failed[:5])
        _fail_run(ledger, run_id, f"{len(failed)} of {len(parts)} partitions failed: {errors}")
        return run_summary(ledger, run_id)
    if max_bad is not None and bad_total > max_bad:
        _fail_run(ledger, run_id, f"{bad_total} bad rows exceed bad_rows.max={max_bad}; nothing committed")
        return run_summary(ledger, run_id)

    plan = json.loads(run["plan_json"])
    data = ledger.winning_fragments(run_id, "data")
    rows = sum(f.rows for f in data)
    ledger.set_run_state(run_id, "committing")
    request = CommitRequest(
        run_id=run_id,
        plan=TablePlan.from_dict(plan["table"]),
        data_files=[f.path for f in data],
        mode=plan["mode"],
        snapshot_properties={
            "dativo.run-id": run_id,
            "dativo.job": run["job_name"],
            "dativo.tenant": run["tenant"],
            "dativo.rows": str(rows),
            "dativo.partitions": str(len(parts)),
            "dativo.bad-rows": str(bad_total),
        },
        table_properties=plan["table_properties"],
        column_docs=plan["column_docs"],
    )
    try:
        catalog = open_catalog(run["catalog"], runner.catalog(run["catalog"]))
        snapshot_id = commit(catalog, request)
    except Exception as exc:
        _fail_run(ledger, run_id, f"commit failed: {_describe_error(exc)}")
        return run_summary(ledger, run_id)
    ledger.set_run_state(
        run_id,
        "committed",
        snapshot_id=snapshot_id,
        rows=rows,
        files=len(data),
        bytes=sum(f.bytes for f in data),
        bad_rows=bad_total,
        error=None,
    )
    log.info("run committed", run_id=run_id, snapshot_id=snapshot_id, rows=rows, files=len(data))
    return run_summary(ledger, run_id)


def _fail_run(ledger: Ledger, run_id: str, error: str) -> None:
    """Mark the run failed; the table is untouched. Fragments of finished partitions stay
    (unreferenced, invisible to readers) so a retry can reuse them."""
    if ledger.fail_run(run_id, error):
        log.error("run failed", run_id=run_id, error=error)


def run_summary(ledger: Ledger, run_id: str) -> dict[str, Any]:
    """The stable machine-readable run record (DESIGN.md §8)."""
    run = ledger.run(run_id)
    if run is None:
        raise DativoError(f"unknown run {run_id}: check the id, or the runner config's ledger_url")
    parts = ledger.partitions(run_id)
    quarantine = ledger.winning_fragments(run_id, "quarantine")
    plan = json.loads(run["plan_json"])
    done = [p for p in parts if p["state"] == "done"]
    end = run["finished_at"] or time.time()
    return {
        "run_id": run_id,
        "state": run["state"],
        "tenant": run["tenant"],
        "job": run["job_name"],
        "table": run["table_ident"],
        "table_location": plan["table"]["location"],
        "rows": run["rows"] if run["state"] == "committed" else sum(p["rows"] for p in parts),
        "files": run["files"] if run["state"] == "committed" else sum(p["files"] for p in done),
        "bytes": run["bytes"] if run["state"] == "committed" else sum(p["bytes"] for p in done),
        "bad_rows": sum(p["bad_rows"] for p in parts),
        "quarantine_files": [f.path for f in quarantine],
        "snapshot_id": run["snapshot_id"],
        "partitions_total": run["partitions_total"],
        "partitions_done": len(done),
        "partitions_failed": sum(1 for p in parts if p["state"] == "failed"),
        "duration_s": round(end - run["created_at"], 3),
        "error": run["error"],
    }
