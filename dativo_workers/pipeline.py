"""The first and last stages of a run as plain functions: plan it, commit it (ingest.py has
the middle one). Embedded mode and the Celery tasks call the same functions.

Everything a worker needs travels through the ledger (job with secret references, table
plan); messages carry only a run id and a partition index.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC
from pyiceberg.schema import Schema
from pyiceberg.table import Table

from dativo_workers import lineage, metrics, quality
from dativo_workers.catalog_sync import summary_value, sync_committed_run
from dativo_workers.config.asset import Asset, load_asset, split_asset_ref
from dativo_workers.config.job import JobConfig, LoadedJob, job_from_dict
from dativo_workers.config.runner import RunnerConfig
from dativo_workers.errors import CommitOutcomeUnknown, ConfigError, DativoError, SchemaChangeError
from dativo_workers.fragments import sweep_run
from dativo_workers.governance import column_docs, table_properties
from dativo_workers.governance.pii import Finding, detect
from dativo_workers.governance.tags import pii_detection_enabled
from dativo_workers.iceberg import (
    CommitRequest,
    TablePlan,
    commit,
    committed_snapshot,
    committed_state,
    load_table,
    open_catalog,
    plan_table,
    rejected_changes,
    run_files,
    state_prefix,
    state_reset_key,
)
from dativo_workers.ingest import describe_error
from dativo_workers.ledger import Fragment, Ledger
from dativo_workers.loaded_files import LISTING_KEY, read_listing, write_listing
from dativo_workers.merge import REWRITE_KIND, MergeSpec, merge_spec, plan_rewrites, prepared_rewrites
from dativo_workers.plugins.base import DataReader, Partition
from dativo_workers.plugins.manager import create_reader, plugin_call
from dativo_workers.retry import call_with_retries
from dativo_workers.schema import arrow_to_iceberg, asset_schema
from dativo_workers.schema_report import reported_schema, snapshot_properties, source_columns, warning_fields
from dativo_workers.storage import catalog_properties
from dativo_workers.writers import plan_writer, publish_run, writer_plan

log = structlog.get_logger("dativo.pipeline")
NOTHING_NEW = "no new files: every file the job matches was loaded by an earlier committed run; nothing committed"


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def load_job_asset(job: LoadedJob) -> Asset | None:
    if not job.config.asset_path:
        return None
    file, object_name = split_asset_ref(job.config.asset_path)  # contract.yaml#<schema object>
    path = job.resolve(file)
    if not path.exists():
        raise ConfigError(f"{job.path}: asset_path: asset file {path} does not exist")
    return load_asset(path, object_name)


def source_schema(asset: Asset | None, reader: DataReader) -> Schema | None:
    """The table schema the source brings: the asset's, else inferred by the reader (None if it cannot)."""
    if asset is not None:
        return asset_schema(asset)
    inferred = plugin_call(reader.name, reader.schema)
    return arrow_to_iceberg(inferred) if inferred is not None else None


@dataclass
class PlannedRun:
    run_id: str
    partitions: list[Partition]
    table: TablePlan


