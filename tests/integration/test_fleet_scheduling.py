"""Scheduling at fleet scale, functionally: a large submit records every partition and sends every
message exactly once, the batched messages are ones Celery itself would send, and a run of many
tiny partitions on a real worker commits exactly its rows (timings: scripts/bench_distributed.py)."""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis

from dativo_workers.config import load_job, load_runner
from dativo_workers.producer import submit, wait

from ..conftest import Workspace
from .fleet import Fleet

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

MANY = '''
import pyarrow as pa
from dativo_workers.plugins import DataReader, Partition, PluginSettings


class Settings(PluginSettings):
    partitions: int = 10
    rows: int = 2


class Many(DataReader):
    """``partitions`` partitions of ``rows`` rows each: ids 0 .. partitions * rows - 1."""

    name = "many"
    config_model = Settings

    def plan(self):
        return [Partition(index=i, spec={"i": i}, label=f"p{i}") for i in range(self.config.partitions)]

    def schema(self):
        return pa.schema([("id", pa.int64()), ("part", pa.int64())])

    def read(self, partition, schema):
        i, n = partition.spec["i"], self.config.rows
        yield pa.table({"id": pa.array(range(i * n, (i + 1) * n), pa.int64()), "part": pa.array([i] * n, pa.int64())})
'''


def _job(ws: Workspace, name: str, partitions: int, rows: int) -> Path:
    ws.write("many_reader.py", MANY)
    return ws.job(
        f"{name}.yaml",
        f"""
        tenant_id: acme
        name: {name}
        source:
          reader: {{type: plugin, plugin_path: many_reader.Many, config: {{partitions: {partitions}, rows: {rows}}}}}
        target: {{namespace: acme, table: {name}}}
        """,
    )


def _queued(url: str, queue: str = "dativo") -> list[dict[str, Any]]:
    client = redis.Redis.from_url(url)
    try:
        return [json.loads(raw) for raw in client.lrange(queue, 0, -1)]
    finally:
        client.close()


def test_a_large_submit_records_every_partition_and_sends_each_message_once(workspace: Workspace, fleet: Fleet) -> None:
    """No worker runs: what submit left in the ledger and the broker is inspected as it stands."""
    count = 2000
    runner = load_runner(workspace.runner_file)
    ledger = workspace.ledger()
    run_id = submit(load_job(_job(workspace, "big", count, 1)), runner, ledger, None)

    parts = ledger.partitions(run_id)
    assert [p["idx"] for p in parts] == list(range(count))
    assert all(p["state"] == "pending" and p["task_id"] and p["enqueued_at"] for p in parts)
    task_ids = {p["idx"]: p["task_id"] for p in parts}
    assert len(set(task_ids.values())) == count  # one id per partition, never shared
    assert ledger.run(run_id)["queue"] == "dativo"

    messages = _queued(fleet.broker_url)
    assert len(messages) == count  # each partition once: nothing lost, nothing doubled
    sent: Counter[tuple[str, int]] = Counter()
    for message in messages:
        headers = message["headers"]
        args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        assert headers["task"] == "dativo.ingest_partition" and kwargs == {}
        assert args[0] == run_id and task_ids[args[1]] == headers["id"] == message["properties"]["correlation_id"]
        sent[(args[0], args[1])] += 1
    assert sorted(idx for _, idx in sent) == list(range(count)) and set(sent.values()) == {1}
    # no chord, no commit sent yet: the last partition to finish sends it
    assert not any(m["headers"]["task"] == "dativo.commit_run" for m in messages)


def test_a_batched_message_has_the_shape_celery_gives_the_same_task(workspace: Workspace, fleet: Fleet) -> None:
    """The batch builds its messages itself: the same headers, properties and body as apply_async."""
    from dativo_workers.tasks import ingest_partition_task

    runner = load_runner(workspace.runner_file)
    run_id = submit(load_job(_job(workspace, "shape", 1, 1)), runner, workspace.ledger(), None)
    ours = _queued(fleet.broker_url)[0]
    fleet.flush()
    ingest_partition_task.apply_async((run_id, 0), task_id=ours["headers"]["id"], queue="dativo", ignore_result=True)
    celerys = _queued(fleet.broker_url)[0]
    assert ours.keys() == celerys.keys()
    for key in ("content-type", "content-encoding", "body"):
        assert ours[key] == celerys[key], key
    volatile = {"delivery_tag", "origin"}  # a fresh uuid per message; the sending process
    assert {k: v for k, v in ours["properties"].items() if k not in volatile} == {
        k: v for k, v in celerys["properties"].items() if k not in volatile
    }
    assert {k: v for k, v in ours["headers"].items() if k not in volatile} == {
        k: v for k, v in celerys["headers"].items() if k not in volatile
    }


def test_many_tiny_partitions_on_one_worker_commit_exactly_their_rows(workspace: Workspace, fleet: Fleet) -> None:
    count, rows = 300, 2
    fleet.start_worker(concurrency=2)
    runner = load_runner(workspace.runner_file)
    ledger = workspace.ledger()
    run_id = submit(load_job(_job(workspace, "tiny", count, rows)), runner, ledger, None)
    summary = wait(run_id, ledger, timeout_s=180)
    assert summary["state"] == "committed", summary
    assert summary["rows"] == count * rows and summary["files"] == count and summary["partitions_done"] == count
    table = workspace.table("acme.tiny")
    assert len(table.snapshots()) == 1
    assert sorted(workspace.read("acme.tiny", "id").column("id").to_pylist()) == list(range(count * rows))
    parts = ledger.partitions(run_id)
    assert all(p["state"] == "done" and p["winning_attempt"] == 1 for p in parts)
    # the commit was sent by the ledger (no chord): one commit_run did the work, a second one at most
    commits = [line for line in fleet.log_text().splitlines() if "dativo.commit_run[" in line and "succeeded" in line]
    assert 1 <= len(commits) <= 2, commits
