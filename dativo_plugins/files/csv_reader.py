"""CSV (and any delimited text) reader on pyarrow's streaming CSV parser."""

from __future__ import annotations

import codecs
import contextlib
import io
import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from pydantic import Field, field_validator

from dativo_plugins.files._common import (
    SourceFiles,
    check_columns,
    decode_schema,
    whole_file_spec,
)
from dativo_plugins.files._csv_records import (
    CHUNK,
    Dialect,
    RecordLexer,
    RecordScanner,
    plain_range,
    record_lines,
    split_points,
)
from dativo_plugins.files._text import TextFileReader, TextOptions
from dativo_workers.errors import SourceError
from dativo_workers.plugins import Partition, RejectedRecords, SourceContext

# pyarrow infers numbers from text that is not one: "08123" (a zip code) becomes 8123, and
# integers beyond int64 become float64 (digits dropped). Such columns are inferred as text.
_INTEGER_LITERAL = r"^[+-]?[0-9]+$"
_LEADING_ZERO = r"^[+-]?0[0-9]"


class CsvOptions(TextOptions):
    """``source.options`` of a CSV job."""

    delimiter: str = ","
    quote_char: str | None = '"'  # None: quotes are ordinary characters
    escape_char: str | None = None
    header: bool = True
    column_names: list[str] | None = Field(None, min_length=1)  # replaces the header when there is one
    encoding: str = "utf-8"
    null_values: list[str] = Field(default_factory=lambda: [""])
    skip_rows: int = Field(0, ge=0)  # lines skipped before the header
    # Line breaks inside quoted values are always read right: a range holding a quote or escape
    # byte is parsed quote-aware, and files are cut only at record starts.
    newlines_in_values: bool | None = Field(
        None,
        description="line breaks inside quoted values are detected; true parses every range quote-aware "
        "without looking first; false is accepted for older jobs and changes nothing",
    )

    @field_validator("delimiter", "quote_char", "escape_char")
    @classmethod
    def _single_character(cls, value: str | None) -> str | None:
        if value is not None and len(value) != 1:
            raise ValueError("must be exactly one character")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        return value


def _csv_type(target: pa.DataType) -> pa.DataType:
    """The type to ask the CSV converter for: text for the types it cannot build, which
    the engine casts afterwards (nested, half floats, decimals other than 128-bit, views...)."""
    t = pa.types
    native = (
        t.is_boolean(target)
        or t.is_integer(target)
        or t.is_float32(target)
        or t.is_float64(target)
        or t.is_decimal128(target)
        or t.is_string(target)
        or t.is_large_string(target)
        or t.is_binary(target)
        or t.is_large_binary(target)
        or t.is_fixed_size_binary(target)
        or t.is_date(target)
        or t.is_time(target)
        or t.is_timestamp(target)
        or t.is_duration(target)
    )
    return target if native else pa.string()


