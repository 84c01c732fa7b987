"""`dativo maintain` on fleet storage: catalog and ledger on PostgreSQL, warehouse on S3 (moto), the
S3 credentials reaching the engine only as secret references."""

from __future__ import annotations

import time

import pytest

from dativo_workers.cli_maintain import _target
from dativo_workers.config import load_job
from dativo_workers.executor import execute
from dativo_workers.maintenance import maintain

from .test_fleet_storage import Fleet, _people, fleet, pg_url  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration


def test_compact_expire_and_remove_orphans_on_s3(fleet: Fleet) -> None:  # noqa: F811
    job, expected = _people(fleet, "people")
    job.write_text(job.read_text().replace("target: {", "target: {run_tag_max_age: 1s, "))
    runner = fleet.runner()
    for _ in range(2):
        assert execute(load_job(job), runner, workers=1)["state"] == "committed"
    before = set(fleet.s3.keys(fleet.bucket))
    time.sleep(1.1)  # the run tags and the first files age

    target = _target(str(job), runner, None, None, None)
    report = maintain(
        target,
        runner,
        compact_files=True,
        expire_older_than="1s",
        remove_orphan_files=True,
        orphan_age="1s",
        workers=1,
    )
    assert report["compaction"]["state"] == "committed", report
    assert report["compaction"]["files_compacted"] == 6 and report["compaction"]["files_after"] == 1
    assert report["expiry"]["snapshots_expired"] == 2
    removed = report["orphans"]["removed"]
    assert len(removed) == report["orphans"]["orphans_removed"] >= 6
    assert all(path.startswith(f"s3://{fleet.bucket}/wh/acme/people/") for path in removed)
    after = set(fleet.s3.keys(fleet.bucket))
    assert not {p.removeprefix(f"s3://{fleet.bucket}/") for p in removed} & after
    assert after - before  # the compacted file and the new metadata

    table = fleet.catalog().load_table(("acme", "people"))
    rows = table.scan().to_arrow().sort_by("id").to_pylist()
    assert rows == sorted(expected * 2, key=lambda r: r["id"])
    assert len(table.snapshots()) == 1
    assert fleet.s3.secret_key not in fleet.all_text()  # not in the ledger (the compaction's job) nor the catalog
