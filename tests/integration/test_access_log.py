"""The access-log reader plugin (plugins/access_log), installed into the environment by
scripts/build_access_log.sh (run by scripts/test.sh): the Rust reader `access_log` against its
pure-Python reference `access_log_py`, byte-range partitions, bad rows with their line numbers,
the zero-copy hand-over, and runs embedded and on real Celery workers read back with pyiceberg."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dativo_workers.conform import to_record_batches
from dativo_workers.errors import SourceError
from dativo_workers.plugins import DataReader, Partition, RejectedRecords, SourceContext

from ..conftest import REPO, Workspace
from .fleet import Fleet

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

try:
    from dativo_access_log import AccessLogPyReader, AccessLogReader, AccessLogSettings, _native
    from dativo_access_log._grammar import SCHEMA
    from dativo_access_log.sample import Written, write_log
except ImportError as exc:  # pragma: no cover - the build script was not run
    if os.environ.get("DATIVO_TEST_ALLOW_SKIP") == "1":
        pytest.skip(f"dativo-access-log is not installed: {exc}", allow_module_level=True)
    raise ImportError(
        f"dativo-access-log is not installed ({exc}): run `bash scripts/build_access_log.sh` "
        "(scripts/test.sh does), or set DATIVO_TEST_ALLOW_SKIP=1"
    ) from exc

# Lines whose every value is checked by hand: the edge cases, one per line.
EDGES = [
    (
        b'127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326',
        ("127.0.0.1", "-", "frank", "2000-10-10T20:55:36", "GET", "/apache_pb.gif", "HTTP/1.0", 200, 2326, None, None),
    ),
    (  # IPv6, Nepal's +0545 across midnight and a year, `-` bytes, escaped quotes kept as written
        b'2001:db8::1 - - [01/Jan/2024:00:10:00 +0545] "GET /q?a=\\"b\\" HTTP/1.1" 304 - "http://r/" '
        b'"Mozilla \\"quoted\\" \\\\ agent"',
        (
            "2001:db8::1", "-", "-", "2023-12-31T18:25:00", "GET", '/q?a=\\"b\\"', "HTTP/1.1", 304, None,
            "http://r/", 'Mozilla \\"quoted\\" \\\\ agent',
        ),
    ),
    (  # -0930 on a leap day, no request line, CRLF
        b'10.0.0.2 - - [29/Feb/2024:23:59:59 -0930] "-" 408 0 "-" "-"\r',
        ("10.0.0.2", "-", "-", "2024-03-01T09:29:59", None, None, None, 408, 0, "-", "-"),
    ),
    (  # HTTP/0.9 (no protocol), +1400, a UTF-8 agent, trailing spaces
        '::ffff:10.0.0.3 - - [01/Mar/2024:05:00:00 +1400] "GET /" 200 9 "-" "Ünï/1 (日本)"  '.encode(),
        ("::ffff:10.0.0.3", "-", "-", "2024-02-29T15:00:00", "GET", "/", None, 200, 9, "-", "Ünï/1 (日本)"),
    ),
    (  # a path with spaces, -0000
        b'h.example - - [05/May/1999:01:02:03 -0000] "POST /a b c HTTP/2.0" 201 18446744073709551 "-" "x"',
        (
            "h.example", "-", "-", "1999-05-05T01:02:03", "POST", "/a b c", "HTTP/2.0", 201, 18446744073709551,
            "-", "x",
        ),
    ),
]  # fmt: skip
BAD = [
    (b"not a log line", "not in Common or Combined Log Format"),
    (b'h - - [31/Feb/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 1', "invalid timestamp"),
    (b'h - - [01/Feb/2024:10:00:60 +0000] "GET / HTTP/1.1" 200 1', "invalid timestamp"),  # no leap seconds
    (b'h - - [01/Feb/2024:10:00:00 +2400] "GET / HTTP/1.1" 200 1', "invalid timestamp"),
    (b'h - - [01/Feb/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 9223372036854775808', "bytes out of range"),
    (b'h - - [01/Feb/2024:10:00:00 +0000] "GET / HTTP/1.1\\" 200 1', "not in Common or Combined Log Format"),
    (b'h - - [01/Feb/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "a"x', "not in Common or Combined Log Format"),
    (b'h - - [01/Feb/2024:10:00:00 +0000] "G\xffT / HTTP/1.1" 200 1', "not UTF-8"),
]


def _reader(cls: type[DataReader], base: Path, pattern: str, **options: Any) -> DataReader:
    return cls(AccessLogSettings(**options), SourceContext(base_dir=base, files=[{"path": pattern}]))


def _read(reader: DataReader, partitions: list[Partition]) -> tuple[pa.Table, list[tuple[str, str, str]]]:
    """Every partition's rows (in partition order) and rejected lines (position, text, reason)."""
    batches: list[pa.RecordBatch] = []
    rejected: list[tuple[str, str, str]] = []
    for partition in partitions:
        for obj in reader.read(partition, None):
            if isinstance(obj, RejectedRecords):
                rejected += list(zip(obj.positions, obj.text, obj.reasons, strict=True))
            else:
                batches += list(to_record_batches(obj))
    return pa.Table.from_batches(batches, schema=SCHEMA), rejected


