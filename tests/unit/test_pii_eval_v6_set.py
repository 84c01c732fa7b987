"""The sixth blind PII evaluation set (tests/data/pii_eval_v6) is consistent and reproducible.

Nothing here runs the detector: the set stays blind. The checks are on the files themselves:
labels.csv and the Parquet files agree, and make_set.py, with its fixed seed, regenerates the
committed tables value for value.
"""

from __future__ import annotations

import csv
import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pyarrow.parquet as pq
import pytest

SET = Path(__file__).resolve().parents[1] / "data" / "pii_eval_v6"
LABELS = {"PII", "SENSITIVE", "CREDENTIAL", "NONE"}
FIELDS = ["file", "source", "source_doc", "source_url", "table", "column", "arrow_type", "label", "reason"]


def _rows() -> list[dict[str, str]]:
    with open(SET / "labels.csv", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == FIELDS
        return list(reader)


def _make_set() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pii_eval_v6_make_set", SET / "make_set.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def test_labels_match_the_parquet_files() -> None:
    rows = _rows()
    assert len(rows) >= 400
    assert {r["label"] for r in rows} <= LABELS
    assert all(r["reason"] and r["source_url"] for r in rows)
    opaque = [r for r in rows if r["source"] == "opaque"]
    assert len(opaque) >= 80
    # a representative sample: SENSITIVE columns are as rare as in real application schemas
    counts = Counter(r["label"] for r in rows)
    assert counts["PII"] >= 150 and counts["NONE"] >= 300, counts
    assert counts["CREDENTIAL"] >= 40 and counts["SENSITIVE"] >= 15, counts

    by_file: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_file.setdefault(r["file"], []).append(r)
    on_disk = {p.name for p in (SET / "data").glob("*.parquet")}
    assert on_disk == set(by_file)
    for name, cols in by_file.items():
        table = pq.read_table(SET / "data" / name)
        assert table.column_names == [c["column"] for c in cols], name
        assert [str(f.type) for f in table.schema] == [c["arrow_type"] for c in cols], name
        assert 50 <= table.num_rows <= 200, name
    size = sum(p.stat().st_size for p in SET.rglob("*") if p.is_file())
    assert size < 3 * 1024 * 1024


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_make_set_regenerates_the_committed_tables(tmp_path: Path) -> None:
    sources = {"orangehrm", "nextcloud", "opaque"}
    made = _make_set().main(tmp_path, sources=sources)

    committed = [r for r in _rows() if r["source"] in sources]
    assert made == committed
    with open(tmp_path / "labels.subset.csv", newline="", encoding="utf-8") as fh:
        assert list(csv.DictReader(fh)) == committed
    for name in sorted({r["file"] for r in committed}):
        fresh = pq.read_table(tmp_path / "data" / name)
        assert fresh.equals(pq.read_table(SET / "data" / name)), name


def test_sources_are_not_those_of_sets_1_to_5() -> None:
    earlier: set[str] = set()
    for name in ("pii_eval", "pii_eval_v2", "pii_eval_v3", "pii_eval_v4", "pii_eval_v5"):
        with open(SET.parent / name / "labels.csv", newline="", encoding="utf-8") as fh:
            earlier |= {r["source"] for r in csv.DictReader(fh)}
    ours = {r["source"] for r in _rows()} - {"opaque"}
    assert len(ours) >= 20
    assert not ours & earlier, ours & earlier
