"""Plumbing shared by the file readers: finding files, opening them (local paths or object-store
URIs through the engine's storage), compression, byte slices, schemas in specs."""

from __future__ import annotations

import base64
import glob
import io
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc

from dativo_workers.errors import SourceError, TransientError
from dativo_workers.plugins import SourceContext
from dativo_workers.storage import StoredFile, filesystem, list_files, scheme_of

# Suffix -> pyarrow codec name. Compressed streams cannot be entered at a byte offset,
# so a compressed file is always read as one partition.
COMPRESSION_BY_SUFFIX = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}

_GLOB_MAGIC = re.compile(r"[*?[]")
_SCAN_CHUNK = 1024 * 1024
# Object-store reads: one ranged request per this many bytes at least (line-at-a-time readers
# would otherwise ask for a few KiB each).
_REMOTE_BUFFER = 256 * 1024
_REMOTE_LINES_BUFFER = 64 * 1024  # for reading a header: a few short lines


class SourceChanged(TransientError):
    """A file changed while a partition read it: the read is not one version of it, so the
    partition fails and its retry reads the file again."""


def resolve_files(context: SourceContext) -> list[StoredFile]:
    """Every file matched by ``source.files`` with its size, sorted by path and deduplicated.

    Local paths and globs resolve against the job's directory; object-store URIs are listed
    (one paginated listing per pattern, no object read). A pattern that matches nothing is an
    error, except in new_files mode for a job that has loaded files before: those may have been
    moved away since (archived), so the run has nothing new rather than a mistake."""
    if not context.files:
        raise SourceError("source.files is empty: the file readers need at least one {path: ...} entry")
    found: dict[str, StoredFile] = {}
    for entry in context.files:
        pattern = entry.get("path")
        if not isinstance(pattern, str) or not pattern:
            raise SourceError(f"source.files entry {entry!r} has no 'path'")
        scheme = scheme_of(pattern)
        if scheme and scheme != "file":
            matches = list_files(pattern, context.storage)
            if not matches and not _loaded_before(context):
                raise SourceError(f"no object matches {pattern!r}")
            found.update((m.uri, m) for m in matches)
            continue
        full = Path(pattern.removeprefix("file://")).expanduser()
        if not full.is_absolute():
            full = context.base_dir / full
        paths = [m for m in glob.glob(str(full), recursive=True) if os.path.isfile(m)]
        if not paths and not _loaded_before(context):
            raise SourceError(f"no file matches {pattern!r} (looked in {_search_root(full)})")
        for path in map(os.path.abspath, paths):
            stat = os.stat(path)
            found[path] = StoredFile(path, stat.st_size, stat.st_mtime_ns)
    return sorted(found.values(), key=lambda f: f.uri)


def new_files_mode(context: SourceContext) -> bool:
    """`source.incremental: {mode: new_files}`: plan only files no earlier committed run loaded."""
    return bool(context.incremental) and context.incremental.get("mode") == "new_files"  # type: ignore[union-attr]


def _loaded_before(context: SourceContext) -> bool:
    """new_files mode, and an earlier committed run of the job loaded files (its state says so)."""
    return new_files_mode(context) and context.loaded is not None and len(context.loaded) > 0


def not_loaded(context: SourceContext, matched: list[StoredFile]) -> list[StoredFile]:
    """The matched files an earlier committed run did not load (all of them outside new_files mode)."""
    if not new_files_mode(context) or context.loaded is None or not len(context.loaded):
        return matched
    loaded = pc.is_in(pa.array([f.uri for f in matched], pa.string()), value_set=context.loaded).to_pylist()
    return [f for f, seen in zip(matched, loaded, strict=True) if not seen]


def matched_summary(context: SourceContext, matched: list[StoredFile], found: list[StoredFile]) -> str:
    if not new_files_mode(context) or context.loaded is None:  # `dativo check` does not read the state
        return f"{len(matched)} file(s) matched"
    return f"{len(matched)} file(s) matched, {len(found)} not loaded yet"


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

    def __init__(
        self, source: BinaryIO | pa.NativeFile, limit: int | None, at_end: Callable[[], None] | None = None
    ) -> None:
        super().__init__()
        self._source = source
        self._remaining = limit
        self._at_end = at_end  # called once, when the slice has been read to its end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        wanted = len(view)
        if self._remaining is not None:
            view = view[: self._remaining]
        try:
            count = (self._source.readinto(view) or 0) if len(view) else 0
        except OSError:
            self._finished()  # a read past the end of an object that shrank: say so
            raise
        if self._remaining is not None:
            self._remaining -= count
        if count == 0 and wanted:
            self._finished()  # the end of the file or of the slice
        return count

    def read(self, size: int | None = -1) -> bytes:
        """At most ``size`` bytes, as one read of the source returns them. pyarrow's readers (JSON
        lines) call ``read`` for each block: io.RawIOBase's would allocate a zeroed bytearray,
        ``readinto`` it and copy it into bytes (parsing the 923 MB JSON lines file of
        scripts/bench.py: 3.67 -> 3.58 CPU s, median of 3 interleaved)."""
        if size is None or size < 0:
            return self.readall()
        wanted = size
        if self._remaining is not None:
            size = min(size, self._remaining)
        try:
            data = (self._source.read(size) or b"") if size else b""
        except OSError:
            self._finished()  # a read past the end of an object that shrank: say so
            raise
        if self._remaining is not None:
            self._remaining -= len(data)
        if not data and wanted:
            self._finished()  # the end of the file or of the slice
        return bytes(data) if not isinstance(data, bytes) else data

    def _finished(self) -> None:
        at_end, self._at_end = self._at_end, None
        if at_end is not None:
            at_end()

    def close(self) -> None:
        if not self.closed:
            self._source.close()
        super().close()