def plan_run(
    job: LoadedJob,
    runner: RunnerConfig,
    ledger: Ledger,
    run_id: str | None = None,
    hold: list[DataReader] | None = None,
    queue: str | None = None,
) -> PlannedRun:
    """Validate, fix the table schema, split the source and record the run in the ledger.

    ``hold``: the caller outlives every partition read of the run (embedded mode); the planning
    reader is appended to it still open (it may hold a source snapshot) and the caller closes it.
    ``queue``: a distributed run's broker queue, recorded with the run so the reconciler sends
    its partitions even if the producer dies before it does."""
    cfg = job.config
    asset = load_job_asset(job)
    catalog_cfg = runner.catalog(cfg.target.catalog)
    storage = catalog_properties(catalog_cfg, cfg.tenant_id)
    catalog = open_catalog(cfg.target.catalog, storage)
    incremental = cfg.source.incremental and cfg.target.is_iceberg
    new_files = cfg.source.incremental is not None and cfg.source.incremental.new_files
    if new_files and not cfg.target.is_iceberg:
        raise ConfigError(f"{job.path}: source.incremental: `mode: new_files` keeps its state in an Iceberg table")
    files: dict[str, Any] = {}  # new_files mode: what earlier runs loaded, and what this one loads
    # a full refresh reloads everything: its reader gets no state
    existing = load_table(catalog, (cfg.target.namespace, cfg.target.table)) if incremental else None
    existing = None if job.full_refresh else existing

    def plan_source() -> tuple[Schema, list[Partition], dict[str, str], dict[str, Finding], dict[str, str]]:
        state = committed_state(existing, cfg.tenant_id, cfg.name) if existing is not None else None
        files["loaded"] = read_listing(state or {}, storage) if new_files else None
        loaded = files["loaded"].column("key").combine_chunks() if new_files else None
        reader = create_reader(job, state=state, planner_lives_for_run=hold is not None, loaded=loaded)
        planned = False
        try:
            if new_files and type(reader).planned_files is DataReader.planned_files:
                raise ConfigError(
                    f"{job.path}: source.incremental: the {reader.name!r} source cannot load new files only "
                    "(`mode: new_files` is for file sources)"
                )
            files["new"] = plugin_call(reader.name, reader.planned_files) if new_files else None
            if new_files and not files["new"] and asset is None and existing is not None:
                # nothing new, and the files loaded before may have been moved away (archived):
                # no file to infer a schema from, and none is needed: the table's stands
                schema = existing.schema()
            else:
                schema = source_schema(asset, reader)
            if schema is None:
                raise ConfigError(
                    f"{job.path}: the {reader.name!r} source cannot tell its schema; "
                    "set `asset_path` to a data contract"
                )
            partitions = plugin_call(reader.name, reader.plan)
            detected, source_tags = governance_inputs(cfg, reader, partitions, [f.name for f in schema.fields])
            files["brought"] = reported_schema(reader) if asset is not None and partitions else None  # vs the asset
            files["lineage"] = lineage.source(reader, [f.name for f in schema.fields])  # the run's inputs
            planned = True
            return schema, partitions, reader.planned_state(), detected, source_tags
        finally:
            if planned and hold is not None:
                hold.append(reader)
            else:
                reader.close()

    # a source that is briefly unreachable gets the job's retry policy here too, not only in partitions
    schema, partitions, state, detected, source_tags = call_with_retries(cfg.retry, plan_source, "planning")
    writer, schema = plan_writer(job, schema)  # a writer target, or a table format that shapes the rows
    if writer is not None and writer.output is not None:
        table = writer.output_table()
    else:
        try:
            table = plan_table(catalog, cfg.target, schema, catalog_cfg.warehouse)
            if asset is not None and files.get("brought") is not None and table.schema_changes is not None:
                brought, sampled = files["brought"]  # the reader's own schema: columns ignored, dropped
                name = ".".join(table.identifier)
                table.schema_changes = source_columns(table.schema_changes, table.schema, asset, brought, sampled, name)
        except SchemaChangeError as exc:
            refused = _record_refused_run(job, ledger, catalog, run_id, queue, exc)
            lineage.refused(runner, cfg, ledger, refused.run_id, files.get("lineage"))  # FAIL
            raise refused from None
    merge = merge_spec(job, asset, table.schema) if writer is None or writer.output is None else None
    rules = quality.plan_entry(asset, table.schema, cfg.quality.on_fail)  # a bad rule: exit 2, nothing written
    run_id = run_id or new_run_id()
    if new_files and files["new"]:
        # the files loaded so far plus this run's, named by the state this run commits
        state = {**state, **write_listing(table.location, run_id, files["loaded"], files["new"], storage)}
    columns = [f.name for f in table.schema.fields]
    plan = {
        "table": table.to_dict(),
        "mode": "overwrite" if job.full_refresh and cfg.target.mode == "append" else cfg.target.mode,
        "merge": merge.to_dict() if merge is not None else None,
        "full_refresh": job.full_refresh,
        "table_properties": table_properties(cfg, asset, columns, detected, source_tags),
        "column_docs": column_docs(cfg, asset, columns, detected, source_tags),
        "descriptions": {c.name: c.description for c in asset.columns if c.description} if asset else {},
        "state": state,
        "writer": writer.to_dict() if writer is not None else None,
        "nothing_new": new_files and not files["new"],
        "quality": rules,  # the contract's quality rules
    }
    target = writer.output if writer is not None and writer.output else f"{cfg.target.namespace}.{cfg.target.table}"
    plan["lineage"] = lineage.planned(runner, cfg, run_id, plan, files.get("lineage"), writer)  # START
    ledger.create_run(
        run_id=run_id,
        tenant=cfg.tenant_id,
        job_name=cfg.name,
        job_path=str(job.path),
        job=job.raw,
        catalog=cfg.target.catalog,
        table_ident=target,
        plan=plan,
        partition_specs=[p.to_dict() for p in partitions],
        queue=queue,
    )
    log.info("run planned", run_id=run_id, partitions=len(partitions), table=target)
    return PlannedRun(run_id, partitions, table)


