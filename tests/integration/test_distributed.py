"""The worker pool for real: Celery worker processes on Redis, the ledger decides, pyiceberg reads back."""

from __future__ import annotations

import ast
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis
import sqlalchemy as sa

from dativo_workers.config import load_job, load_runner
from dativo_workers.ingest import ingest_partition
from dativo_workers.ledger import partitions as partitions_table
from dativo_workers.pipeline import plan_run
from dativo_workers.producer import retry, submit, wait
from dativo_workers.reconcile import reconcile

from ..conftest import Workspace
from .fleet import BrokerRecorder, Fleet, alive_in_group, eventually, free_port, leaks

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

# needs quoting in a URL, escaping in JSON, and holds a non-ASCII letter: every form is searched for
SECRET = 'tok-9f3a77e1c2/very "secret" &+=%é'

SLOW_READER = '''
import time
import pyarrow as pa
from dativo_workers.plugins import DataReader, Partition, PluginSettings


class Settings(PluginSettings):
    partitions: int = 4
    batches: int = 6
    rows: int = 500
    sleep_s: float = 0.25
    refuse_partition: int = -1  # this partition fails the way an API refusing a credential does
    report_to: str = ""  # a file: the reading process writes the CPUs Arrow may use there


class SlowReader(DataReader):
    """Deterministic rows, slowly: gives a test time to kill a worker mid-partition."""

    name = "slow"
    config_model = Settings

    def plan(self):
        return [Partition(index=i, spec={"i": i}, label=f"slow-{i}") for i in range(self.config.partitions)]

    def schema(self):
        return pa.schema([("id", pa.int64()), ("part", pa.int64())])

    def read(self, partition, schema):
        token = self.context.connection.get("token")
        if token is not None and len(token) < 10:
            raise ValueError("the token did not resolve")
        i = partition.spec["i"]
        if self.config.report_to:
            import json, os
            with open(self.config.report_to, "w") as report:
                json.dump({"arrow_cpus": pa.cpu_count(), "share": os.environ.get("DATIVO_PROCESS_CORES")}, report)
        if i == self.config.refuse_partition:  # a library quoting the credential it was given
            raise PermissionError(f"401 from the API: credential {token} refused")
        for b in range(self.config.batches):
            time.sleep(self.config.sleep_s)
            start = (i * self.config.batches + b) * self.config.rows
            yield pa.table({"id": pa.array(range(start, start + self.config.rows), pa.int64()),
                            "part": pa.array([i] * self.config.rows, pa.int64())})
'''


@pytest.fixture
def fleet(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fleet]:
    monkeypatch.setenv("DATIVO_SECRET__ACME__API_TOKEN", SECRET)  # the producer plans with the reader too
    fleet = Fleet(
        root=workspace.root,
        runner_file=workspace.runner_file,
        broker_url=os.environ["DATIVO_BROKER_URL"],  # set per test process by conftest.pytest_configure
        result_backend=os.environ["DATIVO_RESULT_BACKEND"],
        extra_env={"DATIVO_SECRET__ACME__API_TOKEN": SECRET},
    )
    fleet.flush()
    try:
        yield fleet
    finally:
        fleet.stop()
        fleet.flush()


def _slow_job(ws: Workspace, name: str, table: str, **settings: Any) -> Path:
    ws.write("slowreader.py", SLOW_READER)
    config = ", ".join(f"{k}: {v}" for k, v in settings.items())
    return ws.job(
        f"{name}.yaml",
        f"""
        tenant_id: acme
        name: {name}
        source:
          reader: {{type: plugin, plugin_path: slowreader.SlowReader, config: {{{config}}}}}
          connection: {{token: "${{secret:api_token}}"}}
        target: {{namespace: acme, table: {table}}}
        """,
    )


def _ids(ws: Workspace, table: str) -> list[int]:
    return sorted(r["id"] for r in ws.read(f"acme.{table}").to_pylist())


def _submit_and_wait(ws: Workspace, job: Path, timeout: float = 120) -> dict[str, Any]:
    runner = load_runner(ws.runner_file)
    ledger = ws.ledger()
    run_id = submit(load_job(job), runner, ledger, None)
    return wait(run_id, ledger, timeout_s=timeout)


