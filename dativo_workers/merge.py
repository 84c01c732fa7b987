"""`target.mode: merge`: upsert and delete by key, committed as ONE copy-on-write snapshot.

The run's fragments hold the changed rows. At commit time, on the table as it is now:

1. the incoming rows are reduced to one per key: the newest by ``order_by`` (ties and no
   ``order_by``: the last read, i.e. partition index, then row order); a winner flagged by the
   delete marker deletes its key;
2. table files whose key bounds (manifest lower/upper bounds) cannot hold an incoming key are
   left alone, never read;
3. every other file is read, its rows with an incoming key dropped, and the rest rewritten
   under the run's data directory (`data/<run_id>/`, so sweeps see them as the run's);
4. the caller's overwrite removes those files and adds the rewritten and the incoming ones,
   atomically, in the same transaction as the run's tag and state.

Everything here is planned against one table snapshot: a concurrent commit makes the catalog
refuse ours, and the commit loop plans again on the reloaded table.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.conversions import from_bytes
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io import FileIO
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.manifest import DataFile
from pyiceberg.schema import Schema
from pyiceberg.table import FileScanTask, Table
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.types import DoubleType, FloatType, PrimitiveType

from dativo_workers.config.asset import Asset
from dativo_workers.config.job import LoadedJob
from dativo_workers.errors import CommitError, ConfigError
from dativo_workers.fragments import ROW_GROUP_BYTES, FragmentWriter, run_data_dir
from dativo_workers.ledger import Fragment
from dativo_workers.schema import arrow_schema
from dativo_workers.storage import StorageProperties, filesystem, make_parent_dir, scheme_prefix

_RANK = "__dativo_rank"
_SEQ = "__dativo_seq"  # an incoming row's read position: fragment number << 32 | row within the fragment
REWRITE_THREADS = max(1, min(4, os.cpu_count() or 1))
# The incoming key/order/marker columns are reduced this many rows at a time: above it they are
# split into buckets by ranges of the first key column, spilled to Arrow IPC files, and each bucket
# is deduplicated on its own, so the commit's memory follows the bucket size, not the run's rows.
BUCKET_ROWS = 1_000_000
SAMPLE_PER_BUCKET = 1000  # first-key values sampled per bucket to place the bucket boundaries
KEY_GROUP_ROWS = 65536  # rows per row group of a distributed merge's key file
REWRITE_KIND = "rewrite"  # ledger fragments of a merge's rewrite partitions (not the run's own rows)


@dataclass(frozen=True)
class MergeSpec:
    """A merge run's settings, fixed at planning time and stored in the run's plan."""

    key: tuple[str, ...]
    order_by: str | None = None
    delete_column: str | None = None
    delete_value: Any = None
    replace: bool = False  # full refresh: every row of the table is replaced
    target_bytes: int = 256 * 1024 * 1024
    row_group_bytes: int = ROW_GROUP_BYTES

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": list(self.key),
            "order_by": self.order_by,
            "delete_column": self.delete_column,
            "delete_value": self.delete_value,
            "replace": self.replace,
            "target_bytes": self.target_bytes,
            "row_group_bytes": self.row_group_bytes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MergeSpec:
        return cls(**{**data, "key": tuple(data["key"])})


def merge_spec(job: LoadedJob, asset: Asset | None, schema: Schema) -> MergeSpec | None:
    """The merge settings of a `mode: merge` job, checked against the table schema (None otherwise).

    The key is `target.merge_key`, else the asset's `primaryKey: true` properties; a merge
    without a key is a configuration error."""
    target = job.config.target
    if target.mode != "merge":
        return None
    key = list(target.merge_key) or ([c.name for c in asset.columns if c.primary_key] if asset is not None else [])
    if not key:
        where = f" (the asset {asset.path} marks no property `primaryKey: true`)" if asset is not None else ""
        raise ConfigError(
            f"{job.path}: target.merge_key: `mode: merge` needs a key{where}; set `target.merge_key: [column, ...]` "
            "or mark the key properties `primaryKey: true` in the asset"
        )
    names = [f.name for f in schema.fields]

    def column(name: str, option: str) -> Any:
        try:
            return schema.find_field(name)
        except ValueError:
            raise ConfigError(
                f"{job.path}: {option}: column {name!r} is not in the table (columns: {', '.join(names)})"
            ) from None

    for name in key:
        kind = column(name, "target.merge_key").field_type
        if not isinstance(kind, PrimitiveType) or isinstance(kind, FloatType | DoubleType):
            raise ConfigError(
                f"{job.path}: target.merge_key: column {name!r} is {kind}; a key must be a non-floating scalar"
            )
    order_by = target.merge_order_by
    if order_by is not None:
        column(order_by, "target.merge_order_by")
    elif job.config.source.incremental is not None and job.config.source.incremental.cursor_field in names:
        order_by = job.config.source.incremental.cursor_field
    delete_column = delete_value = None
    if target.delete_marker is not None:
        delete_column, delete_value = target.delete_marker.column, target.delete_marker.value
        kind = arrow_schema(Schema(column(delete_column, "target.delete_marker.column"))).field(0).type
        try:
            pa.scalar(delete_value).cast(kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            raise ConfigError(
                f"{job.path}: target.delete_marker.value: {delete_value!r} is not a value of column "
                f"{delete_column!r} ({kind})"
            ) from None
    return MergeSpec(
        key=tuple(key),
        order_by=order_by,
        delete_column=delete_column,
        delete_value=delete_value,
        replace=job.full_refresh,
        target_bytes=target.file_size_mb * 1024 * 1024,
        row_group_bytes=target.row_group_mb * 1024 * 1024,
    )


@dataclass
class MergeResult:
    added: list[tuple[str, int]]  # files the snapshot adds (URI, bytes)
    deleted: list[DataFile]  # table files the snapshot removes
    summary: dict[str, str] = field(default_factory=dict)  # snapshot summary properties


@dataclass
class _Incoming:
    keep: list[pa.BooleanArray | None]  # per fragment: rows that stay (None: all of them)
    keys: pa.Table  # every distinct incoming key, deleted ones included, sorted by key (if asked for)
    deleted_keys: int
    superseded: int  # incoming rows replaced by a newer row of their key within the run
    distinct: int = 0  # distinct incoming keys, deleted ones included


@dataclass
class Prepared:
    """Table files already rewritten by a merge's rewrite partitions (on workers), each valid for
    the table file it names as long as the table schema and spec are what they were planned with."""

    layout: str  # `layout_of` the metadata the files were written for
    files: dict[str, tuple[list[tuple[str, int]], int]]  # table file -> (its rewritten files, rows)


def layout_of(metadata: TableMetadata) -> str:
    """The table schema and partition spec rewritten files are written in, as one comparable text."""
    return json.dumps([metadata.schema().model_dump_json(), metadata.spec().model_dump_json()])


def apply_merge(
    table: Table | None,
    metadata: TableMetadata,
    io: FileIO,
    storage: StorageProperties,
    spec: MergeSpec,
    run_id: str,
    fragments: list[tuple[str, int]],
    fragment_schema: Schema,
    prepared: Prepared | None = None,
) -> MergeResult:
    """Rewrite what the merge changes; return the files to add and to remove.

    ``table`` is the table the transaction starts from (None: it is being created);
    ``metadata`` the transaction's metadata (the evolved schema rewritten files are written in).
    ``prepared``: table files the run's rewrite partitions already rewrote; a touched file among
    them is not rewritten again (unless it has delete files, or the table's schema or spec moved
    since: then it is rewritten here)."""
    token = uuid.uuid4().hex[:8]  # a commit attempt's own files: a retry or a takeover never overwrites them
    snapshot = table.current_snapshot() if table is not None else None
    # the keys select the table files to rewrite: a first load or a full refresh needs none of them
    incoming = _read_incoming(fragments, spec, storage, keep_keys=snapshot is not None and not spec.replace)
    added: list[tuple[str, int]] = []
    for i, ((path, size), keep) in enumerate(zip(fragments, incoming.keep, strict=True)):
        if keep is None:
            added.append((path, size))
        elif pc.any(keep).as_py():
            added += _rewrite_fragment(
                path, keep, metadata, storage, spec, run_id, fragment_schema, f"{token}-i{i:05d}"
            )

    deleted: list[DataFile] = []
    rows_rewritten = 0
    if table is not None and snapshot is not None:
        if spec.replace:
            deleted = [task.file for task in table.scan(snapshot_id=snapshot.snapshot_id).plan_files()]
        elif incoming.keys.num_rows:
            affected = touched_files(table, snapshot.snapshot_id, incoming.keys, spec, metadata.schema())
            deleted = [task.file for task, _ in affected]
            ready = prepared.files if prepared is not None and prepared.layout == layout_of(metadata) else {}
            todo = []
            for i, (task, keys) in enumerate(affected):
                done = ready.get(task.file.file_path) if not task.delete_files else None
                if done is None:
                    todo.append((i, (task, keys)))
                else:
                    added += done[0]
                    rows_rewritten += done[1]
            rewrite = _Rewriter(metadata, io, storage, spec, run_id, token)
            with ThreadPoolExecutor(max_workers=REWRITE_THREADS) as pool:
                for files, rows in pool.map(lambda item: rewrite(*item), todo):
                    added += files
                    rows_rewritten += rows
    summary = {
        "dativo.merge.keys": str(incoming.distinct),
        "dativo.merge.deleted-keys": str(incoming.deleted_keys),
        "dativo.merge.superseded-rows": str(incoming.superseded),
        "dativo.merge.files-rewritten": str(0 if spec.replace else len(deleted)),
        "dativo.merge.rows-rewritten": str(rows_rewritten),
    }
    return MergeResult(added=added, deleted=deleted, summary=summary)


def touched_files(
    table: Table, snapshot_id: int, keys: pa.Table, spec: MergeSpec, schema: Schema
) -> list[tuple[FileScanTask, pa.Table]]:
    """The snapshot's files whose key bounds may hold an incoming key, each with those keys."""
    index = _KeyIndex(keys, spec.key, schema)
    tasks = table.scan(snapshot_id=snapshot_id).plan_files()
    return [(task, found) for task in tasks if (found := index.candidates(task.file)) is not None]