def _record_refused_run(
    job: LoadedJob, ledger: Ledger, catalog: Any, run_id: str | None, queue: str | None, exc: SchemaChangeError
) -> SchemaChangeError:
    """A run refused while planning is still a run: recorded failed with its message (no
    partitions, nothing written), so `dativo runs` and `dativo status` show it."""
    cfg = job.config
    run_id = run_id or new_run_id()
    identifier = (cfg.target.namespace or "", cfg.target.table or "")
    existing = load_table(catalog, identifier)
    location = existing.location() if existing is not None else ""
    schema = existing.schema() if existing is not None else Schema()
    spec = existing.spec() if existing is not None else UNPARTITIONED_PARTITION_SPEC
    table = TablePlan(identifier, location, schema, spec, exists=existing is not None)
    table.schema_changes = exc.changes or rejected_changes(exc.columns)
    error = SchemaChangeError(f"{job.path}: {exc}", exc.columns)
    error.run_id = run_id
    ledger.create_run(
        run_id=run_id,
        tenant=cfg.tenant_id,
        job_name=cfg.name,
        job_path=str(job.path),
        job=job.raw,
        catalog=cfg.target.catalog,
        table_ident=".".join(identifier),
        plan={"table": table.to_dict(), "mode": cfg.target.mode, "state": {}, "refused": True},
        partition_specs=[],
        queue=queue,
        failed=str(error),
    )
    log.info("run refused", run_id=run_id, error=str(error))  # the caller reports the error itself
    return error


def governance_inputs(
    cfg: JobConfig, reader: DataReader, partitions: list[Partition], columns: list[str]
) -> tuple[dict[str, Finding], dict[str, str]]:
    """The two lowest tag levels: PII detected on a small sample (from the first partition),
    and labels the source reports."""
    detected: dict[str, Finding] = {}
    if pii_detection_enabled(cfg) and partitions:
        detected = detect(reader.sample(partitions[0]), columns)
    try:
        source_tags = {str(k): str(v) for k, v in (reader.source_tags() or {}).items()}
    except Exception as exc:
        log.warning("source tags unavailable", reader=reader.name, error=str(exc))
        source_tags = {}
    return detected, source_tags


# -- commit ---------------------------------------------------------------------------------


Dispatch = Callable[[str, list[int], str | None], Any]  # (run id, partition indexes, queue): send them


def commit_run(
    run_id: str, runner: RunnerConfig, ledger: Ledger | None = None, dispatch: Dispatch | None = None
) -> dict[str, Any]:
    """Commit a finished run as ONE snapshot, or fail it. Idempotent; returns the run summary.

    ``dispatch``: how to send partitions to workers. Given one, a merge that touches more than
    `runner.merge_rewrite_in_process_mb` of table files records their rewrite as partitions of the
    run and dispatches them instead of committing; the last of them to finish fires the commit
    again, which then uses what they wrote. Without one, touched files are rewritten here."""
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
    if failed:
        errors = "; ".join(f"partition {p['idx']} ({p['label']}): {p['error']}" for p in failed[:5])
        _fail_run(ledger, run_id, f"{len(failed)} of {len(parts)} partitions failed: {errors}")
        return run_summary(ledger, run_id)
    config = job_from_dict(run["job_path"], job).config  # the stored job keeps its ${ENV}
    max_bad = config.bad_rows.max
    if max_bad is not None and bad_total > max_bad:
        _fail_run(ledger, run_id, f"{bad_total} bad rows exceed bad_rows.max={max_bad}; nothing committed")
        return run_summary(ledger, run_id)

    if not ledger.claim_commit(run_id, runner.lease_seconds):
        return run_summary(ledger, run_id)  # another process is committing this run right now
    started, labels = time.monotonic(), (run["tenant"], run["table_ident"])
    try:
        summary = _commit_claimed(run, parts, bad_total, config, runner, ledger, dispatch)
    except BaseException:
        metrics.commit_ended(*labels, started, "failed")
        raise
    if summary["state"] in ("committed", "failed"):
        metrics.commit_ended(*labels, started, summary["state"])
    return summary


