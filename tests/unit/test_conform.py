"""Conformer: casting batches to the table schema and sorting out the rows that do not fit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from dativo_workers.conform import (
    POSITION_COLUMN,
    REASON_COLUMN,
    Conformer,
    SchemaMismatch,
    to_record_batches,
)


def describe(row: int) -> str:
    return f"data.csv: line {row + 2}"


def target(*fields: pa.Field) -> pa.Schema:
    return pa.schema(fields)


def test_matching_batch_passes_unchanged() -> None:
    schema = target(pa.field("id", pa.int64(), nullable=False), pa.field("name", pa.string()))
    batch = pa.record_batch({"id": [1, 2, 3], "name": ["a", None, "c"]}, schema=schema)
    result = Conformer(schema, describe).conform(batch)
    assert result.bad is None
    assert result.good.schema == schema
    assert result.good.equals(batch)


def test_strings_are_cast_to_int_date_and_decimal() -> None:
    schema = target(
        pa.field("id", pa.int64()),
        pa.field("day", pa.date32()),
        pa.field("amount", pa.decimal128(12, 2)),
        pa.field("note", pa.string()),
    )
    batch = pa.record_batch(
        {
            "id": ["1", "-20", "300"],
            "day": ["2024-01-31", "2024-02-29", None],
            "amount": ["12.34", "0.5", "-7"],
            "note": ["x", "", None],
        }
    )
    result = Conformer(schema, describe).conform(batch)
    assert result.bad is None
    assert result.good.schema == schema
    assert result.good.to_pylist() == [
        {"id": 1, "day": dt.date(2024, 1, 31), "amount": Decimal("12.34"), "note": "x"},
        {"id": -20, "day": dt.date(2024, 2, 29), "amount": Decimal("0.50"), "note": ""},  # "" stays in text
        {"id": 300, "day": None, "amount": Decimal("-7.00"), "note": None},
    ]


def test_bad_values_are_located_exactly_in_a_large_column() -> None:
    n = 100_000
    values = [str(i) for i in range(n)]
    values[3] = "three"
    values[70_000] = "7e4x"
    schema = target(pa.field("qty", pa.int64()), pa.field("id", pa.int64()))
    batch = pa.record_batch({"qty": values, "id": pa.array(range(n), pa.int64())})
    conformer = Conformer(schema, describe)
    conformer.conform(pa.record_batch({"qty": ["1"], "id": [0]}))  # positions count across batches
    result = conformer.conform(batch)
    assert result.bad is not None
    bad = result.bad.to_pylist()
    assert [r["id"] for r in bad] == ["3", "70000"]  # original values, as text
    assert [r["qty"] for r in bad] == ["three", "7e4x"]
    assert [r[POSITION_COLUMN] for r in bad] == [describe(4), describe(70_001)]
    assert "column 'qty'" in bad[0][REASON_COLUMN] and "'three'" in bad[0][REASON_COLUMN]
    assert "int64" in bad[0][REASON_COLUMN]
    assert "column 'qty'" in bad[1][REASON_COLUMN] and "'7e4x'" in bad[1][REASON_COLUMN]
    good = result.good
    assert good.num_rows == n - 2 and good.schema == schema
    assert good.column("qty").null_count == 0
    assert good.column("id").to_pylist()[:4] == [0, 1, 2, 4]
    assert good.column("qty").to_pylist()[69_998:70_000] == [69_999, 70_001]
    assert conformer.rows_seen == n + 1


def test_long_bad_values_are_shortened_in_the_reason() -> None:
    schema = target(pa.field("n", pa.int64()))
    result = Conformer(schema, describe).conform(pa.record_batch({"n": ["x" * 500]}))
    assert result.bad is not None
    reason = result.bad.column(REASON_COLUMN)[0].as_py()
    assert reason.endswith("... to int64") and len(reason) < 200


def test_required_null_is_a_bad_row() -> None:
    schema = target(pa.field("id", pa.int64(), nullable=False), pa.field("v", pa.string()))
    batch = pa.record_batch({"id": pa.array([1, None, 3], pa.int64()), "v": ["a", "b", "c"]})
    result = Conformer(schema, describe).conform(batch)
    assert result.good.to_pylist() == [{"id": 1, "v": "a"}, {"id": 3, "v": "c"}]
    assert result.good.schema.field("id").nullable is False
    assert result.bad is not None
    bad = result.bad.to_pylist()
    assert len(bad) == 1
    assert bad[0]["v"] == "b" and bad[0]["id"] is None
    assert bad[0][REASON_COLUMN] == "column 'id' is required but empty"
    assert bad[0][POSITION_COLUMN] == describe(1)


def test_required_column_missing_makes_every_row_bad() -> None:
    schema = target(pa.field("id", pa.int64()), pa.field("email", pa.string(), nullable=False))
    batch = pa.record_batch({"id": pa.array([1, 2], pa.int64())})
    result = Conformer(schema, describe).conform(batch)
    assert result.good.num_rows == 0 and result.good.schema == schema
    assert result.bad is not None
    assert result.bad.column(REASON_COLUMN).to_pylist() == ["required column 'email' is missing from the source"] * 2
    assert result.bad.column("id").to_pylist() == ["1", "2"]


def test_optional_column_missing_is_filled_with_nulls_and_extra_columns_are_noted() -> None:
    schema = target(pa.field("id", pa.int64()), pa.field("email", pa.string()))
    conformer = Conformer(schema, describe)
    result = conformer.conform(pa.record_batch({"id": pa.array([1, 2], pa.int64()), "extra": ["a", "b"]}))
    assert result.bad is None
    assert result.good.to_pylist() == [{"id": 1, "email": None}, {"id": 2, "email": None}]
    assert conformer.ignored_columns == {"extra"}


def test_empty_string_in_a_typed_column_is_null_not_bad() -> None:
    schema = target(pa.field("n", pa.int64()), pa.field("d", pa.date32()), pa.field("s", pa.string()))
    batch = pa.record_batch({"n": ["", "5"], "d": ["2024-01-01", ""], "s": ["", "x"]})
    result = Conformer(schema, describe).conform(batch)
    assert result.bad is None
    assert result.good.to_pylist() == [
        {"n": None, "d": dt.date(2024, 1, 1), "s": ""},
        {"n": 5, "d": None, "s": "x"},
    ]


def test_empty_string_in_a_required_typed_column_is_a_bad_row() -> None:
    schema = target(pa.field("n", pa.int64(), nullable=False))
    result = Conformer(schema, describe).conform(pa.record_batch({"n": ["1", ""]}))
    assert result.good.to_pylist() == [{"n": 1}]
    assert result.bad is not None and result.bad.column(REASON_COLUMN).to_pylist() == [
        "column 'n' is required but empty"
    ]


def test_unconvertible_column_type_raises_schema_mismatch() -> None:
    schema = target(pa.field("d", pa.date32()))
    batch = pa.record_batch({"d": pa.array([1, 2], pa.int64())})
    with pytest.raises(SchemaMismatch) as exc:
        Conformer(schema, describe).conform(batch)
    assert "column 'd'" in str(exc.value) and "int64" in str(exc.value) and "date32" in str(exc.value)


@pytest.mark.parametrize("max_bad", [0, 2])
def test_max_bad_stops_the_search_early(max_bad: int) -> None:
    values = ["x" if i % 10 == 0 else str(i) for i in range(1_000)]  # 100 bad values
    schema = target(pa.field("n", pa.int64()))
    result = Conformer(schema, describe, max_bad=max_bad).conform(pa.record_batch({"n": values}))
    assert result.bad is not None
    # more than max_bad found (the caller fails), the first ones, and no more than needed
    assert result.bad.column(POSITION_COLUMN).to_pylist() == [describe(i * 10) for i in range(max_bad + 1)]
    assert set(result.bad.column(REASON_COLUMN).to_pylist()) == {"column 'n': cannot convert 'x' to int64"}
    assert result.good.num_rows == 0 and result.good.schema == schema  # the caller fails this batch


def test_max_bad_zero_still_reports_one_bad_value_per_column() -> None:
    schema = target(pa.field("a", pa.int64()), pa.field("b", pa.int64()))
    batch = pa.record_batch({"a": ["1", "2", "3", "x"], "b": ["1", "y", "3", "4"]})
    result = Conformer(schema, describe, max_bad=0).conform(batch)
    assert result.bad is not None
    assert result.bad.column(POSITION_COLUMN).to_pylist() == [describe(1), describe(3)]  # the earliest comes first
    assert result.good.to_pylist() == [{"a": 1, "b": 1}, {"a": 3, "b": 3}]


def test_max_bad_not_reached_finds_every_bad_row() -> None:
    values = ["1", "x", "2", "y", "3"]
    result = Conformer(target(pa.field("n", pa.int64())), describe, max_bad=5).conform(pa.record_batch({"n": values}))
    assert result.good.column("n").to_pylist() == [1, 2, 3]
    assert result.bad is not None and result.bad.column("n").to_pylist() == ["x", "y"]


def test_bad_rows_from_several_columns_are_merged() -> None:
    schema = target(pa.field("a", pa.int32()), pa.field("b", pa.date32()), pa.field("c", pa.string(), nullable=False))
    batch = pa.record_batch(
        {"a": ["1", "z", "3", "4"], "b": ["2024-01-01", "bad", "nope", None], "c": ["k", "l", "m", None]}
    )
    result = Conformer(schema, describe).conform(batch)
    assert result.good.to_pylist() == [{"a": 1, "b": dt.date(2024, 1, 1), "c": "k"}]
    assert result.bad is not None
    reasons = result.bad.column(REASON_COLUMN).to_pylist()
    assert len(reasons) == 3
    assert "column 'a'" in reasons[0] and "'z'" in reasons[0]  # the first problem of a row is kept
    assert "column 'b'" in reasons[1] and "'nope'" in reasons[1]
    assert reasons[2] == "column 'c' is required but empty"


def test_bad_table_shows_non_text_values_as_text() -> None:
    schema = target(pa.field("n", pa.int8()), pa.field("when", pa.timestamp("us")))
    when = dt.datetime(2024, 5, 6, 7, 8, 9)
    batch = pa.record_batch({"n": pa.array([1, 300], pa.int64()), "when": pa.array([when, when], pa.timestamp("us"))})
    result = Conformer(schema, describe).conform(batch)
    assert result.good.column("n").to_pylist() == [1]
    assert result.bad is not None
    row = result.bad.to_pylist()[0]
    assert row["n"] == "300" and row["when"].startswith("2024-05-06")
    assert "cannot convert 300 to int8" in row[REASON_COLUMN]


# --- to_record_batches -------------------------------------------------------------------


class StreamOnly:
    """Exposes only the Arrow PyCapsule stream protocol, like a polars or duckdb result."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self._table.__arrow_c_stream__(requested_schema)