def _both(base: Path, pattern: str, **options: Any) -> tuple[pa.Table, list[tuple[str, str, str]], int]:
    """Both readers over the same plan: asserts they agree, returns the Rust reader's result."""
    rust = _reader(AccessLogReader, base, pattern, **options)
    python = _reader(AccessLogPyReader, base, pattern, **options)
    plan = rust.plan()
    assert [p.to_dict() for p in python.plan()] == [p.to_dict() for p in plan]
    table, rejected = _read(rust, plan)
    reference, reference_rejected = _read(python, plan)
    assert table.schema == reference.schema == SCHEMA
    assert table.equals(reference), _first_difference(table, reference)
    assert rejected == reference_rejected
    return table, rejected, len(plan)


def _first_difference(a: pa.Table, b: pa.Table) -> str:
    if a.num_rows != b.num_rows:
        return f"{a.num_rows} rows against {b.num_rows}"
    for name in a.column_names:
        for i, (x, y) in enumerate(zip(a.column(name).to_pylist(), b.column(name).to_pylist(), strict=True)):
            if x != y:
                return f"row {i}, column {name}: {x!r} against {y!r}"
    return "same values, different layout"


def _as_tuples(table: pa.Table) -> list[tuple[Any, ...]]:
    ts = table.column("ts").cast(pa.timestamp("us")).cast(pa.string()).to_pylist()
    rows = [tuple(r.values()) for r in table.to_pylist()]
    return [(*r[:3], t.replace(" ", "T")[:19], *r[4:]) for r, t in zip(rows, ts, strict=True)]


def test_edge_cases_give_the_same_values_from_both_readers(tmp_path: Path) -> None:
    lines = [line for line, _ in EDGES] + [b"", b"   \t"] + [line for line, _ in BAD]
    (tmp_path / "edges.log").write_bytes(b"\n".join(lines))  # no line break after the last line
    table, rejected, _ = _both(tmp_path, "*.log")
    assert _as_tuples(table) == [values for _, values in EDGES]
    where = f"{tmp_path / 'edges.log'}: line"
    first_bad = len(EDGES) + 3
    assert rejected == [
        (f"{where} {first_bad + i}", line.decode("utf-8", "replace"), reason) for i, (line, reason) in enumerate(BAD)
    ]
    for line, values in EDGES:  # the one-line parser agrees with the readers
        parsed = _native.parse_one(line)
        assert parsed[:3] == values[:3] and parsed[4:] == values[4:]


def test_a_generated_log_gives_identical_tables_whatever_the_partitions(tmp_path: Path) -> None:
    written = write_log(tmp_path / "access.log", 30_000, seed=11)
    assert len(written.malformed) > 20
    whole, rejected, count = _both(tmp_path, "access.log", partition_mb=64)
    assert count == 1 and whole.num_rows == written.rows
    # CRLF, blank lines, no final line break: the rows and the bad lines, each named by its line
    expected = [(f"{tmp_path / 'access.log'}: line {n}", text) for n, text in written.malformed]
    assert [(position, text) for position, text, _ in rejected] == expected
    for partition_mb in (0.25, 0.031):  # about 16 and 130 ranges
        table, split_rejected, count = _both(tmp_path, "access.log", partition_mb=partition_mb, batch_rows=1000)
        assert count > 10
        assert table.equals(whole) and split_rejected == rejected


