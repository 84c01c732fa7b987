"""Plugin API: zero-copy hand-over of Arrow data, target keys, plugin error reporting, writer sinks
and the publishing of a writer target's files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from dativo_workers.config import load_job
from dativo_workers.config.job import LoadedJob
from dativo_workers.conform import Conformer, to_record_batches
from dativo_workers.errors import CommitError, ConfigError, PluginError
from dativo_workers.fragments import staging_dir
from dativo_workers.ledger import Fragment
from dativo_workers.plugins import DataWriter, PluginSettings, WriterContext
from dativo_workers.plugins.manager import plugin_call, plugin_iter
from dativo_workers.retry import is_transient
from dativo_workers.writers import WriterSink, publish_run

ROWS = 8_000_000  # 64 MB per int64 column: a copy would show


def _with_field_ids(schema: pa.Schema) -> pa.Schema:
    """The engine's table schema: same types, Iceberg field ids in the field metadata."""
    return pa.schema([f.with_metadata({"PARQUET:field_id": str(i + 1)}) for i, f in enumerate(schema)])


def _address(batch: pa.RecordBatch, column: int = 0) -> int:
    return batch.column(column).buffers()[1].address


class StreamOnly:
    """Only the Arrow PyCapsule stream protocol, as a native library's result object exposes it."""

    def __init__(self, data: pa.Table) -> None:
        self.data = data

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self.data.__arrow_c_stream__(requested_schema)


class ArrayOnly:
    """Only the Arrow PyCapsule array protocol (one record batch as a struct array)."""

    def __init__(self, batch: pa.RecordBatch) -> None:
        self.batch = batch

    def __arrow_c_array__(self, requested_schema: Any = None) -> Any:
        return self.batch.__arrow_c_array__(requested_schema)


def test_pycapsule_stream_keeps_the_producers_buffers_through_conforming() -> None:
    table = pa.table({"id": pa.array(range(ROWS), pa.int64()), "v": pa.array(range(ROWS), pa.int64())})
    original = table.column("id").chunk(0).buffers()[1].address
    before = pa.total_allocated_bytes()
    [batch] = to_record_batches(StreamOnly(table))
    conformed = Conformer(_with_field_ids(table.schema), str).conform(batch).good
    assert _address(batch) == _address(conformed) == original
    assert pa.total_allocated_bytes() - before < 1_000_000


def test_pycapsule_array_keeps_the_producers_buffers() -> None:
    batch = pa.record_batch({"id": pa.array(range(ROWS), pa.int64())})
    [imported] = to_record_batches(ArrayOnly(batch))
    assert not isinstance(ArrayOnly(batch), pa.RecordBatch)
    assert _address(imported) == _address(batch) and imported.num_rows == ROWS


def test_duckdb_result_reaches_the_engine_without_a_copy() -> None:
    """DuckDB owns the memory of the batches it exports; pyarrow's pool would grow by the data
    size if the engine copied them anywhere between the reader and the fragment writer."""
    connection = duckdb.connect()
    relation = connection.sql(f"SELECT range AS id, range * 2 AS twice FROM range({ROWS})")
    assert not isinstance(relation, pa.Table | pa.RecordBatch) and hasattr(relation, "__arrow_c_stream__")
    before = pa.total_allocated_bytes()
    batches = list(to_record_batches(relation))
    conformer = Conformer(_with_field_ids(batches[0].schema), str)
    conformed = [conformer.conform(b).good for b in batches]
    assert sum(b.nbytes for b in conformed) >= ROWS * 16
    assert pa.total_allocated_bytes() - before < 1_000_000, "the batches were copied into Arrow's pool"
    assert [_address(b) for b in conformed] == [_address(b) for b in batches]
    assert sum(b.num_rows for b in conformed) == ROWS
    connection.close()


# --- target keys -----------------------------------------------------------------------------


