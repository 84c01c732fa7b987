"""Issue #17 item 4: the schema-change report of a run (summary, --json, snapshot summary, a
warning line) and the refusal of a run whose source lost a column the asset requires."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField, StringType

from dativo_workers.config.asset import Column
from dativo_workers.errors import SchemaChangeError
from dativo_workers.schema_report import snapshot_properties, source_columns, warning_fields

from ..conftest import Workspace

pytestmark = pytest.mark.integration

JOB = """
tenant_id: acme
name: sr
asset_path: assets/sr.yaml
source:
  connector: csv
  files: [{path: data/a.csv}]
target:
  namespace: acme
  table: sr
"""


def _asset(ws: Workspace, properties: str) -> Path:
    lines = "\n".join(f"              - {p}" for p in properties.strip().splitlines())
    return ws.write(
        "assets/sr.yaml",
        f"""
        apiVersion: v3.0.2
        kind: DataContract
        id: sr
        version: 1.0.0
        status: active
        schema:
          - name: sr
            properties:
{lines}
        """,
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())


def test_second_run_reports_added_dropped_widened_and_ignored_columns(workspace: Workspace) -> None:
    ws = workspace
    ws.write("data/a.csv", "id,a,b,c\n1,10,x,old\n")
    _asset(
        ws,
        """
        {name: id, physicalType: bigint, required: true}
        {name: a, physicalType: int}
        {name: b, physicalType: varchar}
        {name: c, physicalType: varchar}
        """,
    )
    job = ws.job("job.yaml", JOB)
    first = ws.cli("run", str(job), "--json")
    assert first.code == 0, first.stderr
    assert first.json["schema_changes"]["created"] and first.json["schema_changes"]["ignored"] == []
    assert "schema changed" not in first.stderr  # a new table with every column the source brings: no warning
    created = ws.table("acme.sr").current_snapshot().summary.additional_properties
    assert not any(k.startswith("dativo.schema.") for k in created)

    # the source loses c (the asset still declares it), brings d (the asset now too) and extra
    # (the asset does not), and a widens to bigint
    ws.write("data/a.csv", "id,a,b,d,extra\n2,3000000000,y,new,zzz\n")
    _asset(
        ws,
        """
        {name: id, physicalType: bigint, required: true}
        {name: a, physicalType: bigint}
        {name: b, physicalType: varchar}
        {name: c, physicalType: varchar}
        {name: d, physicalType: varchar}
        """,
    )
    check = ws.cli("check", str(job), "--json")  # what the next run would change
    assert check.code == 0, check.stdout
    detail = next(c for c in check.json["checks"] if c["name"] == "schema")["detail"]
    assert "ignores extra (string)" in detail and "c no longer in the source" in detail

    text = ws.cli("run", str(job))
    assert text.code == 0, text.stderr
    schema_line = next(line for line in text.stdout.splitlines() if line.startswith("schema"))
    for fragment in (
        "adds d (string)",
        "widens a int -> long",
        "c no longer in the source (kept, null in new rows)",
        "ignores extra (string): in the source, not in the asset",
    ):
        assert fragment in schema_line, (fragment, schema_line)
    warning = next(line for line in text.stderr.splitlines() if "schema changed" in line)
    assert "warning" in warning.lower()
    for fragment in ("dropped=['c']", "ignored=['extra']", "type_changed=['a:int->long']", "table=acme.sr"):
        assert fragment in warning, (fragment, warning)

    run_id = ws.ledger().list_runs("acme", limit=1)[0]["run_id"]
    status = ws.cli("status", run_id, "--json")
    assert status.code == 0
    assert status.json["schema_changes"] == {
        "created": False,
        "added": [{"column": "d", "type": "string"}],
        "dropped": [{"column": "c", "type": "string"}],
        "type_changed": [{"column": "a", "from": "int", "to": "long"}],
        "cast": [],
        "rejected": [],
        "ignored": [{"column": "extra", "type": "string"}],
    }
    table = ws.table("acme.sr")
    summary = table.current_snapshot().summary.additional_properties
    assert summary["dativo.run-id"] == run_id
    assert {k: v for k, v in summary.items() if k.startswith("dativo.schema.")} == {
        "dativo.schema.added": "d",
        "dativo.schema.dropped": "c",
        "dativo.schema.type-changed": "a:int->long",
        "dativo.schema.ignored": "extra",
    }
    assert [f.name for f in table.schema().fields] == ["id", "a", "b", "c", "d"]  # extra is not loaded
    assert ws.read("acme.sr", sort_by="id").to_pylist() == [
        {"id": 1, "a": 10, "b": "x", "c": "old", "d": None},
        {"id": 2, "a": 3000000000, "b": "y", "c": None, "d": "new"},
    ]


def test_a_required_column_the_source_lost_fails_the_run_before_anything_is_written(workspace: Workspace) -> None:
    ws = workspace
    ws.write("data/a.csv", "id,c\n1,old\n")
    asset = _asset(ws, "{name: id, physicalType: bigint}\n{name: c, physicalType: varchar, required: true}")
    job = ws.job("job.yaml", JOB)
    assert ws.cli("run", str(job)).code == 0
    before = ws.table("acme.sr")
    snapshots = len(before.snapshots())

    ws.write("data/a.csv", "id\n2\n")
    check = ws.cli("check", str(job), "--json")
    assert check.code == 2
    failed = next(c for c in check.json["checks"] if c["name"] == "schema")
    assert not failed["ok"] and "'c'" in failed["detail"] and "required: true" in failed["detail"]
    text = ws.cli("run", str(job))
    assert text.code == 2, text.stderr
    assert "Traceback" not in text.stderr
    message = _one_line(text.stderr)
    for fragment in ("job.yaml", "'c'", "acme.sr", str(asset), "required: true", "nothing was written"):
        assert fragment in message, (fragment, message)

    result = ws.cli("run", str(job), "--json")
    assert result.code == 2
    summary = result.json
    assert summary["state"] == "failed" and summary["snapshot_id"] is None and summary["partitions_total"] == 0
    assert "'c'" in summary["error"]
    assert summary["schema_changes"]["rejected"] == [{"column": "c", "table_type": "string", "source_type": None}]
    assert summary["schema_changes"]["dropped"] == [{"column": "c", "type": "string"}]
    after = ws.table("acme.sr")
    assert len(after.snapshots()) == snapshots and after.metadata_location == before.metadata_location
    run_dirs = ws.state / "warehouse" / "acme" / "sr" / "data"
    assert not any(summary["run_id"] in str(p) for p in run_dirs.rglob("*"))
    assert ws.ledger().run(summary["run_id"])["state"] == "failed"


def test_a_sampled_source_schema_reports_ignored_but_never_drops() -> None:
    table = Schema(NestedField(1, "id", LongType(), required=True), NestedField(2, "c", StringType(), required=True))

    class _Asset:
        path = Path("assets/x.yaml")
        columns = [Column(name="id", required=True), Column(name="c", required=True)]

    brought = pa.schema([("id", pa.int64()), ("x", pa.float64())])
    changes = {"created": False, "added": [], "dropped": [], "type_changed": [], "cast": [], "rejected": []}
    # a sample (JSON lines' first block) that lacks c: c may still come later
    sampled = source_columns(changes, table, _Asset(), brought, True, "acme.x")  # type: ignore[arg-type]
    assert sampled["dropped"] == [] and sampled["ignored"] == [{"column": "x", "type": "double"}]
    with pytest.raises(SchemaChangeError, match="'c'"):
        source_columns(changes, table, _Asset(), brought, False, "acme.x")  # type: ignore[arg-type]
    assert snapshot_properties(None) == {} and warning_fields(changes) is None
    created = {**changes, "created": True, "added": [{"column": "id", "type": "long"}]}
    assert snapshot_properties(created) == {}  # a new table's columns are not listed as added
