"""ODCS contracts of every shape the standard's examples take load, and the types they declare
land as declared: zoned timestamps as UTC instants, times and dates from CSV and JSON lines
alike, bad values as bad rows naming file and line. Read back with pyiceberg value by value."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest

from dativo_workers.config.asset import load_asset
from dativo_workers.config.yamlio import load_yaml
from dativo_workers.schema import asset_schema

from ..conftest import Workspace

pytestmark = pytest.mark.integration

CONTRACTS = Path(__file__).resolve().parent.parent / "data" / "odcs"
UTC = dt.UTC

# (file, schema object) -> columns as (name, Iceberg type, required) and the key columns
EXPECTED: dict[tuple[str, str], tuple[list[tuple[str, str, bool]], list[str]]] = {
    ("full_v310.odcs.yaml", "shipments"): (
        [("handed_over_on", "date", False), ("carrier_id", "string", True), ("carrier_region", "string", False)],
        ["carrier_id"],  # primaryKey: true with required: false -> a required key
    ),
    ("full_v310.odcs.yaml", "carriers"): (
        [
            ("id", "string", True),
            ("region", "string", True),
            ("carrier_name", "string", True),
            ("carrier_kind", "string", False),
        ],
        ["id", "region"],
    ),
    ("warehouse_v300.odcs.yaml", "store"): (
        [
            ("storeid", "long", True),
            ("name", "string", False),  # logicalType object over a database domain type: JSON text
            ("phone", "string", False),  # varchar[25]
            ("isflagship", "string", False),
            ("countrycode", "string", False),
            ("openedon", "timestamp", False),  # logicalType date over physicalType timestamp
            ("rowguid", "string", False),
        ],
        ["storeid"],
    ),
    ("warehouse_v300.odcs.yaml", "product"): (
        [
            ("productid", "int", True),
            ("listprice", "decimal(38, 9)", False),
            ("safetystock", "int", False),
            ("photo", "binary", False),
            ("specs", "string", False),
            ("notes", "string", False),
        ],
        ["productid"],
    ),
    ("warehouse_v300.odcs.yaml", "shift"): (
        [
            ("shiftid", "long", True),
            ("starttime", "time", False),
            ("endtime", "time", False),
            ("modifieddate", "timestamp", False),
        ],
        ["shiftid"],
    ),
    ("warehouse_v300.odcs.yaml", "stockmovement"): (
        [
            ("movementid", "long", True),
            ("storeid", "int", False),
            ("quantity", "int", False),
            ("reference", "string", False),
        ],
        ["movementid"],
    ),
    ("all_types_v302.odcs.yaml", "readings_tbl"): (
        [
            ("meter_id", "string", False),
            ("reading_date", "date", False),
            ("read_at", "timestamp", False),
            ("read_at_tz", "timestamptz", False),  # physicalType timestamp, timezone: true
            ("read_time", "time", False),
            ("kwh", "double", False),
            ("phase_count", "int", False),
            ("is_estimated", "boolean", False),
            ("alerts", "list<string>", False),  # an array without items
            ("device_info", "string", False),  # physicalType json
        ],
        [],
    ),
    ("column_examples_v302.odcs.yaml", "invoices"): ([("issued_on", "date", False)], []),
    ("quality_sql_v310.odcs.yaml", "River_Levels"): ([("LevelCm", "float", False)], []),
    ("quality_library_v302.odcs.yaml", "River_Gauges"): ([("GaugeID", "int", True)], ["GaugeID"]),
    ("quality_custom_v310.odcs.yaml", "River_Alerts"): ([("AlertID", "int", True)], ["AlertID"]),
    ("quality_invalid_values_v310.odcs.yaml", "River_Status"): (
        [("section_status", "string", True)],
        ["section_status"],
    ),
    ("nested_objects_v302.odcs.yaml", "deliveries"): (
        [("delivered_on", "date", False), ("parcel_id", "string", True), ("depot_code", "string", False)],
        ["parcel_id"],
    ),
    ("nested_objects_v302.odcs.yaml", "Route"): ([("stops", "list<string>", False)], []),
    ("nested_objects_v302.odcs.yaml", "RoutePlan"): (
        [("legs", "list<struct<3: from_depot: optional string, 4: to_depot: optional string>>", False)],
        [],
    ),
    ("single_column_v302.odcs.yaml", "depots"): ([("depot_code", "string", False)], []),
    ("partitioned_keys_v302.odcs.yaml", "volumes"): (
        [
            ("depot_code", "string", True),
            ("parcel_id", "string", True),
            ("year", "int", False),
            ("weight_kg", "double", False),
        ],
        ["depot_code", "parcel_id"],
    ),
    ("topic_v302.odcs.yaml", "Scans"): (
        [("parcel_id", "string", True), ("depot_code", "string", True), ("sequence", "int", True)],
        [],
    ),
}


def _objects_in(path: Path) -> list[str]:
    return [str(o["name"]) for o in load_yaml(path, core_schema=True).data["schema"]]


def test_every_contract_object_in_the_test_data_is_covered() -> None:
    found = {(p.name, name) for p in CONTRACTS.glob("*.odcs.yaml") for name in _objects_in(p)}
    assert found == set(EXPECTED)


@pytest.mark.parametrize(("file", "name"), sorted(EXPECTED), ids=lambda v: str(v))
def test_every_contract_shape_loads_with_the_declared_types(file: str, name: str) -> None:
    several = len(_objects_in(CONTRACTS / file)) > 1
    asset = load_asset(CONTRACTS / file, name if several else None)
    assert asset.object_name == name
    schema = asset_schema(asset)
    columns, keys = EXPECTED[(file, name)]
    assert [(f.name, str(f.field_type), f.required) for f in schema.fields] == columns
    assert [schema.find_field(i).name for i in schema.identifier_field_ids] == keys


def test_unquoted_dates_in_a_contract_stay_text() -> None:
    asset = load_asset(CONTRACTS / "column_examples_v302.odcs.yaml")
    [prop] = asset.contract.schema_[0].properties
    assert prop.examples == ["2023-04-01", "2024-12-31"]


def test_settled_gaps_are_warned_with_file_and_line() -> None:
    asset = load_asset(CONTRACTS / "all_types_v302.odcs.yaml")
    asset_schema(asset)
    path = CONTRACTS / "all_types_v302.odcs.yaml"
    assert asset.warnings == [
        f"{path}:68: schema[0].properties[8]: array 'alerts' has no `items`: loaded as a list of strings"
    ]
    store = load_asset(CONTRACTS / "warehouse_v300.odcs.yaml", "store")
    asset_schema(store)
    assert [w.split(": ", 2)[2] for w in store.warnings] == [
        "object 'name' has no `properties`: loaded as a string (JSON text)",
        "object 'isflagship' has no `properties`: loaded as a string (JSON text)",
    ]


def test_a_schema_object_is_found_by_physical_name_and_case() -> None:
    assert load_asset(CONTRACTS / "full_v310.odcs.yaml", "carriers_master").object_name == "carriers"
    assert load_asset(CONTRACTS / "quality_sql_v310.odcs.yaml", "river_levels").object_name == "River_Levels"


# --- end to end -----------------------------------------------------------------------------


def _quarantined(summary: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Bad rows by line number: (position, reason)."""
    out = {}
    for path in summary["quarantine_files"]:
        for row in pq.read_table(path.removeprefix("file://")).to_pylist():
            position = row["_dativo_position"]
            out[position.rsplit("line ", 1)[1]] = (position, row["_dativo_reason"])
    return out


