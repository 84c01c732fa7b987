"""Records of a JSON API as Arrow: the records selector (a dotted path with list indexes),
conversion against a table schema column by column, and schema inference from a sample."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from dativo_workers.plugins import ReaderConversionError

RAW_COLUMN = "raw_json"
TIMESTAMP = pa.timestamp("us", "UTC")
KINDS: dict[str, pa.DataType] = {
    "string": pa.string(),
    "json": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": TIMESTAMP,
    "date": pa.date32(),
}

_SEGMENT = re.compile(r"^([A-Za-z0-9_\-$@:]*)((?:\[-?\d+\])*)$")
_INDEX = re.compile(r"\[(-?\d+)\]")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$")

Step = str | int


def parse_path(path: str) -> list[Step]:
    """`data`, `meta.next_cursor`, `result.items[0].rows`, `[0]`; "" or `$`: the value itself.
    A ValueError says what is malformed."""
    text = path.strip()
    if text in ("", "$"):
        return []
    text = text.removeprefix("$.").removeprefix("$")
    steps: list[Step] = []
    for segment in text.split("."):
        match = _SEGMENT.match(segment)
        if not match or (not match.group(1) and not match.group(2)):
            raise ValueError(
                f"malformed path {path!r}: {segment!r} is not a key or key[index] "
                "(write a dotted path with list indexes, e.g. `data`, `result.items[0].rows`)"
            )
        if match.group(1):
            steps.append(match.group(1))
        steps.extend(int(i) for i in _INDEX.findall(match.group(2)))
    return steps


class Missing:
    """A path that leads nowhere (distinct from a JSON null)."""


MISSING = Missing()


def get_path(value: Any, steps: Sequence[Step]) -> Any:
    for step in steps:
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return MISSING
            value = value[step]
        else:
            if not isinstance(value, dict) or step not in value:
                return MISSING
            value = value[step]
    return value


def set_path(value: dict[str, Any], steps: Sequence[Step], new: Any) -> None:
    """Set ``new`` at ``steps`` in a JSON body, creating objects on the way."""
    target: Any = value
    for i, step in enumerate(steps[:-1]):
        following = steps[i + 1]
        if isinstance(step, int):
            target = target[step]
            continue
        if step not in target or target[step] is None:
            target[step] = [] if isinstance(following, int) else {}
        target = target[step]
    last = steps[-1]
    if isinstance(last, int):
        target[last] = new
    else:
        target[last] = new


def as_records(found: Any) -> list[dict[str, Any]] | None:
    """What the records path found as a list of records (a single object is one record; null none)."""
    if found is None:
        return []
    if isinstance(found, dict):
        return [found]
    if isinstance(found, list):
        return [item if isinstance(item, dict) else {"value": item} for item in found]
    return None


_DECIMAL_MARK = re.compile(r'"\\u0000\\u0001D:([-+0-9.eE]+)\\u0001\\u0000"')


def _number(value: Any) -> str:
    if isinstance(value, decimal.Decimal):
        return f"\x00\x01D:{value}\x01\x00"  # turned back into the bare number below
    raise TypeError(f"{type(value).__name__} is not JSON")


def loads(content: bytes | str) -> Any:
    """JSON as the API sent it: numbers with a fraction or exponent as Decimal (a double would
    round digits beyond its 15-17), integers as int."""
    return json.loads(content, parse_float=decimal.Decimal)


def json_text(value: Any) -> str:
    """Compact JSON, keys sorted (the same object always gives the same text), decimals exactly as sent."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_number)
    return _DECIMAL_MARK.sub(r"\1", text) if "\\u0001D:" in text else text


# -- conversion ------------------------------------------------------------------------------


def _to_string(values: list[Any]) -> list[Any]:
    return [v if v is None or isinstance(v, str) else json_text(v) for v in values]


def _plain_numbers(values: list[Any]) -> list[Any]:
    return [float(v) if isinstance(v, decimal.Decimal) else v for v in values]


def _seconds(value: Any, scale: int) -> Any:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a time")
    if isinstance(value, int):
        return value * scale
    if isinstance(value, float):
        return round(value * scale)
    return value


