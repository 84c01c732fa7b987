"""Stripe objects as Arrow: the key fields typed per object, and the whole object as JSON."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", "UTC")
RAW_COLUMN = "raw_json"
# With `cursor_field: updated` (changes read from the Events API) every row also carries when
# the version it holds appeared, and whether that version is a deletion.
UPDATED_COLUMN = "updated"
DELETED_COLUMN = "deleted"

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

# Objects whose changes the Events API reports: the object type inside an event's
# `data.object`, the event types that carry a new version of it, and those that delete it.
# (`customer.subscription.deleted` cancels a subscription; it stays listable, status canceled.)
EVENTS: dict[str, tuple[str, tuple[str, ...], frozenset[str]]] = {
    "customers": (
        "customer",
        ("customer.created", "customer.updated", "customer.deleted"),
        frozenset({"customer.deleted"}),
    ),
    "subscriptions": (
        "subscription",
        tuple(
            f"customer.subscription.{kind}"
            for kind in (
                "created",
                "updated",
                "deleted",
                "paused",
                "resumed",
                "pending_update_applied",
                "pending_update_expired",
                "trial_will_end",
            )
        ),
        frozenset(),
    ),
    "charges": (
        "charge",
        tuple(
            f"charge.{kind}"
            for kind in ("captured", "expired", "failed", "pending", "refunded", "succeeded", "updated")
        ),
        frozenset(),
    ),
    "invoices": (
        "invoice",
        tuple(
            f"invoice.{kind}"
            for kind in (
                "created",
                "updated",
                "deleted",
                "finalized",
                "finalization_failed",
                "marked_uncollectible",
                "paid",
                "payment_action_required",
                "payment_failed",
                "payment_succeeded",
                "sent",
                "voided",
            )
        ),
        frozenset({"invoice.deleted"}),  # a draft invoice deleted: gone from the API
    ),
}

# List parameters an object needs to list everything (Stripe hides canceled subscriptions by default).
LIST_PARAMS: dict[str, dict[str, str]] = {"subscriptions": {"status": "all"}}


def fields_of(obj: str) -> list[tuple[str, str]]:
    """Typed fields of an object; any other list endpoint gets the common fields only."""
    return _COMMON + OBJECT_FIELDS.get(obj, [])


def object_schema(obj: str, changes: bool = False) -> pa.Schema:
    """An object's columns; ``changes``: with the `updated` and `deleted` columns."""
    fields = [pa.field(name, _KINDS.get(kind, pa.string())) for name, kind in fields_of(obj)]
    if changes:
        fields += [pa.field(UPDATED_COLUMN, TIMESTAMP), pa.field(DELETED_COLUMN, pa.bool_())]
    return pa.schema([*fields, pa.field(RAW_COLUMN, pa.string())])


def _ref(value: Any) -> Any:
    return value.get("id") if isinstance(value, dict) else value


def _seconds_to_us(value: Any) -> Any:
    return value * 1_000_000 if isinstance(value, int) and not isinstance(value, bool) else value


def to_batch(obj: str, items: list[dict[str, Any]], changes: list[tuple[int, bool]] | None = None) -> pa.RecordBatch:
    """One page (or several) of list results, built column by column. ``changes``: per item,
    when its version appeared (unix seconds) and whether it is a deletion."""
    columns: dict[str, pa.Array] = {}
    for name, kind in fields_of(obj):
        values = [item.get(name) for item in items]
        if kind == "ref":
            columns[name] = pa.array([_ref(v) for v in values], pa.string())
        elif kind == "ts":
            columns[name] = pa.array([_seconds_to_us(v) for v in values], pa.int64()).cast(TIMESTAMP)
        else:
            columns[name] = pa.array(values, _KINDS[kind])
    if changes is not None:
        columns[UPDATED_COLUMN] = pa.array([_seconds_to_us(u) for u, _ in changes], pa.int64()).cast(TIMESTAMP)
        columns[DELETED_COLUMN] = pa.array([d for _, d in changes], pa.bool_())
    # sorted keys: the same object always gives the same text
    columns[RAW_COLUMN] = pa.array(
        [json.dumps(item, sort_keys=True, ensure_ascii=False, separators=(",", ":")) for item in items], pa.string()
    )
    return pa.RecordBatch.from_pydict(columns, schema=object_schema(obj, changes is not None))
