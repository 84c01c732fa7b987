"""What the line-oriented readers (CSV, JSON Lines) share: planning line-aligned byte ranges,
sampling the schema once, and turning a row of a partition back into a file line."""

from __future__ import annotations

import io
from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise
from typing import Any, BinaryIO

import pyarrow as pa
from pydantic import Field

from dativo_plugins.files._common import (
    SourceFiles,
    compression_of,
    encode_schema,
    matched_summary,
    new_files_mode,
    next_line_start,
    not_loaded,
    resolve_files,
)
from dativo_workers.errors import SourceError
from dativo_workers.plugins import DataReader, Partition, PluginSettings, SourceContext
from dativo_workers.storage import StoredFile

_ROWS_PER_BATCH = 65536


@dataclass
class _RowCursor:
    """A scan of one partition for row positions, paused: rows ``first ..`` start on ``lines``."""

    spec: dict[str, Any]
    batches: Iterator[list[int]]
    first: int = 0
    lines: list[int] = field(default_factory=list)

    def close(self) -> None:
        close = getattr(self.batches, "close", None)
        if close is not None:
            close()  # the scan's file


class TextOptions(PluginSettings):
    """Options every line-oriented format has."""

    newlines_in_values: bool = False  # true: records may span lines, so files are never byte-split
    # pyarrow parse block. Arrow reads many blocks ahead and the C allocator keeps what they
    # freed, so a worker's memory follows this: 0.5 MiB peaks ~25 MiB lower than 1 MiB at the
    # same CPU time (docs/performance.md, Worker memory).
    block_size_mb: float = Field(0.5, gt=0)

    @property
    def block_size(self) -> int:
        return int(self.block_size_mb * 1024 * 1024)

    # the first bytes of a file the schema is inferred from (CSV: more while one record is longer)
    sample_mb: float = Field(1, gt=0)

    @property
    def sample_size(self) -> int:
        return int(self.sample_mb * 1024 * 1024)


