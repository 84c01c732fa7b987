#!/usr/bin/env python
"""Chaos autoscaler: drive a fleet of `dativo worker` processes on this machine like KEDA would,
kill some of them like a bad day in a cluster would, and report whether the run still landed
exactly once.

    .venv/bin/python scripts/fleet_sim.py JOB.yaml --runner runner.yaml \\
        --duration 120 --min-workers 1 --max-workers 4 --list-length 3 --kill-rate 6 --seed 7 --json

What it does, every --poll seconds, until the run is final or --duration has passed:

- scales: desired = ceil(LLEN(queue) / --list-length), clamped to [--min-workers,
  --max-workers]. LLEN of the run's queue list in the broker db is what KEDA's redis scaler
  reads: the messages no worker has taken yet. A worker is one `dativo worker -c
  --concurrency` process ("a pod"); starting ones count as replicas, as pending pods do.
- scales down with SIGTERM to the worker's main process (Celery's warm shutdown: no new
  messages, running partitions finish), and SIGKILL to its whole process group after --grace
  seconds, as the kubelet does after terminationGracePeriodSeconds. The newest workers go
  first. --scale-down-window keeps the highest desired count of that many seconds, like the
  HPA's stabilization window (300 s in Kubernetes; 0 here unless set).
- kills: SIGKILL to a random worker's whole process group (a dead pod or host: no warm
  shutdown, no acknowledgement, nothing cleaned up), a Poisson process of --kill-rate kills per
  minute, at most --max-kills.
- keeps one "anchor" worker started with `--beat`: it runs the periodic reconciler, so every
  recovery happens unaided, the way the fleet's single beat does. It is never scaled down or
  killed here; if it exits anyway, a new anchor is started.

It submits the job with `dativo submit --json` first (the fleet is already at --min-workers, as
a KEDA fleet would be), and stops every worker it started before it reports: scale events,
kills (with the partitions each killed worker was running), the run's final state and rows,
and how many snapshots the run added to its table. Exit status: 0 committed, 1 final but not
committed, 2 not final when --duration ran out, 3 could not submit.

Worker logs (one file per worker, Dativo's events as JSON lines) stay in --log-dir. This is
a test tool for one machine, not a production autoscaler.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import redis

from dativo_workers.config import load_job
from dativo_workers.config.job import JobConfig, expand_objects
from dativo_workers.config.runner import RunnerConfig, load_runner, locate_runner_file
from dativo_workers.iceberg import RUN_ID_PROPERTY, load_table, open_catalog
from dativo_workers.ledger import FINAL_STATES, Ledger
from dativo_workers.pipeline import run_summary
from dativo_workers.storage import catalog_properties

DEFAULT_QUEUE = "dativo"  # celery_app.DEFAULT_QUEUE; importing celery_app would load a runner config
CONTROL_QUEUE = "dativo.control"

EXIT_COMMITTED, EXIT_NOT_COMMITTED, EXIT_NOT_FINAL, EXIT_SUBMIT_FAILED = 0, 1, 2, 3


class Interrupted(Exception):
    """SIGINT/SIGTERM to the simulator: stop the fleet, then report."""


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    anchor: bool
    started_t: float
    ready_t: float | None = None
    terminating_t: float | None = None  # SIGTERM sent (scale-down or final stop)
    killed: str | None = None  # why we SIGKILLed it, if we did
    ended_t: float | None = None
    exit_code: int | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pid": self.pid,
            "anchor": self.anchor,
            "started_t": self.started_t,
            "ready_t": self.ready_t,
            "terminating_t": self.terminating_t,
            "ended_t": self.ended_t,
            "exit_code": self.exit_code,
            "killed": self.killed,
            "log": str(self.log),
        }


def keda_desired(queue_length: int, list_length: int, min_workers: int, max_workers: int) -> int:
    """KEDA's redis scaler through the HPA: ceil(metric / target), clamped to the replica bounds."""
    return max(min_workers, min(max_workers, math.ceil(queue_length / list_length)))


