"""The blind PII evaluation sets 4 to 9 (tests/data/pii_eval_v4..v9) are consistent and reproducible.

Nothing here runs the detector: each set was blind until its one first score (its README). The
checks are on the files themselves: labels.csv and the Parquet files agree, make_set.py, with its
fixed seed, regenerates the committed tables value for value, and no set reuses an earlier set's
sources.
"""

from __future__ import annotations

import csv
import importlib.util
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pyarrow.parquet as pq
import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
LABELS = {"PII", "SENSITIVE", "CREDENTIAL", "NONE"}
FIELDS = ["file", "source", "source_doc", "source_url", "table", "column", "arrow_type", "label", "reason"]
ORDER = [
    "pii_eval",
    "pii_eval_v2",
    "pii_eval_v3",
    "pii_eval_v4",
    "pii_eval_v5",
    "pii_eval_v6",
    "pii_eval_v7",
    "pii_eval_v8",
    "pii_eval_v9",
]


@dataclass(frozen=True)
class BlindSet:
    name: str
    min_columns: int
    min_opaque: int
    min_per_label: dict[str, int]
    regenerated: frozenset[str]  # sources make_set.py rebuilds in the test (a second or so)
    min_sources: int = 0


SETS = [
    BlindSet("pii_eval_v4", 300, 80, dict.fromkeys(LABELS, 40), frozenset({"plaid", "hl7v2", "kubernetes"})),
    BlindSet(
        "pii_eval_v5",
        400,
        120,
        dict.fromkeys(LABELS, 40),
        frozenset({"radius", "airline_pnr", "revolut_business"}),
        min_sources=15,
    ),
    # a representative sample: SENSITIVE columns are as rare as in real application schemas
    BlindSet(
        "pii_eval_v6",
        400,
        80,
        {"PII": 150, "NONE": 300, "CREDENTIAL": 40, "SENSITIVE": 15},
        frozenset({"orangehrm", "nextcloud", "opaque"}),
        min_sources=20,
    ),
    # a second representative sample, from other application schemas
    BlindSet(
        "pii_eval_v7",
        450,
        60,
        {"PII": 180, "NONE": 450, "CREDENTIAL": 60, "SENSITIVE": 15},
        frozenset({"idempiere", "plausible", "opaque"}),
        min_sources=20,
    ),
    # a third representative sample, from yet other application schemas
    BlindSet(
        "pii_eval_v8",
        450,
        60,
        {"PII": 180, "NONE": 450, "CREDENTIAL": 60, "SENSITIVE": 15},
        frozenset({"invoiceplane", "evergreen", "opaque"}),
        min_sources=20,
    ),
    # a fourth representative sample, from yet other application schemas
    BlindSet(
        "pii_eval_v9",
        450,
        60,
        {"PII": 180, "NONE": 450, "CREDENTIAL": 50, "SENSITIVE": 12},
        frozenset({"tryton", "gibbon", "opaque"}),
        min_sources=20,
    ),
]


def _rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "labels.csv", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == FIELDS
        return list(reader)


def _make_set(folder: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"{folder.name}_make_set", folder / "make_set.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("blind", SETS, ids=lambda s: s.name)
def test_labels_match_the_parquet_files(blind: BlindSet) -> None:
    folder = DATA / blind.name
    rows = _rows(folder)
    assert len(rows) >= blind.min_columns
    assert {r["label"] for r in rows} <= LABELS
    assert all(r["reason"] and r["source_url"] for r in rows)
    assert len([r for r in rows if r["source"] == "opaque"]) >= blind.min_opaque
    counts = Counter(r["label"] for r in rows)
    assert all(counts[label] >= least for label, least in blind.min_per_label.items()), counts

    by_file: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_file.setdefault(r["file"], []).append(r)
    assert {p.name for p in (folder / "data").glob("*.parquet")} == set(by_file)
    for name, cols in by_file.items():
        table = pq.read_table(folder / "data" / name)
        assert table.column_names == [c["column"] for c in cols], name
        assert [str(f.type) for f in table.schema] == [c["arrow_type"] for c in cols], name
        assert 50 <= table.num_rows <= 200, name
    assert sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) < 3 * 1024 * 1024


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("blind", SETS, ids=lambda s: s.name)
def test_make_set_regenerates_the_committed_tables(blind: BlindSet, tmp_path: Path) -> None:
    folder = DATA / blind.name
    made = _make_set(folder).main(tmp_path, sources=set(blind.regenerated))

    committed = [r for r in _rows(folder) if r["source"] in blind.regenerated]
    assert made == committed
    with open(tmp_path / "labels.subset.csv", newline="", encoding="utf-8") as fh:
        assert list(csv.DictReader(fh)) == committed
    for name in sorted({r["file"] for r in committed}):
        assert pq.read_table(tmp_path / "data" / name).equals(pq.read_table(folder / "data" / name)), name


@pytest.mark.parametrize("blind", [s for s in SETS if s.min_sources], ids=lambda s: s.name)
def test_sources_are_not_those_of_earlier_sets(blind: BlindSet) -> None:
    earlier: set[str] = set()
    for name in ORDER[: ORDER.index(blind.name)]:
        earlier |= {r["source"] for r in _rows(DATA / name)}
    ours = {r["source"] for r in _rows(DATA / blind.name)} - {"opaque"}
    assert len(ours) >= blind.min_sources
    assert not ours & earlier, ours & earlier