ALL_TYPES_JSONL = [
    {
        "meter_id": "MTR0000001",
        "reading_date": "2024-02-29",
        "read_at": "2024-02-29 23:59:59.5",
        "read_at_tz": "2024-03-31T02:30:00+02:00",
        "read_time": "07:05:09.25",
        "kwh": 12.5,
        "phase_count": 3,
        "is_estimated": False,
        "alerts": ["low_voltage", "tamper"],
        "device_info": {"firmware": "4.2", "model": "X1"},
    },
    {
        "meter_id": "MTR0000002",
        "reading_date": "1999-12-31",
        "read_at": "1999-12-31T00:00:00",
        "read_at_tz": "1999-12-31T23:00:00Z",
        "read_time": "23:59",
        "kwh": 0,
        "phase_count": 1,
        "is_estimated": True,
        "alerts": [],
        "device_info": None,
    },
    {"meter_id": "MTR0000003", "read_at_tz": "2024-01-01T00:00:00.000001-05:30", "read_time": "00:00:00"},
    {"meter_id": "BAD-TIME", "read_time": "25:00"},
    {"meter_id": "BAD-NO-ZONE", "read_at_tz": "2024-01-01 10:00:00"},
    {"meter_id": "BAD-DATE", "reading_date": "2024-02-30"},
    {"meter_id": "BAD-ZONE-IN-ZONELESS", "read_at": "2024-01-01T10:00:00+01:00"},
]