def test_two_workers_give_the_same_table_as_embedded(workspace: Workspace, fleet: Fleet) -> None:
    embedded = workspace.run(_slow_job(workspace, "emb", "embedded", sleep_s=0), workers=2)
    assert embedded["state"] == "committed"
    fleet.start_worker()
    fleet.start_worker()
    summary = _submit_and_wait(workspace, _slow_job(workspace, "dist", "distributed", sleep_s=0.05))
    assert summary["state"] == "committed", summary
    assert summary["partitions_done"] == 4
    table = workspace.table("acme.distributed")
    assert len(table.snapshots()) == 1
    assert table.snapshots()[0].summary["dativo.run-id"] == summary["run_id"]
    # both against what the source holds (4 partitions x 6 batches x 500 rows), not only each other
    expected = [{"id": n, "part": n // (6 * 500)} for n in range(4 * 6 * 500)]
    assert workspace.read("acme.distributed", "id").to_pylist() == expected
    assert workspace.read("acme.embedded", "id").to_pylist() == expected
    workers = {p["worker"].split(":")[1] for p in workspace.ledger().partitions(summary["run_id"])}
    assert len(workers) >= 2, "both worker processes should have taken partitions"


def test_worker_killed_mid_partition_loses_and_duplicates_nothing(workspace: Workspace, fleet: Fleet) -> None:
    fleet.start_worker()
    fleet.start_worker()
    job = _slow_job(workspace, "kill", "killed", partitions=3, batches=8, sleep_s=0.3)
    runner = load_runner(workspace.runner_file)
    ledger = workspace.ledger()
    run_id = submit(load_job(job), runner, ledger, None)

    victim = None
    deadline = time.monotonic() + 60
    while victim is None and time.monotonic() < deadline:
        running = [p for p in ledger.partitions(run_id) if p["state"] == "running" and p["rows"] > 0]
        if running:
            victim = running[0]
        time.sleep(0.1)
    assert victim is not None, "no partition started"
    os.kill(int(victim["worker"].rsplit(":", 1)[1]), signal.SIGKILL)  # the pool process running it

    summary = wait(run_id, ledger, timeout_s=120)
    assert summary["state"] == "committed", summary
    assert _ids(workspace, "killed") == list(range(3 * 8 * 500))
    killed = next(p for p in ledger.partitions(run_id) if p["idx"] == victim["idx"])
    assert killed["attempts"] >= 2 and killed["winning_attempt"] >= 2
    data_files = list((workspace.state / "warehouse/acme/killed/data").rglob("*.parquet"))
    assert len(data_files) == summary["files"], "the killed attempt's files must not linger"


def _table_files_only(ws: Workspace, table: str) -> None:
    """Every Parquet file under the table's data directory is one the table references: the
    attempts that died left nothing behind."""
    referenced = {task.file.file_path.removeprefix("file://") for task in ws.table(f"acme.{table}").scan().plan_files()}
    on_disk = {str(p) for p in (ws.state / f"warehouse/acme/{table}/data").rglob("*.parquet")}
    assert on_disk == referenced, f"orphaned: {sorted(on_disk - referenced)}"


def test_whole_worker_killed_is_recovered_by_a_fresh_worker(workspace: Workspace, fleet: Fleet) -> None:
    """A lost host: the worker's main process and its pool die together (SIGKILL to the process
    group), so nothing is requeued by Celery; a fresh worker's beat re-runs the silent partitions."""
    text = workspace.runner_file.read_text()
    workspace.runner_file.write_text(
        text.replace("runner:\n", "runner:\n  lease_seconds: 5\n  reconcile_seconds: 1\n", 1)
    )
    fleet.start_worker(concurrency=2)
    job = _slow_job(workspace, "host", "host_lost", partitions=3, batches=8, sleep_s=0.3)
    runner = load_runner(workspace.runner_file)
    ledger = workspace.ledger()
    run_id = submit(load_job(job), runner, ledger, None)
    eventually(lambda: any(p["state"] == "running" and p["rows"] > 0 for p in ledger.partitions(run_id)),
               timeout=60, what="a partition writing rows")  # fmt: skip
    group = fleet.processes[0].pid
    fleet.kill_worker(0)
    assert not alive_in_group(group), "a process of the killed worker lives on"
    interrupted = {p["idx"] for p in ledger.partitions(run_id) if p["state"] == "running"}
    assert interrupted

    fleet.start_worker(concurrency=2, beat=True)  # a new pod; nobody calls retry or reconcile
    summary = wait(run_id, ledger, timeout_s=120)
    assert summary["state"] == "committed", summary
    assert _ids(workspace, "host_lost") == list(range(3 * 8 * 500))
    [snapshot] = workspace.table("acme.host_lost").snapshots()
    assert snapshot.summary["dativo.run-id"] == run_id
    for p in ledger.partitions(run_id):
        if p["idx"] in interrupted:
            assert p["winning_attempt"] >= 2, p
    _table_files_only(workspace, "host_lost")


def test_embedded_run_survives_a_dead_pool_process(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """`dativo run -w 2` whose pool process is SIGKILLed mid-partition (OOM killer): the partitions
    it did not finish run again on a fresh pool; the table is exact, in one snapshot."""
    monkeypatch.setenv("DATIVO_SECRET__ACME__API_TOKEN", SECRET)
    job = _slow_job(workspace, "embkill", "emb_killed", partitions=3, batches=8, sleep_s=0.3)
    ledger = workspace.ledger()
    result: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: result.update(workspace.run(job, workers=2)))
    runner.start()

    def victim() -> dict[str, Any] | None:
        for run in ledger.list_runs(limit=1):
            for p in ledger.partitions(run["run_id"]):
                if p["state"] == "running" and p["rows"] > 0:
                    return p
        return None

    try:
        killed = eventually(victim, timeout=90, what="a pool process writing rows")
        os.kill(int(killed["worker"].rsplit(":", 1)[1]), signal.SIGKILL)
    finally:
        runner.join(timeout=150)
    assert result.get("state") == "committed", result
    assert _ids(workspace, "emb_killed") == list(range(3 * 8 * 500))
    assert len(workspace.table("acme.emb_killed").snapshots()) == 1
    again = ledger.partition(result["run_id"], killed["idx"])
    assert again["winning_attempt"] >= 2
    _table_files_only(workspace, "emb_killed")


def test_permanent_failure_then_retry_reruns_only_that_partition(workspace: Workspace, fleet: Fleet) -> None:
    fleet.start_worker(concurrency=2)
    workspace.write(
        "assets/n.yaml",
        """
        apiVersion: v3.0.2
        kind: DataContract
        id: n
        version: 1.0.0
        status: active
        schema:
          - name: n
            properties:
              - {name: id, physicalType: bigint, required: true}
        """,
    )
    for i in range(3):
        workspace.write(f"data/p{i}.csv", "id\n" + "".join(f"{i * 100 + j}\n" for j in range(100)))
    workspace.write("data/p1.csv", "id\n100\nnot-a-number\n102\n")
    job = workspace.job(
        "fix.yaml",
        """
        tenant_id: acme
        asset_path: assets/n.yaml
        source: {connector: csv, files: [{path: "data/p*.csv"}]}
        target: {namespace: acme, table: fixed}
        """,
    )
    first = _submit_and_wait(workspace, job)
    assert first["state"] == "failed" and first["snapshot_id"] is None
    assert "p1.csv: line 3" in first["error"]
    assert not workspace.catalog().table_exists("acme.fixed")

    workspace.write("data/p1.csv", "id\n" + "".join(f"{100 + j}\n" for j in range(100)))
    ledger = workspace.ledger()
    rerun = retry(first["run_id"], load_runner(workspace.runner_file), ledger, None)
    assert rerun == [1]
    summary = wait(first["run_id"], ledger, timeout_s=120)
    assert summary["state"] == "committed", summary
    assert _ids(workspace, "fixed") == list(range(300))
    assert len(workspace.table("acme.fixed").snapshots()) == 1
    attempts = {p["idx"]: p["attempts"] for p in ledger.partitions(first["run_id"])}
    assert attempts == {0: 1, 1: 2, 2: 1}


def test_reconciler_commits_a_run_whose_callback_never_fired(workspace: Workspace) -> None:
    workspace.write("data/a.csv", "id\n1\n2\n")
    job = workspace.job(
        "rec.yaml",
        """
        tenant_id: acme
        source: {connector: csv, files: [{path: data/a.csv}]}
        target: {namespace: acme, table: reconciled}
        """,
    )
    runner = load_runner(workspace.runner_file)
    ledger = workspace.ledger()
    planned = plan_run(load_job(job), runner, ledger)
    for p in planned.partitions:  # the header ran, its chord body was lost
        assert ingest_partition(planned.run_id, p.index, runner, ledger)["status"] == "done"
    with ledger.engine.begin() as conn:  # age the run past the "just submitted" grace
        conn.execute(sa.text("UPDATE dativo_runs SET created_at = created_at - 3600"))
    report = reconcile(runner, ledger, enqueue=None)
    assert report["committed"] == [planned.run_id]
    assert ledger.run(planned.run_id)["state"] == "committed"
    assert reconcile(runner, ledger, enqueue=None)["committed"] == []  # nothing left to do
    assert len(workspace.table("acme.reconciled").snapshots()) == 1


def test_reconciler_requeues_a_partition_whose_worker_went_silent(workspace: Workspace, fleet: Fleet) -> None:
    from dativo_workers.tasks import enqueue_partitions

    fleet.start_worker()
    job = _slow_job(workspace, "silent", "silent", partitions=2, batches=2, sleep_s=0.01)
    runner = load_runner(workspace.runner_file)
    ledger = workspace.ledger()
    planned = plan_run(load_job(job), runner, ledger)
    for p in planned.partitions:  # two workers started these, then their hosts died
        assert ledger.start_attempt(planned.run_id, p.index, worker="dead-host:1") == 1
    with ledger.engine.begin() as conn:
        conn.execute(partitions_table.update().values(heartbeat_at=time.time() - 3600))
        conn.execute(sa.text("UPDATE dativo_runs SET created_at = created_at - 3600"))

    def enqueue(run_id: str, indexes: list[int], queue: str | None) -> None:
        enqueue_partitions(run_id, indexes, queue, ledger)

    report = reconcile(runner, ledger, enqueue=enqueue)
    assert report["requeued"] == {planned.run_id: [0, 1]}
    summary = wait(planned.run_id, ledger, timeout_s=60)
    assert summary["state"] == "committed", summary
    assert _ids(workspace, "silent") == list(range(2 * 2 * 500))
    assert all(p["winning_attempt"] == 2 for p in ledger.partitions(planned.run_id))


def _redis_dump(url: str) -> bytes:
    client = redis.Redis.from_url(url)
    chunks: list[bytes] = []
    for key in client.scan_iter():
        kind = client.type(key)
        chunks.append(key)
        if kind == b"string":
            chunks.append(client.get(key) or b"")
        elif kind == b"list":
            chunks.extend(client.lrange(key, 0, -1))
        elif kind == b"hash":
            chunks.extend(v for kv in client.hgetall(key).items() for v in kv)
        elif kind == b"set":
            chunks.extend(client.smembers(key))
        elif kind == b"zset":
            chunks.extend(client.zrange(key, 0, -1))
    return b"\n".join(chunks)


def test_secret_values_reach_no_message_result_log_or_ledger(workspace: Workspace, fleet: Fleet) -> None:
    fleet.extra_env["DATIVO_TASK_EVENTS"] = "true"  # events on from the start (runner.task_events): results travel too
    fleet.start_worker()
    recorder = BrokerRecorder(fleet.broker_url)  # what Redis carries, while it carries it
    job = _slow_job(workspace, "sec", "secretive", partitions=2, batches=2, sleep_s=0.01)
    summary = _submit_and_wait(workspace, job)
    assert summary["state"] == "committed", summary
    traffic = recorder.stop().texts()
    bodies = [t for t in traffic if t.startswith("[[") and summary["run_id"] in t]  # decoded task bodies
    assert any(f'"{summary["run_id"]}", 0]' in t for t in bodies) and any(
        f'"{summary["run_id"]}", 1]' in t for t in bodies
    )
    # partition results are not stored (the ledger holds them); with task events on they pass through
    # the same server in the workers' task-succeeded events (a repr), and the commit's result is stored (JSON)
    assert any("'status': 'done'" in t for t in traffic) and any('"state": "committed"' in t for t in traffic)
    assert leaks(SECRET, *traffic) == []
    assert leaks(SECRET, _redis_dump(fleet.broker_url).decode(errors="replace")) == []  # and what stays
    logs = fleet.log_text()
    assert summary["run_id"] in logs and leaks(SECRET, logs) == []
    ledger_bytes = b"".join(p.read_bytes() for p in workspace.state.glob("dativo.db*"))  # with the WAL
    assert b"${secret:api_token}" in ledger_bytes and leaks(SECRET, ledger_bytes.decode(errors="replace")) == []
    table = workspace.table("acme.secretive")
    assert (
        leaks(
            SECRET,
            json.dumps(table.properties),
            json.dumps([s.summary.additional_properties for s in table.snapshots()]),
        )
        == []
    )


def test_a_failing_task_leaves_the_secret_out_of_the_broker_results_and_flower(
    workspace: Workspace, fleet: Fleet
) -> None:
    """A partition whose reader quotes the credential in its error: the broker traffic, the result
    backend, Flower's task view and the worker's log show the failure, masked, never the value."""
    name = fleet.start_worker()
    with _flower(workspace, fleet, name) as base:
        recorder = BrokerRecorder(fleet.broker_url)
        job = _slow_job(workspace, "refused", "refused", partitions=2, batches=1, sleep_s=0.01, refuse_partition=1)
        summary = _submit_and_wait(workspace, job)
        assert summary["state"] == "failed" and "credential *** refused" in summary["error"], summary
        traffic = recorder.stop().texts()

        def failed_task() -> dict[str, Any] | None:
            tasks = json.loads(_get(f"{base}/api/tasks"))
            return next((t for t in tasks.values() if t.get("args") and summary["run_id"] in t["args"]
                         and "credential *** refused" in str(t.get("result"))), None)  # fmt: skip

        task = eventually(failed_task, timeout=30, interval=0.5, what="flower showing the failed partition")
        info = _get(f"{base}/api/task/info/{task['uuid']}").decode()
        assert "PermissionError" in info and leaks(SECRET, info, json.dumps(task)) == []
        assert leaks(SECRET, _get(f"{base}/api/tasks").decode(), _get(f"{base}/tasks").decode()) == []
    assert any("credential *** refused" in t for t in traffic)  # the result went through Redis, masked
    assert leaks(SECRET, *traffic) == []
    assert leaks(SECRET, fleet.log_text()) == [] and "partition failed" in fleet.log_text()


@contextlib.contextmanager
def _flower(workspace: Workspace, fleet: Fleet, worker: str) -> Iterator[str]:
    """Flower on a free port, subscribed to the fleet's events (it has seen ``worker``)."""
    port = free_port()
    flower_log = (workspace.root / "flower.log").open("wb")
    flower = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "dativo_workers.celery_app", "flower",
         f"--port={port}", "--address=127.0.0.1"],
        cwd=workspace.root, env={**fleet.env(), "FLOWER_UNAUTHENTICATED_API": "true"},
        stdout=flower_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_http(f"{base}/healthcheck")
        # flower sees tasks sent after it joined the event stream: wait until it has our worker's events
        eventually(lambda: any(w.startswith(f"{worker}@") for w in json.loads(_get(f"{base}/api/workers"))),
                   timeout=30, interval=0.3, what="flower receiving the worker's events")  # fmt: skip
        # workers send no task events by default (runner.task_events): Flower turns them on itself
        eventually(lambda: "Events of group {task} enabled by remote" in fleet.log_text(),
                   timeout=30, interval=0.3, what="flower enabling the worker's task events")  # fmt: skip
        yield base
    finally:
        flower.terminate()
        flower.wait(timeout=15)


def test_flower_lists_the_workers_and_the_runs_tasks(workspace: Workspace, fleet: Fleet) -> None:
    name = fleet.start_worker()
    with _flower(workspace, fleet, name) as base:
        summary = _submit_and_wait(workspace, _slow_job(workspace, "fl", "flowered", partitions=2, sleep_s=0.01))
        assert summary["state"] == "committed"
        deadline = time.monotonic() + 30
        tasks: dict[str, Any] = {}
        while time.monotonic() < deadline:
            tasks = json.loads(_get(f"{base}/api/tasks"))
            ours = [t for t in tasks.values() if summary["run_id"] in (t.get("args") or "")]
            if len([t for t in ours if t.get("name") == "dativo.ingest_partition"]) == 2:
                break
            time.sleep(0.5)
        ingest = [t for t in tasks.values() if t.get("name") == "dativo.ingest_partition"]
        assert sorted(list(ast.literal_eval(t["args"])) for t in ingest) == [
            [summary["run_id"], 0],
            [summary["run_id"], 1],
        ]
        assert leaks(SECRET, json.dumps(tasks)) == []
        workers = json.loads(_get(f"{base}/api/workers?refresh=1"))
        assert any(w.startswith(f"{name}@") for w in workers), workers
        stats = next(v for k, v in workers.items() if k.startswith(f"{name}@"))
        assert stats["stats"]["pool"]["max-concurrency"] == 1


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def _wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _get(url)
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Any]:
    """A Redis server of this test's own (no persistence), so it can be restarted mid-run."""
    port = free_port()
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
           "--dir", str(tmp_path)]  # fmt: skip

    class Server:
        url = f"redis://127.0.0.1:{port}"
        proc: subprocess.Popen[bytes]

        def start(self) -> None:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    redis.Redis.from_url(self.url).ping()
                    return
                except redis.ConnectionError:
                    time.sleep(0.05)
            raise AssertionError("private redis did not start")

        def restart(self) -> None:
            self.proc.kill()  # a crash: everything in memory (queued messages, chord counters) is gone
            self.proc.wait()
            self.start()

    server = Server()
    server.start()
    try:
        yield server
    finally:
        server.proc.kill()
        server.proc.wait()


