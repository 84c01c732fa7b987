#!/usr/bin/env python
"""PostgreSQL -> Iceberg benchmark: `dativo run` with 1 and 2 workers against raw driver reads
of the same table, in the same run.

    .venv/bin/python scripts/bench_sql.py                 # 10,000,000 rows x 8 columns
    .venv/bin/python scripts/bench_sql.py --rows 1000000  # quicker

The table (``dativo_bench.orders``: bigint id, int, numeric(12,2), double, text, bool,
timestamptz, date) is created in the local PostgreSQL once and reused while it has
``--rows`` rows. Each measurement runs in its own subprocess, sampled for RSS with the
same tree sampler as scripts/bench.py:

- connectorx ``read_sql(..., return_type="arrow")``: the whole table into one Arrow table
  (the reference the issue names);
- ADBC ``fetch_record_batch`` streaming (libpq binary COPY into Arrow): the engine's read path
  without the engine;
- psycopg ``COPY ... TO STDOUT (FORMAT binary)``: the bytes on the wire, not decoded, the
  ceiling for any binary-COPY reader;
- ``dativo run --workers 1`` and ``--workers 2`` (postgres -> Iceberg, exact types).

MB/s is the table's heap size (pg_table_size) over the wall time. A benchmark, not a test.
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

DSN = os.environ.get("DATIVO_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
COLUMNS = "id, customer_id, amount, price, name, active, created_at, day"
QUERY = f"SELECT {COLUMNS} FROM dativo_bench.orders"
LABELS = {
    "cx": "connectorx `read_sql` → Arrow (whole table)",
    "adbc": "ADBC stream → Arrow batches",
    "copy": "psycopg binary COPY, bytes only",
    "w1": "`dativo run --workers 1` (→ Iceberg)",
    "w2": "`dativo run --workers 2` (→ Iceberg)",
}
TARGET_SHARE = 0.70
TARGET_RSS_MIB = 1024


def ensure_table(rows: int) -> int:
    import psycopg

    with psycopg.connect(DSN.replace("postgresql://", "postgres://"), autocommit=True) as conn:
        found = conn.execute("SELECT to_regclass('dativo_bench.orders') IS NOT NULL").fetchone()
        if found and found[0] and conn.execute("SELECT count(*) FROM dativo_bench.orders").fetchone()[0] == rows:
            return int(conn.execute("SELECT pg_table_size('dativo_bench.orders')").fetchone()[0])
        print(f"creating dativo_bench.orders with {rows:,} rows ...", file=sys.stderr)
        conn.execute("DROP SCHEMA IF EXISTS dativo_bench CASCADE")
        conn.execute("CREATE SCHEMA dativo_bench")
        conn.execute(
            "CREATE TABLE dativo_bench.orders (id bigint PRIMARY KEY, customer_id int NOT NULL,"
            " amount numeric(12,2), price double precision, name text, active boolean, created_at timestamptz,"
            " day date)"
        )
        conn.execute(
            "INSERT INTO dativo_bench.orders SELECT g, ((g::int8 * 7919) % 1000003)::int,"
            " round((g % 100000) / 100.0, 2), g * 0.37, 'customer-' || (g % 50000)::text, g % 3 = 0,"
            " timestamptz '2024-01-01' + make_interval(secs => g), date '2024-01-01' + (g % 365)::int"
            f" FROM generate_series(1, {rows}) g"
        )
        conn.execute("VACUUM ANALYZE dativo_bench.orders")
        return int(conn.execute("SELECT pg_table_size('dativo_bench.orders')").fetchone()[0])


def raw_main(mode: str) -> None:
    """One raw read, in its own process; prints {"rows": N}."""
    rows = 0
    if mode == "cx":
        import connectorx

        rows = connectorx.read_sql(DSN, QUERY, return_type="arrow").num_rows
    elif mode == "adbc":
        import adbc_driver_postgresql.dbapi as adbc

        with adbc.connect(DSN) as conn, conn.cursor() as cur:
            cur.execute(QUERY)
            for batch in cur.fetch_record_batch():
                rows += batch.num_rows
    elif mode == "copy":
        import psycopg

        with psycopg.connect(DSN) as conn, conn.cursor() as cur:
            with cur.copy(f"COPY ({QUERY}) TO STDOUT (FORMAT binary)") as copy:
                for _ in copy:
                    pass
            rows = int(cur.execute("SELECT count(*) FROM dativo_bench.orders").fetchone()[0])
    print(json.dumps({"rows": rows, "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def write_job(work: Path) -> Path:
    job = work / "pg_orders.yaml"
    job.write_text(
        "tenant_id: bench\n"
        "source:\n"
        "  connector: postgres\n"
        "  connection: {host: 127.0.0.1, port: 5432, database: test, user: postgres}\n"
        "  tables: [{name: dativo_bench.orders}]\n"
        "target: {namespace: bench, table: orders}\n"
    )
    return job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--only", nargs="*", choices=list(LABELS), default=list(LABELS))
    args = parser.parse_args()

    heap_bytes = ensure_table(args.rows)
    scratch = Path(tempfile.mkdtemp(prefix="dativo-bench-sql-"))
    results: dict[str, bench.Measurement] = {}
    try:
        job = write_job(scratch)
        for key in args.only:
            if key in ("w1", "w2"):
                results[key] = bench.run_dativo(job, scratch, int(key[1]), args.rows, keep=False, engine_root=None)
                continue
            work = Path(tempfile.mkdtemp(prefix=f"raw-{key}-", dir=scratch))
            measured, stdout = bench.measure(key, [sys.executable, __file__, "_raw", key], work, bench.child_env())
            measured.rows = json.loads(stdout.strip().splitlines()[-1])["rows"]
            if measured.rows != args.rows:
                raise SystemExit(f"{key} read {measured.rows} rows, expected {args.rows}")
            results[key] = measured
            print(f"{key}: {measured.seconds:.2f} s", file=sys.stderr)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print(f"\n{args.rows:,} rows, table heap {heap_bytes / 1e6:,.0f} MB, {time.strftime('%Y-%m-%d')}\n")
    print("| measurement | seconds | rows/s | MB/s | peak RSS per process | % of connectorx |")
    print("|---|---:|---:|---:|---:|---:|")
    cx_rate = results["cx"].rows / results["cx"].seconds if "cx" in results else None
    for key, m in results.items():
        rate = m.rows / m.seconds
        peak = bench.worker_peak(key, m) if key.startswith("w") else m.peak_single
        share = f"{100 * rate / cx_rate:.0f}%" if cx_rate else "n/a"
        print(
            f"| {LABELS[key]} | {m.seconds:.2f} | {rate:,.0f} | {heap_bytes / 1e6 / m.seconds:,.1f} | "
            f"{peak / bench.MIB:,.0f} MiB | {share} |"
        )
    for key in ("w1", "w2"):
        if key in results and cx_rate:
            m = results[key]
            share = m.rows / m.seconds / cx_rate
            peak = bench.worker_peak(key, m) / bench.MIB
            print(
                f"\n{LABELS[key]}: {100 * share:.0f}% of connectorx's raw rate (target ≥ {100 * TARGET_SHARE:.0f}%), "
                f"peak RSS per worker {peak:,.0f} MiB (target ≤ {TARGET_RSS_MIB} MiB); "
                f"partitions {m.details.get('partitions')}, engine duration_s {m.details.get('engine_seconds')}"
            )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "_raw":
        raw_main(sys.argv[2])
    else:
        main()