def _die_with_parent() -> None:
    """In a worker, before exec: SIGKILL it if the simulator dies, so no worker outlives it."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class FleetSim:
    args: argparse.Namespace
    runner_file: Path | None
    runner: RunnerConfig
    log_dir: Path
    rng: random.Random
    t0: float = field(default_factory=time.monotonic)
    workers: list[Worker] = field(default_factory=list)  # every worker ever started
    events: list[dict[str, Any]] = field(default_factory=list)
    desired_history: list[tuple[float, int]] = field(default_factory=list)
    run_id: str | None = None
    kills: int = 0
    _seq: int = 0
    _ledger: Ledger | None = None

    # -- clock and events -------------------------------------------------------------------
    def now(self) -> float:
        return round(time.monotonic() - self.t0, 2)

    def event(self, kind: str, **fields: Any) -> dict[str, Any]:
        entry = {"t": self.now(), "event": kind, **fields}
        self.events.append(entry)
        if not self.args.quiet:
            details = " ".join(f"{k}={v}" for k, v in fields.items())
            print(f"[fleet_sim t={entry['t']:7.2f}s] {kind} {details}", file=sys.stderr, flush=True)
        return entry

    # -- workers ----------------------------------------------------------------------------
    def live(self) -> list[Worker]:
        return [w for w in self.workers if w.ended_t is None]

    def replicas(self) -> list[Worker]:
        """What the HPA counts: live workers not being terminated."""
        return [w for w in self.live() if w.terminating_t is None and w.killed is None]

    def env(self) -> dict[str, str]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if self.runner_file is not None:
            env["DATIVO_RUNNER_CONFIG"] = str(self.runner_file)
        return env

    def start_worker(self, anchor: bool) -> Worker:
        self._seq += 1
        name = f"sim{self._seq:02d}-{uuid.uuid4().hex[:4]}"
        log = self.log_dir / f"{name}.log"
        cmd = [
            sys.executable, "-m", "dativo_workers.cli", "--log-level", "info", "--log-format", "json",
            "worker", "--concurrency", str(self.args.concurrency), "--queues", f"{self.args.queue},{CONTROL_QUEUE}",
            "--hostname", f"{name}@%h",
        ]  # fmt: skip
        if self.runner_file is not None:
            cmd += ["--runner", str(self.runner_file)]
        if anchor:
            cmd.append("--beat")
        with log.open("wb") as handle:
            proc = subprocess.Popen(
                cmd,
                cwd=self.log_dir,  # beat's schedule file lands here
                env=self.env(),
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: one killpg takes the whole "pod"
                preexec_fn=_die_with_parent,
            )
        worker = Worker(name=name, proc=proc, log=log, anchor=anchor, started_t=self.now())
        self.workers.append(worker)
        return worker

    def group_pids(self, worker: Worker) -> set[int]:
        try:
            main = psutil.Process(worker.pid)
            return {worker.pid, *(p.pid for p in main.children(recursive=True))}
        except psutil.Error:
            return {worker.pid}

    def running_partitions(self, pids: set[int]) -> list[int]:
        """Partitions of the run that one of these processes holds (the ledger names host:pid)."""
        if self.run_id is None:
            return []
        held = []
        for p in self.ledger.partitions(self.run_id):
            owner = (p["worker"] or "").rsplit(":", 1)[-1]
            if p["state"] == "running" and owner.isdigit() and int(owner) in pids:
                held.append(int(p["idx"]))
        return held

    def sigkill(self, worker: Worker, reason: str) -> dict[str, Any]:
        pids = self.group_pids(worker)
        running = self.running_partitions(pids)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        worker.killed = reason
        return self.event("sigkill", reason=reason, worker=worker.name, pids=sorted(pids), running_partitions=running)

    def sigterm(self, worker: Worker) -> None:
        worker.terminating_t = self.now()
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGTERM)  # the main process only, like PID 1 of a container

    def reap(self) -> None:
        for worker in self.live():
            if worker.ready_t is None and worker.proc.poll() is None and b" ready." in _read(worker.log):
                worker.ready_t = self.now()
                self.event("worker_ready", worker=worker.name, anchor=worker.anchor, after_s=round(
                    worker.ready_t - worker.started_t, 2))  # fmt: skip
            code = worker.proc.poll()
            if code is None:
                continue
            worker.ended_t, worker.exit_code = self.now(), code
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)  # what the main process left behind (pool, beat)
            if worker.killed is None:
                kind = "worker_stopped" if worker.terminating_t is not None else "worker_crashed"
                self.event(kind, worker=worker.name, exit_code=code)

    def enforce_grace(self) -> None:
        for worker in self.live():
            overdue = worker.terminating_t is not None and self.now() - worker.terminating_t >= self.args.grace
            if overdue and worker.killed is None:
                self.sigkill(worker, "grace_expired")

    def maybe_kill(self, dt: float) -> None:
        if self.args.max_kills is not None and self.kills >= self.args.max_kills:
            return
        if self.rng.random() >= 1 - math.exp(-self.args.kill_rate * dt / 60.0):
            return
        candidates = [w for w in self.live() if not w.anchor and w.killed is None and w.ready_t is not None]
        if not candidates:
            return
        self.kills += 1
        self.sigkill(self.rng.choice(candidates), "random")

    def scale(self, queue_length: int) -> None:
        args = self.args
        desired = keda_desired(queue_length, args.list_length, args.min_workers, args.max_workers)
        now = self.now()
        self.desired_history = [(t, d) for t, d in self.desired_history if t >= now - args.scale_down_window]
        self.desired_history.append((now, desired))
        current = self.replicas()
        if not any(w.anchor for w in current):
            self.event("anchor_start", reason="no live anchor (beat) worker")
            self.start_worker(anchor=True)
            current = self.replicas()
        if desired > len(current):
            started = [self.start_worker(anchor=False).name for _ in range(desired - len(current))]
            self.event("scale_up", queue_length=queue_length, replicas=len(current), desired=desired, started=started)
            return
        target = max(d for _, d in self.desired_history)  # stabilization: the highest recent wish
        if target < len(current):
            removable = sorted((w for w in current if not w.anchor), key=lambda w: w.started_t, reverse=True)
            victims = removable[: len(current) - target]
            for worker in victims:
                self.sigterm(worker)
            self.event(
                "scale_down",
                queue_length=queue_length,
                replicas=len(current),
                desired=target,
                stopped=[w.name for w in victims],
                running_partitions=self.running_partitions(set().union(*(self.group_pids(w) for w in victims))),
            )

    def stop_all(self) -> None:
        for worker in self.live():
            if worker.terminating_t is None and worker.killed is None:
                self.sigterm(worker)
        deadline = time.monotonic() + self.args.grace
        while self.live() and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.2)
        for worker in self.live():
            self.sigkill(worker, "stop_grace_expired")
        deadline = time.monotonic() + 10
        while self.live() and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.05)

    # -- the run ----------------------------------------------------------------------------
    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger(self.runner.ledger_url)
        return self._ledger

    def submit(self, job: Path) -> str:
        cmd = [sys.executable, "-m", "dativo_workers.cli", "submit", str(job), "--json"]
        if self.runner_file is not None:
            cmd += ["--runner", str(self.runner_file)]
        if self.args.queue != DEFAULT_QUEUE:
            cmd += ["--queue", self.args.queue]
        proc = subprocess.run(cmd, env=self.env(), capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"dativo submit exited {proc.returncode}:\n{proc.stderr.strip()}")
        run_id = str(json.loads(proc.stdout)["run_id"])
        self.event("submitted", run_id=run_id)
        return run_id

    def drive(self, job: Path) -> dict[str, Any]:
        broker = redis.Redis.from_url(self.runner.broker_url)
        self.start_worker(anchor=True)  # the fleet is at its minimum before the job arrives
        for _ in range(self.args.min_workers - 1):
            self.start_worker(anchor=False)
        self.event("fleet_started", replicas=self.args.min_workers)
        self.run_id = self.submit(job)
        deadline = self.t0 + self.args.duration
        last = time.monotonic()
        summary = run_summary(self.ledger, self.run_id)
        while summary["state"] not in FINAL_STATES and time.monotonic() < deadline:
            time.sleep(self.args.poll)
            dt, last = time.monotonic() - last, time.monotonic()
            self.reap()
            self.enforce_grace()
            self.maybe_kill(dt)
            self.scale(int(broker.llen(self.args.queue)))
            summary = run_summary(self.ledger, self.run_id)
        if summary["state"] in FINAL_STATES:
            self.event("run_final", state=summary["state"], rows=summary["rows"])
        else:
            self.event("duration_over", state=summary["state"])
        return summary


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _snapshots(runner: RunnerConfig, job: JobConfig) -> list[Any] | None:
    """The target table's snapshots (None for a target that is not an Iceberg table)."""
    target = job.target
    if not target.is_iceberg:
        return None
    catalog = open_catalog(target.catalog, catalog_properties(runner.catalog(target.catalog), job.tenant_id))
    table = load_table(catalog, (target.namespace, target.table))
    return [] if table is None else list(table.snapshots())


