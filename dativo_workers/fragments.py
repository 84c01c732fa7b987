"""Arrow batches -> zstd Parquet fragment files under the table location.

File names are deterministic in (run, partition, attempt, sequence): a re-executed attempt
overwrites its own files, and the losing attempt of a duplicate delivery deletes its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pyiceberg.partitioning import PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.typedef import Record

from dativo_workers.iceberg import run_files
from dativo_workers.ledger import Fragment
from dativo_workers.storage import StorageProperties, filesystem, make_parent_dir, scheme_prefix

if TYPE_CHECKING:
    from dativo_workers.encryption import ParquetEncryption

PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 1, "write_statistics": True}


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """The columns worth dictionary encoding: top-level text and binary ones (and Arrow dictionaries).

    pyarrow's default tries a dictionary for every column; numbers, decimals and timestamps are
    mostly distinct, so the dictionary overflows its page and the column falls back to plain
    pages after paying for both, and zstd compresses the mixture worse. Measured on 1 M rows of
    the benchmark table (bigint, int, numeric, double, text, bool, timestamptz, date): 0.39 ->
    0.18 CPU s to encode, 25.2 -> 12.8 MB written (docs/performance.md)."""
    kinds = (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary, pa.types.is_large_binary)

    def leaves(path: str, kind: pa.DataType) -> list[str]:  # Parquet column paths (lists: `.list.element`)
        if pa.types.is_dictionary(kind) or any(test(kind) for test in kinds):
            return [path]
        if pa.types.is_list(kind) or pa.types.is_large_list(kind):
            return leaves(f"{path}.list.element", kind.value_type)
        if pa.types.is_struct(kind):
            return [
                leaf
                for i in range(kind.num_fields)
                for leaf in leaves(f"{path}.{kind.field(i).name}", kind.field(i).type)
            ]
        return []

    return [leaf for f in schema for leaf in leaves(f.name, f.type)]


# Row groups gather incoming batches up to this much in-memory Arrow data or this many rows,
# whichever comes first: one row group per incoming batch (a CSV block is ~10k rows) made files of
# dozens of tiny row groups, which every engine reading the table pays for. 8 MiB (~100k rows of
# the benchmark table) because the pending rows cost a worker's memory: +25 MiB peak RSS measured
# at 8 MiB, +55-65 MiB at 32 MiB, against a 256 MiB per-worker target (docs/performance.md,
# "Output row groups").
ROW_GROUP_BYTES = 8 * 1024 * 1024
ROW_GROUP_ROWS = 1024 * 1024


@dataclass
class _OpenFile:
    path: str
    writer: pq.ParquetWriter
    sink: pa.NativeFile
    rows: int = 0


class RollingParquetWriter:
    """One output stream of fragments, rolled when a file reaches ``target_bytes``.

    Batches are held until they make a row group of ``row_group_bytes`` of Arrow data or
    ``row_group_rows`` rows; the pending rows count towards the file size (at the Parquet/Arrow
    size ratio seen so far), so a file closes at about ``target_bytes`` whatever the row group
    size, and its last row group takes whatever is pending when it rolls or on ``close``."""

    def __init__(
        self,
        fs: pafs.FileSystem,
        make_path: Callable[[int], str],
        schema: pa.Schema,
        target_bytes: int,
        parquet_options: dict[str, Any] | None = None,
        encryption: ParquetEncryption | None = None,
        row_group_bytes: int = ROW_GROUP_BYTES,
        row_group_rows: int = ROW_GROUP_ROWS,
    ) -> None:
        """``encryption``: each file is written with fresh keys from it (`target.encryption`)."""
        if row_group_bytes < 1 or row_group_rows < 1:
            raise ValueError(f"row group size must be positive: {row_group_bytes} bytes, {row_group_rows} rows")
        self.fs = fs
        self.encryption = encryption
        self.make_path = make_path
        self.schema = schema
        self.target_bytes = target_bytes
        self.row_group_bytes = row_group_bytes
        self.row_group_rows = row_group_rows
        self.parquet_options = PARQUET_OPTIONS if parquet_options is None else parquet_options
        self.sequence = 0
        self.current: _OpenFile | None = None
        self.finished: list[Fragment] = []
        self.pending: list[pa.RecordBatch] = []
        self.pending_rows = 0
        self.pending_bytes = 0
        self.arrow_flushed = 0  # Arrow bytes written so far, and the Parquet bytes they became:
        self.parquet_flushed = 0  # their ratio estimates the pending rows' share of the file

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        self.pending.append(batch)
        self.pending_rows += batch.num_rows
        self.pending_bytes += batch.nbytes
        while self.pending_rows >= self.row_group_rows or self.pending_bytes >= self.row_group_bytes:
            self._flush(self.row_group_rows)
            self._roll_if_full()
        if self.pending and self._estimated_size() >= self.target_bytes:
            self._flush(self.pending_rows)
            self._roll_if_full()

    def _estimated_size(self) -> int:
        ratio = self.parquet_flushed / self.arrow_flushed if self.arrow_flushed else 1.0
        written = self.current.sink.tell() if self.current is not None else 0
        return written + int(self.pending_bytes * ratio)

    def _open(self) -> _OpenFile:
        if self.current is None:
            path = self.make_path(self.sequence)
            self.sequence += 1
            make_parent_dir(self.fs, path)
            options = dict(self.parquet_options)
            options.setdefault("use_dictionary", dictionary_columns(self.schema))
            if self.encryption is not None:
                options["encryption_properties"] = self.encryption.file_properties()
            sink = self.fs.open_output_stream(path)
            self.current = _OpenFile(path, pq.ParquetWriter(sink, self.schema, **options), sink)
        return self.current

    def _flush(self, max_rows: int) -> None:
        """Write up to ``max_rows`` pending rows, in order, as one row group."""
        if not self.pending:
            return
        current = self._open()
        table = pa.Table.from_batches(self.pending, self.pending[0].schema)
        rows = min(max_rows, table.num_rows)
        group, rest = table.slice(0, rows), table.slice(rows)
        before = current.sink.tell()
        current.writer.write_table(group, row_group_size=rows)
        self.parquet_flushed += current.sink.tell() - before
        self.arrow_flushed += group.nbytes
        current.rows += rows
        self.pending = rest.to_batches() if rest.num_rows else []
        self.pending_rows = rest.num_rows
        self.pending_bytes = rest.nbytes if rest.num_rows else 0

    def flush(self) -> None:
        """Write the pending rows as a row group now (a caller bounding memory across writers)."""
        self._flush(self.pending_rows)
        self._roll_if_full()

    def _roll_if_full(self) -> None:
        if self.current is not None and self.current.sink.tell() >= self.target_bytes:
            self._close_current()

    def _close_current(self) -> None:
        self._flush(self.pending_rows)
        if self.current is None:
            return
        self.current.writer.close()
        size = self.current.sink.tell()
        self.current.sink.close()
        self.finished.append(Fragment("data", self.current.path, self.current.rows, size))
        self.current = None

    @property
    def bytes_written(self) -> int:
        """Bytes in files so far, and the pending rows' estimated share."""
        return sum(f.bytes for f in self.finished) + self._estimated_size()

    def close(self) -> list[Fragment]:
        self._close_current()
        return self.finished

    def abort(self) -> None:
        self.pending, self.pending_rows, self.pending_bytes = [], 0, 0
        if self.current is not None:
            try:
                self.current.writer.close()
                self.current.sink.close()
            except Exception:  # already broken; we delete it anyway
                pass
            self.finished.append(Fragment("data", self.current.path, 0, 0))
            self.current = None
        delete_files(self.fs, [f.path for f in self.finished])
        self.finished = []


