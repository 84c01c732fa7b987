"""End to end on the embedded executor: real files, real SQLite catalog, read back with pyiceberg."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from dativo_workers import executor
from dativo_workers.config import load_runner
from dativo_workers.ingest import ingest_partition
from dativo_workers.pipeline import commit_run

from ..conftest import Workspace

pytestmark = pytest.mark.integration

ROUNDTRIP_ASSET = """
apiVersion: v3.0.2
kind: DataContract
id: people
name: people
version: 2.1.0
status: active
team:
  - username: owner@acme.com
    role: owner
schema:
  - name: people
    properties:
      - {name: id, physicalType: bigint, required: true, primaryKey: true}
      - {name: name, logicalType: string, classification: pii}
      - {name: note, logicalType: string}
      - {name: big, physicalType: "decimal(38,0)"}
      - {name: lng, physicalType: bigint}
      - {name: amount, physicalType: "decimal(10,2)"}
      - {name: active, logicalType: boolean}
      - {name: day, logicalType: date}
"""

ROUNDTRIP_CSV = (
    "id,name,note,big,lng,amount,active,day\n"
    '1,"Smith, John","He said ""hi""",12345678901234567890123456789012345678,'
    "9223372036854775807,12.50,true,2024-01-31\n"
    '2,"multi\nline\nname",,-99999999999999999999999999999999999999,-9223372036854775808,-0.01,false,1970-01-01\n'
    '3,Zoë 北京 🚀,"",0,0,,,\n'
    '4,"",x;y|z,1,1,99999999.99,true,2999-12-31\n'
)

EXPECTED = [
    {
        "id": 1,
        "name": "Smith, John",
        "note": 'He said "hi"',
        "big": Decimal("12345678901234567890123456789012345678"),
        "lng": 9223372036854775807,
        "amount": Decimal("12.50"),
        "active": True,
        "day": dt.date(2024, 1, 31),
    },
    {
        "id": 2,
        "name": "multi\nline\nname",
        "note": None,
        "big": Decimal("-99999999999999999999999999999999999999"),
        "lng": -9223372036854775808,
        "amount": Decimal("-0.01"),
        "active": False,
        "day": dt.date(1970, 1, 1),
    },
    {
        "id": 3,
        "name": "Zoë 北京 🚀",
        "note": "",
        "big": Decimal(0),
        "lng": 0,
        "amount": None,
        "active": None,
        "day": None,
    },
    {
        "id": 4,
        "name": "",
        "note": "x;y|z",
        "big": Decimal(1),
        "lng": 1,
        "amount": Decimal("99999999.99"),
        "active": True,
        "day": dt.date(2999, 12, 31),
    },
]


def _csv_job(
    ws: Workspace,
    name: str,
    files: str,
    *,
    asset: str | None = "assets/people.yaml",
    options: str = "{}",
    extra: str = "",
    mode: str = "append",
    table: str | None = None,
) -> Path:
    lines = [
        "tenant_id: acme",
        f"name: {name}",
        f"asset_path: {asset}" if asset else "",
        f"source: {{connector: csv, files: {files}, options: {options}}}",
        f"target: {{namespace: acme, table: {table or name}, mode: {mode}}}",
        extra,
    ]
    return ws.job(f"{name}.yaml", "\n".join(lines) + "\n")


def test_csv_round_trips_value_for_value(workspace: Workspace) -> None:
    workspace.write("assets/people.yaml", ROUNDTRIP_ASSET)
    workspace.write("data/people.csv", ROUNDTRIP_CSV)
    job = _csv_job(
        workspace,
        "people",
        "[{path: data/people.csv}]",
        options="{newlines_in_values: true}",
        extra="classification_overrides: {note: sensitive}\nfinops: {cost_center: cc-1}",
    )
    summary = workspace.run(job)
    assert summary["state"] == "committed", summary
    assert summary["rows"] == 4 and summary["bad_rows"] == 0
    table = workspace.table("acme.people")
    assert table.scan().to_arrow().sort_by("id").to_pylist() == EXPECTED
    schema = table.schema()
    assert schema.find_field("id").required and schema.identifier_field_ids == [schema.find_field("id").field_id]
    assert str(schema.find_field("big").field_type) == "decimal(38, 0)"
    props = table.properties
    assert props["dativo.classification.name"] == "PII"
    assert props["dativo.classification.note"] == "SENSITIVE"
    assert props["dativo.governance.owner"] == "owner@acme.com"
    assert props["dativo.finops.cost_center"] == "cc-1"
    assert props["dativo.asset.id"] == "people" and props["dativo.asset.version"] == "2.1.0"
    assert props["dativo.tenant"] == "acme"
    assert "PII" in (schema.find_field("name").doc or "")


