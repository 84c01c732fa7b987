"""Table maintenance: compact small files, expire old snapshots, remove orphan files.

- Compaction is a run like any other: groups of small files become its partitions (read by
  `compaction_reader.TableFilesReader`), the usual ingest writes them again at `file_size_mb`,
  and the usual commit replaces exactly those files in ONE overwrite snapshot tagged with the
  run, carrying every job's incremental state forward. A concurrent append makes the commit
  retry on the reloaded table (the appended files are left alone); a concurrent rewrite of a
  file being compacted fails the compaction and commits nothing.
- Expiry drops tags past their `max-ref-age-ms` (run tags without one: the job's
  `target.run_tag_max_age`, default 30d), then expires, with pyiceberg's maintenance API, the
  snapshots older than the limit that no branch or remaining tag holds, except the chain from
  the current snapshot back to every job's incremental state.
- Orphan removal deletes files under the table location that nothing in the table references
  (after expiry) and that are older than the safety age and than the start of any unfinished
  run of the table in the ledger; an unfinished run's own directories are never touched.
  Quarantined rows (`_dativo_quarantine/`) are kept: they are the runs' record of bad rows.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow.fs as pafs
from pyiceberg.catalog import Catalog
from pyiceberg.manifest import ManifestContent
from pyiceberg.table import Table
from pyiceberg.table.refs import SnapshotRefType

from dativo_workers.compaction_reader import PLUGIN_PATH
from dativo_workers.config.runner import RunnerConfig
from dativo_workers.errors import ConfigError, DativoError
from dativo_workers.fragments import delete_files, quarantine_dir, run_data_dir
from dativo_workers.iceberg import TablePlan, load_table, state_holders
from dativo_workers.ledger import Ledger
from dativo_workers.pipeline import commit_run, new_run_id, run_summary
from dativo_workers.plugins.base import Partition
from dativo_workers.storage import filesystem, scheme_prefix

MIN_FILE_FRACTION = 0.75  # a file below 75% of file_size_mb is small (Iceberg's rewrite_data_files default)
DEFAULT_RUN_TAG_MAX_AGE_MS = 30 * 86400 * 1000
LISTED_PATHS = 100  # paths listed in the JSON report (the counts cover all of them)


@dataclass
class MaintainTarget:
    """The table to maintain and what the job (or the defaults) say about it."""

    catalog_name: str
    catalog: Catalog
    identifier: tuple[str, str]
    tenant: str
    storage: dict[str, str]  # the catalog's storage properties, secrets resolved
    file_size_mb: int = 256
    run_tag_max_age_ms: int = DEFAULT_RUN_TAG_MAX_AGE_MS
    run_tag_max_age: str = "30d"
    job_path: str | None = None

    @property
    def name(self) -> str:
        return ".".join(self.identifier)

    def table(self) -> Table:
        table = load_table(self.catalog, self.identifier)
        if table is None:
            raise ConfigError(f"table {self.name} does not exist in catalog {self.catalog_name!r}")
        return table


# -- compaction -----------------------------------------------------------------------------


@dataclass
class CompactionPlan:
    partitions: list[Partition]
    files: list[str]  # every file the groups replace
    rows: int
    files_before: int
    files_skipped: int  # already big enough (or alone in their partition)
    bytes_before: int
    snapshot_id: int | None


def plan_compaction(table: Table, target_bytes: int) -> CompactionPlan:
    """Groups of small files of one Iceberg partition each, about ``target_bytes`` of input per group.

    A file of at least 75% of the target is left as it is, and so is a small file alone in its
    partition (rewriting it gains nothing)."""
    snapshot = table.current_snapshot()
    if snapshot is None:
        return CompactionPlan([], [], 0, 0, 0, 0, None)
    by_partition: dict[tuple[int, str], list[tuple[Any, str, int]]] = {}
    files_before = bytes_before = 0
    for manifest in snapshot.manifests(table.io):
        entries = manifest.fetch_manifest_entry(table.io, discard_deleted=True)
        if manifest.content != ManifestContent.DATA:
            if entries:  # rows another engine deleted by position or equality: a rewrite would revive them
                raise DativoError(
                    f"table {'.'.join(table.name())} has delete files (written by another engine); "
                    "compact it with that engine, or rewrite it with `target.mode: overwrite`"
                )
            continue
        for entry in entries:
            data_file = entry.data_file
            files_before += 1
            bytes_before += data_file.file_size_in_bytes
            if data_file.file_size_in_bytes >= MIN_FILE_FRACTION * target_bytes:
                continue
            key = (data_file.spec_id, repr(data_file.partition))
            by_partition.setdefault(key, []).append((data_file, manifest.manifest_path, manifest.partition_spec_id))
    partitions: list[Partition] = []
    replaced: list[str] = []
    rows = 0
    for _, files in sorted(by_partition.items()):
        files.sort(key=lambda item: item[0].file_path)
        for group in _bins(files, target_bytes):
            if len(group) < 2:
                continue
            paths = [f.file_path for f, _, _ in group]
            manifests = sorted({(path, spec_id) for _, path, spec_id in group})
            group_rows = sum(f.record_count for f, _, _ in group)
            partitions.append(
                Partition(
                    index=len(partitions),
                    spec={"files": paths, "manifests": [list(m) for m in manifests]},
                    estimated_bytes=sum(f.file_size_in_bytes for f, _, _ in group),
                    estimated_rows=group_rows,
                    label=f"{len(paths)} files",
                )
            )
            replaced += paths
            rows += group_rows
    skipped = files_before - len(replaced)
    return CompactionPlan(partitions, replaced, rows, files_before, skipped, bytes_before, snapshot.snapshot_id)


def _bins(files: list[tuple[Any, str, int]], target_bytes: int) -> Iterable[list[tuple[Any, str, int]]]:
    group: list[tuple[Any, str, int]] = []
    size = 0
    for item in files:
        group.append(item)
        size += item[0].file_size_in_bytes
        if size >= target_bytes:
            yield group
            group, size = [], 0
    if group:
        yield group


def create_compaction_run(
    target: MaintainTarget, table: Table, plan: CompactionPlan, ledger: Ledger, queue: str | None = None
) -> str:
    """Record the compaction as a run: its job reads the table's files, its plan says what it replaces."""
    namespace, name = target.identifier
    job_name = "compact-" + re.sub(r"[^A-Za-z0-9_-]", "_", name)
    job = {
        "tenant_id": target.tenant,
        "name": job_name,
        "source": {
            "reader": {
                "type": "plugin",
                "plugin_path": PLUGIN_PATH,
                "config": {"metadata_location": table.metadata_location},
            }
        },
        "target": {
            "catalog": target.catalog_name,
            "namespace": namespace,
            "table": name,
            "file_size_mb": target.file_size_mb,
            "run_tag_max_age": target.run_tag_max_age,
        },
        "bad_rows": {"action": "fail"},  # the rows are in the table already: any that does not fit is a bug
    }
    table_plan = TablePlan(target.identifier, table.location(), table.schema(), table.spec(), exists=True)
    run_plan = {
        "table": table_plan.to_dict(),
        "mode": "append",
        "merge": None,
        "full_refresh": False,
        # governance stays as it is (the commit leaves the properties alone); these mark sensitive columns
        "table_properties": {k: v for k, v in table.properties.items() if k.startswith("dativo.")},
        "column_docs": {},
        "state": {},
        "writer": None,
        "compact": {"files": plan.files, "rows": plan.rows, "snapshot_id": plan.snapshot_id},
    }
    run_id = new_run_id()
    ledger.create_run(
        run_id=run_id,
        tenant=target.tenant,
        job_name=job_name,
        job_path=target.job_path or f"maintain {target.catalog_name}.{target.name}",
        job=job,
        catalog=target.catalog_name,
        table_ident=target.name,
        plan=run_plan,
        partition_specs=[p.to_dict() for p in plan.partitions],
        queue=queue,
    )
    return run_id


