"""Make each batch fit the table schema, sorting out the rows that cannot.

Casting stays vectorised: a column that fails to cast is bisected to find the offending
values, so k bad values in n rows cost O(k log n) casts, and good rows never leave Arrow.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from dativo_workers.secrets.redact import mask_value

REASON_COLUMN = "_dativo_reason"
POSITION_COLUMN = "_dativo_position"
RAW_COLUMN = "_dativo_raw"  # a record the reader could not split into columns, as the source holds it
MAX_REASON_VALUE = 80


def to_record_batches(obj: Any) -> Iterator[pa.RecordBatch]:
    """Accept what plugins may hand over: RecordBatch, Table, Arrow PyCapsule objects, list of dicts."""
    if isinstance(obj, pa.RecordBatch):
        yield obj
    elif isinstance(obj, pa.Table):
        yield from obj.to_batches()
    elif hasattr(obj, "__arrow_c_stream__"):
        yield from pa.RecordBatchReader.from_stream(obj)
    elif hasattr(obj, "__arrow_c_array__"):
        yield pa.record_batch(obj)
    elif isinstance(obj, list):
        if obj:
            yield pa.RecordBatch.from_pylist(obj)
    else:
        raise TypeError(
            f"a reader yielded {type(obj).__name__}; expected a pyarrow RecordBatch or Table, an object "
            "with __arrow_c_stream__/__arrow_c_array__, or a list of dicts"
        )


class SchemaMismatch(ValueError):
    """A whole column cannot be converted (e.g. int64 -> date): a configuration problem, not bad rows."""


class _MaxBadReached(Exception):
    """More than ``max_bad`` bad values in a column: the rest of it was not checked."""


@dataclass
class Conformed:
    good: pa.RecordBatch
    bad: pa.Table | None  # original values as text + reason + position


class Conformer:
    """Casts batches to ``schema``; ``describe(row)`` names a row's place in the source.

    A reason quotes the bad value, except in ``sensitive`` columns (classified PII and the
    like): there it shows a masked form, since reasons reach errors, the ledger and task results."""

    def __init__(
        self,
        schema: pa.Schema,
        describe: Callable[[int], str],
        max_bad: int | None = None,
        sensitive: Collection[str] = (),
    ) -> None:
        self.schema = schema
        self.describe = describe
        self.max_bad = max_bad  # stop searching once this many are found (the caller fails anyway)
        self.sensitive = frozenset(sensitive)
        self.rows_seen = 0
        self.ignored_columns: set[str] = set()

    def conform(self, batch: pa.RecordBatch) -> Conformed:
        base_row = self.rows_seen
        self.rows_seen += batch.num_rows
        names = set(batch.schema.names)
        self.ignored_columns |= names - set(self.schema.names)
        if batch.schema.equals(self.schema, check_metadata=False) and not _has_required_nulls(batch, self.schema):
            return Conformed(batch.replace_schema_metadata(None).cast(self.schema), None)

        n = batch.num_rows
        bad_reasons: dict[int, str] = {}
        columns: list[pa.Array] = []
        for field in self.schema:
            if field.name not in names:
                if not field.nullable and n:
                    for row in range(n):
                        bad_reasons.setdefault(row, f"required column {field.name!r} is missing from the source")
                columns.append(pa.nulls(n, field.type))
                continue
            column = batch.column(field.name)
            if column.type != field.type:
                try:
                    column = self._cast(column, field, bad_reasons)
                except _MaxBadReached:  # the caller fails this batch: report what was found, load nothing
                    empty = pa.RecordBatch.from_pylist([], schema=self.schema)
                    return Conformed(empty, self._bad_table(batch, bad_reasons, base_row))
            if not field.nullable and column.null_count:
                for row in pc.indices_nonzero(column.is_null()).to_pylist():
                    bad_reasons.setdefault(row, f"column {field.name!r} is required but empty")
            columns.append(column)

        if not bad_reasons:
            return Conformed(pa.RecordBatch.from_arrays(columns, schema=self.schema), None)

        # bad rows hold null placeholders in `columns`; dropping them leaves only converted values
        keep = pc.invert(_row_mask(n, bad_reasons))
        good = pa.RecordBatch.from_arrays([pc.filter(c, keep) for c in columns], schema=self.schema)
        return Conformed(good, self._bad_table(batch, bad_reasons, base_row))

    def _cast(self, column: pa.Array, field: pa.Field, bad_reasons: dict[int, str]) -> pa.Array:
        if pa.types.is_string(column.type) and not pa.types.is_string(field.type):
            # text sources: an empty field (quoted or not) in a typed column means "no value"
            column = pc.if_else(pc.equal(column, ""), pa.scalar(None, column.type), column)
        try:
            return cast_values(column, field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            pass
        try:
            cast_values(column.slice(0, 0), field.type)
        except (pa.ArrowNotImplementedError, pa.ArrowTypeError, pa.ArrowInvalid) as exc:
            raise SchemaMismatch(
                f"column {field.name!r}: source type {column.type} cannot be converted to {field.type} ({exc}); "
                "fix the asset's type for this column"
            ) from None
        limit = None if self.max_bad is None else self.max_bad + 1
        found = _bad_positions(column, field.type, 0, limit)
        for row in found:
            value = column[row].as_py()
            if field.name in self.sensitive:
                shown = mask_value(value)
            else:
                shown = repr(value) if len(repr(value)) <= MAX_REASON_VALUE else repr(value)[:MAX_REASON_VALUE] + "..."
            bad_reasons.setdefault(row, f"column {field.name!r}: cannot convert {shown} to {field.type}")
        # a null placeholder for bad rows; they are filtered out before anything is written
        mask = _row_mask(len(column), bad_reasons)
        try:
            return cast_values(pc.if_else(mask, pa.nulls(len(column), column.type), column), field.type)
        except pa.ArrowInvalid:
            if limit is None or len(found) < limit:
                raise
            raise _MaxBadReached from None  # the search stopped at max_bad: later values are unchecked

    def _bad_table(self, batch: pa.RecordBatch, reasons: dict[int, str], base_row: int) -> pa.Table:
        rows = sorted(reasons)
        taken = batch.take(pa.array(rows, pa.int64()))
        arrays = {name: _as_text(taken.column(name)) for name in taken.schema.names}
        arrays[REASON_COLUMN] = pa.array([reasons[r] for r in rows], pa.string())
        arrays[POSITION_COLUMN] = pa.array([self.describe(base_row + r) for r in rows], pa.string())
        return pa.table(arrays)


_TIME_TEXT = r"^[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?$"


def cast_values(column: pa.Array, target: pa.DataType) -> pa.Array:
    """``pc.cast``, plus text -> time of day, which Arrow's cast lacks (it has text -> date and
    timestamp). Accepts what Arrow's CSV parser does: HH:MM, HH:MM:SS and up to 9 fraction
    digits; a fraction finer than the target unit fails, like any lossy cast."""
    if pa.types.is_time(target) and (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        if pc.any(pc.invert(pc.match_substring_regex(column, _TIME_TEXT))).as_py():  # nulls are no value
            raise pa.ArrowInvalid(f"cannot convert text to {target}: expected HH:MM[:SS[.fraction]]")
        stamped = pc.cast(pc.binary_join_element_wise("1970-01-01T", column, ""), pa.timestamp(target.unit))
        return pc.cast(stamped, target)
    return pc.cast(column, target)


def _row_mask(length: int, rows: Iterable[int]) -> pa.Array:
    """Booleans, true at ``rows``: the work is per bad row, not per row of the batch."""
    flags = bytearray(length)
    for row in rows:
        flags[row] = 1
    return pc.cast(pa.Array.from_buffers(pa.uint8(), length, [None, pa.py_buffer(flags)]), pa.bool_())


def _has_required_nulls(batch: pa.RecordBatch, schema: pa.Schema) -> bool:
    return any(not f.nullable and batch.column(f.name).null_count for f in schema)


def _bad_positions(column: pa.Array, target: pa.DataType, offset: int, limit: int | None) -> list[int]:
    """Indices of values that fail to cast, by bisection (stops after ``limit`` hits)."""
    found: list[int] = []
    stack = [(offset, len(column))]
    while stack and (limit is None or len(found) < limit):
        start, length = stack.pop()
        piece = column.slice(start, length)
        if pa.types.is_nested(column.type):  # a sliced list casts its whole child: cast a compact copy
            piece = pa.concat_arrays([piece])
        try:
            cast_values(piece, target)
            continue
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            pass
        if length == 1:
            found.append(start)
            continue
        half = length // 2
        stack.append((start + half, length - half))
        stack.append((start, half))
    return sorted(found)


def _as_text(column: pa.Array) -> pa.Array:
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())