class CsvReader(TextFileReader):
    """Delimited text files, optionally gzip/bz2/zstd compressed; large files are split at record starts."""

    name = "csv"
    config_model = CsvOptions
    description = "CSV / delimited text files (local paths, object-store URIs, globs; gzip/bz2/zstd)"
    config: CsvOptions

    def __init__(self, config: CsvOptions, context: SourceContext) -> None:
        super().__init__(config, context)
        self._ragged: dict[int, _RaggedRecords] = {}  # per partition: the ragged records of its last read

    # --- parser options -------------------------------------------------------------

    def _read_options(self, first: bool, names: list[str] | None, block_size: int | None = None) -> pacsv.ReadOptions:
        options = self.config
        block_size = block_size or options.block_size
        if not first:
            # A later range starts on a data line: no rows to skip, names from the header.
            return pacsv.ReadOptions(column_names=names, encoding=options.encoding, block_size=block_size)
        return pacsv.ReadOptions(
            skip_rows=self._raw_skip(),
            column_names=options.column_names,
            autogenerate_column_names=not options.header and not options.column_names,
            encoding=options.encoding,
            block_size=block_size,
        )

    def _parse_options(self, newlines: bool, invalid_row: _InvalidRowHandler) -> pacsv.ParseOptions:
        options = self.config
        return pacsv.ParseOptions(
            delimiter=options.delimiter,
            quote_char=options.quote_char or False,
            escape_char=options.escape_char or False,
            # pyarrow cuts its parse blocks at raw line breaks unless told values may hold them
            newlines_in_values=newlines,
            # a record with more or fewer fields than the header: called only for those
            invalid_row_handler=invalid_row,
        )

    def _convert_options(self, types: dict[str, pa.DataType]) -> pacsv.ConvertOptions:
        # Unquoted empty field -> NULL, quoted "" -> empty string.
        return pacsv.ConvertOptions(
            column_types=types,
            null_values=self.config.null_values,
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        )

    def _raw_skip(self) -> int:
        """Lines pyarrow skips before the names: skip_rows, plus a header being replaced."""
        return self.config.skip_rows + (1 if self.config.header and self.config.column_names else 0)

    # --- TextFileReader hooks -------------------------------------------------------

    def _splittable(self) -> bool:
        # UTF-16/32 spell a newline with more than the byte 0x0A: such files stay whole.
        return "\n".encode(self.config.encoding) == b"\n"

    def _quoting(self) -> bool:
        """Whether a line break can be part of a value at all (inside quotes, or escaped)."""
        return self.config.quote_char is not None or self.config.escape_char is not None

    def _dialect(self) -> Dialect | None:
        options = self.config
        return Dialect.of(options.delimiter, options.quote_char, options.escape_char, options.encoding)

    def _may_split(self) -> bool:
        return self._splittable() and (not self._quoting() or self._dialect() is not None)

    def _knows_lines(self) -> bool:
        return True

    def _split_points(self, file: BinaryIO, data_start: int, size: int, target: int) -> list[int]:
        dialect = self._dialect()
        if dialect is None or data_start >= size:
            return super()._split_points(file, data_start, size, target)  # no quoting: lines are records
        if plain_range(file, dialect, data_start, size):
            return super()._split_points(file, data_start, size, target)
        # Quotes somewhere: cut only where the quotes before prove a record starts.
        return split_points(file, dialect, data_start, size, target)

    def _newlines_possible(self, spec: dict[str, Any]) -> bool:
        """Whether a value of this range may hold a line break: then pyarrow must parse it
        quote-aware (a little slower). A range without any quote or escape byte cannot."""
        if not self._quoting():
            return False
        dialect = self._dialect()
        if self.config.newlines_in_values or dialect is None or spec["compression"] or self._files.remote(spec["path"]):
            return True  # checking would decompress a stream, or fetch an object's range, twice
        size = spec["size"] if spec.get("size") is not None else self._files.size(spec["path"])
        end = size if spec["end"] is None else spec["end"]
        if end <= spec["start"]:
            return False
        with self._files.open(spec["path"]) as file:
            # a quoted header ("id","name") holds no line break the parser could misread
            start = sum(len(line) for line in self._preamble(iter(file))) if spec["first"] else spec["start"]
            return not plain_range(file, dialect, start, end)

    def _is_blank(self, line: bytes) -> bool:
        return not line.rstrip(b"\r\n")

    def _preamble(self, lines: Iterator[bytes]) -> list[bytes]:
        # Mirrors pyarrow: skipped rows count blank lines, blank lines before a header don't.
        consumed = list(itertools.islice(lines, self._raw_skip()))
        if self.config.header and not self.config.column_names:
            for line in lines:
                consumed.append(line)
                if not self._is_blank(line):
                    break
        return consumed

    def _infer_schema(self, path: str) -> pa.Schema:
        size = self.config.sample_size
        while True:
            sample, complete = self._sample(path, size)
            try:
                # the whole sample as one parse block: inference sees all of it
                with self._open(pa.BufferReader(sample), True, None, {}, True, block_size=sample.size + 1) as reader:
                    inferred = reader.schema
                break
            except pa.ArrowInvalid:
                if complete:
                    raise
                size *= 4  # one record is longer than the sample: take more
        numbers = [f.name for f in inferred if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)]
        replaced = self._text_columns(sample, numbers, inferred) if numbers else {}
        return pa.schema(
            # An all-empty sample column gives no type: text holds whatever comes later.
            pa.field(f.name, replaced.get(f.name, pa.string() if pa.types.is_null(f.type) else f.type))
            for f in inferred
        )

    def _sample(self, path: str, size: int) -> tuple[pa.Buffer, bool]:
        """About the first ``size`` bytes of a file, cut after its last whole record (a line
        break inside a quoted value is not the end of one), and whether that is all of it."""
        dialect = self._dialect()
        if not self._quoting() or dialect is None:
            return self._files.read_sample(path, size)
        with io.BufferedReader(self._files.open_slice(whole_file_spec(path))) as stream:
            data = stream.read(size + 1)
        if len(data) <= size:
            return pa.py_buffer(data), True
        with io.BytesIO(data) as lines:
            data_start = sum(len(line) for line in self._preamble(lines))
        scanner = RecordScanner(dialect, offset=data_start)
        scanner.feed(data[data_start:size])
        cut = scanner.record_start
        if scanner.irregular is not None:  # follow the rest exactly
            lexer = RecordLexer(dialect)
            position = scanner.record_start
            for line in io.BytesIO(data[position:size]):
                position += len(line)
                if lexer.feed(line):
                    cut = position
        if cut <= data_start:
            return self._sample(path, size * 4)  # not one whole record yet
        return pa.py_buffer(data[:cut]), False

    def _text_columns(self, sample: pa.Buffer, names: list[str], inferred: pa.Schema) -> dict[str, pa.DataType]:
        """String for the number-inferred columns whose sample text a number would change: a
        leading zero, or (inferred as float) an integer too long for int64."""
        as_text = dict.fromkeys(names, pa.string())
        with self._open(pa.BufferReader(sample), True, None, as_text, True, block_size=sample.size + 1) as reader:
            try:
                batch = reader.read_next_batch()  # the same first block inference saw
            except StopIteration:
                return {}
        types: dict[str, pa.DataType] = {}
        for name in names:
            column = batch.column(name)
            leading_zero = pc.any(pc.match_substring_regex(column, _LEADING_ZERO)).as_py()
            too_long = (
                pa.types.is_floating(inferred.field(name).type)
                and pc.all(pc.match_substring_regex(column, _INTEGER_LITERAL)).as_py()
            )
            if leading_zero or too_long:
                types[name] = pa.string()
        return types

    # --- reading --------------------------------------------------------------------

    def read(self, partition: Partition, schema: pa.Schema | None) -> Iterator[pa.RecordBatch | RejectedRecords]:
        source = decode_schema(partition.spec["source_schema"])
        types = {field.name: field.type for field in source}
        if schema is not None:
            # Target types for the file's columns; extra file columns keep the sampled type.
            types.update((f.name, _csv_type(f.type)) for f in schema if f.name in types)
        yield from self._read(partition, types)

    def read_untyped(self, partition: Partition, schema: pa.Schema) -> Iterator[pa.RecordBatch | RejectedRecords]:
        source = decode_schema(partition.spec["source_schema"])
        try:
            yield from self._read(partition, dict.fromkeys(source.names, pa.string()))
        except pa.ArrowInvalid as exc:
            # Nothing is converted here, so this is a malformed file, not a bad value.
            raise SourceError(f"{self._where(partition.spec)}: {exc}") from exc

    def _read(self, partition: Partition, types: dict[str, pa.DataType]) -> Iterator[pa.RecordBatch | RejectedRecords]:
        """Batches of one partition, and its ragged records (more or fewer fields than the
        header) before the batch they were skipped from; ``types`` names every source column."""
        spec = partition.spec
        if self._files.is_empty(spec):
            return  # an empty file: not even a header to parse
        expected = list(types)
        names = None if spec["first"] else self._later_range_names(spec["path"], expected)
        newlines = self._newlines_possible(spec)
        ragged = self._ragged[partition.index] = _RaggedRecords(self, spec, newlines)
        try:
            with (
                self._files.open_slice(spec) as source,
                self._open(source, spec["first"], names, types, newlines, ragged.count) as reader,
            ):
                check_columns(spec["path"], reader.schema.names, expected)
                ragged.names = reader.schema.names
                for batch in reader:
                    # the rows describe_position is asked about next lie past these
                    if (rejected := ragged.take()) is not None:
                        yield rejected
                    yield batch
            if (rejected := ragged.take()) is not None:
                yield rejected
        finally:
            ragged.close()

    def _open(
        self,
        source: object,
        first: bool,
        names: list[str] | None,
        types: dict[str, pa.DataType],
        newlines: bool,
        invalid_row: _InvalidRowHandler | None = None,
        block_size: int | None = None,
    ) -> pacsv.CSVStreamingReader:
        """A streaming parse; ragged records go to ``invalid_row``, by default skipped (sampling)."""
        return pacsv.open_csv(
            source,
            read_options=self._read_options(first, names, block_size),
            parse_options=self._parse_options(newlines, invalid_row or _skip_record),
            convert_options=self._convert_options(types),
        )

    def _later_range_names(self, path: str, expected: list[str]) -> list[str]:
        """Column names for a range past the header: this file's own header when it has one."""
        options = self.config
        if options.column_names:
            return options.column_names
        if not options.header:
            return expected  # autogenerated f0, f1...: same for every file
        with self._files.open(path) as file:
            header_end = sum(len(line) for line in self._preamble(iter(file)))
        spec = {"path": path, "start": 0, "end": header_end, "compression": None}
        with self._files.open_slice(spec) as source, self._open(source, True, None, {}, newlines=True) as reader:
            return reader.schema.names

    # --- positions ------------------------------------------------------------------

    def describe_position(self, partition: Partition, row_in_partition: int) -> str:
        ragged = self._ragged.get(partition.index)
        if ragged is not None:  # rows are counted without the ragged records, lines with them
            row_in_partition = ragged.record_of(row_in_partition)
        return super().describe_position(partition, row_in_partition)

    def close(self) -> None:
        self._ragged.clear()
        super().close()

    def _row_lines(self, spec: dict[str, Any]) -> Iterator[list[int]]:
        dialect = self._dialect()
        if not self._quoting() or dialect is None:
            yield from super()._row_lines(spec)  # every line is a record (or bytes cannot be followed)
            return
        lines = 0 if spec["first"] else self._files.count_newlines(spec["path"], spec["start"])
        skipped = 0
        with io.BufferedReader(self._files.open_slice(spec), CHUNK) as stream:
            if spec["first"]:
                preamble = self._preamble(iter(stream))
                lines += len(preamble)
                skipped = sum(len(line) for line in preamble)

            def reopen(offset: int) -> BinaryIO:
                return _skip(self._files, spec, skipped + offset)

            yield from record_lines(stream, dialect, lines, reopen)


