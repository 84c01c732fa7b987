"""Exactly-once under faults, on real workers: each test injects one fault into a real fleet
(Celery worker subprocesses on Redis, a SQLite or PostgreSQL ledger) and reads the table back
with pyiceberg: every row exactly once, in one snapshot, with no operator action.

- a broker queue deleted after the run was sent: the reconciler finds the pending partitions'
  messages nowhere in the broker and sends them again;
- the ledger refusing connections when a task starts (before the attempt's own error handling):
  the task retries instead of being acknowledged away;
- a reader silent for longer than the lease before its first batch: the heartbeat thread keeps
  the partition alive, the reconciler leaves it alone;
- a worker dying while it holds a partition's retry for its countdown: the message is stuck in
  Redis's unacknowledged set, which no live worker claims, so the reconciler sends it again
  (while a live worker that holds it is left alone);
- a cancel landing while a task is starting: the run stays cancelled;
- a producer dying after it recorded the run but before it sent any message: the run's queue is
  in the ledger, so the reconciler sends its partitions.
Plus the ledger's schema on PostgreSQL: first use by many at once, an old ledger upgraded in place.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis
import sqlalchemy as sa

from dativo_workers.config import load_job, load_runner
from dativo_workers.ledger import SCHEMA_HEAD, VERSION_TABLE, Ledger, metadata, schema_revision
from dativo_workers.pipeline import plan_run
from dativo_workers.producer import cancel, submit, wait

from ..conftest import Workspace
from .fleet import Fleet
from .services import service_unavailable

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PG_BASE = os.environ.get("DATIVO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

READER = '''
import os
import time
import pyarrow as pa
from dativo_workers.plugins import DataReader, Partition, PluginSettings


class Settings(PluginSettings):
    partitions: int = 2
    batches: int = 2
    rows: int = 100
    first_batch_delay_s: float = 0.0  # partition 0 only: a slow first query, a long Retry-After
    batch_sleep_s: float = 0.0
    fail_once_marker: str = ""  # partition 0 only: a transient error the first time (then this file exists)


class FaultReader(DataReader):
    """Deterministic ids: partition i, batch b holds ids [(i * batches + b) * rows, ... + rows)."""

    name = "faults"
    config_model = Settings

    def plan(self):
        return [Partition(index=i, spec={"i": i}, label=f"f-{i}") for i in range(self.config.partitions)]

    def schema(self):
        return pa.schema([("id", pa.int64()), ("part", pa.int64())])

    def sample(self, partition, rows=1000):
        return None  # planning must not wait for the slow partition

    def read(self, partition, schema):
        i, cfg = partition.spec["i"], self.config
        if i == 0:
            time.sleep(cfg.first_batch_delay_s)
            if cfg.fail_once_marker and not os.path.exists(cfg.fail_once_marker):
                open(cfg.fail_once_marker, "w").close()
                raise ConnectionResetError("the source dropped the connection")
        for b in range(cfg.batches):
            time.sleep(cfg.batch_sleep_s)
            start = (i * cfg.batches + b) * cfg.rows
            yield pa.table({"id": pa.array(range(start, start + cfg.rows), pa.int64()),
                            "part": pa.array([i] * cfg.rows, pa.int64())})
'''


# -- fixtures ---------------------------------------------------------------------------------


@dataclass
class PgLedger:
    """A PostgreSQL ledger of the test's own: a role that owns a schema, so the test can make the
    database refuse that role's connections (a ledger outage) without touching anyone else."""

    url: str
    role: str
    admin: sa.Engine

    def sql(self, query: str, **params: Any) -> list[Any]:
        with self.admin.connect() as conn:
            result = conn.execute(sa.text(query), params)
            return list(result.all()) if result.returns_rows else []

    def refuse_connections(self, refuse: bool) -> None:
        self.sql(f'ALTER ROLE "{self.role}" {"NOLOGIN" if refuse else "LOGIN"}')

    def waiting_on_locks(self) -> int:
        rows = self.sql(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = :r AND wait_event_type = 'Lock'", r=self.role
        )
        return int(rows[0][0])


