"""The single-snapshot commit under conflicts: a stale table is detected, reloaded and retried."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table

from dativo_workers import iceberg
from dativo_workers.config import load_job, load_runner
from dativo_workers.iceberg import CommitRequest, TablePlan, commit
from dativo_workers.ingest import ingest_partition
from dativo_workers.pipeline import commit_run, plan_run

from ..conftest import Workspace

pytestmark = pytest.mark.integration


def _planned_run(ws: Workspace, name: str, rows: str) -> str:
    ws.write(f"data/{name}.csv", "id,v\n" + rows)
    job = ws.job(
        f"{name}.yaml",
        f"""
        tenant_id: acme
        name: {name}
        source: {{connector: csv, files: [{{path: data/{name}.csv}}]}}
        target: {{namespace: acme, table: shared}}
        """,
    )
    runner = load_runner(ws.runner_file)
    planned = plan_run(load_job(job), runner, ws.ledger())
    for partition in planned.partitions:
        assert ingest_partition(planned.run_id, partition.index, runner)["status"] == "done"
    return planned.run_id


def _request(ws: Workspace, run_id: str) -> CommitRequest:
    ledger = ws.ledger()
    run = ledger.run(run_id)
    assert run is not None
    plan = json.loads(run["plan_json"])
    return CommitRequest(
        run_id=run_id,
        plan=TablePlan.from_dict(plan["table"]),
        data_files=[(f.path, f.bytes) for f in ledger.winning_fragments(run_id)],
        mode="append",
        snapshot_properties={"dativo.run-id": run_id},
        table_properties=plan["table_properties"],
        column_docs={},
    )


class _StaleOnce:
    """A catalog that hands out one stale table first, as a concurrent committer would see it."""

    def __init__(self, catalog: Catalog, stale: Table) -> None:
        self._catalog = catalog
        self._stale: Table | None = stale

    def load_table(self, identifier: Any) -> Table:
        if self._stale is not None:
            stale, self._stale = self._stale, None
            return stale
        return self._catalog.load_table(identifier)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._catalog, name)


def test_conflicting_commit_is_retried_on_a_reloaded_table(workspace: Workspace) -> None:
    first = _planned_run(workspace, "first", "1,a\n")
    assert commit_run(first, load_runner(workspace.runner_file))["state"] == "committed"
    a = _planned_run(workspace, "a", "2,b\n3,c\n")
    b = _planned_run(workspace, "b", "4,d\n")
    catalog = workspace.catalog()
    stale = catalog.load_table("acme.shared")
    commit(catalog, _request(workspace, a))  # lands between b's load and b's commit

    with pytest.raises(CommitFailedException):  # the optimistic check sees the stale base
        iceberg._commit_once(catalog, stale, _request(workspace, b))
    retried = _StaleOnce(catalog, stale)  # our loop: the first load is stale, the retry reloads
    snapshot_id = commit(retried, _request(workspace, b))
    assert retried._stale is None
    assert commit(catalog, _request(workspace, b)) == snapshot_id  # already committed: found by run id
    # a second committer of the same run that still holds the pre-commit table is refused
    with pytest.raises(CommitFailedException):
        iceberg._commit_once(catalog, stale, _request(workspace, b))

    table = workspace.table("acme.shared")
    assert len(table.snapshots()) == 3
    assert sorted(r["id"] for r in table.scan().to_arrow().to_pylist()) == [1, 2, 3, 4]
    assert {f"run-{first}", f"run-{a}", f"run-{b}"} <= set(table.refs())


def test_concurrent_commits_both_land_once(workspace: Workspace) -> None:
    seed = _planned_run(workspace, "seed", "0,z\n")
    runner = load_runner(workspace.runner_file)
    assert commit_run(seed, runner)["state"] == "committed"
    runs = [_planned_run(workspace, f"c{i}", f"{i},x\n") for i in range(1, 5)]
    barrier = threading.Barrier(len(runs))
    results: dict[str, dict[str, Any]] = {}

    def go(run_id: str) -> None:
        barrier.wait()
        results[run_id] = commit_run(run_id, runner)

    threads = [threading.Thread(target=go, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[r]["state"] == "committed" for r in runs), results
    table = workspace.table("acme.shared")
    assert len(table.snapshots()) == 1 + len(runs)
    assert sorted(r["id"] for r in table.scan().to_arrow().to_pylist()) == [0, 1, 2, 3, 4]


def test_concurrent_commits_of_one_run_add_one_snapshot(workspace: Workspace) -> None:
    run_id = _planned_run(workspace, "once", "1,a\n2,b\n")
    runner = load_runner(workspace.runner_file)
    barrier = threading.Barrier(3)
    results: list[dict[str, Any]] = []

    def go() -> None:
        barrier.wait()
        results.append(commit_run(run_id, runner))

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r["state"] for r in results} <= {"committing", "committed"}  # losers step aside at once
    run = workspace.ledger().run(run_id)
    assert run["state"] == "committed"
    table = workspace.table("acme.shared")
    assert table.current_snapshot().snapshot_id == run["snapshot_id"]
    assert len(table.snapshots()) == 1 and table.scan().to_arrow().num_rows == 2
