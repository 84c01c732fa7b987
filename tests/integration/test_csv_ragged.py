"""Ragged CSV records (more or fewer fields than the header) follow `bad_rows` like values that do
not convert, named by file and line (issue #18.2), through the CLI as a user runs it: a file cut
into several byte ranges, parsed in small blocks, with quoted values holding line breaks."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ..conftest import Workspace

pytestmark = pytest.mark.integration

BIG = 120_000  # records: about 3.8 MB, four partitions of 1 MiB, each parsed in blocks of 256 KiB
SMALL = 3_000  # one partition, parsed in blocks of 10 KiB

ASSET = """
apiVersion: v3.0.2
kind: DataContract
id: ragged
version: 1.0.0
status: active
schema:
  - name: ragged
    properties:
      - {name: id, physicalType: bigint, required: true}
      - {name: name, logicalType: string}
      - {name: qty, physicalType: bigint}
      - {name: note, logicalType: string}
"""


@dataclass
class Sample:
    path: Path
    block_size_mb: float
    ids: list[int] = field(default_factory=list)  # of the rows that load
    ragged: list[tuple[str, str, int]] = field(default_factory=list)  # (text, reason, line), in file order
    bad_value_line: int = 0  # the record whose qty is not a number


def _ragged(i: int, records: int) -> tuple[str, str] | None:
    """The ragged records and their reason, by record index; None for a regular record."""
    kinds = {
        1: (f"{i},r{i},1,x,extra", "expected 4 fields, found 5"),  # in the first parse block (schema sample)
        2: (f"{i},r{i}", "expected 4 fields, found 2"),
        records // 3: (f'{i},"two\nlines",1,x,y', "expected 4 fields, found 5"),  # after a quoted line break
        2 * records // 3 + 1: (f"{i},r{i},1,x,y,z", "expected 4 fields, found 6"),
        records - 1: (f"{i}", "expected 4 fields, found 1"),  # the last line, without a line break
    }
    return kinds.get(i)


def _write(path: Path, records: int, block_size_mb: float) -> Sample:
    sample = Sample(path, block_size_mb)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = 2  # the header is line 1
    with path.open("w", newline="", encoding="utf-8") as out:
        out.write("id,name,qty,note\n")
        for i in range(records):
            ragged = _ragged(i, records)
            if ragged is not None:
                text = ragged[0]
                sample.ragged.append((text, ragged[1], line))
            elif i == 3 * records // 4:
                text = f"{i},n{i},abc,plain"  # a value that does not convert, after ragged records
                sample.bad_value_line = line
            elif i % 997 == 0 or i == records // 3 - 1:
                text = f'{i},"q{i}\nsecond, part",{i % 100},"note\n""more"""'  # three lines, one record
                sample.ids.append(i)
            else:
                text = f"{i},n{i},{i % 100},plain text here"
                sample.ids.append(i)
            out.write(text if i == records - 1 else text + "\n")
            line += text.count("\n") + 1
    return sample


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    sample = _write(tmp_path_factory.mktemp("ragged") / "a.csv", BIG, 0.25)
    assert sample.path.stat().st_size > 3 * 1024 * 1024
    return sample


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    return _write(tmp_path_factory.mktemp("ragged") / "a.csv", SMALL, 0.01)


def _job(ws: Workspace, sample: Sample, bad_rows: str, *, asset: bool = True) -> tuple[Path, Sample]:
    """The job, and the sample as copied into the workspace."""
    path = ws.root / "data" / "a.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(sample.path.read_bytes())
    if asset:
        ws.write("assets/ragged.yaml", ASSET)
    job = ws.job(
        "job.yaml",
        "tenant_id: acme\nname: ragged\n"
        + ("asset_path: assets/ragged.yaml\n" if asset else "")
        + "source:\n  connector: csv\n  files: [{path: data/a.csv}]\n"
        f"  options: {{block_size_mb: {sample.block_size_mb}, sample_mb: {sample.block_size_mb}}}\n"
        "  partitioning: {target_mb: 1}\n"
        "target: {namespace: acme, table: ragged}\n" + bad_rows,
    )
    return job, replace(sample, path=path)