def test_redis_restart_mid_run_is_completed_by_retry_without_duplicates(
    private_redis: Any, workspace: Workspace, fleet: Fleet
) -> None:  # private_redis first: it must outlive the fleet's teardown
    runner_text = workspace.runner_file.read_text()
    workspace.runner_file.write_text(runner_text.replace("runner:\n", "runner:\n  lease_seconds: 5\n", 1))
    fleet.broker_url, fleet.result_backend = f"{private_redis.url}/0", f"{private_redis.url}/1"
    fleet.start_worker(concurrency=2)
    job = _slow_job(workspace, "restart", "restarted", partitions=6, batches=6, sleep_s=0.25)
    env = {"DATIVO_BROKER_URL": fleet.broker_url, "DATIVO_RESULT_BACKEND": fleet.result_backend,
           "DATIVO_SECRET__ACME__API_TOKEN": SECRET}  # fmt: skip
    submitted = workspace.cli("submit", str(job), "--json", env=env)
    assert submitted.code == 0, submitted.stderr
    run_id = submitted.json["run_id"]
    ledger = workspace.ledger()
    deadline = time.monotonic() + 60
    while not any(p["state"] == "running" for p in ledger.partitions(run_id)):
        assert time.monotonic() < deadline, "nothing started"
        time.sleep(0.1)

    private_redis.restart()  # queued partitions and the chord's bookkeeping are lost

    def interrupted_partitions_silent() -> bool:  # longer than lease_seconds without a heartbeat
        now = time.time()
        return all(p["state"] != "running" or now - p["heartbeat_at"] > 5 for p in ledger.partitions(run_id))

    eventually(interrupted_partitions_silent, timeout=60, interval=0.25, what="interrupted partitions going silent")
    assert ledger.run(run_id)["state"] != "committed"

    retried = workspace.cli("retry", run_id, "--wait", "--json", env=env)
    assert retried.code == 0, retried.stdout + retried.stderr
    summary = retried.json
    assert summary["state"] == "committed", summary
    assert _ids(workspace, "restarted") == list(range(6 * 6 * 500))
    assert len(workspace.table("acme.restarted").snapshots()) == 1


