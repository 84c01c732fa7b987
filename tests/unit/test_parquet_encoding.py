"""Fragment files dictionary-encode text and binary columns only (dativo_workers/fragments.py)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from dativo_workers.fragments import RollingParquetWriter, dictionary_columns


def test_text_columns_get_a_dictionary_numbers_do_not(tmp_path: Path) -> None:
    rows = 50_000
    table = pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "name": pa.array([f"customer-{i % 500}" for i in range(rows)]),
            "price": pa.array([i * 0.37 for i in range(rows)], pa.float64()),
            "tags": pa.array([[f"t{i % 7}"] for i in range(rows)], pa.list_(pa.string())),
            "address": pa.array([{"city": f"c{i % 9}", "zip": i} for i in range(rows)]),
            "blob": pa.array([bytes([i % 3]) for i in range(rows)], pa.binary()),
        }
    )
    assert dictionary_columns(table.schema) == ["name", "tags.list.element", "address.city", "blob"]
    writer = RollingParquetWriter(
        pafs.LocalFileSystem(), lambda seq: str(tmp_path / f"f{seq}.parquet"), table.schema, 1 << 30
    )
    for batch in table.to_batches(max_chunksize=10_000):
        writer.write(batch)
    (fragment,) = writer.close()
    meta = pq.ParquetFile(fragment.path).metadata.row_group(0)
    encoded = {
        meta.column(i).path_in_schema: "RLE_DICTIONARY" in meta.column(i).encodings for i in range(meta.num_columns)
    }
    assert encoded == {
        "id": False,
        "name": True,
        "price": False,
        "tags.list.element": True,
        "address.city": True,
        "address.zip": False,
        "blob": True,
    }
    assert pq.read_table(fragment.path).equals(table)


def test_an_explicit_choice_wins(tmp_path: Path) -> None:
    table = pa.table({"id": pa.array([1, 1, 2], pa.int64()), "name": ["a", "a", "b"]})
    writer = RollingParquetWriter(
        pafs.LocalFileSystem(),
        lambda seq: str(tmp_path / f"g{seq}.parquet"),
        table.schema,
        1 << 30,
        parquet_options={"compression": "zstd", "use_dictionary": False},
    )
    writer.write(table.to_batches()[0])
    (fragment,) = writer.close()
    meta = pq.ParquetFile(fragment.path).metadata.row_group(0)
    assert not any("RLE_DICTIONARY" in meta.column(i).encodings for i in range(meta.num_columns))
