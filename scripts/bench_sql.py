#!/usr/bin/env python
"""PostgreSQL and MySQL/MariaDB -> Iceberg: `dativo run` against the raw Arrow reads of the same
table and against dlt, side by side in one script run.

    .venv/bin/python scripts/bench_sql.py --rows 1000000 3000000            # both databases
    .venv/bin/python scripts/bench_sql.py --db postgres --rows 10000000
    .venv/bin/python scripts/bench_sql.py --dlt /tmp/dltvenv/bin/python     # with dlt (own venv)

The table (``orders_<rows>``: bigint id, int, numeric(12,2), double, text, bool, timestamp with
time zone (MySQL: datetime(6)), date) is created once per size, in the schema ``dativo_bench``
of the local PostgreSQL and the database ``dativo_bench`` of the local MariaDB, and reused. Each
measurement runs in its own subprocess, sampled for RSS with the tree sampler of scripts/bench.py:

- ``cx``: connectorx ``read_sql(..., return_type="arrow")``, the whole table into one Arrow table;
- ``adbc`` (PostgreSQL): ADBC ``fetch_record_batch`` streaming, the engine's read path alone;
- ``cxs`` (MySQL): connectorx ``arrow_stream`` batches, the engine's read path alone;
- ``copy`` (PostgreSQL, with --only): psycopg binary COPY, bytes only (nothing decoded);
- ``w1`` / ``w2`` (w2 with --only): ``dativo run --workers N`` -> Iceberg;
- ``dlt`` (with --dlt PYTHON): dlt's sql_table, connectorx backend -> Iceberg (scripts/bench_sql_dlt.py);
- ``plan``: the engine's planning alone (catalog queries, MIN/MAX of the key, the PII sample, the
  ledger rows), timed in a process that has already imported everything: it must not grow with
  the table.

"% of raw" is against the faster raw Arrow read of the same table in the same script run. The
load average and the CPU the rest of the machine used during each measurement are printed with
it (the database server is part of "the rest": it works for every read). A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench

PG_DSN = os.environ.get("DATIVO_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
MY_DSN = os.environ.get("DATIVO_BENCH_MYSQL", "mysql://root@127.0.0.1:3306/dativo_bench")
SCHEMA = "dativo_bench"
COLUMNS = "id, customer_id, amount, price, name, active, created_at, day"
LABELS = {
    "cx": "connectorx `read_sql` → Arrow (whole table)",
    "adbc": "ADBC stream → Arrow batches (the reader's path)",
    "cxs": "connectorx `arrow_stream` → batches (the reader's path)",
    "copy": "psycopg binary COPY, bytes only",
    "w1": "`dativo run --workers 1` (→ Iceberg)",
    "w2": "`dativo run --workers 2` (→ Iceberg)",
    "dlt": "dlt `sql_table` (connectorx backend → Iceberg)",
}
RAW = ("cx", "adbc", "cxs", "copy")
DEFAULT = {"postgres": ["cx", "adbc", "w1", "dlt", "plan"], "mysql": ["cx", "cxs", "w1", "dlt", "plan"]}
TARGET_SHARE = 0.90
TARGET_RSS_MIB = 256


def table_name(rows: int) -> str:
    return f"orders_{rows}"


def query(rows: int) -> str:
    return f"SELECT {COLUMNS} FROM {SCHEMA}.{table_name(rows)}"


def ensure_pg(rows: int) -> int:
    import psycopg

    table = f"{SCHEMA}.{table_name(rows)}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
        if found and found[0] and conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == rows:
            return int(conn.execute("SELECT pg_table_size(%s)", (table,)).fetchone()[0])
        print(f"creating {table} with {rows:,} rows in PostgreSQL ...", file=sys.stderr)
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(
            f"CREATE TABLE {table} (id bigint PRIMARY KEY, customer_id int NOT NULL, amount numeric(12,2),"
            " price double precision, name text, active boolean, created_at timestamptz, day date)"
        )
        conn.execute(
            f"INSERT INTO {table} SELECT g, ((g::int8 * 7919) % 1000003)::int,"
            " round((g % 100000) / 100.0, 2), g * 0.37, 'customer-' || (g % 50000)::text, g % 3 = 0,"
            " timestamptz '2024-01-01' + make_interval(secs => g), date '2024-01-01' + (g % 365)::int"
            f" FROM generate_series(1, {rows}) g"
        )
        conn.execute(f"VACUUM ANALYZE {table}")
        return int(conn.execute("SELECT pg_table_size(%s)", (table,)).fetchone()[0])


def ensure_mysql(rows: int) -> int:
    import pymysql

    table = table_name(rows)
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True)
    try:
        cur = conn.cursor()
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {SCHEMA}")
        cur.execute(f"USE {SCHEMA}")  # the sequence engine's seq_1_to_N tables live in the current database
        cur.execute(f"SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='{SCHEMA}' AND table_name=%s",
                    (table,))  # fmt: skip
        exists = cur.fetchone()[0] == 1
        if exists:
            cur.execute(f"SELECT COUNT(*) FROM {SCHEMA}.{table}")
        if not exists or cur.fetchone()[0] != rows:
            print(f"creating {SCHEMA}.{table} with {rows:,} rows in MariaDB ...", file=sys.stderr)
            cur.execute(f"DROP TABLE IF EXISTS {SCHEMA}.{table}")
            cur.execute(
                f"CREATE TABLE {SCHEMA}.{table} (id bigint PRIMARY KEY, customer_id int NOT NULL,"
                " amount decimal(12,2), price double, name varchar(64), active boolean, created_at datetime(6),"
                " day date) ENGINE=InnoDB"
            )
            for start in range(1, rows + 1, 1_000_000):  # MariaDB's sequence engine, a million at a time
                stop = min(rows, start + 999_999)
                cur.execute(
                    f"INSERT INTO {SCHEMA}.{table} SELECT seq, (seq * 7919) % 1000003,"
                    " ROUND((seq % 100000) / 100.0, 2), seq * 0.37, CONCAT('customer-', seq % 50000), seq % 3 = 0,"
                    " TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND,"
                    " DATE '2024-01-01' + INTERVAL (seq % 365) DAY"
                    f" FROM seq_{start}_to_{stop}"
                )
            cur.execute(f"ANALYZE TABLE {SCHEMA}.{table}")
            cur.fetchall()
        cur.execute(
            "SELECT data_length + index_length FROM information_schema.tables WHERE table_schema=%s AND table_name=%s",
            (SCHEMA, table),
        )
        return int(cur.fetchone()[0])
    finally:
        conn.close()


def raw_main(db: str, mode: str, rows_in_table: int) -> None:
    """One raw read, in its own process; prints {"rows": N}."""
    rows = 0
    sql = query(rows_in_table)
    dsn = PG_DSN if db == "postgres" else MY_DSN
    if mode == "cx":
        import connectorx

        rows = connectorx.read_sql(dsn, sql, return_type="arrow").num_rows
    elif mode == "cxs":
        import connectorx

        for batch in connectorx.read_sql(dsn, sql, return_type="arrow_stream", batch_size=65536):
            rows += batch.num_rows
    elif mode == "adbc":
        import adbc_driver_postgresql.dbapi as adbc

        with adbc.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute(sql)
            for batch in cur.fetch_record_batch():
                rows += batch.num_rows
    elif mode == "copy":
        import psycopg

        with psycopg.connect(dsn) as conn, conn.cursor() as cur:
            with cur.copy(f"COPY ({sql}) TO STDOUT (FORMAT binary)") as copy:
                for _ in copy:
                    pass
            rows = rows_in_table
    print(json.dumps({"rows": rows, "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def plan_main(job_path: str, runner_path: str, repeat: int) -> None:
    """The engine's planning alone, after every import (each repeat a new run in the ledger)."""
    from dativo_workers.config import load_job, load_runner
    from dativo_workers.ledger import Ledger
    from dativo_workers.pipeline import plan_run

    runner = load_runner(Path(runner_path))
    ledger = Ledger(runner.ledger_url)
    times, cpu, partitions = [], [], 0
    for _ in range(repeat + 1):  # the first one warms the caches (catalog tables created, imports)
        held: list = []
        job = load_job(Path(job_path))
        started, used = time.perf_counter(), time.process_time()
        planned = plan_run(job, runner, ledger, hold=held)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
        partitions = len(planned.partitions)
        for reader in held:
            reader.close()
    median = len(times[1:]) // 2
    print(json.dumps({"seconds": sorted(times[1:])[median], "cpu": sorted(cpu[1:])[median], "partitions": partitions}))