def _report(sim: FleetSim, summary: dict[str, Any] | None, before: list[Any] | None, job: JobConfig) -> dict[str, Any]:
    after = _snapshots(sim.runner, job) if before is not None else None
    ours = [s for s in after or [] if s.summary is not None and s.summary.get(RUN_ID_PROPERTY) == sim.run_id]
    parts = sim.ledger.partitions(sim.run_id) if sim.run_id else []
    kills = [e for e in sim.events if e["event"] == "sigkill"]
    scale_events = [e for e in sim.events if e["event"] in ("scale_up", "scale_down")]
    return {
        "run_id": sim.run_id,
        "state": summary["state"] if summary else None,
        "final": bool(summary and summary["state"] in FINAL_STATES),
        "rows": summary["rows"] if summary else None,
        "files": summary["files"] if summary else None,
        "snapshot_id": summary["snapshot_id"] if summary else None,
        "snapshots_added": len(ours) if after is not None else None,
        "snapshot_added_records": [int(s.summary.get("added-records", 0)) for s in ours],
        "table_snapshots_before": len(before) if before is not None else None,
        "table_snapshots_after": len(after) if after is not None else None,
        "partitions_total": summary["partitions_total"] if summary else None,
        "partitions_rerun": {str(p["idx"]): p["attempts"] for p in parts if p["attempts"] > 1},
        "elapsed_s": sim.now(),
        "counts": {
            "workers_started": len(sim.workers),
            "scale_ups": sum(1 for e in scale_events if e["event"] == "scale_up"),
            "scale_downs": sum(1 for e in scale_events if e["event"] == "scale_down"),
            "sigkill_random": sum(1 for e in kills if e["reason"] == "random"),
            "sigkill_random_mid_partition": sum(
                1 for e in kills if e["reason"] == "random" and e["running_partitions"]
            ),
            "sigkill_grace_expired": sum(1 for e in kills if e["reason"] == "grace_expired"),
        },
        "scale_events": scale_events,
        "kills": kills,
        "events": sim.events,
        "workers": [w.record() for w in sim.workers],
        "run": summary,
        "settings": {
            **{k: v for k, v in vars(sim.args).items() if k not in ("json", "quiet")},
            "job": str(sim.args.job),
            "runner": str(sim.runner_file) if sim.runner_file else None,
            "lease_seconds": sim.runner.lease_seconds,
            "reconcile_seconds": getattr(sim.runner, "reconcile_seconds", None),
            "log_dir": str(sim.log_dir),
        },
    }


