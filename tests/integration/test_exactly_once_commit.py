"""Ambiguous commits, sweeps and cancel against the table's truth, and per-job incremental state.

The catalog is a real SQLite SQL catalog with faults injected at its commit (faulty_catalog.py):
the commit is applied, then the client sees an error.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from dativo_workers.config import load_runner
from dativo_workers.fragments import sweep_run
from dativo_workers.pipeline import snapshot_in_table
from dativo_workers.storage import catalog_properties

from ..conftest import REPO, Workspace
from .faulty_catalog import queue_faults, remaining_faults

pytestmark = pytest.mark.integration

ENV = {"PYTHONPATH": str(REPO)}  # the CLI imports the faulty catalog from this repository's tests


def _faulty_workspace(ws: Workspace) -> Path:
    fault_file = ws.root / "faults.json"
    queue_faults(fault_file)
    ws.write(
        "runner.yaml",
        f"""
        runner:
          ledger_url: sqlite:///{ws.root}/state/dativo.db
          catalogs:
            default:
              py-catalog-impl: tests.integration.faulty_catalog.FaultyCatalog
              fault-file: {fault_file}
              uri: sqlite:///{ws.root}/state/catalog.db
              warehouse: {ws.root}/state/warehouse
        """,
    )
    return fault_file


def _csv_job(ws: Workspace, name: str, ids: range) -> Path:
    ws.write(f"data/{name}.csv", "id,v\n" + "".join(f"{i},v{i}\n" for i in ids))
    return ws.job(
        f"{name}.yaml",
        f"""
        tenant_id: acme
        name: {name}
        source: {{connector: csv, files: [{{path: data/{name}.csv}}]}}
        target: {{namespace: acme, table: events}}
        governance_overrides: {{pii_detection: false}}
        """,
    )


def _run_snapshots(ws: Workspace, run_id: str) -> list[int]:
    return [
        s.snapshot_id
        for s in ws.table("acme.events").snapshots()
        if s.summary is not None and s.summary.get("dativo.run-id") == run_id
    ]


@pytest.mark.parametrize("fault", ["land-then-raise", "land-then-unknown"])
def test_a_commit_that_lands_and_then_errors_is_committed_once(workspace: Workspace, fault: str) -> None:
    faults = _faulty_workspace(workspace)
    # the table exists first, so the faulty commit is an append to it
    assert workspace.cli("run", str(_csv_job(workspace, "seed", range(0, 3))), "--json", env=ENV).code == 0
    queue_faults(faults, commit=[fault])
    result = workspace.cli("run", str(_csv_job(workspace, "ambiguous", range(3, 10))), "--json", env=ENV)
    assert result.code == 0, result.stderr
    summary = result.json
    assert summary["state"] == "committed" and summary["rows"] == 7
    assert remaining_faults(faults)["commit"] == [], "the fault was injected"
    assert _run_snapshots(workspace, summary["run_id"]) == [summary["snapshot_id"]]
    ids = sorted(workspace.read("acme.events")["id"].to_pylist())
    assert ids == list(range(10)), "every row exactly once"
    assert workspace.ledger().run(summary["run_id"])["state"] == "committed"


def test_a_commit_whose_outcome_cannot_be_read_back_is_left_for_retry_not_failed(workspace: Workspace) -> None:
    faults = _faulty_workspace(workspace)
    assert workspace.cli("run", str(_csv_job(workspace, "seed", range(0, 3))), "--json", env=ENV).code == 0
    queue_faults(faults, commit=["land-then-blackout:5"])
    result = workspace.cli("run", str(_csv_job(workspace, "blind", range(3, 8))), "--json", env=ENV)
    assert result.code == 3, (result.stdout, result.stderr)  # neither committed nor failed: unknown
    summary = result.json
    assert summary["state"] == "committing"
    assert "could not be read back" in summary["error"]
    # the rows are in fact in the table; `dativo retry` settles the ledger without adding anything
    retried = workspace.cli("retry", summary["run_id"], env=ENV)
    assert retried.code == 0, retried.stderr
    run = workspace.ledger().run(summary["run_id"])
    assert run["state"] == "committed" and run["rows"] == 5
    assert _run_snapshots(workspace, summary["run_id"]) == [run["snapshot_id"]]
    assert sorted(workspace.read("acme.events")["id"].to_pylist()) == list(range(8))


def test_cancel_of_a_run_whose_snapshot_landed_changes_nothing(workspace: Workspace) -> None:
    summary = workspace.cli("run", str(_csv_job(workspace, "landed", range(5))), "--json").json
    run_id = summary["run_id"]
    ledger = workspace.ledger()
    with ledger.engine.begin() as conn:  # what a client that saw its commit fail used to record
        conn.execute(sa.text("UPDATE dativo_runs SET state = 'failed' WHERE run_id = :r"), {"r": run_id})
    result = workspace.cli("cancel", run_id)
    assert result.code == 2
    assert "is committed" in result.stderr and "changes nothing" in result.stderr
    assert ledger.run(run_id)["state"] == "committed", "the ledger follows the table"
    assert ledger.run(run_id)["snapshot_id"] == summary["snapshot_id"]
    assert sorted(workspace.read("acme.events")["id"].to_pylist()) == list(range(5)), "every file still there"


def test_a_sweep_never_deletes_what_a_snapshot_references(workspace: Workspace) -> None:
    summary = workspace.cli("run", str(_csv_job(workspace, "swept", range(4))), "--json").json
    run_id = summary["run_id"]
    runner = load_runner(workspace.runner_file)
    run = workspace.ledger().run(run_id)
    location = json.loads(run["plan_json"])["table"]["location"]
    loser = Path(location.removeprefix("file://")) / "data" / run_id / "p00000-a09-loser.parquet"
    loser.write_bytes(b"an attempt killed mid-write")
    _, table = snapshot_in_table(run, runner)
    storage = catalog_properties(runner.catalog("default"), "acme")
    # a caller that wrongly thinks nothing should be kept still cannot delete the committed files
    assert sweep_run(location, run_id, keep=set(), storage=storage, table=table) == 1
    assert not loser.exists()
    assert sorted(workspace.read("acme.events")["id"].to_pylist()) == list(range(4))


READER = '''
import pyarrow as pa
from pydantic import BaseModel
from dativo_workers.plugins import DataReader
from dativo_workers.plugins.base import Partition


class Settings(BaseModel):
    last_id: int
    job: str


class CountingReader(DataReader):
    """Ids 1..last_id; incremental on id (the cursor is what the last committed run reached)."""

    name = "counting"
    config_model = Settings

    def schema(self):
        return pa.schema([("id", pa.int64()), ("job", pa.string())])

    def planned_state(self):
        return {"ids.id": str(self.config.last_id)}

    def plan(self):  # the window is fixed at plan time, from the committed state
        return [Partition(index=0, spec={"after": int(self.context.state.get("ids.id", 0))})]

    def read(self, partition, schema):
        start = partition.spec["after"]
        ids = list(range(start + 1, self.config.last_id + 1))
        yield pa.table({"id": pa.array(ids, pa.int64()), "job": pa.array([self.config.job] * len(ids))})
'''


def _incremental_job(ws: Workspace, name: str, last_id: int) -> Path:
    return ws.job(
        f"{name}.yaml",
        f"""
        tenant_id: acme
        name: {name}
        source:
          reader: {{type: plugin, plugin_path: counting.CountingReader, config: {{last_id: {last_id}, job: {name}}}}}
          incremental: {{cursor_field: id}}
        target: {{namespace: acme, table: shared_inc}}
        governance_overrides: {{pii_detection: false}}
        """,
    )


def test_two_incremental_jobs_on_one_table_keep_their_own_cursor(workspace: Workspace) -> None:
    workspace.write("counting.py", READER)
    for name, last_id in [("job_a", 3), ("job_b", 5), ("job_a", 6), ("job_b", 5), ("job_a", 6)]:
        summary = workspace.run(_incremental_job(workspace, name, last_id))
        assert summary["state"] == "committed", summary
    rows = workspace.read("acme.shared_inc").to_pylist()
    by_job = {j: sorted(r["id"] for r in rows if r["job"] == j) for j in ("job_a", "job_b")}
    # job_a: 1..3, then 4..6 (its own cursor, not job_b's 5), then nothing; job_b: 1..5 once
    assert by_job == {"job_a": [1, 2, 3, 4, 5, 6], "job_b": [1, 2, 3, 4, 5]}
    summary = workspace.table("acme.shared_inc").current_snapshot().summary.additional_properties
    assert summary["dativo.state.acme.job_a.ids.id"] == "6"