class TextFileReader(DataReader):
    """Base of the CSV and JSON Lines readers.

    A partition spec is ``{"path", "start", "end", "first", "size", "compression", "source_schema"}``:
    bytes ``[start, end)`` of one file of ``size`` bytes (a whole file when compressed), a local
    path or an object-store URI, ``first`` when the
    range holds the file's beginning, and the sampled source schema (encoded), so every
    partition parses with the same types without sampling again.
    """

    config: TextOptions
    source_list = "files"

    def __init__(self, config: PluginSettings, context: SourceContext) -> None:
        super().__init__(config, context)
        self._schema: pa.Schema | None = None
        self._files = SourceFiles(context.storage)
        self._cursors: dict[int, _RowCursor] = {}  # per partition: where describe_position stopped

    # --- format hooks ---------------------------------------------------------------

    @abstractmethod
    def _infer_schema(self, path: str) -> pa.Schema:
        """The schema of the first parse block of ``path``."""

    def _splittable(self) -> bool:
        """Whether a byte 0x0A always ends a line, so a range may start right after one."""
        return True

    def _is_blank(self, line: bytes) -> bool:
        """A line the parser skips, so it holds no row."""
        return not line.strip()

    def _preamble(self, lines: Iterator[bytes]) -> list[bytes]:
        """Consume and return the lines before the first data row (headers, skipped rows)."""
        return []

    # --- DataReader -----------------------------------------------------------------

    @cached_property
    def _matched(self) -> list[StoredFile]:
        return resolve_files(self.context)

    @cached_property
    def _found(self) -> list[StoredFile]:
        """The files this run reads: the matched ones, less those loaded before in new_files mode."""
        return not_loaded(self.context, self._matched)

    @property
    def _paths(self) -> list[str]:
        return [f.uri for f in self._found]

    def plan_summary(self) -> str:
        return matched_summary(self.context, self._matched, self._found)

    def planned_files(self) -> list[StoredFile] | None:
        return list(self._found) if new_files_mode(self.context) else None

    def schema(self) -> pa.Schema:
        if self._schema is None:
            # Sample the first non-empty file: an empty one has nothing to infer from (with no
            # new file to load, the schema is still the source's).
            sample = next((f.uri for f in self._found or self._matched if f.size > 0), None)
            if sample is None:
                raise SourceError(f"every file matched by source.files is empty: {self._paths}")
            try:
                self._schema = self._infer_schema(sample)
            except pa.ArrowInvalid as exc:
                raise SourceError(f"{sample}: cannot infer the schema from its first block: {exc}") from exc
        return self._schema

    def plan(self) -> list[Partition]:
        if not self._found:  # new_files mode with nothing new: no file to infer a schema from either
            return []
        source_schema = encode_schema(self.schema())
        partitions: list[Partition] = []
        for found in self._found:
            path, size = found.uri, found.size
            compression = compression_of(path)
            name = path.rsplit("/", 1)[-1]
            for start, end in self._ranges(path, size, compression):
                spec = {
                    "path": path,
                    "start": start,
                    # a whole file is read to its end, so a retry after the input was fixed sees all of it
                    "end": None if (start, end) == (0, size) else end,
                    "first": start == 0,
                    "size": size,  # a range holds records only in the file as planned
                    "compression": compression,
                    "source_schema": source_schema,
                }
                label = name if (start, end) == (0, size) else f"{name}[{start}:{end}]"
                partitions.append(Partition(index=len(partitions), spec=spec, estimated_bytes=end - start, label=label))
        return partitions

    def _ranges(self, path: str, size: int, compression: str | None) -> list[tuple[int, int]]:
        """Byte ranges of about ``target_partition_bytes``, each starting on a record start."""
        target = self.context.target_partition_bytes
        if compression or size <= target or not self._may_split():
            return [(0, size)]
        with self._files.open(path) as file:
            # The header stays in the first range: other ranges get the column names passed in.
            data_start = sum(len(line) for line in self._preamble(iter(file)))
            points = self._split_points(file, data_start, size, target)
        return list(pairwise(points))

    def _knows_lines(self) -> bool:
        """Whether ``_row_lines`` can tell the line each row starts on."""
        return not self.config.newlines_in_values

    def _may_split(self) -> bool:
        """Whether a file may be cut into byte ranges at all."""
        return not self.config.newlines_in_values and self._splittable()

    def _split_points(self, file: BinaryIO, data_start: int, size: int, target: int) -> list[int]:
        """``[0, p1, ..., size]``: cut points about ``target`` apart, each a record start. Here a
        line start: in a line-oriented format every line break ends a record."""
        points = [0]
        while (nominal := max(points[-1] + target, data_start + 1)) < size:
            boundary = next_line_start(file, nominal)
            if boundary >= size:
                break
            points.append(boundary)
        points.append(size)
        return points

    def describe_position(self, partition: Partition, row_in_partition: int) -> str:
        """File and line of a row. The engine asks for the rows of a partition in order, so one
        scan of the partition answers every question: it stops at the row asked for and the
        next question resumes there (asking for an earlier row starts over)."""
        spec = partition.spec
        path = spec["path"]
        if not self._knows_lines():
            # Records may span lines; only whole files are read, so the row is the record number.
            return f"{path}: record {row_in_partition + 1}"
        line = self._line_of(partition, row_in_partition)
        if line is None:
            return f"{path}: {super().describe_position(partition, row_in_partition)}"
        return f"{path}: line {line}"

    def _line_of(self, partition: Partition, row: int) -> int | None:
        """The file line (1-based) a row of the partition starts on; None past its last row."""
        cursor = self._cursors.get(partition.index)
        stale = cursor is not None and cursor.spec is not partition.spec and cursor.spec != partition.spec
        if cursor is None or stale or row < cursor.first:
            if cursor is not None:
                cursor.close()
            cursor = self._cursors[partition.index] = _RowCursor(partition.spec, self._row_lines(partition.spec))
        while row >= cursor.first + len(cursor.lines):
            batch = next(cursor.batches, None)
            if batch is None:
                return None
            cursor.first += len(cursor.lines)
            cursor.lines = batch
        return cursor.lines[row - cursor.first]

    def _row_lines(self, spec: dict[str, Any]) -> Iterator[list[int]]:
        """The first line (1-based) of each row of a partition, in batches: one scan of its bytes."""
        line_number = 0 if spec["first"] else self._files.count_newlines(spec["path"], spec["start"])
        with io.BufferedReader(self._files.open_slice(spec)) as stream:
            lines = iter(stream)
            if spec["first"]:
                line_number += len(self._preamble(lines))
            batch: list[int] = []
            for line in lines:
                line_number += 1
                if not self._is_blank(line):
                    batch.append(line_number)
                    if len(batch) == _ROWS_PER_BATCH:
                        yield batch
                        batch = []
            if batch:
                yield batch

    def close(self) -> None:
        for cursor in self._cursors.values():
            cursor.close()
        self._cursors.clear()
        super().close()

    @staticmethod
    def _where(spec: dict[str, Any]) -> str:
        """The file and range of a partition, for error messages."""
        if spec["first"] and spec["end"] is None:
            return spec["path"]
        return f"{spec['path']} [bytes {spec['start']}:{spec['end']}]"