def _commit_claimed(
    run: dict[str, Any],
    parts: list[dict[str, Any]],
    bad_total: int,
    config: JobConfig,
    runner: RunnerConfig,
    ledger: Ledger,
    dispatch: Dispatch | None,
) -> dict[str, Any]:
    """`commit_run` once this process holds the run's commit claim."""
    run_id = run["run_id"]
    plan = json.loads(run["plan_json"])
    if plan.get("nothing_new"):  # new_files mode and no file to load: the table stays as it is
        record_committed(ledger, run_id, None)
        log.info("run found no new files; nothing committed", run_id=run_id)
        return run_summary(ledger, run_id)
    data = ledger.winning_fragments(run_id, "data")
    rows = sum(f.rows for f in data)
    compact = plan.get("compact")  # a compaction (dativo_workers/maintenance.py): the same rows, fewer files
    if compact is not None and rows != compact["rows"]:
        _fail_run(ledger, run_id, f"compaction wrote {rows} rows, the files it replaces hold {compact['rows']}")
        return run_summary(ledger, run_id)
    state_key = state_prefix(run["tenant"], run["job_name"])
    request = CommitRequest(
        run_id=run_id,
        plan=TablePlan.from_dict(plan["table"]),
        data_files=[(f.path, f.bytes) for f in data],
        mode=plan["mode"],
        snapshot_properties={
            "dativo.run-id": run_id,
            "dativo.job": run["job_name"],
            "dativo.tenant": run["tenant"],
            "dativo.rows": str(rows),
            "dativo.partitions": str(sum(1 for p in parts if p["idx"] < run["partitions_total"])),
            "dativo.bad-rows": str(bad_total),
            # committed with the data, so data and cursor can never disagree (invariant 5)
            **{state_key + key: value for key, value in plan.get("state", {}).items()},
            # a full refresh's state replaces the job's whole state, even where it holds no cursor
            **({state_reset_key(run["tenant"], run["job_name"]): run_id} if plan.get("full_refresh") else {}),
            **snapshot_properties(plan["table"].get("schema_changes")),  # dativo.schema.*
        },
        table_properties=None if compact is not None else plan["table_properties"],
        column_docs=plan["column_docs"],
        merge=MergeSpec.from_dict(plan["merge"]) if plan.get("merge") else None,
        replaces=compact["files"] if compact is not None else None,
        tag_max_age_ms=config.target.run_tag_max_age_ms,
    )
    storage = catalog_properties(runner.catalog(run["catalog"]), run["tenant"])
    if plan.get("quality"):  # the contract's quality rules: a failing error rule fails the run here
        results, failure = quality.check_run(run, plan, parts, [f.path for f in data], storage)
        ledger.set_quality(run_id, quality.dumps(results))
        if failure is not None:
            _fail_run(ledger, run_id, failure)
            return run_summary(ledger, run_id)
        request.snapshot_properties.update(quality.summary_properties(results))
    writer = writer_plan(plan)
    if request.merge is not None and (writer is None or writer.output is None):
        rewrites = [p for p in parts if p["idx"] >= run["partitions_total"]]  # a merge's rewrite partitions
        if rewrites:
            produced: dict[int, list[Fragment]] = defaultdict(list)
            for fragment in ledger.winning_fragments(run_id, REWRITE_KIND):
                produced[fragment.idx].append(fragment)
            request.prepared = prepared_rewrites([json.loads(p["spec_json"]) for p in rewrites], produced)
        elif dispatch is not None and _distribute_rewrite(run, request, storage, runner, ledger, dispatch):
            return run_summary(ledger, run_id)
    table = None
    try:
        if writer is not None and writer.output is not None:  # a writer target: files, no snapshot
            publish_run(writer.output, run_id, data, storage)
            snapshot_id = None
        else:
            catalog = open_catalog(run["catalog"], storage)
            snapshot_id = commit(catalog, request)
            table = load_table(catalog, request.plan.identifier)
    except CommitOutcomeUnknown as exc:
        # not failed: the rows may be in the table. The claim is released so the reconciler's
        # next pass (or `dativo retry`) looks again; the commit checks the table first.
        ledger.set_run_state(run_id, "committing", error=describe_error(exc), commit_started_at=0.0)
        log.error("commit outcome unknown", run_id=run_id, error=str(exc))
        return run_summary(ledger, run_id)
    except Exception as exc:
        _fail_run(ledger, run_id, f"commit failed: {describe_error(exc)}")
        return run_summary(ledger, run_id)
    quarantine = {f.path for f in ledger.winning_fragments(run_id, "quarantine")}
    keep = {f.path for f in data} | quarantine
    if request.merge is not None and table is not None and (referenced := run_files(table, run_id)):
        keep = referenced | quarantine  # fragments the merge rewrote (duplicates dropped) are not in the table
    keep |= {plan["state"][LISTING_KEY]} if LISTING_KEY in plan.get("state", {}) else set()  # the new_files state
    swept = sweep_run(request.plan.location, run_id, keep, storage, table)
    record_committed(ledger, run_id, snapshot_id)
    if (changed := warning_fields(plan["table"].get("schema_changes"))) is not None:
        log.warning("schema changed", run_id=run_id, table=run["table_ident"], **changed)
    log.info("run committed", run_id=run_id, snapshot_id=snapshot_id, rows=rows, files=len(data), swept=swept)
    if table is not None:  # runner.catalog_sync (catalog_sync.py): reported with the run, never fails it
        sync_committed_run(runner, ledger, run, plan, config, table)
    return run_summary(ledger, run_id)


