"""JSON Lines reader on pyarrow's streaming JSON parser."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from dativo_plugins.files._common import decode_schema
from dativo_plugins.files._text import TextFileReader, TextOptions
from dativo_workers.errors import SourceError
from dativo_workers.plugins import Partition

_UNTYPED_CHUNK = 10_000  # records per batch of the slow, pure-Python re-read
_WIDE_INTEGER = pa.decimal128(38, 0)
_DECIMAL_LIMIT = 10**38


class JsonlOptions(TextOptions):
    """``source.options`` of a JSON Lines job (true newlines_in_values: pretty-printed objects)."""


def _json_type(target: pa.DataType) -> pa.DataType | None:
    """The type to ask the JSON parser for, or None when it cannot produce the target type."""
    t = pa.types
    if t.is_date(target) or t.is_time(target) or t.is_timestamp(target):
        # JSON spells these as strings. The parser takes dates and times only as numbers, and
        # its timestamps differ from CSV's (an offset into a zone-less column is shifted and
        # dropped; a zone-less value in a zoned column is taken as UTC): read the text and let
        # the engine cast it, by the same rules as CSV, bad values becoming bad rows.
        return pa.string()
    if (
        t.is_boolean(target)
        or t.is_integer(target)
        or (t.is_floating(target) and not t.is_float16(target))
        or t.is_decimal(target)
        or t.is_string(target)
        or t.is_large_string(target)
        or t.is_binary(target)
        or t.is_large_binary(target)
    ):
        return target
    if t.is_list(target):
        item = _json_type(target.value_type)
        return None if item is None else pa.list_(item)
    if t.is_struct(target):
        fields = [target.field(i) for i in range(target.num_fields)]
        children = [_json_type(field.type) for field in fields]
        if any(child is None for child in children):
            return None
        return pa.struct([pa.field(f.name, child) for f, child in zip(fields, children, strict=True)])
    return None


def _json_text(value: Any) -> str | None:
    """A parsed JSON value as text: strings as they are, anything else as its JSON spelling."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)  # Decimal keeps the number's digits as written
    return json.dumps(value, ensure_ascii=False, default=float)


def _shaped(value: Any, target: pa.DataType) -> Any:
    """A parsed JSON value ready for ``pa.array``: numbers read as Decimal (to keep their
    digits) become floats where the target wants floats."""
    t = pa.types
    if isinstance(value, Decimal) and t.is_floating(target):
        return float(value)
    if isinstance(value, list) and (t.is_list(target) or t.is_large_list(target)):
        return [_shaped(v, target.value_type) for v in value]
    if isinstance(value, dict) and t.is_struct(target):
        members = {target.field(i).name: target.field(i).type for i in range(target.num_fields)}
        return {k: _shaped(v, members[k]) for k, v in value.items() if k in members}
    return value


def _nested_column(
    chunk: list[tuple[int, Any]], name: str, target: pa.DataType, where: Callable[[int], str]
) -> pa.Array:
    """A list/struct column of the untyped re-read, built from the parsed values (JSON text
    cannot be cast to a nested type). Its leaves are parsed like the typed read's; a value
    that does not fit stops the partition, naming its line."""
    parsed = _json_type(target) or target
    values = [_shaped(record.get(name), parsed) for _, record in chunk]
    try:
        return pa.array(values, parsed)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass
    for (line, _), value in zip(chunk, values, strict=True):
        try:
            pa.array([value], parsed)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            shown = _json_text(value) or ""
            shown = shown if len(shown) <= 80 else shown[:80] + "..."
            raise SourceError(f"{where(line)}: column {name!r}: {shown} does not fit {target} ({exc})") from exc
    raise SourceError(f"column {name!r}: values do not fit {target}")  # only the chunk as a whole failed


