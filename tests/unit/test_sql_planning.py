"""Range splitting, typed bounds and identifier quoting of the database readers (no server needed)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from dativo_plugins.sql.common import Column, SqlObject, from_json, scrub, split_range
from dativo_plugins.sql.mysql import MysqlReader
from dativo_plugins.sql.postgres import PostgresReader
from dativo_workers.errors import SourceError
from dativo_workers.plugins import ReaderConversionError, SourceContext, parse_lookback


def _covers(ranges: list[dict[str, object]], values: list[object], kind: pa.DataType) -> None:
    """Every value falls in exactly one half-open range."""
    for value in values:
        hits = [
            r
            for r in ranges
            if (r["lo"] is None or value >= from_json(r["lo"], kind))
            and (r["hi"] is None or value < from_json(r["hi"], kind))
        ]
        assert len(hits) == 1, (value, ranges)


@pytest.mark.parametrize("low,high,parts", [(1, 10_000_000, 7), (-5, 5, 4), (3, 3, 4), (0, 2, 8)])
def test_integer_ranges_partition_the_key_space(low: int, high: int, parts: int) -> None:
    ranges = split_range(low, high, parts, pa.int64())
    assert ranges[0]["lo"] is None and ranges[-1]["hi"] is None
    assert len(ranges) <= parts
    _covers(ranges, [low - 100, low, (low + high) // 2, high, high + 100], pa.int64())
    if high - low + 1 >= parts:
        assert len(ranges) == parts


def test_timestamp_and_date_ranges() -> None:
    low, high = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
    kind = pa.timestamp("us", tz="UTC")
    ranges = split_range(low, high, 5, kind)
    assert len(ranges) == 5
    _covers(ranges, [low - timedelta(days=1), low, low + timedelta(days=17, seconds=3), high], kind)
    days = split_range(date(2024, 1, 1), date(2024, 1, 3), 10, pa.date32())
    assert 1 < len(days) <= 3
    _covers(days, [date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)], pa.date32())


def test_bounds_are_typed_not_text() -> None:
    assert from_json("42", pa.int64()) == 42
    with pytest.raises(ValueError):
        from_json("1; DROP TABLE x", pa.int64())
    with pytest.raises(ValueError):
        from_json("2024-01-01'; DROP TABLE x; --", pa.timestamp("us"))
    assert from_json("2024-01-01T00:00:00", pa.timestamp("us", tz="UTC")).tzinfo == UTC


def test_lookback_durations() -> None:
    assert parse_lookback("90s") == timedelta(seconds=90)
    assert parse_lookback("1h") == timedelta(hours=1)
    assert parse_lookback("2d") == timedelta(days=2)
    assert parse_lookback("500") == 500
    assert parse_lookback(None) == 0
    with pytest.raises(ValueError, match="lookback"):
        parse_lookback("yesterday")


def _reader(cls: type, **connection: object) -> object:
    context = SourceContext(base_dir=Path("."), connection={"database": "d", "user": "u", **connection})
    return cls(cls.config_model(), context)


def test_identifiers_are_quoted_per_dialect() -> None:
    pg = _reader(PostgresReader)
    my = _reader(MysqlReader)
    assert pg.quote('a"; DROP TABLE t; --') == '"a""; DROP TABLE t; --"'
    assert my.quote("a`; DROP TABLE t; --") == "`a``; DROP TABLE t; --`"
    assert pg.quoted_table('s.x"y') == '"s"."x""y"'
    with pytest.raises(Exception, match="NUL"):
        pg.quote("a\x00b")


def test_literals_are_rendered_from_typed_values() -> None:
    pg, my = _reader(PostgresReader), _reader(MysqlReader)
    col = Column("c", "timestamptz", pa.timestamp("us", tz="UTC"), '"c"')
    moment = datetime(2024, 5, 6, 7, 8, 9, 10, tzinfo=UTC)
    assert pg.literal(moment, col) == "'2024-05-06T07:08:09.000010+00:00'::timestamptz"
    assert my.literal(moment, col) == "TIMESTAMP'2024-05-06 07:08:09.000010'"
    assert pg.literal(date(2024, 1, 2), col) == "'2024-01-02'::date"
    assert my.literal(12, col) == "12"


def test_mysql_type_mapping_is_exact_or_an_error() -> None:
    my = _reader(MysqlReader)
    assert my.map_column("t", "a", "bigint(20) unsigned").arrow == pa.decimal128(20, 0)
    assert my.map_column("t", "a", "decimal(65,30)").arrow == pa.string()
    assert my.map_column("t", "a", "decimal(12,2)").arrow == pa.decimal128(12, 2)
    assert my.map_column("t", "a", "tinyint(1)").arrow == pa.bool_()
    assert my.map_column("t", "a", "int(10) unsigned").arrow == pa.int64()
    assert my.map_column("t", "a", "timestamp(6)").arrow == pa.timestamp("us", tz="UTC")
    with pytest.raises(Exception, match=r"t\.g has type geometry"):
        my.map_column("t", "g", "geometry")


def test_passwords_are_scrubbed_from_driver_messages() -> None:
    assert scrub("failed for postgresql://u:p%40ss@h/db (p@ss)", ["p@ss"]) == "failed for postgresql://u:***@h/db (***)"


def _pg_batch(reader: PostgresReader, columns: list[Column], arrays: list[pa.Array]) -> pa.RecordBatch:
    reader._object = SqlObject(name="t", source='"s"."t"', columns=columns, display="s.t")
    return reader.convert(pa.RecordBatch.from_arrays(arrays, names=[f"c{i}" for i in range(len(arrays))]))


def test_postgres_flattened_arrays_are_nested_again_by_their_lengths() -> None:
    pg = _reader(PostgresReader)
    base = pg.map_column("t", "a", "integer[]", "_int4", "b", "A", "int4", "b", "integer")
    two, three = pg._with_dims(base, 2), pg._with_dims(base, 3)
    assert two.arrow == pa.list_(pa.list_(pa.int32())) and two.extra == ('array_ndims("a")', 'array_length("a", 2)')
    # ADBC's flat values, each row's depth and the length of its inner dimension(s)
    flat = pa.array([[1, 2, 3, 4, 5, 6], None, [], [None, 7]], pa.list_(pa.int32()))
    got = _pg_batch(pg, [two], [flat, pa.array([2, None, None, 2], pa.int32()), pa.array([3, None, None, 1])])
    assert got.column(0).to_pylist() == [[[1, 2, 3], [4, 5, 6]], None, [], [[None], [7]]]
    got = _pg_batch(
        pg,
        [three],
        [
            pa.array([list(range(8)), [9]], pa.list_(pa.int32())).slice(0, 2),
            pa.array([3, 3], pa.int32()),
            pa.array([2, 1]),
            pa.array([2, 1]),
        ],
    )
    assert got.column(0).to_pylist() == [[[[0, 1], [2, 3]], [[4, 5], [6, 7]]], [[[9]]]]
    with pytest.raises(SourceError, match=r"s\.t\.a holds arrays of 2 and 1 dimensions"):
        _pg_batch(pg, [two], [flat, pa.array([2, None, None, 1], pa.int32()), pa.array([3, None, None, None])])


@pytest.mark.parametrize("policy", ["clamp", "null", "fail"])
def test_postgres_infinity_sentinels_follow_the_policy(policy: str) -> None:
    pg = PostgresReader(
        PostgresReader.config_model.model_validate({"infinity": None if policy == "null" else policy}),
        SourceContext(base_dir=Path("."), connection={"database": "d", "user": "u"}),
    )
    ts = pg.map_column("t", "ts", "timestamp", "timestamp", "b", "D", None, None, "")
    day = pg.map_column("t", "d", "date", "date", "b", "D", None, None, "")
    # what ADBC hands over for infinity, -infinity, 1969-12-31 23:59:59.999999, NULL
    stamps = pa.array([-9222425352054775809, -9222425352054775808, -1, None], pa.int64()).view(pa.timestamp("us"))
    days = pa.array([-2147472692, -2147472691, -1, None], pa.int32()).view(pa.date32())
    if policy == "fail":
        with pytest.raises(ReaderConversionError, match=r"s\.t\.ts"):
            _pg_batch(pg, [ts, day], [stamps, days])
        pg._object = SqlObject(name="t", source="t", columns=[ts, day], display="s.t")
        text = pg.convert(pa.RecordBatch.from_arrays([stamps, days], names=["ts", "d"]), typed=False)
        assert text.column(0).to_pylist() == ["infinity", "-infinity", "1969-12-31 23:59:59.999999", None]
        assert text.column(1).to_pylist() == ["infinity", "-infinity", "1969-12-31", None]
        return
    got = _pg_batch(pg, [ts, day], [stamps, days]).to_pydict()
    edge = [datetime(9999, 12, 31, 23, 59, 59, 999999), datetime(1, 1, 1)] if policy == "clamp" else [None, None]
    assert got["ts"] == [*edge, datetime(1969, 12, 31, 23, 59, 59, 999999), None]
    assert got["d"] == ([date(9999, 12, 31), date(1, 1, 1)] if policy == "clamp" else [None, None]) + [
        date(1969, 12, 31),
        None,
    ]


def test_postgres_out_of_range_dates_are_never_clamped() -> None:
    pg = PostgresReader(
        PostgresReader.config_model.model_validate({"infinity": "clamp"}),
        SourceContext(base_dir=Path("."), connection={"database": "d", "user": "u"}),
    )
    day = pg.map_column("t", "d", "date", "date", "b", "D", None, None, "")
    year_10000 = pa.array([2932897], pa.int32()).view(pa.date32())
    with pytest.raises(ReaderConversionError, match=r"outside 0001-01-01\.\.9999-12-31"):
        _pg_batch(pg, [day], [year_10000])
