"""Plumbing shared by the file readers: finding files, compression, byte slices, schemas in specs."""

from __future__ import annotations

import base64
import glob
import io
import os
import re
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa

from dativo_workers.errors import SourceError
from dativo_workers.plugins import SourceContext

# Suffix -> pyarrow codec name. Compressed streams cannot be entered at a byte offset,
# so a compressed file is always read as one partition.
COMPRESSION_BY_SUFFIX = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}

_GLOB_MAGIC = re.compile(r"[*?[]")
_SCAN_CHUNK = 1024 * 1024


def resolve_files(context: SourceContext) -> list[str]:
    """Absolute paths of every file matched by ``source.files``, sorted and deduplicated."""
    if not context.files:
        raise SourceError("source.files is empty: the file readers need at least one {path: ...} entry")
    found: set[str] = set()
    for entry in context.files:
        pattern = entry.get("path")
        if not isinstance(pattern, str) or not pattern:
            raise SourceError(f"source.files entry {entry!r} has no 'path'")
        full = Path(pattern).expanduser()
        if not full.is_absolute():
            full = context.base_dir / full
        matches = [m for m in glob.glob(str(full), recursive=True) if os.path.isfile(m)]
        if not matches:
            raise SourceError(f"no file matches {pattern!r} (looked in {_search_root(full)})")
        found.update(os.path.abspath(m) for m in matches)
    return sorted(found)


def _search_root(pattern: Path) -> Path:
    """The directory a pattern starts searching from: its parts before the first wildcard."""
    root = Path(pattern.anchor)
    for part in pattern.parts[1:-1]:
        if _GLOB_MAGIC.search(part):
            break
        root /= part
    return root


def compression_of(path: str) -> str | None:
    return COMPRESSION_BY_SUFFIX.get(Path(path).suffix.lower())


class RawSlice(io.RawIOBase):
    """At most ``limit`` bytes of ``source`` as a raw stream.

    readinto-based, so pyarrow pulls it in blocks of its own size and only the requested
    byte range of the file is ever read.
    """

    def __init__(self, source: BinaryIO | pa.NativeFile, limit: int | None) -> None:
        super().__init__()
        self._source = source
        self._remaining = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._remaining is not None:
            view = view[: self._remaining]
        count = self._source.readinto(view) or 0
        if self._remaining is not None:
            self._remaining -= count
        return count

    def close(self) -> None:
        if not self.closed:
            self._source.close()
        super().close()


def open_slice(spec: dict[str, Any]) -> RawSlice:
    """The bytes of a partition: ``[start, end)`` of a plain file, or a whole compressed one."""
    if spec["compression"]:
        return RawSlice(pa.input_stream(spec["path"], compression=spec["compression"]), None)
    raw = open(spec["path"], "rb", buffering=0)  # noqa: SIM115 - owned and closed by RawSlice
    raw.seek(spec["start"])
    return RawSlice(raw, None if spec["end"] is None else spec["end"] - spec["start"])


def whole_file_spec(path: str) -> dict[str, Any]:
    """The spec fields that make ``open_slice`` read a complete file."""
    return {"path": path, "start": 0, "end": None, "compression": compression_of(path)}


def read_sample(path: str, size: int) -> tuple[pa.Buffer, bool]:
    """About the first ``size`` bytes of a file (decompressed) for schema inference, cut after
    the last whole line; and whether that is the complete file.

    Inference must not open a streaming reader on the whole file: Arrow reads many blocks
    ahead in the background, so "the first block" would cost most of the file in memory.
    """
    with io.BufferedReader(open_slice(whole_file_spec(path))) as stream:
        data = stream.read(size + 1)
    if len(data) <= size:
        return pa.py_buffer(data), True
    cut = data.rfind(b"\n", 0, size) + 1
    return pa.py_buffer(data[: cut or size]), False


def is_empty(spec: dict[str, Any]) -> bool:
    """No bytes to read: an empty file (``end`` None means "to the end of the file")."""
    end = os.path.getsize(spec["path"]) if spec["end"] is None else spec["end"]
    return end - spec["start"] == 0


def next_line_start(file: BinaryIO, offset: int) -> int:
    """The first line start at or after ``offset`` (the file size when there is none)."""
    position = offset - 1
    file.seek(position)
    while chunk := file.read(_SCAN_CHUNK):
        newline = chunk.find(b"\n")
        if newline >= 0:
            return position + newline + 1
        position += len(chunk)
    return position


def count_newlines(path: str, end: int) -> int:
    """Number of line breaks in the first ``end`` bytes of a file."""
    count = 0
    with open(path, "rb") as file:
        remaining = end
        while remaining > 0 and (chunk := file.read(min(_SCAN_CHUNK, remaining))):
            count += chunk.count(b"\n")
            remaining -= len(chunk)
    return count


def check_columns(path: str, found: list[str], expected: list[str]) -> None:
    """Every file of a job must have the sampled file's columns (in any order)."""
    if set(found) != set(expected):
        missing = [name for name in expected if name not in found]
        unexpected = [name for name in found if name not in expected]
        raise SourceError(
            f"{path}: columns differ from the source schema sampled from the first file "
            f"(missing {missing}, unexpected {unexpected})"
        )


def encode_schema(schema: pa.Schema) -> str:
    """An Arrow schema as text, so partition specs stay JSON while carrying exact types."""
    return base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


def decode_schema(text: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))