def compact(
    target: MaintainTarget,
    runner: RunnerConfig,
    ledger: Ledger,
    *,
    dry_run: bool = False,
    workers: int | None = None,
    submit: bool = False,
    queue: str | None = None,
) -> dict[str, Any]:
    """Plan and run a compaction (embedded, or sent to the fleet with ``submit``)."""
    table = target.table()
    plan = plan_compaction(table, target.file_size_mb * 1024 * 1024)
    report: dict[str, Any] = {
        "files_before": plan.files_before,
        "bytes_before": plan.bytes_before,
        "files_compacted": len(plan.files),
        "files_skipped": plan.files_skipped,
        "groups": len(plan.partitions),
        "rows": plan.rows,
        "run_id": None,
        "state": "nothing to do" if not plan.partitions else ("planned" if dry_run else None),
        "snapshot_id": None,
        "error": None,
        "files_written": 0,
        "files_after": plan.files_before,
        "bytes_after": plan.bytes_before,
    }
    if not plan.partitions or dry_run:
        return report
    indexes = [p.index for p in plan.partitions]
    if submit:
        from dativo_workers.celery_app import DEFAULT_QUEUE
        from dativo_workers.tasks import enqueue_partitions

        queue = queue or DEFAULT_QUEUE
        run_id = create_compaction_run(target, table, plan, ledger, queue)
        enqueue_partitions(run_id, indexes, queue, ledger)
        summary = run_summary(ledger, run_id)
    else:
        from dativo_workers.executor import ingest_all

        run_id = create_compaction_run(target, table, plan, ledger)
        ingest_all(ledger, runner, run_id, indexes, workers, None)
        summary = commit_run(run_id, runner, ledger)
    return {**report, **compaction_outcome(target, summary)}


