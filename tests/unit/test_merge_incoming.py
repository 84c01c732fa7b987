"""The merge's incoming-row reduction: bucketed and spilled (bounded memory) it gives exactly what
one in-memory sort gives, and both match a plain Python reference."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dativo_workers import merge
from dativo_workers.errors import CommitError
from dativo_workers.merge import MergeSpec

_reduce = merge._reduce


def _fragments(tmp_path: Path, tables: list[pa.Table]) -> list[tuple[str, int]]:
    out = []
    for i, table in enumerate(tables):
        path = tmp_path / f"f{i}.parquet"
        pq.write_table(table, path, row_group_size=700)  # several batches per fragment
        out.append((path.as_uri(), path.stat().st_size))
    return out


def _reference(tables: list[pa.Table], spec: MergeSpec) -> tuple[list[list[bool]], list[tuple[Any, ...]], int]:
    """Per key the newest by order (null oldest), ties: the last read; flagged winners deleted."""
    best: dict[tuple[Any, ...], tuple[tuple[int, Any], int, bool]] = {}
    for f, table in enumerate(tables):
        for r, row in enumerate(table.to_pylist()):
            key = tuple(row[k] for k in spec.key)
            order = row[spec.order_by] if spec.order_by else None
            rank = (0, 0) if order is None else (1, order)
            gone = spec.delete_column is not None and row[spec.delete_column] == spec.delete_value
            if key not in best or rank >= best[key][0]:  # rows come in read order: a tie goes to the later
                best[key] = (rank, f * 10**9 + r, gone)
    keep = [[False] * t.num_rows for t in tables]
    for _rank, where, gone in best.values():
        if not gone:
            keep[where // 10**9][where % 10**9] = True
    deleted = sum(1 for v in best.values() if v[2])
    return keep, sorted(best), deleted


def _run(fragments: list[tuple[str, int]], spec: MergeSpec) -> tuple[list[list[bool]], list[tuple[Any, ...]], int, int]:
    got = merge._read_incoming(fragments, spec, {})
    sizes = [pq.ParquetFile(Path(p.removeprefix("file://"))).metadata.num_rows for p, _ in fragments]
    keep = [[True] * n if m is None else m.to_pylist() for m, n in zip(got.keep, sizes, strict=True)]
    keys = [tuple(r[k] for k in spec.key) for r in got.keys.to_pylist()]
    return keep, keys, got.deleted_keys, got.superseded


@pytest.mark.parametrize("kind", ["int", "text", "composite"])
def test_bucketed_reduction_equals_in_memory_and_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    rnd = random.Random(kind)
    tables = []
    for _ in range(4):
        n = 3000
        ids = [rnd.randrange(2500) for _ in range(n)]
        columns: dict[str, Any] = {
            "id": pa.array(ids, pa.int64()) if kind != "text" else pa.array([f"k{i:05d}" for i in ids]),
            "at": pa.array([rnd.choice([None, *range(5)]) for _ in range(n)], pa.int32()),  # nulls and ties
            "gone": pa.array([rnd.random() < 0.1 for _ in range(n)]),
        }
        if kind == "composite":
            columns["region"] = pa.array([rnd.choice(["a", "b"]) for _ in range(n)])
        tables.append(pa.table(columns))
    key = ("id", "region") if kind == "composite" else ("id",)
    spec = MergeSpec(key=key, order_by="at", delete_column="gone", delete_value=True)
    fragments = _fragments(tmp_path, tables)

    in_memory = _run(fragments, spec)
    monkeypatch.setattr(merge, "BUCKET_ROWS", 1000)  # 12 buckets, spilled
    monkeypatch.setattr(merge, "SAMPLE_PER_BUCKET", 50)
    reduced = []
    monkeypatch.setattr(
        merge, "_reduce", lambda data, spec, keep=True: reduced.append(data.num_rows) or _reduce(data, spec, keep)
    )
    bucketed = _run(fragments, spec)
    assert bucketed == in_memory
    assert len(reduced) >= 8 and max(reduced) < 2500  # spilled in buckets, each reduced on its own

    keep, keys, deleted = _reference(tables, spec)
    assert in_memory[0] == keep and in_memory[1] == keys and in_memory[2] == deleted
    assert in_memory[3] == sum(t.num_rows for t in tables) - len(keys)


def test_bucketed_reduction_without_order_keeps_the_last_read_and_refuses_null_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(merge, "BUCKET_ROWS", 500)
    a = pa.table({"id": pa.array([3, 1, 2, 1] * 300, pa.int64()), "v": pa.array(range(1200), pa.int64())})
    b = pa.table({"id": pa.array([1, 9] * 300, pa.int64()), "v": pa.array(range(600), pa.int64())})
    spec = MergeSpec(key=("id",))
    keep, keys, deleted, superseded = _run(_fragments(tmp_path, [a, b]), spec)
    assert keys == [(1,), (2,), (3,), (9,)] and deleted == 0 and superseded == 1800 - 4
    assert [i for i, k in enumerate(keep[0]) if k] == [1196, 1198]  # ids 3 and 2: their last rows
    assert [i for i, k in enumerate(keep[1]) if k] == [598, 599]  # ids 1 and 9: the last read of all

    nulls = pa.table({"id": pa.array([1, None] * 400, pa.int64())})
    (tmp_path / "n").mkdir()
    with pytest.raises(CommitError, match=r"merge key column 'id' is null in 400 incoming row"):
        merge._read_incoming(_fragments(tmp_path / "n", [nulls]), spec, {})
