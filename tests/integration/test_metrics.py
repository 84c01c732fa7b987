"""Prometheus metrics for real: a Celery worker and an embedded run serve /metrics over HTTP, scraped
while the run goes on and after; the counters must equal what the run's summary says."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from dativo_workers import metrics
from dativo_workers.config import load_job, load_runner
from dativo_workers.ledger import partitions as partitions_table
from dativo_workers.pipeline import plan_run
from dativo_workers.producer import submit, wait
from dativo_workers.reconcile import reconcile

from ..conftest import Workspace
from .fleet import Fleet, dativo_command, eventually, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples: Samples = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] += s.value
    return samples


def _value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, got), v in samples.items() if n == name and wanted <= got)


def _scrape_or_empty(port: int) -> Samples:
    try:
        return _scrape(port)
    except (urllib.error.URLError, ConnectionError):
        return {}


def _scrape_when(port: int, condition: Callable[[Samples], bool]) -> Samples | None:
    """A scrape if it meets ``condition`` (None if not, or if nothing listens on the port)."""
    samples = _scrape_or_empty(port)
    return samples if samples and condition(samples) else None


def _csv_job(ws: Workspace, name: str, files: int = 3, rows: int = 40, sleep_s: float = 0.0) -> Path:
    """``files`` CSV files (one partition each) of ``rows`` rows; the last file holds two rows
    whose id is not a number (quarantined). Read by tests/integration/slow_csv.py, sleeping
    ``sleep_s`` per batch of its small blocks."""
    shutil.copy(Path(__file__).with_name("slow_csv.py"), ws.root / "slow_csv.py")
    for f in range(files):
        lines = [f"{i},name-{i:06d}-padding-padding" for i in range(f * rows, (f + 1) * rows)]
        if f == files - 1:
            lines[3], lines[7] = "three,bad", "seven,bad"
        ws.write(f"data/{name}{f:02d}.csv", "id,name\n" + "\n".join(lines) + "\n")
    ws.write(
        "assets/people.yaml",
        """
        apiVersion: v3.0.2
        kind: DataContract
        id: people
        version: 1.0.0
        status: active
        schema:
          - name: people
            properties:
              - {name: id, logicalType: integer, physicalType: bigint, required: true}
              - {name: name, logicalType: string}
        """,
    )
    return ws.job(
        f"{name}.yaml",
        f"""
        tenant_id: acme
        name: {name}
        asset_path: assets/people.yaml
        source:
          reader:
            type: plugin
            plugin_path: slow_csv.SlowCsvReader
            config: {{block_size_mb: 0.0005, sleep_per_batch_s: {sleep_s}}}
          files: [{{path: "data/{name}*.csv"}}]
        target: {{namespace: acme, table: {name}}}
        bad_rows: {{action: quarantine, max: 10}}
        """,
    )


def _check_against_summary(samples: Samples, summary: dict[str, Any]) -> None:
    labels = {"tenant": "acme", "table": summary["table"]}
    assert _value(samples, "dativo_rows_total", **labels) == summary["rows"]
    assert _value(samples, "dativo_bytes_total", **labels) == summary["bytes"]
    assert _value(samples, "dativo_bad_rows_total", **labels) == summary["bad_rows"] == 2
    assert _value(samples, "dativo_partitions_total", outcome="done", **labels) == summary["partitions_done"]
    assert _value(samples, "dativo_partitions_total", outcome="failed", **labels) == 0
    assert _value(samples, "dativo_partition_duration_seconds_count", **labels) == summary["partitions_done"]
    assert _value(samples, "dativo_partitions_in_progress", **labels) == 0
    # no run id anywhere among the labels
    assert not [key for key in samples if any(summary["run_id"] in value for _, value in key[1])]


def test_worker_metrics_count_what_the_run_summary_says(workspace: Workspace, fleet: Fleet) -> None:
    port = free_port()
    fleet.start_worker(concurrency=2, args=("--metrics-port", str(port)))
    job = _csv_job(workspace, "fleetpeople", files=4, sleep_s=0.15)
    runner = load_runner(workspace.runner_file)
    ledger = workspace.ledger()
    run_id = submit(load_job(job), runner, ledger, None)
    table = {"tenant": "acme", "table": "acme.fleetpeople"}
    # during the run: partitions in progress, in the prefork children's files
    eventually(
        lambda: _value(_scrape(port), "dativo_partitions_in_progress", **table) >= 1,
        timeout=60,
        interval=0.05,
        what="a partition in progress on /metrics",
    )
    summary = wait(run_id, ledger, timeout_s=120)
    assert summary["state"] == "committed", summary
    assert summary["partitions_done"] == 4 and summary["bad_rows"] == 2
    # the commit is counted by the process that ran it, just before the summary reads committed
    samples = eventually(
        lambda: _scrape_when(port, lambda s: _value(s, "dativo_commits_total", state="committed", **table) > 0),
        timeout=10,
        what="the commit on /metrics",
    )
    _check_against_summary(samples, summary)
    assert _value(samples, "dativo_commit_duration_seconds_count", **table) == 1
    assert _value(samples, "dativo_commit_duration_seconds_sum", **table) > 0


def test_embedded_run_serves_metrics_while_it_runs(workspace: Workspace) -> None:
    """`dativo run --metrics-port` in a process of its own, with a pool of two processes: scraped
    while it runs, and the port is closed when the run ends."""
    port = free_port()
    job = _csv_job(workspace, "embpeople", files=3, sleep_s=0.2)
    env = {**os.environ, "DATIVO_RUNNER_CONFIG": str(workspace.runner_file)}
    cmd = [*dativo_command(), "run", str(job), "--workers", "2", "--json", "--metrics-port", str(port)]
    proc = subprocess.Popen(cmd, cwd=workspace.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        table = {"tenant": "acme", "table": "acme.embpeople"}
        seen = eventually(
            lambda: _scrape_when(port, lambda s: _value(s, "dativo_partitions_total", **table) >= 1),
            timeout=90,
            interval=0.05,
            what="a finished partition on /metrics while the run lasts",
        )
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err.decode()  # committed, with bad rows
    summary = json.loads(out)
    assert summary["state"] == "committed" and summary["partitions_done"] == 3
    assert 0 < _value(seen, "dativo_rows_total", **table) <= summary["rows"]
    with pytest.raises(urllib.error.URLError):  # served only while the run lasts
        _scrape(port)


def test_metrics_port_in_use_is_a_clear_error(workspace: Workspace) -> None:
    job = _csv_job(workspace, "busyport", files=1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for args in (("run", str(job)), ("worker",)):
            started = time.monotonic()
            result = workspace.cli(*args, "--metrics-port", str(port), "--metrics-host", "127.0.0.1")
            assert result.code == 2, (args, result)
            assert f"--metrics-port {port}: port {port} is already in use" in result.stderr, result.stderr
            assert "Traceback" not in result.stderr and time.monotonic() - started < 30
    assert not workspace.ledger().list_runs(None, 10), "nothing runs when the metrics cannot be served"


def test_reconciler_counts_the_leases_it_takes_back(workspace: Workspace) -> None:
    """Two partitions whose worker went silent: the reconciler's pass counts them stolen_lease."""
    job = _csv_job(workspace, "silentpeople", files=2)
    runner = load_runner(workspace.runner_file)
    ledger = workspace.ledger()
    planned = plan_run(load_job(job), runner, ledger)
    for p in planned.partitions:
        assert ledger.start_attempt(planned.run_id, p.index, worker="dead-host:1") == 1
    with ledger.engine.begin() as conn:
        conn.execute(partitions_table.update().values(heartbeat_at=time.time() - 3600))
        conn.execute(sa.text("UPDATE dativo_runs SET created_at = created_at - 3600"))
    sent: list[list[int]] = []
    port = free_port()
    with metrics.serving(port, "127.0.0.1"):
        report = reconcile(runner, ledger, enqueue=lambda _run, indexes, _queue: sent.append(indexes))
        samples = _scrape(port)
    assert report["requeued"] == {planned.run_id: [0, 1]} and sent == [[0, 1]]
    table = {"tenant": "acme", "table": "acme.silentpeople"}
    assert _value(samples, "dativo_partitions_total", outcome="stolen_lease", **table) == 2
    assert metrics._metrics() is None  # off again once the block ends