def test_cancel_stops_the_run_and_commits_nothing(workspace: Workspace, fleet: Fleet) -> None:
    from dativo_workers.producer import cancel

    fleet.start_worker()
    job = _slow_job(workspace, "cancelme", "cancelled", partitions=4, batches=20, sleep_s=0.2)
    runner = load_runner(workspace.runner_file)
    ledger = workspace.ledger()
    run_id = submit(load_job(job), runner, ledger, None)
    deadline = time.monotonic() + 60
    while not any(p["state"] == "running" and p["rows"] > 0 for p in ledger.partitions(run_id)):
        assert time.monotonic() < deadline, "nothing started"
        time.sleep(0.1)
    summary = cancel(run_id, runner, ledger)
    assert summary["state"] == "cancelled"
    # the running partition notices at its next heartbeat and removes its files; queued ones were revoked
    eventually(
        lambda: (
            all(p["state"] != "running" for p in ledger.partitions(run_id))
            and not list((workspace.state / "warehouse").rglob("*.parquet"))
        ),
        timeout=30,
        what="the running partition stopping",
    )
    states = {p["idx"]: p["state"] for p in ledger.partitions(run_id)}
    assert "done" not in states.values() and "running" not in states.values(), states
    assert ledger.run(run_id)["state"] == "cancelled"
    assert not workspace.catalog().table_exists("acme.cancelled")
    leftovers = list((workspace.state / "warehouse").rglob("*.parquet"))
    assert leftovers == [], leftovers


