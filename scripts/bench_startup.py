#!/usr/bin/env python
"""Start-up benchmark: `dativo --help` and a small `dativo run` (1,000-row CSV -> Iceberg).

    .venv/bin/python scripts/bench_startup.py                        # the working tree, 10 runs each
    .venv/bin/python scripts/bench_startup.py --engine before=/tmp/e  # side by side with a copy

``--engine LABEL=DIR`` runs the engine found in DIR (a copy of ``dativo_workers`` and
``dativo_plugins``, e.g. ``git archive <commit> dativo_workers dativo_plugins | tar -x -C DIR``)
ahead of the editable install; ``current`` is always measured. The commands of every engine run
interleaved (A B A B ...), so a load change on a shared machine hits them alike; the median and
the minimum of ``--repeat`` runs are printed with the load average before and after.

For each engine it also counts the modules ``dativo --help`` imports and lists the heavy ones
among them (a figure that does not depend on the load). This is a benchmark: it asserts only
that every run succeeded.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # the CSV, asset and job generators of scripts/bench.py

HEAVY = ("pyiceberg", "sqlalchemy", "celery", "duckdb", "pyarrow", "pydantic", "open_data_contract_standard", "kombu")


def loadavg() -> str:
    with open("/proc/loadavg") as handle:
        return " ".join(handle.read().split()[:3])


PYCACHE = Path(tempfile.gettempdir()) / "dativo-bench-startup-pycache"
BYTECODE = True  # set by --no-bytecode-cache


def engine_env(root: Path | None) -> dict[str, str]:
    """As a user's install runs: byte-compiled modules cached (in a private prefix, so the checkout
    stays clean), unless --no-bytecode-cache (PYTHONDONTWRITEBYTECODE: every engine module is
    compiled from source at each start, about 0.2 s here)."""
    env = bench.child_env(root)
    if BYTECODE:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, the process and its children): the CPU time
    moves less than the wall time when the rest of the machine is busy."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def imported(env: dict[str, str], cwd: Path) -> list[str]:
    """Modules `dativo --help` has imported when it exits (the help is printed by then)."""
    code = (
        "import sys, atexit, json\n"
        "atexit.register(lambda: sys.__stderr__.write('\\nMODULES ' + json.dumps(sorted(sys.modules)) + '\\n'))\n"
        "sys.argv = ['dativo', '--help']\n"
        "from dativo_workers.cli import main\n"
        "main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True)
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("MODULES ")]
    if not line:
        raise SystemExit(f"could not list the imported modules:\n{proc.stderr[-3000:]}")
    return json.loads(line[-1].removeprefix("MODULES "))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", action="append", default=[], help="LABEL=DIR: also measure this engine copy")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--no-bytecode-cache", action="store_true", help="compile every module at each start")
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "dativo-bench-startup")
    args = parser.parse_args(argv)
    global BYTECODE
    BYTECODE = not args.no_bytecode_cache

    engines: dict[str, Path | None] = {"current": None}
    for spec in args.engine:
        label, _, root = spec.partition("=")
        engines[label] = Path(root).resolve()
    data = args.data_dir
    data.mkdir(parents=True, exist_ok=True)
    csv_path = bench.ensure_csv(data, args.rows, 42, False)
    job = bench.write_job(data, csv_path, bench.write_asset(data), 64, {})
    dativo = bench.dativo_command()

    help_times: dict[str, list[tuple[float, float]]] = {label: [] for label in engines}
    run_times: dict[str, list[tuple[float, float]]] = {label: [] for label in engines}
    load_before = loadavg()
    for root in engines.values():  # warm the page cache and the bytecode caches
        timed([*dativo, "--help"], data, engine_env(root))
    for _ in range(args.repeat):
        for label, root in engines.items():
            help_times[label].append(timed([*dativo, "--help"], data, engine_env(root)))
        for label, root in engines.items():
            state = Path(tempfile.mkdtemp(prefix="state-", dir=data))
            try:
                runner = bench.write_runner(state)
                cmd = [*dativo, "run", str(job), "--workers", "1", "--runner", str(runner), "--json"]
                run_times[label].append(timed(cmd, state, engine_env(root)))
            finally:
                shutil.rmtree(state, ignore_errors=True)
    load_after = loadavg()

    print(
        f"load average before {load_before}, after {load_after}; {os.cpu_count()} CPUs; {args.repeat} runs each; "
        f"bytecode cache {'on' if BYTECODE else 'off'}"
    )
    print(
        "| engine | `dativo --help` wall median (min) | CPU | small `dativo run` wall median (min) | CPU "
        "| modules for --help | heavy |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, root in engines.items():
        modules = imported(engine_env(root), data)
        heavy = sorted({m.split(".")[0] for m in modules if m.split(".")[0] in HEAVY})
        cells = []
        for runs in (help_times[label], run_times[label]):
            wall, cpu = [w for w, _ in runs], [c for _, c in runs]
            cells += [f"{statistics.median(wall):.3f} s ({min(wall):.3f})", f"{statistics.median(cpu):.3f} s"]
        print(f"| {label} | {' | '.join(cells)} | {len(modules)} | {', '.join(heavy) or '-'} |")


if __name__ == "__main__":
    main(sys.argv[1:])
