"""The stripe reader's planning: created windows, incremental start, settings errors (no HTTP)."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from dativo_plugins.stripe.client import StripeClient
from dativo_plugins.stripe.objects import object_schema, to_batch
from dativo_plugins.stripe.reader import EVENT_RETENTION_SECONDS, StripeOptions, StripeReader, iso, parse_time
from dativo_workers.errors import ConfigError, SourceError
from dativo_workers.plugins import SourceContext
from dativo_workers.plugins.manager import installed_plugins
from dativo_workers.secrets import SecretValue

T0 = 1_700_000_000
DAY = 86_400


def _reader(
    options: dict[str, Any] | None = None,
    *,
    tables: list[str] = ["charges"],  # noqa: B006 - read only
    connection: dict[str, Any] | None = None,
    incremental: dict[str, Any] | None = None,
    state: dict[str, str] | None = None,
) -> StripeReader:
    context = SourceContext(
        base_dir=Path("."),
        tables=[{"name": t} for t in tables],
        connection=connection if connection is not None else {"api_key": SecretValue("sk_test_123")},
        incremental=incremental,
        state=state or {},
    )
    return StripeReader(StripeOptions.model_validate(options or {}), context)


def test_registered_through_the_entry_point() -> None:
    assert ("reader", "stripe") in {(p.kind, p.name) for p in installed_plugins()}


@pytest.mark.parametrize(("span", "window", "count"), [(30 * DAY, "7d", 5), (DAY, "1d", 1), (10 * DAY + 1, "5d", 3)])
def test_windows_cover_the_range_without_gaps_or_overlaps(span: int, window: str, count: int) -> None:
    reader = _reader({"start": T0, "end": T0 + span, "window": window})
    partitions = reader.plan()
    assert len(partitions) == count
    assert [p.index for p in partitions] == list(range(count))
    specs = [p.spec for p in partitions]
    assert specs[0]["gte"] == T0 and specs[-1]["lt"] == T0 + span
    assert all(a["lt"] == b["gte"] for a, b in itertools.pairwise(specs))  # adjacent, half-open
    assert all(s["gte"] < s["lt"] and s["object"] == "charges" for s in specs)
    assert partitions[0].label == f"stripe charges created [{iso(T0)}, {iso(specs[0]['lt'])})"


def test_an_empty_range_plans_one_empty_partition() -> None:
    (partition,) = _reader({"start": T0, "end": T0}).plan()
    assert partition.spec["gte"] == partition.spec["lt"]
    assert list(_reader().read(partition, None)) == []  # no request is made (no server here)


def test_start_and_end_accept_dates_datetimes_and_unix_seconds() -> None:
    assert parse_time(T0, "k") == T0 and parse_time(str(T0), "k") == T0
    assert parse_time(dt.date(2024, 1, 1), "k") == parse_time("2024-01-01", "k") == 1_704_067_200
    assert parse_time("2024-01-01T01:00:00+01:00", "k") == 1_704_067_200
    assert parse_time(dt.datetime(2024, 1, 1, tzinfo=dt.UTC), "k") == 1_704_067_200
    with pytest.raises(ConfigError, match=r"source\.options\.start: 'yesterday'"):
        _reader({"start": "yesterday", "end": T0}).plan()


def test_incremental_starts_at_the_committed_cursor_minus_lookback() -> None:
    incremental = {"cursor_field": "created", "lookback": "1h"}
    state = {"charges.created": iso(T0 + 10 * DAY)}
    reader = _reader({"start": T0, "end": T0 + 20 * DAY}, incremental=incremental, state=state)
    partitions = reader.plan()
    assert partitions[0].spec["gte"] == T0 + 10 * DAY - 3600
    assert reader.planned_state() == {"charges.created": iso(T0 + 20 * DAY)}
    # state of another object does not move this one; no incremental config: no state
    other = _reader({"start": T0, "end": T0 + DAY}, incremental=incremental, state={"customers.created": iso(T0)})
    assert other.plan()[0].spec["gte"] == T0
    plain = _reader({"start": T0, "end": T0 + DAY}, state=state)
    assert plain.plan()[0].spec["gte"] == T0 and plain.planned_state() == {}


def test_the_end_defaults_to_the_planning_time() -> None:
    before = int(dt.datetime.now(dt.UTC).timestamp())
    partitions = _reader({"start": before - DAY}).plan()
    assert before <= partitions[-1].spec["lt"] <= before + 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tables": ["charges", "customers"]}, 'one object per table.*target.table: "{object}"'),
        ({"tables": []}, "name the Stripe object to load"),
        ({"tables": ["Charges!"]}, "is not a Stripe object name"),
        ({"options": {"window": "soon"}}, "source.options.window: 'soon'"),
        ({"incremental": {"cursor_field": "modified"}}, "incremental on 'created' .* or 'updated' .*, not 'modified'"),
        ({"incremental": {"cursor_field": "updated"}}, r"source\.options\.end: not with `cursor_field: updated`"),
        (
            {"incremental": {"cursor_field": "updated"}, "tables": ["payouts"], "options": {"end": None}},
            "Events API, known for customers, subscriptions, charges, invoices, not 'payouts'",
        ),
    ],
)
def test_settings_errors_name_the_key(kwargs: dict[str, Any], message: str) -> None:
    options = {"start": T0, "end": T0 + DAY, **kwargs.pop("options", {})}
    with pytest.raises(ConfigError, match=message):
        _reader(options, **kwargs).plan()


def test_connection_is_validated_and_never_shows_the_key() -> None:
    with pytest.raises(ConfigError) as exc:
        _reader(connection={"api_key": SecretValue("sk_live_secret"), "base_ulr": "http://x"})
    assert "source.connection.base_ulr: unknown setting" in str(exc.value)
    assert "sk_live_secret" not in str(exc.value)
    with pytest.raises(ConfigError, match=r"source\.connection\.api_key: Field required"):
        _reader(connection={})
    reader = _reader(connection={"api_key": SecretValue("sk_live_secret")})
    assert "sk_live_secret" not in repr(reader.connection)


def test_redaction_masks_the_key_and_anything_key_shaped() -> None:
    client = StripeClient("sk_test_abc123", "http://127.0.0.1:9")
    try:
        assert client.redact("bad key sk_test_abc123 and rk_live_ZZZ9 seen") == "bad key *** and *** seen"
    finally:
        client.close()


def test_objects_become_typed_columns_and_raw_json() -> None:
    items = [
        {"id": "in_1", "object": "invoice", "created": T0, "livemode": True, "customer": {"id": "cus_1"},
         "amount_due": 2**40, "period_start": T0 - DAY, "due_date": None, "lines": {"data": [1, 2]}},
        {"id": "in_2", "object": "invoice", "created": T0 + 1, "customer": "cus_2", "amount_due": 0},
    ]  # fmt: skip
    batch = to_batch("invoices", items)
    assert batch.schema == object_schema("invoices")
    assert batch.schema.field("created").type == pa.timestamp("us", "UTC")
    rows = batch.to_pylist()
    assert rows[0]["customer"] == "cus_1" and rows[1]["customer"] == "cus_2"
    assert rows[0]["amount_due"] == 2**40 and rows[1]["livemode"] is None
    assert rows[0]["period_start"] == dt.datetime.fromtimestamp(T0 - DAY, dt.UTC)
    assert rows[0]["raw_json"].startswith('{"amount_due":1099511627776,"created":1700000000,"customer":{"id":"cus_1"}')
    assert object_schema("payouts").names == ["id", "object", "created", "livemode", "raw_json"]


def test_discover_lists_the_typed_objects_with_their_key() -> None:
    found = {o.name: o for o in _reader().discover()}
    assert set(found) == {"customers", "charges", "invoices", "subscriptions"}
    assert all(o.primary_key == ["id"] and o.kind == "object" for o in found.values())
    assert found["charges"].schema is not None and found["charges"].schema.field("amount").type == pa.int64()


def test_updated_lists_objects_first_then_plans_event_windows_from_the_cursor() -> None:
    incremental = {"cursor_field": "updated", "lookback": "10m"}
    first = _reader({"start": T0, "window": "400d"}, tables=["customers"], incremental=incremental)
    listing = first.plan()
    assert listing[0].spec == {"object": "customers", "gte": T0, "lt": listing[0].spec["lt"]}  # created windows
    assert first.schema().names[-3:] == ["updated", "deleted", "raw_json"]
    (cursor,) = first.planned_state().values()
    assert list(first.planned_state()) == ["customers.updated"]
    later = _reader({"start": T0}, tables=["customers"], incremental=incremental, state={"customers.updated": cursor})
    (events,) = later.plan()
    assert events.spec["events"] is True and events.spec["gte"] == parse_time(cursor, "k") - 600
    assert events.label.startswith("stripe customers events [")


def test_updated_cursor_older_than_event_retention_asks_for_a_full_refresh() -> None:
    stale = iso(int(dt.datetime.now(dt.UTC).timestamp()) - EVENT_RETENTION_SECONDS - 60)
    reader = _reader(
        {}, tables=["subscriptions"], incremental={"cursor_field": "updated"}, state={"subscriptions.updated": stale}
    )
    with pytest.raises(
        SourceError,
        match=f"subscriptions.updated = {stale} is older than Stripe's 30-day event retention.*--full-refresh",
    ):
        reader.plan()


def test_changes_add_updated_and_deleted_columns() -> None:
    item = {"id": "cus_1", "object": "customer", "created": T0, "email": "a@example.com"}
    row = to_batch("customers", [item], [(T0 + 5, True)]).to_pylist()[0]
    assert row["updated"] == dt.datetime.fromtimestamp(T0 + 5, dt.UTC) and row["deleted"] is True
    assert to_batch("customers", [item]).schema == object_schema("customers")  # `created` jobs: unchanged
