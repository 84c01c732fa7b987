"""Exactly-once under chaos: scripts/fleet_sim.py scales real `dativo worker` processes on the
queue length (KEDA's formula), SIGTERMs some on scale-down and SIGKILLs others mid-partition;
the run must still land every row exactly once, in one snapshot, with no help from us."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dativo_workers.config.runner import RunnerConfig

from ..conftest import REPO, Workspace
from .fleet import Fleet

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SIM = REPO / "scripts" / "fleet_sim.py"
FILES, ROWS_PER_FILE = 16, 1000
# A short reconcile interval makes recovery quick; without `runner.reconcile_seconds`, beat's
# 30 s schedule applies and the run needs a longer bound. The run usually ends in 35-50 s on
# 2 busy cores (a worker takes 5-13 s to boot there); the bound leaves room for a slow machine.
RECONCILE_CONFIGURABLE = "reconcile_seconds" in RunnerConfig.model_fields
DURATION_S = 75 if RECONCILE_CONFIGURABLE else 100


def _sim_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fleet_sim", SIM)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fleet_sim", module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_keda_formula() -> None:
    desired = _sim_module().keda_desired
    assert desired(0, 3, 1, 4) == 1  # an empty queue keeps the minimum (the anchor)
    assert desired(1, 3, 1, 4) == 1
    assert desired(4, 3, 1, 4) == 2  # ceil(4 / 3)
    assert desired(9, 3, 1, 4) == 3
    assert desired(100, 3, 1, 4) == 4  # clamped to the maximum


@pytest.fixture
def chaos_fleet(workspace: Workspace) -> Iterator[Fleet]:
    """The private Redis db pair of this test process (conftest), flushed before and after;
    the workers themselves are started and stopped by the simulator."""
    fleet = Fleet(
        root=workspace.root,
        runner_file=workspace.runner_file,
        broker_url=os.environ["DATIVO_BROKER_URL"],
        result_backend=os.environ["DATIVO_RESULT_BACKEND"],
    )
    fleet.flush()
    try:
        yield fleet
    finally:
        fleet.flush()


def _chaos_job(ws: Workspace) -> Path:
    extra = "  lease_seconds: 5\n" + ("  reconcile_seconds: 2\n" if RECONCILE_CONFIGURABLE else "")
    ws.runner_file.write_text(ws.runner_file.read_text().replace("runner:\n", "runner:\n" + extra, 1))
    shutil.copy(Path(__file__).with_name("slow_csv.py"), ws.root / "slow_csv.py")
    for f in range(FILES):  # one partition per file, ids contiguous across files
        ids = range(f * ROWS_PER_FILE, (f + 1) * ROWS_PER_FILE)
        ws.write(f"data/part{f:02d}.csv", "id,payload\n" + "".join(f"{i},row-{i:08d}-padding-padding\n" for i in ids))
    # 4 KiB parse blocks: ~8 batches per partition, 0.25 s each, so a partition runs ~2 s
    return ws.job(
        "chaos.yaml",
        """
        tenant_id: acme
        name: chaos
        source:
          reader:
            type: plugin
            plugin_path: slow_csv.SlowCsvReader
            config: {block_size_mb: 0.004, sleep_per_batch_s: 0.25}
          files: [{path: "data/part*.csv"}]
        target: {namespace: acme, table: chaos}
        """,
    )


def _run_sim(fleet: Fleet, job: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    cmd = [sys.executable, str(SIM), str(job), "--runner", str(fleet.runner_file), "--json", *args]
    proc = subprocess.Popen(cmd, cwd=fleet.root, env=fleet.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=DURATION_S + 120)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the simulator stops its workers, then reports
        out, err = proc.communicate(timeout=60)
    log = err.decode(errors="replace")
    assert out.strip(), f"fleet_sim printed no report (exit {proc.returncode}):\n{log[-4000:]}"
    return proc.returncode, json.loads(out), log


def test_chaos_fleet_lands_every_row_exactly_once_in_one_snapshot(workspace: Workspace, chaos_fleet: Fleet) -> None:
    job = _chaos_job(workspace)
    code, report, log = _run_sim(
        chaos_fleet, job,
        "--duration", str(DURATION_S), "--min-workers", "1", "--max-workers", "3", "--list-length", "3",
        "--kill-rate", "30", "--max-kills", "2", "--grace", "10", "--scale-down-window", "3", "--seed", "12",
        "--poll", "0.5",
        "--log-dir", str(workspace.root / "worker-logs"),
    )  # fmt: skip
    assert code == 0 and report["state"] == "committed", (report["run"] or {}).get("error") or log[-4000:]
    counts = report["counts"]
    print(f"fleet_sim: {report['elapsed_s']} s, {counts}, re-run partitions {report['partitions_rerun']}")
    assert counts["sigkill_random"] >= 1, log[-4000:]
    assert counts["sigkill_random_mid_partition"] >= 1, report["kills"]
    assert counts["scale_downs"] >= 1 and counts["scale_ups"] >= 1, report["scale_events"]
    assert report["partitions_rerun"], "a worker killed mid-partition leaves a partition to run again"
    assert all(w["ended_t"] is not None for w in report["workers"]), "the simulator stops every worker"

    # read back with pyiceberg: one snapshot, carrying the run, every id exactly once
    table = workspace.table("acme.chaos")
    [snapshot] = table.snapshots()
    assert snapshot.summary is not None and snapshot.summary["dativo.run-id"] == report["run_id"]
    assert report["snapshots_added"] == 1 and report["table_snapshots_before"] == 0
    ids = table.scan().to_arrow().column("id").to_pylist()
    assert len(ids) == FILES * ROWS_PER_FILE, f"{len(ids) - len(set(ids))} duplicate ids"
    assert sorted(ids) == list(range(FILES * ROWS_PER_FILE))
    assert report["rows"] == FILES * ROWS_PER_FILE
    # attempts of killed workers leave no files behind in the table location
    data_files = list((workspace.state / "warehouse/acme/chaos/data").rglob("*.parquet"))
    assert len(data_files) == report["files"], sorted(str(p) for p in data_files)