def test_inferred_schema_keeps_huge_integers_exact(workspace: Workspace) -> None:
    workspace.write("data/n.csv", "id,big\n1,12345678901234567890123\n2,-5\n")
    summary = workspace.run(_csv_job(workspace, "nums", "[{path: data/n.csv}]", asset=None))
    assert summary["state"] == "committed", summary
    rows = workspace.read("acme.nums", "id").to_pylist()
    assert [int(r["big"]) for r in rows] == [12345678901234567890123, -5]


def _big_csv(path: Path, rows: int) -> None:
    ids = pa.array(range(rows), pa.int64())
    names = pa.array([f"name {i}, with comma" for i in range(rows)])
    amounts = pa.array([i * 0.25 for i in range(rows)], pa.float64())
    path.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(pa.table({"id": ids, "name": names, "amount": amounts}), path)


def test_split_and_glob_give_the_same_table_as_one_partition(workspace: Workspace) -> None:
    _big_csv(workspace.root / "data/all.csv", 120_000)
    # the same rows as three files for the glob
    full = pacsv.read_csv(workspace.root / "data/all.csv")
    (workspace.root / "data/parts").mkdir()
    for i in range(3):
        pacsv.write_csv(full.slice(i * 40_000, 40_000), workspace.root / f"data/parts/part-{i}.csv")

    one = workspace.run(_csv_job(workspace, "single", "[{path: data/all.csv}]", asset=None))
    split = workspace.run(_split_job(workspace), workers=2)
    globbed = workspace.run(_csv_job(workspace, "globbed", "[{path: 'data/parts/*.csv'}]", asset=None))

    assert one["partitions_total"] == 1
    assert split["partitions_total"] >= 3, split
    assert globbed["partitions_total"] == 3
    expected = workspace.read("acme.single", "id")
    assert expected.num_rows == 120_000
    for name in ("split", "globbed"):
        got = workspace.read(f"acme.{name}", "id")
        assert got.equals(expected), name


def _split_job(ws: Workspace) -> Path:
    return ws.job(
        "split.yaml",
        """
        tenant_id: acme
        source:
          connector: csv
          files: [{path: data/all.csv}]
          partitioning: {target_mb: 1}
        target: {namespace: acme, table: split}
        """,
    )


def test_runs_inside_shared_pools_reuse_the_worker_processes(workspace: Workspace) -> None:
    """`dativo run` of a job of many tables: the runs share one pool, started once."""
    for name in ("a", "b"):
        workspace.write(f"data/{name}.csv", "id,v\n" + "".join(f"{i},{name}\n" for i in range(4)))
        workspace.write(f"data/{name}2.csv", "id,v\n" + "".join(f"{i},{name}\n" for i in range(4, 8)))
    jobs = [_csv_job(workspace, n, f"[{{path: 'data/{n}*.csv'}}]", asset=None) for n in ("a", "b")]
    with executor.shared_pools():
        first = workspace.run(jobs[0], workers=2)
        (pool,) = executor._shared_pools.values()  # type: ignore[union-attr]
        processes = set(pool._processes)  # type: ignore[attr-defined]
        second = workspace.run(jobs[1], workers=2)
        assert list(executor._shared_pools.values()) == [pool]  # type: ignore[union-attr]
        assert set(pool._processes) == processes and processes  # type: ignore[attr-defined]
    assert executor._shared_pools is None and not pool._processes  # type: ignore[attr-defined]
    assert first["partitions_total"] == second["partitions_total"] == 2
    for name in ("a", "b"):
        assert workspace.read(f"acme.{name}", "id").column("v").to_pylist() == [name] * 8