class FragmentWriter:
    """Routes batches to one rolling writer per Iceberg partition value."""

    def __init__(
        self,
        *,
        location: str,
        storage: StorageProperties,
        run_id: str,
        partition_index: int,
        attempt: int,
        schema: pa.Schema,
        table_schema: Schema,
        spec: PartitionSpec,
        target_bytes: int,
        row_group_bytes: int = ROW_GROUP_BYTES,
    ) -> None:
        self.fs, self.root = filesystem(location, storage)
        self.scheme_prefix = scheme_prefix(location)
        self.run_id = run_id
        self.prefix = f"p{partition_index:05d}-a{attempt:02d}"
        self.schema = schema
        self.table_schema = table_schema
        self.spec = spec
        self.target_bytes = target_bytes
        self.writers: dict[tuple[object, ...], RollingParquetWriter] = {}
        self.row_group_bytes = row_group_bytes
        self.pending_budget = row_group_bytes  # rows waiting for a row group, all partition values together
        self.transforms = [
            (
                table_schema.find_column_name(f.source_id),
                f.transform.pyarrow_transform(table_schema.find_field(f.source_id).field_type),
            )
            for f in spec.fields
        ]

    def _writer(self, key: tuple[object, ...]) -> RollingParquetWriter:
        if key not in self.writers:
            subdir = run_data_dir(self.run_id)
            if self.spec.fields:
                subdir += "/" + self.spec.partition_to_path(Record(*key), self.table_schema)
            tag = f"-k{len(self.writers):03d}" if self.spec.fields else ""
            self.writers[key] = RollingParquetWriter(
                self.fs,
                lambda seq, subdir=subdir, tag=tag: f"{self.root}/{subdir}/{self.prefix}{tag}-{seq:05d}.parquet",
                self.schema,
                self.target_bytes,
                row_group_bytes=self.row_group_bytes,
            )
        return self.writers[key]

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        if not self.spec.fields:
            self._writer(()).write(batch)
            return
        for key, part in self._split(batch):
            self._writer(key).write(part)
        self._bound_pending()

    def _bound_pending(self) -> None:
        """Rows waiting for a row group, across all partition values, stay within one row group's
        bytes: the writer holding most writes its rows early (a smaller row group), so memory does
        not grow with the number of partition values in a run."""
        writers = [w for w in self.writers.values() if w.pending_bytes]
        total = sum(w.pending_bytes for w in writers)
        while writers and total > self.pending_budget:
            largest = max(writers, key=lambda w: w.pending_bytes)
            total -= largest.pending_bytes
            largest.flush()
            writers.remove(largest)

    def _split(self, batch: pa.RecordBatch) -> list[tuple[tuple[object, ...], pa.RecordBatch]]:
        """Split a batch by partition value (one file never spans two partitions)."""
        keys = [fn(batch.column(name)) for name, fn in self.transforms]
        if all(pc.count_distinct(k, mode="all").as_py() == 1 for k in keys):  # the usual case: one value
            return [(tuple(k[0].as_py() for k in keys), batch)]
        names = [f"k{i}" for i in range(len(keys))]
        rows = pa.array(range(batch.num_rows), pa.int64())
        groups = pa.table([*keys, rows], names=[*names, "row"]).group_by(names, use_threads=False)
        groups = groups.aggregate([("row", "list")])
        row_lists = groups.column("row_list")
        return [
            (tuple(groups.column(n)[g].as_py() for n in names), batch.take(row_lists[g].values))
            for g in range(groups.num_rows)
        ]

    @property
    def bytes_written(self) -> int:
        return sum(w.bytes_written for w in self.writers.values())

    def close(self) -> list[Fragment]:
        produced = [frag for w in self.writers.values() for frag in w.close()]
        return [Fragment(f.kind, self.scheme_prefix + f.path, f.rows, f.bytes) for f in produced]

    def abort(self) -> None:
        for writer in self.writers.values():
            writer.abort()
        self.writers = {}


