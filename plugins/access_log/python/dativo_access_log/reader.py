"""Two readers of web server access logs (Common and Combined Log Format, mixed freely):

- ``access_log``: the Rust parser (the ``_native`` extension), handing its Arrow columns to the
  engine through the Arrow C stream interface without a copy;
- ``access_log_py``: the pure-Python reference (one regular expression per line, then pyarrow),
  which gives the same table and serves as the specification the Rust one is tested against.

Both plan the same partitions: byte ranges of about ``partition_mb`` (default: the engine's target
partition size), each starting at the beginning of a line. A malformed line is handed to the
engine as a ``RejectedRecords`` entry and follows the job's ``bad_rows`` (quarantine, skip,
fail), named ``<file>: line N``. Each partition knows the number of its first line: planning a file
into several ranges counts its line breaks (one sequential read of the file, in Rust with memchr:
several GB/s from the page cache), and the spec carries ``first_line``. A file read as one
partition is not read at planning time.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import Field

from dativo_access_log._grammar import SCHEMA, parse_line
from dativo_workers.errors import SourceError
from dativo_workers.plugins import DataReader, Partition, PluginSettings, RejectedRecords, SourceContext

# Lines per Arrow C stream the Rust reader hands over: rejected lines are passed on after each one,
# so they wait in memory for at most this many lines.
_SEGMENT_LINES = 1 << 20
_SCAN_CHUNK = 1 << 20


class AccessLogSettings(PluginSettings):
    """``source.options`` of an access-log job."""

    batch_rows: int = Field(65536, ge=1, le=1 << 24, description="rows per Arrow batch")
    partition_mb: float | None = Field(
        None, gt=0, description="bytes per partition, in MiB (default: the engine's target partition size)"
    )


def _files(context: SourceContext) -> list[tuple[str, int]]:
    """Every file matched by ``source.files`` (local paths and globs, relative to the job), sorted."""
    if not context.files:
        raise SourceError("source.files is empty: the access-log readers need at least one {path: ...} entry")
    found: dict[str, int] = {}
    for entry in context.files:
        pattern = entry.get("path")
        if not isinstance(pattern, str) or not pattern:
            raise SourceError(f"source.files entry {entry!r} has no 'path'")
        if "://" in pattern and not pattern.startswith("file://"):
            raise SourceError(f"{pattern}: the access-log readers read local files only")
        full = Path(pattern.removeprefix("file://")).expanduser()
        if not full.is_absolute():
            full = context.base_dir / full
        paths = [p for p in glob.glob(str(full), recursive=True) if os.path.isfile(p)]
        if not paths:
            raise SourceError(f"no file matches {pattern!r}")
        for path in paths:
            if path.endswith((".gz", ".bz2", ".zst")):
                raise SourceError(f"{path}: compressed logs are not supported by the access-log readers")
            found[os.path.abspath(path)] = os.path.getsize(path)
    return sorted(found.items())


def _next_line_start(file: Any, offset: int) -> int:
    """The first line start at or after ``offset`` (the file size when there is none)."""
    position = offset - 1
    file.seek(position)
    while chunk := file.read(_SCAN_CHUNK):
        newline = chunk.find(b"\n")
        if newline >= 0:
            return position + newline + 1
        position += len(chunk)
    return position


def plan_ranges(path: str, size: int, target: int) -> list[tuple[int, int]]:
    """``[(start, end), ...]``: consecutive byte ranges covering the file, each of about ``target``
    bytes and each starting at a line start (a line belongs to the range it starts in)."""
    points = [0]
    with open(path, "rb") as file:
        while (nominal := points[-1] + target) < size:
            boundary = _next_line_start(file, nominal)
            if boundary >= size:
                break
            points.append(boundary)
    points.append(size)
    return list(pairwise(points))


class _AccessLogBase(DataReader):
    config_model = AccessLogSettings
    config: AccessLogSettings
    source_list = "files"

    def schema(self) -> pa.Schema:
        return SCHEMA

    def plan(self) -> list[Partition]:
        target = self.context.target_partition_bytes
        if self.config.partition_mb is not None:
            target = max(1, int(self.config.partition_mb * 1024 * 1024))
        partitions: list[Partition] = []
        for path, size in _files(self.context):
            name = os.path.basename(path)
            ranges = plan_ranges(path, size, target) if size else [(0, 0)]
            first_line = 1
            for start, end in ranges:
                whole = (start, end) == (0, size)
                spec = {
                    "path": path,
                    "start": start,
                    "end": None if whole else end,
                    "size": size,
                    "first_line": first_line,
                }
                if end < size:  # the next range's first line
                    first_line += count_newlines(path, start, end)
                label = name if whole else f"{name}[{start}:{end}]"
                partitions.append(Partition(len(partitions), spec, estimated_bytes=end - start, label=label))
        return partitions

    def plan_summary(self) -> str:
        return f"{len(_files(self.context))} file(s) matched"

    @staticmethod
    def _check_size(spec: dict[str, Any]) -> None:
        """A byte range belongs to the file as planned: a file of another size has moved its lines."""
        try:
            size = os.path.getsize(spec["path"])
        except OSError as exc:
            raise SourceError(f"{spec['path']}: {exc.strerror}") from None
        if spec["end"] is not None and size != spec["size"]:
            raise SourceError(
                f"{spec['path']}: changed size since the run was planned ({spec['size']} bytes then, {size} now): "
                "its byte ranges no longer start on lines; run the job again"
            )

    @staticmethod
    def _rejected(spec: dict[str, Any], found: list[tuple[int, int, str, str]]) -> RejectedRecords:
        """Rejected lines ``(index in the range, byte offset, text, reason)`` named ``file: line N``."""
        first = spec["first_line"]
        return RejectedRecords(
            text=[text for _, _, text, _ in found],
            reasons=[reason for _, _, _, reason in found],
            positions=[f"{spec['path']}: line {first + index}" for index, _, _, _ in found],
        )


def count_newlines(path: str, start: int, end: int) -> int:
    """Line breaks in bytes [start, end) of a file (the Rust scan; Python's without the extension)."""
    try:
        from dativo_access_log import _native
    except ImportError:  # the reference reader works without the extension
        count = 0
        with open(path, "rb") as file:
            file.seek(start)
            left = end - start
            while left > 0 and (chunk := file.read(min(_SCAN_CHUNK, left))):
                count += chunk.count(b"\n")
                left -= len(chunk)
        return count
    return int(_native.count_newlines(path, start, end))


def _native_module() -> Any:
    """The Rust extension, or a SourceError saying how to build it."""
    try:
        from dativo_access_log import _native
    except ImportError as exc:
        raise SourceError(
            f"the access_log reader's Rust extension is not built ({exc}): run scripts/build_access_log.sh, "
            "or use the pure-Python connector access_log_py"
        ) from None
    return _native


class AccessLogReader(_AccessLogBase):
    """The Rust parser: each partition's lines become Arrow batches in Rust, handed to the engine
    through ``__arrow_c_stream__`` (no copy, no Python object per value)."""

    name = "access_log"
    description = "Web server access logs, Common/Combined Log Format (Rust parser, Arrow C stream)"

    def plan(self) -> list[Partition]:
        _native_module()  # a missing extension fails the run before anything is planned
        return super().plan()

    def check(self) -> list[str]:
        try:
            _native_module()
        except SourceError as exc:
            return [str(exc)]
        return []

    def read(self, partition: Partition, schema: pa.Schema | None) -> Iterator[Any]:
        _native = _native_module()
        spec = partition.spec
        self._check_size(spec)
        scanner = _native.Scanner(spec["path"], spec["start"], spec["end"], self.config.batch_rows)
        while not scanner.finished:
            yield scanner.segment(_SEGMENT_LINES)  # the engine drains this stream before asking for more
            found = scanner.take_rejected()
            if found:
                yield self._rejected(spec, found)


class AccessLogPyReader(_AccessLogBase):
    """The reference: a regular expression per line, columns built as Python lists."""

    name = "access_log_py"
    description = "Web server access logs, Common/Combined Log Format (pure-Python reference reader)"

    def read(self, partition: Partition, schema: pa.Schema | None) -> Iterator[Any]:
        spec = partition.spec
        self._check_size(spec)
        batch_rows = self.config.batch_rows
        rows: list[tuple[Any, ...]] = []
        rejected: list[tuple[int, int, str, str]] = []
        offset = spec["start"]
        for index, line in enumerate(_lines(spec)):
            parsed = parse_line(line)
            if isinstance(parsed, tuple):
                rows.append(parsed)
                if len(rows) == batch_rows:
                    yield _batch(rows)
                    rows = []
                    if rejected:
                        yield self._rejected(spec, rejected)
                        rejected = []
            elif parsed is not None:
                text = line[:-1] if line.endswith(b"\r") else line
                rejected.append((index, offset, text.decode("utf-8", "replace"), parsed))
            offset += len(line) + 1
        if rows:
            yield _batch(rows)
        if rejected:
            yield self._rejected(spec, rejected)


def _lines(spec: dict[str, Any]) -> Iterator[bytes]:
    """The lines of a partition's byte range, without their line breaks, read a chunk at a time."""
    left = None if spec["end"] is None else spec["end"] - spec["start"]
    pending = b""
    with open(spec["path"], "rb") as file:
        file.seek(spec["start"])
        while left is None or left > 0:
            chunk = file.read(_SCAN_CHUNK if left is None else min(_SCAN_CHUNK, left))
            if not chunk:
                break
            if left is not None:
                left -= len(chunk)
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            yield from lines
    if pending:
        yield pending  # the last line has no line break


def _batch(rows: list[tuple[Any, ...]]) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True))
    arrays = [pa.array(values, field.type) for values, field in zip(columns, SCHEMA, strict=True)]
    return pa.record_batch(arrays, schema=SCHEMA)