_InvalidRowHandler = Callable[[pacsv.InvalidRow], str]


def _skip_record(row: pacsv.InvalidRow) -> str:
    return "skip"


class _RaggedRecords:
    """The records of one partition's read that pyarrow skipped for having more or fewer fields
    than the header, found again with their text and line.

    The read's parse runs on Arrow's threads, where a record's place is not known, so its
    handler only counts. When there is one to hand out, a second parse of the partition starts,
    single-threaded and converting one column as bytes: there pyarrow numbers each record it
    skips, and the partition's record lines (quoted line breaks counted) turn that number into
    the line. A file without ragged records never starts it.
    """

    def __init__(self, reader: CsvReader, spec: dict[str, Any], newlines: bool) -> None:
        self.reader, self.spec, self.newlines = reader, spec, newlines
        self.names: list[str] = []  # the read's column names
        self.numbers: list[int] = []  # of the records handed out: 1-based among the partition's records
        self._counted = 0
        self._lock = threading.Lock()  # the handler runs on several Arrow threads
        self._found: deque[pacsv.InvalidRow] = deque()  # numbered by the second parse, not yet handed out
        self._numbering: pacsv.CSVStreamingReader | None = None
        self._files = contextlib.ExitStack()
        self._lines: Iterator[list[int]] | None = None  # the partition's record lines, in batches
        self._batch: tuple[int, list[int]] = (0, [])  # the current one: (its first record, lines)
        self._seen = (0, 0)  # record_of's last question: (row, ragged records before it)

    def count(self, row: pacsv.InvalidRow) -> str:
        with self._lock:
            self._counted += 1
        return "skip"

    def take(self) -> RejectedRecords | None:
        """The ragged records counted so far and not handed out yet, in file order."""
        with self._lock:
            wanted = self._counted - len(self.numbers)
        if wanted <= 0:
            return None
        numbering = self._numbering_parse()  # opening it parses the first block already
        while len(self._found) < wanted:
            try:
                numbering.read_next_batch()
            except StopIteration:
                raise SourceError(
                    f"{self.reader._where(self.spec)}: {wanted} records with a wrong number of fields "
                    "were skipped but could not be found again"
                ) from None
        text, reasons, positions = [], [], []
        for _ in range(wanted):
            row = self._found.popleft()
            self.numbers.append(row.number)
            text.append(row.text)
            reasons.append(f"expected {row.expected_columns} fields, found {row.actual_columns}")
            positions.append(self._position(row.number))
        return RejectedRecords(text, reasons, positions)

    def record_of(self, row: int) -> int:
        """The record (0-based, ragged ones counted) that row ``row`` of the read comes from."""
        asked, before = self._seen
        if row < asked:
            before = 0
        while before < len(self.numbers) and self.numbers[before] <= row + 1 + before:
            before += 1
        self._seen = (row, before)
        return row + before

    def _position(self, number: int) -> str:
        """File and line of the ``number``-th record (1-based); numbers come in increasing order."""
        if self._lines is None:
            self._lines = self._files.enter_context(contextlib.closing(self.reader._row_lines(self.spec)))
        first, lines = self._batch
        while number > first + len(lines):
            batch = next(self._lines, None)
            if batch is None:
                return f"{self.reader._where(self.spec)}: record {number}"
            first, lines = first + len(lines), batch
        self._batch = (first, lines)
        return f"{self.spec['path']}: line {lines[number - 1 - first]}"

    def _numbering_parse(self) -> pacsv.CSVStreamingReader:
        if self._numbering is None:
            skipped = 0
            if self.spec["first"]:  # from the first record on, as the record lines count
                with io.BufferedReader(self.reader._files.open_slice(self.spec), CHUNK) as stream:
                    skipped = sum(len(line) for line in self.reader._preamble(iter(stream)))
            options = self.reader.config
            self._numbering = self._files.enter_context(
                pacsv.open_csv(
                    self._files.enter_context(_skip(self.reader._files, self.spec, skipped)),
                    read_options=pacsv.ReadOptions(
                        column_names=self.names,
                        encoding=options.encoding,
                        block_size=options.block_size,
                        use_threads=False,  # pyarrow numbers the records it skips only then
                    ),
                    parse_options=self.reader._parse_options(self.newlines, self._numbered),
                    convert_options=pacsv.ConvertOptions(
                        include_columns=self.names[:1], column_types={self.names[0]: pa.binary()}
                    ),
                )
            )
        return self._numbering

    def _numbered(self, row: pacsv.InvalidRow) -> str:
        self._found.append(row)
        return "skip"

    def close(self) -> None:
        """Release the files; what was handed out stays, for describe_position."""
        self._files.close()
        self._numbering = None


def _skip(files: SourceFiles, spec: dict[str, Any], count: int) -> BinaryIO:
    """A partition's bytes from its ``count``-th byte on."""
    if spec["compression"]:
        stream = io.BufferedReader(files.open_slice(spec), CHUNK)
        while count > 0 and (got := len(stream.read(min(count, CHUNK)))):
            count -= got
        return stream
    end = spec["end"]
    return io.BufferedReader(files.open_slice({**spec, "start": spec["start"] + count, "end": end}), CHUNK)