# -- the incoming rows, one winner per key, in bounded memory -------------------------------------


def _read_incoming(
    fragments: list[tuple[str, int]], spec: MergeSpec, storage: StorageProperties, keep_keys: bool = True
) -> _Incoming:
    """One winner per key among the run's rows, as keep-masks over its fragments.

    Reads only the key, order and marker columns, batch by batch. Up to ``BUCKET_ROWS`` rows are
    reduced in memory at once; more are split by ranges of the first key column (boundaries from
    a sample) into buckets spilled to Arrow IPC files, and each bucket is reduced on its own: a
    key's rows all land in one bucket, and the buckets' winners, in bucket order, are sorted.
    The work is vectorised: per bucket one sort by (key, order, read position); the last row of
    each key wins. Memory: one bucket, the distinct incoming keys (key columns only) and 8 bytes
    per dropped row (superseded or deleted); without ``keep_keys`` (nothing to select files for)
    the keys are counted and let go."""
    columns = list(dict.fromkeys([*spec.key, *(c for c in (spec.order_by, spec.delete_column) if c)]))
    files = [_Source(path, storage) for path, _ in fragments]
    sizes = [f.rows for f in files]
    total = sum(sizes)
    if not total:
        empty = pa.schema([(k, pa.null()) for k in spec.key]).empty_table()
        return _Incoming([None] * len(files), empty, 0, 0)
    buckets = math.ceil(total / BUCKET_ROWS)
    bounds = _boundaries(files, spec.key[0], total, buckets) if buckets > 1 else None
    reduced: list[_Reduced] = []
    masks: list[pa.BooleanArray | None] = [None] * len(files)
    nulls = dict.fromkeys(spec.key, 0)
    if bounds is None:  # one bucket: in memory
        reduced.append(_reduce(pa.concat_tables(_batches(files, columns, nulls)), spec, keep_keys))
        _check_nulls(nulls)
        _drop(masks, reduced[-1], sizes)
    else:
        with tempfile.TemporaryDirectory(prefix="dativo-merge-") as spill:
            paths = [os.path.join(spill, f"bucket-{b:04d}.arrow") for b in range(len(bounds) + 1)]
            writers: list[Any] = []
            try:
                for table in _batches(files, columns, nulls):
                    if not writers:
                        writers = [pa.ipc.new_file(p, table.schema) for p in paths]
                    first = table.column(spec.key[0])
                    bucket = pc.search_sorted(bounds, first.combine_chunks(), side="right")
                    for b, writer in enumerate(writers):
                        part = table.filter(pc.equal(bucket, b))
                        if part.num_rows:
                            writer.write_table(part)
            finally:
                for writer in writers:
                    writer.close()
            _check_nulls(nulls)
            for p in paths:
                with pa.memory_map(p) as source:
                    data = pa.ipc.open_file(source).read_all()
                reduced.append(_reduce(data, spec, keep_keys))
                del data
                _drop(masks, reduced[-1], sizes)
                os.unlink(p)
    keys = pa.concat_tables([r.keys for r in reduced]) if len(reduced) > 1 else reduced[0].keys
    winners = sum(r.distinct for r in reduced)
    deleted = sum(r.deleted for r in reduced)
    return _Incoming(masks, keys, deleted, total - winners, winners)


