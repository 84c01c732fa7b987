"""`target.mode: merge`, `--full-refresh`, `dativo state` and `--select` against real PostgreSQL
and MariaDB: after every run the Iceberg table equals the source table, row for row."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration import test_sql_sources
from tests.integration.test_sql_sources import MY_HOST, MY_PORT, PG_HOST, PG_PORT, My, Pg

from ..conftest import CliResult, Workspace, invoke_cli

pg = test_sql_sources.pg  # a fresh schema per test
my = test_sql_sources.my  # a fresh database per test

pytestmark = pytest.mark.integration

ROWS = 50_000
COLUMNS = ("id", "v", "note", "updated_at")


def _items(pg: Pg, rows: int = ROWS) -> None:
    pg.sql(
        f"CREATE TABLE {pg.schema}.items (id bigint PRIMARY KEY, v int, note text,"
        " is_deleted boolean NOT NULL DEFAULT false, updated_at timestamptz NOT NULL)"
    )
    pg.sql(
        f"INSERT INTO {pg.schema}.items SELECT g, g % 1000, 'n' || g, false,"
        f" timestamptz '2024-01-01' + g * interval '1 second' FROM generate_series(1, {rows}) g"
    )
    pg.sql(f"ANALYZE {pg.schema}.items")


def _pg_job(ws: Workspace, pg: Pg, name: str, target: str = "", source: str = "", table: str = "items") -> Path:
    return ws.job(
        f"{name}.yaml",
        f"""
        tenant_id: acme
        name: {name}
        source:
          connector: postgres
          connection: {{host: {PG_HOST}, port: {PG_PORT}, database: test, user: postgres}}
          tables: [{{name: {pg.schema}.{table}}}]
          incremental: {{cursor_field: updated_at}}
          partitioning: {{column: id, partitions: 4}}
        {source}
        target:
          namespace: acme
          table: {name}
          mode: merge
          merge_key: [id]
          delete_marker: {{column: is_deleted, value: true}}
        {target}
        governance_overrides: {{pii_detection: false}}
        retry: {{max_attempts: 1}}
        """,
    )


def _pg_source(pg: Pg, table: str = "items") -> list[tuple[Any, ...]]:
    return pg.sql(f"SELECT {', '.join(COLUMNS)} FROM {pg.schema}.{table} WHERE NOT is_deleted ORDER BY id")


def _iceberg(ws: Workspace, table: str) -> list[tuple[Any, ...]]:
    rows = ws.read(f"acme.{table}").select(list(COLUMNS)).to_pylist()
    return sorted(tuple(r[c] for c in COLUMNS) for r in rows)


def _cli_with_input(ws: Workspace, text: str, *args: str) -> CliResult:
    return invoke_cli(args, ws.root, {"DATIVO_RUNNER_CONFIG": str(ws.runner_file)}, stdin=text)


def _summary(ws: Workspace, table: str) -> dict[str, str]:
    snapshot = ws.table(f"acme.{table}").current_snapshot()
    assert snapshot is not None and snapshot.summary is not None
    return snapshot.summary.additional_properties


def _mutate(pg: Pg, round_: int, seed: float) -> None:
    """2% of the rows updated (random keys), new rows, soft deletes, and rows changed twice."""
    s = pg.schema
    at = f"timestamptz '2030-01-01' + interval '{round_} day'"
    pg.sql(f"SELECT setseed({seed})")
    pg.sql(
        f"UPDATE {s}.items SET v = v + 1, note = 'u{round_}', updated_at = {at} + id * interval '1 ms'"
        f" WHERE id IN (SELECT id FROM {s}.items ORDER BY random() LIMIT {ROWS // 50})"
    )
    top = pg.sql(f"SELECT max(id) FROM {s}.items")[0][0]
    pg.sql(
        f"INSERT INTO {s}.items SELECT g, 7, 'new{round_}', false, {at} + g * interval '1 ms'"
        f" FROM generate_series({top + 1}, {top + 500}) g"
    )
    pg.sql(
        f"UPDATE {s}.items SET is_deleted = true, updated_at = {at} + interval '1 hour'"
        f" WHERE id IN (SELECT id FROM {s}.items WHERE NOT is_deleted ORDER BY random() LIMIT 200)"
    )
    pg.sql(  # changed twice before the run: the source keeps the second change only
        f"UPDATE {s}.items SET note = 'twice', updated_at = {at} + interval '2 hour'"
        f" WHERE id IN (SELECT id FROM {s}.items WHERE note = 'u{round_}' LIMIT 50)"
    )


def test_postgres_merge_runs_keep_the_table_equal_to_the_source(workspace: Workspace, pg: Pg) -> None:
    _items(pg)
    job = _pg_job(workspace, pg, "items")
    first = workspace.run(job)
    assert first["state"] == "committed", first["error"]
    assert _iceberg(workspace, "items") == _pg_source(pg)
    assert len(workspace.table("acme.items").snapshots()) == 1
    for round_ in (1, 2):
        _mutate(pg, round_, seed=0.1 * round_)
        changed = pg.sql(f"SELECT count(*) FROM {pg.schema}.items WHERE updated_at >= '2030-01-0{1 + round_}'")
        summary = workspace.run(job)
        assert summary["state"] == "committed", summary["error"]
        assert summary["rows"] == changed[0][0] > ROWS // 50  # only the changed rows were read
        assert _iceberg(workspace, "items") == _pg_source(pg)
        snapshots = workspace.table("acme.items").snapshots()
        assert len(snapshots) == 1 + round_  # one snapshot per run
        props = _summary(workspace, "items")
        assert props["dativo.run-id"] == summary["run_id"] and int(props["dativo.merge.deleted-keys"]) >= 200
        assert workspace.table("acme.items").refs()[f"run-{summary['run_id']}"].snapshot_id == snapshots[-1].snapshot_id


def test_merge_rewrites_only_files_whose_key_bounds_hold_an_incoming_key(workspace: Workspace, pg: Pg) -> None:
    _items(pg, rows=20_000)
    job = _pg_job(workspace, pg, "clustered")
    assert workspace.run(job)["state"] == "committed"
    before = {task.file.file_path for task in workspace.table("acme.clustered").scan().plan_files()}
    assert len(before) == 4  # one file per id range

    # keys 1..200 all live in the first id range's file
    pg.sql(f"UPDATE {pg.schema}.items SET v = -1, updated_at = '2030-01-01' WHERE id <= 200")
    summary = workspace.run(job)
    assert summary["state"] == "committed", summary["error"]
    props = _summary(workspace, "clustered")
    assert props["dativo.merge.files-rewritten"] == "1" and props["deleted-data-files"] == "1"
    after = {task.file.file_path for task in workspace.table("acme.clustered").scan().plan_files()}
    assert len(before - after) == 1 and len(before & after) == 3  # three files untouched
    assert all(f"/data/{summary['run_id']}/" in path for path in after - before)
    assert _iceberg(workspace, "clustered") == _pg_source(pg)


def test_merge_keeps_the_newest_row_of_a_key_within_one_run(workspace: Workspace, pg: Pg) -> None:
    """A change log read in one run holds a key several times: the newest by merge_order_by wins,
    and a newest row flagged deleted removes the key."""
    s = pg.schema
    pg.sql(f"CREATE TABLE {s}.changes (seq bigint PRIMARY KEY, id bigint, v int, gone boolean, at timestamptz)")
    pg.sql(
        f"INSERT INTO {s}.changes SELECT g, g, 0, false, timestamptz '2024-01-01' + g * interval '1 s'"
        " FROM generate_series(1, 1000) g"
    )
    job = workspace.job(
        "log.yaml",
        f"""
        tenant_id: acme
        name: log
        source:
          connector: postgres
          connection: {{host: {PG_HOST}, port: {PG_PORT}, database: test, user: postgres}}
          tables: [{{name: {s}.changes}}]
          incremental: {{cursor_field: seq}}
          partitioning: {{column: seq, partitions: 3}}
        target:
          namespace: acme
          table: log
          mode: merge
          merge_key: [id]
          merge_order_by: at
          delete_marker: {{column: gone, value: true}}
        governance_overrides: {{pii_detection: false}}
        """,
    )
    assert workspace.run(job)["state"] == "committed"
    # id 5: changed twice (the newer change has the lower seq); id 6: changed, then deleted; id 7:
    # deleted, then re-created; id 2000: new, changed twice
    pg.sql(
        f"INSERT INTO {s}.changes VALUES (1001, 5, 2, false, '2030-01-02'), (1002, 5, 1, false, '2030-01-01'),"
        " (1003, 6, 1, false, '2030-01-01'), (1004, 6, 1, true, '2030-01-02'),"
        " (1005, 7, 0, true, '2030-01-01'), (1006, 7, 3, false, '2030-01-02'),"
        " (1007, 2000, 1, false, '2030-01-01'), (1008, 2000, 2, false, '2030-01-03')"
    )
    summary = workspace.run(job)
    assert summary["state"] == "committed", summary["error"]
    rows = {r["id"]: r for r in workspace.read("acme.log").to_pylist()}
    assert len(rows) == 1000  # 1000 keys - id 6 + id 2000
    assert rows[5]["v"] == 2 and rows[7]["v"] == 3 and rows[2000]["v"] == 2 and 6 not in rows
    props = _summary(workspace, "log")
    assert props["dativo.merge.superseded-rows"] == "4" and props["dativo.merge.deleted-keys"] == "1"


def test_mariadb_merge_runs_keep_the_table_equal_to_the_source(workspace: Workspace, my: My) -> None:
    my.sql(
        "CREATE TABLE items (id bigint PRIMARY KEY, v int, note varchar(40), is_deleted boolean NOT NULL DEFAULT 0,"
        " updated_at datetime(6) NOT NULL)"
    )
    my.sql("SET SESSION max_recursive_iterations = 1000000")
    my.sql(
        f"INSERT INTO items WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {ROWS})"
        " SELECT n, n % 1000, CONCAT('n', n), 0, TIMESTAMPADD(SECOND, n, '2024-01-01') FROM g"
    )
    job = workspace.job(
        "my_items.yaml",
        f"""
        tenant_id: acme
        name: my_items
        source:
          connector: mysql
          connection: {{host: {MY_HOST}, port: {MY_PORT}, database: {my.database}, user: root}}
          tables: [{{name: {my.database}.items}}]
          incremental: {{cursor_field: updated_at}}
          partitioning: {{column: id, partitions: 3}}
        target:
          namespace: acme
          table: my_items
          mode: merge
          merge_key: [id]
          delete_marker: {{column: is_deleted, value: true}}
        governance_overrides: {{pii_detection: false}}
        """,
    )

    def source() -> list[tuple[Any, ...]]:
        return sorted(my.sql("SELECT id, v, note, updated_at FROM items WHERE NOT is_deleted"))

    def table() -> list[tuple[Any, ...]]:
        rows = workspace.read("acme.my_items").select(list(COLUMNS)).to_pylist()
        return sorted(tuple(r[c] for c in COLUMNS) for r in rows)

    assert workspace.run(job)["state"] == "committed"
    assert table() == source()
    for round_ in (1, 2):
        at = f"TIMESTAMPADD(DAY, {round_}, '2030-01-01')"
        my.sql(f"UPDATE items SET v = v + 1, note = 'u{round_}', updated_at = {at} ORDER BY RAND({round_}) LIMIT 1000")
        my.sql(f"INSERT INTO items SELECT id + 100000 * {round_}, 7, 'new', 0, {at} FROM items WHERE id <= 500")
        my.sql(f"UPDATE items SET is_deleted = 1, updated_at = TIMESTAMPADD(HOUR, 1, {at}) WHERE id % 251 = {round_}")
        summary = workspace.run(job)
        assert summary["state"] == "committed", summary["error"]
        assert table() == source()
        assert len(workspace.table("acme.my_items").snapshots()) == 1 + round_


def test_full_refresh_after_hard_deletes_equals_the_source_and_resets_state(workspace: Workspace, pg: Pg) -> None:
    _items(pg, rows=5000)
    job = _pg_job(workspace, pg, "refresh")
    assert workspace.run(job)["state"] == "committed"
    pg.sql(f"DELETE FROM {pg.schema}.items WHERE id % 10 = 0")  # hard deletes: no incremental read sees them
    pg.sql(f"UPDATE {pg.schema}.items SET note = 'late', updated_at = '2030-01-01' WHERE id = 7")
    assert workspace.run(job)["rows"] == 1
    assert len(_iceberg(workspace, "refresh")) == 5000  # the deleted rows are still there

    result = workspace.cli("run", str(job), "--full-refresh", "--json")
    assert result.code == 0, result.stderr
    assert result.json["rows"] == 4500  # everything read again
    assert _iceberg(workspace, "refresh") == _pg_source(pg)
    table = workspace.table("acme.refresh")
    assert len(table.snapshots()) == 3
    props = _summary(workspace, "refresh")
    assert props["deleted-records"] == "5000" and props["dativo.state-reset.acme.refresh"] == result.json["run_id"]
    assert props["dativo.state.acme.refresh.items.updated_at"] == "2030-01-01T00:00:00+00:00"
    assert workspace.run(job)["rows"] == 0  # the refreshed state holds


def test_full_refresh_of_an_append_job_replaces_its_rows(workspace: Workspace, pg: Pg) -> None:
    _items(pg, rows=1000)
    job = workspace.job(
        "plain.yaml",
        f"""
        tenant_id: acme
        source:
          connector: postgres
          connection: {{host: {PG_HOST}, port: {PG_PORT}, database: test, user: postgres}}
          tables: [{{name: {pg.schema}.items}}]
        target: {{namespace: acme, table: plain}}
        governance_overrides: {{pii_detection: false}}
        """,
    )
    assert workspace.run(job)["state"] == "committed"
    pg.sql(f"DELETE FROM {pg.schema}.items WHERE id > 600")
    assert workspace.cli("run", str(job), "--full-refresh").code == 0
    assert _iceberg(workspace, "plain") == _pg_source(pg)
    assert len(workspace.table("acme.plain").snapshots()) == 2


def test_merge_without_a_key_exits_2_naming_file_and_key(workspace: Workspace, pg: Pg) -> None:
    _items(pg, rows=10)
    job = workspace.job(
        "nokey.yaml",
        f"""
        tenant_id: acme
        source:
          connector: postgres
          connection: {{host: {PG_HOST}, port: {PG_PORT}, database: test, user: postgres}}
          tables: [{{name: {pg.schema}.items}}]
        target: {{namespace: acme, table: nokey, mode: merge}}
        """,
    )
    result = workspace.cli("run", str(job))
    assert result.code == 2
    assert str(job) in result.stderr and "target.merge_key" in result.stderr
    assert not workspace.catalog().table_exists("acme.nokey")
    checked = workspace.cli("check", str(job))
    assert checked.code == 2 and "target.merge_key" in checked.stderr

    asset = workspace.write(
        "nokey_asset.yaml",
        """
        apiVersion: v3.0.2
        kind: DataContract
        id: items
        version: 1.0.0
        status: active
        schema:
          - name: items
            properties:
              - {name: id, logicalType: integer, physicalType: bigint, required: true}
              - {name: v, logicalType: integer}
        """,
    )
    job.write_text(job.read_text().replace("tenant_id: acme", f"tenant_id: acme\nasset_path: {asset.name}"))
    result = workspace.cli("run", str(job))
    assert result.code == 2 and "primaryKey" in result.stderr and "target.merge_key" in result.stderr

    job.write_text(job.read_text().replace("mode: merge}", "mode: append, merge_key: [id]}"))
    result = workspace.cli("run", str(job))
    assert result.code == 2 and "merge_key" in result.stderr and "mode: merge" in result.stderr


def test_merge_key_from_the_asset_primary_key(workspace: Workspace, pg: Pg) -> None:
    _items(pg, rows=100)
    asset = workspace.write(
        "items_asset.yaml",
        """
        apiVersion: v3.0.2
        kind: DataContract
        id: items
        version: 1.0.0
        status: active
        schema:
          - name: items
            properties:
              - {name: id, logicalType: integer, physicalType: bigint, required: true, primaryKey: true}
              - {name: v, logicalType: integer}
              - {name: note, logicalType: string}
              - {name: is_deleted, logicalType: boolean}
              - {name: updated_at, logicalType: timestamp, physicalType: timestamptz}
        """,
    )
    job = workspace.job(
        "pk.yaml",
        f"""
        tenant_id: acme
        asset_path: {asset.name}
        source:
          connector: postgres
          connection: {{host: {PG_HOST}, port: {PG_PORT}, database: test, user: postgres}}
          tables: [{{name: {pg.schema}.items}}]
          incremental: {{cursor_field: updated_at}}
        target: {{namespace: acme, table: pk, mode: merge}}
        governance_overrides: {{pii_detection: false}}
        """,
    )
    assert workspace.run(job)["state"] == "committed"
    pg.sql(f"UPDATE {pg.schema}.items SET v = 99, updated_at = '2030-01-01' WHERE id IN (3, 4)")
    assert workspace.run(job)["rows"] == 2
    assert _iceberg(workspace, "pk") == _pg_source(pg)


def test_state_show_and_reset_round_trip(workspace: Workspace, pg: Pg) -> None:
    _items(pg, rows=100)
    job = _pg_job(workspace, pg, "stateful")
    first = workspace.run(job)
    shown = workspace.cli("state", "show", str(job), "--json")
    assert shown.code == 0, shown.stderr
    [entry] = shown.json["state"]
    assert entry["table"] == "acme.stateful" and entry["object"] == "items" and entry["cursor_field"] == "updated_at"
    assert entry["value"] == "2024-01-01T00:01:40+00:00"
    assert entry["run_id"] == first["run_id"] and entry["snapshot_id"] == first["snapshot_id"]
    text = workspace.cli("state", "show", str(job))
    assert text.code == 0 and "2024-01-01T00:01:40+00:00" in text.stdout and first["run_id"] in text.stdout

    snapshots = len(workspace.table("acme.stateful").snapshots())
    declined = _cli_with_input(workspace, "n\n", "state", "reset", str(job), "--to", "2024-01-01T00:01:30+00:00")
    assert declined.code != 0 and len(workspace.table("acme.stateful").snapshots()) == snapshots

    reset = workspace.cli("state", "reset", str(job), "--object", "items", "--to", "2024-01-01T00:01:30+00:00", "--yes")
    assert reset.code == 0, reset.stderr
    table = workspace.table("acme.stateful")
    assert len(table.snapshots()) == snapshots + 1  # a table change of its own, and no data changed
    assert table.scan().to_arrow().num_rows == 100
    [entry] = workspace.cli("state", "show", str(job), "--json").json["state"]
    assert entry["value"] == "2024-01-01T00:01:30+00:00" and entry["run_id"] is None and entry["reset_id"]
    assert entry["snapshot_id"] == table.current_snapshot().snapshot_id
    assert workspace.run(job)["rows"] == 10  # the run reads again from the reset cursor

    cleared = workspace.cli("state", "reset", str(job), "--yes", "--json")
    assert cleared.code == 0, cleared.stderr
    assert workspace.cli("state", "show", str(job), "--json").json["state"] == []
    assert workspace.run(job)["rows"] == 100  # no cursor: everything read (merged: no duplicates)
    assert _iceberg(workspace, "stateful") == _pg_source(pg)

    unknown = workspace.cli("state", "reset", str(job), "--object", "nope", "--to", "1", "--yes")
    assert unknown.code == 2 and "nope" in unknown.stderr


def test_select_runs_only_the_named_objects(workspace: Workspace, pg: Pg) -> None:
    _items(pg, rows=10)
    pg.sql(f"CREATE TABLE {pg.schema}.other (id int PRIMARY KEY)")
    pg.sql(f"INSERT INTO {pg.schema}.other VALUES (1)")
    job = workspace.job(
        "two.yaml",
        f"""
        tenant_id: acme
        source:
          connector: postgres
          connection: {{host: {PG_HOST}, port: {PG_PORT}, database: test, user: postgres}}
          tables: [{{name: {pg.schema}.items}}, {{name: {pg.schema}.other}}]
        target: {{namespace: acme, table: "sel_{{object}}"}}
        governance_overrides: {{pii_detection: false}}
        """,
    )
    result = workspace.cli("run", str(job), "--select", "other", "--json")
    assert result.code == 0, result.stderr
    assert result.json["table"] == "acme.sel_other"
    assert workspace.catalog().table_exists("acme.sel_other")
    assert not workspace.catalog().table_exists("acme.sel_items")
    checked = workspace.cli("check", str(job), "--select", "items", "--json")
    assert checked.code == 0, checked.stderr
    assert "1 partition(s)" in json.dumps(checked.json)
    wrong = workspace.cli("run", str(job), "--select", "items,missing")
    assert wrong.code == 2 and "missing" in wrong.stderr and "other" in wrong.stderr


def test_concurrent_append_during_a_merge_is_replanned_and_exact(
    workspace: Workspace, pg: Pg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer commits while the merge rewrites: the catalog refuses the merge's commit,
    which plans again on the new snapshot (whose new file holds an incoming key)."""
    from dativo_workers import merge

    _items(pg, rows=2000)
    job = _pg_job(workspace, pg, "race")
    assert workspace.run(job)["state"] == "committed"
    pg.sql(f"UPDATE {pg.schema}.items SET v = -5, updated_at = '2030-01-01' WHERE id IN (10, 1500)")

    original = merge.apply_merge
    calls: list[int] = []

    def racing(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if not calls:  # a concurrent writer lands a stale copy of key 10 before the merge commits
            table = workspace.table("acme.race")
            table.append(table.scan(row_filter="id == 10").to_arrow())
        calls.append(1)
        return result

    monkeypatch.setattr(merge, "apply_merge", racing)
    summary = workspace.run(job)
    assert summary["state"] == "committed", summary["error"]
    assert len(calls) == 2  # planned twice: before and after the concurrent append
    assert _iceberg(workspace, "race") == _pg_source(pg)
    assert len(workspace.table("acme.race").snapshots()) == 3  # first run, the other writer, the merge


def test_composite_text_and_date_key_prunes_by_bounds_and_merges_exactly(workspace: Workspace) -> None:
    """A key of a string and a date: files pruned by both columns' bounds, rows matched on both."""
    workspace.write(
        "sales.yaml",
        """
        apiVersion: v3.0.2
        kind: DataContract
        id: sales
        version: 1.0.0
        status: active
        schema:
          - name: sales
            properties:
              - {name: region, logicalType: string, required: true, primaryKey: true}
              - {name: day, logicalType: date, required: true, primaryKey: true}
              - {name: amount, logicalType: integer}
              - {name: gone, logicalType: boolean}
        """,
    )
    days = [f"2024-01-{d:02d}" for d in range(1, 29)]
    first = {(r, d): i for i, (r, d) in enumerate((r, d) for r in ("apac", "emea", "latam") for d in days)}
    for region in ("apac", "emea", "latam"):  # one file each: disjoint region bounds
        rows = "".join(f"{r},{d},{v},false\n" for (r, d), v in first.items() if r == region)
        workspace.write(f"in1/{region}.csv", "region,day,amount,gone\n" + rows)

    def job(folder: str) -> Path:
        return workspace.job(
            "sales_job.yaml",
            f"""
            tenant_id: acme
            name: sales
            asset_path: sales.yaml
            source: {{connector: csv, files: [{{path: "{folder}/*.csv"}}]}}
            target:
              namespace: acme
              table: sales
              mode: merge
              delete_marker: {{column: gone, value: true}}
            governance_overrides: {{pii_detection: false}}
            """,
        )

    assert workspace.run(job("in1"))["state"] == "committed"
    # emea only: two changed days, one deleted, one new day; "emea" also twice in one run (last read wins)
    workspace.write(
        "in2/a.csv",
        "region,day,amount,gone\nemea,2024-01-03,-1,false\nemea,2024-01-04,0,true\nemea,2024-02-01,7,false\n",
    )
    workspace.write("in2/b.csv", "region,day,amount,gone\nemea,2024-01-03,-2,false\n")
    summary = workspace.run(job("in2"))
    assert summary["state"] == "committed", summary["error"]
    expected = dict(first)
    expected[("emea", "2024-01-03")] = -2
    del expected[("emea", "2024-01-04")]
    expected[("emea", "2024-02-01")] = 7
    got = {(r["region"], r["day"].isoformat()): r["amount"] for r in workspace.read("acme.sales").to_pylist()}
    assert got == expected
    props = _summary(workspace, "sales")
    assert props["dativo.merge.files-rewritten"] == "1"  # apac and latam files: bounds exclude "emea"
    assert props["dativo.merge.superseded-rows"] == "1" and props["dativo.merge.deleted-keys"] == "1"


CHANGES_READER = '''
import json
from pathlib import Path

import pyarrow as pa
from dativo_workers.plugins import DataReader
from dativo_workers.plugins.base import Partition


class ChangesReader(DataReader):
    """Rows of a JSON file whose `updated` lies past the committed cursor, in file order."""

    name = "changes"

    def schema(self):
        return pa.schema([("id", pa.int64()), ("v", pa.string()), ("updated", pa.int64()), ("gone", pa.bool_())])

    def _rows(self):
        return json.loads(Path(self.config["path"]).read_text())

    def plan(self):
        self.after = int(self.context.state.get("things.updated", -1))
        self.top = max(r["updated"] for r in self._rows())
        return [Partition(index=0, spec={"after": self.after, "upto": self.top})]

    def planned_state(self):
        return {"things.updated": str(self.top)}

    def read(self, partition, schema):
        after, upto = partition.spec["after"], partition.spec["upto"]
        rows = [r for r in self._rows() if after < r["updated"] <= upto]
        yield pa.Table.from_pylist(rows, schema=self.schema())
'''


def test_plugin_reader_with_a_cursor_merges_by_key_ordered_by_its_cursor(workspace: Workspace) -> None:
    """A plugin that reports a cursor: the next run reads past it, the merge orders a key's rows by
    it (the default `merge_order_by`), flagged rows delete their key."""
    workspace.write("changes_plugin.py", CHANGES_READER)
    source = workspace.root / "things.json"
    rows = [{"id": i, "v": f"a{i}", "updated": i, "gone": False} for i in range(1, 301)]
    source.write_text(json.dumps(rows))
    job = workspace.job(
        "things.yaml",
        f"""
        tenant_id: acme
        name: things
        source:
          reader: {{type: plugin, plugin_path: changes_plugin.ChangesReader, config: {{path: "{source}"}}}}
          incremental: {{cursor_field: updated}}
        target:
          {{namespace: acme, table: things, mode: merge, merge_key: [id], delete_marker: {{column: gone, value: true}}}}
        governance_overrides: {{pii_detection: false}}
        """,
    )

    def expected() -> list[tuple[int, str]]:
        live = {r["id"]: r for r in sorted(json.loads(source.read_text()), key=lambda r: r["updated"])}
        return sorted((i, r["v"]) for i, r in live.items() if not r["gone"])

    def table() -> list[tuple[int, str]]:
        return sorted((r["id"], r["v"]) for r in workspace.read("acme.things").to_pylist())

    first = workspace.run(job)
    assert first["state"] == "committed", first["error"]
    assert table() == expected() and first["rows"] == 300
    # key 7 changes twice, the newer change first in read order: the cursor decides, not the order
    rows += [
        {"id": 7, "v": "newest", "updated": 402, "gone": False},
        {"id": 7, "v": "older", "updated": 401, "gone": False},
        {"id": 8, "v": "b8", "updated": 403, "gone": False},
        {"id": 9, "v": "a9", "updated": 404, "gone": True},
        {"id": 301, "v": "new", "updated": 405, "gone": False},
    ]
    source.write_text(json.dumps(rows))
    second = workspace.run(job)
    assert second["state"] == "committed", second["error"]
    assert second["rows"] == 5  # only the rows past the cursor were read
    assert table() == expected()
    assert dict(table())[7] == "newest" and 9 not in dict(table())
    things = workspace.table("acme.things")
    assert len(things.snapshots()) == 2
    props = things.current_snapshot().summary.additional_properties
    assert props["dativo.state.acme.things.things.updated"] == "405"
    assert props["dativo.merge.superseded-rows"] == "1" and props["dativo.merge.deleted-keys"] == "1"


def _rewrite_on_partitions(workspace: Workspace) -> None:
    """Every touched file rewritten as a partition of the run (none in the committing process)."""
    text = workspace.runner_file.read_text()
    workspace.runner_file.write_text(text.replace("runner:\n", "runner:\n  merge_rewrite_in_process_mb: 0\n", 1))


def test_rewrite_partitions_commit_one_exact_snapshot_around_a_concurrent_append(
    workspace: Workspace, pg: Pg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The touched files are rewritten as partitions of the run (recorded in the ledger, run by the
    pool). After they finish, other writers append a stale copy of a changed key and delete a row
    (pyiceberg rewrites that row's file, one the partitions rewrote): the commit rewrites those two
    new files itself, uses the partitions' files for the others, and loses nor revives no row."""
    from dativo_workers import merge, pipeline

    _items(pg, rows=8000)
    _rewrite_on_partitions(workspace)
    job = _pg_job(workspace, pg, "parted")
    assert workspace.run(job)["state"] == "committed"
    pg.sql(f"UPDATE {pg.schema}.items SET v = -3, updated_at = '2030-01-01' WHERE id % 97 = 0")  # every file
    pg.sql(f"UPDATE {pg.schema}.items SET is_deleted = true, updated_at = '2030-01-01' WHERE id = 4001")

    original = pipeline.prepared_rewrites

    def racing(*args: Any, **kwargs: Any) -> Any:
        table = workspace.table("acme.parted")  # the rewrite partitions are done; the commit is next
        table.append(table.scan(row_filter="id == 97").to_arrow())
        workspace.table("acme.parted").delete("id == 5")  # replaces the file of ids 1-2000
        return original(*args, **kwargs)

    monkeypatch.setattr(pipeline, "prepared_rewrites", racing)
    monkeypatch.setattr(merge, "KEY_GROUP_ROWS", 16)  # each partition reads its rows of several key row groups
    summary = workspace.run(job)
    assert summary["state"] == "committed", summary["error"]
    assert summary["partitions_done"] == summary["partitions_total"] == 4
    rewrites = workspace.ledger().partitions(summary["run_id"])[4:]
    assert len(rewrites) == 4 and all(p["state"] == "done" and "merge_rewrite" in p["spec_json"] for p in rewrites)
    assert _iceberg(workspace, "parted") == [r for r in _pg_source(pg) if r[0] != 5]  # the other writer's delete stands
    assert len(workspace.table("acme.parted").snapshots()) == 4  # first run, the two other writers, the merge
    props = _summary(workspace, "parted")
    assert props["dativo.merge.files-rewritten"] == "5" and props["dativo.partitions"] == "4"
    from dativo_workers.iceberg import run_files

    names = [p.rsplit("/", 1)[-1] for p in run_files(workspace.table("acme.parted"), summary["run_id"])]
    assert sum(n.startswith("merge-") and "-d0" in n for n in names) == 3  # the partitions' files still valid
    live = [t.file.file_path.rsplit("/", 1)[-1] for t in workspace.table("acme.parted").scan().plan_files()]
    assert all(n.startswith(("p0", "merge-")) for n in live)  # the other writers' files were rewritten


@pytest.mark.timeout(240)
def test_workers_killed_in_a_rewrite_partition_and_mid_commit_are_recovered_with_one_exact_snapshot(
    workspace: Workspace, pg: Pg
) -> None:
    """The touched files are rewritten as partitions on a real Celery worker. The worker process
    rewriting one is killed: the partition is redelivered and run again. Then the process
    committing the merge dies mid-commit (its own files written): the commit claim lapses and the
    reconciler commits the run on a worker. The commit uses one winning rewrite per file, the table
    equals the source with one snapshot added, and the dead attempts' files are swept."""
    from dativo_workers.config import load_job, load_runner
    from dativo_workers.iceberg import run_files
    from dativo_workers.producer import submit, wait
    from dativo_workers.tasks import reconcile_task

    from ..conftest import REPO
    from .fleet import Fleet

    pause = workspace.root / "pause-rewrite"
    commit_pause = workspace.root / "pause-commit"
    workspace.write(
        "runner.yaml",
        f"""
        runner:
          ledger_url: sqlite:///{workspace.root}/state/dativo.db
          lease_seconds: 5
          merge_rewrite_in_process_mb: 0
          catalogs:
            default:
              py-catalog-impl: tests.integration.pausing_catalog.PausingCatalog
              pause-file: {commit_pause}
              pause-rewrite-file: {pause}
              uri: sqlite:///{workspace.root}/state/catalog.db
              warehouse: {workspace.root}/state/warehouse
        """,
    )
    fleet = Fleet(
        root=workspace.root,
        runner_file=workspace.runner_file,
        broker_url=os.environ["DATIVO_BROKER_URL"],
        result_backend=os.environ["DATIVO_RESULT_BACKEND"],
        extra_env={"PYTHONPATH": str(REPO)},
    )
    fleet.flush()
    try:
        fleet.start_worker()
        _items(pg, rows=8000)
        job = load_job(_pg_job(workspace, pg, "rewritten"))
        runner = load_runner(workspace.runner_file)
        ledger = workspace.ledger()
        assert wait(submit(job, runner, ledger, None), ledger, timeout_s=90)["state"] == "committed"

        pg.sql(f"UPDATE {pg.schema}.items SET v = -3, updated_at = '2030-01-01' WHERE id % 97 = 0")  # every file
        pg.sql(f"UPDATE {pg.schema}.items SET is_deleted = true, updated_at = '2030-01-01' WHERE id = 4001")
        pause.write_text("60")
        run_id = submit(job, runner, ledger, None)
        pid_file = Path(f"{pause}.pid")
        for _ in range(600):
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.1)
        assert pid_file.exists(), "no rewrite partition started"
        commit_pause.write_text("60")  # no commit before this rewrite partition is done
        os.kill(int(pid_file.read_text()), signal.SIGKILL)  # the pool process in a rewrite partition

        commit_pid = Path(f"{commit_pause}.pid")
        for _ in range(600):
            if commit_pid.exists() and commit_pid.read_text():
                break
            time.sleep(0.1)
        assert commit_pid.exists(), "the merge never reached its commit"
        os.kill(int(commit_pid.read_text()), signal.SIGKILL)  # the pool process committing the merge
        assert list((workspace.state / f"warehouse/acme/rewritten/data/{run_id}").rglob("merge-*-i*.parquet"))

        summary = wait(run_id, ledger, timeout_s=5)
        deadline = time.monotonic() + 120
        while summary["state"] != "committed" and time.monotonic() < deadline:
            time.sleep(5.5)  # past the lease: the dead committer's claim has lapsed
            reconcile_task.delay().get(timeout=60)  # on the worker, like beat would
            summary = wait(run_id, ledger, timeout_s=1)
        assert summary["state"] == "committed", summary
        rewrites = ledger.partitions(run_id)[4:]
    finally:
        fleet.stop()
        fleet.flush()
    assert len(rewrites) == 4 and all(p["state"] == "done" for p in rewrites)
    assert max(p["attempts"] for p in rewrites) >= 2  # the killed one ran again
    assert _iceberg(workspace, "rewritten") == _pg_source(pg)
    table = workspace.table("acme.rewritten")
    assert len(table.snapshots()) == 2
    names = [p.rsplit("/", 1)[-1] for p in run_files(table, run_id)]
    assert sum(n.startswith("merge-") and "-d0" in n for n in names) == 4  # one rewrite per touched file
    on_disk = {p.as_uri() for p in (workspace.state / f"warehouse/acme/rewritten/data/{run_id}").rglob("*.parquet")}
    assert {p.replace("file:///", "file:/") for p in on_disk} == {
        p.replace("file:///", "file:/") for p in run_files(table, run_id) if f"/{run_id}/" in p
    }  # the dead attempts' files and the key files were swept; what the snapshot references stays