def test_transient_failure_is_retried_by_celery_and_logs_are_json(workspace: Workspace, fleet: Fleet) -> None:
    from .test_embedded_pipeline import _flaky_job

    fleet.start_worker()
    summary = _submit_and_wait(workspace, _flaky_job(workspace, "connection", fail_times=2))
    assert summary["state"] == "committed", summary
    [partition] = workspace.ledger().partitions(summary["run_id"])
    assert partition["attempts"] == 3
    events = [json.loads(line) for line in fleet.log_text().splitlines() if line.startswith("{")]
    ours = [e for e in events if e.get("run_id") == summary["run_id"]]
    retried = [e for e in ours if e["event"] == "partition attempt failed, will retry"]
    assert len(retried) == 2 and {e["attempt"] for e in retried} == {1, 2}
    assert all(e["partition"] == 0 and "ConnectionResetError" in e["error"] for e in retried)
    assert any(e["event"] == "partition done" and e["attempt"] == 3 for e in ours)


def test_reconcile_task_runs_on_the_workers(workspace: Workspace, fleet: Fleet) -> None:
    from dativo_workers.tasks import reconcile_task

    fleet.start_worker()
    workspace.write("data/a.csv", "id\n1\n2\n")
    job = workspace.job(
        "rt.yaml",
        """
        tenant_id: acme
        source: {connector: csv, files: [{path: data/a.csv}]}
        target: {namespace: acme, table: reconciled_by_task}
        """,
    )
    runner = load_runner(workspace.runner_file)
    ledger = workspace.ledger()
    planned = plan_run(load_job(job), runner, ledger)
    assert ingest_partition(planned.run_id, 0, runner, ledger)["status"] == "done"
    with ledger.engine.begin() as conn:
        conn.execute(sa.text("UPDATE dativo_runs SET created_at = created_at - 3600"))
    report = reconcile_task.delay().get(timeout=60)  # routed to the control queue
    assert planned.run_id in report["committed"]
    assert ledger.run(planned.run_id)["state"] == "committed"


