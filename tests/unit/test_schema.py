"""Arrow <-> Iceberg schema conversion."""

from __future__ import annotations

import pyarrow as pa
import pytest
from pyiceberg.schema import Schema
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    ListType,
    LongType,
    MapType,
    NestedField,
    StringType,
    StructType,
    TimestampType,
    TimestamptzType,
)

from dativo_workers.errors import ConfigError
from dativo_workers.schema import arrow_schema, arrow_to_iceberg, physical_type

FIELD_ID = b"PARQUET:field_id"


def test_arrow_to_iceberg_scalar_types() -> None:
    source = pa.schema(
        [
            ("i8", pa.int8()),
            ("i16", pa.int16()),
            ("i32", pa.int32()),
            ("i64", pa.int64()),
            ("u16", pa.uint16()),
            ("u32", pa.uint32()),
            ("u64", pa.uint64()),
            ("f32", pa.float32()),
            ("f64", pa.float64()),
            ("dec", pa.decimal128(12, 3)),
            ("dec_huge", pa.decimal256(50, 2)),
            ("s", pa.string()),
            ("ls", pa.large_string()),
            ("nothing", pa.null()),
            ("b", pa.binary()),
            ("lb", pa.large_binary()),
            ("d", pa.date32()),
            ("ts", pa.timestamp("us")),
            ("tstz", pa.timestamp("ms", tz="Europe/Paris")),
            ("flag", pa.bool_()),
            ("cat", pa.dictionary(pa.int32(), pa.string())),
        ]
    )
    schema = arrow_to_iceberg(source)
    assert {f.name: f.field_type for f in schema.fields} == {
        "i8": IntegerType(),
        "i16": IntegerType(),
        "i32": IntegerType(),
        "i64": LongType(),
        "u16": IntegerType(),
        "u32": LongType(),  # does not fit a signed int
        "u64": DecimalType(20, 0),  # does not fit a signed long
        "f32": FloatType(),
        "f64": DoubleType(),
        "dec": DecimalType(12, 3),
        "dec_huge": StringType(),
        "s": StringType(),
        "ls": StringType(),
        "nothing": StringType(),
        "b": BinaryType(),
        "lb": BinaryType(),
        "d": DateType(),
        "ts": TimestampType(),
        "tstz": TimestamptzType(),
        "flag": BooleanType(),
        "cat": StringType(),
    }
    assert [f.field_id for f in schema.fields] == list(range(1, len(source) + 1))
    assert not any(f.required for f in schema.fields)


def test_arrow_to_iceberg_nested_types_get_unique_ids() -> None:
    source = pa.schema(
        [
            ("id", pa.int64()),
            ("tags", pa.list_(pa.string())),
            ("big_list", pa.large_list(pa.int32())),
            ("addr", pa.struct([("city", pa.string()), ("zip", pa.int32())])),
            ("attrs", pa.map_(pa.string(), pa.float64())),
        ]
    )
    schema = arrow_to_iceberg(source)
    types = {f.name: f.field_type for f in schema.fields}
    assert types["id"] == LongType()
    tags, big_list, addr, attrs = types["tags"], types["big_list"], types["addr"], types["attrs"]
    assert isinstance(tags, ListType) and tags.element_type == StringType() and not tags.element_required
    assert isinstance(big_list, ListType) and big_list.element_type == IntegerType()
    assert isinstance(addr, StructType)
    assert [(f.name, f.field_type, f.required) for f in addr.fields] == [
        ("city", StringType(), False),
        ("zip", IntegerType(), False),
    ]
    assert isinstance(attrs, MapType)
    assert (attrs.key_type, attrs.value_type, attrs.value_required) == (StringType(), DoubleType(), False)
    ids = [f.field_id for f in schema.fields]
    ids += [tags.element_id, big_list.element_id, *(f.field_id for f in addr.fields), attrs.key_id, attrs.value_id]
    assert sorted(ids) == list(range(1, len(ids) + 1))


def test_arrow_to_iceberg_unknown_type_names_the_column() -> None:
    with pytest.raises(ConfigError, match="column 'span'"):
        arrow_to_iceberg(pa.schema([("span", pa.month_day_nano_interval())]))


def table_schema() -> Schema:
    return Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(2, "name", StringType(), required=False),
        NestedField(3, "blob", BinaryType(), required=False),
        NestedField(4, "tags", ListType(7, StringType(), element_required=False), required=False),
        NestedField(
            5,
            "addr",
            StructType(NestedField(8, "city", StringType(), required=True)),
            required=False,
        ),
        NestedField(6, "amount", DecimalType(12, 2), required=False),
        NestedField(9, "at", TimestamptzType(), required=False),
        identifier_field_ids=[1],
    )


def test_arrow_schema_uses_small_types_and_keeps_field_ids() -> None:
    schema = arrow_schema(table_schema())
    assert schema.names == ["id", "name", "blob", "tags", "addr", "amount", "at"]
    assert schema.field("id").type == pa.int64()
    assert schema.field("name").type == pa.string()
    assert schema.field("blob").type == pa.binary()
    tags = schema.field("tags").type
    assert pa.types.is_list(tags) and not pa.types.is_large_list(tags)
    assert tags.value_type == pa.string()
    addr = schema.field("addr").type
    assert pa.types.is_struct(addr) and addr.field("city").type == pa.string()
    assert schema.field("amount").type == pa.decimal128(12, 2)
    assert schema.field("at").type == pa.timestamp("us", tz="UTC")
    ids = {f.name: f.metadata[FIELD_ID] for f in schema}
    assert ids == {"id": b"1", "name": b"2", "blob": b"3", "tags": b"4", "addr": b"5", "amount": b"6", "at": b"9"}
    assert tags.value_field.metadata[FIELD_ID] == b"7"
    assert addr.field("city").metadata[FIELD_ID] == b"8"


def test_arrow_schema_nullability_follows_required() -> None:
    schema = arrow_schema(table_schema())
    assert schema.field("id").nullable is False
    assert schema.field("name").nullable is True
    assert schema.field("addr").type.field("city").nullable is False


def test_arrow_round_trip_is_stable() -> None:
    source = pa.schema([("a", pa.int64()), ("b", pa.large_string()), ("c", pa.list_(pa.float32()))])
    schema = arrow_schema(arrow_to_iceberg(source))
    assert [f.type for f in schema] == [pa.int64(), pa.string(), pa.list_(schema.field("c").type.value_field)]
    assert schema.field("c").type.value_type == pa.float32()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NUMBER(10)", DecimalType(10, 0)),
        ("numeric", DecimalType(38, 9)),
        ("character varying(255)", StringType()),
        ("Timestamp With  Time Zone", TimestamptzType()),
        ("bytea", BinaryType()),
        ("geometry", None),
    ],
)
def test_physical_type(text: str, expected: object) -> None:
    assert physical_type(text) == expected


@pytest.mark.parametrize("text", ["decimal(0,0)", "decimal(39,2)", "decimal(5,6)"])
def test_physical_type_rejects_bad_decimals(text: str) -> None:
    with pytest.raises(ConfigError, match="precision"):
        physical_type(text)