class _NativeRaw(io.RawIOBase):
    """A pyarrow file (an object store's ranged reader) as a raw Python stream."""

    def __init__(self, file: pa.NativeFile) -> None:
        super().__init__()
        self._file = file

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._file.readinto(buffer)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


class SourceFiles:
    """Opens a job's files: local paths with the OS, object-store URIs through the engine's
    storage API (``source.storage`` settings) as ranged reads, so a partition reads its own
    bytes and never the whole object. Resolved settings stay in this object, never in a spec."""

    def __init__(self, storage: Mapping[str, Any] | None = None) -> None:
        self._storage = dict(storage or {})

    def _native(self, path: str) -> pa.NativeFile:
        fs, inner = filesystem(path, self._storage)
        try:
            return fs.open_input_file(inner)
        except FileNotFoundError:
            raise SourceError(f"{path}: no such object (deleted since the run was planned?)") from None
        except OSError as exc:
            raise SourceError(f"{path}: cannot open: {exc}") from None

    def open(self, path: str) -> BinaryIO:
        """A seekable binary file (buffered)."""
        if not scheme_of(path):
            return open(path, "rb")
        return io.BufferedReader(_NativeRaw(self._native(path)), _REMOTE_LINES_BUFFER)

    @staticmethod
    def remote(path: str) -> bool:
        """Whether ``path`` is an object-store URI (each read a request) rather than a local file."""
        return bool(scheme_of(path)) and scheme_of(path) != "file"

    def open_arrow(self, path: str) -> pa.NativeFile | str:
        """What pyarrow readers (Parquet) take: a path, or an object store's ranged reader."""
        return self._native(path) if scheme_of(path) else path

    def size(self, path: str) -> int:
        if not scheme_of(path):
            return os.path.getsize(path)
        with self._native(path) as file:
            return file.size()

    def open_slice(self, spec: dict[str, Any]) -> RawSlice:
        """The bytes of a partition: ``[start, end)`` of a plain file, or a whole compressed one.

        A byte range belongs to the file as planned (``size``): a file of another size fails
        the partition. Any read checks, at its end, that the file kept the size it had when it
        was opened; otherwise the partition fails with ``SourceChanged`` and is read again."""
        path = spec["path"]
        remote = bool(scheme_of(path))
        raw: BinaryIO | pa.NativeFile
        if remote:
            raw = self._native(path)
            size = raw.size()
        elif spec["compression"]:
            raw = pa.OSFile(path, "r")
            size = raw.size()
        else:
            raw = open(path, "rb", buffering=0)  # noqa: SIM115 - owned and closed by RawSlice
            size = os.fstat(raw.fileno()).st_size
        planned = spec.get("size")
        if spec["end"] is not None and planned is not None and size != planned:
            raw.close()
            raise SourceError(
                f"{path}: changed size since the run was planned ({planned} bytes then, {size} now): its "
                "byte ranges no longer start on records; run the job again to plan the file as it is now"
            )

        def unchanged() -> None:
            now = self.size(path)
            if now != size:
                raise SourceChanged(f"{path}: changed while being read ({size} bytes when opened, {now} now)")

        if spec["compression"]:
            return RawSlice(pa.CompressedInputStream(raw, spec["compression"]), None, unchanged)
        raw.seek(spec["start"])
        limit = None if spec["end"] is None else spec["end"] - spec["start"]
        if remote:  # never buffer past the slice: those bytes would be fetched for nothing
            raw = pa.BufferedInputStream(raw, max(1, min(_REMOTE_BUFFER, limit if limit is not None else size)))  # type: ignore[arg-type]
        return RawSlice(raw, limit, unchanged)

    def read_sample(self, path: str, size: int) -> tuple[pa.Buffer, bool]:
        """About the first ``size`` bytes of a file (decompressed) for schema inference, cut after
        the last whole line; and whether that is the complete file.

        Inference must not open a streaming reader on the whole file: Arrow reads many blocks
        ahead in the background, so "the first block" would cost most of the file in memory.
        """
        with io.BufferedReader(self.open_slice(whole_file_spec(path))) as stream:
            data = stream.read(size + 1)
        if len(data) <= size:
            return pa.py_buffer(data), True
        cut = data.rfind(b"\n", 0, size) + 1
        return pa.py_buffer(data[: cut or size]), False

    def is_empty(self, spec: dict[str, Any]) -> bool:
        """No bytes to read: an empty file (``end`` None means "to the end of the file")."""
        if spec["end"] is not None:
            return spec["end"] - spec["start"] == 0
        return (spec.get("size") if spec.get("size") is not None else self.size(spec["path"])) - spec["start"] == 0

    def count_newlines(self, path: str, end: int) -> int:
        """Number of line breaks in the first ``end`` bytes of a file."""
        count = 0
        with self.open(path) as file:
            remaining = end
            while remaining > 0 and (chunk := file.read(min(_SCAN_CHUNK, remaining))):
                count += chunk.count(b"\n")
                remaining -= len(chunk)
        return count


def whole_file_spec(path: str) -> dict[str, Any]:
    """The spec fields that make ``open_slice`` read a complete file."""
    return {"path": path, "start": 0, "end": None, "compression": compression_of(path)}


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