def test_runs_are_routed_to_their_queue(workspace: Workspace, fleet: Fleet) -> None:
    fleet.start_worker(queues="tenant-acme")  # consumes only this tenant's queue
    job = _slow_job(workspace, "routed", "routed", partitions=2, batches=1, sleep_s=0.01)
    runner = load_runner(workspace.runner_file)
    ledger = workspace.ledger()
    run_id = submit(load_job(job), runner, ledger, "tenant-acme")
    summary = wait(run_id, ledger, timeout_s=60)
    assert summary["state"] == "committed", summary
    assert ledger.run(run_id)["queue"] == "tenant-acme"
    assert "tenant-acme" in fleet.log_text()


def test_dativo_worker_consumes_its_default_queues_and_its_beat_reconciles(workspace: Workspace, fleet: Fleet) -> None:
    """`dativo worker --beat` as an operator starts it: the default queues, the pool size asked for,
    and the embedded beat sending the reconciler, which commits a run whose callback was lost."""
    from dativo_workers.celery_app import app

    text = workspace.runner_file.read_text()
    workspace.runner_file.write_text(text.replace("runner:\n", "runner:\n  reconcile_seconds: 1\n", 1))
    name = fleet.start_worker(concurrency=2, beat=True)
    proc = psutil.Process(fleet.processes[0].pid)
    assert proc.cmdline()[1:].count("worker") == 1 and "--beat" in proc.cmdline()  # the `dativo` console script
    node = eventually(lambda: [n for n in (app.control.inspect(timeout=2).active_queues() or {}) if n.startswith(name)],
                      timeout=30, what="the worker answering inspect")[0]  # fmt: skip
    inspect = app.control.inspect(destination=[node], timeout=5)
    assert {q["name"] for q in inspect.active_queues()[node]} == {"dativo", "dativo.control"}
    assert inspect.stats()[node]["pool"]["max-concurrency"] == 2

    workspace.write("data/a.csv", "id\n1\n2\n3\n")
    job = workspace.job(
        "beat.yaml",
        """
        tenant_id: acme
        source: {connector: csv, files: [{path: data/a.csv}]}
        target: {namespace: acme, table: by_beat}
        """,
    )
    runner = load_runner(workspace.runner_file)
    ledger = workspace.ledger()
    planned = plan_run(load_job(job), runner, ledger)
    assert ingest_partition(planned.run_id, 0, runner, ledger)["status"] == "done"  # the chord body never sent
    with ledger.engine.begin() as conn:
        conn.execute(sa.text("UPDATE dativo_runs SET created_at = created_at - 3600"))
    summary = wait(planned.run_id, ledger, timeout_s=60)  # nobody but the worker's beat reconciles
    assert summary["state"] == "committed", summary
    assert _ids(workspace, "by_beat") == [1, 2, 3]
    events = [json.loads(line) for line in fleet.log_text().splitlines() if line.startswith("{")]
    assert any("dativo.reconcile" in line for line in fleet.log_text().splitlines()), "beat sent no reconcile"
    assert events, "the worker's own events are JSON lines (--log-format json)"


