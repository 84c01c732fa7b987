"""Range splitting, typed bounds and identifier quoting of the database readers (no server needed)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from dativo_plugins.sql.common import Column, from_json, scrub, split_range
from dativo_plugins.sql.mysql import MysqlReader
from dativo_plugins.sql.postgres import PostgresReader
from dativo_workers.plugins import SourceContext, parse_lookback


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