def test_each_run_adds_one_tagged_snapshot_and_recommit_is_a_noop(workspace: Workspace) -> None:
    workspace.write("data/a.csv", "id,v\n1,a\n2,b\n")
    job = _csv_job(workspace, "snap", "[{path: data/a.csv}]", asset=None)
    first = workspace.run(job)
    second = workspace.run(job)
    table = workspace.table("acme.snap")
    snapshots = table.snapshots()
    assert len(snapshots) == 2
    for summary, snapshot in zip((first, second), snapshots, strict=True):
        assert snapshot.snapshot_id == summary["snapshot_id"]
        assert snapshot.summary["dativo.run-id"] == summary["run_id"]
        assert snapshot.summary["dativo.rows"] == "2"
        assert table.refs()[f"run-{summary['run_id']}"].snapshot_id == snapshot.snapshot_id
    assert table.scan().to_arrow().num_rows == 4

    runner = load_runner(workspace.runner_file)
    again = commit_run(second["run_id"], runner)
    assert again["snapshot_id"] == second["snapshot_id"]
    # A commit whose ledger update was lost (crash after the catalog commit) is found by run id.
    ledger = workspace.ledger()
    assert ledger.set_run_state(second["run_id"], "running", expected=("committed",), snapshot_id=None)
    recovered = commit_run(second["run_id"], runner, ledger)
    assert recovered["state"] == "committed" and recovered["snapshot_id"] == second["snapshot_id"]
    assert len(workspace.table("acme.snap").snapshots()) == 2


def test_redelivered_partition_contributes_one_fragment_set(workspace: Workspace) -> None:
    workspace.write("data/a.csv", "id,v\n1,a\n2,b\n3,c\n")
    job = _csv_job(workspace, "dup", "[{path: data/a.csv}]", asset=None)
    from dativo_workers.config import load_job
    from dativo_workers.pipeline import plan_run

    runner = load_runner(workspace.runner_file)
    ledger = workspace.ledger()
    planned = plan_run(load_job(job), runner, ledger)
    stale_attempt = ledger.start_attempt(planned.run_id, 0)  # a worker that started, then vanished
    assert stale_attempt == 1
    first = ingest_partition(planned.run_id, 0, runner, ledger)  # the redelivery wins
    assert first["status"] == "done" and first["attempt"] == 2
    again = ingest_partition(planned.run_id, 0, runner, ledger)  # a duplicate after it finished
    assert again["status"] == "done" and again["reason"] == "already done"
    # the vanished worker comes back and tries to record its own fragments: refused
    from dativo_workers.ledger import Fragment

    assert not ledger.finish_partition(planned.run_id, 0, stale_attempt, [Fragment("data", "x", 3, 1)], 0)
    summary = commit_run(planned.run_id, runner, ledger)
    assert summary["rows"] == 3 and summary["files"] == 1
    assert workspace.read("acme.dup").num_rows == 3


def test_overwrite_leaves_exactly_the_new_rows(workspace: Workspace) -> None:
    workspace.write("data/a.csv", "id,v\n1,a\n2,b\n3,c\n")
    workspace.write("data/b.csv", "id,v\n10,x\n11,y\n")
    workspace.run(_csv_job(workspace, "ow1", "[{path: data/a.csv}]", asset=None, table="ow"))
    summary = workspace.run(
        _csv_job(workspace, "ow2", "[{path: data/b.csv}]", asset=None, table="ow", mode="overwrite")
    )
    assert summary["state"] == "committed"
    table = workspace.table("acme.ow")
    assert table.scan().to_arrow().sort_by("id").to_pylist() == [{"id": 10, "v": "x"}, {"id": 11, "v": "y"}]
    assert len(table.snapshots()) == 2
    assert table.current_snapshot().summary.operation.value == "overwrite"


BAD_ASSET = """
apiVersion: v3.0.2
kind: DataContract
id: orders
version: 1.0.0
status: active
schema:
  - name: orders
    properties:
      - {name: id, physicalType: bigint, required: true}
      - {name: qty, physicalType: int, required: true}
      - {name: day, logicalType: date}
"""
BAD_CSV = "id,qty,day\n1,10,2024-01-01\n2,abc,2024-01-02\n3,,2024-01-03\n4,40,2024-13-45\n5,50,2024-01-05\n"


@pytest.mark.parametrize("action", ["quarantine", "skip"])
def test_bad_rows_are_counted_and_quarantined_with_reason(workspace: Workspace, action: str) -> None:
    workspace.write("assets/orders.yaml", BAD_ASSET)
    workspace.write("data/orders.csv", BAD_CSV)
    job = _csv_job(
        workspace,
        "orders",
        "[{path: data/orders.csv}]",
        asset="assets/orders.yaml",
        extra=f"bad_rows: {{action: {action}, max: 10}}",
    )
    result = workspace.cli("run", str(job), "--json")
    assert result.code == 1, result.stderr
    summary = result.json
    assert summary["state"] == "committed" and summary["bad_rows"] == 3 and summary["rows"] == 2
    assert sorted(r["id"] for r in workspace.read("acme.orders").to_pylist()) == [1, 5]
    if action == "skip":
        assert summary["quarantine_files"] == []
        return
    [path] = summary["quarantine_files"]
    bad = pq.read_table(path.removeprefix("file://")).to_pylist()
    by_id = {r["id"]: r for r in bad}
    assert set(by_id) == {"2", "3", "4"}
    assert "qty" in by_id["2"]["_dativo_reason"] and "'abc'" in by_id["2"]["_dativo_reason"]
    assert "required" in by_id["3"]["_dativo_reason"]
    assert "day" in by_id["4"]["_dativo_reason"]
    assert by_id["2"]["_dativo_position"].endswith("orders.csv: line 3")
    assert by_id["4"]["_dativo_position"].endswith("orders.csv: line 5")


