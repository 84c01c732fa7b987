"""The ledger on a real SQLite file: one winning attempt per partition, stale attempts ignored."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from dativo_workers.ledger import (
    SCHEMA_HEAD,
    VERSION_TABLE,
    Fragment,
    Ledger,
    _migrate,
    fragments,
    metadata,
    partitions,
    schema_revision,
)

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
    assert ledger.run(RUN)["state"] == "running"  # the first attempt starts the run
    age(ledger, 0, 120)  # w1 went silent for longer than the lease
    assert ledger.start_attempt(RUN, 0, worker="w2") == 2
    assert partition(ledger, 0)["worker"] == "w2"
    assert ledger.start_attempt(RUN, 1) == 1  # partitions count separately
    assert ledger.finish_partition(RUN, 0, 2, [data("a.parquet")], 0)
    assert ledger.start_attempt(RUN, 0) is None
    p = partition(ledger, 0)
    assert (p["state"], p["attempts"], p["winning_attempt"]) == ("done", 2, 2)
    assert ledger.start_attempt(RUN, 9) is None  # no such partition


def age(ledger: Ledger, idx: int, seconds: float, run_id: str = RUN) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(
            partitions.update()
            .where(partitions.c.run_id == run_id, partitions.c.idx == idx)
            .values(heartbeat_at=partitions.c.heartbeat_at - seconds)
        )


def test_a_live_attempt_is_not_stolen_a_silent_or_gone_one_is(ledger: Ledger) -> None:
    create(ledger)
    assert ledger.start_attempt(RUN, 0, worker="other-host:4242") == 1
    assert ledger.start_attempt(RUN, 0, worker="w2", lease_seconds=60) is None  # it beats: not stolen
    assert partition(ledger, 0)["attempts"] == 1  # a refused delivery costs no attempt
    age(ledger, 0, 61)
    assert ledger.start_attempt(RUN, 0, worker="w2", lease_seconds=60) == 2

    # a process of this host that has exited is gone at once, whatever its last heartbeat said
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    dead = f"{socket.gethostname()}:{proc.pid}"
    assert ledger.start_attempt(RUN, 1, worker=dead) == 1
    assert ledger.start_attempt(RUN, 1) == 2
    # so is an attempt of this very process: it runs one partition at a time
    assert ledger.start_attempt(RUN, 1) == 3
    assert ledger.start_attempt(RUN, 1, worker="w3") is None  # but "w3" cannot tell that
    # a live process of this host keeps its partition
    assert ledger.finish_partition(RUN, 1, 3, [], 0)
    create(ledger, "r2", n=1)
    assert ledger.start_attempt("r2", 0, worker=f"{socket.gethostname()}:{os.getppid()}") == 1
    assert ledger.start_attempt("r2", 0) is None


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
    assert ledger.start_attempt(RUN, 1) is None  # a failed partition waits for `dativo retry`
    assert ledger.fail_run(RUN, "1 of 2 partitions failed")
    assert ledger.reopen(RUN, lease_seconds=60) == [0, 1]
    assert ledger.run(RUN)["state"] == "running"
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


# -- state changes are compare-and-set --------------------------------------------------------


def test_run_state_changes_only_from_the_states_they_follow(ledger: Ledger) -> None:
    create(ledger)
    assert ledger.set_run_state(RUN, "committed", snapshot_id=1) is True  # the table decides: from any state
    assert ledger.set_run_state(RUN, "running") is False  # a committed run never runs again
    assert ledger.set_run_state(RUN, "failed", error="late") is False
    assert ledger.cancel(RUN) is False
    run = ledger.run(RUN)
    assert (run["state"], run["snapshot_id"], run["error"]) == ("committed", 1, None)

    create(ledger, "r2")
    assert ledger.cancel("r2") is True
    assert ledger.set_run_state("r2", "running") is False
    assert ledger.claim_commit("r2", lease_seconds=60) is False
    assert ledger.fail_run("r2", "late failure") is False
    assert ledger.reopen("r2", lease_seconds=60) == []
    assert ledger.run("r2")["state"] == "cancelled"
    # an explicit expectation is still a compare-and-set
    assert ledger.set_run_state("r2", "running", expected=("pending",)) is False
    assert ledger.set_run_state("r2", "running", expected=("cancelled",)) is True


def test_a_cancelled_run_starts_nothing_and_stays_cancelled(ledger: Ledger) -> None:
    create(ledger, n=3)
    assert ledger.start_attempt(RUN, 0) == 1
    assert ledger.cancel(RUN)
    assert [p["state"] for p in ledger.partitions(RUN)] == ["cancelled"] * 3
    for idx in range(3):  # a late or redelivered task for any partition
        assert ledger.start_attempt(RUN, idx) is None
    assert ledger.finish_partition(RUN, 0, 1, [data("late.parquet")], 0) is False  # the running one ends
    ledger.fail_partition(RUN, 0, 1, "late error")
    assert ledger.heartbeat(RUN, 0, 1, rows=5, nbytes=5) == "cancelled"
    assert ledger.run(RUN)["state"] == "cancelled"
    assert [p["state"] for p in ledger.partitions(RUN)] == ["cancelled"] * 3
    assert all_fragments(ledger) == []


def test_start_attempt_refuses_runs_that_are_not_pending_or_running(ledger: Ledger) -> None:
    for state in ("committing", "committed", "failed"):
        create(ledger, state)
        ledger.set_run_state(state, state, expected=("pending",))
        assert ledger.start_attempt(state, 0) is None
        assert ledger.run(state)["state"] == state
        assert partition(ledger, 0, state)["state"] == "pending"


def test_cancel_racing_start_attempt_never_leaves_a_running_partition_in_a_cancelled_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/race.db"
    setup = Ledger(url)
    for n in range(20):
        create(setup, f"r{n}", n=4)
    barrier = threading.Barrier(2)

    def start_all() -> None:
        ledger = Ledger(url)
        barrier.wait()
        for n in range(20):
            for idx in range(4):
                ledger.start_attempt(f"r{n}", idx)
        ledger.dispose()

    def cancel_all() -> None:
        ledger = Ledger(url)
        barrier.wait()
        for n in range(20):
            ledger.cancel(f"r{n}")
        ledger.dispose()

    threads = [threading.Thread(target=start_all), threading.Thread(target=cancel_all)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n in range(20):
        assert setup.run(f"r{n}")["state"] == "cancelled"
        assert {p["state"] for p in setup.partitions(f"r{n}")} == {"cancelled"}
    setup.dispose()


def test_enqueue_time_is_recorded_and_a_lost_partition_is_claimed_once(ledger: Ledger) -> None:
    create(ledger, n=2)
    assert partition(ledger, 0)["enqueued_at"] is None
    before = time.time()
    ids = ledger.set_task_batch(RUN, [0, 1], "b0", "dativo")
    p0, p1 = partition(ledger, 0), partition(ledger, 1)
    assert (p0["task_id"], p1["task_id"]) == (ids[0], ids[1]) == (f"{RUN}-b0-p0", f"{RUN}-b0-p1")
    assert p0["enqueued_at"] >= before
    assert ledger.run(RUN)["queue"] == "dativo"
    # two reconcilers saw p0's message missing: one resends it
    assert ledger.claim_requeue(RUN, 0, p0["enqueued_at"]) is True
    assert ledger.claim_requeue(RUN, 0, p0["enqueued_at"]) is False
    # a partition that started meanwhile is not resent
    assert ledger.start_attempt(RUN, 1) == 1
    assert ledger.claim_requeue(RUN, 1, p1["enqueued_at"]) is False
    # a transient failure puts it back with a fresh clock: its retry message is on its way
    assert ledger.release_partition(RUN, 1, 1, "ConnectionResetError")
    assert partition(ledger, 1)["enqueued_at"] > p1["enqueued_at"]


# -- schema migrations ----------------------------------------------------------------------


def test_a_new_ledger_is_at_the_newest_migration(tmp_path: Path) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from dativo_workers import ledger_migrations

    config = Config()
    config.set_main_option("script_location", os.path.dirname(ledger_migrations.__file__))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD
    ledger = Ledger(f"sqlite:///{tmp_path}/new.db")
    assert schema_revision(ledger.engine) == SCHEMA_HEAD
    tables = set(sa.inspect(ledger.engine).get_table_names())
    assert tables == {"dativo_runs", "dativo_partitions", "dativo_fragments", VERSION_TABLE}
    assert ledger.upgrade() == (SCHEMA_HEAD, SCHEMA_HEAD)  # nothing left to do
    ledger.dispose()


def _shape(engine: sa.Engine) -> dict[str, Any]:
    """Tables, columns, keys and indexes, as the database reports them."""
    inspector = sa.inspect(engine)
    return {
        table: {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "references": [(k["constrained_columns"], k["referred_table"]) for k in inspector.get_foreign_keys(table)],
            "indexes": sorted((i["name"], i["column_names"], bool(i["unique"])) for i in inspector.get_indexes(table)),
        }
        for table in sorted(inspector.get_table_names())
    }


def test_a_new_ledger_is_made_as_the_migrations_would_make_it_without_loading_alembic(tmp_path: Path) -> None:
    migrated = sa.create_engine(f"sqlite:///{tmp_path}/migrated.db")
    with migrated.begin() as conn:
        _migrate(conn, None)  # every migration, from an empty database
    made = Ledger(f"sqlite:///{tmp_path}/made.db")
    assert _shape(made.engine) == _shape(migrated)
    assert schema_revision(made.engine) == schema_revision(migrated) == SCHEMA_HEAD
    made.dispose()
    migrated.dispose()
    # a first run pays for no Alembic import (about half a second)
    probe = (
        "import sys; from dativo_workers.ledger import Ledger; "
        f"Ledger('sqlite:///{tmp_path}/fresh.db').engine; print('alembic' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout == "False\n"


def old_style_ledger(url: str) -> None:
    """What `metadata.create_all` made before migrations existed: no version table, no enqueued_at,
    and a run in it."""
    engine = sa.create_engine(url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE dativo_partitions DROP COLUMN enqueued_at"))
    engine.dispose()
    old = Ledger(url)
    old._engine = sa.create_engine(url)  # skip the upgrade: this is the old code writing
    create(old, "old-run", n=2)
    old.dispose()


def test_an_old_style_ledger_is_upgraded_in_place(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    old_style_ledger(url)
    ledger = Ledger(url)
    assert ledger.run("old-run")["state"] == "pending"  # first use upgrades it, keeping its rows
    assert schema_revision(ledger.engine) == SCHEMA_HEAD
    assert [p["enqueued_at"] for p in ledger.partitions("old-run")] == [None, None]
    assert ledger.start_attempt("old-run", 0) == 1
    ledger.dispose()


def test_fresh_sqlite_ledger_first_used_by_many_threads_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def first_use(n: int) -> None:
        ledger = Ledger(url)
        barrier.wait()
        try:
            create(ledger, f"r{n}", n=1)
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
    ledger = Ledger(url)
    assert len(ledger.list_runs()) == 8 and schema_revision(ledger.engine) == SCHEMA_HEAD
    ledger.dispose()


def test_cli_ledger_upgrade(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dativo_workers.cli import app

    url = f"sqlite:///{tmp_path}/cli.db"
    old_style_ledger(url)
    monkeypatch.setenv("DATIVO_LEDGER_URL", url)
    monkeypatch.delenv("DATIVO_RUNNER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["ledger", "upgrade", "--json"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f'{{"before": null, "after": "{SCHEMA_HEAD}"}}'
    result = CliRunner().invoke(app, ["ledger", "upgrade"])
    assert result.exit_code == 0 and f"ledger schema is current ({SCHEMA_HEAD})" in result.stdout
    assert Ledger(url).run("old-run") is not None
    help_text = CliRunner().invoke(app, ["ledger", "upgrade", "--help"]).stdout
    assert "migrate" in help_text and "lock" in help_text


def test_a_task_batch_records_every_id_in_one_statement_whole_run_or_subset(ledger: Ledger) -> None:
    from dativo_workers.ledger import task_id_for

    create(ledger, n=12)
    ids = ledger.set_task_batch(RUN, list(range(12)), "b1", "q1")
    assert ids == {i: task_id_for(RUN, "b1", i) for i in range(12)} and len(set(ids.values())) == 12
    assert [p["task_id"] for p in ledger.partitions(RUN)] == [ids[i] for i in range(12)]
    assert ledger.run(RUN)["queue"] == "q1"
    first = partition(ledger, 3)["enqueued_at"]
    # a resend of some partitions: new ids for those only, the others keep theirs
    again = ledger.set_task_batch(RUN, [3, 10], "b2", "q1")
    assert again == {3: task_id_for(RUN, "b2", 3), 10: task_id_for(RUN, "b2", 10)}
    states = {p["idx"]: p for p in ledger.partition_states(RUN)}
    assert states[3]["task_id"] == again[3] and states[3]["enqueued_at"] >= first
    assert states[4]["task_id"] == ids[4] and set(states[4]) == {
        "idx", "state", "attempts", "task_id", "heartbeat_at", "enqueued_at"
    }  # fmt: skip


def test_a_claim_returns_the_spec_and_the_open_check_follows_every_finish(ledger: Ledger) -> None:
    create(ledger, n=2)
    claim = ledger.claim_attempt(RUN, 1, worker="w1")
    assert claim is not None and claim.attempt == 1 and claim.attempt_base == 0
    assert '"label": "part-1"' in claim.spec_json
    assert ledger.claim_attempt(RUN, 1, worker="w2", lease_seconds=60) is None  # held and beating
    assert not ledger.all_partitions_finished(RUN)
    assert ledger.finish_partition(RUN, 1, 1, [], 0)
    assert not ledger.all_partitions_finished(RUN)  # partition 0 is still pending
    ledger.fail_partition(RUN, 0, None, "boom")
    assert ledger.all_partitions_finished(RUN)


def test_finish_attempt_tells_the_partition_that_leaves_none_open(ledger: Ledger) -> None:
    """The finish reads, in its own transaction, whether the run has anything open: only the last
    partition to finish sees none (it sends the commit); a losing duplicate sees nothing."""
    create(ledger, n=3)
    claims = [ledger.claim_attempt(RUN, idx) for idx in range(3)]
    assert [c.attempt for c in claims if c] == [1, 1, 1] and ledger.run(RUN)["state"] == "running"
    first = ledger.finish_attempt(RUN, 0, 1, [data("p0.parquet")], 0)
    assert (first.won, first.run_finished) == (True, False)
    ledger.fail_partition(RUN, 1, 1, "broken")  # failed counts as finished, as for all_partitions_finished
    last = ledger.finish_attempt(RUN, 2, 1, [data("p2.parquet")], 0)
    assert (last.won, last.run_finished) == (True, True) and ledger.all_partitions_finished(RUN)
    late = ledger.finish_attempt(RUN, 2, 1, [data("late.parquet")], 0)  # a redelivered duplicate
    assert (late.won, late.run_finished) == (False, False)
    assert [f.path for f in ledger.winning_fragments(RUN)] == ["p0.parquet", "p2.parquet"]


def test_a_claim_of_a_pending_partition_reads_its_spec_and_starts_the_run(ledger: Ledger) -> None:
    create(ledger, n=2)
    assert ledger.run(RUN)["state"] == "pending"
    claim = ledger.claim_attempt(RUN, 1, worker="w:1")
    assert claim is not None and claim.attempt == 1 and json.loads(claim.spec_json)["index"] == 1
    p = partition(ledger, 1)
    assert (p["state"], p["attempts"], p["worker"], p["rows"]) == ("running", 1, "w:1", 0)
    assert ledger.run(RUN)["state"] == "running"
    assert ledger.claim_attempt(RUN, 1, worker="w:2") is None  # held by a live attempt
    assert ledger.claim_attempt(RUN, 1, worker="w:1").attempt == 2  # its own worker: that attempt is over
    assert ledger.cancel(RUN) and ledger.claim_attempt(RUN, 0) is None  # a cancelled run starts nothing
