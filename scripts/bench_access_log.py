#!/usr/bin/env python
"""Access-log readers: the Rust `access_log` against the pure-Python reference `access_log_py`.

    .venv/bin/python scripts/bench_access_log.py                  # 5,000,000 lines (a few minutes)
    .venv/bin/python scripts/bench_access_log.py --lines 200000   # quick
    .venv/bin/python scripts/bench_access_log.py --write-doc      # also rewrite the sections in
                                                                  # docs/performance.md and the plugin's README

What it measures, each in a subprocess of its own (so peak RSS is that measurement's):

1. reader alone: plan the file (the engine's default 128 MiB partitions) and read every partition in
   one process, one after the other, the batches imported as the engine imports them
   (`dativo_workers.conform.to_record_batches`), rejected lines counted; nothing written;
2. with `--run`: the whole `dativo run JOB --workers N --json` path (plan, ingest, Parquet fragments,
   the Iceberg commit) into a fresh SQLite ledger and catalog, for each reader.

The log is generated once (fixed seed, `dativo_access_log.sample.write_log`: Common and Combined lines
mixed, about 0.2% malformed) under ``--data-dir``. Peak RSS: the kernel's high-water mark of the
process (``ru_maxrss`` from ``wait4``) and, for `dativo run`, the largest sum over the process tree
sampled every 50 ms with psutil. Machine load: the 1-minute load average before each measurement
and the CPU the rest of the machine used during it (in cores).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "performance.md"
README = REPO / "plugins" / "access_log" / "README.md"
MARK = "bench_access_log"

READ_ONE = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from dativo_workers.conform import to_record_batches
    from dativo_workers.plugins import RejectedRecords, SourceContext
    import dativo_access_log as plugin

    cls = {"access_log": plugin.AccessLogReader, "access_log_py": plugin.AccessLogPyReader}[sys.argv[1]]
    path = Path(sys.argv[2])
    start, cpu = time.perf_counter(), time.process_time()
    reader = cls(plugin.AccessLogSettings(), SourceContext(base_dir=path.parent, files=[{"path": path.name}]))
    plan = reader.plan()
    planned = time.perf_counter() - start
    rows = rejected = 0
    for partition in plan:
        for obj in reader.read(partition, None):
            if isinstance(obj, RejectedRecords):
                rejected += len(obj)
                continue
            for batch in to_record_batches(obj):
                rows += batch.num_rows
    print(json.dumps({"rows": rows, "rejected": rejected, "partitions": len(plan), "plan_s": planned,
                      "seconds": time.perf_counter() - start, "cpu_s": time.process_time() - cpu}))
    """
)


@dataclass
class Measurement:
    label: str
    seconds: float
    rows: int
    rejected: int
    partitions: int
    peak_rss: int  # bytes: ru_maxrss (reader) or the sampled process tree (dativo run)
    cpu_s: float
    load_before: float
    other_cores: float
    extra: dict[str, Any]

    @property
    def timed(self) -> float:
        """Seconds of the work itself: the reader's plan + read, or the engine's ``duration_s``
        (interpreter start-up and imports left out)."""
        return float(self.extra.get("seconds", self.extra.get("duration_s", self.seconds)))

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.timed

    @property
    def rows_per_cpu_s(self) -> float:
        """Rows per CPU second of the work (the reader's own, else the whole process tree's)."""
        return self.rows / float(self.extra.get("cpu_s", self.cpu_s))


def _busy() -> float:
    t = psutil.cpu_times()
    return t.user + t.system + getattr(t, "nice", 0) + getattr(t, "irq", 0) + getattr(t, "softirq", 0)