class _Source:
    """A fragment opened only while it is read: an open Parquet reader keeps its last decoded row
    group, so a commit over many fragments would otherwise hold one per fragment."""

    def __init__(self, path: str, storage: StorageProperties) -> None:
        self.fs, self.inner = filesystem(path, storage)
        self.rows = pq.read_metadata(self.inner, filesystem=self.fs).num_rows

    def iter_batches(self, columns: list[str]) -> Any:
        source = pq.ParquetFile(self.inner, filesystem=self.fs)
        try:
            yield from source.iter_batches(batch_size=65536, columns=columns)
        finally:
            source.close()


@dataclass
class _Reduced:
    keys: pa.Table  # the bucket's distinct keys, sorted (empty unless kept)
    drops: pa.Array  # read positions (`_SEQ`) of the rows that do not stay
    deleted: int
    distinct: int


def _batches(files: list[_Source], columns: list[str], nulls: dict[str, int]) -> Any:
    """The incoming key/order/marker columns, batch by batch in read order, with each row's read
    position; counts the key columns' nulls."""
    for i, source in enumerate(files):
        start = 0
        for batch in source.iter_batches(columns):
            n = batch.num_rows
            seq = pc.add(_arange(n), (i << 32) + start)
            for name in nulls:
                nulls[name] += batch.column(name).null_count
            yield pa.Table.from_batches([batch]).append_column(_SEQ, seq)
            start += n


