"""`source.incremental: {mode: new_files}`: each run loads only the files no earlier committed run
of the job loaded, late-arriving (older) ones included; the set of loaded files is a listing file
committed with the data, so it rolls back with it; nothing new commits nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dativo_workers.config import load_job, load_runner
from dativo_workers.config.job import expand_objects
from dativo_workers.errors import DativoError
from dativo_workers.executor import execute

from ..conftest import Workspace
from .s3 import S3Server

pytestmark = pytest.mark.integration

STATE = "dativo.state.acme.{job}."
OLD = 946684800  # 2000-01-01: a file that arrives late with an old timestamp


def _csv(ws: Workspace, name: str, ids: range, mtime: int | None = None) -> Path:
    path = ws.write(f"jobs/in/{name}", "id,v\n" + "".join(f"{i},{i * 2}\n" for i in ids))
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def _job(ws: Workspace, name: str, path: str, storage: str = "") -> Path:
    return ws.job(
        f"jobs/{name}.yaml",
        f"tenant_id: acme\nname: {name}\nsource:\n  connector: csv\n  files: [{{path: '{path}'}}]\n"
        f"  incremental: {{mode: new_files}}\n{storage}target: {{namespace: acme, table: {name}}}\n",
    )


def _ids(ws: Workspace, table: str) -> list[int]:
    return sorted(r["id"] for r in ws.read(f"acme.{table}").to_pylist())


def _state(ws: Workspace, job: str) -> dict[str, str]:
    summary = ws.table(f"acme.{job}").current_snapshot().summary.additional_properties
    prefix = STATE.format(job=job)
    return {k.removeprefix(prefix): v for k, v in summary.items() if k.startswith(prefix)}


def _listing(uri: str) -> list[str]:
    return sorted(pq.read_table(uri.removeprefix("file://"), columns=["key"])["key"].to_pylist())


def test_new_files_end_to_end_through_the_cli(workspace: Workspace) -> None:
    ws = workspace
    _csv(ws, "a.csv", range(0, 3))
    _csv(ws, "b.csv", range(10, 13))
    job = _job(ws, "landing", "in/*.csv")
    first = ws.run(job)
    assert first["state"] == "committed" and first["rows"] == 6
    state = _state(ws, "landing")
    location = ws.table("acme.landing").location()
    # beside the run's fragments, named from the snapshot summary (kept by the commit's sweep)
    assert state["files.listing"] == f"{location}/data/{first['run_id']}/_dativo_loaded_files.parquet"
    assert state["files.count"] == "2"
    assert _listing(state["files.listing"]) == [str(ws.root / "jobs/in/a.csv"), str(ws.root / "jobs/in/b.csv")]

    _csv(ws, "c.csv", range(20, 22), mtime=OLD)  # older than everything loaded so far
    second = ws.run(job)
    assert second["state"] == "committed" and second["rows"] == 2 and second["partitions_total"] == 1
    assert _ids(ws, "landing") == [0, 1, 2, 10, 11, 12, 20, 21]
    assert _state(ws, "landing")["files.count"] == "3"

    snapshots = len(ws.table("acme.landing").snapshots())
    again = ws.cli("run", str(job), "--json")
    assert again.code == 0, again.stdout + again.stderr
    summary = again.json
    assert summary["state"] == "committed" and summary["snapshot_id"] is None and summary["rows"] == 0
    assert summary["message"].startswith("no new files")
    assert len(ws.table("acme.landing").snapshots()) == snapshots  # nothing committed

    shown = ws.cli("state", "show", str(job), "--json")
    assert shown.code == 0, shown.stderr
    values = {(e["object"], e["cursor_field"]): e["value"] for e in shown.json["state"]}
    assert values[("files", "count")] == "3" and values[("files", "listing")].endswith("_dativo_loaded_files.parquet")
    refused = ws.cli("state", "reset", str(job), "--to", "x", "--yes")
    assert refused.code == 2 and "new_files" in refused.stderr
    reset = ws.cli("state", "reset", str(job), "--yes", "--json")
    assert reset.code == 0, reset.stderr
    reloaded = ws.run(job)  # the state forgotten: every file again
    assert reloaded["rows"] == 8 and _state(ws, "landing")["files.count"] == "3"


def test_the_loaded_set_commits_and_rolls_back_with_the_data(workspace: Workspace) -> None:
    ws = workspace
    _csv(ws, "a.csv", range(0, 3))
    job = _job(ws, "atomic", "in/*.csv")
    first = ws.run(job)
    assert first["state"] == "committed"

    # a run that fails commits neither rows nor the files it read: they stay new
    ws.write("jobs/in/bad.csv", "id,v\n30,x\n")
    _csv(ws, "d.csv", range(40, 42))
    failed = ws.run(job)
    assert failed["state"] == "failed" and _state(ws, "atomic")["files.count"] == "1"
    _csv(ws, "bad.csv", range(30, 31))
    fixed = ws.run(job)
    assert fixed["state"] == "committed" and fixed["rows"] == 3 and _state(ws, "atomic")["files.count"] == "3"

    # roll the table back to the first run: its listing is the state again, so the later files are new
    table = ws.table("acme.atomic")
    table.manage_snapshots().rollback_to_snapshot(first["snapshot_id"]).commit()
    assert _state(ws, "atomic")["files.count"] == "1"
    again = ws.run(job)
    assert again["rows"] == 3 and _ids(ws, "atomic") == [0, 1, 2, 30, 40, 41]

    # a full refresh replaces the table with every file and starts the set again
    [refresh] = expand_objects(load_job(job), full_refresh=True)
    replaced = execute(refresh, load_runner(ws.runner_file))
    assert replaced["rows"] == 6 and _ids(ws, "atomic") == [0, 1, 2, 30, 40, 41]
    assert _state(ws, "atomic")["files.count"] == "3"


def test_new_files_in_an_object_store(
    workspace: Workspace, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = s3_server
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__NF_S3", json.dumps({"key": s3.access_key, "secret": s3.secret_key}))
    bucket = s3.new_bucket()
    s3.put_many(
        bucket,
        [(f"in/2026/{m:02d}/{d:02d}.csv", f"id\n{m * 100 + d}\n".encode()) for m in (1, 2) for d in range(1, 31)],
    )
    storage = (
        f"  storage: {{s3.endpoint: '{s3.endpoint}', s3.region: us-east-1, "
        "s3.access-key-id: '${secret:nf_s3.key}', s3.secret-access-key: '${secret:nf_s3.secret}'}\n"
    )
    job = _job(workspace, "landing_s3", f"s3://{bucket}/in/**/*.csv", storage)
    first = workspace.run(job)
    assert first["state"] == "committed" and first["rows"] == 60
    s3.put(bucket, [("in/2026/01/31.csv", b"id\n131\n"), ("in/2026/03/01.csv", b"id\n301\n")])  # one in an old prefix
    second = workspace.run(job)
    assert second["rows"] == 2 and second["partitions_total"] == 2
    listing = _state(workspace, "landing_s3")["files.listing"]
    assert listing.startswith("file://") and _state(workspace, "landing_s3")["files.count"] == "62"
    assert f"s3://{bucket}/in/2026/01/31.csv" in _listing(listing)
    third = workspace.run(job)
    assert third["rows"] == 0 and third["snapshot_id"] is None and "no new files" in third["message"]
    assert len(_ids(workspace, "landing_s3")) == 62


def test_files_moved_away_after_loading_mean_nothing_new(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loaded files archived away: the glob matches nothing, and a re-run says "nothing new"
    (exit 0, no snapshot). A job that never loaded a file still fails clearly on such a glob."""
    from typer.testing import CliRunner

    from dativo_workers.cli import app

    ws = workspace
    _csv(ws, "a.csv", range(0, 3))
    job = _job(ws, "archived", "in/*.csv")
    assert ws.run(job)["rows"] == 3
    (ws.root / "jobs/archive").mkdir()
    (ws.root / "jobs/in/a.csv").rename(ws.root / "jobs/archive/a.csv")
    snapshots = len(ws.table("acme.archived").snapshots())
    monkeypatch.setenv("DATIVO_RUNNER_CONFIG", str(ws.runner_file))
    monkeypatch.chdir(ws.root)

    again = CliRunner().invoke(app, ["run", str(job), "--json"])
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)
    assert summary["state"] == "committed" and summary["snapshot_id"] is None and summary["rows"] == 0
    assert summary["message"].startswith("no new files")
    assert len(ws.table("acme.archived").snapshots()) == snapshots and _ids(ws, "archived") == [0, 1, 2]

    _csv(ws, "b.csv", range(10, 12))  # a new file lands: it loads, the archived one is not read again
    assert ws.run(job)["rows"] == 2 and _ids(ws, "archived") == [0, 1, 2, 10, 11]

    never = _job(ws, "never", "nowhere/*.csv")
    failed = CliRunner().invoke(app, ["run", str(never)])  # `dativo` prints the error and exits with its code
    assert isinstance(failed.exception, DativoError) and failed.exception.exit_code == 2
    assert "no file matches 'nowhere/*.csv'" in str(failed.exception)
    assert ws.catalog().table_exists("acme.never") is False
