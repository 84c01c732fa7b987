#!/usr/bin/env python
"""What contract quality rules cost: scripts/bench.py's CSV -> Iceberg run with and without ten
typical rules in the ODCS asset (docs/quality.md, docs/performance.md).

    .venv/bin/python scripts/bench_quality.py                  # 5,000,000 rows, 3 rounds, 1 and 2 workers
    .venv/bin/python scripts/bench_quality.py --rows 200000 --repeat 1   # smoke run
    git archive HEAD~1 dativo_workers dativo_plugins | tar -x -C /tmp/before
    .venv/bin/python scripts/bench_quality.py --workers 1 --baseline /tmp/before   # before/after a change

The runs of a round go back to back (each round in another order), each `dativo run` in its
own process measured by scripts/bench.py's `measure` (wall time, CPU time of the process tree,
the CPU the rest of the machine used meanwhile). Reported: the median of each, the overhead in
wall and CPU time, and `uptime`'s load average before and after. A shared machine makes wall
time noisy: CPU time is the steadier figure.

The ten rules, on every row of the run (all but the SQL one computed while the batches stream):
rowCount; id nullValues and duplicateValues (a unique id: every value goes to the sidecar);
name missingValues; email invalidValues by pattern (ASCII names only: the accented first names of
the data fail it, 27% of the rows, a warning); amount invalidValues by range and nullValues
in percent; price nullValues; signup_date invalidValues by range; one `type: sql` rule over the
staged fragments (DuckDB).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # scripts/bench.py, beside this file

RULES = {
    "schema": [
        "- {name: rows, metric: rowCount, mustBeGreaterThan: 0, severity: error}",
        "- {name: big_amounts, type: sql, query: 'SELECT count(*) FROM ${table} WHERE amount > 9999.99', "
        "mustBeLessThan: 1000, severity: warning}",
    ],
    "id": [
        "- {metric: nullValues, mustBe: 0, severity: error}",
        "- {metric: duplicateValues, mustBe: 0, severity: error}",
    ],
    "name": ["- {metric: missingValues, arguments: {missingValues: [null, '']}, mustBe: 0}"],
    "email": ["- {metric: invalidValues, arguments: {pattern: '^[a-z]+[.][0-9]+@example[.]com$'}, mustBe: 0}"],
    "amount": [
        "- {metric: invalidValues, arguments: {minimum: 0, maximum: 10000}, mustBe: 0, severity: error}",
        "- {metric: nullValues, mustBeLessThan: 1, unit: percent}",
    ],
    "price": ["- {metric: nullValues, mustBe: 0}"],
    "signup_date": ["- {metric: invalidValues, arguments: {minimum: '2019-01-01'}, mustBe: 0}"],
}


def write_quality_asset(data_dir: Path) -> Path:
    """bench.py's asset with the ten rules (v3.1.0: `metric` names)."""
    plain = bench.write_asset(data_dir).read_text().replace("apiVersion: v3.0.2", "apiVersion: v3.1.0")
    lines = []
    for line in plain.splitlines():
        lines.append(line)
        if line == "    physicalType: table":
            lines += ["    quality:", *(f"      {r}" for r in RULES["schema"])]
        if line.startswith("      - name: "):
            column = line.removeprefix("      - name: ")
            lines += ["        quality:", *(f"          {r}" for r in RULES.get(column, []))] if column in RULES else []
    path = data_dir / "bench_asset_quality.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def uptime() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--data-dir", type=Path, default=Path("bench-data"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", default="1,2", help="worker counts to measure, comma-separated")
    parser.add_argument("--wait-quiet", type=float, default=0, help="wait up to N s for idle CPUs before each run")
    parser.add_argument(
        "--engine", type=Path, help="run this copy of the engine packages (default: a snapshot of the checkout)"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="also run the job with rules on this copy of the engine (e.g. `git archive` of an older commit), "
        "interleaved with the others: 'with' before and after a change, side by side",
    )
    parser.add_argument(
        "--quiet-cpu",
        type=float,
        default=0,
        help="run again (up to --retries times) a run during which the rest of the machine used more than N CPU-s",
    )
    parser.add_argument("--retries", type=int, default=3)
    args = parser.parse_args(argv)
    data_dir = args.data_dir.resolve()
    csv_path = bench.ensure_csv(data_dir, args.rows, 42, False)
    target_mb = max(1, -(-csv_path.stat().st_size // bench.MIB // 8))
    jobs = {
        "without": bench.write_job(data_dir, csv_path, bench.write_asset(data_dir), target_mb, {}),
        "with": bench.write_job(data_dir, csv_path, write_quality_asset(data_dir), target_mb, {}),
    }
    jobs["with"] = jobs["with"].rename(jobs["with"].with_name("bench-quality-job.yaml"))
    jobs["without"] = bench.write_job(data_dir, csv_path, bench.write_asset(data_dir), target_mb, {})
    scratch = Path(tempfile.mkdtemp(prefix="quality-", dir=data_dir))
    # edits made meanwhile do not mix into the runs
    engine = args.engine.resolve() if args.engine else bench.snapshot_engine(data_dir)
    engines = {"without": engine, "with": engine}
    if args.baseline:
        jobs["baseline"] = jobs["with"]
        engines["baseline"] = args.baseline.resolve()
    bench.warm_page_cache(csv_path)
    load_before = uptime()
    report: dict[str, Any] = {"rows": args.rows, "load_before": load_before, "workers": {}}
    for workers in (int(w) for w in args.workers.split(",")):
        runs: dict[str, list[bench.Measurement]] = {key: [] for key in jobs}
        for round_ in range(args.repeat):
            keys = list(jobs)  # each round in another order: none always first or last
            order = keys[round_ % len(keys) :] + keys[: round_ % len(keys)]
            if len(keys) == 2 and round_ % 2:
                order = order[::-1]
            for key in order:
                if args.wait_quiet:
                    bench.wait_for_quiet(args.wait_quiet)
                for attempt in range(args.retries + 1):
                    load = uptime()
                    m = bench.run_dativo(jobs[key], scratch, workers, args.rows, False, engines[key])
                    noisy = bool(args.quiet_cpu) and m.other_cpu_seconds > args.quiet_cpu
                    print(
                        f"w{workers} {key:<7} {m.seconds:6.2f} s wall {m.cpu_seconds:6.2f} s CPU "
                        f"(others used {m.other_cpu_seconds:.1f} CPU-s; load {load})"
                        + (" noisy: again" if noisy and attempt < args.retries else ""),
                        file=sys.stderr,
                        flush=True,
                    )
                    if not noisy or attempt == args.retries:
                        break
                runs[key].append(m)
        wall = {k: statistics.median(m.seconds for m in v) for k, v in runs.items()}
        cpu = {k: statistics.median(m.cpu_seconds for m in v) for k, v in runs.items()}
        report["workers"][workers] = {
            "wall_s": wall,
            "cpu_s": cpu,
            "wall_overhead_pct": round(100 * (wall["with"] / wall["without"] - 1), 1),
            "cpu_overhead_pct": round(100 * (cpu["with"] / cpu["without"] - 1), 1),
            "other_cpu_s": {k: round(statistics.median(m.other_cpu_seconds for m in v), 1) for k, v in runs.items()},
        }
        if "baseline" in runs:
            report["workers"][workers]["baseline_wall_overhead_pct"] = round(
                100 * (wall["baseline"] / wall["without"] - 1), 1
            )
            report["workers"][workers]["baseline_cpu_overhead_pct"] = round(
                100 * (cpu["baseline"] / cpu["without"] - 1), 1
            )
    report["load_after"] = uptime()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
