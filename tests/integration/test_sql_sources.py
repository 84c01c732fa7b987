"""PostgreSQL and MariaDB sources against the real servers on this machine: every type value
for value, partitioned == single read, incremental state in the snapshot, failures that
change nothing, hostile names, and errors that say what to fix."""

from __future__ import annotations

import json
import os
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pymysql
import pytest

from tests.conftest import Workspace

pytestmark = pytest.mark.integration

PG_HOST, PG_PORT = (
    os.environ.get("DATIVO_TEST_PG_HOST", "127.0.0.1"),
    int(os.environ.get("DATIVO_TEST_PG_PORT", "5432")),
)
MY_HOST, MY_PORT = (
    os.environ.get("DATIVO_TEST_MYSQL_HOST", "127.0.0.1"),
    int(os.environ.get("DATIVO_TEST_MYSQL_PORT", "3306")),
)


@dataclass
class Pg:
    conn: psycopg.Connection[Any]
    schema: str

    def sql(self, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def job(self, ws: Workspace, name: str, source_extra: str = "", table: str | None = None) -> Any:
        """A job reading `table` (default: `name`) of this schema; `source_extra`: more source keys."""
        lines = [
            "tenant_id: acme",
            "source:",
            "  connector: postgres",
            f"  connection: {{host: {PG_HOST}, port: {PG_PORT}, database: test, user: postgres}}",
        ]
        if table != "":
            lines.append(f"  tables: [{{name: {json.dumps(f'{self.schema}.{table or name}')}}}]")
        lines += [line for line in source_extra.splitlines() if line.strip()]
        lines += [f"target: {{namespace: acme, table: {name}}}", "retry: {max_attempts: 1}"]
        return ws.job(f"{name}.yaml", "\n".join(lines) + "\n")


@dataclass
class My:
    conn: pymysql.connections.Connection
    database: str

    def sql(self, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(statement, params)
            return list(cur.fetchall())

    def job(self, ws: Workspace, name: str, source_extra: str = "", user: str = "root", password: str = "") -> Any:
        secret = f", password: {json.dumps(password)}" if password else ""
        return ws.job(
            f"{name}.yaml",
            f"""
            tenant_id: acme
            source:
              connector: mysql
              connection: {{host: {MY_HOST}, port: {MY_PORT}, database: {self.database}, user: {user}{secret}}}
              tables: [{{name: {self.database}.{name}}}]
            {source_extra}
            target: {{namespace: acme, table: {name}}}
            retry: {{max_attempts: 1}}
            """,
        )


@pytest.fixture
def pg() -> Iterator[Pg]:
    schema = f"dativo_t_{uuid.uuid4().hex[:10]}"
    conn = psycopg.connect(f"host={PG_HOST} port={PG_PORT} dbname=test user=postgres", autocommit=True)
    conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield Pg(conn, schema)
    finally:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.close()


@pytest.fixture
def my() -> Iterator[My]:
    database = f"dativo_t_{uuid.uuid4().hex[:10]}"
    conn = pymysql.connect(host=MY_HOST, port=MY_PORT, user="root", password="", autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{database}`")
    conn.select_db(database)
    try:
        yield My(conn, database)
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE `{database}`")
        conn.close()


def rows_by_id(ws: Workspace, table: str) -> dict[Any, dict[str, Any]]:
    return {row["id"]: row for row in ws.read(table).to_pylist()}


# -- PostgreSQL ----------------------------------------------------------------------------------

PG_TYPES = """
CREATE TYPE {s}.mood AS ENUM ('happy', 'sad', 'ünïcode');
CREATE TABLE {s}.every_type (
    id bigint PRIMARY KEY, i2 smallint, i4 integer, i8 bigint, dec numeric(20,4), dec38 numeric(38,10),
    num numeric, r real, d double precision, b boolean, c char(4), v varchar(20), t text, by bytea,
    dt date, tm time, ts timestamp, tz timestamptz, u uuid, j json, jb jsonb, ints integer[], texts text[],
    decs numeric(10,2)[], e {s}.mood, iv interval
);
INSERT INTO {s}.every_type VALUES
 (1, -32768, -2147483648, -9223372036854775808, -9999999999999999.9999, 1234567890123456789012345678.0123456789,
  1.000000000000000000000000000001, -3.4e38, 1.7976931348623157e308, true, 'ab', 'héllo wörld', '日本語 ✓ 🎉',
  '\\x00ff10'::bytea, '0001-01-01', '00:00:00', '0001-01-01 00:00:00', '1970-01-01 00:00:00+14',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{{"a": [1, "ü"]}}', '{{"b": {{"c": null}}}}', '{{1,NULL,-3}}',
  '{{"x","","ÿ"}}', '{{1.25,NULL}}', 'ünïcode', '-1 year 2 days 03:04:05.678'),
 (2, 32767, 2147483647, 9223372036854775807, 9999999999999999.9999, -0.0000000001, 0, 1.17549e-38, -0.0, false,
  'wxyz', '', E'line\\nbreak\\ttab "quote"', ''::bytea, '9999-12-31', '23:59:59.999999', '9999-12-31 23:59:59.999999',
  '2262-04-11 23:47:16.854775+00', '00000000-0000-0000-0000-000000000000', '[]', '[]', '{{}}', '{{}}', '{{}}',
  'sad', '0'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL);
"""


def test_postgres_every_type_round_trips_value_for_value(workspace: Workspace, pg: Pg) -> None:
    pg.sql(PG_TYPES.format(s=pg.schema))
    summary = workspace.run(pg.job(workspace, "every_type"))
    assert summary["state"] == "committed", summary["error"]
    assert summary["rows"] == 3

    table = workspace.table("acme.every_type")
    types = {f.name: str(f.field_type) for f in table.schema().fields}
    assert types["dec"] == "decimal(20, 4)" and types["dec38"] == "decimal(38, 10)"  # exact, never float
    assert types["tz"] == "timestamptz" and types["ts"] == "timestamp"
    assert types["by"] == "binary" and types["ints"].startswith("list<int") and types["decs"].startswith("list<dec")
    got = rows_by_id(workspace, "acme.every_type")

    # psycopg decodes every value independently of our read path
    columns = [
        r[0]
        for r in pg.sql(
            f"SELECT attname FROM pg_attribute WHERE attrelid = '{pg.schema}.every_type'::regclass"
            " AND attnum > 0 ORDER BY attnum"
        )
    ]
    as_text = {"num", "u", "j", "jb", "e", "iv"}  # no fixed Iceberg type: exact text
    select = ", ".join(f"{c}::text" if c in as_text else c for c in columns)
    for values in pg.sql(f"SELECT {select} FROM {pg.schema}.every_type"):
        expected = dict(zip(columns, values, strict=True))
        actual = got[expected["id"]]
        for column, value in expected.items():
            if column == "jb" and value is not None:  # jsonb text is normalised by the server either way
                assert json.loads(actual[column]) == json.loads(value)
            elif column == "by" and value is not None:
                assert actual[column] == bytes(value)
            elif column == "tz" and value is not None:
                assert actual[column] == value.astimezone(UTC), column
            elif column == "r" and value is not None:  # the same float32, printed shortest by the server
                assert struct.pack("f", actual[column]) == struct.pack("f", value)
            else:
                assert actual[column] == value, f"{column}: {actual[column]!r} != {value!r}"
    assert got[1]["num"] == "1.000000000000000000000000000001"
    assert got[1]["dec38"] == Decimal("1234567890123456789012345678.0123456789")
    assert got[1]["tz"] == datetime(1969, 12, 31, 10, 0, tzinfo=UTC)
    assert got[1]["ints"] == [1, None, -3] and got[1]["decs"] == [Decimal("1.25"), None]
    assert all(v is None for k, v in got[3].items() if k != "id")


def test_postgres_unmappable_type_is_an_error_naming_table_and_column(workspace: Workspace, pg: Pg) -> None:
    pg.sql(f"CREATE TYPE {pg.schema}.pair AS (a int, b text)")
    pg.sql(f"CREATE TABLE {pg.schema}.odd (id int, p {pg.schema}.pair)")
    pg.sql(f"INSERT INTO {pg.schema}.odd VALUES (1, ROW(1, 'x'))")
    result = workspace.cli("run", str(pg.job(workspace, "odd")))
    assert result.code == 2
    assert f"{pg.schema}.odd.p" in result.stderr and "source.query" in result.stderr
    assert not workspace.catalog().table_exists("acme.odd")


def _orders(pg: Pg, rows: int = 5000, with_pk: bool = True) -> None:
    pk = "PRIMARY KEY" if with_pk else ""
    pg.sql(f"CREATE TABLE {pg.schema}.orders (id bigint {pk}, amount numeric(12,2), note text, updated_at timestamptz)")
    pg.sql(
        f"INSERT INTO {pg.schema}.orders SELECT g, g * 1.25, 'n' || g,"
        f" timestamptz '2024-01-01' + g * interval '1 minute' FROM generate_series(1, {rows}) g"
    )


def test_postgres_partitioned_read_equals_single_read(workspace: Workspace, pg: Pg) -> None:
    _orders(pg)
    pg.sql(f"CREATE TABLE {pg.schema}.heap AS SELECT * FROM {pg.schema}.orders")  # no key: ctid pages
    pg.sql(f"INSERT INTO {pg.schema}.heap VALUES (NULL, 1, 'null key', NULL)")
    pg.sql(f"ANALYZE {pg.schema}.heap")
    single = workspace.run(pg.job(workspace, "single", table="orders"))
    by_key = workspace.run(
        pg.job(workspace, "by_key", table="orders", source_extra="  partitioning: {column: id, partitions: 4}")
    )
    by_ts = workspace.run(
        pg.job(workspace, "by_ts", table="heap", source_extra="  partitioning: {column: updated_at, partitions: 3}")
    )
    by_ctid = workspace.run(pg.job(workspace, "by_ctid", table="heap", source_extra="  partitioning: {partitions: 3}"))
    # a keyed table without a chosen column, in one snapshot: page slices (sequential scans), not key ranges
    by_pages = workspace.run(
        pg.job(workspace, "by_pages", table="orders", source_extra="  partitioning: {partitions: 3}")
    )
    assert by_key["partitions_total"] == 4 and by_ts["partitions_total"] == 3 and by_ctid["partitions_total"] == 3
    assert by_pages["partitions_total"] == 3
    specs = [json.loads(p["spec_json"])["spec"] for p in workspace.ledger().partitions(by_pages["run_id"])]
    assert [("pages" in spec, "key" in spec) for spec in specs] == [(True, False)] * 3, specs
    specs = [json.loads(p["spec_json"])["spec"] for p in workspace.ledger().partitions(by_key["run_id"])]
    assert all(spec.get("key") == "id" for spec in specs), specs  # the chosen column keeps its ranges
    reference = sorted(workspace.read("acme.single").to_pylist(), key=lambda r: r["id"])
    assert len(reference) == 5000 == single["rows"]
    assert sorted(workspace.read("acme.by_key").to_pylist(), key=lambda r: r["id"]) == reference
    assert sorted(workspace.read("acme.by_pages").to_pylist(), key=lambda r: r["id"]) == reference
    with_null = sorted([*reference, {"id": None, "amount": Decimal("1.00"), "note": "null key", "updated_at": None}],
                       key=lambda r: (r["id"] is not None, r["id"] or 0))  # fmt: skip
    for name in ("acme.by_ts", "acme.by_ctid"):
        got = sorted(workspace.read(name).to_pylist(), key=lambda r: (r["id"] is not None, r["id"] or 0))
        assert got == with_null, name


def _state(ws: Workspace, table: str) -> dict[str, str]:
    snapshot = ws.table(table).current_snapshot()
    assert snapshot is not None
    return {k: v for k, v in snapshot.summary.additional_properties.items() if k.startswith("dativo.state.")}


def test_postgres_incremental_appends_new_rows_and_advances_state(workspace: Workspace, pg: Pg) -> None:
    _orders(pg, rows=1000)
    job = pg.job(
        workspace,
        "orders",
        source_extra="  incremental: {cursor_field: updated_at}\n  partitioning: {column: id, partitions: 3}",
    )
    first = workspace.run(job)
    assert first["rows"] == 1000
    key = "dativo.state.acme.orders.orders.updated_at"  # tenant, job, object, cursor
    assert _state(workspace, "acme.orders") == {key: "2024-01-01T16:40:00+00:00"}

    pg.sql(f"INSERT INTO {pg.schema}.orders SELECT g, 1, 'new', timestamptz '2024-02-01' + g * interval '1 second'"
           " FROM generate_series(1001, 1003) g")  # fmt: skip
    pg.sql(f"UPDATE {pg.schema}.orders SET note = 'changed', updated_at = '2024-03-01' WHERE id IN (5, 6)")
    second = workspace.run(job)
    assert second["state"] == "committed" and second["rows"] == 5
    appended = workspace.table("acme.orders").scan(snapshot_id=second["snapshot_id"]).to_arrow()
    assert appended.num_rows == 1005
    new = [r for r in appended.to_pylist() if r["note"] in ("new", "changed")]
    assert sorted(r["id"] for r in new) == [5, 6, 1001, 1002, 1003]
    assert _state(workspace, "acme.orders") == {key: "2024-03-01T00:00:00+00:00"}

    third = workspace.run(job)  # nothing new: nothing read, state kept
    assert third["rows"] == 0 and _state(workspace, "acme.orders")[key].startswith("2024-03-01")

    lookback = pg.job(workspace, "orders", source_extra="  incremental: {cursor_field: updated_at, lookback: 1d}")
    assert workspace.run(lookback)["rows"] == 2  # the two rows updated within a day of the state


def test_postgres_failed_run_leaves_table_and_state_unchanged(workspace: Workspace, pg: Pg) -> None:
    _orders(pg, rows=300)
    pg.sql(f"CREATE TABLE {pg.schema}.poison (id bigint PRIMARY KEY, divisor int)")
    pg.sql(f"INSERT INTO {pg.schema}.poison SELECT g, 1 FROM generate_series(1, 400) g")
    query = (
        f"SELECT o.id, o.note, o.updated_at, 100 / p.divisor AS ratio FROM {pg.schema}.orders o"
        f" JOIN {pg.schema}.poison p ON p.id = o.id"
    )
    job = pg.job(
        workspace,
        "ratios",
        table="",
        source_extra=f"  query: {json.dumps(query)}\n  incremental: {{cursor_field: updated_at}}",
    )
    assert workspace.run(job)["rows"] == 300
    table = workspace.table("acme.ratios")
    before_snapshot, before_state = table.current_snapshot().snapshot_id, _state(workspace, "acme.ratios")

    pg.sql(f"INSERT INTO {pg.schema}.orders SELECT g, 1, 'late', '2025-01-01' FROM generate_series(301, 310) g")
    pg.sql(f"UPDATE {pg.schema}.poison SET divisor = 0 WHERE id = 305")  # the read fails midway
    failed = workspace.run(job)
    assert failed["state"] == "failed" and "division by zero" in failed["error"]
    assert workspace.table("acme.ratios").current_snapshot().snapshot_id == before_snapshot
    assert _state(workspace, "acme.ratios") == before_state
    assert workspace.read("acme.ratios").num_rows == 300

    pg.sql(f"UPDATE {pg.schema}.poison SET divisor = 1 WHERE id = 305")
    fixed = workspace.run(job)
    assert fixed["rows"] == 10 and _state(workspace, "acme.ratios") == {
        "dativo.state.acme.ratios.query.updated_at": "2025-01-01T00:00:00+00:00"
    }


def test_hostile_table_names_are_quoted_not_executed(workspace: Workspace, pg: Pg, my: My) -> None:
    hostile = 'x"; DROP TABLE victim; --'
    pg.sql(f"CREATE TABLE {pg.schema}.victim (id int)")
    pg.sql(f'CREATE TABLE {pg.schema}."{hostile.replace(chr(34), chr(34) * 2)}" (id int, "we""ird col" text)')
    pg.sql(f"INSERT INTO {pg.schema}.\"{hostile.replace(chr(34), chr(34) * 2)}\" VALUES (1, 'ok')")
    job = pg.job(workspace, "hostile", table=hostile)
    summary = workspace.run(job)
    assert summary["rows"] == 1 and workspace.read("acme.hostile").to_pylist() == [{"id": 1, 'we"ird col': "ok"}]
    assert pg.sql(f"SELECT to_regclass('{pg.schema}.victim') IS NOT NULL") == [(True,)]

    my_hostile = "y`; DROP TABLE victim; --"
    my.sql("CREATE TABLE victim (id int)")
    my.sql(f"CREATE TABLE `{my_hostile.replace('`', '``')}` (id int)")
    my.sql(f"INSERT INTO `{my_hostile.replace('`', '``')}` VALUES (7)")
    job = workspace.job(
        "my_hostile.yaml",
        f"""
        tenant_id: acme
        source:
          connector: mysql
          connection: {{host: {MY_HOST}, port: {MY_PORT}, database: {my.database}, user: root}}
          tables: [{{name: {json.dumps(my.database + "." + my_hostile)}}}]
        target: {{namespace: acme, table: my_hostile}}
        """,
    )
    assert workspace.run(job)["rows"] == 1
    assert my.sql("SHOW TABLES LIKE 'victim'") == [("victim",)]


def test_postgres_multi_table_job_discover_and_check(workspace: Workspace, pg: Pg) -> None:
    _orders(pg, rows=10)
    pg.sql(f"CREATE TABLE {pg.schema}.customers (id int PRIMARY KEY, email text)")
    pg.sql(f"INSERT INTO {pg.schema}.customers VALUES (1, 'a@x.io'), (2, 'b@x.io')")
    pg.sql(f"ANALYZE {pg.schema}.customers")
    job = workspace.job(
        "many.yaml",
        f"""
        tenant_id: acme
        source:
          connector: postgres
          connection: {{host: {PG_HOST}, port: {PG_PORT}, database: test, user: postgres}}
          tables: [{{name: {pg.schema}.orders}}, {{name: {pg.schema}.customers, object: people}}]
        target: {{namespace: acme, table: "crm_{{object}}"}}
        """,
    )
    result = workspace.cli("run", str(job), "--json")
    assert result.code == 0, result.stderr
    runs = result.json["runs"]
    assert [(r["table"], r["rows"], r["state"]) for r in runs] == [
        ("acme.crm_orders", 10, "committed"),
        ("acme.crm_people", 2, "committed"),
    ]
    found = workspace.cli("discover", str(job), "--json").json
    mine = {o["name"]: o for o in found["objects"] if o["name"].startswith(pg.schema)}
    assert mine[f"{pg.schema}.customers"]["primary_key"] == ["id"]
    assert mine[f"{pg.schema}.customers"]["row_estimate"] == 2
    assert [c["name"] for c in mine[f"{pg.schema}.customers"]["columns"]] == ["id", "email"]
    assert mine[f"{pg.schema}.orders"]["columns"][1] == {
        "name": "amount",
        "type": "decimal128(12, 2)",
        "native": "numeric(12,2)",
    }

    workspace.write("many.yaml", job.read_text().replace(f"{pg.schema}.customers", f"{pg.schema}.missing"))
    checked = workspace.cli("check", str(job))
    assert checked.code == 2 and f"{pg.schema}.missing does not exist" in checked.stdout + checked.stderr


def test_postgres_unreachable_server_is_transient_and_retried(workspace: Workspace) -> None:
    job = workspace.job(
        "down.yaml",
        """
        tenant_id: acme
        source:
          connector: postgres
          connection: {host: 127.0.0.1, port: 1, database: test, user: postgres, password: hunter2-pg}
          tables: [{name: public.anything}]
        target: {namespace: acme, table: down}
        retry: {max_attempts: 3, backoff_seconds: 0.1}
        """,
    )
    result = workspace.cli("--log-level", "warning", "run", str(job))
    assert result.code == 2
    assert "cannot connect" in result.stderr and "hunter2-pg" not in result.stdout + result.stderr
    assert result.stderr.count("transient error, retrying") == 2  # attempts 1 and 2 retried, 3 gave up


# -- MariaDB -------------------------------------------------------------------------------------

MY_TYPES = """
CREATE TABLE every_type (
  id bigint PRIMARY KEY, ti tinyint, tb tinyint(1), tu tinyint unsigned, si smallint, su smallint unsigned,
  mi mediumint, i int, iu int unsigned, bi bigint, bu bigint unsigned, de decimal(30,12), de65 decimal(65,30),
  f float, d double, bt bit(1), b8 bit(8), y year, c char(3), v varchar(20), tx text, en enum('a','ü'),
  st set('x','y'), bl blob, vb varbinary(8), dt date, tm time(6), dtt datetime(6), ts timestamp(6) NULL,
  j json
)
"""
MY_ROWS = [
    "(1, -128, 1, 255, -32768, 65535, -8388608, -2147483648, 4294967295, -9223372036854775808,"
    " 18446744073709551615, 123456789012345678.123456789012,"
    " 12345678901234567890123456789012345.123456789012345678901234567890,"
    " -3.40282e38, 1.7976931348623157e308, b'1', b'10101010', 2155, 'ab', 'héllo 日本 🎉', 'x\\ny', 'ü', 'x,y',"
    " x'00ff10', x'0102', '1000-01-01', '-838:59:59.000000', '9999-12-31 23:59:59.999999',"
    " '2038-01-19 03:14:07.999999', '{\"a\": [1, \"ü\"]}')",
    "(2, 127, 0, 0, 32767, 0, 8388607, 2147483647, 0, 9223372036854775807, 0, -0.000000000001, 0,"
    " 0, -0, b'0', b'0', 1901, '', '', '', 'a', '', '', '', '0000-00-00', '00:00:00', '0000-00-00 00:00:00',"
    " '1970-01-01 00:00:01', '[]')",
    "(3" + ", NULL" * 29 + ")",
]


def test_mariadb_every_type_round_trips_value_for_value(workspace: Workspace, my: My) -> None:
    my.sql("SET SESSION sql_mode = ''")  # allow the zero dates a legacy MySQL table holds
    my.sql(MY_TYPES)
    for row in MY_ROWS:
        my.sql(f"INSERT INTO every_type VALUES {row}")
    summary = workspace.run(my.job(workspace, "every_type"))
    assert summary["state"] == "committed", summary["error"]
    types = {f.name: str(f.field_type) for f in workspace.table("acme.every_type").schema().fields}
    assert types["bu"] == "decimal(20, 0)" and types["de"] == "decimal(30, 12)" and types["de65"] == "string"
    assert types["tb"] == "boolean" and types["ts"] == "timestamptz" and types["dtt"] == "timestamp"
    got = rows_by_id(workspace, "acme.every_type")

    my.sql("SET time_zone = '+00:00'")
    expected_rows = my.sql("SELECT * FROM every_type ORDER BY id")
    columns = [r[0] for r in my.sql("SHOW COLUMNS FROM every_type")]
    for values in expected_rows:
        expected = dict(zip(columns, values, strict=True))
        actual = got[expected["id"]]
        for column, value in expected.items():
            want = _mysql_expected(column, value)
            assert actual[column] == want, f"row {expected['id']} {column}: {actual[column]!r} != {want!r}"
    assert got[1]["bu"] == Decimal(18446744073709551615) and got[1]["iu"] == 4294967295
    assert got[2]["dt"] is None and got[2]["dtt"] is None  # zero dates
    assert got[1]["ts"] == datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=UTC)


def _mysql_expected(column: str, value: Any) -> Any:
    """What the Iceberg table must hold for a value PyMySQL decoded on its own."""
    if value is None:
        return None
    if column in ("tb",):
        return bool(value)
    if column == "bt":
        return value != b"\x00"
    if column == "b8":
        return int.from_bytes(value, "big")
    if column == "bu":
        return Decimal(value)
    if column == "f":  # the same float32, printed shortest by the server
        return struct.unpack("f", struct.pack("f", value))[0]
    if column == "de65":
        return format(value, "f")
    if column == "tm":
        sign = "-" if value < timedelta(0) else ""
        seconds = abs(value)
        hours, rest = divmod(seconds.days * 86400 + seconds.seconds, 3600)
        return f"{sign}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}.{seconds.microseconds:06d}"
    if column == "ts":
        return value.replace(tzinfo=UTC)
    if column in ("dt", "dtt") and isinstance(value, str):  # PyMySQL hands zero dates back as text
        return None
    if column == "st":
        return ",".join(sorted(value)) if isinstance(value, set) else value
    if isinstance(value, date | time | datetime):
        return value
    return value


def test_mariadb_partitioned_incremental_and_errors(workspace: Workspace, my: My) -> None:
    my.sql("CREATE TABLE events (id int PRIMARY KEY, kind varchar(10), at datetime(6))")
    my.sql(
        "INSERT INTO events WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 900)"
        " SELECT n, CONCAT('k', n), TIMESTAMP'2024-01-01 00:00:00' + INTERVAL n MINUTE FROM seq"
    )

    def job(name: str, extra: str) -> Any:
        connection = f"{{host: {MY_HOST}, port: {MY_PORT}, database: {my.database}, user: root}}"
        text = f"""tenant_id: acme
source:
  connector: mysql
  connection: {connection}
  tables: [{{name: {my.database}.events}}]
{extra}
target: {{namespace: acme, table: {name}}}
"""
        return workspace.job(f"{name}.yaml", text)

    assert workspace.run(job("events", ""))["rows"] == 900
    assert workspace.run(job("events_parted", "  partitioning: {column: id, partitions: 3}"))["partitions_total"] == 3
    assert sorted(workspace.read("acme.events").to_pylist(), key=lambda r: r["id"]) == sorted(
        workspace.read("acme.events_parted").to_pylist(), key=lambda r: r["id"]
    )

    inc = job("events_inc", "  partitioning: {column: id, partitions: 3}\n  incremental: {cursor_field: at}")
    assert workspace.run(inc)["rows"] == 900
    my.sql("INSERT INTO events VALUES (901, 'late', '2024-06-01 00:00:00'), (902, 'late', '2024-06-02 00:00:00')")
    assert workspace.run(inc)["rows"] == 2
    assert _state(workspace, "acme.events_inc") == {"dativo.state.acme.events_inc.events.at": "2024-06-02T00:00:00"}
    assert workspace.read("acme.events_inc").num_rows == 902


def test_mariadb_password_privileges_and_missing_table(workspace: Workspace, my: My) -> None:
    user, password = f"dativo_t_{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    my.sql("CREATE TABLE secretive (id int)")
    my.sql("INSERT INTO secretive VALUES (1), (2)")
    my.sql(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")  # hex: nothing to escape
    try:
        my.sql(f"GRANT SELECT ON `{my.database}`.`secretive` TO '{user}'@'%'")
        ok = my.job(workspace, "secretive", user=user, password="${secret:warehouse_db}")
        env = {"DATIVO_SECRET__ACME__WAREHOUSE_DB": password}
        result = workspace.cli("run", str(ok), "--json", env=env)
        assert result.code == 0, result.stderr
        assert result.json["rows"] == 2

        wrong = workspace.cli("run", str(ok), env={"DATIVO_SECRET__ACME__WAREHOUSE_DB": password + "x"})
        assert wrong.code == 2 and "access denied" in wrong.stderr and "check the user and password" in wrong.stderr
        assert password not in wrong.stdout + wrong.stderr

        my.sql("CREATE TABLE hidden (id int)")
        denied = workspace.job("hidden.yaml", ok.read_text().replace(".secretive}", ".hidden}"))
        checked = workspace.cli("check", str(denied), env=env)
        assert checked.code == 2 and f"user {user} cannot see it" in checked.stdout
        missing = workspace.job("missing.yaml", ok.read_text().replace(".secretive}", ".nope}"))
        checked = workspace.cli("check", str(missing), env=env)
        assert checked.code == 2 and "nope does not exist" in checked.stdout
    finally:
        my.sql(f"DROP USER '{user}'@'%'")