def compaction_outcome(target: MaintainTarget, summary: dict[str, Any]) -> dict[str, Any]:
    """The run's state, and the table's files once it committed."""
    outcome: dict[str, Any] = {
        "run_id": summary["run_id"],
        "state": summary["state"],
        "snapshot_id": summary["snapshot_id"],
        "error": summary["error"],
    }
    if summary["state"] == "committed":
        files = target.table().inspect.files()
        outcome |= {
            "files_written": summary["files"],
            "files_after": files.num_rows,
            "bytes_after": sum(files.column("file_size_in_bytes").to_pylist()),
        }
    return outcome


# -- snapshot expiry ------------------------------------------------------------------------


def expire_snapshots(
    target: MaintainTarget, older_than_ms: int, *, dry_run: bool = False, now_ms: int | None = None
) -> dict[str, Any]:
    """Drop aged tags, then expire the snapshots older than ``older_than_ms`` nothing holds."""
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    table = target.table()
    snapshots_before = len(table.snapshots())
    aged = _aged_tags(table, target.run_tag_max_age_ms, now_ms)
    if aged and not dry_run:
        refs = table.manage_snapshots()
        for name in aged:
            refs.remove_tag(name)
        refs.commit()
        table = target.table()
    held = {ref.snapshot_id for name, ref in table.refs().items() if name not in aged}
    for_state = _state_chain(table)
    cutoff = now_ms - older_than_ms
    expired = [
        s.snapshot_id
        for s in table.snapshots()
        if s.timestamp_ms < cutoff and s.snapshot_id not in held and s.snapshot_id not in for_state
    ]
    if expired and not dry_run:
        table.maintenance.expire_snapshots().by_ids(expired).commit()
    kept_for_state = [
        s.snapshot_id
        for s in table.snapshots()
        if s.timestamp_ms < cutoff and s.snapshot_id in for_state and s.snapshot_id not in held
    ]
    return {
        "snapshots_before": snapshots_before,
        "snapshots_expired": len(expired),
        "snapshots_after": snapshots_before - len(expired),
        "tags_removed": aged,
        "kept_for_state": len(kept_for_state),
    }