def test_quarantine_keeps_each_ragged_record_with_file_and_line(workspace: Workspace, big: Sample) -> None:
    job, sample = _job(workspace, big, "bad_rows: {action: quarantine, max: 10}\n")
    result = workspace.cli("run", str(job), "--json")
    assert result.code == 1, result.stderr  # committed, with bad rows
    summary = result.json
    assert summary["state"] == "committed" and summary["partitions_total"] >= 3
    assert summary["bad_rows"] == len(sample.ragged) + 1 and summary["rows"] == len(sample.ids)
    assert workspace.read("acme.ragged", sort_by="id").column("id").to_pylist() == sample.ids

    quarantined = [
        r for uri in summary["quarantine_files"] for r in pq.read_table(uri.removeprefix("file://")).to_pylist()
    ]
    where = str(sample.path)
    ragged = sorted(
        ((r["_dativo_raw"], r["_dativo_reason"], r["_dativo_position"]) for r in quarantined if r["_dativo_raw"]),
        key=lambda r: int(r[2].rsplit(" ", 1)[1]),
    )
    assert ragged == [(text, reason, f"{where}: line {line}") for text, reason, line in sample.ragged]
    assert all(r["id"] is None for r in quarantined if r["_dativo_raw"])  # the text, not guessed columns
    [bad_value] = [r for r in quarantined if not r["_dativo_raw"]]
    # rows are counted without the ragged records before it, lines with them
    assert bad_value["id"] == "90000" and bad_value["_dativo_position"] == f"{where}: line {sample.bad_value_line}"
    assert "column 'qty'" in bad_value["_dativo_reason"]


def test_skip_without_an_asset_infers_the_schema_past_ragged_records(workspace: Workspace, small: Sample) -> None:
    job, sample = _job(workspace, small, "bad_rows: {action: skip}\n", asset=False)
    result = workspace.cli("run", str(job), "--json")
    assert result.code == 1, result.stderr
    summary = result.json
    assert summary["bad_rows"] == len(sample.ragged) + 1 and summary["quarantine_files"] == []
    table = workspace.read("acme.ragged", sort_by="id")
    assert [str(f.type) for f in table.schema] == ["int64", "string", "int64", "string"]
    assert table.column("id").to_pylist() == sample.ids


def test_fail_names_the_first_ragged_record_and_commits_nothing(workspace: Workspace, small: Sample) -> None:
    job, sample = _job(workspace, small, "")  # bad_rows defaults to fail
    result = workspace.cli("run", str(job), "--json")
    assert result.code == 2, result.stderr
    text, reason, line = sample.ragged[0]
    assert f"{sample.path}: line {line}: {reason}" in result.json["error"]
    assert text not in result.json["error"]  # the record's values stay in the file, not in errors
    assert not workspace.catalog().table_exists("acme.ragged")


def test_fail_names_a_ragged_record_in_a_later_range(workspace: Workspace, big: Sample) -> None:
    job, sample = _job(workspace, big, "bad_rows: {action: fail}\n")
    data = sample.path.read_text(encoding="utf-8")
    data = data.replace("\n1,r1,1,x,extra\n", "\n1,r1,1,x\n").replace("\n2,r2\n", "\n")  # no ragged record up front
    sample.path.write_text(data, encoding="utf-8")
    result = workspace.cli("run", str(job))
    assert result.code == 2
    _, reason, line = sample.ragged[2]  # after a quoted line break, in the second range; a line gone above
    assert f"{sample.path}: line {line - 1}: {reason}" in " ".join(result.stdout.split() + result.stderr.split())


def test_more_ragged_records_than_max_fail_the_run(workspace: Workspace, small: Sample) -> None:
    job, _ = _job(workspace, small, "bad_rows: {action: quarantine, max: 2}\n")
    result = workspace.cli("run", str(job), "--json")
    assert result.code == 2
    assert result.json["state"] == "failed" and "bad_rows.max=2" in result.json["error"]
    assert not workspace.catalog().table_exists("acme.ragged")
