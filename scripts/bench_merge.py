#!/usr/bin/env python
"""Merge benchmark: PostgreSQL -> Iceberg with `target.mode: merge`, changes of 0.1%, 1% and 10%.

    .venv/bin/python scripts/bench_merge.py                        # 10,000,000 rows
    .venv/bin/python scripts/bench_merge.py --rows 1000000         # quicker
    .venv/bin/python scripts/bench_merge.py --layout spread        # changed keys spread over the table

What it does, each `dativo run` in its own subprocess sampled for RSS (scripts/bench.py):

1. (Re)creates ``dativo_bench_merge.items`` (bigint id primary key, int, numeric(12,2), text,
   timestamptz updated_at) with ``--rows`` rows, and loads it into a fresh Iceberg table with a
   merge job (incremental on updated_at, partitioned by id ranges, so files are key-clustered).
2. For each fraction: updates that share of the rows (``clustered``: one contiguous id range;
   ``spread``: every k-th id, the worst case for pruning), then times the merge run.
3. Prints seconds, changed rows/s, files rewritten out of the table's files (the snapshot's
   `dativo.merge.files-rewritten`), peak RSS, and checks the table's record count.

The comparison with dlt's merge into Iceberg that the issue asks for is not part of this script
yet. A benchmark, not a test: it asserts only that every run commits with the right row count.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench

DSN = os.environ.get("DATIVO_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
SCHEMA = "dativo_bench_merge"


def pg() -> object:
    import psycopg

    return psycopg.connect(DSN, autocommit=True)


def create_table(rows: int) -> None:
    with pg() as conn:  # type: ignore[attr-defined]
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
        conn.execute(
            f"CREATE TABLE {SCHEMA}.items (id bigint PRIMARY KEY, customer_id int NOT NULL, amount numeric(12,2),"
            " name text, updated_at timestamptz NOT NULL)"
        )
        conn.execute(
            f"INSERT INTO {SCHEMA}.items SELECT g, ((g::bigint * 7919) % 1000003)::int, round((g % 100000) / 100.0, 2),"
            f" 'customer-' || (g % 50000)::text, timestamptz '2024-01-01' + make_interval(secs => g)"
            f" FROM generate_series(1, {rows}) g"
        )
        conn.execute(f"VACUUM ANALYZE {SCHEMA}.items")


def change(rows: int, fraction: float, layout: str, round_: int) -> int:
    """Update ``fraction`` of the rows; returns how many changed."""
    n = max(1, int(rows * fraction))
    if layout == "clustered":
        start = (round_ * 7919 * 1000) % max(1, rows - n) + 1
        where = f"id BETWEEN {start} AND {start + n - 1}"
    else:
        stride = max(1, rows // n)
        where = f"id % {stride} = {round_ % stride}"
    with pg() as conn:  # type: ignore[attr-defined]
        cur = conn.execute(
            f"UPDATE {SCHEMA}.items SET amount = amount + 1, name = 'changed-{round_}',"
            f" updated_at = timestamptz '2030-01-01' + make_interval(days => {round_}) WHERE {where}"
        )
        return int(cur.rowcount)


def write_job(work: Path, partitions: int, file_mb: int) -> Path:
    job = work / "merge_items.yaml"
    job.write_text(
        "tenant_id: bench\n"
        "name: merge_items\n"
        "source:\n"
        "  connector: postgres\n"
        "  connection: {host: 127.0.0.1, port: 5432, database: test, user: postgres}\n"
        f"  tables: [{{name: {SCHEMA}.items}}]\n"
        "  incremental: {cursor_field: updated_at}\n"
        f"  partitioning: {{column: id, partitions: {partitions}}}\n"
        "target:\n"
        "  namespace: bench\n"
        "  table: merge_items\n"
        "  mode: merge\n"
        "  merge_key: [id]\n"
        f"  file_size_mb: {file_mb}\n"
        "governance_overrides: {pii_detection: false}\n"
    )
    return job


def table_facts(state: Path) -> dict[str, int]:
    from pyiceberg.catalog.sql import SqlCatalog

    catalog = SqlCatalog("default", uri=f"sqlite:///{state}/catalog.db", warehouse=(state / "warehouse").as_uri())
    table = catalog.load_table("bench.merge_items")
    summary = table.current_snapshot().summary.additional_properties  # type: ignore[union-attr]
    return {
        "records": int(summary.get("total-records", 0)),
        "files": int(summary.get("total-data-files", 0)),
        "rewritten": int(summary.get("dativo.merge.files-rewritten", 0)),
        "files_before": int(summary.get("total-data-files", 0))
        - int(summary.get("added-data-files", 0))
        + int(summary.get("deleted-data-files", 0)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--fractions", default="0.001,0.01,0.1")
    parser.add_argument("--layout", choices=["clustered", "spread"], default="clustered")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--file-mb", type=int, default=32)
    args = parser.parse_args()

    print(f"creating {SCHEMA}.items with {args.rows:,} rows ...", file=sys.stderr)
    create_table(args.rows)
    scratch = Path(tempfile.mkdtemp(prefix="dativo-bench-merge-"))
    lines = []
    try:
        job = write_job(scratch, args.partitions, args.file_mb)
        runner = bench.write_runner(scratch)
        cmd = [*bench.dativo_command(), "run", str(job), "--workers", str(args.workers), "--runner", str(runner)]
        runs: list[tuple[str, float | None]] = [("initial load", None)]
        for fraction in (float(f) for f in args.fractions.split(",")):
            runs.append((f"{100 * fraction:g}% changed ({args.layout})", fraction))
        for round_, (label, fraction) in enumerate(runs):
            changed = args.rows if fraction is None else change(args.rows, fraction, args.layout, round_)
            measured, stdout = bench.measure(label, [*cmd, "--json"], scratch, bench.child_env())
            summary = json.loads(stdout.strip().splitlines()[-1])
            facts = table_facts(scratch)
            if summary["state"] != "committed" or summary["rows"] != changed or facts["records"] != args.rows:
                raise SystemExit(f"{label}: {summary} / {facts}: expected {changed} rows read, {args.rows} in table")
            lines.append(
                f"| {label} | {changed:,} | {measured.seconds:.2f} | {changed / measured.seconds:,.0f} | "
                f"{facts['rewritten']} of {facts['files_before']} | {measured.peak_single / bench.MIB:,.0f} MiB |"
            )
            print(lines[-1], file=sys.stderr)
            time.sleep(1)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n{args.rows:,} rows, {args.workers} workers, {args.partitions} partitions, {time.strftime('%Y-%m-%d')}\n")
    print("| run | rows changed | seconds | changed rows/s | files rewritten | peak RSS (largest process) |")
    print("|---|---:|---:|---:|---:|---:|")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