class _TreeSampler(threading.Thread):
    """Largest sum of RSS over a process and its descendants, every 50 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self.stop.wait(0.05):
            total = 0
            try:
                for proc in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                return
            self.peak = max(self.peak, total)


def _measure(label: str, cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> Measurement:
    """Run ``cmd`` (it prints one JSON object last), with its wall time, CPU and peak memory."""
    load = os.getloadavg()[0]
    busy = _busy()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        sampler = _TreeSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage: CPU and ru_maxrss
        seconds = time.perf_counter() - start
        sampler.stop.set()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode not in (0, 1):  # 1: `dativo run` committed with bad rows
        raise SystemExit(f"{label}: exit {proc.returncode}\n{stderr[-3000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    cpu = usage.ru_utime + usage.ru_stime
    other = max(0.0, (_busy() - busy - cpu) / seconds)
    return Measurement(
        label=label,
        seconds=seconds,
        rows=int(result.get("rows", 0)),
        rejected=int(result.get("rejected", result.get("bad_rows", 0))),
        partitions=int(result.get("partitions", result.get("partitions_total", 0))),
        peak_rss=max(sampler.peak, usage.ru_maxrss * 1024),
        cpu_s=cpu,
        load_before=load,
        other_cores=other,
        extra=result,
    )


def _reader(connector: str, log: Path) -> Measurement:
    return _measure(f"reader `{connector}`", [sys.executable, "-c", READ_ONE, connector, str(log)], REPO)


def _run(connector: str, log: Path, workers: int) -> Measurement:
    work = Path(tempfile.mkdtemp(prefix="bench-access-log-"))
    (work / "logs").mkdir()
    (work / "logs" / log.name).symlink_to(log)
    (work / "runner.yaml").write_text(
        textwrap.dedent(
            f"""
            runner:
              ledger_url: sqlite:///{work}/state/dativo.db
              catalogs:
                default: {{type: sql, uri: "sqlite:///{work}/state/catalog.db", warehouse: "{work}/state/warehouse"}}
            """
        )
    )
    (work / "job.yaml").write_text(
        textwrap.dedent(
            f"""
            tenant_id: bench
            name: logs
            source: {{connector: {connector}, files: [{{path: logs/*.log}}]}}
            target: {{namespace: bench, table: logs_{connector}}}
            bad_rows: {{action: skip}}
            """
        )
    )
    env = {**os.environ, "DATIVO_RUNNER_CONFIG": str(work / "runner.yaml")}
    cmd = [
        sys.executable,
        "-m",
        "dativo_workers.cli",
        "run",
        str(work / "job.yaml"),
        "--workers",
        str(workers),
        "--json",
    ]
    m = _measure(f"`dativo run -w {workers}` with `{connector}`", cmd, work, env)
    shutil.rmtree(work, ignore_errors=True)
    return m


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def _table(results: list[Measurement]) -> str:
    lines = [
        "| measurement | wall s | timed s | rows/s | rows per CPU s | MB/s of log | peak RSS | CPU s "
        "| load before | other load (cores) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in results:
        mb = m.extra.get("_bytes", 0) / 1e6 / m.timed
        lines.append(
            f"| {m.label} | {m.seconds:.2f} | {m.timed:.2f} | {m.rows_per_s:,.0f} | {m.rows_per_cpu_s:,.0f} | "
            f"{mb:.1f} | {_mib(m.peak_rss)} | {m.cpu_s:.1f} | {m.load_before:.2f} | {m.other_cores:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", type=Path, default=REPO / "bench-data")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each reader measurement (the best is kept)")
    parser.add_argument("--run", action="store_true", help="also measure the whole `dativo run` path")
    parser.add_argument("--workers", type=int, default=1, help="`dativo run --workers` for --run")
    parser.add_argument("--write-doc", action="store_true")
    args = parser.parse_args()

    from dativo_access_log.sample import write_log

    args.data_dir.mkdir(parents=True, exist_ok=True)
    log = args.data_dir / f"access-{args.lines}-{args.seed}.log"
    if not log.exists():
        print(f"generating {log} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        write_log(log.with_suffix(".tmp"), args.lines, seed=args.seed)
        log.with_suffix(".tmp").rename(log)
        print(f"  {time.perf_counter() - started:.1f}s", file=sys.stderr)
    size = log.stat().st_size
    subprocess.run(["cat", str(log)], stdout=subprocess.DEVNULL, check=True)  # both start from the page cache

    results: list[Measurement] = []
    best: dict[str, Measurement] = {}
    for connector in ("access_log", "access_log_py"):
        for _ in range(args.repeat):
            m = _reader(connector, log)
            m.extra["_bytes"] = size
            print(f"{m.label}: {m.seconds:.2f}s {m.rows_per_s:,.0f} rows/s, peak {_mib(m.peak_rss)}", file=sys.stderr)
            if connector not in best or m.timed < best[connector].timed:
                best[connector] = m
        results.append(best[connector])
    rust, python = best["access_log"], best["access_log_py"]
    assert rust.rows == python.rows and rust.rejected == python.rejected, "the readers disagree"
    ratio = rust.rows_per_s / python.rows_per_s
    cpu_ratio = rust.rows_per_cpu_s / python.rows_per_cpu_s
    runs: list[Measurement] = []
    if args.run:
        for connector in ("access_log", "access_log_py"):
            m = _run(connector, log, args.workers)
            m.extra["_bytes"] = size
            print(f"{m.label}: {m.seconds:.2f}s {m.rows_per_s:,.0f} rows/s, peak {_mib(m.peak_rss)}", file=sys.stderr)
            assert m.rows == rust.rows, f"{m.label}: {m.rows} rows, the reader read {rust.rows}"
            runs.append(m)
    run_ratio = runs[0].rows_per_s / runs[1].rows_per_s if runs else None
    run_cpu_ratio = runs[0].rows_per_cpu_s / runs[1].rows_per_cpu_s if runs else None

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
    import pyarrow

    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    body = [
        f"Measured {when}: {args.lines:,} lines ({size / 1e6:,.0f} MB, seed {args.seed}; "
        f"{rust.rows:,} rows, {rust.rejected:,} malformed lines), {rust.partitions} partition(s) of the default "
        "128 MiB, read one after the other in one process.",
        "",
        _table(results + runs),
        "",
        f"**Rust / Python reader: {ratio:.1f}x** rows/s ({cpu_ratio:.1f}x rows per CPU second)"
        + (
            f"; through the whole `dativo run -w {args.workers}`: {run_ratio:.1f}x "
            f"({run_cpu_ratio:.1f}x per CPU second)."
            if run_ratio and run_cpu_ratio
            else "."
        )
        + " The roadmap's claim is 10x.",
        "",
        f"Machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"{psutil.virtual_memory().total / 2**30:.1f} GiB, Python {platform.python_version()}, pyarrow "
        f"{pyarrow.__version__}, dativo {commit.strip()}. Plan time (newline count for partition line numbers): "
        f"Rust reader {rust.extra.get('plan_s', 0):.2f}s. "
        "Timed s: the reader's plan and read inside its process, or the engine's `duration_s` (interpreter start-up "
        "and imports left out; rows/s derive from it); wall s: the whole subprocess; rows per CPU s: the reader's own "
        "CPU time for plan and read, for `dativo run` the CPU of the whole process tree (CPU s). "
        "Peak RSS: kernel `ru_maxrss` of the reader process; for `dativo run`, the largest sum over the process "
        "tree (sampled every 50 ms). Other load: CPU the rest of the machine used meanwhile, in cores.",
        "",
        "Command:",
        "",
        "```",
        "python scripts/bench_access_log.py " + " ".join(sys.argv[1:]),
        "```",
    ]
    text = "\n".join(body)
    print(text)
    if args.write_doc:
        for target in (DOC, README):
            _replace_section(target, text)


def _replace_section(path: Path, text: str) -> None:
    start, end = f"<!-- {MARK}:start (generated by scripts/bench_access_log.py --write-doc) -->", f"<!-- {MARK}:end -->"
    doc = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(start.split(" (")[0]) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(doc):
        raise SystemExit(f"{path}: no {MARK} markers to write between")
    path.write_text(pattern.sub(lambda _: f"{start}\n{text}\n{end}", doc), encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
