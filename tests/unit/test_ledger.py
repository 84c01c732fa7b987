"""The ledger on a real SQLite file: one winning attempt per partition, stale attempts ignored."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dativo_workers.ledger import Fragment, Ledger, fragments

RUN = "run-1"


@pytest.fixture
def ledger(tmp_path: Path) -> Any:
    ledger = Ledger(f"sqlite:///{tmp_path}/state/dativo.db")
    yield ledger
    ledger.dispose()


def create(ledger: Ledger, run_id: str = RUN, tenant: str = "acme", n: int = 2) -> None:
    ledger.create_run(
        run_id=run_id,
        tenant=tenant,
        job_name="customers",
        job_path="/jobs/customers.yaml",
        job={"tenant_id": tenant, "source": {"password": "${secret:db.password}"}},
        catalog="default",
        table_ident="acme.customers",
        plan={"table": {"location": "file:///wh"}, "mode": "append"},
        partition_specs=[{"index": i, "label": f"part-{i}", "files": [f"f{i}.csv"]} for i in range(n)],
    )


def partition(ledger: Ledger, idx: int, run_id: str = RUN) -> dict[str, Any]:
    return next(p for p in ledger.partitions(run_id) if p["idx"] == idx)


def all_fragments(ledger: Ledger) -> list[tuple[int, int, str]]:
    with ledger.engine.connect() as conn:
        rows = conn.execute(sa.select(fragments.c.idx, fragments.c.attempt, fragments.c.path).order_by(fragments.c.id))
        return [tuple(r) for r in rows]


def data(path: str, rows: int = 10, nbytes: int = 100) -> Fragment:
    return Fragment("data", path, rows, nbytes)


def test_ledger_file_is_created_on_first_use(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path}/state/dativo.db")
    assert not (tmp_path / "state").exists()
    assert ledger.run("nope") is None
    assert (tmp_path / "state" / "dativo.db").exists()
    ledger.dispose()


def test_create_run_records_run_and_partitions(ledger: Ledger) -> None:
    create(ledger, n=3)
    run = ledger.run(RUN)
    assert run is not None
    assert (run["state"], run["partitions_total"], run["tenant"], run["table_ident"]) == (
        "pending",
        3,
        "acme",
        "acme.customers",
    )
    assert '"${secret:db.password}"' in run["job_json"]
    assert run["finished_at"] is None and run["rows"] == 0
    parts = ledger.partitions(RUN)
    assert [(p["idx"], p["label"], p["state"], p["attempts"]) for p in parts] == [
        (0, "part-0", "pending", 0),
        (1, "part-1", "pending", 0),
        (2, "part-2", "pending", 0),
    ]
    assert '"f1.csv"' in parts[1]["spec_json"]


def test_runs_are_listed_newest_first_and_by_tenant(ledger: Ledger) -> None:
    create(ledger, "r1", "acme")
    create(ledger, "r2", "globex")
    create(ledger, "r3", "acme")
    assert [r["run_id"] for r in ledger.list_runs()] == ["r3", "r2", "r1"]
    assert [r["run_id"] for r in ledger.list_runs(tenant="acme")] == ["r3", "r1"]
    assert [r["run_id"] for r in ledger.list_runs(limit=1)] == ["r3"]


def test_set_run_state_stamps_final_states(ledger: Ledger) -> None:
    create(ledger)
    ledger.set_run_state(RUN, "running")
    running = ledger.run(RUN)
    assert running is not None and running["state"] == "running" and running["finished_at"] is None
    ledger.set_run_state(RUN, "committed", snapshot_id=42, rows=20)
    run = ledger.run(RUN)
    assert run is not None
    assert (run["state"], run["snapshot_id"], run["rows"]) == ("committed", 42, 20)
    assert run["finished_at"] is not None


def test_start_attempt_increments_and_stops_once_done(ledger: Ledger) -> None:
    create(ledger)
    assert ledger.start_attempt(RUN, 0, worker="w1") == 1
    p = partition(ledger, 0)
    assert (p["state"], p["attempts"], p["worker"]) == ("running", 1, "w1")
    assert p["started_at"] is not None and p["heartbeat_at"] is not None
    assert ledger.start_attempt(RUN, 0, worker="w2") == 2
    assert partition(ledger, 0)["worker"] == "w2"
    assert ledger.start_attempt(RUN, 1) == 1  # partitions count separately
    assert ledger.finish_partition(RUN, 0, 2, [data("a.parquet")], 0)
    assert ledger.start_attempt(RUN, 0) is None
    p = partition(ledger, 0)
    assert (p["state"], p["attempts"], p["winning_attempt"]) == ("done", 2, 2)
    assert ledger.start_attempt(RUN, 9) is None  # no such partition


def test_finish_partition_wins_once(ledger: Ledger) -> None:
    create(ledger)
    first = ledger.start_attempt(RUN, 0)
    second = ledger.start_attempt(RUN, 0)
    assert (first, second) == (1, 2)
    produced = [data("a2-0.parquet", 7, 70), data("a2-1.parquet", 5, 50), Fragment("quarantine", "q2.parquet", 2, 9)]
    assert ledger.finish_partition(RUN, 0, 2, produced, bad_rows=2) is True
    assert ledger.finish_partition(RUN, 0, 1, [data("a1-0.parquet"), data("a1-1.parquet")], bad_rows=0) is False
    assert all_fragments(ledger) == [(0, 2, "a2-0.parquet"), (0, 2, "a2-1.parquet"), (0, 2, "q2.parquet")]
    p = partition(ledger, 0)
    assert (p["state"], p["winning_attempt"], p["rows"], p["bytes"], p["files"], p["bad_rows"]) == (
        "done",
        2,
        12,
        120,
        2,
        2,
    )


def test_winning_fragments_are_only_the_winners(ledger: Ledger) -> None:
    create(ledger, n=3)
    for idx in range(3):
        ledger.start_attempt(RUN, idx)
    # partition 1: a stale attempt's fragments sit in the table (e.g. inserted before a redelivery won)
    assert ledger.start_attempt(RUN, 1) == 2
    with ledger.engine.begin() as conn:
        conn.execute(
            fragments.insert().values(run_id=RUN, idx=1, attempt=1, kind="data", path="stale.parquet", rows=1, bytes=1)
        )
    assert ledger.finish_partition(RUN, 1, 2, [data("p1.parquet", 3, 30)], 0)
    assert ledger.finish_partition(RUN, 0, 1, [data("p0.parquet", 4, 40), Fragment("quarantine", "q0", 1, 1)], 1)
    # partition 2 is still running: nothing of it is committed
    create(ledger, "other-run", n=1)
    ledger.start_attempt("other-run", 0)
    ledger.finish_partition("other-run", 0, 1, [data("other.parquet")], 0)

    assert ledger.winning_fragments(RUN) == [data("p0.parquet", 4, 40), data("p1.parquet", 3, 30)]
    assert ledger.winning_fragments(RUN, kind="quarantine") == [Fragment("quarantine", "q0", 1, 1)]
    assert ledger.winning_fragments("other-run") == [data("other.parquet")]
    assert ledger.winning_fragments("missing-run") == []


def test_fail_partition_does_not_overwrite_done(ledger: Ledger) -> None:
    create(ledger)
    ledger.start_attempt(RUN, 0)
    ledger.start_attempt(RUN, 0)
    assert ledger.finish_partition(RUN, 0, 2, [data("ok.parquet")], 0)
    ledger.fail_partition(RUN, 0, 1, "late failure of attempt 1")
    p = partition(ledger, 0)
    assert (p["state"], p["error"], p["winning_attempt"]) == ("done", None, 2)
    assert ledger.winning_fragments(RUN) == [data("ok.parquet")]


def test_fail_partition_records_the_error_and_allows_a_retry(ledger: Ledger) -> None:
    create(ledger)
    ledger.start_attempt(RUN, 1)
    ledger.fail_partition(RUN, 1, 1, "boom " * 2000)
    p = partition(ledger, 1)
    assert p["state"] == "failed" and p["error"].startswith("boom") and len(p["error"]) == 4000
    assert p["finished_at"] is not None
    assert ledger.start_attempt(RUN, 1) == 2
    p = partition(ledger, 1)
    assert (p["state"], p["error"]) == ("running", None)


def test_heartbeat_updates_only_the_current_attempt(ledger: Ledger) -> None:
    create(ledger)
    ledger.start_attempt(RUN, 0)
    ledger.start_attempt(RUN, 0)
    ledger.start_attempt(RUN, 1)
    before = partition(ledger, 0)["heartbeat_at"]
    other_before = partition(ledger, 1)

    ledger.heartbeat(RUN, 0, 1, rows=999, nbytes=9999)  # stale attempt: ignored
    p = partition(ledger, 0)
    assert (p["rows"], p["bytes"], p["heartbeat_at"]) == (0, 0, before)

    time.sleep(0.01)
    ledger.heartbeat(RUN, 0, 2, rows=50, nbytes=500)
    p = partition(ledger, 0)
    assert (p["rows"], p["bytes"]) == (50, 500) and p["heartbeat_at"] > before
    assert partition(ledger, 1) == other_before  # other partitions untouched

    assert ledger.finish_partition(RUN, 0, 2, [data("x.parquet", 60, 600)], 0)
    ledger.heartbeat(RUN, 0, 2, rows=1, nbytes=1)  # a late beat does not rewrite a finished partition
    p = partition(ledger, 0)
    assert (p["state"], p["rows"], p["bytes"]) == ("done", 60, 600)


def test_fail_run_leaves_committed_runs_alone(ledger: Ledger) -> None:
    create(ledger, "r1")
    create(ledger, "r2")
    ledger.set_run_state("r1", "committed", snapshot_id=1)
    assert ledger.fail_run("r1", "late failure") is False
    assert ledger.fail_run("r2", "x" * 5000) is True
    r1, r2 = ledger.run("r1"), ledger.run("r2")
    assert r1 is not None and (r1["state"], r1["error"]) == ("committed", None)
    assert r2 is not None and r2["state"] == "failed" and len(r2["error"]) == 4000 and r2["finished_at"] is not None


def test_a_stale_attempt_cannot_fail_a_newer_running_one(ledger: Ledger) -> None:
    create(ledger)
    assert ledger.start_attempt(RUN, 0) == 1
    assert ledger.start_attempt(RUN, 0) == 2  # redelivered while attempt 1 was still out there
    ledger.fail_partition(RUN, 0, 1, "attempt 1 finally gave up")
    assert partition(ledger, 0)["state"] == "running"
    ledger.fail_partition(RUN, 0, 2, "attempt 2 failed")
    assert partition(ledger, 0)["state"] == "failed" and partition(ledger, 0)["error"] == "attempt 2 failed"