def test_bad_row_under_fail_fails_the_run_and_commits_nothing(workspace: Workspace) -> None:
    workspace.write("assets/orders.yaml", BAD_ASSET)
    workspace.write("data/orders.csv", BAD_CSV)
    job = _csv_job(
        workspace, "orders", "[{path: data/orders.csv}]", asset="assets/orders.yaml", extra="bad_rows: {action: fail}"
    )
    result = workspace.cli("run", str(job), "--json")
    assert result.code == 2
    summary = result.json
    assert summary["state"] == "failed" and summary["snapshot_id"] is None
    assert "orders.csv: line 3" in summary["error"] and "'abc'" in summary["error"]
    assert not workspace.catalog().table_exists("acme.orders")
    data_dir = workspace.state / "warehouse/acme/orders/data"
    assert not data_dir.exists() or not any(data_dir.rglob("*.parquet"))


def test_bad_rows_over_max_fail_the_run(workspace: Workspace) -> None:
    workspace.write("assets/orders.yaml", BAD_ASSET)
    workspace.write("data/orders.csv", BAD_CSV)
    job = _csv_job(
        workspace,
        "orders",
        "[{path: data/orders.csv}]",
        asset="assets/orders.yaml",
        extra="bad_rows: {action: quarantine, max: 2}",
    )
    summary = workspace.run(job)
    assert summary["state"] == "failed" and "bad_rows.max=2" in summary["error"]
    assert not workspace.catalog().table_exists("acme.orders")