class JsonlReader(TextFileReader):
    """One JSON object per line (or pretty-printed objects), optionally compressed."""

    name = "jsonl"
    schema_sampled = True  # the first block's fields: a later record may bring the asset's others
    config_model = JsonlOptions
    description = "JSON Lines files (local paths, object-store URIs, globs; gzip/bz2/zstd)"
    config: JsonlOptions

    def _read_options(self) -> pajson.ReadOptions:
        return pajson.ReadOptions(block_size=self.config.block_size)

    def _infer_schema(self, path: str) -> pa.Schema:
        sample, _ = self._files.read_sample(path, self.config.sample_size)
        whole = pajson.ReadOptions(block_size=sample.size + 1)  # one parse block: inference sees all of it
        with pajson.open_json(pa.BufferReader(sample), read_options=whole) as reader:
            inferred = reader.schema
        floats = [field.name for field in inferred if pa.types.is_float64(field.type)]
        wide = self._wide_integer_fields(sample, floats) if floats else set()
        stamps = [f.name for f in inferred if pa.types.is_timestamp(f.type) and f.type.tz is None]
        zoned = self._zoned_timestamp_fields(sample, inferred, stamps) if stamps else set()

        def fixed(field: pa.Field) -> pa.DataType:
            if field.name in wide:
                return _WIDE_INTEGER
            if field.name in zoned:  # as CSV infers them: values with Z or an offset are instants
                return pa.timestamp(field.type.unit, tz="UTC")
            # An all-null sample field gives no type: text is the least surprising guess.
            return pa.string() if pa.types.is_null(field.type) else field.type

        return pa.schema(pa.field(field.name, fixed(field)) for field in inferred)

    def _zoned_timestamp_fields(self, sample: pa.Buffer, inferred: pa.Schema, names: list[str]) -> set[str]:
        """Timestamp fields whose sample values carry a zone (`Z`, `+02:00`): pyarrow's JSON
        inference drops it (timestamp[s]), and the zone-less column would refuse every value."""
        text = pa.schema([pa.field(n, pa.string()) for n in names])
        options = pajson.ParseOptions(explicit_schema=text, unexpected_field_behavior="ignore")
        with pajson.open_json(pa.BufferReader(sample), read_options=self._read_options(), parse_options=options) as r:
            table = r.read_all()
        zone = r"(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)$"
        return {n for n in names if pc.any(pc.match_substring_regex(table.column(n), zone)).as_py()}

    def _wide_integer_fields(self, sample: pa.Buffer, names: list[str]) -> set[str]:
        """Float-inferred fields whose sample values are all integers of at most 38 digits.

        pyarrow infers float64 for integers beyond int64 and loses digits; Python's json
        keeps them exact, so the sample is parsed again here.
        """
        block = sample.to_pybytes()
        seen: dict[str, list[Any]] = {name: [] for name in names}
        try:
            for _, record in self._records(io.BytesIO(block), lambda line: f"sample line {line}"):
                if isinstance(record, dict):
                    for name in names:
                        if record.get(name) is not None:
                            seen[name].append(record[name])
        except SourceError:
            pass  # a pretty-printed block can end inside an object; what came before is the sample
        return {
            name
            for name, values in seen.items()
            if values and all(type(v) is int and abs(v) < _DECIMAL_LIMIT for v in values)
        }

    def _explicit_schema(self, spec: dict[str, Any], schema: pa.Schema | None) -> pa.Schema:
        """What the parser produces: the target's fields, then the sampled fields it lacks.

        Fields in neither are ignored: pyarrow's streaming parser cannot add a column after
        its first block, and every partition must yield the same columns.
        """
        source = decode_schema(spec["source_schema"])
        if schema is None:
            return source
        fields = []
        for field in schema:
            parsed = _json_type(field.type)
            if parsed is None and field.name in source.names:
                parsed = source.field(field.name).type  # the engine casts it
            if parsed is not None:
                fields.append(pa.field(field.name, parsed))
        targeted = set(schema.names)
        fields.extend(field for field in source if field.name not in targeted)
        return pa.schema(fields)

    def read(self, partition: Partition, schema: pa.Schema | None) -> Iterator[pa.RecordBatch]:
        spec = partition.spec
        if self._files.is_empty(spec):
            return
        parse_options = pajson.ParseOptions(
            explicit_schema=self._explicit_schema(spec, schema),
            newlines_in_values=self.config.newlines_in_values,
            unexpected_field_behavior="ignore",
        )
        with (
            self._files.open_slice(spec) as source,
            pajson.open_json(source, read_options=self._read_options(), parse_options=parse_options) as reader,
        ):
            yield from reader

    def read_untyped(self, partition: Partition, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        spec = partition.spec
        if self._files.is_empty(spec):
            return
        names = self._explicit_schema(spec, schema).names
        nested = {f.name: f.type for f in schema if pa.types.is_nested(f.type)}

        def where(line: int) -> str:
            before = 0 if spec["first"] else self._files.count_newlines(spec["path"], spec["start"])
            return f"{spec['path']}: line {before + line}"

        with io.BufferedReader(self._files.open_slice(spec)) as stream:
            records = self._records(stream, where)
            while chunk := list(itertools.islice(records, _UNTYPED_CHUNK)):
                for line, record in chunk:
                    if not isinstance(record, dict):
                        raise SourceError(f"{where(line)}: expected a JSON object, got {_json_text(record)}")
                columns = {
                    name: _nested_column(chunk, name, nested[name], where)
                    if name in nested
                    else pa.array([_json_text(record.get(name)) for _, record in chunk], pa.string())
                    for name in names
                }
                yield pa.record_batch(columns)

    def _records(self, stream: BinaryIO, where: Callable[[int], str]) -> Iterator[tuple[int, Any]]:
        """Each JSON value of ``stream`` with the line (1-based, in the stream) it starts on.

        With newlines_in_values a value may span lines: lines are gathered until they
        parse, and a parse error before the end of the gathered text is a real error.
        """
        pending: list[bytes] = []
        first_line = 0
        for number, line in enumerate(stream, 1):
            if not pending:
                if not line.strip():
                    continue
                first_line = number
            pending.append(line)
            try:
                text = b"".join(pending).decode("utf-8")
                value = json.loads(text, parse_float=Decimal)
            except UnicodeDecodeError as exc:
                raise SourceError(f"{where(first_line)}: not UTF-8: {exc}") from exc
            except json.JSONDecodeError as exc:
                if self.config.newlines_in_values and exc.pos >= len(text.rstrip()):
                    continue  # an object still open: read on
                raise SourceError(f"{where(first_line)}: invalid JSON: {exc}") from exc
            pending.clear()
            yield first_line, value
        if pending:
            raise SourceError(f"{where(first_line)}: JSON value not closed at the end of the data")
