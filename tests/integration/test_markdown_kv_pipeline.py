"""Markdown-KV files into Iceberg through `dativo run`, read back with pyiceberg."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dativo_plugins.markdown_kv import format as mdkv
from dativo_plugins.markdown_kv.writer import MarkdownKvWriter, MarkdownKvWriterOptions
from dativo_workers.plugins import WriterContext

from ..conftest import Workspace

pytestmark = pytest.mark.integration

ASSET = """
apiVersion: v3.0.2
kind: DataContract
id: notes
name: notes
version: 1.0.0
status: active
schema:
  - name: notes
    properties:
      - {name: id, physicalType: bigint, required: true, primaryKey: true}
      - {name: title, logicalType: string}
      - {name: body, logicalType: string}
      - {name: amount, physicalType: "decimal(10,2)"}
      - {name: created, physicalType: timestamptz}
"""

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("title", pa.string()),
        ("body", pa.string()),
        ("amount", pa.decimal128(10, 2)),
        ("created", pa.timestamp("us", "UTC")),
    ]
)


def _rows(start: int, count: int) -> list[dict[str, object]]:
    return [
        {
            "id": i,
            "title": f"Note {i}: ünïcödé 🚀",
            "body": None if i % 5 == 0 else f"line one\nline two: {i}\n# not a heading",
            "amount": Decimal(i) / 4 if i % 3 else None,
            "created": dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=i),
        }
        for i in range(start, start + count)
    ]


def _write_md(directory: Path, name: str, rows: list[dict[str, object]]) -> None:
    writer = MarkdownKvWriter(MarkdownKvWriterOptions(), WriterContext(output_dir=directory, file_prefix=name))
    writer.write(pa.RecordBatch.from_pylist(rows, schema=SCHEMA))
    writer.close()


def test_md_files_load_into_iceberg_with_asset_types(workspace: Workspace) -> None:
    workspace.write("assets/notes.yaml", ASSET)
    _write_md(workspace.root / "docs", "a", _rows(1, 30))
    _write_md(workspace.root / "docs", "b", _rows(31, 20))
    job = workspace.job(
        "notes.yaml",
        """
        tenant_id: acme
        asset_path: assets/notes.yaml
        source: {connector: markdown_kv, files: [{path: "docs/*.md"}], options: {batch_size: 7}}
        target: {namespace: acme, table: notes}
        """,
    )
    result = workspace.cli("run", str(job), "--json", "-w", "2")
    assert result.code == 0, result.stderr
    summary = result.json
    assert summary["state"] == "committed" and summary["rows"] == 50 and summary["partitions_total"] == 2
    table = workspace.read("acme.notes", sort_by="id")
    assert table.to_pylist() == _rows(1, 50)


def test_md_files_load_as_row_per_kv_rows(workspace: Workspace) -> None:
    _write_md(workspace.root / "docs", "a", _rows(1, 3))
    job = workspace.job(
        "kv.yaml",
        """
        tenant_id: acme
        source: {connector: markdown_kv, files: [{path: "docs/*.md"}], options: {mode: row_per_kv}}
        target: {namespace: acme, table: notes_kv}
        """,
    )
    summary = workspace.run(job)
    assert summary["state"] == "committed" and summary["rows"] == 15
    table = workspace.read("acme.notes_kv").sort_by([("doc_id", "ascending"), ("position", "ascending")])
    assert table.column_names == ["doc_id", "section", "key", "value", "position"]
    first = [r for r in table.to_pylist() if r["doc_id"] == "1"]
    assert first == [
        {"doc_id": "1", "section": "", "key": "id", "value": "1", "position": 0},
        {"doc_id": "1", "section": "", "key": "title", "value": "Note 1: ünïcödé 🚀", "position": 1},
        {
            "doc_id": "1",
            "section": "",
            "key": "body",
            "value": "line one\nline two: 1\n# not a heading",
            "position": 2,
        },
        {"doc_id": "1", "section": "", "key": "amount", "value": "0.25", "position": 3},
        {"doc_id": "1", "section": "", "key": "created", "value": "2024-01-01T01:00:00.000000Z", "position": 4},
    ]


def test_malformed_md_fails_the_run_naming_file_and_line(workspace: Workspace) -> None:
    (workspace.root / "docs").mkdir()
    (workspace.root / "docs" / "bad.md").write_text("# 1\n\nid: 1\nnot a key value line\n", encoding="utf-8")
    job = workspace.job(
        "bad.yaml",
        """
        tenant_id: acme
        source: {connector: markdown_kv, files: [{path: "docs/*.md"}]}
        target: {namespace: acme, table: bad}
        """,
    )
    result = workspace.cli("run", str(job), "--json")
    assert result.code == 2
    assert "bad.md: line 4: expected 'key: value'" in result.stdout + result.stderr


def _parquet_source(ws: Workspace) -> list[dict[str, object]]:
    rows = _rows(1, 40)
    (ws.root / "data").mkdir()
    pq.write_table(pa.Table.from_pylist(rows[:25], schema=SCHEMA), ws.root / "data" / "a.parquet")
    pq.write_table(pa.Table.from_pylist(rows[25:], schema=SCHEMA), ws.root / "data" / "b.parquet")
    ws.write("assets/notes.yaml", ASSET)
    return rows


def test_md_files_as_a_target_and_back_into_iceberg(workspace: Workspace) -> None:
    rows = _parquet_source(workspace)
    out = workspace.job(
        "to_md.yaml",
        """
        tenant_id: acme
        asset_path: assets/notes.yaml
        source: {connector: parquet, files: [{path: "data/*.parquet"}]}
        target: {connector: markdown_kv, path: out/notes}
        """,
    )
    result = workspace.cli("run", str(out), "--json", "-w", "2")
    assert result.code == 0, result.stderr
    assert result.json["state"] == "committed" and result.json["rows"] == 40
    files = sorted((workspace.root / "out" / "notes").glob("*.md"))
    assert len(files) == 2  # one per partition, published out of the staging area
    assert not list((workspace.root / "out" / "notes").glob("_dativo_staging/**/*.md"))
    assert files[0].read_text(encoding="utf-8").startswith("# 1\n\nid: 1\ntitle: Note 1: ünïcödé 🚀\n")
    back = workspace.job(
        "from_md.yaml",
        """
        tenant_id: acme
        asset_path: assets/notes.yaml
        source: {connector: markdown_kv, files: [{path: "out/notes/*.md"}]}
        target: {namespace: acme, table: notes_again}
        """,
    )
    assert workspace.run(back)["rows"] == 40
    assert workspace.read("acme.notes_again", sort_by="id").to_pylist() == rows


@pytest.mark.parametrize("mode", ["string", "row_per_kv", "document_level"])
def test_iceberg_table_in_markdown_kv_format(workspace: Workspace, mode: str) -> None:
    rows = _parquet_source(workspace)
    job = workspace.job(
        f"{mode}.yaml",
        f"""
        tenant_id: acme
        asset_path: assets/notes.yaml
        source: {{connector: parquet, files: [{{path: "data/*.parquet"}}]}}
        target: {{namespace: acme, table: notes_{mode}, format: markdown_kv, format_options: {{mode: {mode}}}}}
        """,
    )
    summary = workspace.run(job, workers=2)
    assert summary["state"] == "committed", summary
    table = workspace.table(f"acme.notes_{mode}")
    assert table.schema().as_arrow().names == mdkv.MODE_SCHEMAS[mode].names
    keys = [("doc_id", "ascending"), ("position", "ascending")] if mode == "row_per_kv" else [("doc_id", "ascending")]
    got = table.scan().to_arrow().sort_by(keys)
    writer = MarkdownKvWriter(
        MarkdownKvWriterOptions(mode=mode), WriterContext(output_dir=workspace.root, file_prefix="")
    )
    expected = writer.to_table(pa.RecordBatch.from_pylist(rows, schema=SCHEMA)).sort_by(keys)
    assert got.to_pylist() == expected.to_pylist()
    assert got.num_rows == {"string": 40, "row_per_kv": 200, "document_level": 40}[mode]