def column(name: str, values: list[Any], kind: pa.DataType) -> pa.Array:
    """One column of JSON values as ``kind``; a value that does not fit raises ReaderConversionError."""
    try:
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            return pa.array(_to_string(values), kind)
        if pa.types.is_timestamp(kind):
            values = _plain_numbers(values)
            if any(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                # unix seconds (or, for values above 1e11, milliseconds)
                micros = [
                    _seconds(v, 1000 if isinstance(v, int | float) and abs(v) > 1e11 else 1_000_000)
                    if not isinstance(v, str)
                    else v
                    for v in values
                ]
                if any(isinstance(v, str) for v in micros):
                    raise ValueError("a mix of unix times and text")
                return pa.array(micros, pa.int64()).cast(kind)
            return pa.array(_to_string(values), pa.string()).cast(kind)
        if pa.types.is_date(kind):
            return pa.array([dt.date.fromisoformat(v[:10]) if isinstance(v, str) else v for v in values], kind)
        if pa.types.is_decimal(kind):
            return pa.array([decimal.Decimal(str(v)) if v is not None else None for v in values], kind)
        if pa.types.is_integer(kind):
            if any(isinstance(v, bool) for v in values):
                raise TypeError("a boolean in an integer column")
            if any(isinstance(v, decimal.Decimal) and v != v.to_integral_value() for v in values):
                raise ValueError("a fraction in an integer column")
            ints = [
                int(v) if isinstance(v, decimal.Decimal) or (isinstance(v, str) and v.lstrip("-").isdigit()) else v
                for v in values
            ]
            return pa.array(ints, kind)
        if pa.types.is_floating(kind):
            if any(isinstance(v, bool) for v in values):
                raise TypeError("a boolean in a number column")
            return pa.array(_plain_numbers(values), kind)
        return pa.array(_plain_numbers(values), kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, decimal.InvalidOperation) as exc:
        raise ReaderConversionError(f"column {name!r}: {exc}") from None


def to_batch(
    records: list[dict[str, Any]],
    schema: pa.Schema,
    extra: dict[str, list[Any]] | None = None,
    untyped: bool = False,
) -> pa.RecordBatch:
    """The records as a batch of ``schema``: each column from the record's key of that name
    (``extra``: columns given whole, e.g. a parent's fields), `raw_json` the whole record."""
    extra = extra or {}
    arrays = []
    fields = []
    for field in schema:
        if field.name == RAW_COLUMN:
            values: list[Any] = [json_text(r) for r in records]
        elif field.name in extra:
            values = extra[field.name]
        else:
            values = [r.get(field.name) for r in records]
        if untyped:
            arrays.append(pa.array(_to_string(values), pa.string()))
            fields.append(pa.field(field.name, pa.string()))
        else:
            arrays.append(column(field.name, values, field.type))
            fields.append(field)
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def declared_schema(fields: dict[str, str], raw_json: bool, extra: Sequence[str] = ()) -> pa.Schema:
    columns = [pa.field(name, KINDS[kind]) for name, kind in fields.items()]
    columns += [pa.field(name, pa.string()) for name in extra if name not in fields]
    if raw_json:
        columns.append(pa.field(RAW_COLUMN, pa.string()))
    return pa.schema(columns)


def infer_schema(records: list[dict[str, Any]], raw_json: bool, extra: dict[str, list[Any]] | None = None) -> pa.Schema:
    """Columns from a sample: every top-level key in order of first appearance; booleans,
    integers (int64), numbers (float64), ISO datetimes with a zone (timestamptz), other text;
    objects, lists and mixed kinds as JSON text."""
    seen: dict[str, set[type]] = {}
    datetimes: dict[str, bool] = {}
    for record in records:
        for key, value in record.items():
            kinds = seen.setdefault(key, set())
            if value is None:
                continue
            kinds.add(type(value))
            if isinstance(value, str):
                datetimes[key] = datetimes.get(key, True) and bool(_ISO_DATETIME.match(value))
    columns = []
    for key, kinds in seen.items():
        if kinds == {bool}:
            kind = pa.bool_()
        elif kinds == {int}:
            kind = pa.int64()
        elif kinds and kinds <= {int, float, decimal.Decimal}:
            kind = pa.float64()
        elif kinds == {str} and datetimes.get(key):
            kind = TIMESTAMP
        else:
            kind = pa.string()
        columns.append(pa.field(key, kind))
    for name in extra or {}:
        if name not in seen:
            columns.append(pa.field(name, pa.string()))
    if raw_json and RAW_COLUMN not in seen:
        columns.append(pa.field(RAW_COLUMN, pa.string()))
    return pa.schema(columns)
