"""Where CSV records end, read the way pyarrow's parser reads them: a line break inside a quoted
value (or after an escape character) does not end a record.

Two ways to follow a file, both starting at a known record start:

- ``RecordScanner``: vectorised with Arrow compute, hundreds of MB/s. It is exact while the
  quoting is *regular*: every quote that opens a value stands at a field start (after a
  delimiter, a line break, or the quote it doubles), and no escape character occurs. Then
  "inside a quoted value" is the parity of the quotes since the record start, which is all the
  scanner tracks. At the first byte that breaks this (a stray quote such as ``5" screw``, an
  escape character) it stops and says where (``irregular``); what it reported before is exact.
- ``RecordLexer``: the parser's state machine, a line at a time in Python. Exact for any input,
  slower on lines with quotes; used past an irregular byte and on small samples.

``split_points`` (the planner) follows the same parity, but examines chunks on threads: what a
chunk's quotes mean for either state at its start does not depend on the chunks before it, so
only the chaining is sequential.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import re
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc

LF = 0x0A
CR = 0x0D
CHUNK = 1024 * 1024  # bytes per vectorised step: small arrays stay in the CPU cache
_PLAIN_SCAN = 4 * 1024 * 1024
_NOT_SINGLE_BYTE = {"utf_7", "hz"}  # stateful codecs that spell characters with ASCII bytes


@dataclass(frozen=True)
class Dialect:
    """The bytes that decide where a CSV record ends."""

    delimiter: int
    quote: int | None
    escape: int | None

    @classmethod
    def of(cls, delimiter: str, quote: str | None, escape: str | None, encoding: str) -> Dialect | None:
        """The dialect as bytes of the file; None when the encoding may hide these bytes inside
        other characters (multi-byte encodings other than UTF-8), so no byte can be trusted."""
        if not _byte_transparent(encoding):
            return None
        spelled = [None if c is None else c.encode(encoding) for c in (delimiter, quote, escape)]
        if any(b is not None and len(b) != 1 for b in spelled):
            return None  # e.g. a non-ASCII delimiter in UTF-8
        d, q, e = (None if b is None else b[0] for b in spelled)
        assert d is not None
        return cls(d, q, e)

    @property
    def specials(self) -> tuple[bytes, ...]:
        """The bytes that can make a line break part of a value."""
        return _specials(self.quote, self.escape)

    def plain(self, data: bytes | memoryview, start: int = 0, end: int | None = None) -> bool:
        """No quote or escape byte in ``data[start:end]``: every line break there ends a record."""
        end = len(data) if end is None else end
        return all(data.find(s, start, end) < 0 for s in self.specials)  # type: ignore[union-attr]


@cache
def _specials(quote: int | None, escape: int | None) -> tuple[bytes, ...]:
    return tuple(bytes([b]) for b in (quote, escape) if b is not None)


@cache
def _byte_transparent(encoding: str) -> bool:
    """Every ASCII byte of a file in this encoding is that ASCII character: UTF-8 and the
    single-byte codecs. (Shift-JIS, GBK, Big5 reuse bytes such as 0x5C or 0x7C inside characters;
    UTF-16 spells a line break with two bytes.)"""
    name = codecs.lookup(encoding).name.replace("-", "_")
    if name in ("utf_8", "utf_8_sig"):
        return True
    if name in _NOT_SINGLE_BYTE or name.startswith("iso2022"):
        return False
    try:
        decoded = bytes(range(256)).decode(encoding, errors="replace")
    except (LookupError, UnicodeError):
        return False
    return len(decoded) == 256 and all(decoded[b] == chr(b) for b in range(0x20, 0x7F))


@cache
def _arange(n: int) -> pa.Array:
    """0 .. n-1 as uint32: filtering it with a mask gives the positions of the mask's hits."""
    ones = pc.cast(pc.is_null(pa.nulls(n)), pa.uint32())
    return pc.subtract(pc.cumulative_sum(ones), pa.scalar(1, pa.uint32()))


