"""Stripe objects as Arrow: the key fields typed per object, and the whole object as JSON."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", "UTC")
RAW_COLUMN = "raw_json"

# Kinds: str, int (int64), bool, ts (unix seconds -> timestamptz), ref (an id, or an expanded
# object whose id is taken).
_KINDS: dict[str, pa.DataType] = {"str": pa.string(), "int": pa.int64(), "bool": pa.bool_(), "ts": TIMESTAMP}
_COMMON = [("id", "str"), ("object", "str"), ("created", "ts"), ("livemode", "bool")]

OBJECT_FIELDS: dict[str, list[tuple[str, str]]] = {
    "customers": [
        ("email", "str"),
        ("name", "str"),
        ("phone", "str"),
        ("description", "str"),
        ("currency", "str"),
        ("balance", "int"),
        ("delinquent", "bool"),
    ],
    "charges": [
        ("amount", "int"),
        ("amount_captured", "int"),
        ("amount_refunded", "int"),
        ("currency", "str"),
        ("customer", "ref"),
        ("status", "str"),
        ("paid", "bool"),
        ("captured", "bool"),
        ("refunded", "bool"),
        ("payment_intent", "ref"),
        ("invoice", "ref"),
        ("description", "str"),
        ("failure_code", "str"),
    ],
    "invoices": [
        ("customer", "ref"),
        ("subscription", "ref"),
        ("status", "str"),
        ("number", "str"),
        ("currency", "str"),
        ("amount_due", "int"),
        ("amount_paid", "int"),
        ("amount_remaining", "int"),
        ("subtotal", "int"),
        ("total", "int"),
        ("paid", "bool"),
        ("period_start", "ts"),
        ("period_end", "ts"),
        ("due_date", "ts"),
    ],
    "subscriptions": [
        ("customer", "ref"),
        ("status", "str"),
        ("currency", "str"),
        ("start_date", "ts"),
        ("current_period_start", "ts"),
        ("current_period_end", "ts"),
        ("cancel_at_period_end", "bool"),
        ("canceled_at", "ts"),
        ("ended_at", "ts"),
        ("trial_end", "ts"),
    ],
}

# List parameters an object needs to list everything (Stripe hides canceled subscriptions by default).
LIST_PARAMS: dict[str, dict[str, str]] = {"subscriptions": {"status": "all"}}


def fields_of(obj: str) -> list[tuple[str, str]]:
    """Typed fields of an object; any other list endpoint gets the common fields only."""
    return _COMMON + OBJECT_FIELDS.get(obj, [])


def object_schema(obj: str) -> pa.Schema:
    fields = [pa.field(name, _KINDS.get(kind, pa.string())) for name, kind in fields_of(obj)]
    return pa.schema([*fields, pa.field(RAW_COLUMN, pa.string())])


def _ref(value: Any) -> Any:
    return value.get("id") if isinstance(value, dict) else value


def _seconds_to_us(value: Any) -> Any:
    return value * 1_000_000 if isinstance(value, int) and not isinstance(value, bool) else value


def to_batch(obj: str, items: list[dict[str, Any]]) -> pa.RecordBatch:
    """One page (or several) of list results, built column by column."""
    columns: dict[str, pa.Array] = {}
    for name, kind in fields_of(obj):
        values = [item.get(name) for item in items]
        if kind == "ref":
            columns[name] = pa.array([_ref(v) for v in values], pa.string())
        elif kind == "ts":
            columns[name] = pa.array([_seconds_to_us(v) for v in values], pa.int64()).cast(TIMESTAMP)
        else:
            columns[name] = pa.array(values, _KINDS[kind])
    # sorted keys: the same object always gives the same text
    columns[RAW_COLUMN] = pa.array(
        [json.dumps(item, sort_keys=True, ensure_ascii=False, separators=(",", ":")) for item in items], pa.string()
    )
    return pa.RecordBatch.from_pydict(columns, schema=object_schema(obj))