def write_job(work: Path, db: str, rows: int) -> Path:
    job = work / f"{db}_{table_name(rows)}.yaml"
    if db == "postgres":
        source = "  connector: postgres\n  connection: {host: 127.0.0.1, port: 5432, database: test, user: postgres}\n"
    else:
        source = f"  connector: mysql\n  connection: {{host: 127.0.0.1, port: 3306, database: {SCHEMA}, user: root}}\n"
    job.write_text(
        f"tenant_id: bench\nname: {db}_orders\nsource:\n{source}"
        f"  tables: [{{name: {SCHEMA}.{table_name(rows)}}}]\n"
        f"target: {{namespace: bench, table: {db}_{table_name(rows)}}}\n"
    )
    return job


def loadavg() -> str:
    with open("/proc/loadavg") as handle:
        return " ".join(handle.read().split()[:3])


SERVERS = {"postgres": ("postgres",), "mysql": ("mariadbd", "mysqld")}


def server_cpu(db: str) -> float:
    """CPU seconds used so far by the database server's processes (it runs on the same cores)."""
    import psutil

    total = 0.0
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] and proc.info["name"].startswith(SERVERS[db]):
            try:
                times = proc.cpu_times()  # children_*: backends that exited, reaped by the postmaster
                total += times.user + times.system + times.children_user + times.children_system
            except psutil.Error:
                continue
    return total