def _print_text(report: dict[str, Any]) -> None:
    c = report["counts"]
    for e in report["events"]:
        if e["event"] in ("submit_failed", "error", "interrupted"):
            print(f"{e['event']} at t={e['t']:.1f} s: {e.get('error') or e.get('signal')}")
    rerun = ", ".join(f"p{i} x{n}" for i, n in report["partitions_rerun"].items()) or "none"
    print(f"run {report['run_id']}: {report['state']} after {report['elapsed_s']:.1f} s")
    print(f"  rows {report['rows']}, files {report['files']}, partitions {report['partitions_total']}")
    print(f"  partitions run more than once: {rerun}")
    if report["snapshots_added"] is not None:
        print(
            f"  snapshots added by the run: {report['snapshots_added']} "
            f"(table had {report['table_snapshots_before']}, now {report['table_snapshots_after']})"
        )
    print(
        f"  workers started {c['workers_started']}; scale-ups {c['scale_ups']}, scale-downs {c['scale_downs']}; "
        f"SIGKILL random {c['sigkill_random']} ({c['sigkill_random_mid_partition']} mid-partition), "
        f"after grace {c['sigkill_grace_expired']}"
    )
    for e in sorted(report["scale_events"] + report["kills"], key=lambda e: e["t"]):
        if e["event"] == "sigkill":
            what = f"SIGKILL {e['worker']} ({e['reason']}), running partitions {e['running_partitions']}"
        else:
            names = e.get("started") or e.get("stopped")
            what = f"{e['event']} {e['replicas']} -> {e['desired']} (queue {e['queue_length']}): {names}"
        print(f"  t={e['t']:7.2f}s  {what}")
    print(f"  worker logs: {report['settings']['log_dir']}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="fleet_sim.py",
        description=(
            "Chaos autoscaler for one machine: submit a job, then scale `dativo worker` processes on the "
            "Redis queue length with KEDA's formula, stop them with SIGTERM + grace period on scale-down, "
            "SIGKILL random ones, until the run is final or the duration ends; then report."
        ),
        epilog="Exit status: 0 committed, 1 final but not committed, 2 not final in time, 3 submit failed.",
    )
    parser.add_argument("job", type=Path, help="job YAML to submit (one table)")
    add = parser.add_argument
    add(
        "--runner",
        type=Path,
        metavar="FILE",
        help="runner config (default: $DATIVO_RUNNER_CONFIG, else ./config/runner.yaml); the workers use the same",
    )
    add(
        "--duration",
        type=float,
        default=300.0,
        metavar="S",
        help="drive the fleet at most this long (default: %(default)s)",
    )
    add("--min-workers", type=int, default=1, metavar="N", help="KEDA minReplicaCount, >= 1 (default: %(default)s)")
    add("--max-workers", type=int, default=4, metavar="N", help="KEDA maxReplicaCount (default: %(default)s)")
    add(
        "--list-length",
        type=int,
        default=5,
        metavar="N",
        help="KEDA redis trigger listLength: queued messages per worker (default: %(default)s)",
    )
    add(
        "--concurrency",
        type=int,
        default=1,
        metavar="N",
        help="processes per worker, `dativo worker -c` (default: %(default)s)",
    )
    add(
        "--kill-rate",
        type=float,
        default=2.0,
        metavar="PER_MIN",
        help="random SIGKILLs of a whole worker per minute, Poisson (default: %(default)s)",
    )
    add("--max-kills", type=int, default=None, metavar="N", help="stop killing after this many (default: no cap)")
    add(
        "--grace",
        type=float,
        default=30.0,
        metavar="S",
        help="SIGTERM -> SIGKILL delay on scale-down, terminationGracePeriodSeconds (default: %(default)s)",
    )
    add(
        "--scale-down-window",
        type=float,
        default=0.0,
        metavar="S",
        help="scale down only to the highest desired count of the last S seconds, the HPA's "
        "stabilization window (default: %(default)s)",
    )
    add("--seed", type=int, default=None, help="random seed of the kills (default: drawn, and reported)")
    add(
        "--poll",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds between two looks at queue and fleet (default: %(default)s)",
    )
    add("--queue", default=DEFAULT_QUEUE, help="queue to submit to, scale on and consume (default: %(default)s)")
    add("--log-dir", type=Path, metavar="DIR", help="where worker logs go (default: a new temporary directory)")
    add("--json", action="store_true", help="print the report as one JSON object on stdout")
    add("--quiet", action="store_true", help="no event lines on stderr while it runs")
    args = parser.parse_args(argv)
    for name in ("min_workers", "list_length", "concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.max_workers < args.min_workers:
        parser.error("--max-workers must be at least --min-workers")
    if args.kill_rate < 0 or args.grace < 0 or args.duration <= 0 or args.poll <= 0:
        parser.error("--kill-rate and --grace must be >= 0, --duration and --poll > 0")
    if not args.job.is_file():
        parser.error(f"job file {args.job} does not exist")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(2**31)
    runner_file = locate_runner_file(args.runner)
    runner_file = runner_file.resolve() if runner_file is not None else None
    runner = load_runner(runner_file)
    jobs = expand_objects(load_job(args.job.resolve()))
    if len(jobs) != 1:
        print(f"fleet_sim: {args.job} expands to {len(jobs)} runs; give it a one-table job", file=sys.stderr)
        return EXIT_SUBMIT_FAILED
    job = jobs[0].config
    log_dir = (args.log_dir or Path(tempfile.mkdtemp(prefix="fleet_sim-"))).resolve()
    log_dir.mkdir(parents=True, exist_ok=True)
    sim = FleetSim(args=args, runner_file=runner_file, runner=runner, log_dir=log_dir, rng=random.Random(args.seed))

    def interrupt(signum: int, _frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # one stop is enough: let the teardown finish
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Interrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    before = _snapshots(runner, job)
    summary: dict[str, Any] | None = None
    code = EXIT_NOT_FINAL
    try:
        summary = sim.drive(args.job.resolve())
    except Interrupted as exc:
        sim.event("interrupted", signal=str(exc))
    except Exception as exc:  # the fleet is still stopped and a report still printed
        sim.event("submit_failed" if sim.run_id is None else "error", error=f"{type(exc).__name__}: {exc}")
        code = EXIT_SUBMIT_FAILED if sim.run_id is None else EXIT_NOT_FINAL
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sim.stop_all()
    if sim.run_id is not None:
        summary = run_summary(sim.ledger, sim.run_id)  # after the stop: the last word of the ledger
        final = summary["state"] in FINAL_STATES
        code = EXIT_COMMITTED if summary["state"] == "committed" else EXIT_NOT_COMMITTED if final else EXIT_NOT_FINAL
    report = _report(sim, summary, before, job)
    if args.json:
        sys.stdout.write(json.dumps(report, default=str) + "\n")
    else:
        _print_text(report)
    return code


if __name__ == "__main__":
    sys.exit(main())