def test_partitions_are_line_aligned_disjoint_and_complete(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    write_log(path, 5000, seed=3)
    (tmp_path / "empty.log").write_bytes(b"")
    data = path.read_bytes()
    reader = _reader(AccessLogReader, tmp_path, "*.log", partition_mb=0.02)
    plan = reader.plan()
    ranges = [(p.spec["start"], p.spec["end"]) for p in plan if p.spec["path"] == str(path)]
    assert len(ranges) > 20 and ranges[0][0] == 0 and ranges[-1][1] == len(data)
    assert all(end == nxt for (_, end), (nxt, _) in pairwise(ranges))  # no gap, no overlap
    assert all(data[start - 1 : start] == b"\n" for start, _ in ranges[1:])  # each starts a line
    lines = [p.spec["first_line"] for p in plan if p.spec["path"] == str(path)]
    assert lines == [data[:start].count(b"\n") + 1 for start, _ in ranges]
    assert [p.spec["path"] for p in plan].count(str(tmp_path / "empty.log")) == 1
    # each partition read alone (a fresh reader, as a worker builds one from the spec) adds up to the file
    counts = [_read(_reader(AccessLogReader, tmp_path, "*.log"), [p])[0].num_rows for p in plan]
    assert sum(counts) == _read(reader, plan)[0].num_rows > 0


def test_the_rust_stream_is_imported_without_a_copy(tmp_path: Path) -> None:
    write_log(tmp_path / "a.log", 20_000, seed=5, clean=True)
    scanner = _native.Scanner(str(tmp_path / "a.log"), 0, None, 4096)
    segment = scanner.segment(1 << 20)
    assert pa.schema(segment) == SCHEMA  # __arrow_c_schema__
    before = pa.total_allocated_bytes()
    table = pa.RecordBatchReader.from_stream(segment).read_all()
    assert table.num_rows == 20_000 and table.column("path").chunk(0).nbytes > 0
    assert pa.total_allocated_bytes() == before  # pyarrow allocated nothing: it maps Rust's buffers
    with pytest.raises(ValueError, match="exported already"):
        segment.__arrow_c_stream__()
    assert scanner.finished and scanner.take_rejected() == []
    del table  # the release callbacks free the Rust buffers (a double free would crash here)

    # any Arrow consumer takes the stream, not only pyarrow: DuckDB's scan of the PyCapsule
    logs = _native.Scanner(str(tmp_path / "a.log"), 0, None, 4096).segment(1 << 20)  # noqa: F841 - scanned by name
    counts = duckdb.sql("SELECT count(*), count(user_agent), count(DISTINCT ip) > 1000 FROM logs").fetchall()[0]
    reference = _reader(AccessLogPyReader, tmp_path, "a.log")
    common = _read(reference, reference.plan())[0].column("user_agent").null_count  # Common lines
    assert counts == (20_000, 20_000 - common, True) and 0 < common < 20_000


def test_a_file_that_changed_size_since_planning_fails_its_partitions(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    write_log(path, 3000, seed=2, clean=True)
    reader = _reader(AccessLogReader, tmp_path, "a.log", partition_mb=0.1)
    plan = reader.plan()
    with path.open("ab") as handle:
        handle.write(b"more\n")
    with pytest.raises(Exception, match="changed size since the run was planned"):
        list(reader.read(plan[1], None))


def _job(ws: Workspace, name: str, connector: str, bad_rows: str, partition_mb: float = 0.1) -> Path:
    return ws.job(
        f"{name}.yaml",
        f"""
        tenant_id: acme
        name: {name}
        source:
          connector: {connector}
          files: [{{path: logs/*.log}}]
          options: {{partition_mb: {partition_mb}, batch_rows: 4096}}
        target: {{namespace: acme, table: {name}}}
        bad_rows: {bad_rows}
        """,
    )


def _logs(ws: Workspace) -> tuple[Written, Written]:
    (ws.root / "logs").mkdir(exist_ok=True)
    return write_log(ws.root / "logs/a.log", 8000, seed=21), write_log(ws.root / "logs/b.log", 3000, seed=22)


def _reference(ws: Workspace) -> pa.Table:
    table, _, _ = _both(ws.root, "logs/*.log", partition_mb=64)
    return table


def _sorted(table: pa.Table) -> pa.Table:
    return table.select(SCHEMA.names).sort_by([(n, "ascending") for n in ("ts", "ip", "path", "bytes", "user_agent")])


def test_embedded_run_quarantines_bad_lines_with_their_line_numbers(workspace: Workspace) -> None:
    a, b = _logs(workspace)
    job = _job(workspace, "logs_q", "access_log", "{action: quarantine, max: 1000}")
    result = workspace.cli("run", str(job), "--json", "-w", "2")
    assert result.code == 1, result.stderr  # committed, with bad rows
    summary = result.json
    assert summary["state"] == "committed" and summary["partitions_total"] > 10
    assert summary["rows"] == a.rows + b.rows and summary["bad_rows"] == len(a.malformed) + len(b.malformed)
    table = workspace.table("acme.logs_q")
    assert [(f.name, str(f.field_type)) for f in table.schema().fields][3] == ("ts", "timestamptz")
    loaded = table.scan().to_arrow()
    assert _sorted(loaded).equals(_sorted(_reference(workspace).cast(loaded.select(SCHEMA.names).schema)))

    quarantined = [
        r for uri in summary["quarantine_files"] for r in pq.read_table(uri.removeprefix("file://")).to_pylist()
    ]
    found = sorted((r["_dativo_position"], r["_dativo_raw"]) for r in quarantined)
    expected = sorted(
        [(f"{workspace.root / 'logs/a.log'}: line {n}", text) for n, text in a.malformed]
        + [(f"{workspace.root / 'logs/b.log'}: line {n}", text) for n, text in b.malformed]
    )
    assert found == expected


def test_fail_names_the_first_bad_line_and_skip_counts_them(workspace: Workspace) -> None:
    a, b = _logs(workspace)
    failed = workspace.cli("run", str(_job(workspace, "logs_f", "access_log", "{action: fail}", 64)), "--json")
    assert failed.code == 2
    first_a, first_b = a.malformed[0][0], b.malformed[0][0]  # one partition per file: each stops at its first
    named = {f"{workspace.root / 'logs/a.log'}: line {first_a}", f"{workspace.root / 'logs/b.log'}: line {first_b}"}
    assert any(f"{where}: not in Common or Combined Log Format" in failed.json["error"] for where in named), (
        failed.json["error"]
    )
    assert not workspace.catalog().table_exists("acme.logs_f")

    skipped = workspace.cli("run", str(_job(workspace, "logs_s", "access_log_py", "{action: skip}", 64)), "--json")
    assert skipped.code == 1, skipped.stderr
    assert skipped.json["bad_rows"] == len(a.malformed) + len(b.malformed) and skipped.json["quarantine_files"] == []
    assert skipped.json["rows"] == a.rows + b.rows


def test_rust_reader_on_celery_workers_matches_the_reference(workspace: Workspace, fleet: Fleet) -> None:
    _logs(workspace)
    fleet.start_worker(concurrency=2)  # a fresh process: finds the plugin through its entry point
    job = _job(workspace, "logs_w", "access_log", "{action: skip}")
    submitted = workspace.cli_process("submit", str(job), "--wait", "--json")
    assert submitted.code in (0, 1), submitted.stderr
    assert submitted.json["state"] == "committed" and submitted.json["partitions_done"] > 10
    loaded = workspace.table("acme.logs_w").scan().to_arrow()
    assert _sorted(loaded).equals(_sorted(_reference(workspace).cast(loaded.select(SCHEMA.names).schema)))


def test_a_failing_rust_build_says_why_exits_2_and_installs_nothing(tmp_path: Path) -> None:
    """A crate Debian does not ship (no crates.io here): cargo cannot resolve it, the script stops."""
    source = REPO / "plugins" / "access_log"
    copy = tmp_path / "access_log"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("target", "dist", "__pycache__"))
    manifest = copy / "Cargo.toml"
    manifest.write_text(manifest.read_text().replace("[dependencies]\n", '[dependencies]\narrow = "50"\n'))
    installed = Path(_native.__file__).parent / "BUILD_DIGEST"
    before = installed.read_bytes(), Path(_native.__file__).stat().st_mtime_ns
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "build_access_log.sh")],
        env={**os.environ, "DATIVO_ACCESS_LOG_DIR": str(copy)},
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert f"the Rust build of {copy} failed" in result.stderr and "arrow" in result.stderr
    assert (installed.read_bytes(), Path(_native.__file__).stat().st_mtime_ns) == before


def test_without_the_extension_the_rust_reader_says_so_and_the_reference_still_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_log(tmp_path / "a.log", 3000, seed=9)
    with_extension, rejected, count = _both(tmp_path, "a.log", partition_mb=0.05)
    assert count > 5 and rejected
    monkeypatch.setitem(sys.modules, "dativo_access_log._native", None)  # import fails as if never built
    monkeypatch.delattr(sys.modules["dativo_access_log"], "_native")
    rust = _reader(AccessLogReader, tmp_path, "a.log", partition_mb=0.05)
    [problem] = rust.check()
    assert "Rust extension is not built" in problem and "scripts/build_access_log.sh" in problem
    with pytest.raises(SourceError, match="use the pure-Python connector access_log_py"):
        rust.plan()
    python = _reader(AccessLogPyReader, tmp_path, "a.log", partition_mb=0.05)
    assert _read(python, python.plan()) == (with_extension, rejected)  # line numbers counted in Python