def measure_one(key: str, db: str, rows: int, scratch: Path, job: Path, dlt_python: str | None) -> bench.Measurement:
    before = server_cpu(db)
    measured = _measure_one(key, db, rows, scratch, job, dlt_python)
    measured.details["server_cpu"] = max(0.0, server_cpu(db) - before)
    return measured


def _measure_one(key: str, db: str, rows: int, scratch: Path, job: Path, dlt_python: str | None) -> bench.Measurement:
    if key in ("w1", "w2"):
        return bench.run_dativo(job, scratch, int(key[1]), rows, keep=False, engine_root=None)
    work = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=scratch))
    if key == "dlt":
        assert dlt_python is not None
        dsn = (
            PG_DSN.replace("postgresql://", "postgresql+psycopg2://")
            if db == "postgres"
            else MY_DSN.replace("mysql://", "mysql+pymysql://")
        )
        cmd = [dlt_python, str(Path(__file__).with_name("bench_sql_dlt.py")), "--dsn", dsn, "--schema", SCHEMA,
               "--table", table_name(rows), "--work", str(work)]  # fmt: skip
        env = {k: v for k, v in bench.child_env().items() if k != "PYTHONPATH"}
    else:
        cmd = [sys.executable, __file__, "_raw", db, key, str(rows)]
        env = bench.child_env()
    measured, stdout = bench.measure(key, cmd, work, env)
    measured.rows = json.loads(stdout.strip().splitlines()[-1])["rows"]
    if measured.rows != rows:
        raise SystemExit(f"{db} {key} read {measured.rows} rows, expected {rows}")
    return measured


