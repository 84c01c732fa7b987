"""`dativo maintain`: compaction, snapshot expiry and orphan removal on real tables (SQLite catalog,
local warehouse), read back with pyiceberg; the CLI in a subprocess like a scheduler runs it."""

from __future__ import annotations

import base64
import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dativo_workers.cli_state import commit_state
from dativo_workers.config import load_job, load_runner
from dativo_workers.config.job import expand_objects
from dativo_workers.executor import execute, ingest_all
from dativo_workers.iceberg import committed_state, state_prefix
from dativo_workers.ingest import ingest_partition
from dativo_workers.maintenance import (
    MaintainTarget,
    compact,
    create_compaction_run,
    expire_snapshots,
    plan_compaction,
    referenced_paths,
)
from dativo_workers.pipeline import commit_run, plan_run
from dativo_workers.producer import wait
from dativo_workers.storage import catalog_properties

from ..conftest import Workspace
from .fleet import Fleet

pytestmark = pytest.mark.integration

DAY = 86400


def _csv(ws: Workspace, name: str, first_id: int, rows: int, pad: int = 0) -> None:
    lines = ["id,v,updated_at"]
    for i in range(first_id, first_id + rows):
        v = base64.b64encode(os.urandom(pad)).decode() if pad else f"v{i}"  # random text: a big file
        lines.append(f"{i},{v},2024-01-01T00:00:{i % 60:02d}+00:00")
    ws.write(f"data/{name}.csv", "\n".join(lines) + "\n")


def _job(ws: Workspace, name: str = "events", extra: str = "", files: str = "data/*.csv") -> Path:
    return ws.job(
        f"{name}.yaml",
        f"""
        tenant_id: acme
        name: {name}
        source: {{connector: csv, files: [{{path: "{files}"}}]}}
        target:
          namespace: acme
          table: events
          file_size_mb: 1
        {extra}
        governance_overrides: {{pii_detection: false}}
        """,
    )


def _rows(ws: Workspace) -> list[tuple[Any, ...]]:
    data = ws.read("acme.events").select(["id", "v", "updated_at"]).to_pylist()
    return sorted((r["id"], r["v"], r["updated_at"]) for r in data)


def _files(ws: Workspace) -> dict[str, int]:
    files = ws.table("acme.events").inspect.files()
    return dict(zip(files.column("file_path").to_pylist(), files.column("file_size_in_bytes").to_pylist(), strict=True))


def _target(ws: Workspace) -> MaintainTarget:
    runner = load_runner(ws.runner_file)
    storage = catalog_properties(runner.catalog("default"), "acme")
    from dativo_workers.iceberg import open_catalog

    return MaintainTarget("default", open_catalog("default", storage), ("acme", "events"), "acme", storage, 1)