def _aged_tags(table: Table, run_tag_max_age_ms: int, now_ms: int) -> list[str]:
    """Tags older than their max-ref-age-ms; a run tag without one gets ``run_tag_max_age_ms``,
    any other tag without one is kept (somebody set it on purpose)."""
    aged = []
    for name, ref in table.refs().items():
        if ref.snapshot_ref_type != SnapshotRefType.TAG:
            continue
        max_age = ref.max_ref_age_ms or (run_tag_max_age_ms if name.startswith("run-") else None)
        snapshot = table.snapshot_by_id(ref.snapshot_id)
        if max_age is not None and snapshot is not None and now_ms - snapshot.timestamp_ms > max_age:
            aged.append(name)
    return sorted(aged)


def _state_chain(table: Table) -> set[int]:
    """The snapshots from the current one back to the oldest that holds some job's incremental
    state: expiring one of them would cut the parent chain the state lookup walks."""
    chain = []
    snapshot = table.current_snapshot()
    while snapshot is not None:
        chain.append(snapshot.snapshot_id)
        snapshot = table.snapshot_by_id(snapshot.parent_snapshot_id) if snapshot.parent_snapshot_id else None
    holders = {snapshot.snapshot_id for _, snapshot in state_holders(table).values()}
    deepest = max((i for i, sid in enumerate(chain) if sid in holders), default=0)
    return set(chain[: deepest + 1])


# -- orphan files ---------------------------------------------------------------------------


def remove_orphans(
    target: MaintainTarget,
    ledger: Ledger,
    older_than_s: float,
    *,
    dry_run: bool = False,
    now: float | None = None,
) -> dict[str, Any]:
    """Delete unreferenced files older than ``older_than_s`` and than every unfinished run's start."""
    now = now if now is not None else time.time()
    table = target.table()
    fs, root = filesystem(table.location(), target.storage)
    listed = [
        info
        for info in fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
        if info.type == pafs.FileType.File
    ]
    candidates, runs = listed, []
    # twice: a commit or a run may have started while the files were listed, so the table and the
    # ledger are read again just before deleting
    for _ in range(2):
        if not candidates:
            break
        runs = _unfinished_runs(target, ledger)
        cutoff = min([now - older_than_s, *(r["created_at"] for r in runs)])
        keep_dirs = [f"{root}/{d}/" for r in runs for d in (run_data_dir(r["run_id"]), quarantine_dir(r["run_id"]))]
        keep_dirs.append(f"{root}/{quarantine_dir('')}")
        referenced = referenced_paths(target.table())
        candidates = [
            info
            for info in candidates
            if info.path not in referenced
            and info.mtime is not None
            and info.mtime.timestamp() < cutoff
            and not info.path.startswith(tuple(keep_dirs))
            and not info.path.endswith("/version-hint.text")
        ]
    if not dry_run:
        delete_files(fs, [i.path for i in candidates])
    return {
        "files_scanned": len(listed),
        "orphans_removed": len(candidates),
        "orphan_bytes": sum(i.size or 0 for i in candidates),
        "removed": [scheme_prefix(table.location()) + i.path for i in candidates[:LISTED_PATHS]],
        "unfinished_runs": sorted(r["run_id"] for r in runs),  # they hold the cutoff back
    }


def _unfinished_runs(target: MaintainTarget, ledger: Ledger) -> list[dict[str, Any]]:
    """The table's runs that may still write or commit files (pending, running, committing)."""
    return [r for r in ledger.active_runs() if (r["catalog"], r["table_ident"]) == (target.catalog_name, target.name)]