def test_jsonl_fills_every_type_of_the_all_types_contract(workspace: Workspace) -> None:
    data = workspace.write("data/readings.jsonl", "".join(json.dumps(r) + "\n" for r in ALL_TYPES_JSONL))
    job = workspace.job(
        "readings.yaml",
        f"""
        tenant_id: acme
        asset_path: {CONTRACTS / "all_types_v302.odcs.yaml"}
        source: {{connector: jsonl, files: [{{path: data/readings.jsonl}}]}}
        target: {{namespace: acme, table: readings}}
        bad_rows: {{action: quarantine, max: 10}}
        """,
    )
    summary = workspace.run(job)
    assert summary["state"] == "committed" and summary["rows"] == 3 and summary["bad_rows"] == 4
    got = {r["meter_id"]: r for r in workspace.read("acme.readings").to_pylist()}
    first, second, third = got["MTR0000001"], got["MTR0000002"], got["MTR0000003"]
    assert json.loads(first.pop("device_info")) == {"firmware": "4.2", "model": "X1"}
    assert first == {
        "meter_id": "MTR0000001",
        "reading_date": dt.date(2024, 2, 29),
        "read_at": dt.datetime(2024, 2, 29, 23, 59, 59, 500000),
        "read_at_tz": dt.datetime(2024, 3, 31, 0, 30, tzinfo=UTC),  # +02:00 -> the same instant in UTC
        "read_time": dt.time(7, 5, 9, 250000),
        "kwh": 12.5,
        "phase_count": 3,
        "is_estimated": False,
        "alerts": ["low_voltage", "tamper"],
    }
    assert second == {
        "meter_id": "MTR0000002",
        "reading_date": dt.date(1999, 12, 31),
        "read_at": dt.datetime(1999, 12, 31),
        "read_at_tz": dt.datetime(1999, 12, 31, 23, tzinfo=UTC),
        "read_time": dt.time(23, 59),
        "kwh": 0.0,
        "phase_count": 1,
        "is_estimated": True,
        "alerts": [],
        "device_info": None,
    }
    assert third["read_at_tz"] == dt.datetime(2024, 1, 1, 5, 30, 0, 1, tzinfo=UTC)
    assert third["read_time"] == dt.time(0, 0) and third["reading_date"] is None and third["alerts"] is None

    bad = _quarantined(summary)
    assert set(bad) == {"4", "5", "6", "7"}
    assert all(position == f"{data}: line {line}" for line, (position, _) in bad.items())
    assert "read_time" in bad["4"][1] and "'25:00'" in bad["4"][1]
    assert "read_at_tz" in bad["5"][1]
    assert "reading_date" in bad["6"][1]
    assert "read_at" in bad["7"][1] and "+01:00" in bad["7"][1]


TEXT_ASSET = """
apiVersion: v3.1.0
kind: DataContract
id: events
version: 1.0.0
status: active
schema:
  - name: events
    properties:
      - {name: id, physicalType: bigint, primaryKey: true}
      - name: at_tz
        logicalType: timestamp
        physicalType: timestamp
        logicalTypeOptions: {timezone: true}
      - {name: at, logicalType: timestamp}
      - {name: t, logicalType: time}
      - {name: d, logicalType: date}
      - {name: amount, physicalType: "decimal(10,2)"}
"""

# id, at_tz, at, t, d, amount (None: no value); lines 2-4 good, 5-10 one bad value each
TEXT_ROWS: list[tuple[Any, ...]] = [
    (1, "2024-06-30T23:30:00+05:30", "2024-06-30T23:30:00", "23:30:00.123456", "2024-06-30", "12.50"),
    (2, "2024-01-01 00:00:00Z", "2024-01-01 00:00:00", "00:00", "1970-01-01", "-0.01"),
    (3, "1969-12-31T16:00:00.5-08:00", None, None, None, None),
    (4, "2024-01-01T00:00:00", None, None, None, None),  # a zoned column needs the zone
    (5, None, "2024-01-01T00:00:00-03:00", None, None, None),  # a zone-less column takes none
    (6, None, None, "24:00:00", None, None),
    (7, None, None, "7:05", None, None),
    (8, None, None, None, "2023-02-29", None),
    (9, None, None, None, None, "1.234"),  # would need rounding
]
TEXT_BAD = {4: "at_tz", 5: "at", 6: "t", 7: "t", 8: "d", 9: "amount"}  # id: column


