"""Type mapping: asset columns -> Iceberg, Arrow -> Iceberg, Iceberg -> Arrow batches."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import pyarrow as pa
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.schema import Schema, assign_fresh_schema_ids
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IcebergType,
    IntegerType,
    ListType,
    LongType,
    MapType,
    NestedField,
    PrimitiveType,
    StringType,
    StructType,
    TimestampType,
    TimestamptzType,
    TimeType,
)

from dativo_workers.config.asset import Asset, Column
from dativo_workers.errors import ConfigError

_DECIMAL = re.compile(r"^(?:decimal|numeric|number)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)$")
_PARAMS = re.compile(r"\s*\(.*\)\s*$")

_PHYSICAL: dict[str, IcebergType] = {
    **dict.fromkeys(["tinyint", "smallint", "int", "integer", "int2", "int4", "int32", "mediumint"], IntegerType()),
    **dict.fromkeys(["bigint", "long", "int64", "int8", "serial", "bigserial"], LongType()),
    **dict.fromkeys(["float", "real", "float4", "float32"], FloatType()),
    **dict.fromkeys(["double", "double precision", "float8", "float64"], DoubleType()),
    **dict.fromkeys(
        [
            "string",
            "varchar",
            "char",
            "character",
            "character varying",
            "text",
            "nvarchar",
            "nchar",
            "uuid",
            "json",
            "jsonb",
            "enum",
            "clob",
        ],
        StringType(),
    ),
    **dict.fromkeys(["boolean", "bool", "bit"], BooleanType()),
    "date": DateType(),
    **dict.fromkeys(["timestamp", "datetime", "timestamp without time zone", "timestamp_ntz"], TimestampType()),
    **dict.fromkeys(["timestamptz", "timestamp with time zone", "timestamp_tz", "timestamp_ltz"], TimestamptzType()),
    **dict.fromkeys(["time", "time without time zone"], TimeType()),
    **dict.fromkeys(["binary", "bytes", "bytea", "blob", "varbinary", "longblob"], BinaryType()),
}

_LOGICAL: dict[str, IcebergType] = {
    "string": StringType(),
    "integer": LongType(),
    "number": DoubleType(),
    "boolean": BooleanType(),
    "date": DateType(),
    "timestamp": TimestampType(),
    "time": TimeType(),
}


def asset_schema(asset: Asset) -> Schema:
    """The table schema an asset describes, with identifier fields from its primary keys."""
    counter = itertools.count(1)
    fields = [_field(col, asset, lambda: next(counter)) for col in asset.columns]
    identifiers = []
    for f, col in zip(fields, asset.columns, strict=True):
        if not col.primary_key:
            continue
        if not isinstance(f.field_type, PrimitiveType) or isinstance(f.field_type, FloatType | DoubleType):
            raise ConfigError(
                f"{col.where or asset.path}: column {col.name!r} is a primaryKey of type {f.field_type}; an Iceberg "
                "key must be a non-floating scalar: give it a physicalType such as bigint, decimal(18,2) or varchar"
            )
        identifiers.append(f.field_id)
    return Schema(*fields, identifier_field_ids=identifiers)


def _field(col: Column, asset: Asset, next_id: Callable[[], int]) -> NestedField:
    field_id = next_id()
    return NestedField(
        field_id=field_id,
        name=col.name,
        field_type=column_type(col, asset, next_id),
        required=col.required,
        doc=col.description,
    )


def column_type(col: Column, asset: Asset, next_id: Callable[[], int]) -> IcebergType:
    where = col.where or str(asset.path)
    logical = (col.logical_type or "").strip().lower()
    if logical == "array":
        if col.items is None:
            raise ConfigError(f"{where}: column {col.name!r}: an array needs `items`")
        element_id = next_id()
        element = column_type(col.items, asset, next_id)
        return ListType(element_id=element_id, element_type=element, element_required=col.items.required)
    if logical == "object" and col.fields:
        return StructType(*[_field(f, asset, next_id) for f in col.fields])
    mapped = physical_type(col.physical_type) if col.physical_type else None
    if mapped is None and logical in _LOGICAL:
        if logical == "number" and "precision" in col.logical_options:
            mapped = DecimalType(int(col.logical_options["precision"]), int(col.logical_options.get("scale", 0)))
        else:
            mapped = _LOGICAL[logical]
    if mapped is None and logical == "object":
        # no members to build a struct from, and no storage type: keep the value as (JSON) text
        asset.warn(f"{where}: object {col.name!r} has no `properties`: loaded as a string (JSON text)")
        return StringType()
    if isinstance(mapped, TimestampType | TimestamptzType):
        return _timestamp_zone(col, mapped)
    if mapped is not None:
        return mapped
    shown = col.physical_type or col.logical_type or "(none)"
    raise ConfigError(
        f"{where}: column {col.name!r}: unknown type {shown!r}; use an ODCS logicalType "
        f"(string, integer, number, boolean, date, timestamp, time, array, object) or a physicalType "
        f"such as bigint, decimal(18,2), timestamptz, binary"
    )


def _timestamp_zone(col: Column, mapped: IcebergType) -> IcebergType:
    """``logicalTypeOptions.timezone`` says whether values carry a zone; it decides over a
    physicalType that does not say (``timestamp`` is zone-less in most databases, not in all)."""
    zoned = col.logical_options.get("timezone")  # a boolean: the ODCS schema says so
    if zoned is None:
        return mapped
    return TimestamptzType() if zoned else TimestampType()


def physical_type(text: str) -> IcebergType | None:
    name = " ".join(text.strip().lower().split())
    match = _DECIMAL.match(name)
    if match:
        precision, scale = int(match.group(1)), int(match.group(2) or 0)
        if not 1 <= precision <= 38 or scale > precision:
            raise ConfigError(f"type {text!r}: decimal precision must be 1..38 and scale <= precision")
        return DecimalType(precision, scale)
    if name in ("decimal", "numeric"):
        return DecimalType(38, 9)
    return _PHYSICAL.get(name) or _PHYSICAL.get(_PARAMS.sub("", name))


def arrow_to_iceberg(schema: pa.Schema) -> Schema:
    """An Iceberg schema (fresh field IDs) for an Arrow schema inferred from a source."""
    counter = itertools.count(1)
    fields = [
        NestedField(next(counter), f.name, _arrow_type(f.type, f.name, lambda: next(counter)), required=False)
        for f in schema
    ]
    return assign_fresh_schema_ids(Schema(*fields))


def _arrow_type(t: pa.DataType, name: str, next_id: Callable[[], int]) -> IcebergType:
    if pa.types.is_boolean(t):
        return BooleanType()
    if pa.types.is_integer(t):
        if pa.types.is_uint64(t):
            return DecimalType(20, 0)  # does not fit a signed long
        fits_int = t.bit_width < 32 or pa.types.is_int32(t)
        return IntegerType() if fits_int else LongType()
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return FloatType()
    if pa.types.is_float64(t):
        return DoubleType()
    if pa.types.is_decimal(t):
        if t.precision > 38:
            return StringType()
        return DecimalType(t.precision, t.scale)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t) or pa.types.is_null(t):
        return StringType()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return BinaryType()
    if pa.types.is_date(t):
        return DateType()
    if pa.types.is_timestamp(t):
        return TimestamptzType() if t.tz else TimestampType()
    if pa.types.is_time(t):
        return TimeType()
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        element_id = next_id()
        return ListType(element_id, _arrow_type(t.value_type, name, next_id), element_required=False)
    if pa.types.is_struct(t):
        return StructType(
            *[NestedField(next_id(), f.name, _arrow_type(f.type, f.name, next_id), required=False) for f in t]
        )
    if pa.types.is_map(t):
        key_id, value_id = next_id(), next_id()
        return MapType(
            key_id,
            _arrow_type(t.key_type, name, next_id),
            value_id,
            _arrow_type(t.item_type, name, next_id),
            value_required=False,
        )
    if pa.types.is_dictionary(t):
        return _arrow_type(t.value_type, name, next_id)
    raise ConfigError(f"column {name!r}: source type {t} has no Iceberg equivalent; declare it in an asset")


def arrow_schema(schema: Schema) -> pa.Schema:
    """Arrow schema for batches and fragment files: Iceberg field IDs, 32-bit offsets.

    pyiceberg's conversion uses large_string/large_binary/large_list; readers produce the
    small variants, and Iceberg does not distinguish them, so we keep the small ones and
    save a cast (and a copy of the offsets) per batch.
    """
    return pa.schema([_small_field(f) for f in schema_to_pyarrow(schema, include_field_ids=True)])


def _small_field(f: pa.Field) -> pa.Field:
    return f.with_type(_small(f.type))


def _small(t: pa.DataType) -> pa.DataType:
    if pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_large_binary(t):
        return pa.binary()
    if pa.types.is_large_list(t) or pa.types.is_list(t):
        return pa.list_(_small_field(t.value_field))
    if pa.types.is_struct(t):
        return pa.struct([_small_field(f) for f in t])
    if pa.types.is_map(t):
        return pa.map_(_small_field(t.key_field), _small_field(t.item_field))
    return t