def rows_of(obj: Any) -> list[dict[str, Any]]:
    return [row for batch in to_record_batches(obj) for row in batch.to_pylist()]


def test_to_record_batches_accepts_the_usual_shapes() -> None:
    table = pa.concat_tables([pa.table({"a": [1, 2]}), pa.table({"a": [3]})])
    expected = [{"a": 1}, {"a": 2}, {"a": 3}]
    assert rows_of(pa.record_batch({"a": [1, 2, 3]})) == expected
    assert rows_of(table) == expected
    assert len(list(to_record_batches(table))) == 2
    assert rows_of([{"a": 1}, {"a": 2}, {"a": 3}]) == expected
    assert rows_of([]) == []
    stream = StreamOnly(table)
    assert not isinstance(stream, pa.Table | pa.RecordBatch) and not hasattr(stream, "__arrow_c_array__")
    batches = list(to_record_batches(stream))
    assert all(isinstance(b, pa.RecordBatch) for b in batches)
    assert [r for b in batches for r in b.to_pylist()] == expected


def test_to_record_batches_rejects_other_objects() -> None:
    with pytest.raises(TypeError, match="yielded int"):
        list(to_record_batches(42))
    with pytest.raises(TypeError, match="yielded dict"):
        list(to_record_batches({"a": [1]}))


def test_positions_are_asked_once_per_bad_row_in_source_order() -> None:
    # File readers answer these with one resumable scan per partition, which relies on this order.
    asked: list[int] = []

    def record(row: int) -> str:
        asked.append(row)
        return describe(row)

    conformer = Conformer(target(pa.field("n", pa.int64()), pa.field("d", pa.date32())), record)
    for values, days in [(["1", "x", "3", "y"], ["2024-01-01", "bad", None, None]), (["z", "5"], [None, "nope"])]:
        conformer.conform(pa.record_batch({"n": values, "d": days}))
    assert asked == [1, 3, 4, 5]