def test_jsonl_and_parquet_sources(workspace: Workspace) -> None:
    rows = [{"id": i, "tags": ["a", "b"][: i % 3], "ok": i % 2 == 0, "name": f"n{i}"} for i in range(50)]
    workspace.write("data/events.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    pq.write_table(pa.Table.from_pylist(rows), workspace.root / "data/events.parquet", row_group_size=10)
    for connector, path in (("jsonl", "data/events.jsonl"), ("parquet", "data/events.parquet")):
        job = workspace.job(
            f"{connector}.yaml",
            f"""
            tenant_id: acme
            source: {{connector: {connector}, files: [{{path: {path}}}]}}
            target: {{namespace: acme, table: events_{connector}}}
            """,
        )
        summary = workspace.run(job)
        assert summary["state"] == "committed", summary
        assert workspace.read(f"acme.events_{connector}", "id").to_pylist() == rows


def test_partition_by_day_and_schema_evolution(workspace: Workspace) -> None:
    workspace.write("data/a.csv", "id,ts\n1,2024-01-01T10:00:00Z\n2,2024-01-02T11:00:00Z\n3,2024-01-02T12:00:00Z\n")
    workspace.write("data/b.csv", "id,ts,extra\n4,2024-01-03T10:00:00Z,new\n")
    extra = "partition_by: [{field: ts, transform: day}]"
    for name, path in (("ev1", "data/a.csv"), ("ev2", "data/b.csv")):
        workspace.job(
            f"{name}.yaml",
            f"""
            tenant_id: acme
            source: {{connector: csv, files: [{{path: {path}}}]}}
            target: {{namespace: acme, table: events, {extra}}}
            """,
        )
        assert workspace.run(workspace.root / f"{name}.yaml")["state"] == "committed"
    table = workspace.table("acme.events")
    assert [f.name for f in table.spec().fields] == ["ts_day"]
    rows = table.scan().to_arrow().sort_by("id").to_pylist()
    assert [r["extra"] for r in rows] == [None, None, None, "new"]
    day_dirs = {p.name for p in (workspace.state / "warehouse/acme/events/data").rglob("ts_day=*")}
    assert day_dirs == {"ts_day=2024-01-01", "ts_day=2024-01-02", "ts_day=2024-01-03"}
    jan2 = table.scan(row_filter="ts >= '2024-01-02T00:00:00+00:00' and ts < '2024-01-03T00:00:00+00:00'")
    assert sorted(r["id"] for r in jan2.to_arrow().to_pylist()) == [2, 3]


def test_fragments_roll_over_at_file_size_mb(workspace: Workspace) -> None:
    _big_csv(workspace.root / "data/big.csv", 1_200_000)  # about 3 MB of Parquet
    job = _csv_job(workspace, "rolled", "[{path: data/big.csv}]", asset=None)
    job.write_text(job.read_text().replace("mode: append}", "mode: append, file_size_mb: 1}"))
    summary = workspace.run(job)
    assert summary["state"] == "committed" and summary["partitions_total"] == 1
    files = sorted((workspace.state / "warehouse/acme/rolled/data").rglob("*.parquet"))
    assert len(files) == summary["files"] >= 3
    assert all(f.stat().st_size < 2 * 1024 * 1024 for f in files)
    assert workspace.read("acme.rolled").num_rows == 1_200_000


FLAKY_READER = """
import pyarrow as pa
from pathlib import Path
from dativo_workers.plugins import DataReader, PluginSettings


class Settings(PluginSettings):
    fail_times: int = 1
    error: str = "connection"


class FlakyReader(DataReader):
    name = "flaky"
    config_model = Settings

    def schema(self):
        return pa.schema([("id", pa.int64())])

    def read(self, partition, schema):
        marker = self.context.base_dir / "attempts.txt"
        seen = int(marker.read_text()) if marker.exists() else 0
        marker.write_text(str(seen + 1))
        yield pa.table({"id": [1, 2, 3]})  # every attempt gets this far: a failed one has written output
        if seen < self.config.fail_times:
            if self.config.error == "connection":
                raise ConnectionResetError(104, "Connection reset by peer")
            raise PermissionError("password authentication failed")
        yield pa.table({"id": [4, 5, 6]})
"""


def _only_referenced_files(ws: Workspace) -> None:
    """No file of a failed attempt is left beside the table's (or at all, without a table)."""
    on_disk = {str(p) for p in (ws.state / "warehouse").rglob("*.parquet")}
    referenced = set()
    if ws.catalog().table_exists("acme.flaky"):
        referenced = {t.file.file_path.removeprefix("file://") for t in ws.table("acme.flaky").scan().plan_files()}
    assert on_disk == referenced, sorted(on_disk - referenced)


def _flaky_job(ws: Workspace, error: str, fail_times: int) -> Path:
    ws.write("flaky.py", FLAKY_READER)
    return ws.job(
        "flaky.yaml",
        f"""
        tenant_id: acme
        source:
          reader: {{type: plugin, plugin_path: flaky.FlakyReader, config: {{fail_times: {fail_times}, error: {error}}}}}
        target: {{namespace: acme, table: flaky}}
        retry: {{max_attempts: 3, backoff_seconds: 0.05, max_backoff_seconds: 0.1}}
        governance_overrides: {{pii_detection: false}}  # no planning-time sample read: attempts stay countable
        """,
    )


def test_transient_errors_are_retried_with_backoff(workspace: Workspace) -> None:
    summary = workspace.run(_flaky_job(workspace, "connection", fail_times=2))
    assert summary["state"] == "committed", summary
    assert sorted(workspace.read("acme.flaky").column("id").to_pylist()) == [1, 2, 3, 4, 5, 6]  # once each
    [partition] = workspace.ledger().partitions(summary["run_id"])
    assert partition["attempts"] == 3 and partition["winning_attempt"] == 3
    _only_referenced_files(workspace)


def test_transient_errors_give_up_after_max_attempts(workspace: Workspace) -> None:
    summary = workspace.run(_flaky_job(workspace, "connection", fail_times=5))
    assert summary["state"] == "failed" and "ConnectionResetError" in summary["error"]
    assert workspace.ledger().partitions(summary["run_id"])[0]["attempts"] == 3
    _only_referenced_files(workspace)


def test_permanent_errors_fail_at_once(workspace: Workspace) -> None:
    summary = workspace.run(_flaky_job(workspace, "auth", fail_times=1))
    assert summary["state"] == "failed" and "password authentication failed" in summary["error"]
    assert workspace.ledger().partitions(summary["run_id"])[0]["attempts"] == 1
    assert not workspace.catalog().table_exists("acme.flaky")
    _only_referenced_files(workspace)