def referenced_paths(table: Table) -> set[str]:
    """Every file the table's metadata references, as filesystem paths: the metadata files (current
    and logged), statistics, each snapshot's manifest list, its manifests and the live data and
    delete files they list, and any path under the table location a snapshot summary names (a
    listing file an incremental state points to)."""
    io = table.io
    metadata = table.metadata
    paths = {table.metadata_location, *(entry.metadata_file for entry in metadata.metadata_log)}
    paths |= {s.statistics_path for s in metadata.statistics}
    paths |= {s.statistics_path for s in metadata.partition_statistics}
    location = _fs_path(table.location()).rstrip("/") + "/"
    seen: set[str] = set()
    for snapshot in metadata.snapshots:
        paths.add(snapshot.manifest_list)
        for value in (snapshot.summary.additional_properties if snapshot.summary is not None else {}).values():
            if not isinstance(value, str):
                continue
            if _fs_path(value).startswith(location):
                paths.add(value)
            elif "/" in value and "://" not in value and not value.startswith("/"):  # relative to the location
                paths.add(location + value)
        for manifest in snapshot.manifests(io):
            if manifest.manifest_path in seen:
                continue
            seen.add(manifest.manifest_path)
            paths.add(manifest.manifest_path)
            paths |= {e.data_file.file_path for e in manifest.fetch_manifest_entry(io, discard_deleted=True)}
    return {_fs_path(p) for p in paths}


def _fs_path(uri: str) -> str:
    """A URI as the path pyarrow lists it: `/dir/file` for local files, `bucket/key` for object stores."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file") or len(parsed.scheme) == 1:  # a plain path (or a Windows drive)
        return parsed.path if parsed.scheme == "file" else uri
    return f"{parsed.netloc}{parsed.path}"


# -- the whole pass -------------------------------------------------------------------------


def maintain(
    target: MaintainTarget,
    runner: RunnerConfig,
    *,
    compact_files: bool,
    expire_older_than: str | None,
    remove_orphan_files: bool,
    orphan_age: str,
    dry_run: bool = False,
    workers: int | None = None,
    submit: bool = False,
    queue: str | None = None,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Compact, then expire, then remove orphans (each step frees what the one before released)."""
    started = time.monotonic()
    ledger = Ledger(runner.ledger_url)
    report: dict[str, Any] = {
        "table": target.name,
        "catalog": target.catalog_name,
        "dry_run": dry_run,
        "compaction": None,
        "expiry": None,
        "orphans": None,
    }
    if compact_files:
        if on_step:
            on_step("compacting")
        report["compaction"] = compact(
            target, runner, ledger, dry_run=dry_run, workers=workers, submit=submit, queue=queue
        )
    if expire_older_than is not None:
        if on_step:
            on_step("expiring snapshots")
        expiry = expire_snapshots(target, age_ms(expire_older_than, "--expire-older-than"), dry_run=dry_run)
        report["expiry"] = {"older_than": expire_older_than, **expiry}
    if remove_orphan_files:
        if on_step:
            on_step("removing orphan files")
        orphans = remove_orphans(target, ledger, age_ms(orphan_age, "--orphan-age") / 1000, dry_run=dry_run)
        report["orphans"] = {"older_than": orphan_age, **orphans}
    report["duration_s"] = round(time.monotonic() - started, 3)
    return report


def age_ms(text: str, option: str) -> int:
    """`90m`, `12h`, `7d`, `2w` -> milliseconds; anything else is a configuration error."""
    from dativo_workers.plugins.base import parse_lookback

    try:
        age = parse_lookback(text)
    except ValueError:
        age = None
    if isinstance(age, int | float) or age is None:
        raise ConfigError(f"{option}: {text!r} is not a duration with a unit, like 90m, 12h, 7d or 2w")
    return int(age.total_seconds() * 1000)


def job_settings(job_path: Path) -> dict[str, Any]:
    """What a job says about its table's maintenance (used when TABLE_OR_JOB is a job file)."""
    from dativo_workers.config import load_job

    job = load_job(job_path)
    target = job.config.target
    if not target.is_iceberg:
        raise ConfigError(f"{job.path}: target: maintenance is for Iceberg tables; this job writes files")
    if "{object}" in (target.table or ""):
        raise ConfigError(f"{job.path}: target.table: a multi-table job: name one table (namespace.table)")
    return {
        "tenant": job.config.tenant_id,
        "catalog": target.catalog,
        "identifier": (target.namespace or "", target.table or ""),
        "file_size_mb": target.file_size_mb,
        "run_tag_max_age": target.run_tag_max_age,
        "run_tag_max_age_ms": target.run_tag_max_age_ms,
        "job_path": str(job.path),
    }