def _as_csv(rows: list[tuple[Any, ...]]) -> str:
    lines = ["id,at_tz,at,t,d,amount"]
    lines += [",".join("" if v is None else str(v) for v in row) for row in rows]
    return "\n".join(lines) + "\n"


def _as_jsonl(rows: list[tuple[Any, ...]]) -> str:
    names = ["id", "at_tz", "at", "t", "d", "amount"]
    out = []
    for row in rows:
        # amounts are JSON numbers, written with their digits as they are
        items = [f'"{k}": {v if k == "amount" else json.dumps(v)}' for k, v in zip(names, row, strict=True) if v]
        out.append("{" + ", ".join(items) + "}")
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_text_sources_read_zones_times_dates_and_decimals_alike(workspace: Workspace, fmt: str) -> None:
    workspace.write("assets/events.yaml", TEXT_ASSET)
    data = workspace.write(f"data/events.{fmt}", _as_csv(TEXT_ROWS) if fmt == "csv" else _as_jsonl(TEXT_ROWS))
    job = workspace.job(
        "events.yaml",
        f"""
        tenant_id: acme
        asset_path: assets/events.yaml
        source: {{connector: {fmt}, files: [{{path: data/events.{fmt}}}]}}
        target: {{namespace: acme, table: events}}
        bad_rows: {{action: quarantine, max: 10}}
        """,
    )
    summary = workspace.run(job)
    assert summary["state"] == "committed" and (summary["rows"], summary["bad_rows"]) == (3, 6)
    table = workspace.table("acme.events")
    assert str(table.schema().find_field("at_tz").field_type) == "timestamptz"
    assert table.schema().find_field("id").required  # primaryKey without required
    got = {r["id"]: r for r in workspace.read("acme.events").to_pylist()}
    assert got == {
        1: {
            "id": 1,
            "at_tz": dt.datetime(2024, 6, 30, 18, 0, tzinfo=UTC),
            "at": dt.datetime(2024, 6, 30, 23, 30),
            "t": dt.time(23, 30, 0, 123456),
            "d": dt.date(2024, 6, 30),
            "amount": Decimal("12.50"),
        },
        2: {
            "id": 2,
            "at_tz": dt.datetime(2024, 1, 1, tzinfo=UTC),
            "at": dt.datetime(2024, 1, 1),
            "t": dt.time(0, 0),
            "d": dt.date(1970, 1, 1),
            "amount": Decimal("-0.01"),
        },
        3: {"id": 3, "at_tz": dt.datetime(1970, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)}
        | dict.fromkeys(["at", "t", "d", "amount"]),
    }
    bad = _quarantined(summary)
    header = 1 if fmt == "csv" else 0  # row id n is on line n (+1 under a CSV header)
    assert {line: reason.split(":")[0] for line, (_, reason) in bad.items()} == {
        str(row + header): f"column {column!r}" for row, column in TEXT_BAD.items()
    }
    assert all(position == f"{data}: line {line}" for line, (position, _) in bad.items())


def test_csv_job_picks_one_object_of_a_database_contract(workspace: Workspace) -> None:
    workspace.write(
        "data/shift.csv",
        "shiftid,starttime,endtime,modifieddate\n"
        "1,07:00:00,15:00:00,2008-04-30 00:00:00\n"
        "2,23:00,07:00,2008-04-30 00:00:00\n"
        ",15:00:00,23:00:00,2008-04-30 00:00:00\n",
    )
    job = workspace.job(
        "shift.yaml",
        f"""
        tenant_id: acme
        asset_path: {CONTRACTS / "warehouse_v300.odcs.yaml"}#shift
        source: {{connector: csv, files: [{{path: data/shift.csv}}]}}
        target: {{namespace: acme, table: shift}}
        bad_rows: {{action: quarantine, max: 5}}
        """,
    )
    summary = workspace.run(job)
    assert (summary["state"], summary["rows"], summary["bad_rows"]) == ("committed", 2, 1)
    assert sorted(workspace.read("acme.shift").to_pylist(), key=lambda r: r["shiftid"]) == [
        {"shiftid": 1, "starttime": dt.time(7), "endtime": dt.time(15), "modifieddate": dt.datetime(2008, 4, 30)},
        {"shiftid": 2, "starttime": dt.time(23), "endtime": dt.time(7), "modifieddate": dt.datetime(2008, 4, 30)},
    ]
    [(position, reason)] = _quarantined(summary).values()
    assert position.endswith("shift.csv: line 4") and "'shiftid' is required" in reason
    props = workspace.table("acme.shift").properties
    assert props["dativo.asset.id"] == "3f2a9c41-7b0d-4e8e-a1c6-52d9e0b7f4aa"


