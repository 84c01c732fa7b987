#!/usr/bin/env python
"""Peak RSS of one worker on a Parquet file with one huge row group (issue #22, item 3).

Generates, in a temporary directory (never committed), ``--rows`` rows of the benchmark's
8 columns (scripts/bench.py) as ONE Parquet row group (snappy), then runs
``dativo run JOB --workers 1`` on it and reports the peak RSS of the process (sampled every
50 ms, and the kernel's high-water mark from wait4). ``--raw`` also measures the plain
``ParquetFile.iter_batches`` -> ``ParquetWriter`` loop for comparison.

    .venv/bin/python scripts/bench_worker_memory.py --rows 3000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # the same rows, asset, job, runner and sampler as scripts/bench.py


def one_row_group_file(data_dir: Path, rows: int, seed: int) -> Path:
    path = data_dir / f"bench-{rows}-one-rg.parquet"
    chunks = [
        bench._typed(bench._generate_chunk(start, min(bench.CHUNK_ROWS, rows - start), seed))
        for start in range(0, rows, bench.CHUNK_ROWS)
    ]
    table = pa.concat_tables(chunks)
    pq.write_table(table, str(path), row_group_size=rows)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=None, help="source.options.batch_size (rows)")
    parser.add_argument(
        "--input", type=Path, default=None, help="an existing Parquet file instead of the generated one"
    )
    parser.add_argument("--raw", action="store_true", help="also measure the raw pyarrow loop")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dativo-memory-") as tmp:
        data_dir = Path(tmp)
        started = time.perf_counter()
        if args.input is not None:
            source = data_dir / args.input.name
            source.symlink_to(args.input.resolve())
        else:
            # Generated in a child process: this one stays small, so the kernel's high-water mark
            # of the measured process (wait4's ru_maxrss, inherited across fork) is its own.
            code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_worker_memory as m; "
            code += f"from pathlib import Path; m.one_row_group_file(Path({tmp!r}), {args.rows}, {args.seed})"
            subprocess.run([sys.executable, "-c", code], check=True)
            source = data_dir / f"bench-{args.rows}-one-rg.parquet"
        meta = pq.ParquetFile(str(source)).metadata
        uncompressed = max(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        print(
            f"{source.name}: {meta.num_rows:,} rows, {meta.num_row_groups} row group(s), the largest "
            f"{uncompressed / 2**20:,.0f} MiB uncompressed, {source.stat().st_size / 2**20:,.0f} MiB on disk "
            f"in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        asset = bench.write_asset(data_dir)
        options = {} if args.batch_size is None else {"batch_size": args.batch_size}
        job = bench.write_job(data_dir, source, asset, 64, options, connector="parquet")
        env = bench.child_env()
        results = []
        for attempt in range(args.repeat):
            if args.raw:
                out = data_dir / f"raw-{attempt}"
                out.mkdir()
                cmd = [
                    sys.executable,
                    bench.__file__,
                    "_raw",
                    str(source),
                    str(out / "o.parquet"),
                    "--format",
                    "parquet",
                ]
                m, _ = bench.measure("raw", cmd, out, env)
                results.append(
                    {
                        "run": "raw",
                        "seconds": round(m.seconds, 2),
                        "peak_rss_mib": m.peak_single >> 20,
                        "kernel_maxrss_mib": m.kernel_maxrss >> 20,
                        "processes": m.max_processes,
                    }
                )
            state = Path(tempfile.mkdtemp(prefix="w1-", dir=data_dir))
            runner = bench.write_runner(state)
            cmd = [*bench.dativo_command(), "run", str(job), "--workers", "1", "--runner", str(runner), "--json"]
            m, _ = bench.measure("w1", cmd, data_dir, env)
            results.append(
                {
                    "run": "dativo -w 1",
                    "seconds": round(m.seconds, 2),
                    "peak_rss_mib": m.peak_single >> 20,
                    "kernel_maxrss_mib": m.kernel_maxrss >> 20,
                    "processes": m.max_processes,
                }
            )
            print(json.dumps(results[-1]), file=sys.stderr)
        print(
            json.dumps(
                {
                    "rows": meta.num_rows,
                    "row_group_uncompressed_mib": uncompressed >> 20,
                    "load": os.getloadavg(),
                    "results": results,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