def _check_nulls(nulls: dict[str, int]) -> None:
    for name, count in nulls.items():
        if count:
            raise CommitError(
                f"merge key column {name!r} is null in {count} incoming row(s); a key must identify a row "
                "(filter those rows at the source, or choose another target.merge_key)"
            )


def _arange(n: int) -> pa.Array:
    """0, 1, ... n-1, built by Arrow (no Python loop)."""
    if n == 0:
        return pa.array([], pa.int64())
    return pc.subtract(pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), n)), 1)


def _boundaries(files: list[_Source], column: str, total: int, buckets: int) -> pa.Array | None:
    """``buckets - 1`` values of the first key column splitting a strided sample of it into equal
    parts (None: the column's type cannot be searched, or it has too few distinct values: one
    bucket)."""
    stride = max(1, total // (buckets * SAMPLE_PER_BUCKET))
    samples = []
    for source in files:
        for batch in source.iter_batches([column]):
            values = batch.column(0)
            samples.append(values.take(pc.multiply(_arange(math.ceil(len(values) / stride)), stride)))
    sample = pa.concat_arrays(samples) if samples else pa.array([])
    sample = sample.drop_null().take(pc.sort_indices(sample.drop_null()))
    if len(sample) < buckets:
        return None
    picks = [sample[(b * len(sample)) // buckets].as_py() for b in range(1, buckets)]
    bounds = pa.array(picks, type=sample.type).unique()
    try:
        pc.search_sorted(bounds, sample.slice(0, 1))
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    return bounds if len(bounds) else None


def _reduce(data: pa.Table, spec: MergeSpec, keep_keys: bool = True) -> _Reduced:
    """One winner per key in ``data`` (rows in read order, with their `_SEQ`)."""
    n = data.num_rows
    if n == 0:
        return _Reduced(data.select(list(spec.key)), pa.array([], pa.int64()), 0, 0)
    sort_keys = [(k, "ascending") for k in spec.key]
    if spec.order_by is not None:
        sort_keys.append((spec.order_by, "ascending", "at_start"))  # a row without an order value is oldest
    sort_keys.append((_SEQ, "ascending"))  # among equals, the last read wins
    order = pc.sort_indices(data, sort_keys=sort_keys)
    keys = data.select(list(spec.key)).take(order)
    changes = [pc.not_equal(keys.column(k).slice(0, n - 1), keys.column(k).slice(1)) for k in spec.key]
    last = changes[0]
    for change in changes[1:]:
        last = pc.or_(last, change)
    last = pa.concat_arrays([last.combine_chunks() if isinstance(last, pa.ChunkedArray) else last, pa.array([True])])
    keep = last
    deleted = 0
    if spec.delete_column is not None:
        marker = data.column(spec.delete_column)
        flagged = pc.fill_null(pc.equal(marker, pa.scalar(spec.delete_value).cast(marker.type)), False).take(order)
        flagged = flagged.combine_chunks() if isinstance(flagged, pa.ChunkedArray) else flagged
        deleted = pc.sum(pc.and_(last, flagged)).as_py() or 0
        keep = pc.and_(last, pc.invert(flagged))
    drops = data.column(_SEQ).take(order).filter(pc.invert(keep)).combine_chunks()
    distinct = pc.sum(last).as_py() or 0
    kept = keys.filter(last).combine_chunks() if keep_keys else keys.schema.empty_table()  # a slice keeps the buffers
    return _Reduced(kept, drops, deleted, distinct)


def _drop(masks: list[pa.BooleanArray | None], reduced: _Reduced, sizes: list[int]) -> None:
    """Clear the rows a bucket dropped in the fragments' keep-masks (None: every row stays); the
    bucket's drop list is let go. The masks take a bit per row of a fragment that loses any."""
    drops, reduced.drops = reduced.drops, pa.array([], pa.int64())
    if not len(drops):
        return
    drops = drops.take(pc.sort_indices(drops))
    fragment = pc.shift_right(drops, 32)
    present = pc.unique(fragment)
    starts = pc.search_sorted(fragment, present, side="left").to_pylist()
    stops = pc.search_sorted(fragment, present, side="right").to_pylist()
    for i, start, stop in zip(present.to_pylist(), starts, stops, strict=True):
        rows = pc.bit_wise_and(drops.slice(start, stop - start), 0xFFFFFFFF)
        stay = pc.invert(pc.is_in(_arange(sizes[i]), value_set=rows))
        current = masks[i]
        masks[i] = stay if current is None else pc.and_(current, stay)


def _rewrite_fragment(
    path: str,
    keep: pa.BooleanArray,
    metadata: TableMetadata,
    storage: StorageProperties,
    spec: MergeSpec,
    run_id: str,
    schema: Schema,
    prefix: str,
) -> list[tuple[str, int]]:
    """A fragment without its superseded and deleted rows (same schema, same partition)."""
    fs, inner = filesystem(path, storage)
    source = pq.ParquetFile(inner, filesystem=fs)
    writer = _writer(metadata, storage, run_id, prefix, source.schema_arrow, schema, spec)
    try:
        start = 0
        for batch in source.iter_batches(batch_size=65536):
            writer.write(batch.filter(keep.slice(start, batch.num_rows)))
            start += batch.num_rows
        return [(f.path, f.bytes) for f in writer.close()]
    except BaseException:
        writer.abort()
        raise


def _writer(
    metadata: TableMetadata,
    storage: StorageProperties,
    run_id: str,
    prefix: str,
    schema: pa.Schema,
    table_schema: Schema,
    spec: MergeSpec,
) -> FragmentWriter:
    writer = FragmentWriter(
        location=metadata.location,
        storage=storage,
        run_id=run_id,
        partition_index=0,
        attempt=0,
        schema=schema,
        table_schema=table_schema,
        spec=metadata.spec(),
        target_bytes=spec.target_bytes,
        row_group_bytes=spec.row_group_bytes,
    )
    writer.prefix = f"merge-{prefix}"  # data/<run_id>/merge-...: the run's files, apart from its fragments
    return writer


class _Rewriter:
    """Copies one table file without the rows whose key the run brings."""

    def __init__(
        self,
        metadata: TableMetadata,
        io: FileIO,
        storage: StorageProperties,
        spec: MergeSpec,
        run_id: str,
        token: str,
    ) -> None:
        self.metadata, self.io, self.storage, self.spec = metadata, io, storage, spec
        self.run_id, self.token = run_id, token
        self.schema = metadata.schema()
        self.arrow = arrow_schema(self.schema)
        self.scan = ArrowScan(metadata, io, self.schema, AlwaysTrue())

    def __call__(self, i: int | str, item: tuple[FileScanTask, pa.Table]) -> tuple[list[tuple[str, int]], int]:
        task, keys = item
        name = f"{self.token}-e{i:05d}" if isinstance(i, int) else i
        writer = _writer(self.metadata, self.storage, self.run_id, name, self.arrow, self.schema, self.spec)
        key = list(self.spec.key)
        rows = 0
        try:
            for batch in self.scan.to_record_batches([task]):  # the current schema, deletes applied
                data = pa.Table.from_batches([batch]).cast(self.arrow)
                if len(key) == 1:
                    incoming = keys.column(key[0]).combine_chunks()
                    stay = data.filter(pc.invert(pc.is_in(data.column(key[0]), value_set=incoming)))
                else:  # the join sees only the key columns and a row number
                    probe = data.select(key).append_column(_RANK, pa.array(range(data.num_rows), pa.int64()))
                    stay = data.take(probe.join(keys, keys=key, join_type="left anti").column(_RANK))
                for out in stay.to_batches():
                    writer.write(out)
                rows += stay.num_rows
            return [(f.path, f.bytes) for f in writer.close()], rows
        except BaseException:
            writer.abort()
            raise


# -- distributing the rewrite of touched files ---------------------------------------------------


def plan_rewrites(
    table: Table,
    metadata: TableMetadata,
    storage: StorageProperties,
    spec: MergeSpec,
    run_id: str,
    fragments: list[tuple[str, int]],
    in_process_bytes: int,
) -> list[dict[str, Any]] | None:
    """The rewrite partitions of a merge (one per touched file), or None: the commit rewrites in
    its own process (touched files of at most ``in_process_bytes`` in all, a full refresh, an empty table,
    a touched file with delete files).

    Each partition's spec names the table file, the snapshot it was planned against, the layout
    (schema and spec) to write in, and the rows of the run's sorted incoming keys within the
    file's bounds, in a Parquet file written here, under the run's data directory, where every
    worker can read it."""
    snapshot = table.current_snapshot()
    if spec.replace or snapshot is None:
        return None
    incoming = _read_incoming(fragments, spec, storage)
    if not incoming.distinct:
        return None
    index = _KeyIndex(incoming.keys, spec.key, metadata.schema())
    tasks = table.scan(snapshot_id=snapshot.snapshot_id).plan_files()
    affected = [task for task in tasks if index.candidates(task.file) is not None]
    touched = sum(task.file.file_size_in_bytes for task in affected)
    if touched <= in_process_bytes or len(affected) < 2 or any(task.delete_files for task in affected):
        return None
    token = uuid.uuid4().hex[:8]
    layout = layout_of(metadata)
    root_fs, root = filesystem(metadata.location, storage)
    prefix = scheme_prefix(metadata.location)  # the key files' URIs, as the fragment writer names its files
    # ONE file of the sorted keys, in row groups of KEY_GROUP_ROWS: each partition reads the row
    # groups of its file's key range, not a copy of its own (with changes spread over the key
    # range every file's bounds hold every key)
    inner = f"{root}/{run_data_dir(run_id)}/merge-keys-{token}.parquet"
    make_parent_dir(root_fs, inner)
    pq.write_table(incoming.keys, inner, filesystem=root_fs, row_group_size=KEY_GROUP_ROWS)
    partitions = []
    for i, task in enumerate(affected):
        start, stop = index.span(task.file) or (0, 0)
        partitions.append(
            {
                "spec": {
                    "merge_rewrite": {
                        "file": task.file.file_path,
                        "snapshot_id": snapshot.snapshot_id,
                        "keys": prefix + inner,
                        "key_rows": [start, stop],
                        "layout": layout,
                        "name": f"{token}-d{i:05d}",
                    }
                },
                "estimated_bytes": task.file.file_size_in_bytes,
                "estimated_rows": task.file.record_count,
                "label": f"merge rewrite {task.file.file_path.rsplit('/', 1)[-1]}",
            }
        )
    return partitions


_tasks: dict[tuple[str, int], dict[str, FileScanTask]] = {}  # (table location, snapshot) -> file -> scan task


def rewrite_partition(
    table: Table, storage: StorageProperties, spec: MergeSpec, run_id: str, work: dict[str, Any], attempt: int
) -> list[Fragment]:
    """One rewrite partition on a worker: the table file without the incoming keys, written under
    the run's data directory, named by the partition and attempt. Returns the written files (kind
    `rewrite`, their rows the rows kept)."""
    key = (table.metadata.location, int(work["snapshot_id"]))
    if key not in _tasks:
        _tasks.clear()  # one run's snapshot at a time per process
        _tasks[key] = {t.file.file_path: t for t in table.scan(snapshot_id=key[1]).plan_files()}
    task = _tasks[key].get(work["file"])
    if task is None:
        raise CommitError(f"merge rewrite: {work['file']} is not in snapshot {key[1]} of the table")
    schema = Schema.model_validate_json(json.loads(work["layout"])[0])  # the evolved schema the commit writes in
    others = [s for s in table.metadata.schemas if s.schema_id != schema.schema_id]
    metadata = table.metadata.model_copy(update={"schemas": [schema, *others], "current_schema_id": schema.schema_id})
    if layout_of(metadata) != work["layout"]:  # the spec moved on: written, then ignored by the commit
        raise CommitError(f"merge rewrite of {work['file']}: the table's partition spec changed since it was planned")
    fs, inner = filesystem(work["keys"], storage)
    start, stop = work["key_rows"]
    source = pq.ParquetFile(inner, filesystem=fs)
    try:  # the row groups holding rows start..stop-1 of the sorted keys, then exactly those rows
        groups, offset, first = [], 0, None
        for g in range(source.metadata.num_row_groups):
            rows = source.metadata.row_group(g).num_rows
            if offset < stop and offset + rows > start:
                groups.append(g)
                first = offset if first is None else first
            offset += rows
        keys = source.read_row_groups(groups).slice(start - (first or 0), stop - start)
    finally:
        source.close()
    rewrite = _Rewriter(metadata, table.io, storage, spec, run_id, "")
    files, rows = rewrite(f"{work['name']}-a{attempt:02d}", (task, keys))
    return [Fragment(REWRITE_KIND, path, rows if n == 0 else 0, size) for n, (path, size) in enumerate(files)]


def prepared_rewrites(specs: list[dict[str, Any]], produced: dict[int, list[Fragment]]) -> Prepared | None:
    """What the run's finished rewrite partitions (``specs`` by index, with their winning
    fragments) prepared for the commit."""
    layout = None
    files: dict[str, tuple[list[tuple[str, int]], int]] = {}
    for spec in specs:
        work = spec["spec"].get("merge_rewrite")
        if work is None:
            continue
        layout = work["layout"]
        out = produced.get(spec["index"], [])
        files[work["file"]] = ([(f.path, f.bytes) for f in out], sum(f.rows for f in out))
    return Prepared(layout, files) if layout is not None else None


class _KeyIndex:
    """The incoming keys (sorted by key) and a test of table files by their key bounds.

    A file is a candidate when some incoming key lies within its lower/upper bounds on every
    key column; a missing or unreadable bound bounds nothing (the file is read to be sure)."""

    def __init__(self, keys: pa.Table, key: tuple[str, ...], schema: Schema) -> None:
        self.key = key
        self.fields = [schema.find_field(name) for name in key]
        self.keys = keys
        self.first = _comparable(keys.column(key[0]))

    def span(self, data_file: DataFile) -> tuple[int, int] | None:
        """The rows of the sorted keys within ``data_file``'s first key column bounds (None: none)."""
        bounds = self._bounds(data_file, self.fields[0])
        if bounds is None:
            return None  # the key column is null in every row of the file
        low, high = bounds
        n = len(self.first)
        at = self.first.__getitem__
        start = bisect.bisect_left(range(n), low, key=lambda i: at(i).as_py()) if low is not None else 0
        stop = bisect.bisect_right(range(n), high, key=lambda i: at(i).as_py()) if high is not None else n
        return (start, stop) if start < stop else None

    def candidates(self, data_file: DataFile) -> pa.Table | None:
        """The incoming keys ``data_file`` may hold (None: it holds none of them)."""
        bounds = [self._bounds(data_file, f) for f in self.fields]
        if any(b is None for b in bounds):
            return None  # the key column is null in every row of the file
        span = self.span(data_file)
        if span is None:
            return None
        start, stop = span
        found = self.keys.slice(start, stop - start)
        if len(self.key) == 1:
            return found
        mask = pa.array([True] * found.num_rows)
        for name, bound in zip(self.key[1:], bounds[1:], strict=True):
            values = _comparable(found.column(name))
            for value, compare in zip(bound, (pc.greater_equal, pc.less_equal), strict=True):  # type: ignore[arg-type]
                scalar = _scalar(value, values.type)
                if scalar is not None:
                    mask = pc.and_(mask, compare(values, scalar))
        return found.filter(mask) if pc.any(mask).as_py() else None

    @staticmethod
    def _bounds(data_file: DataFile, f: Any) -> tuple[Any, Any] | None:
        nulls = (data_file.null_value_counts or {}).get(f.field_id)
        if nulls is not None and nulls == data_file.record_count:
            return None
        return _bound(data_file.lower_bounds, f), _bound(data_file.upper_bounds, f)


def _bound(bounds: dict[int, bytes] | None, f: Any) -> Any:
    raw = (bounds or {}).get(f.field_id)
    if raw is None:
        return None
    try:
        value = from_bytes(f.field_type, raw)
    except Exception:  # e.g. a bound written before a type promotion: bounds nothing
        return None
    if isinstance(value, uuid.UUID):
        return value.bytes
    return value


def _scalar(value: Any, kind: pa.DataType) -> pa.Scalar | None:
    if value is None:
        return None
    try:
        return pa.scalar(value, type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return None  # not comparable here: bounds nothing


def _comparable(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Key values in the form Iceberg bounds decode to: temporal types as their integer count of
    days or microseconds; the others as they are."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if isinstance(array.type, pa.ExtensionType):
        array = array.storage
    kind = array.type
    if pa.types.is_date32(kind):
        return array.cast(pa.int32())
    if pa.types.is_timestamp(kind) or pa.types.is_time64(kind):
        return array.cast(pa.int64())
    return array