def _job(tmp_path: Path, target: str) -> LoadedJob:
    path = tmp_path / "job.yaml"
    path.write_text(f"tenant_id: acme\nsource: {{connector: csv, files: [{{path: a.csv}}]}}\ntarget:\n{target}")
    return load_job(path)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("  connector: parquet\n", "job.yaml:3: target.path: required key is missing"),
        ("  connector: parquet\n  path: out\n  table: t\n", "job.yaml:6: target.table: only for iceberg targets"),
        ("  connector: parquet\n  path: out\n  mode: overwrite\n", "target.mode: writer targets only append"),
        ("  namespace: a\n  table: b\n  path: out\n", "job.yaml:6: target.path: only for writer targets"),
        ("  namespace: a\n  table: b\n  format_options: {x: 1}\n", "target.format_options: set `format`"),
        ("  namespace: a\n", "job.yaml:3: target.table: required key is missing"),
        (
            "  connector: parquet\n  writer: {plugin_path: a.B}\n  path: out\n",
            "target.writer: set either `connector` (a writer name) or `writer` (a plugin), not both",
        ),
    ],
)
def test_target_keys_belong_to_their_kind_of_target(tmp_path: Path, target: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        _job(tmp_path, target)
    assert expected in str(raised.value)


def test_writer_targets_need_no_namespace_or_table(tmp_path: Path) -> None:
    target = _job(tmp_path, "  connector: parquet\n  path: out\n  options: {compression: snappy}\n").config.target
    assert not target.is_iceberg and (target.namespace, target.table, target.path) == (None, None, "out")
    plugin = _job(tmp_path, "  writer: {plugin_path: w.Writer, config: {a: 1}}\n  path: s3://b/x\n").config.target
    assert not plugin.is_iceberg and plugin.writer is not None and plugin.writer.config == {"a": 1}
    iceberg = _job(tmp_path, "  namespace: a\n  table: b\n  format: markdown_kv\n").config.target
    assert iceberg.is_iceberg and iceberg.format == "markdown_kv"


# --- plugin errors -----------------------------------------------------------------------------


def test_plugin_errors_name_the_plugin_and_keep_their_retry_class() -> None:
    def reset() -> None:
        raise ConnectionResetError(104, "Connection reset by peer")

    with pytest.raises(PluginError) as raised:
        plugin_call("api", reset)
    assert str(raised.value) == "plugin api: ConnectionResetError: [Errno 104] Connection reset by peer"
    assert is_transient(raised.value), "a connection reset inside a plugin is retried like anywhere else"

    def batches() -> Any:
        yield [{"a": 1}]
        raise ValueError("page 2 is not JSON")

    items = plugin_iter("api", batches())
    assert next(items) == [{"a": 1}]
    with pytest.raises(PluginError, match=r"^plugin api: ValueError: page 2 is not JSON$") as raised:
        next(items)
    assert not is_transient(raised.value)


# --- writer sinks --------------------------------------------------------------------------------


class ListedWriter(DataWriter):
    """Writes one file and reports whatever `report` says."""

    name = "listed"
    report: Any = None

    def __init__(self, config: PluginSettings, context: WriterContext) -> None:
        super().__init__(config, context)
        self.path = context.output_dir / f"{context.file_prefix}.txt"

    def write(self, batch: pa.RecordBatch) -> None:
        self.path.write_text(str(batch.num_rows))

    def close(self) -> list[dict[str, Any]]:
        return self.report if self.report is not None else [{"path": self.path.name, "rows": 3, "bytes": 1}]


def _sink(tmp_path: Path, report: Any = None) -> WriterSink:
    ListedWriter.report = report
    job = _job(tmp_path, "  connector: parquet\n  path: out\n")
    return WriterSink(
        ListedWriter,
        PluginSettings(),
        job,
        staging=str(tmp_path / "out" / staging_dir("r1")),
        storage={},
        prefix="r1-p00000-a01",
        schema=_with_field_ids(pa.schema([("id", pa.int64())])),
    )


def test_writer_sink_records_the_files_in_the_staging_area(tmp_path: Path) -> None:
    sink = _sink(tmp_path)
    assert sink.writer.context.schema == pa.schema([("id", pa.int64())]), "plugins see no Iceberg field ids"
    sink.write(pa.record_batch({"id": [1, 2, 3]}))
    [fragment] = sink.close()
    staged = tmp_path / "out/_dativo_staging/r1/r1-p00000-a01.txt"
    assert fragment == Fragment("data", str(staged), 3, staged.stat().st_size)


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        (
            [{"path": "/etc/hostname", "rows": 1}],
            "plugin listed: ValueError: wrote /etc/hostname outside its output_dir",
        ),
        ([{"path": "other.txt", "rows": 1}], "file other.txt does not start with the attempt's file_prefix"),
        ([{"path": "r1-p00000-a01-gone.txt", "rows": 1}], "reported .*r1-p00000-a01-gone.txt, which does not exist"),
        ([{"rows": 1}], "close\\(\\) must return dicts with path, rows \\(an int\\), bytes"),
        ([{"path": "r1-p00000-a01.txt", "rows": "3"}], "rows \\(an int\\)"),
        ({"path": "x"}, "close\\(\\) must return a list of files, got dict"),
    ],
)
def test_writer_sink_rejects_what_the_commit_could_not_keep_apart(tmp_path: Path, report: Any, expected: str) -> None:
    sink = _sink(tmp_path, report)
    sink.write(pa.record_batch({"id": [1]}))
    with pytest.raises(PluginError, match=expected):
        sink.close()


def test_writer_sink_abort_deletes_only_its_attempts_files(tmp_path: Path) -> None:
    staging = tmp_path / "out/_dativo_staging/r1"
    staging.mkdir(parents=True)
    (staging / "r1-p00001-a01.txt").write_text("another partition")
    sink = _sink(tmp_path)
    sink.write(pa.record_batch({"id": [1]}))
    sink.abort()
    assert sorted(p.name for p in staging.iterdir()) == ["r1-p00001-a01.txt"]


# --- publishing ---------------------------------------------------------------------------------


def _staged(out: Path, *names: str) -> list[Fragment]:
    staging = out / staging_dir("r1")
    staging.mkdir(parents=True, exist_ok=True)
    fragments = []
    for name in names:
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        (staging / name).write_text(name)
        fragments.append(Fragment("data", str(staging / name), 1, len(name)))
    return fragments


def test_publish_moves_the_winners_drops_the_losers_and_is_idempotent(tmp_path: Path) -> None:
    out = tmp_path / "out"
    winners = _staged(out, "r1-p00000-a02.txt", "day=1/r1-p00001-a01.txt")
    _staged(out, "r1-p00000-a01.txt")  # a losing attempt
    publish_run(str(out), "r1", winners, {})
    published = sorted(str(p.relative_to(out)) for p in out.rglob("*.txt"))
    assert published == ["day=1/r1-p00001-a01.txt", "r1-p00000-a02.txt"]
    assert not (out / staging_dir("r1")).exists()
    publish_run(str(out), "r1", winners, {})  # a commit re-run after a crash: nothing changes
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.txt")) == published


def test_publish_with_a_missing_winner_publishes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    winners = _staged(out, "r1-p00000-a01.txt", "r1-p00001-a01.txt")
    Path(winners[1].path).unlink()
    with pytest.raises(CommitError, match=r"r1-p00001-a01\.txt is missing; nothing was published"):
        publish_run(str(out), "r1", winners, {})
    assert [p.name for p in out.glob("*.txt")] == []
    assert (out / staging_dir("r1") / "r1-p00000-a01.txt").exists(), "the moved file went back to staging"