# --- a multi-table job: each table takes the contract's schema object of its name ----------

PG_HOST = os.environ.get("DATIVO_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("DATIVO_TEST_PG_PORT", "5432"))


@pytest.fixture
def pg_schema() -> Iterator[tuple[psycopg.Connection[Any], str]]:
    schema = f"dativo_c_{uuid.uuid4().hex[:10]}"
    conn = psycopg.connect(f"host={PG_HOST} port={PG_PORT} dbname=test user=postgres", autocommit=True)
    conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield conn, schema
    finally:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.close()


def test_multi_table_job_maps_each_table_to_its_schema_object(
    workspace: Workspace, pg_schema: tuple[psycopg.Connection[Any], str]
) -> None:
    conn, s = pg_schema
    conn.execute(
        f"CREATE TABLE {s}.shipments (handed_over_on date, carrier_id varchar(12) NOT NULL, carrier_region varchar(3))"
    )
    conn.execute(
        f"INSERT INTO {s}.shipments VALUES "
        "('2024-05-01', 'C-1', 'EU'), ('2024-05-02', 'C-2', NULL), (NULL, 'C-1', 'US')"
    )
    conn.execute(
        f"CREATE TABLE {s}.carriers_master (id varchar(12), region varchar(3), carrier_name varchar(200), "
        "carrier_kind varchar(16), PRIMARY KEY (id, region))"
    )
    conn.execute(
        f"INSERT INTO {s}.carriers_master VALUES ('C-1', 'EU', 'Rapid', 'road'), ('C-2', 'US', 'Öxpress', NULL)"
    )
    job = workspace.job(
        "tracking.yaml",
        f"""
        tenant_id: acme
        asset_path: {CONTRACTS / "full_v310.odcs.yaml"}
        source:
          connector: postgres
          connection: {{host: {PG_HOST}, port: {PG_PORT}, database: test, user: postgres}}
          tables: [{{name: {s}.shipments}}, {{name: {s}.carriers_master}}]
        target: {{namespace: acme, table: "{{object}}"}}
        quality: {{on_fail: warn}}  # the contract's error rules (5,000 rows a day, no null region) fail on 3 rows
        """,
    )
    checked = workspace.cli("check", str(job))
    assert checked.code == 0, checked.stdout + checked.stderr
    assert "full_v310.odcs.yaml: 3 columns" in checked.stdout
    result = workspace.cli("run", str(job), "--json")
    assert result.code == 0, result.stderr
    assert [(r["table"], r["rows"], r["state"]) for r in result.json["runs"]] == [
        ("acme.shipments", 3, "committed"),
        ("acme.carriers_master", 2, "committed"),  # found by the schema object's physicalName
    ]
    shipments = workspace.table("acme.shipments")
    assert [(f.name, f.required) for f in shipments.schema().fields] == [
        ("handed_over_on", False),
        ("carrier_id", True),
        ("carrier_region", False),
    ]
    assert shipments.properties["dativo.asset.id"] == "0b6f8a52-3c1e-4d7a-9e55-6a0f2c7d9e11"
    assert sorted(
        workspace.read("acme.shipments").to_pylist(), key=lambda r: (r["carrier_id"], r["carrier_region"] or "")
    ) == [
        {"handed_over_on": dt.date(2024, 5, 1), "carrier_id": "C-1", "carrier_region": "EU"},
        {"handed_over_on": None, "carrier_id": "C-1", "carrier_region": "US"},
        {"handed_over_on": dt.date(2024, 5, 2), "carrier_id": "C-2", "carrier_region": None},
    ]
    carriers = workspace.table("acme.carriers_master").schema()
    assert [carriers.find_field(i).name for i in carriers.identifier_field_ids] == ["id", "region"]
    assert sorted(workspace.read("acme.carriers_master").to_pylist(), key=lambda r: r["id"]) == [
        {"id": "C-1", "region": "EU", "carrier_name": "Rapid", "carrier_kind": "road"},
        {"id": "C-2", "region": "US", "carrier_name": "Öxpress", "carrier_kind": None},
    ]