def _distribute_rewrite(
    run: dict[str, Any],
    request: CommitRequest,
    storage: dict[str, str],
    runner: RunnerConfig,
    ledger: Ledger,
    dispatch: Dispatch,
) -> bool:
    """Plan a merge's rewrite of touched files as partitions of the run and send them (True), or
    leave it to this commit (False: few touched files, or planning failed; the commit then plans
    again itself and reports any error)."""
    run_id = run["run_id"]
    try:
        catalog = open_catalog(run["catalog"], storage)
        table = load_table(catalog, request.plan.identifier)
        if table is None or committed_snapshot(table, run_id) is not None:
            return False
        tx = table.transaction()  # the schema the commit writes in (never committed from here)
        with tx.update_schema() as update:
            update.union_by_name(request.plan.schema)
        assert request.merge is not None
        specs = plan_rewrites(
            table,
            tx.table_metadata,
            catalog.properties,
            request.merge,
            run_id,
            request.data_files,
            runner.merge_rewrite_in_process_mb * 1024 * 1024,
        )
    except Exception as exc:
        log.warning("merge rewrite not distributed: planning failed", run_id=run_id, error=describe_error(exc))
        return False
    if not specs:
        return False
    indexes = ledger.add_partitions(run_id, specs)
    if indexes:
        dispatch(run_id, indexes, run["queue"])
        log.info("merge rewrite distributed", run_id=run_id, files=len(indexes))
    return True


def record_committed(ledger: Ledger, run_id: str, snapshot_id: int | None) -> None:
    """The ledger's final record of a committed run, its counts from the winning fragments."""
    data = ledger.winning_fragments(run_id, "data")
    ledger.set_run_state(
        run_id,
        "committed",
        snapshot_id=snapshot_id,
        rows=sum(f.rows for f in data),
        files=len(data),
        bytes=sum(f.bytes for f in data),
        bad_rows=sum(p["bad_rows"] for p in ledger.partitions(run_id)),
        error=None,
    )
    lineage.ended(ledger, run_id)  # COMPLETE


def snapshot_in_table(run: dict[str, Any], runner: RunnerConfig) -> tuple[int | None, Table | None]:
    """The run's snapshot id if its table holds it, and the table (None for writer targets)."""
    plan = json.loads(run["plan_json"])
    writer = writer_plan(plan)
    if writer is not None and writer.output is not None:
        return None, None
    storage = catalog_properties(runner.catalog(run["catalog"]), run["tenant"])
    identifier = TablePlan.from_dict(plan["table"]).identifier
    table = load_table(open_catalog(run["catalog"], storage), identifier)
    snapshot = committed_snapshot(table, run["run_id"]) if table is not None else None
    return (snapshot.snapshot_id if snapshot is not None else None), table


def _fail_run(ledger: Ledger, run_id: str, error: str) -> None:
    """Mark the run failed; the table is untouched. Fragments of finished partitions stay
    (unreferenced, invisible to readers) so a retry can reuse them."""
    if ledger.fail_run(run_id, error):
        log.error("run failed", run_id=run_id, error=error)
        lineage.ended(ledger, run_id)  # FAIL


def run_summary(ledger: Ledger, run_id: str) -> dict[str, Any]:
    """The stable machine-readable run record (DESIGN.md §8)."""
    run = ledger.run(run_id)
    if run is None:
        raise DativoError(f"unknown run {run_id}: check the id, or the runner config's ledger_url")
    parts = ledger.partitions(run_id)
    quarantine = ledger.winning_fragments(run_id, "quarantine")
    plan = json.loads(run["plan_json"])
    parts = [p for p in parts if p["idx"] < run["partitions_total"]]  # a merge's rewrite partitions are not counted
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
        "started_at": datetime.fromtimestamp(run["created_at"], UTC).isoformat(timespec="seconds"),
        "duration_s": round(end - run["created_at"], 3),
        "schema_changes": plan["table"].get("schema_changes"),
        "error": run["error"],
        "quality": json.loads(run["quality"]) if run.get("quality") else None,
        "catalog_sync": summary_value(run.get("catalog_sync")),
        "message": NOTHING_NEW if plan.get("nothing_new") else None,
    }