def _every_other(count: int, first: int) -> pa.Array:
    """Indices ``first, first + 2, ...`` below ``count``: the opening quotes among a chunk's quotes
    (the n-th quote since a record start opens a value when n is even)."""
    return _strided(CHUNK, first).slice(0, max(0, (count - first + 1) // 2))


@cache
def _strided(size: int, first: int) -> pa.Array:
    return pc.add(pc.multiply(_arange(size // 2 + 1), pa.scalar(2, pa.uint32())), pa.scalar(first, pa.uint32()))


@cache
def _field_start_table(dialect: Dialect) -> pa.Array:
    """By byte value: whether a quote after that byte stands at a field start."""
    return pa.array([b in (dialect.delimiter, LF, CR, dialect.quote) for b in range(256)], pa.bool_())


_EMPTY = pa.array([], pa.int64())
_EMPTY_U32 = pa.array([], pa.uint32())
_U8 = {b: pa.scalar(b, pa.uint8()) for b in range(256)}


class RecordScanner:
    """Follows CSV bytes chunk by chunk from a record start (see the module docstring for when
    it stops), and reports the line breaks that end records."""

    def __init__(self, dialect: Dialect, offset: int = 0, lines: int = 0) -> None:
        self.dialect = dialect
        self.offset = offset  # absolute offset of the next byte to feed
        self.lines = lines  # line breaks before ``offset`` (kept by ``feed`` only)
        self.inside = 0  # 1 within a quoted value
        self.prev = LF  # the byte before ``offset`` (a record start follows a line break)
        self.irregular: int | None = None  # absolute offset of the first byte the scan cannot follow
        # the last record start ``feed`` found (just past a record-ending line break), and the line breaks before it
        self.record_start = offset
        self.record_lines = lines

    def feed(self, chunk: bytes) -> tuple[pa.Array, pa.Array]:
        """``(ends, lines)`` for the line breaks in ``chunk`` that end a record: the absolute
        offset of each (int64) and the number of line breaks before it in the file (its 0-based
        line). Nothing at or after an irregular byte is reported, and later feeds report nothing."""
        ends: list[pa.Array] = []
        lines: list[pa.Array] = []
        for start in range(0, len(chunk), CHUNK):
            if self.irregular is not None:
                break
            e, n = self._feed(chunk[start : start + CHUNK])
            ends.append(e)
            lines.append(n)
        if not ends:
            return _EMPTY, _EMPTY
        if len(ends) == 1:
            return ends[0], lines[0]
        return pa.concat_arrays(ends), pa.concat_arrays(lines)

    def _prepare(self, chunk: bytes) -> tuple[pa.Array, int]:
        """The chunk as uint8 with the byte before it in front (``data[i]`` is the byte before
        ``chunk[i]``), cut at an escape byte: an escape can hide a line break anywhere."""
        cut = len(chunk)
        if self.dialect.escape is not None and (found := chunk.find(bytes([self.dialect.escape]))) >= 0:
            cut = found
        with_prev = bytes([self.prev]) + chunk[:cut]
        return pa.Array.from_buffers(pa.uint8(), cut + 1, [None, pa.py_buffer(with_prev)]), cut

    def _moved(self, chunk: bytes, cut: int, bad: int | None) -> None:
        if cut < len(chunk) and bad is None:
            bad = cut  # the escape byte
        if bad is not None:
            self.irregular = self.offset + bad
        if cut:
            self.prev = chunk[cut - 1]
        self.offset += cut

    def _feed(self, chunk: bytes) -> tuple[pa.Array, pa.Array]:
        d = self.dialect
        data, cut = self._prepare(chunk)
        body = data.slice(1)
        positions = _arange(CHUNK).slice(0, cut)
        is_lf = pc.equal(body, _U8[LF])
        bad: int | None = None
        if d.quote is None or chunk.find(bytes([d.quote]), 0, cut) < 0:
            breaks = pc.filter(positions, is_lf)
            line_no = pc.add(pc.cast(_arange(CHUNK).slice(0, len(breaks)), pa.int64()), self.lines)
            ends = _EMPTY if self.inside else pc.cast(breaks, pa.int64())
            lines = _EMPTY if self.inside else line_no
            n_breaks = len(breaks)
        else:
            special = pc.filter(positions, pc.or_(is_lf, pc.equal(body, _U8[d.quote])))
            is_quote = pc.equal(pc.take(body, special), _U8[d.quote])
            # quotes up to and including each special byte; uint8 wraps, and only the parity counts
            quotes = pc.cumulative_sum(pc.cast(is_quote, pa.uint8()))
            inside = pc.bit_wise_xor(pc.bit_wise_and(quotes, _U8[1]), _U8[self.inside])
            bad = _first_misplaced(d, data, pc.filter(special, pc.and_(is_quote, pc.equal(inside, _U8[1]))))
            is_break = pc.invert(is_quote)
            line_no = pc.add(pc.cumulative_sum(pc.cast(is_break, pa.int64())), self.lines - 1)
            ending = pc.and_(is_break, pc.equal(inside, _U8[0]))
            if bad is not None:
                ending = pc.and_(ending, pc.less(special, pa.scalar(bad, pa.uint32())))
                cut = bad
            ends = pc.cast(pc.filter(special, ending), pa.int64())
            lines = pc.filter(line_no, ending)
            if bad is None and len(inside):
                self.inside = inside[-1].as_py()
            n_breaks = pc.sum(pc.and_(is_break, pc.less(special, pa.scalar(cut, pa.uint32())))).as_py() or 0
        if len(ends):
            ends = pc.add(ends, self.offset)
            self.record_start = ends[-1].as_py() + 1
            self.record_lines = lines[-1].as_py() + 1
        self._moved(chunk, cut, bad)
        self.lines += n_breaks
        return ends, lines


@dataclass(frozen=True)
class _ChunkQuotes:
    """The quotes of one chunk, and what they mean for either state at the chunk's start: all
    a chunk's facts that do not depend on the chunks before it, so chunks are examined in
    parallel and chained in order afterwards."""

    positions: pa.Array  # the chunk's quote bytes (uint32, relative), before ``limit``
    limit: int  # the chunk's length, or the offset of an escape byte, where following stops
    misplaced: tuple[int | None, int | None]  # first misplaced opening quote if the chunk starts outside / inside

    def ends_record(self, position: int, inside: int) -> bool:
        """Whether a line break at ``position`` (relative) ends a record, given the state at the chunk's start."""
        before = pc.sum(pc.less(self.positions, pa.scalar(position, pa.uint32()))).as_py() or 0
        return not (inside ^ (before & 1))

    def next_quote(self, position: int) -> int | None:
        """The first quote at or after ``position``, if any before ``limit``."""
        later = pc.filter(self.positions, pc.greater_equal(self.positions, pa.scalar(position, pa.uint32())))
        return later[0].as_py() if len(later) else None


def _chunk_quotes(dialect: Dialect, chunk: bytes, before: int) -> _ChunkQuotes:
    """``_ChunkQuotes`` of a chunk whose preceding byte is ``before``. Runs on planner threads:
    Arrow releases the GIL in its kernels."""
    cut = len(chunk)
    if dialect.escape is not None and (found := chunk.find(bytes([dialect.escape]))) >= 0:
        cut = found
    if dialect.quote is None or chunk.find(bytes([dialect.quote]), 0, cut) < 0:
        return _ChunkQuotes(_EMPTY_U32, cut, (None, None))
    data = pa.Array.from_buffers(pa.uint8(), cut + 1, [None, pa.py_buffer(bytes([before]) + chunk[:cut])])
    quotes = pc.filter(_arange(CHUNK).slice(0, cut), pc.equal(data.slice(1), _U8[dialect.quote]))
    # the n-th quote since a record start opens a value when n is even
    outside, inside = (_first_misplaced(dialect, data, pc.take(quotes, _every_other(len(quotes), s))) for s in (0, 1))
    return _ChunkQuotes(quotes, cut, (outside, inside))


def _first_misplaced(dialect: Dialect, data: pa.Array, opening: pa.Array) -> int | None:
    """The first of these opening quotes (positions in a chunk) that does not stand at a field
    start, if any. ``data`` is the chunk with the byte before it in front: ``data[i]`` is the
    byte before ``chunk[i]``."""
    if not len(opening):
        return None
    at_field_start = pc.take(_field_start_table(dialect), pc.take(data, opening))
    if pc.all(at_field_start).as_py():
        return None
    return opening[pc.index(at_field_start, False).as_py()].as_py()


def plain_range(file: BinaryIO, dialect: Dialect, start: int, end: int) -> bool:
    """No quote or escape byte in bytes ``[start, end)`` of ``file``. Read a buffer at a time:
    memory stays flat (a ``mmap`` would count the whole range in the process's RSS)."""
    if not dialect.specials:
        return True
    buffer = bytearray(_PLAIN_SCAN)
    view = memoryview(buffer)
    file.seek(start)
    remaining = end - start
    while remaining > 0 and (count := file.readinto(view[: min(len(buffer), remaining)])):
        if not dialect.plain(buffer, 0, count):
            return False
        remaining -= count
    return True


def _now(function: Callable[..., _ChunkQuotes], *args: Any) -> Future[_ChunkQuotes]:
    """``submit`` without threads: for files too small to be worth them."""
    done: Future[_ChunkQuotes] = Future()
    done.set_result(function(*args))
    return done


def split_points(
    file: BinaryIO, dialect: Dialect, data_start: int, size: int, target: int, threads: int | None = None
) -> list[int]:
    """Byte offsets, about ``target`` apart, where a CSV can be cut into independently parsed
    ranges: ``[0, p1, p2, ..., size]``, each ``p`` a record start. ``file`` holds the CSV's
    bytes; ``data_start`` is the first record start (after the header and skipped lines).

    Every point is proven: the quotes between ``data_start`` and it were followed one by one
    and the line break before it lies outside any quoted value. Past an irregular byte
    nothing is proven, so the rest of the file stays in the last range; past the last point
    nothing needs proving, so the scan stops there.
    """
    points = [0]
    wanted = max(target, data_start + 1)  # the next point should be at or after this
    threads = threads or min(8, os.cpu_count() or 1)
    ahead: deque[tuple[int, bytes, Future[_ChunkQuotes]]] = deque()
    offset, before = data_start, LF
    inside = 0
    with contextlib.ExitStack() as stack:
        submit = _now
        if threads > 1 and size - data_start > 8 * CHUNK:
            submit = stack.enter_context(ThreadPoolExecutor(threads, thread_name_prefix="dativo-csv-plan")).submit
        file.seek(data_start)
        while wanted < size:
            while len(ahead) < 2 * threads and offset < size:
                chunk = file.read(min(CHUNK, size - offset))
                if not chunk:
                    break
                ahead.append((offset, chunk, submit(_chunk_quotes, dialect, chunk, before)))
                offset, before = offset + len(chunk), chunk[-1]
            if not ahead:
                break
            base, chunk, pending = ahead.popleft()
            seen = pending.result()
            bad = seen.misplaced[inside]
            limit = seen.limit if bad is None else bad
            search = max(wanted - 1 - base, 0)  # a point is just past a line break
            while search < limit:
                newline = chunk.find(b"\n", search, limit)
                if newline < 0:
                    break
                if seen.ends_record(newline, inside):
                    points.append(base + newline + 1)
                    wanted = points[-1] + target
                    search = max(wanted - 1 - base, newline + 1)
                    continue
                closing = seen.next_quote(newline)  # inside a quoted value: look past the quote that may close it
                if closing is None:
                    break
                search = closing + 1
            if limit < len(chunk):
                break  # irregular: nothing further is proven
            inside ^= len(seen.positions) & 1
        for _, _, pending in ahead:
            pending.cancel()
    if points[-1] >= size:
        points.pop()
    points.append(size)
    return points


class RecordLexer:
    """pyarrow's CSV state machine, one line at a time: ``feed(line)`` says whether the line
    ends a record. Lines without quote or escape bytes take a fast path."""

    _FIELD_START, _UNQUOTED, _QUOTED = 0, 1, 2

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.state = self._FIELD_START
        special = [re.escape(s) for s in dialect.specials]
        self._in_quotes = re.compile(b"[" + b"".join(special) + b"]") if special else None
        stops = [*special, re.escape(bytes([dialect.delimiter])), b"\r", b"\n"]
        if dialect.quote is not None:
            stops.remove(re.escape(bytes([dialect.quote])))  # a quote inside an unquoted value is a character
        self._in_field = re.compile(b"[" + b"".join(stops) + b"]")

    def feed(self, line: bytes) -> bool:
        """Advance over one line (ending with a line break, or the data's last bytes)."""
        d = self.dialect
        if d.plain(line):
            if self.state != self._QUOTED:
                self.state = self._FIELD_START
            return self.state == self._FIELD_START
        i, n = 0, len(line)
        while i < n:
            if self.state == self._QUOTED:
                assert self._in_quotes is not None
                found = self._in_quotes.search(line, i)
                if found is None:
                    return False
                i = found.start()
                if line[i] == d.escape:
                    i += 2
                elif i + 1 < n and line[i + 1] == d.quote:
                    i += 2  # a doubled quote is a quote character
                else:
                    self.state = self._UNQUOTED
                    i += 1
                continue
            if self.state == self._FIELD_START and line[i] == d.quote:
                self.state = self._QUOTED
                i += 1
                continue
            found = self._in_field.search(line, i)
            if found is None:
                self.state = self._UNQUOTED
                return False
            i = found.start()
            c = line[i]
            if c == d.escape:
                self.state = self._UNQUOTED
                i += 2
            else:  # a delimiter, or a line break (CR alone ends a line for pyarrow too)
                self.state = self._FIELD_START
                i += 1
        return self.state == self._FIELD_START and line.endswith(b"\n")


def record_lines(
    stream: BinaryIO, dialect: Dialect, lines: int, reopen: Callable[[int], BinaryIO], batch_rows: int = 65536
) -> Iterator[list[int]]:
    """The first line (1-based) of every record of ``stream`` that is not a blank line, in
    batches: the rows pyarrow makes of it, in order. ``stream`` begins at a record start with
    ``lines`` line breaks before it in the file; ``reopen(n)`` gives the same stream from its
    byte ``n`` again (the exact lexer takes over there after an irregular byte)."""
    scanner = RecordScanner(dialect, offset=0, lines=lines)
    last_end, last_line = -1, lines - 1  # a virtual record end just before the stream
    trailing = False  # bytes after the last record end that are not blank: a last record without a line break
    while scanner.irregular is None and (chunk := stream.read(CHUNK)):
        start, before = scanner.offset, scanner.prev
        ends, end_lines = scanner.feed(chunk)
        if len(ends):
            previous = pa.concat_arrays([pa.array([last_end], pa.int64()), ends.slice(0, len(ends) - 1)])
            previous_line = pa.concat_arrays([pa.array([last_line], pa.int64()), end_lines.slice(0, len(ends) - 1)])
            # a record that is only a line break (or CR LF) is a blank line, which pyarrow skips
            shifted = pa.Array.from_buffers(pa.uint8(), len(chunk) + 1, [None, pa.py_buffer(bytes([before]) + chunk)])
            byte_before = pc.take(shifted, pc.subtract(ends, start))  # shifted[i] is the byte before chunk[i]
            gap = pc.subtract(ends, previous)
            blank = pc.or_(pc.equal(gap, 1), pc.and_(pc.equal(gap, 2), pc.equal(byte_before, _U8[CR])))
            rows = pc.filter(pc.add(previous_line, 2), pc.invert(blank)).to_pylist()
            for at in range(0, len(rows), batch_rows):
                yield rows[at : at + batch_rows]
            last_end, last_line = ends[-1].as_py(), end_lines[-1].as_py()
            trailing = bool(chunk[last_end - start + 1 :].strip(b"\r\n"))
        else:
            trailing = trailing or bool(chunk.strip(b"\r\n"))
    if scanner.irregular is None:
        if trailing:
            yield [last_line + 2]
        return
    # Past an irregular byte: the exact lexer, a line at a time, from the last record start.
    lexer = RecordLexer(dialect)
    line_number = scanner.record_lines
    batch: list[int] = []
    first_line: int | None = None  # of the record being read
    with reopen(scanner.record_start) as rest:
        for line in rest:
            line_number += 1
            if first_line is None:
                if not line.rstrip(b"\r\n"):
                    continue  # a blank line between records
                first_line = line_number
            if lexer.feed(line):
                batch.append(first_line)
                first_line = None
                if len(batch) >= batch_rows:
                    yield batch
                    batch = []
    if first_line is not None:
        batch.append(first_line)
    if batch:
        yield batch