def test_pool_processes_size_arrow_for_the_cpus_the_worker_may_use(workspace: Workspace, fleet: Fleet) -> None:
    """A worker pinned to one CPU (as a container's cpuset or CPU quota does) gives each pool
    process one CPU, not the host's cores / concurrency."""
    fleet.start_worker(concurrency=1, cpus={0})
    report = workspace.root / "cpus.json"
    job = _slow_job(workspace, "pinned", "pinned", partitions=1, batches=1, sleep_s=0, report_to=f'"{report}"')
    assert _submit_and_wait(workspace, job)["state"] == "committed"
    assert json.loads(report.read_text()) == {"arrow_cpus": 1, "share": "1"}


def test_a_partition_past_its_time_limit_fails_cleanly(workspace: Workspace, fleet: Fleet) -> None:
    """runner.partition_timeout_seconds is Celery's soft time limit of a partition attempt: the
    attempt stops with a clear error (not a killed process), and the run fails without a snapshot."""
    text = workspace.runner_file.read_text()
    workspace.runner_file.write_text(text.replace("runner:\n", "runner:\n  partition_timeout_seconds: 2\n", 1))
    fleet.start_worker()
    job = _slow_job(workspace, "limited", "limited", partitions=1, batches=20, sleep_s=0.5)
    summary = _submit_and_wait(workspace, job)
    assert summary["state"] == "failed", summary
    assert "SoftTimeLimitExceeded" in summary["error"], summary["error"]
    assert not workspace.catalog().table_exists("acme.limited")
    [partition] = workspace.ledger().partitions(summary["run_id"])
    assert partition["attempts"] == 1 and partition["state"] == "failed"
