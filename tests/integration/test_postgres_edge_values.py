"""PostgreSQL values at the edges, through real runs into Iceberg, each compared with what psycopg
reads from the same rows; and partitions of a keyless table reading one snapshot while an UPDATE
moves rows between the ranges."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest
from pydantic import Field

from dativo_plugins.sql.postgres import PostgresOptions, PostgresReader
from dativo_workers.config.job import load_job
from dativo_workers.config.runner import load_runner
from dativo_workers.errors import DativoError, SourceError
from dativo_workers.ledger import Ledger
from dativo_workers.pipeline import plan_run
from dativo_workers.plugins import Partition, SourceContext
from tests.conftest import Workspace
from tests.integration import test_sql_sources
from tests.integration.test_sql_sources import PG_HOST, PG_PORT, Pg

pytestmark = pytest.mark.integration
pg = test_sql_sources.pg  # a fresh schema per test

EDGE = """
CREATE TYPE {s}.mood AS ENUM ('ok', 'it''s "odd"');
CREATE DOMAIN {s}.positive AS integer CHECK (VALUE > 0);
CREATE DOMAIN {s}.code AS varchar(8);
CREATE TABLE {s}.edge (
    id int PRIMARY KEY,
    a1 int[], a2 int[][], a3 text[], ab int[], ab2 numeric(6,2)[],
    n numeric(10,2), nu numeric(12), nx numeric,
    ts timestamp, tz timestamptz, d date,
    by bytea, e {s}.mood, dp {s}.positive, dc {s}.code,
    tv tsvector, iv interval, tt timetz, jb jsonb, u uuid
);
INSERT INTO {s}.edge VALUES
 (1, '{{1,NULL,-3}}', '{{{{1,2}},{{3,4}}}}', '{{"a\\"b","c,d",NULL,"NULL",""}}', '[2:3]={{7,8}}',
  '[-1:0][5:5]={{{{1.5}},{{NULL}}}}',
  12345678.91, 999999999999, 1e100, '0001-01-01', '0001-01-01 00:00:00+00', '0001-01-01',
  ''::bytea, 'ok', 1, 'abc', 'a fat cat', '1 year 2 mons -3 days 04:05:06.789', '12:00:00+05',
  '{{"k": [1, "ü"], "n": null}}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
 (2, '{{}}', '{{{{NULL,5,6}}}}', '{{}}', '[0:0]={{9}}', NULL,
  'NaN', -1, 'NaN', '9999-12-31 23:59:59.999999', '9999-12-31 23:59:59.999999+00', '9999-12-31',
  '\\x00'::bytea, 'it''s "odd"', 2147483647, '', '', '-00:00:00.000001', '00:00:00-12:34',
  '[]', '00000000-0000-0000-0000-000000000000'),
 (3, NULL, NULL, NULL, NULL, NULL,
  -0.01, 0, 0.000000000000000000000000000001, 'infinity', '-infinity', 'infinity',
  '\\x0000ff'::bytea, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (4, '{{2147483647}}', '{{}}', '{{"{{}}","\\\\"}}', '{{}}', '{{{{-1.25,2}},{{3,NULL}}}}',
  NULL, NULL, '-123456789012345678901234567890.123456789', '1969-12-31 23:59:59.999999',
  '1900-06-15 12:34:56.000001+00', '-infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '-infinity', 'infinity', '1970-01-01',
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
"""
# Iceberg types the edge table maps to
EDGE_TYPES = {
    "a1": "list<int>",
    "a2": "list<list<int>>",
    "a3": "list<string>",
    "ab": "list<int>",
    "ab2": "list<list<decimal(6, 2)>>",
    "n": "decimal(10, 2)",
    "nu": "decimal(12, 0)",
    "nx": "string",
    "ts": "timestamp",
    "tz": "timestamptz",
    "d": "date",
    "by": "binary",
}
AS_TEXT = {"nx", "e", "dc", "tv", "iv", "tt", "jb", "u"}  # the server's text form
TEMPORAL = {"ts", "tz", "d"}
MAX = {"ts": datetime(9999, 12, 31, 23, 59, 59, 999999), "d": date(9999, 12, 31)}
MAX["tz"] = MAX["ts"].replace(tzinfo=UTC)
MIN = {"ts": datetime(1, 1, 1), "d": date(1, 1, 1), "tz": datetime(1, 1, 1, tzinfo=UTC)}


def _job(pg: Pg, ws: Workspace, name: str, options: str = "", bad_rows: str = "quarantine") -> Any:
    return ws.job(
        f"{name}.yaml",
        f"""
        tenant_id: acme
        source:
          connector: postgres
          connection: {{host: {PG_HOST}, port: {PG_PORT}, database: test, user: postgres}}
          tables: [{{name: {pg.schema}.edge}}]
          options: {{{options}}}
        target: {{namespace: acme, table: {name}}}
        retry: {{max_attempts: 1}}
        bad_rows: {{action: {bad_rows}}}
        """,
    )


def _psycopg_rows(pg: Pg) -> dict[int, dict[str, Any]]:
    """Every row as psycopg decodes it; temporal columns as (finite value or None, text)."""
    columns = [
        r[0]
        for r in pg.sql(
            f"SELECT attname FROM pg_attribute WHERE attrelid = '{pg.schema}.edge'::regclass"
            " AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
        )
    ]
    select = []
    for c in columns:
        if c in AS_TEXT:
            select.append(f"{c}::text")
        elif c in TEMPORAL:  # psycopg cannot hold infinity: the finite value, and the text
            select.append(f"CASE WHEN isfinite({c}) THEN {c} END, {c}::text")
        else:
            select.append(c)
    rows = {}
    for values in pg.sql(f"SELECT {', '.join(select)} FROM {pg.schema}.edge"):
        it = iter(values)
        row = {c: (next(it), next(it)) if c in TEMPORAL else next(it) for c in columns}
        rows[row["id"]] = row
    return rows


def _expected(column: str, value: Any, infinity: str) -> Any:
    """What the table holds for a psycopg value, per the documented mapping."""
    if column in TEMPORAL:
        finite, text = value
        if text in ("infinity", "-infinity"):
            if infinity == "null":
                return None
            return MAX[column] if text == "infinity" else MIN[column]
        if column == "tz" and finite is not None:
            return finite.astimezone(UTC)
        return finite
    if column == "by" and value is not None:
        return bytes(value)
    return value


def _compare(got: dict[str, Any], expected_row: dict[str, Any], infinity: str) -> None:
    for column, value in expected_row.items():
        want = _expected(column, value, infinity)
        have = got[column]
        if column == "jb" and want is not None:  # jsonb text is normalised by the server either way
            assert json.loads(have) == json.loads(want), column
        else:
            assert have == want, f"row {expected_row['id']} {column}: {have!r} != {want!r}"


def _quarantined(summary: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for uri in summary["quarantine_files"]:
        rows += pq.read_table(uri.removeprefix("file://")).to_pylist()
    return rows


def test_edge_values_land_as_psycopg_reads_them_infinity_clamped(workspace: Workspace, pg: Pg) -> None:
    pg.sql(EDGE.format(s=pg.schema))
    summary = workspace.run(_job(pg, workspace, "clamped", "infinity: clamp"))
    assert summary["state"] == "committed", summary["error"]
    types = {f.name: str(f.field_type) for f in workspace.table("acme.clamped").schema().fields}
    for column, kind in EDGE_TYPES.items():
        assert types[column] == kind, column

    # NaN has no decimal: its row goes through bad_rows, naming the table and the column
    bad = _quarantined(summary)
    assert summary["bad_rows"] == 1 and [r["id"] for r in bad] == ["2"]
    assert "column 'n'" in bad[0]["_dativo_reason"] and "NaN" in bad[0]["_dativo_reason"]
    assert bad[0]["_dativo_position"].startswith(f"{pg.schema}.edge")

    got = {r["id"]: r for r in workspace.read("acme.clamped").to_pylist()}
    expected = _psycopg_rows(pg)
    assert sorted(got) == [1, 3, 4, 5]
    for key, row in got.items():
        _compare(row, expected[key], "clamp")
    # what the comparison covers, spelled out once
    assert got[1]["a2"] == [[1, 2], [3, 4]] and got[1]["ab"] == [7, 8] and got[1]["ab2"] == [[Decimal("1.5")], [None]]
    assert got[1]["nx"] == "1" + "0" * 100 and got[3]["ts"] == datetime(9999, 12, 31, 23, 59, 59, 999999)


def test_edge_values_infinity_null_and_fail(workspace: Workspace, pg: Pg) -> None:
    pg.sql(EDGE.format(s=pg.schema))
    pg.sql(f"UPDATE {pg.schema}.edge SET n = 1 WHERE id = 2")  # no NaN: only infinity differs
    # no lower bounds either: the typed read (no re-read) nests the 2-D arrays
    pg.sql(f"UPDATE {pg.schema}.edge SET ab = '{{7,8}}', ab2 = '{{{{1.5}},{{NULL}}}}' WHERE id = 1")
    expected = _psycopg_rows(pg)

    nulls = workspace.run(_job(pg, workspace, "nulls", "infinity: null"))
    assert nulls["state"] == "committed" and nulls["bad_rows"] == 0, nulls["error"]
    for row in workspace.read("acme.nulls").to_pylist():
        _compare(row, expected[row["id"]], "null")

    # fail (the default): each row holding infinity is a bad row naming its column
    failed = workspace.run(_job(pg, workspace, "infinite"))
    assert failed["state"] == "committed" and failed["bad_rows"] == 3, failed["error"]
    bad = {int(r["id"]): r for r in _quarantined(failed)}
    assert set(bad) == {3, 4, 5}
    assert bad[3]["ts"] == "infinity" and bad[3]["tz"] == "-infinity" and "column 'ts'" in bad[3]["_dativo_reason"]
    assert bad[4]["d"] == "-infinity" and "column 'd'" in bad[4]["_dativo_reason"]
    assert {r["id"] for r in workspace.read("acme.infinite").to_pylist()} == {1, 2}

    # bad_rows: fail stops the run with the table, row and column
    stopped = workspace.run(_job(pg, workspace, "stopped", bad_rows="fail"))
    assert stopped["state"] == "failed"
    assert f"{pg.schema}.edge" in stopped["error"] and "column 'ts'" in stopped["error"]
    assert "infinity" in stopped["error"]
    assert not workspace.catalog().table_exists("acme.stopped")


def test_array_of_numeric_nan_is_a_bad_row(workspace: Workspace, pg: Pg) -> None:
    pg.sql(EDGE.format(s=pg.schema))
    pg.sql(f"UPDATE {pg.schema}.edge SET n = 1 WHERE id = 2")
    pg.sql(f"UPDATE {pg.schema}.edge SET ab2 = '{{{{1.5}},{{NaN}}}}' WHERE id = 1")
    summary = workspace.run(_job(pg, workspace, "nan_in_array", "infinity: clamp"))
    bad = _quarantined(summary)
    assert [r["id"] for r in bad] == ["1"] and "column 'ab2'" in bad[0]["_dativo_reason"]
    assert bad[0]["ab2"] == "[['1.50'], ['NaN']]"


def test_mixed_array_depths_fail_naming_the_column(
    workspace: Workspace, pg: Pg, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg.sql(f"CREATE TABLE {pg.schema}.edge (id int PRIMARY KEY, a int[])")
    pg.sql(f"INSERT INTO {pg.schema}.edge VALUES (1, '{{1,2}}'), (2, '{{3}}'), (3, '{{{{4,5}},{{6,7}}}}')")
    # the planner sees both depths
    with pytest.raises(DativoError, match=f"{pg.schema}.edge.a holds arrays of 1 and 2 dimensions"):
        workspace.run(_job(pg, workspace, "mixed"))

    # the planner sees 1-D only (rows 1 and 2); the read meets the 2-D row and stops: nothing is
    # flattened, nothing committed
    monkeypatch.setattr("dativo_plugins.sql.postgres.ARRAY_PROBE_ROWS", 2)
    at_read = workspace.run(_job(pg, workspace, "mixed_late"))
    assert at_read["state"] == "failed"
    assert f"{pg.schema}.edge.a" in at_read["error"] and "1 and 2 dimensions" in at_read["error"]
    assert not workspace.catalog().table_exists("acme.mixed_late")


# -- one snapshot for every partition ---------------------------------------------------------------


class MovingOptions(PostgresOptions):
    between_partitions: str = Field(default="", description="SQL run once, before partition 1 is read")


class MovingReader(PostgresReader):
    """Runs an UPDATE after partition 0 was read and before partition 1 is: rows move between
    the ctid ranges while the run reads them."""

    name = "moving_postgres"
    config_model = MovingOptions

    def read(self, partition: Partition, schema: Any) -> Any:
        if partition.index == 1 and self.config.between_partitions:  # type: ignore[attr-defined]
            with psycopg.connect(f"host={PG_HOST} port={PG_PORT} dbname=test user=postgres", autocommit=True) as c:
                c.execute(self.config.between_partitions)  # type: ignore[attr-defined]
        return super().read(partition, schema)


class FleetMovingReader(MovingReader):
    """The same reader as a fleet sees it: no snapshot outlives planning."""

    name = "fleet_moving_postgres"
    supports_snapshots = False


def _heap(pg: Pg, table: str) -> None:
    """A keyless table whose early pages have free space (so an UPDATE can move a row back)."""
    pg.sql(f"CREATE TABLE {pg.schema}.{table} (id int, note text) WITH (autovacuum_enabled = off)")
    pg.sql(f"INSERT INTO {pg.schema}.{table} SELECT g, repeat('x', 60) FROM generate_series(1, 3000) g")
    pg.sql(f"DELETE FROM {pg.schema}.{table} WHERE id <= 160")
    pg.sql(f"VACUUM {pg.schema}.{table}")


# after partition 0 (pages [0, 12)) was read: rows of partition 2's pages move back into the free
# early pages (a read per range misses them), and rows partition 0 read move to the end (read twice)
_MOVES = (
    "UPDATE {t} SET note = 'moved back' WHERE ctid >= '(26,0)' AND ctid < '(29,0)';"
    " UPDATE {t} SET note = 'moved on' WHERE ctid >= '(4,0)' AND ctid < '(10,0)'"
)


def _moving_job(pg: Pg, ws: Workspace, table: str, reader: str, consistency: str = "snapshot") -> Any:
    return ws.job(
        f"{table}.yaml",
        f"""
        tenant_id: acme
        source:
          reader:
            type: plugin
            plugin_path: tests.integration.test_postgres_edge_values.{reader}
            config: {{between_partitions: {json.dumps(_MOVES.format(t=f"{pg.schema}.{table}"))}}}
          connection: {{host: {PG_HOST}, port: {PG_PORT}, database: test, user: postgres}}
          tables: [{{name: {pg.schema}.{table}}}]
          partitioning: {{partitions: 3, consistency: {consistency}}}
        target: {{namespace: acme, table: {table}}}
        retry: {{max_attempts: 1}}
        """,
    )


def _pages(pg: Pg, table: str, note: str) -> list[int]:
    return [
        int(r[0])
        for r in pg.sql(f"SELECT (ctid::text::point)[0]::int FROM {pg.schema}.{table} WHERE note = %s", (note,))
    ]


def test_keyless_partitions_read_one_snapshot_while_rows_move(workspace: Workspace, pg: Pg) -> None:
    _heap(pg, "heap")
    before = {r[0]: r[1] for r in pg.sql(f"SELECT id, note FROM {pg.schema}.heap")}
    summary = workspace.run(_moving_job(pg, workspace, "heap", "MovingReader"))
    assert summary["state"] == "committed", summary["error"]
    specs = [json.loads(p["spec_json"])["spec"] for p in workspace.ledger().partitions(summary["run_id"])]
    assert len(specs) == 3 and len({s["snapshot"] for s in specs}) == 1
    first_end, last_start = specs[0]["pages"][1], specs[2]["pages"][0]
    assert first_end >= 10 and last_start <= 26  # _MOVES takes rows from the first and the last range

    # the UPDATE really moved rows across the ranges while the run read them
    assert any(page < first_end for page in _pages(pg, "heap", "moved back"))  # into a range already read
    assert any(page >= last_start for page in _pages(pg, "heap", "moved on"))  # into a range read later
    rows = workspace.read("acme.heap").to_pylist()
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == len(before)  # each row exactly once
    assert {r["id"]: r["note"] for r in rows} == before  # as of the snapshot: before the UPDATE


def test_without_a_snapshot_keyless_tables_are_one_partition_unless_relaxed(workspace: Workspace, pg: Pg) -> None:
    _heap(pg, "heap")
    runner = load_runner(workspace.runner_file)
    ledger = Ledger(runner.ledger_url)
    job = _moving_job(pg, workspace, "heap", "MovingReader")
    relaxed = _moving_job(pg, workspace, "heap_relaxed", "MovingReader", consistency="relaxed")
    pg.sql(f"CREATE TABLE {pg.schema}.heap_relaxed AS TABLE {pg.schema}.heap")
    # a fleet's producer plans and exits: no snapshot can outlive it
    assert [p.spec for p in plan_run(load_job(job), runner, ledger).partitions] == [{"window": None}]
    split = plan_run(load_job(relaxed), runner, ledger).partitions
    assert len(split) == 3 and not any("snapshot" in p.spec for p in split)

    # relaxed means what the docs say: rows an UPDATE moves between ranges are lost or read twice
    _heap(pg, "fleet")
    before = {r[0] for r in pg.sql(f"SELECT id FROM {pg.schema}.fleet")}
    summary = workspace.run(_moving_job(pg, workspace, "fleet", "FleetMovingReader", consistency="relaxed"))
    assert summary["state"] == "committed", summary["error"]
    ids = [r["id"] for r in workspace.read("acme.fleet").to_pylist()]
    assert len(ids) != len(set(ids)) or set(ids) != before


def test_a_partition_whose_snapshot_is_gone_fails_clearly(workspace: Workspace, pg: Pg) -> None:
    _heap(pg, "heap")
    context = SourceContext(
        base_dir=workspace.root,
        tables=[{"name": f"{pg.schema}.heap"}],
        connection={"host": PG_HOST, "port": PG_PORT, "database": "test", "user": "postgres"},
        planner_lives_for_run=True,
    )
    planner = PostgresReader(PostgresOptions(), context)
    snapshot = planner.export_snapshot()
    planner.close()  # the planner ended: its snapshot with it
    reader = PostgresReader(PostgresOptions(), context)
    spec = {"pages": [0, None], "window": None, "snapshot": snapshot}
    with pytest.raises(SourceError, match=f"{pg.schema}.heap: the run's snapshot .* no longer exists"):
        list(reader.read(Partition(0, spec), None))
    reader.close()
