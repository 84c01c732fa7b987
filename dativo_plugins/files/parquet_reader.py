"""Parquet reader: partitions are groups of row groups, read batch by batch."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from dativo_plugins.files._common import (
    SourceFiles,
    check_columns,
    matched_summary,
    new_files_mode,
    not_loaded,
    resolve_files,
)
from dativo_workers.errors import SourceError
from dativo_workers.plugins import DataReader, Partition, PluginSettings, SourceContext
from dativo_workers.storage import StoredFile, scheme_of

_FOOTER_THREADS = 16  # object-store footers are read concurrently: each costs round trips


class ParquetOptions(PluginSettings):
    """``source.options`` of a Parquet job."""

    # rows per record batch, at most: 32,768 keeps a worker ~30 MiB smaller than 65,536 (three batches
    # in flight), and the fragment writer gathers batches into its own row groups anyway
    batch_size: int = Field(32_768, gt=0)
    # Uncompressed bytes per record batch, at most (from the row groups' metadata): wide rows get
    # fewer rows per batch, so the batches the engine reads ahead stay small whatever the file.
    batch_bytes: int = Field(8 * 1024 * 1024, gt=0)
    # Bytes read at a time from a column chunk: row groups are streamed page by page rather
    # than loaded whole (a 500 MB row group would otherwise be held in memory while it decodes).
    buffer_size: int = Field(1024 * 1024, gt=0)


def _open(files: SourceFiles, path: str, size: int | None = None, buffer_size: int = 0) -> pq.ParquetFile:
    """The file's footer, read with ranged requests; ``size``: the size it was planned at.

    ``buffer_size`` > 0: column chunks are read through a buffer of that many bytes, without
    pre-buffering, so a reader's memory does not grow with the row group.
    """
    source = files.open_arrow(path)
    if size is not None and not isinstance(source, str) and source.size() != size:
        source.close()
        raise SourceError(f"{path}: changed size since the run was planned ({size} bytes then, {source.size()} now)")
    try:
        if buffer_size:
            return pq.ParquetFile(source, buffer_size=buffer_size, pre_buffer=False)
        return pq.ParquetFile(source)
    except (pa.ArrowInvalid, OSError) as exc:
        # Reported as a source problem, not as a value that failed to convert.
        raise SourceError(f"{path}: not a readable Parquet file: {exc}") from exc


def _row_group_sets(metadata: pq.FileMetaData, target: int) -> list[list[int]]:
    """Consecutive row groups, grouped up to ``target`` uncompressed bytes (at least one each)."""
    groups: list[list[int]] = [[]]
    size = 0
    for index in range(metadata.num_row_groups):
        group_bytes = metadata.row_group(index).total_byte_size
        if groups[-1] and size + group_bytes > target:
            groups.append([])
            size = 0
        groups[-1].append(index)
        size += group_bytes
    return groups


def _batch_rows(metadata: pq.FileMetaData, row_groups: list[int], batch_size: int, batch_bytes: int) -> int:
    """Rows per batch: ``batch_size``, fewer if the row groups' rows average more than ``batch_bytes / batch_size``."""
    rows = sum(metadata.row_group(i).num_rows for i in row_groups)
    nbytes = sum(metadata.row_group(i).total_byte_size for i in row_groups)
    if not rows or not nbytes:
        return batch_size
    return max(1, min(batch_size, batch_bytes * rows // nbytes))


def _label(name: str, row_groups: list[int], total: int) -> str:
    if len(row_groups) == total:
        return name
    first, last = row_groups[0], row_groups[-1]
    return f"{name}[rg {first}]" if first == last else f"{name}[rg {first}-{last}]"


class ParquetReader(DataReader):
    """Parquet files; a file larger than the target partition size is split by row groups.

    A partition spec is ``{"path", "row_groups": [...], "columns": [...], "size"}``, ``columns``
    being the sampled (first) file's, which every file must match; ``path`` a local path or an
    object-store URI.
    """

    name = "parquet"
    config_model = ParquetOptions
    description = "Parquet files (local paths, object-store URIs, globs)"
    source_list = "files"
    config: ParquetOptions

    def __init__(self, config: ParquetOptions, context: SourceContext) -> None:
        super().__init__(config, context)
        self._files = SourceFiles(context.storage)

    @cached_property
    def _matched(self) -> list[StoredFile]:
        return resolve_files(self.context)

    @cached_property
    def _found(self) -> list[StoredFile]:
        """The files this run reads: the matched ones, less those loaded before in new_files mode."""
        return not_loaded(self.context, self._matched)

    def plan_summary(self) -> str:
        return matched_summary(self.context, self._matched, self._found)

    def planned_files(self) -> list[StoredFile] | None:
        return list(self._found) if new_files_mode(self.context) else None

    def schema(self) -> pa.Schema:
        with _open(self._files, (self._found or self._matched)[0].uri) as file:
            return file.schema_arrow.remove_metadata()

    def _metadata(self, found: StoredFile) -> pq.FileMetaData:
        with _open(self._files, found.uri, found.size) as file:
            return file.metadata

    def plan(self) -> list[Partition]:
        if not self._found:  # new_files mode with nothing new: no file to read a schema from either
            return []
        columns = self.schema().names
        partitions: list[Partition] = []
        remote = any(scheme_of(f.uri) for f in self._found)
        with ThreadPoolExecutor(_FOOTER_THREADS if remote else 1) as pool:
            footers = list(pool.map(self._metadata, self._found))
        for found, metadata in zip(self._found, footers, strict=True):
            path = found.uri
            name = path.rsplit("/", 1)[-1]
            for row_groups in _row_group_sets(metadata, self.context.target_partition_bytes):
                partitions.append(
                    Partition(
                        index=len(partitions),
                        spec={"path": path, "row_groups": row_groups, "columns": columns, "size": found.size},
                        estimated_bytes=sum(metadata.row_group(i).total_byte_size for i in row_groups),
                        estimated_rows=sum(metadata.row_group(i).num_rows for i in row_groups),
                        label=_label(name, row_groups, metadata.num_row_groups),
                    )
                )
        return partitions

    def read(self, partition: Partition, schema: pa.Schema | None) -> Iterator[pa.RecordBatch]:
        # Parquet values are already typed: the engine casts to ``schema`` if they differ.
        spec = partition.spec
        with _open(self._files, spec["path"], spec.get("size"), self.config.buffer_size) as file:
            check_columns(spec["path"], file.schema_arrow.names, spec["columns"])
            if spec["row_groups"]:  # an empty list would mean "all row groups" to pyarrow
                # One thread: the engine already reads ahead on its own thread, and pyarrow's
                # column threads would decode every column chunk of the group at once.
                rows = _batch_rows(file.metadata, spec["row_groups"], self.config.batch_size, self.config.batch_bytes)
                yield from file.iter_batches(batch_size=rows, row_groups=spec["row_groups"], use_threads=False)

    def describe_position(self, partition: Partition, row_in_partition: int) -> str:
        spec = partition.spec
        first_group = spec["row_groups"][0] if spec["row_groups"] else 0
        with _open(self._files, spec["path"]) as file:
            before = sum(file.metadata.row_group(i).num_rows for i in range(first_group))
        return f"{spec['path']}: row {before + row_in_partition + 1}"
