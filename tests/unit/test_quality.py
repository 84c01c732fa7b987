"""Duplicate counting across partitions (quality.py): sidecars of distinct values and intervals of
consecutive integers, merged at the commit, against a brute-force count."""

from __future__ import annotations

import math
import os
import random
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from dativo_workers.quality import MAX_INTERVALS, PartitionQuality, Rule, evaluate, sidecar_opener
from dativo_workers.storage import filesystem


def _rule() -> Rule:
    return Rule(key="k", kind="library", where="", metric="duplicateValues", column="v", columns=["v"],
                comparator="mustBe", threshold=0)  # fmt: skip


def _open(uris: list[str]) -> Any:
    fs, _ = filesystem(uris[0], {})
    kind = "arrow" if uris[0].endswith(".arrow") else "parquet"
    return ds.dataset([filesystem(u, {})[1] for u in uris], format=kind, filesystem=fs)


def _duplicates(tmp_path: Path, partitions: list[list[list[Any]]], kind: pa.DataType) -> tuple[int, list[Any]]:
    rule = _rule()
    states = []
    for index, batches in enumerate(partitions):
        checks = PartitionQuality([rule], sidecar_opener(tmp_path.as_uri(), "run", index, 1, {}))
        for values in batches:
            checks.observe(pa.record_batch({"v": pa.array(values, kind)}))
        states.append(checks.close())
    return evaluate([rule], "severity", states, [], _open).results[0]["value"], states


def _brute(partitions: list[list[list[Any]]]) -> int:
    values = [v for p in partitions for b in p for v in b if v is not None]
    return len(values) - len(set(values))


