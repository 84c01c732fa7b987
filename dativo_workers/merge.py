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
import os
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
from dativo_workers.fragments import FragmentWriter
from dativo_workers.schema import arrow_schema
from dativo_workers.storage import StorageProperties, filesystem

_RANK = "__dativo_rank"
REWRITE_THREADS = max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class MergeSpec:
    """A merge run's settings, fixed at planning time and stored in the run's plan."""

    key: tuple[str, ...]
    order_by: str | None = None
    delete_column: str | None = None
    delete_value: Any = None
    replace: bool = False  # full refresh: every row of the table is replaced
    target_bytes: int = 256 * 1024 * 1024

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": list(self.key),
            "order_by": self.order_by,
            "delete_column": self.delete_column,
            "delete_value": self.delete_value,
            "replace": self.replace,
            "target_bytes": self.target_bytes,
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
    )


@dataclass
class MergeResult:
    added: list[tuple[str, int]]  # files the snapshot adds (URI, bytes)
    deleted: list[DataFile]  # table files the snapshot removes
    summary: dict[str, str] = field(default_factory=dict)  # snapshot summary properties


@dataclass
class _Incoming:
    keep: list[pa.BooleanArray | None]  # per fragment: rows that stay (None: all of them)
    keys: pa.Table  # every distinct incoming key, deleted ones included, sorted by key
    deleted_keys: int
    superseded: int  # incoming rows replaced by a newer row of their key within the run


def apply_merge(
    table: Table | None,
    metadata: TableMetadata,
    io: FileIO,
    storage: StorageProperties,
    spec: MergeSpec,
    run_id: str,
    fragments: list[tuple[str, int]],
    fragment_schema: Schema,
) -> MergeResult:
    """Rewrite what the merge changes; return the files to add and to remove.

    ``table`` is the table the transaction starts from (None: it is being created);
    ``metadata`` the transaction's metadata (the evolved schema rewritten files are written in)."""
    token = uuid.uuid4().hex[:8]  # a commit attempt's own files: a retry or a takeover never overwrites them
    incoming = _read_incoming(fragments, spec, storage)
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
    snapshot = table.current_snapshot() if table is not None else None
    if table is not None and snapshot is not None:
        tasks = table.scan(snapshot_id=snapshot.snapshot_id).plan_files()
        if spec.replace:
            deleted = [task.file for task in tasks]
        elif incoming.keys.num_rows:
            index = _KeyIndex(incoming.keys, spec.key, metadata.schema())
            affected = [(task, keys) for task in tasks if (keys := index.candidates(task.file)) is not None]
            deleted = [task.file for task, _ in affected]
            rewrite = _Rewriter(metadata, io, storage, spec, run_id, token)
            with ThreadPoolExecutor(max_workers=REWRITE_THREADS) as pool:
                for files, rows in pool.map(lambda item: rewrite(*item), enumerate(affected)):
                    added += files
                    rows_rewritten += rows
    summary = {
        "dativo.merge.keys": str(incoming.keys.num_rows),
        "dativo.merge.deleted-keys": str(incoming.deleted_keys),
        "dativo.merge.superseded-rows": str(incoming.superseded),
        "dativo.merge.files-rewritten": str(0 if spec.replace else len(deleted)),
        "dativo.merge.rows-rewritten": str(rows_rewritten),
    }
    return MergeResult(added=added, deleted=deleted, summary=summary)


