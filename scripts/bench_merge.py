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

``--rewrite-scaling`` measures the commit step's rewrite alone, in this process: a table of
``--files`` files of ``--file-rows`` rows each (key-clustered), incoming changes touching 1, 2, 4,
... of them, each merge planned and rewritten by ``apply_merge`` (what a commit does) with 1, 2
and 4 rewrite threads; prints seconds, seconds per touched file and rewritten rows/s.

``--commit-memory`` measures the commit's reduction of the incoming rows alone (one winner per key,
the keep-masks; `merge._read_incoming`), in a child process per size of ``--sizes``: fragments of
the benchmark table's shape (``--partitions`` of them, keys unique, or with ``--changelog`` every
key twice), peak RSS (the child's ru_maxrss) and CPU seconds. ``--code DIR`` runs another
checkout's `dativo_workers` (e.g. the version before a change, from `git worktree`).

``--in-process-mb N`` sets `runner.merge_rewrite_in_process_mb` for the runs (0: every merge's
touched files are rewritten as partitions on the embedded pool; a large value: always in process).

``--dlt /tmp/dltvenv/bin/python`` runs dlt's merge into Iceberg side by side (scripts/bench_merge_dlt.py,
in dlt's own venv): after each dativo run, on the same source state, a dlt pipeline run with its
own incremental state and Iceberg table; both get a row in the table.

A benchmark, not a test: it asserts only that every run commits with the right row count.
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
DLT_DSN = os.environ.get("DATIVO_BENCH_PG_DLT", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


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


HEADER = (
    "| touched files | rewrite threads | wall s (median) | wall s (best) | best wall s per file | CPU s | "
    "CPU s per file | rows rewritten/s (best) |\n|---|---:|---:|---:|---:|---:|---:|---:|"
)


def rewrite_scaling(files: int, file_rows: int, touched: list[int], threads: list[int], repeat: int) -> list[str]:
    """apply_merge timed on a table of ``files`` key-clustered files, per touched-file count and
    rewrite thread count; 100 changed keys per touched file."""
    import statistics

    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyiceberg.catalog.sql import SqlCatalog

    from dativo_workers import merge

    scratch = Path(tempfile.mkdtemp(prefix="dativo-bench-rewrite-"))
    lines: list[str] = []
    try:
        warehouse = scratch / "warehouse"
        catalog = SqlCatalog("bench", uri=f"sqlite:///{scratch}/catalog.db", warehouse=warehouse.as_uri())
        catalog.create_namespace("bench")

        def rows(first: int, n: int, note: str) -> pa.Table:
            ids = pa.array(range(first, first + n), pa.int64())
            return pa.table(
                {
                    "id": ids,
                    "customer_id": pa.array([(i * 7919) % 1000003 for i in range(first, first + n)], pa.int32()),
                    "amount": pa.array([i % 100000 for i in range(first, first + n)], pa.int64()),
                    "name": pa.array([f"{note}-{i % 50000}" for i in range(first, first + n)], pa.string()),
                    "updated_at": pa.array([1_700_000_000_000_000 + i for i in range(first, first + n)], pa.int64())
                    .cast(pa.timestamp("us", "UTC")),
                }
            )  # fmt: skip

        table = catalog.create_table("bench.items", schema=rows(0, 1, "x").schema)
        for f in range(files):  # one append, one file each: disjoint id ranges
            table.append(rows(f * file_rows + 1, file_rows, "customer"))
        spec = merge.MergeSpec(key=("id",), order_by="updated_at", target_bytes=256 * 1024 * 1024)
        print(HEADER, file=sys.stderr)
        for k in touched:
            chosen = [i * files // k for i in range(k)]  # spread over the table
            incoming = pa.concat_tables([rows(f * file_rows + 1000, 100, "changed") for f in chosen])
            fragment = scratch / f"incoming-{k}.parquet"
            pq.write_table(incoming, fragment)
            for t in threads:
                merge.REWRITE_THREADS = t
                times, cpu = [], []
                for r in range(repeat):
                    table = catalog.load_table("bench.items")
                    run_id = f"bench-{k}-{t}-{r}"
                    started, cpu_started = time.perf_counter(), time.process_time()
                    result = merge.apply_merge(
                        table,
                        table.metadata,
                        table.io,
                        catalog.properties,
                        spec,
                        run_id,
                        [(fragment.as_uri(), fragment.stat().st_size)],
                        table.schema(),
                    )
                    times.append(time.perf_counter() - started)
                    cpu.append(time.process_time() - cpu_started)  # every thread of this process
                    rewritten = int(result.summary["dativo.merge.rows-rewritten"])
                    if len(result.deleted) != k or rewritten != k * (file_rows - 100):
                        raise SystemExit(f"{k} files, {t} threads: {len(result.deleted)} touched, {rewritten} rows")
                    shutil.rmtree(warehouse / "bench" / "items" / "data" / run_id, ignore_errors=True)
                seconds, fastest, cpu_s = statistics.median(times), min(times), statistics.median(cpu)
                lines.append(
                    f"| {k} of {files} | {t} | {seconds:.2f} | {fastest:.2f} | {fastest / k:.2f} | {cpu_s:.2f} | "
                    f"{cpu_s / k:.2f} | {rewritten / fastest:,.0f} |"
                )
                print(lines[-1], f"(runs: {', '.join(f'{x:.2f}' for x in times)})", file=sys.stderr)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return lines


_REDUCE_CHILD = """
import json, os, resource, sys, time
if os.environ.get("DATIVO_BENCH_CODE"):  # another checkout: ahead of this environment's editable install
    sys.path.insert(0, os.environ["DATIVO_BENCH_CODE"])
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__.lower()]
from dativo_workers import merge
import pyarrow.parquet
def rss():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1]) / 1024
spec = merge.MergeSpec(key=("id",), order_by="updated_at")
fragments = json.loads(sys.argv[1])
before = rss()
started, cpu = time.perf_counter(), time.process_time()
import inspect
first_load = {"keep_keys": False} if "keep_keys" in inspect.signature(merge._read_incoming).parameters else {}
got = merge._read_incoming([tuple(f) for f in fragments], spec, {}, **(first_load if sys.argv[2] == "1" else {}))
print(json.dumps({
    "seconds": time.perf_counter() - started,
    "cpu": time.process_time() - cpu,
    "first_load": bool(sys.argv[2] == "1" and first_load),
    "superseded": got.superseded,
    "start_mib": before,
    "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "module": merge.__file__,
}))
"""


def commit_memory(sizes: list[int], partitions: int, changelog: bool, code: str | None, first_load: bool) -> list[str]:
    """The incoming-row reduction of a merge commit, alone, in a child process per size
    (``first_load``: into an empty table, so the distinct keys are not kept for file selection)."""
    import subprocess

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    lines = []
    for rows in sizes:
        scratch = Path(tempfile.mkdtemp(prefix="dativo-bench-reduce-"))
        try:
            fragments = []
            per = rows // partitions
            for p in range(partitions):  # key ranges, as the benchmark table's id partitions
                ids = pc.add(pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), per)), p * per)
                if changelog:  # every key twice: the second read wins
                    ids = pa.concat_arrays([ids, ids])
                n = len(ids)
                table = pa.table(
                    {
                        "id": ids,
                        "customer_id": pc.cast(pc.bit_wise_and(ids, 0xFFFFF), pa.int32()),
                        "amount": pc.bit_wise_and(ids, 0xFFFF),
                        "name": pa.repeat(pa.scalar("customer-12345"), n),
                        "updated_at": pc.cast(pc.add(ids, 1_700_000_000_000_000), pa.timestamp("us", "UTC")),
                    }
                )
                path = scratch / f"p{p:05d}.parquet"
                pq.write_table(table, path)
                fragments.append((path.as_uri(), path.stat().st_size))
                del table, ids
            env = {**os.environ, **({"DATIVO_BENCH_CODE": code} if code else {})}
            out = subprocess.run(
                [sys.executable, "-c", _REDUCE_CHILD, json.dumps(fragments), "1" if first_load else "0"],
                env=env, capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            got = json.loads(out.strip().splitlines()[-1])
            load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            lines.append(
                f"| {rows:,}{' (each key twice)' if changelog else ''}{' first load' if got['first_load'] else ''}"
                f" | {got['seconds']:.2f} | {got['cpu']:.2f} | "
                f"{got['start_mib']:,.0f} MiB | {got['peak_mib']:,.0f} MiB | {load} |"
            )
            print(lines[-1], got["module"], file=sys.stderr)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--fractions", default="0.001,0.01,0.1")
    parser.add_argument("--layout", choices=["clustered", "spread"], default="clustered")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--file-mb", type=int, default=32)
    parser.add_argument("--rewrite-scaling", action="store_true", help="time the commit's rewrite alone")
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--file-rows", type=int, default=250_000)
    parser.add_argument("--touched", default="1,2,4,8,16")
    parser.add_argument("--threads", default="1,2,4")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dlt", metavar="PYTHON", help="also merge with dlt, run by this venv's python")
    parser.add_argument(
        "--in-process-mb", type=int, help="runner.merge_rewrite_in_process_mb (default: the runner's own)"
    )
    parser.add_argument("--commit-memory", action="store_true", help="the commit's incoming-row reduction alone")
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--changelog", action="store_true", help="--commit-memory: every key arrives twice")
    parser.add_argument("--first-load", action="store_true", help="--commit-memory: into an empty table")
    parser.add_argument("--code", help="--commit-memory: PYTHONPATH of another checkout's dativo_workers")
    args = parser.parse_args()
    if args.commit_memory:
        sizes = [int(n) for n in args.sizes.split(",")]
        lines = commit_memory(sizes, args.partitions, args.changelog, args.code, args.first_load)
        print("\n| incoming rows | seconds | CPU s | RSS before | peak RSS | load average |")
        print("|---:|---:|---:|---:|---:|---|")
        print("\n".join(lines))
        return
    if args.rewrite_scaling:
        lines = rewrite_scaling(
            args.files,
            args.file_rows,
            [int(k) for k in args.touched.split(",")],
            [int(t) for t in args.threads.split(",")],
            args.repeat,
        )
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"\n{args.files} files of {args.file_rows:,} rows, 100 changed keys per touched file, load {load}\n")
        print(HEADER)
        print("\n".join(lines))
        return

    print(f"creating {SCHEMA}.items with {args.rows:,} rows ...", file=sys.stderr)
    create_table(args.rows)
    scratch = Path(tempfile.mkdtemp(prefix="dativo-bench-merge-"))
    lines = []
    try:
        job = write_job(scratch, args.partitions, args.file_mb)
        runner = bench.write_runner(scratch)
        if args.in_process_mb is not None:  # where the touched files are rewritten (docs/merge.md)
            text = runner.read_text().replace(
                "runner:\n", f"runner:\n  merge_rewrite_in_process_mb: {args.in_process_mb}\n"
            )
            runner.write_text(text)
        cmd = [*bench.dativo_command(), "run", str(job), "--workers", str(args.workers), "--runner", str(runner)]
        dlt_work = scratch / "dlt"
        dlt_cmd = [args.dlt, str(Path(__file__).with_name("bench_merge_dlt.py")), "--dsn", DLT_DSN]
        dlt_cmd += ["--schema", SCHEMA, "--work", str(dlt_work)]
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
            lines.append(row("dativo", label, changed, measured, f"{facts['rewritten']} of {facts['files_before']}", 1))
            print(lines[-1], file=sys.stderr)
            time.sleep(1)
            if args.dlt:
                dlt_work.mkdir(exist_ok=True)
                initial = ["--initial"] if fraction is None else []
                measured, stdout = bench.measure(f"dlt {label}", [*dlt_cmd, *initial], dlt_work, dlt_env())
                got = json.loads(stdout.strip().splitlines()[-1])
                if got["records"] != args.rows:
                    raise SystemExit(f"dlt {label}: {got}: expected {args.rows} records in the table")
                rewritten = f"{got['files_deleted']} of {got['files_before']}"
                lines.append(row("dlt", label, changed, measured, rewritten, got["snapshots"], got["rows"]))
                print(lines[-1], file=sys.stderr)
                time.sleep(1)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\n{args.rows:,} rows, dativo: {args.workers} workers, {args.partitions} partitions, "
        f"{time.strftime('%Y-%m-%d')}, load at the end {load}\n"
    )
    print(
        "| tool | run | rows changed | wall s | CPU s | changed rows/s | files rewritten | snapshots | "
        "peak RSS (process tree) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(lines))


def row(
    tool: str, label: str, changed: int, m: bench.Measurement, rewritten: str, snapshots: int, read: int | None = None
) -> str:
    rows = f"{changed:,}" if read is None or read == changed else f"{changed:,} ({read:,} read)"
    return (
        f"| {tool} | {label} | {rows} | {m.seconds:.2f} | {m.cpu_seconds:.2f} | {changed / m.seconds:,.0f} | "
        f"{rewritten} | {snapshots} | {m.peak_total / bench.MIB:,.0f} MiB |"
    )


def dlt_env() -> dict[str, str]:
    """dlt's own venv, no dativo settings; its telemetry off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATIVO_", "VIRTUAL_ENV", "PYTHON"))}
    return {**env, "RUNTIME__DLTHUB_TELEMETRY": "false"}


if __name__ == "__main__":
    main()
