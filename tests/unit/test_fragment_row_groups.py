"""Fragments gather incoming batches into row groups of a target size (dativo_workers/fragments.py)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import LongType, NestedField, StringType

from dativo_workers.config.job import TargetConfig
from dativo_workers.fragments import ROW_GROUP_BYTES, ROW_GROUP_ROWS, FragmentWriter, RollingParquetWriter


def _table(rows: int) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "name": pa.array([f"customer-{i % 977}-{i * 7919 % 100_003}" for i in range(rows)]),
            "amount": pa.array([i * 0.37 for i in range(rows)], pa.float64()),
        }
    )


def _writer(tmp_path: Path, schema: pa.Schema, target_bytes: int, **kwargs: int) -> RollingParquetWriter:
    return RollingParquetWriter(
        pafs.LocalFileSystem(), lambda seq: str(tmp_path / f"f{seq:05d}.parquet"), schema, target_bytes, **kwargs
    )


def _groups(path: str) -> list[int]:
    meta = pq.ParquetFile(path).metadata
    return [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]


def test_defaults_are_sane() -> None:
    assert 8 * 1024 * 1024 <= ROW_GROUP_BYTES <= 128 * 1024 * 1024
    assert ROW_GROUP_ROWS >= 128 * 1024


def test_small_batches_make_row_groups_of_the_target_rows_and_close_flushes_the_tail(tmp_path: Path) -> None:
    table = _table(105_500)
    writer = _writer(tmp_path, table.schema, 1 << 30, row_group_rows=25_000)
    for batch in table.to_batches(max_chunksize=1_000):  # 106 batches, one row group each before
        writer.write(batch)
    assert writer.pending_rows == 5_500  # the tail waits for close
    (fragment,) = writer.close()
    assert _groups(fragment.path) == [25_000, 25_000, 25_000, 25_000, 5_500]
    assert pq.read_table(fragment.path).equals(table)  # same rows, same order
    assert fragment.rows == table.num_rows
    assert fragment.bytes == Path(fragment.path).stat().st_size


def test_row_groups_close_at_the_target_bytes(tmp_path: Path) -> None:
    table = _table(60_000)
    batches = table.to_batches(max_chunksize=500)
    target = 400_000
    writer = _writer(tmp_path, table.schema, 1 << 30, row_group_bytes=target)
    for batch in batches:
        writer.write(batch)
    (fragment,) = writer.close()
    groups = _groups(fragment.path)
    assert len(groups) > 3
    batch_bytes = max(b.nbytes for b in batches)
    start = 0
    for rows in groups[:-1]:
        nbytes = table.slice(start, rows).nbytes
        assert target <= nbytes < target + batch_bytes, (rows, nbytes)
        start += rows
    assert table.slice(start).nbytes < target + batch_bytes
    assert pq.read_table(fragment.path).equals(table)


def test_files_still_roll_at_the_file_size_with_pending_rows_counted(tmp_path: Path) -> None:
    table = _table(200_000)
    target = 300_000  # Parquet bytes per file; row groups (8 MiB of Arrow) never fill first
    writer = _writer(tmp_path, table.schema, target)
    for batch in table.to_batches(max_chunksize=2_000):
        writer.write(batch)
    fragments = writer.close()
    assert len(fragments) >= 4
    sizes = [Path(f.path).stat().st_size for f in fragments]
    assert [f.bytes for f in fragments] == sizes
    assert all(target <= s < 1.5 * target for s in sizes[:-1]), sizes
    assert sizes[-1] < 1.5 * target
    for fragment in fragments[1:]:  # once the Parquet/Arrow ratio is known: one row group per file
        assert len(_groups(fragment.path)) <= 2
    assert [f.rows for f in fragments] == [sum(_groups(f.path)) for f in fragments]
    assert pa.concat_tables(pq.read_table(f.path) for f in fragments).equals(table)


def test_abort_drops_pending_rows_and_files(tmp_path: Path) -> None:
    table = _table(10_000)
    writer = _writer(tmp_path, table.schema, 1 << 30, row_group_rows=4_000)
    for batch in table.to_batches(max_chunksize=1_000):
        writer.write(batch)
    writer.abort()
    assert writer.pending_rows == 0
    assert list(tmp_path.iterdir()) == []
    assert writer.close() == []


def test_pending_rows_across_partition_values_stay_within_one_budget(tmp_path: Path) -> None:
    rows = 40_000
    table = pa.table({"id": pa.array(range(rows), pa.int64()), "k": pa.array([f"v{i % 8}" for i in range(rows)])})
    iceberg = Schema(
        NestedField(1, "id", LongType(), required=False), NestedField(2, "k", StringType(), required=False)
    )
    spec = PartitionSpec(PartitionField(source_id=2, field_id=1000, transform=IdentityTransform(), name="k"))
    writer = FragmentWriter(
        location=str(tmp_path),
        storage={},
        run_id="r1",
        partition_index=0,
        attempt=0,
        schema=table.schema,
        table_schema=iceberg,
        spec=spec,
        target_bytes=1 << 30,
        row_group_bytes=100_000,  # target.row_group_mb
    )
    assert writer.pending_budget == 100_000
    largest = 0
    for batch in table.to_batches(max_chunksize=1_000):
        writer.write(batch)
        pending = sum(w.pending_bytes for w in writer.writers.values())
        assert pending <= writer.pending_budget
        largest = max(largest, pending)
    assert largest > writer.pending_budget // 2  # rows did wait for bigger row groups
    fragments = writer.close()
    assert len(fragments) == 8
    back = pa.concat_tables(pq.read_table(f.path.removeprefix("file://")) for f in fragments)
    assert sorted(back.column("id").to_pylist()) == list(range(rows))
    for fragment in fragments:
        part = pq.read_table(fragment.path.removeprefix("file://"))
        assert part.column("id").to_pylist() == sorted(part.column("id").to_pylist())  # order kept per value
        assert len(set(part.column("k").to_pylist())) == 1
        assert fragment.rows == part.num_rows


def test_row_group_mb_is_validated_like_file_size_mb() -> None:
    assert TargetConfig(namespace="n", table="t").row_group_mb == 8
    assert TargetConfig(namespace="n", table="t", row_group_mb=64).row_group_mb == 64
    for bad in (0, 4096, "big"):
        with pytest.raises(ValidationError, match="row_group_mb"):
            TargetConfig(namespace="n", table="t", row_group_mb=bad)
    with pytest.raises(ValidationError, match="row_group_mb"):  # an Iceberg target's key only
        TargetConfig(connector="parquet", path="/tmp/out", row_group_mb=16)