def delete_files(fs: pafs.FileSystem, paths: list[str]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            fs.delete_file(path)


def delete_uris(uris: list[str], storage: StorageProperties) -> None:
    """Delete fragment files given as URIs (the losing attempt's, or an aborted run's)."""
    for uri in uris:
        fs, path = filesystem(uri, storage)
        delete_files(fs, [path])


def run_data_dir(run_id: str) -> str:
    """All of a run's fragments live under one prefix, so sweeping a run lists only its own files."""
    return f"data/{run_id}"


def quarantine_dir(run_id: str) -> str:
    return f"_dativo_quarantine/{run_id}"


def staging_dir(run_id: str) -> str:
    """Writer targets: every attempt's files wait here until the commit publishes the winners."""
    return f"_dativo_staging/{run_id}"


def sweep_run(location: str, run_id: str, keep: set[str], storage: StorageProperties, table: Table | None) -> int:
    """Delete a run's files that did not win: attempts killed mid-write never cleaned up after
    themselves. Whatever a snapshot of ``table`` references is kept, whatever the caller thinks
    (a ledger can be wrong about a commit; the table cannot). Returns how many files were removed."""
    if table is not None:
        keep = keep | run_files(table, run_id)
    fs, root = filesystem(location, storage)
    prefix = scheme_prefix(location)
    removed = []
    for directory in (run_data_dir(run_id), quarantine_dir(run_id), staging_dir(run_id)):
        selector = pafs.FileSelector(f"{root}/{directory}", recursive=True, allow_not_found=True)
        removed += [
            info.path for info in fs.get_file_info(selector)
            if info.type == pafs.FileType.File and prefix + info.path not in keep
        ]  # fmt: skip
    delete_files(fs, removed)
    return len(removed)