def _read_incoming(fragments: list[tuple[str, int]], spec: MergeSpec, storage: StorageProperties) -> _Incoming:
    """One winner per key among the run's rows, as keep-masks over its fragments.

    Reads only the key, order and marker columns; the work is vectorised: one stable sort by
    (key, order) puts each key's rows oldest first, in read order among equals, and the last row
    of each key wins."""
    columns = list(dict.fromkeys([*spec.key, *(c for c in (spec.order_by, spec.delete_column) if c)]))
    parts = []
    for path, _ in fragments:
        fs, inner = filesystem(path, storage)
        parts.append(pq.read_table(inner, columns=columns, filesystem=fs))
    sizes = [p.num_rows for p in parts]
    if not sum(sizes):
        empty = pa.schema([(k, pa.null()) for k in spec.key]).empty_table()
        return _Incoming([None] * len(parts), empty, 0, 0)
    data = pa.concat_tables(parts).combine_chunks()
    for name in spec.key:
        nulls = data.column(name).null_count
        if nulls:
            raise CommitError(
                f"merge key column {name!r} is null in {nulls} incoming row(s); a key must identify a row "
                "(filter those rows at the source, or choose another target.merge_key)"
            )
    n = data.num_rows
    sort_keys = [(k, "ascending") for k in spec.key]
    if spec.order_by is not None:
        sort_keys.append((spec.order_by, "ascending", "at_start"))  # a row without an order value is oldest
    order = pc.sort_indices(data.select(columns), sort_keys=sort_keys)  # a stable sort: ties stay in read order
    keys = data.select(list(spec.key)).take(order)
    changes = [pc.not_equal(keys.column(k).slice(0, n - 1), keys.column(k).slice(1)) for k in spec.key]
    last = changes[0]
    for change in changes[1:]:
        last = pc.or_(last, change)
    last = pa.concat_arrays([last.combine_chunks() if isinstance(last, pa.ChunkedArray) else last, pa.array([True])])
    winners = pc.sum(last).as_py()
    keep_sorted = last
    deleted_keys = 0
    if spec.delete_column is not None:
        marker = data.column(spec.delete_column)
        flagged = pc.fill_null(pc.equal(marker, pa.scalar(spec.delete_value).cast(marker.type)), False).take(order)
        deleted_keys = pc.sum(pc.and_(last, flagged)).as_py() or 0
        keep_sorted = pc.and_(last, pc.invert(flagged))
    keep = keep_sorted.take(pc.sort_indices(order))  # back to read order (the inverse permutation)
    keep = keep.combine_chunks() if isinstance(keep, pa.ChunkedArray) else keep
    masks: list[pa.BooleanArray | None] = []
    start = 0
    for size in sizes:
        part = keep.slice(start, size)
        masks.append(None if pc.all(part).as_py() is not False else part)
        start += size
    return _Incoming(masks, keys.filter(last), deleted_keys, n - winners)


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

    def __call__(self, i: int, item: tuple[FileScanTask, pa.Table]) -> tuple[list[tuple[str, int]], int]:
        task, keys = item
        key = list(self.spec.key)
        writer = _writer(
            self.metadata, self.storage, self.run_id, f"{self.token}-e{i:05d}", self.arrow, self.schema, self.spec
        )
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


class _KeyIndex:
    """The incoming keys (sorted by key) and a test of table files by their key bounds.

    A file is a candidate when some incoming key lies within its lower/upper bounds on every
    key column; a missing or unreadable bound bounds nothing (the file is read to be sure)."""

    def __init__(self, keys: pa.Table, key: tuple[str, ...], schema: Schema) -> None:
        self.key = key
        self.fields = [schema.find_field(name) for name in key]
        self.keys = keys
        self.first = _comparable(keys.column(key[0]))

    def candidates(self, data_file: DataFile) -> pa.Table | None:
        """The incoming keys ``data_file`` may hold (None: it holds none of them)."""
        bounds = [self._bounds(data_file, f) for f in self.fields]
        if any(b is None for b in bounds):
            return None  # the key column is null in every row of the file
        low, high = bounds[0]  # type: ignore[misc]
        n = len(self.first)
        at = self.first.__getitem__
        start = bisect.bisect_left(range(n), low, key=lambda i: at(i).as_py()) if low is not None else 0
        stop = bisect.bisect_right(range(n), high, key=lambda i: at(i).as_py()) if high is not None else n
        if stop <= start:
            return None
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