@pytest.mark.parametrize("seed", range(6))
def test_random_mixes_of_runs_and_scattered_values(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    partitions = []
    for _ in range(rng.randint(1, 4)):
        batches = []
        for _ in range(rng.randint(1, 5)):
            if rng.random() < 0.5:  # a run of consecutive ids, sometimes overlapping another
                start = rng.randint(0, 300)
                batches.append(list(range(start, start + rng.randint(1, 60))))
            else:
                batches.append([rng.choice([None, rng.randint(0, 400)]) for _ in range(rng.randint(1, 40))])
        partitions.append(batches)
    value, _ = _duplicates(tmp_path, partitions, pa.int64())
    assert value == _brute(partitions)


def test_sequential_ids_need_no_sidecar(tmp_path: Path) -> None:
    partitions = [[list(range(0, 100)), list(range(100, 250))], [list(range(250, 300))], [[299, 300, 301]]]
    value, states = _duplicates(tmp_path, partitions, pa.int64())
    assert value == 1  # 299 in the last two partitions
    assert states[0]["intervals"] == {"k": [[0, 249]]} and states[0]["sidecars"] == {}
    assert not list(tmp_path.rglob("*.arrow"))


def test_not_a_run_goes_to_the_sidecar(tmp_path: Path) -> None:
    partitions = [[[3, 2, 1], [4, 4, 6]], [[1, 7, 8]]]  # descending; a repeat; a gap
    value, states = _duplicates(tmp_path, partitions, pa.int64())
    assert value == _brute(partitions) == 2
    assert states[0]["intervals"] == {} and states[1]["intervals"] == {}
    assert len(list(tmp_path.rglob("*.arrow"))) == 2


def test_text_values_and_too_many_intervals(tmp_path: Path) -> None:
    words = [["a", "b", None], ["b", "c"], ["a"]]
    assert _duplicates(tmp_path / "t", [words[:2], words[2:]], pa.string())[0] == 2
    scattered = [[i * 3] for i in range(MAX_INTERVALS + 5)] + [[0, 3]]  # one interval per batch, then the cap
    value, states = _duplicates(tmp_path / "n", [scattered], pa.int64())
    assert value == 2 and len(states[0]["intervals"]["k"]) == MAX_INTERVALS


def test_the_measuring_thread_gives_the_same_state_and_raises_its_errors(tmp_path: Path) -> None:
    from dativo_workers.quality import QualityThread

    rule = Rule(key="n", kind="library", where="", metric="nullValues", column="v", columns=["v"])
    threaded = QualityThread(PartitionQuality([rule, _rule()], sidecar_opener(tmp_path.as_uri(), "r", 0, 1, {})))
    for start in range(0, 50, 10):
        threaded.observe(pa.record_batch({"v": pa.array([*range(start, start + 9), None], pa.int64())}))
    state = threaded.close()
    assert state["rows"] == 50 and state["counts"] == {"n": 5, "k": 45}
    # small batches measured in groups, a batch larger than the queue's bound: the same counts, no wait
    grouped = QualityThread(
        PartitionQuality([rule, _rule()], sidecar_opener(tmp_path.as_uri(), "r", 2, 1, {})), group_rows=25, max_rows=30
    )
    for start, size in ((0, 10), (10, 10), (20, 40), (60, 3), (63, 7)):
        grouped.observe(pa.record_batch({"v": pa.array([*range(start, start + size - 1), None], pa.int64())}))
    grouped.finish()  # the last group measured now (as ingest does before closing its files); close() waits for it
    state = grouped.close()
    assert state["rows"] == 70 and state["counts"] == {"n": 5, "k": 65}
    broken = QualityThread(PartitionQuality([rule], sidecar_opener(tmp_path.as_uri(), "r", 1, 1, {})))
    broken.observe(pa.record_batch({"other": pa.array([1])}))  # no column v: fails on the thread
    with pytest.raises(KeyError):
        broken.close()


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice is Linux's")
def test_the_measuring_thread_runs_at_the_lowest_priority_and_leaves_the_callers_alone() -> None:
    """It takes the cores' idle moments: the partition's own threads keep their priority."""
    from dativo_workers.quality import QUALITY_THREAD_NICE, QualityThread

    seen: list[int] = []

    class Recorder:
        def observe(self, batch: pa.RecordBatch | pa.Table) -> None:
            seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

        def close(self) -> dict[str, Any]:
            return {}

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread = QualityThread(Recorder())  # type: ignore[arg-type]
    thread.observe(pa.record_batch({"v": pa.array([1, 2])}))
    thread.close()
    assert seen == [QUALITY_THREAD_NICE]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before


def _invalid_brute(values: list[Any], args: dict[str, Any]) -> int:
    """invalidValues by hand: a non-null value breaking any condition (NaN breaks no range)."""
    import re

    def breaks(v: Any) -> bool:
        if "validValues" in args and v not in args["validValues"]:
            return True
        if "pattern" in args and not re.search(args["pattern"], v):
            return True
        for key, test in (
            ("minimum", lambda b: v < b),
            ("exclusiveMinimum", lambda b: v <= b),
            ("maximum", lambda b: v > b),
            ("exclusiveMaximum", lambda b: v >= b),
            ("minLength", lambda b: len(v) < b),
            ("maxLength", lambda b: len(v) > b),
        ):
            if key in args and test(args[key]):
                return True
        return False

    return sum(1 for v in values if v is not None and breaks(v))


@pytest.mark.parametrize("seed", range(40))
def test_invalid_values_against_a_brute_force_count(tmp_path: Path, seed: int) -> None:
    """Ranges checked on the minimum and maximum first, masks only for a broken bound: the same
    counts as value by value, in one batch or a table of several, with nulls and NaN."""
    rng = random.Random(seed)
    keys = ["minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"]
    if seed % 4 == 1:  # floating point, some NaN: compared value by value
        kind: pa.DataType = pa.float64()
        pool = [None, math.nan, *(rng.uniform(-50, 150) for _ in range(20))]
        bound = lambda: rng.choice([rng.uniform(-60, 160), 0.0, 100.0])  # noqa: E731
    elif seed % 4 == 2:  # integers: min_max first
        kind = pa.int64()
        pool = [None, *(rng.randint(-50, 150) for _ in range(20))]
        bound = lambda: rng.choice([rng.randint(-60, 160), 0, 100])  # noqa: E731
    elif seed % 4 == 3:  # decimals: min_max first with two bounds
        kind = pa.decimal128(8, 2)
        pool = [None, *(Decimal(rng.randint(-5000, 15000)) / 100 for _ in range(20))]
        bound = lambda: rng.choice([Decimal(rng.randint(-6000, 16000)) / 100, Decimal(0), Decimal(100)])  # noqa: E731
    else:  # text
        kind = pa.string()
        pool = [None, "", "a1", "bb22", "ccc333", "dddd", "e5", "ffff66", "zz"]
        keys = ["minLength", "maxLength", "pattern", "validValues", "minimum"]
        bound = lambda: rng.randint(0, 6)  # noqa: E731
    args: dict[str, Any] = {}
    for key in rng.sample(keys, rng.randint(1, min(3, len(keys)))):
        if key == "pattern":
            args[key] = rng.choice([r"^[a-z]+[0-9]+$", "[0-9]", "^.{2,4}$"])
        elif key == "validValues":
            args[key] = rng.sample(pool[1:], 4)
        elif key == "minimum" and kind == pa.string():
            args[key] = rng.choice(["b", "c", ""])
        else:
            args[key] = bound()
    rule = Rule(key="i", kind="library", where="", metric="invalidValues", column="v", columns=["v"],
                arguments=args, comparator="mustBe", threshold=0)  # fmt: skip
    batches = [[rng.choice(pool) for _ in range(rng.randint(1, 30))] for _ in range(rng.randint(1, 4))]
    one = PartitionQuality([rule], sidecar_opener(tmp_path.as_uri(), "run", 0, 1, {}))
    for values in batches:
        one.observe(pa.record_batch({"v": pa.array(values, kind)}))
    grouped = PartitionQuality([rule], sidecar_opener(tmp_path.as_uri(), "run", 1, 1, {}))
    grouped.observe(pa.Table.from_batches([pa.record_batch({"v": pa.array(values, kind)}) for values in batches]))
    expected = _invalid_brute([v for b in batches for v in b], args)
    assert one.close()["counts"]["i"] == grouped.close()["counts"]["i"] == expected, args


@pytest.mark.parametrize("distinct", [3, 300, 20_000])
def test_a_pattern_on_repeated_or_distinct_values(tmp_path: Path, distinct: int) -> None:
    """A pattern alone: searched on the distinct values when a sample repeats (counts summed),
    value by value otherwise; the same count either way, nulls never invalid."""
    import re

    from dativo_workers.quality import SAMPLE_ROWS, SAMPLES

    rng = random.Random(distinct)
    words = [None, *(f"{rng.choice(['ab', 'AB', 'x'])}{i}" for i in range(distinct))]
    values = [rng.choice(words) for _ in range(10 * SAMPLES * SAMPLE_ROWS)]
    args = {"pattern": "^[a-z]+[0-9]+$"}
    rule = Rule(key="p", kind="library", where="", metric="invalidValues", column="v", columns=["v"],
                arguments=args, comparator="mustBe", threshold=0)  # fmt: skip
    expected = sum(1 for v in values if v is not None and not re.search(args["pattern"], v))
    one = PartitionQuality([rule], sidecar_opener(tmp_path.as_uri(), "run", 0, 1, {}))
    one.observe(pa.record_batch({"v": pa.array(values, pa.string())}))
    chunks = [pa.record_batch({"v": pa.array(values[i : i + 3000], pa.string())}) for i in range(0, len(values), 3000)]
    grouped = PartitionQuality([rule], sidecar_opener(tmp_path.as_uri(), "run", 1, 1, {}))
    grouped.observe(pa.Table.from_batches(chunks))
    assert one.close()["counts"]["p"] == grouped.close()["counts"]["p"] == expected


def test_sql_rules_are_parsed_without_the_duckdb_package() -> None:
    """The plan's parse check loads DuckDB's C extension alone: the `duckdb` package costs 2-4 times
    the import time and ~4,100 more Python objects (an extra full garbage collection in a run)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from dativo_workers.quality import duckdb_engine\n"
        "d = duckdb_engine()\n"
        "assert d.extract_statements('SELECT 1')[0].type == d.StatementType.SELECT\n"
        "print(d.__name__, 'duckdb' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["_duckdb", "False"]
