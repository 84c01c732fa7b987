"""Salesforce field types (from `describe`) as Arrow types, and Salesforce's text values (REST
JSON rendered as text, or Bulk API 2.0 CSV cells) converted to them column by column.

Compound fields (`address`, `location`) are left out: their parts are fields of their own
(`BillingStreet`, `BillingLatitude`, ...) and are loaded as such. `base64` fields (file bodies)
are left out too: the query APIs return a URL to the body, not the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from dativo_workers.errors import SourceError

TIMESTAMP = pa.timestamp("us", tz="UTC")
SKIPPED_TYPES = {"address": "compound (its parts are loaded)", "location": "compound (its parts are loaded)",
                 "base64": "file body (not returned by queries)"}  # fmt: skip
TEXT_TYPES = {
    "id", "reference", "string", "picklist", "multipicklist", "combobox", "textarea", "email", "phone",
    "url", "encryptedstring", "anyType", "complexvalue", "datacategorygroupreference", "json",
}  # fmt: skip
PII_TYPES = {"email": "PII", "phone": "PII"}
MAX_DECIMAL_PRECISION = 38


@dataclass(frozen=True)
class SfField:
    name: str
    sf_type: str
    arrow_type: pa.DataType


def arrow_type(field: dict[str, Any]) -> pa.DataType | None:
    """The Arrow type of one `describe` field; None for a field that is not loaded."""
    kind = str(field.get("type") or "")
    if kind in SKIPPED_TYPES:
        return None
    if kind in TEXT_TYPES:
        return pa.string()
    if kind == "boolean":
        return pa.bool_()
    if kind in ("int", "long"):
        return pa.int64()
    if kind in ("double", "currency", "percent"):
        precision, scale = int(field.get("precision") or 0), int(field.get("scale") or 0)
        if 0 < precision <= MAX_DECIMAL_PRECISION and 0 <= scale <= precision:
            return pa.decimal128(precision, scale)  # exact: what the field holds, digit for digit
        return pa.float64()  # no declared precision (some system doubles): a double as Salesforce keeps it
    if kind == "date":
        return pa.date32()
    if kind == "datetime":
        return TIMESTAMP
    if kind == "time":
        return pa.time64("us")
    return pa.string()  # a type this list does not know: its text, never dropped


def describe_fields(describe: dict[str, Any], wanted: list[str] | None = None) -> list[SfField]:
    """The loaded fields of an sObject, in `describe` order (or ``wanted``'s order)."""
    by_name: dict[str, SfField] = {}
    for field in describe.get("fields") or []:
        kind = arrow_type(field)
        if kind is not None:
            by_name[field["name"]] = SfField(field["name"], str(field.get("type")), kind)
    if not wanted:
        return list(by_name.values())
    lower = {name.lower(): f for name, f in by_name.items()}
    missing = [name for name in wanted if name.lower() not in lower]
    if missing:
        raise SourceError(
            f"salesforce {describe.get('name')}: source.options.fields: {', '.join(missing)} not queryable "
            "(unknown, or a compound/base64 field: list its parts instead)"
        )
    return [lower[name.lower()] for name in wanted]


def schema_of(fields: list[SfField]) -> pa.Schema:
    return pa.schema([pa.field(f.name, f.arrow_type) for f in fields])


def json_text(value: Any) -> str | None:
    """A REST JSON value as the text Bulk API 2.0 would give for it (the one conversion path)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def convert(texts: pa.Array, field: SfField, where: str) -> pa.Array:
    """Salesforce text values (null for empty) -> the field's Arrow type; a value that does not
    fit (a decimal with more digits than its scale, a malformed date) fails naming the field."""
    target = field.arrow_type
    if pa.types.is_string(target):
        return texts
    try:
        if pa.types.is_timestamp(target):
            return pc.cast(texts, target)  # ISO 8601 with `Z` (Bulk) or `+0000` (REST)
        if pa.types.is_time(target):
            clock = pc.utf8_rtrim(texts, "Z")  # `13:15:00.000Z`: a time of day, no date
            stamps = pc.cast(pc.binary_join_element_wise("1970-01-01T", clock, ""), pa.timestamp("us"))
            return pc.cast(stamps, target)
        return pc.cast(texts, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise SourceError(f"{where}: field {field.name} ({field.sf_type}): {exc}") from None