def plan_seconds(job: Path, scratch: Path, repeat: int = 3) -> tuple[float, float, int]:
    state = Path(tempfile.mkdtemp(prefix="plan-", dir=scratch))
    runner = bench.write_runner(state)
    _, stdout = bench.measure(
        "plan", [sys.executable, __file__, "_plan", str(job), str(runner), str(repeat)], state, bench.child_env()
    )
    info = json.loads(stdout.strip().splitlines()[-1])
    return float(info["seconds"]), float(info["cpu"]), int(info["partitions"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", nargs="*", choices=["postgres", "mysql"], default=["postgres", "mysql"])
    parser.add_argument("--rows", type=int, nargs="*", default=[1_000_000, 3_000_000])
    parser.add_argument(
        "--only", nargs="*", choices=[*LABELS, "plan"], help="these measurements (default: all but copy, w2)"
    )
    parser.add_argument("--wait-quiet", type=float, default=60, metavar="S", help="wait up to S s for an idle machine")
    parser.add_argument("--dlt", metavar="PYTHON", help="the python of a venv with dlt (see scripts/bench_sql_dlt.py)")
    args = parser.parse_args()
    if args.dlt is None and Path("/tmp/dltvenv/bin/python").exists():
        args.dlt = "/tmp/dltvenv/bin/python"

    commit = bench.engine_fingerprint() if hasattr(bench, "engine_fingerprint") else "?"
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, engine {commit}, {os.cpu_count()} CPUs")
    for db in args.db:
        for rows in args.rows:
            size = ensure_pg(rows) if db == "postgres" else ensure_mysql(rows)
            keys = [k for k in (args.only or DEFAULT[db]) if k in DEFAULT[db] or k in ("copy", "w2")]
            keys = [
                k
                for k in keys
                if not (db == "mysql" and k in ("adbc", "copy")) and not (db == "postgres" and k == "cxs")
            ]
            if "dlt" in keys and not args.dlt:
                keys.remove("dlt")
            scratch = Path(tempfile.mkdtemp(prefix="dativo-bench-sql-"))
            results: dict[str, tuple[bench.Measurement, str]] = {}
            plan: tuple[float, float, int] | None = None
            try:
                job = write_job(scratch, db, rows)
                for key in keys:
                    bench.wait_for_quiet(args.wait_quiet)
                    load = loadavg()
                    if key == "plan":
                        plan = plan_seconds(job, scratch)
                        print(f"{db} {rows:,} plan: {plan[0]:.3f} s ({plan[2]} partitions)", file=sys.stderr)
                        continue
                    m = measure_one(key, db, rows, scratch, job, args.dlt)
                    results[key] = (m, load)
                    print(f"{db} {rows:,} {key}: {m.seconds:.2f} s (load {load})", file=sys.stderr)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            raw = [m.rows / m.seconds for k, (m, _) in results.items() if k in RAW and k != "copy"]
            best = max(raw) if raw else None
            print(f"\n## {db}, {rows:,} rows ({size / 1e6:,.0f} MB on disk)\n")
            print(
                "| measurement | seconds | rows/s | % of raw | peak RSS | CPU s | server CPU s "
                "| rest of the machine, CPU s | load avg |"
            )
            print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
            for key, (m, load) in results.items():
                rate = m.rows / m.seconds
                peak = bench.worker_peak(key, m) if key.startswith("w") else m.peak_single
                share = f"{100 * rate / best:.0f}%" if best else "n/a"
                print(
                    f"| {LABELS[key]} | {m.seconds:.2f} | {rate:,.0f} | {share} | {peak / bench.MIB:,.0f} MiB "
                    f"| {m.cpu_seconds:.1f} | {m.details['server_cpu']:.1f} "
                    f"| {max(0.0, m.other_cpu_seconds - m.details['server_cpu']):.1f} | {load} |"
                )
            if plan:
                print(
                    f"\nplanning alone (median of 3, after the imports): {plan[0]:.3f} s wall, "
                    f"{plan[1]:.3f} s CPU of the planning process, {plan[2]} partitions"
                )
            if "w1" in results and best:
                m = results["w1"][0]
                print(
                    f"\ndativo w1: {100 * m.rows / m.seconds / best:.0f}% of the raw read "
                    f"(target ≥ {100 * TARGET_SHARE:.0f}%), "
                    f"peak RSS {bench.worker_peak('w1', m) / bench.MIB:,.0f} MiB (target ≤ {TARGET_RSS_MIB}); "
                    f"partitions {m.details.get('partitions')}, engine duration_s {m.details.get('engine_seconds')}"
                )
            sys.stdout.flush()


if __name__ == "__main__":
    if len(sys.argv) > 4 and sys.argv[1] == "_raw":
        raw_main(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) > 4 and sys.argv[1] == "_plan":
        plan_main(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
