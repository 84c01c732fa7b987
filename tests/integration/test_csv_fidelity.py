"""CSV values land exactly as Python's csv module reads them, however the file is cut: quoted
values holding line breaks across pyarrow's parse blocks and across partition boundaries,
under default options (issue #20.1)."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import pyarrow as pa
import pytest

from dativo_plugins.files import CsvReader
from dativo_plugins.files._common import next_line_start
from dativo_workers.plugins import Partition, SourceContext

from ..conftest import Workspace

RECORDS = 40_000
COLUMNS = ["id", "name", "amount", "note"]
MIB = 1024 * 1024


def _note(i: int, rng: random.Random) -> str:
    kind = i % 10
    if kind < 4:
        return f"first part {i}\nsecond,part"  # the shape of the report: two lines, a comma
    if kind == 4:
        return f'line one {i}\r\nline "two"\n\nafter a blank line, {"x" * rng.randint(0, 400)}'
    if kind == 5:
        return "\n".join(f"{i}-{k}" for k in range(rng.randint(1, 60)))  # long: spans a block edge often
    if kind == 6:
        return f'"quoted at the start" {i}\n'
    return f"plain {i}"


@pytest.fixture(scope="module")
def fidelity_csv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[list[str]], list[int]]:
    """The file, its records as csv.reader sees them, and the byte offset where each record starts."""
    rng = random.Random(20)
    names = ["Ann", 'Bo "the" Bear', "Smith, John", "Zoë 北京", "O'Brien"]
    path = tmp_path_factory.mktemp("fidelity") / "notes.csv"
    starts: list[int] = []
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(COLUMNS)
        offset = len(",".join(COLUMNS)) + 1
        for i in range(RECORDS):
            starts.append(offset)
            line = io.StringIO()
            row = [str(i), rng.choice(names), f"{rng.uniform(-1e4, 1e4):.3f}", _note(i, rng)]
            csv.writer(line, lineterminator="\n").writerow(row)
            writer.writerow(row)
            offset += len(line.getvalue().encode("utf-8"))
    with path.open(newline="", encoding="utf-8") as file:
        expected = list(csv.reader(file))[1:]
    assert len(expected) == RECORDS and path.stat().st_size == offset
    assert path.stat().st_size > 3 * MIB  # several of pyarrow's 1 MiB parse blocks
    return path, expected, starts


def _reader(path: Path, target: int) -> CsvReader:
    context = SourceContext(base_dir=path.parent, files=[{"path": path.name}], target_partition_bytes=target)
    return CsvReader(CsvReader.config_model(), context)  # default options


def _read_as_text(reader: CsvReader, partitions: list[Partition]) -> list[list[str]]:
    text = pa.schema([(name, pa.string()) for name in COLUMNS])
    return [
        [row[name] for name in COLUMNS]
        for p in partitions
        for batch in reader.read(p, text)
        for row in batch.to_pylist()
    ]


@pytest.mark.parametrize("target", [1024 * MIB, int(1.5 * MIB), 100 * 1024], ids=["whole", "3-ranges", "many-ranges"])
def test_default_options_read_every_value_like_the_csv_module(
    fidelity_csv: tuple[Path, list[list[str]], list[int]], target: int
) -> None:
    path, expected, starts = fidelity_csv
    reader = _reader(path, target)
    partitions = reader.plan()
    size = path.stat().st_size
    if target > size:
        assert len(partitions) == 1
    else:
        assert len(partitions) >= size // target - 1
        record_starts = set(starts)
        naive_cuts = 0
        with path.open("rb") as file:
            for p in partitions[1:]:
                assert p.spec["start"] in record_starts  # every cut is a record start
                nominal = partitions[p.index - 1].spec["start"] + target
                naive_cuts += next_line_start(file, nominal) not in record_starts
        assert naive_cuts  # a cut at the next raw line start would have split a quoted value

    assert _read_as_text(reader, partitions) == expected


def test_typed_reads_and_positions_across_quoted_line_breaks(
    fidelity_csv: tuple[Path, list[list[str]], list[int]],
) -> None:
    path, _, starts = fidelity_csv
    reader = _reader(path, int(1.5 * MIB))
    partitions = reader.plan()
    assert reader.schema().field("id").type == pa.int64()
    ids = [row["id"] for p in partitions for batch in reader.read(p, None) for row in batch.to_pylist()]
    assert ids == list(range(RECORDS))
    # a row's position is the line its record starts on, counting the lines inside quoted values
    data = path.read_bytes()
    seen = 0
    for p in partitions:
        count = sum(batch.num_rows for batch in reader.read(p, None))
        for row in (0, count // 2, count - 1):
            line = data.count(b"\n", 0, starts[seen + row]) + 1
            assert reader.describe_position(p, row) == f"{path}: line {line}"
        seen += count


def test_run_loads_multi_line_values_exactly(
    workspace: Workspace, fidelity_csv: tuple[Path, list[list[str]], list[int]]
) -> None:
    path, expected, _ = fidelity_csv
    workspace.write("data/notes.csv", "")
    (workspace.root / "data/notes.csv").write_bytes(path.read_bytes())
    workspace.write(
        "assets/notes.yaml",
        """
        apiVersion: v3.0.2
        kind: DataContract
        id: notes
        name: notes
        version: 1.0.0
        status: active
        schema:
          - name: notes
            properties:
              - {name: id, physicalType: bigint, required: true}
              - {name: name, logicalType: string}
              - {name: amount, logicalType: string}
              - {name: note, logicalType: string}
        """,
    )
    job = workspace.job(
        "notes.yaml",
        "tenant_id: acme\nname: notes\nasset_path: assets/notes.yaml\n"
        "source: {connector: csv, files: [{path: data/notes.csv}], partitioning: {target_mb: 1}}\n"
        "target: {namespace: acme, table: notes, mode: append}\n",
    )
    summary = workspace.run(job)
    assert summary["state"] == "committed", summary
    assert summary["partitions_total"] >= 3 and summary["bad_rows"] == 0
    assert summary["rows"] == RECORDS
    table = workspace.read("acme.notes", sort_by="id")
    got = [[str(r["id"]), r["name"], r["amount"], r["note"]] for r in table.to_pylist()]
    assert got == expected