@pytest.fixture
def pg() -> Iterator[PgLedger]:
    name = f"dativo_f_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE ROLE "{name}" LOGIN'))
            conn.execute(sa.text(f'CREATE SCHEMA "{name}" AUTHORIZATION "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        service_unavailable("PostgreSQL", PG_BASE, exc.orig)
    url = sa.make_url(PG_BASE).set(username=name).update_query_dict({"options": f"-csearch_path={name}"})
    ledger = PgLedger(url.render_as_string(hide_password=False), name, admin)
    try:
        yield ledger
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER ROLE "{name}" LOGIN'))
            conn.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"), {"r": name}
            )
            conn.execute(sa.text("SET lock_timeout = '20s'"))
            conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
            conn.execute(sa.text(f'DROP ROLE "{name}"'))
        admin.dispose()


def _fast_leases(ws: Workspace, ledger_url: str | None = None) -> None:
    """A 5 s lease and a reconciler every second, so a fault is recovered within seconds."""
    text = ws.runner_file.read_text().replace("runner:\n", "runner:\n  lease_seconds: 5\n  reconcile_seconds: 1\n", 1)
    if ledger_url is not None:
        text = re.sub(r"(?m)^  ledger_url: .*$", f'  ledger_url: "{ledger_url}"', text)
    ws.runner_file.write_text(text)


def _job(ws: Workspace, table: str, extra: str = "", **settings: Any) -> Path:
    ws.write("faultreader.py", READER)
    config = ", ".join(f"{k}: {v}" for k, v in settings.items())
    return ws.job(
        f"{table}.yaml",
        f"""
        tenant_id: acme
        name: {table}
        source:
          reader: {{type: plugin, plugin_path: faultreader.FaultReader, config: {{{config}}}}}
        target: {{namespace: acme, table: {table}}}
        {extra}
        """,
    )


def _assert_exactly_once(ws: Workspace, table: str, summary: dict[str, Any], ids: int) -> None:
    """Every id once, in one snapshot (the run's), read back with pyiceberg."""
    assert summary["state"] == "committed", summary
    loaded = ws.table(f"acme.{table}")
    [snapshot] = loaded.snapshots()
    assert snapshot.summary["dativo.run-id"] == summary["run_id"]
    got = loaded.scan(snapshot_id=snapshot.snapshot_id).to_arrow().column("id").to_pylist()
    assert sorted(got) == list(range(ids))


def _wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


# -- faults -----------------------------------------------------------------------------------


def test_queue_deleted_after_submit_is_resent_by_the_reconciler(workspace: Workspace, fleet: Fleet) -> None:
    _fast_leases(workspace)
    job = _job(workspace, "lost_queue", partitions=3)
    ledger = workspace.ledger()
    run_id = submit(load_job(job), load_runner(workspace.runner_file), ledger, None)
    broker = redis.Redis.from_url(fleet.broker_url)
    assert broker.llen("dativo") == 3  # sent; no worker has taken them yet
    broker.delete("dativo")  # the broker lost them: flushed, or failed over without them

    fleet.start_worker(concurrency=2, beat=True)  # no operator: beat's reconciler must notice
    summary = wait(run_id, ledger, timeout_s=45)
    _assert_exactly_once(workspace, "lost_queue", summary, 3 * 2 * 100)
    assert [p["attempts"] for p in ledger.partitions(run_id)] == [1, 1, 1]
    assert "re-enqueued partitions whose task message was lost" in fleet.log_text()


def test_producer_dead_before_sending_anything_is_recovered_by_the_reconciler(
    workspace: Workspace, fleet: Fleet
) -> None:
    _fast_leases(workspace)
    job = _job(workspace, "orphan_plan", partitions=3)
    ledger = workspace.ledger()
    # `dativo submit` planned and recorded the run, then died before it sent a single message
    planned = plan_run(load_job(job), load_runner(workspace.runner_file), ledger, queue="dativo")
    assert all(p["task_id"] is None for p in ledger.partitions(planned.run_id))

    fleet.start_worker(concurrency=2, beat=True)
    summary = wait(planned.run_id, ledger, timeout_s=45)
    _assert_exactly_once(workspace, "orphan_plan", summary, 3 * 2 * 100)
    assert [p["attempts"] for p in ledger.partitions(planned.run_id)] == [1, 1, 1]


def test_ledger_refusing_connections_as_a_task_starts_loses_nothing(
    pg: PgLedger, workspace: Workspace, fleet: Fleet
) -> None:  # pg first: it must outlive the workers
    _fast_leases(workspace, ledger_url=pg.url)
    job = _job(workspace, "ledger_blip", partitions=2)
    ledger = Ledger(pg.url)
    try:
        run_id = submit(load_job(job), load_runner(workspace.runner_file), ledger, None)
        pg.refuse_connections(True)  # the worker's very first ledger call fails, before any try block
        fleet.start_worker()
        _wait_for(lambda: "OperationalError" in fleet.log_text(), 30, "the worker to hit the ledger outage")
        pg.refuse_connections(False)

        summary = wait(run_id, ledger, timeout_s=40)  # no beat: the task's own retry recovers
        _assert_exactly_once(workspace, "ledger_blip", summary, 2 * 2 * 100)
        assert [p["attempts"] for p in ledger.partitions(run_id)] == [1, 1]  # the outage cost no attempt
        assert "ledger unavailable, partition task will retry" in fleet.log_text()
    finally:
        ledger.dispose()


def test_reader_silent_past_the_lease_is_not_stolen(workspace: Workspace, fleet: Fleet) -> None:
    _fast_leases(workspace)
    job = _job(workspace, "slow_first", partitions=2, first_batch_delay_s=8)  # 8 s > lease 5 s + 1 s
    ledger = workspace.ledger()
    fleet.start_worker(concurrency=2, beat=True)  # the second process is free to run a stolen copy
    run_id = submit(load_job(job), load_runner(workspace.runner_file), ledger, None)
    summary = wait(run_id, ledger, timeout_s=45)
    _assert_exactly_once(workspace, "slow_first", summary, 2 * 2 * 100)
    assert [(p["attempts"], p["winning_attempt"]) for p in ledger.partitions(run_id)] == [(1, 1), (1, 1)]
    assert len(re.findall(r"Task dativo\.reconcile\[\S+\] succeeded", fleet.log_text())) >= 5  # it was looking


def test_worker_dead_while_holding_a_retry_countdown_is_recovered(workspace: Workspace, fleet: Fleet) -> None:
    _fast_leases(workspace)
    marker = workspace.root / "failed-once"
    job = _job(
        workspace,
        "countdown",
        extra="retry: {max_attempts: 3, backoff_seconds: 60, max_backoff_seconds: 60}",
        partitions=1,
        fail_once_marker=f'"{marker}"',
    )
    ledger = workspace.ledger()
    fleet.start_worker()
    run_id = submit(load_job(job), load_runner(workspace.runner_file), ledger, None)
    broker = redis.Redis.from_url(fleet.broker_url)

    def countdown_held() -> bool:  # the partition is pending, its retry message waits in the worker
        part = ledger.partitions(run_id)[0]
        # (the retry message is sent before the first delivery is acked: wait until it was taken)
        held = broker.hlen("unacked") == 1 and broker.llen("dativo") == 0
        return part["state"] == "pending" and part["attempts"] == 1 and held

    _wait_for(countdown_held, 30, "the worker to hold the retry for its countdown")
    assert broker.llen("dativo") == 0
    worker = psutil.Process(fleet.processes[0].pid)
    for proc in [*worker.children(recursive=True), worker]:  # the whole pod dies, nothing is acknowledged
        proc.kill()
    fleet.processes[0].wait()
    assert broker.hlen("unacked") == 1  # Redis would hand it out again only after the visibility timeout

    fleet.start_worker(beat=True)
    summary = wait(run_id, ledger, timeout_s=90)
    _assert_exactly_once(workspace, "countdown", summary, 1 * 2 * 100)
    assert ledger.partitions(run_id)[0]["attempts"] == 2


def test_a_live_worker_holding_a_retry_countdown_is_left_alone(workspace: Workspace, fleet: Fleet) -> None:
    """The other side of the case above: while a live worker waits out a retry countdown longer
    than the lease, the reconciler finds the message with that worker and sends nothing."""
    _fast_leases(workspace)
    marker = workspace.root / "failed-once"
    job = _job(
        workspace,
        "held",
        extra="retry: {max_attempts: 3, backoff_seconds: 12, max_backoff_seconds: 12}",
        partitions=1,
        fail_once_marker=f'"{marker}"',
    )
    ledger = workspace.ledger()
    fleet.start_worker(beat=True)
    run_id = submit(load_job(job), load_runner(workspace.runner_file), ledger, None)
    summary = wait(run_id, ledger, timeout_s=60)
    _assert_exactly_once(workspace, "held", summary, 1 * 2 * 100)
    assert ledger.partitions(run_id)[0]["attempts"] == 2  # the failed try and the held retry, no third
    log = fleet.log_text()
    assert "re-enqueued partitions whose task message was lost" not in log
    assert re.search(r"'lost': \{'" + run_id, log) is None
    assert len(re.findall(r"Task dativo\.reconcile\[\S+\] succeeded", log)) >= 5  # it was looking


def test_a_cancel_racing_a_starting_task_keeps_the_run_cancelled(
    pg: PgLedger, workspace: Workspace, fleet: Fleet
) -> None:
    from dativo_workers.tasks import enqueue_partitions

    _fast_leases(workspace, ledger_url=pg.url)
    job = _job(workspace, "cancel_race", partitions=1, batches=6, batch_sleep_s=0.5)
    runner = load_runner(workspace.runner_file)
    ledger, canceller = Ledger(pg.url), Ledger(pg.url)
    holder = sa.create_engine(PG_BASE)
    try:
        run_id = submit(load_job(job), runner, ledger, None)
        # Hold the partition's row: the worker reads the run (pending), then waits to claim it.
        with holder.connect() as conn:
            tx = conn.begin()
            conn.execute(
                sa.text(f'SELECT 1 FROM "{pg.role}".dativo_partitions WHERE run_id = :r FOR UPDATE'), {"r": run_id}
            )
            fleet.start_worker()
            _wait_for(lambda: pg.waiting_on_locks() == 1, 30, "the task to wait for its claim")
            result: dict[str, Any] = {}
            thread = threading.Thread(target=lambda: result.update(cancel(run_id, runner, canceller)))
            thread.start()  # the operator cancels while the task is between reading the run and starting
            _wait_for(lambda: pg.waiting_on_locks() == 2, 30, "the cancel to queue behind the task")
            tx.commit()
        thread.join(timeout=30)
        assert result["state"] == "cancelled", result
        _wait_for(lambda: _ingest_tasks_done(fleet) == 1, 30, "the task to end")

        # and a partition task delivered after the cancel does not run either
        enqueue_partitions(run_id, [0], None, ledger)
        _wait_for(lambda: _ingest_tasks_done(fleet) == 2, 30, "the second task to end")
        time.sleep(1.0)  # room for a commit that must not happen
        assert ledger.run(run_id)["state"] == "cancelled"
        [part] = ledger.partitions(run_id)
        assert part["state"] == "cancelled" and part["attempts"] <= 1, part
        assert not workspace.catalog().table_exists("acme.cancel_race")
        assert list((workspace.state / "warehouse").rglob("*.parquet")) == []
    finally:
        holder.dispose()
        ledger.dispose()
        canceller.dispose()


def _ingest_tasks_done(fleet: Fleet) -> int:
    return len(re.findall(r"Task dativo\.ingest_partition\[\S+\] succeeded", fleet.log_text()))


# -- the ledger's schema on PostgreSQL ------------------------------------------------------------


def _create_run(ledger: Ledger, run_id: str) -> None:
    ledger.create_run(
        run_id=run_id,
        tenant="acme",
        job_name="j",
        job_path="/j.yaml",
        job={"tenant_id": "acme"},
        catalog="default",
        table_ident="acme.t",
        plan={"table": {"location": "file:///wh"}},
        partition_specs=[{"index": 0}],
    )


def test_fresh_postgres_ledger_first_used_by_many_at_once(pg: PgLedger) -> None:
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def first_use(n: int) -> None:
        ledger = Ledger(pg.url)
        try:
            barrier.wait()
            _create_run(ledger, f"r{n}")
        except BaseException as exc:
            errors.append(exc)
        finally:
            ledger.dispose()

    threads = [threading.Thread(target=first_use, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    ledger = Ledger(pg.url)
    try:
        assert len(ledger.list_runs()) == 8
        assert schema_revision(ledger.engine) == SCHEMA_HEAD
        assert pg.sql(f'SELECT version_num FROM "{pg.role}".{VERSION_TABLE}') == [(SCHEMA_HEAD,)]
    finally:
        ledger.dispose()


def test_old_postgres_ledger_is_upgraded_in_place_by_dativo_ledger_upgrade(pg: PgLedger, workspace: Workspace) -> None:
    engine = sa.create_engine(pg.url)
    metadata.create_all(engine)  # what the code before migrations made: no version table ...
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE dativo_partitions DROP COLUMN enqueued_at"))  # ... nor enqueued_at
    old = Ledger(pg.url)
    old._engine = engine  # the old code writing a run
    _create_run(old, "old-run")
    engine.dispose()

    upgraded = workspace.cli("ledger", "upgrade", "--json", env={"DATIVO_LEDGER_URL": pg.url})
    assert upgraded.code == 0, upgraded.stderr
    assert upgraded.json == {"before": None, "after": SCHEMA_HEAD}
    ledger = Ledger(pg.url)
    try:
        assert ledger.upgrade() == (SCHEMA_HEAD, SCHEMA_HEAD)  # again: nothing to do
        assert ledger.run("old-run")["state"] == "pending"  # its rows kept
        assert ledger.start_attempt("old-run", 0) == 1
        assert [p["enqueued_at"] for p in ledger.partitions("old-run")] == [None]
    finally:
        ledger.dispose()