def _age(path: Path | str, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_compaction_rewrites_small_files_into_one_snapshot_with_the_same_rows(workspace: Workspace) -> None:
    ws = workspace
    for n in range(12):
        _csv(ws, f"small-{n:02d}", n * 100, 100)
    _csv(ws, "big", 100_000, 15_000, pad=60)  # about 0.9 MB of Parquet: above 75% of file_size_mb
    job = _job(ws)
    assert ws.run(job)["state"] == "committed"
    before, files_before = _rows(ws), _files(ws)
    big = [path for path, size in files_before.items() if size >= 0.75 * 1024 * 1024]
    assert len(files_before) == 13 and len(big) == 1
    snapshots_before = len(ws.table("acme.events").snapshots())

    result = ws.cli("maintain", str(job), "--compact", "--workers", "1", "--json")
    assert result.code == 0, result.stderr
    report = result.json["compaction"]
    assert report["state"] == "committed"
    assert (report["files_before"], report["files_compacted"], report["files_skipped"]) == (13, 12, 1)
    assert report["files_written"] == 1 and report["files_after"] == 2 and report["rows"] == 1200

    table = ws.table("acme.events")
    assert _rows(ws) == before  # exactly the same rows
    after = _files(ws)
    assert len(after) == 2 and big[0] in after  # the big file is untouched
    assert len(table.snapshots()) == snapshots_before + 1  # ONE new snapshot
    snapshot = table.current_snapshot()
    assert snapshot is not None and snapshot.summary is not None
    assert snapshot.summary.get("dativo.run-id") == report["run_id"]
    assert snapshot.summary.get("dativo.operation") == "compact"
    assert table.refs()[f"run-{report['run_id']}"].snapshot_id == snapshot.snapshot_id
    assert table.refs()[f"run-{report['run_id']}"].max_ref_age_ms == 30 * DAY * 1000
    run = ws.ledger().run(report["run_id"])
    assert run is not None and run["state"] == "committed" and run["table_ident"] == "acme.events"

    again = ws.cli("maintain", "acme.events", "--compact", "--file-size-mb", "1", "--json")  # nothing left
    assert again.code == 0, again.stderr
    assert again.json["compaction"]["files_compacted"] == 0 and again.json["compaction"]["run_id"] is None
    assert len(ws.table("acme.events").snapshots()) == snapshots_before + 1


def test_compaction_keeps_concurrent_appends_and_fails_cleanly_when_its_files_are_replaced(
    workspace: Workspace,
) -> None:
    ws = workspace
    runner = load_runner(ws.runner_file)
    ledger = ws.ledger()
    for n in range(4):
        _csv(ws, f"a-{n}", n * 10, 10)
    job = _job(ws, files="data/a-*.csv")
    ws.run(job)
    target = _target(ws)

    def planned() -> str:
        table = target.table()
        run_id = create_compaction_run(target, table, plan_compaction(table, 1024 * 1024), ledger)
        ingest_all(ledger, runner, run_id, [0], 1, None)  # written, not committed yet
        return run_id

    run_id = planned()
    _csv(ws, "late", 1000, 5)
    ws.run(_job(ws, "late", files="data/late.csv"))  # an append lands between planning and commit
    assert commit_run(run_id, runner, ledger)["state"] == "committed"
    assert [r[0] for r in _rows(ws)] == [*range(40), *range(1000, 1005)]  # the appended rows stay
    assert len(_files(ws)) == 2

    run_id = planned()  # the compacted file and the late one
    refresh = expand_objects(load_job(_job(ws, "late", files="data/late.csv")), None, full_refresh=True)[0]
    assert execute(refresh, runner, 1)["state"] == "committed"  # replaces every file of the table
    summary = commit_run(run_id, runner, ledger)
    assert summary["state"] == "failed" and "no longer in the table" in summary["error"]
    assert [r[0] for r in _rows(ws)] == list(range(1000, 1005))  # nothing of the compaction committed


def test_expiry_keeps_current_fresh_tags_and_every_jobs_state(workspace: Workspace) -> None:
    ws = workspace
    job_a, job_b = _job(ws, "a", files="data/a-*.csv"), _job(ws, "b", files="data/b.csv")
    _csv(ws, "a-0", 0, 10)
    _csv(ws, "b", 500, 3)
    ids = [ws.run(job_a)["snapshot_id"], ws.run(job_a)["snapshot_id"]]
    state = {"items.id": "29"}  # job a's cursor, recorded like `dativo state reset --to 29`
    ids.append(commit_state(ws.catalog(), ("acme", "events"), "acme", "a", state, "reset-1"))
    ids.append(ws.run(job_b)["snapshot_id"])  # job b writes last: a's state is no longer on the current one
    time.sleep(0.05)
    split_ms = int(time.time() * 1000)
    time.sleep(0.05)
    ids.append(ws.run(job_b)["snapshot_id"])
    table = ws.table("acme.events")
    assert committed_state(table, "acme", "a") == state
    table.manage_snapshots().create_tag(ids[0], "keep-me", max_ref_age_ms=365 * DAY * 1000).commit()
    rows = _rows(ws)

    target = _target(ws)
    now_ms = int(time.time() * 1000) + 31 * DAY * 1000  # every run tag (30 days) has aged
    report = expire_snapshots(target, now_ms - split_ms, now_ms=now_ms)
    table = ws.table("acme.events")
    assert report["tags_removed"] == sorted(f"run-{r}" for r in _run_ids(ws))
    assert set(table.refs()) == {"main", "keep-me"}
    assert {s.snapshot_id for s in table.snapshots()} == {ids[0], ids[2], ids[3], ids[4]}
    assert report["snapshots_expired"] == 1 and report["kept_for_state"] == 2  # a's state and the way to it
    assert committed_state(table, "acme", "a") == state
    assert _rows(ws) == rows

    compacted = compact(target, load_runner(ws.runner_file), ws.ledger())
    assert compacted["state"] == "committed"
    table = ws.table("acme.events")
    current = table.current_snapshot()
    assert current is not None and current.summary is not None
    assert {k: v for k, v in current.summary.additional_properties.items() if k.startswith("dativo.state.")} == {
        state_prefix("acme", "a") + k: v for k, v in state.items()
    }  # the compaction carries every job's state
    report = expire_snapshots(target, 0, now_ms=int(time.time() * 1000) + 1)
    table = ws.table("acme.events")
    assert {s.snapshot_id for s in table.snapshots()} == {ids[0], current.snapshot_id}
    assert committed_state(table, "acme", "a") == state
    assert _rows(ws) == rows


def _run_ids(ws: Workspace) -> list[str]:
    return [r["run_id"] for r in ws.ledger().list_runs() if r["state"] == "committed"]


def test_orphan_removal_keeps_referenced_files_and_a_run_in_flight(workspace: Workspace) -> None:
    ws = workspace
    runner = load_runner(ws.runner_file)
    ledger = ws.ledger()
    for n in range(3):
        _csv(ws, f"a-{n}", n * 10, 10)
    job = _job(ws, files="data/a-*.csv")
    ws.run(job)
    ws.run(job)
    table = ws.table("acme.events")
    location = Path(table.location().removeprefix("file://"))
    listing = location / "metadata" / "loaded-objects.parquet"  # a file only a snapshot summary names
    relative = location / "metadata" / "loaded-objects-2.parquet"  # named relative to the location
    listing.write_bytes(b"listing")
    relative.write_bytes(b"listing")
    state = {"files.listing": str(listing), "more.listing": "metadata/loaded-objects-2.parquet"}
    commit_state(ws.catalog(), ("acme", "events"), "acme", "events", state, "r1")

    _csv(ws, "a-3", 30, 10)
    in_flight = plan_run(load_job(job), runner, ledger)  # fragments written, not committed
    for p in in_flight.partitions:
        assert ingest_partition(in_flight.run_id, p.index, runner, ledger)["status"] == "done"
    fragments = [Path(f.path.removeprefix("file://")) for f in ledger.winning_fragments(in_flight.run_id)]
    assert fragments and all(f.exists() for f in fragments)

    old_orphan = location / "data" / "lost-run" / "p00000-a01-00000.parquet"
    fresh_orphan = location / "data" / "lost-run" / "p00001-a01-00000.parquet"
    for orphan in (old_orphan, fresh_orphan):
        orphan.parent.mkdir(parents=True, exist_ok=True)
        orphan.write_bytes(b"x" * 100)
    for path in location.rglob("*"):  # everything looks old: only references and the ledger keep files
        if path.is_file() and path != fresh_orphan:
            _age(path, 5 * DAY)
    referenced = referenced_paths(ws.table("acme.events"))
    assert str(listing) in referenced

    dry = ws.cli("maintain", str(job), "--remove-orphans", "--dry-run", "--json")
    assert dry.code == 0, dry.stderr
    assert dry.json["orphans"]["removed"] == [old_orphan.as_uri()] and old_orphan.exists()

    result = ws.cli("maintain", str(job), "--remove-orphans", "--json")
    assert result.code == 0, result.stderr
    orphans = result.json["orphans"]
    assert orphans["removed"] == [old_orphan.as_uri()] and orphans["orphan_bytes"] == 100
    assert orphans["unfinished_runs"] == [in_flight.run_id]
    assert not old_orphan.exists() and fresh_orphan.exists() and listing.exists() and relative.exists()
    assert all(Path(p).exists() for p in referenced)
    assert all(f.exists() for f in fragments)

    rows = len(ws.read("acme.events"))
    assert commit_run(in_flight.run_id, runner, ledger)["state"] == "committed"  # its fragments survived
    assert len(ws.read("acme.events")) == rows + 40


def test_compact_expire_and_remove_orphans_in_one_pass(workspace: Workspace) -> None:
    ws = workspace
    for n in range(6):
        _csv(ws, f"s-{n}", n * 10, 10)
    job = _job(ws, extra="  run_tag_max_age: 1s")
    ws.run(job)
    ws.run(job)  # the same files again: 12 small files, two run snapshots
    rows = _rows(ws)
    small = set(_files(ws))
    time.sleep(1.1)  # the run tags age

    result = ws.cli(
        "maintain",
        str(job),
        "--compact",
        "--expire-older-than",
        "1s",
        "--remove-orphans",
        "--orphan-age",
        "1s",
        "--json",
    )
    assert result.code == 0, result.stderr
    report = result.json
    assert report["compaction"]["files_compacted"] == 12 and report["compaction"]["files_after"] == 1
    assert report["expiry"]["snapshots_expired"] == 2 and len(report["expiry"]["tags_removed"]) == 2
    assert report["orphans"]["orphans_removed"] >= 12  # the replaced files, and the expired snapshots' manifests
    assert not any(Path(p.removeprefix("file://")).exists() for p in small)
    table = ws.table("acme.events")
    assert len(table.snapshots()) == 1
    assert _rows(ws) == rows  # fully readable, the same rows


def test_maintain_refuses_bad_ages_and_unknown_tables(workspace: Workspace) -> None:
    ws = workspace
    _csv(ws, "a-0", 0, 5)
    job = _job(ws, files="data/a-0.csv")
    ws.run(job)
    bad = ws.cli("maintain", str(job), "--expire-older-than", "7")
    assert bad.code == 2 and "--expire-older-than" in bad.stderr and "7" in bad.stderr
    missing = ws.cli("maintain", "acme.nope", "--remove-orphans")
    assert missing.code == 2 and "acme.nope does not exist" in missing.stderr


def test_compaction_submitted_to_the_fleet(workspace: Workspace, fleet: Fleet) -> None:
    ws = workspace
    for n in range(6):
        _csv(ws, f"s-{n}", n * 10, 10)
    job = _job(ws)
    ws.run(job)
    rows = _rows(ws)
    fleet.start_worker()
    result = ws.cli("maintain", str(job), "--compact", "--submit", "--json")
    assert result.code == 0, result.stderr
    report = result.json["compaction"]
    assert report["state"] in ("pending", "running") and report["files_compacted"] == 6
    summary = wait(report["run_id"], ws.ledger(), timeout_s=60)
    assert summary["state"] == "committed", summary["error"]
    assert _rows(ws) == rows and len(_files(ws)) == 1


def test_compaction_commit_retries_after_losing_a_race_to_an_append(workspace: Workspace) -> None:
    ws = workspace
    race = ws.root / "race"
    ws.write(
        "runner.yaml",
        f"""
        runner:
          ledger_url: sqlite:///{ws.root}/state/dativo.db
          catalogs:
            default:
              py-catalog-impl: tests.integration.racing_catalog.RacingCatalog
              race-file: {race}
              uri: sqlite:///{ws.root}/state/catalog.db
              warehouse: {ws.root}/state/warehouse
        """,
    )
    for n in range(5):
        _csv(ws, f"s-{n}", n * 10, 10)
    ws.run(_job(ws))
    rows = _rows(ws)
    late = ws.read("acme.events").slice(0, 3)
    late = late.set_column(0, "id", pa.array([900, 901, 902], late.schema.field("id").type))
    pq.write_table(late, ws.root / "late.parquet")
    race.write_text(str(ws.root / "late.parquet"))  # the compaction's first commit attempt loses to this append

    report = compact(_target(ws), load_runner(ws.runner_file), ws.ledger(), workers=1)
    assert report["state"] == "committed" and not race.exists()
    assert [r[0] for r in _rows(ws)] == [r[0] for r in rows] + [900, 901, 902]  # nothing dropped
    table = ws.table("acme.events")
    current = table.current_snapshot()
    assert current is not None and current.parent_snapshot_id is not None
    parent = table.snapshot_by_id(current.parent_snapshot_id)
    assert (
        parent is not None
        and parent.summary is not None
        and "dativo.run-id" not in parent.summary.additional_properties
    )
    assert len(_files(ws)) == 2  # the compacted file and the appended one


def test_compaction_of_a_partitioned_table_keeps_each_file_in_its_partition(workspace: Workspace) -> None:
    ws = workspace
    for n in range(6):  # each file holds rows of two days
        lines = ["id,v,updated_at"] + [f"{n * 10 + i},v,2024-01-0{1 + i % 2}T12:00:00+00:00" for i in range(10)]
        ws.write(f"data/d-{n}.csv", "\n".join(lines) + "\n")
    job = _job(ws, extra="  partition_by: [{field: updated_at, transform: day}]")
    ws.run(job)
    rows = _rows(ws)
    assert len(_files(ws)) == 12
    report = compact(_target(ws), load_runner(ws.runner_file), ws.ledger(), workers=1)
    assert report["state"] == "committed" and report["groups"] == 2 and report["files_after"] == 2
    assert _rows(ws) == rows
    days = ws.table("acme.events").inspect.files().column("partition").to_pylist()
    assert sorted(d["updated_at_day"] for d in days) == [dt.date(2024, 1, 1), dt.date(2024, 1, 2)]
    one_day = ws.table("acme.events").scan(row_filter="updated_at >= '2024-01-02T00:00:00+00:00'").plan_files()
    assert len(list(one_day)) == 1  # partition pruning still works on the rewritten files
