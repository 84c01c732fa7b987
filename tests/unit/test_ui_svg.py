"""The dashboard's inline SVG: one bar per partition at any run size, the token's host rule."""

from __future__ import annotations

import re

from dativo_workers.ui.app import is_loopback
from dativo_workers.ui.data import schema_rows
from dativo_workers.ui.svg import series, timeline


def _partitions(n: int, t0: float) -> list[dict]:
    return [
        {
            "idx": i,
            "label": f"file-{i}.csv",
            "state": "failed" if i == 7 else ("pending" if i == n - 1 else "done"),
            "attempts": 3 if i == 7 else 1,
            "started_at": None if i == n - 1 else t0 + i * 0.01,
            "finished_at": None if i == n - 1 else t0 + i * 0.01 + 0.5,
            "duration_s": None if i == n - 1 else 0.5,
            "error": "line 2: column 'v': cannot convert 'x' <&>" if i == 7 else None,
        }
        for i in range(n)
    ]


def test_timeline_has_one_bar_per_partition_small_and_large() -> None:
    small = str(timeline(_partitions(10, 1000.0), 990.0))
    assert small.count('class="partition-bar') == 10
    assert "10.0s after the run was planned" in small  # the axis starts with the first partition
    assert "file-3.csv</text>" in small and "x3</text>" in small  # labels and retries shown
    assert "&lt;&amp;&gt;" in small and "<&>" not in small  # errors escaped in the tooltip
    assert small.count("state-failed") == 1 and small.count("state-pending") == 1
    widths = [float(w) for w in re.findall(r'partition-bar[^>]*width="([\d.]+)"', small)]
    assert min(widths) >= 3.0  # a pending partition is still a visible mark

    large = str(timeline(_partitions(5000, 1000.0), 1000.0))
    assert large.count('class="partition-bar') == 5000
    height = int(re.search(r'<svg[^>]*height="(\d+)"', large).group(1))
    assert height < 5000 + 100 and "file-3.csv</text>" not in large  # 1 px rows, no labels


def test_series_plots_one_point_per_run() -> None:
    runs = [
        {
            "run_id": f"r{i}",
            "state": "failed" if i == 2 else "committed",
            "created_at": 1000.0 + i * 60,
            "duration_s": i,
        }
        for i in range(4)
    ]
    drawn = str(series(runs, "duration_s", "duration", "s"))
    assert drawn.count('class="point"') == 4 and drawn.count('fill="#c62828"') == 1
    assert "no runs" in str(series([], "duration_s", "duration", "s"))


def test_schema_rows_take_any_kind_of_change() -> None:
    changes = {
        "created": False,
        "added": [{"column": "segment", "type": "string"}],
        "type_changed": [{"column": "id", "from": "int", "to": "long"}],
        "ignored": ["extra_col"],
    }
    assert schema_rows(changes) == [
        ("added", "segment", "type string"),
        ("type_changed", "id", "from int, to long"),
        ("ignored", "extra_col", ""),
    ]
    assert schema_rows(None) == []


def test_loopback_hosts() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.5", "example.com", "192.168.1.1"))
