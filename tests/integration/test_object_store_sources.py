"""File sources in an object store (moto's S3 server on loopback, signatures checked): globs over
nested prefixes listed with pagination, the same partitioning as local files read as ranged
requests, compressed objects, credentials as secret references, and the bad inputs."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dativo_plugins.files import CsvOptions, CsvReader, ParquetReader
from dativo_plugins.files._common import SourceChanged, SourceFiles
from dativo_workers.checks import check_job
from dativo_workers.config import load_job, load_runner
from dativo_workers.errors import ConfigError, DativoError, SourceError
from dativo_workers.plugins import SourceContext
from dativo_workers.plugins.manager import plugin_error
from dativo_workers.producer import submit, wait
from dativo_workers.retry import is_transient

from ..conftest import REPO, Workspace
from .fleet import Fleet
from .s3 import S3Server

pytestmark = pytest.mark.integration

SECRET_ENV = "DATIVO_SECRET__GLOBAL__SRC_S3"


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The server, its credentials reachable as ${secret:src_s3.key} / ${secret:src_s3.secret}."""
    monkeypatch.setenv(SECRET_ENV, json.dumps({"key": s3_server.access_key, "secret": s3_server.secret_key}))
    return s3_server


def _storage(s3: S3Server) -> str:
    return textwrap.indent(
        textwrap.dedent(
            f"""\
            storage:
              s3.endpoint: {s3.endpoint}
              s3.region: us-east-1
              s3.access-key-id: "${{secret:src_s3.key}}"
              s3.secret-access-key: "${{secret:src_s3.secret}}"
            """
        ),
        "  ",
    )


def _job(ws: Workspace, name: str, path: str, s3: S3Server, connector: str = "csv", extra: str = "") -> Path:
    return ws.job(
        f"jobs/{name}.yaml",
        f"tenant_id: acme\nname: {name}\nsource:\n  connector: {connector}\n  files: [{{path: '{path}'}}]\n"
        + _storage(s3)
        + extra
        + f"target: {{namespace: acme, table: {name}}}\n",
    )


def _orders(n: int) -> bytes:
    return f'id,amount,note\n{n},{n * 1.5},"order {n}, line"\n'.encode()


def test_a_glob_over_1200_objects_in_nested_prefixes(workspace: Workspace, s3: S3Server) -> None:
    bucket = s3.new_bucket()
    keys = [f"raw/2026/{m:02d}/{d:02d}/orders-{m * 100 + d}.csv" for m in range(1, 13) for d in range(1, 101)]
    objects = [(k, _orders(int(k.rsplit("-", 1)[1][:-4]))) for k in keys]
    objects += [
        ("raw/2026/01/01/readme.txt", b"x"),
        ("raw/orders-top.csv.bak", b"x"),
        ("other/orders-1.csv", _orders(1)),
    ]
    s3.put_many(bucket, objects)

    # `dativo check` lists every match (more than one listing page of 1000) without reading them
    job = _job(workspace, "all_orders", f"s3://{bucket}/raw/**/orders-*.csv", s3)
    result = workspace.cli("check", str(job), "--json")
    assert result.code == 0, result.stdout + result.stderr
    [source] = [c for c in result.json["checks"] if c["name"] == "source"]
    assert source["ok"] and "1200 file(s) matched" in source["detail"] and "1200 partition(s)" in source["detail"]

    # `*` stays inside one segment: days 10-19 and 100 of one month, nothing deeper or beside them
    job = _job(workspace, "march", f"s3://{bucket}/raw/2026/03/1*/orders-*.csv", s3)
    summary = workspace.run(job)
    assert summary["state"] == "committed", summary
    rows = workspace.read("acme.march", "id").to_pylist()
    assert [r["id"] for r in rows] == [*range(310, 320), 400]
    assert rows[0] == {"id": 310, "amount": 465.0, "note": "order 310, line"}


def _big_orders(first: int, rows: int) -> bytes:
    """Orders whose notes sometimes hold a quoted line break."""
    notes = [f'"note {i},\nsecond line"' if i % 5 == 0 else f"note {i}" for i in range(first, first + rows)]
    return ("id,amount,note\n" + "".join(f"{i},{i * 1.5},{n}\n" for i, n in enumerate(notes, first))).encode()


def _quoted_csv(rows: int) -> bytes:
    lines = ["id,text,qty"]
    for i in range(rows):
        text = f'"multi\nline, {i} ""quoted"""' if i % 7 == 0 else f"plain {i}"
        lines.append(f"{i},{text},{i % 13}")
    return ("\n".join(lines) + "\n").encode()


def test_a_large_object_splits_on_record_starts_like_a_local_file(workspace: Workspace, s3: S3Server) -> None:
    data = _quoted_csv(120_000)  # about 2.5 MiB: three 1 MiB ranges
    assert len(data) > 2 * 1024 * 1024
    bucket = s3.new_bucket()
    s3.put(bucket, [("big/orders.csv", data)])
    (workspace.root / "local").mkdir()
    (workspace.root / "local" / "orders.csv").write_bytes(data)
    extra = "  partitioning: {target_mb: 1}\n"
    remote = workspace.run(_job(workspace, "remote", f"s3://{bucket}/big/*.csv", s3, extra=extra))
    local = workspace.run(
        workspace.job(
            "jobs/local.yaml",
            "tenant_id: acme\nname: local\nsource:\n  connector: csv\n"
            f"  files: [{{path: '../local/orders.csv'}}]\n{extra}"
            "target: {namespace: acme, table: local}\n",
        )
    )
    assert remote["state"] == local["state"] == "committed"
    assert remote["partitions_total"] == local["partitions_total"] >= 3
    labels = [p["label"] for p in workspace.ledger().partitions(remote["run_id"])]
    assert labels == [p["label"] for p in workspace.ledger().partitions(local["run_id"])]
    assert workspace.read("acme.remote", "id").equals(workspace.read("acme.local", "id"))
    assert workspace.read("acme.remote", "id").num_rows == 120_000
    assert workspace.read("acme.remote", "id")["text"][7].as_py() == 'multi\nline, 7 "quoted"'


def _context(ws: Workspace, s3: S3Server, path: str, target: int = 1 << 20) -> SourceContext:
    return SourceContext(base_dir=ws.root, files=[{"path": path}], storage=s3.storage(), target_partition_bytes=target)


def test_a_range_reads_only_its_own_bytes(workspace: Workspace, s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = s3.new_bucket()
    data = _quoted_csv(120_000)
    s3.put(bucket, [("big.csv", data)])
    reader = CsvReader(CsvOptions(), _context(workspace, s3, f"s3://{bucket}/big.csv"))
    partitions = reader.plan()
    assert len(partitions) >= 3
    requested: list[int] = []
    opened = SourceFiles._native

    class Counting(io.RawIOBase):
        """The object's reader, counting the bytes asked of the store."""

        def __init__(self, native: pa.NativeFile) -> None:
            self.native = native

        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            count = self.native.readinto(buffer)
            requested.append(count)
            return count

        def seek(self, offset: int, whence: int = 0) -> int:
            return self.native.seek(offset, whence)

        def tell(self) -> int:
            return self.native.tell()

    monkeypatch.setattr(
        SourceFiles, "_native", lambda self, path: pa.PythonFile(Counting(opened(self, path)), mode="r")
    )
    last = partitions[-1]
    rows = sum(batch.num_rows for batch in reader.read(last, None))
    assert rows > 0
    # the range's bytes, the header line (for the column names) and buffering: never the whole object
    assert sum(requested) < last.estimated_bytes + 256 * 1024


def test_parquet_objects_split_by_row_group(workspace: Workspace, s3: S3Server) -> None:
    bucket = s3.new_bucket()
    table = pa.table(
        {"id": pa.array(range(150_000), pa.int64()), "v": pa.array([f"value {i}" for i in range(150_000)])}
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=50_000)  # row groups of about 1.2 MiB
    s3.put(bucket, [("pq/a/part-0.parquet", sink.getvalue()), ("pq/b/part-1.parquet", sink.getvalue())])
    reader = ParquetReader(ParquetReader.config_model(), _context(workspace, s3, f"s3://{bucket}/pq/**/*.parquet"))
    assert [p.label for p in reader.plan()][:3] == [
        "part-0.parquet[rg 0]",
        "part-0.parquet[rg 1]",
        "part-0.parquet[rg 2]",
    ]
    job = _job(workspace, "pq", f"s3://{bucket}/pq/**/*.parquet", s3, "parquet", "  partitioning: {target_mb: 1}\n")
    summary = workspace.run(job)
    assert summary["state"] == "committed" and summary["partitions_total"] == 6, summary
    ids = workspace.read("acme.pq", "id")["id"].to_pylist()
    assert ids == sorted(list(range(150_000)) * 2)


def _zstd(data: bytes) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as out:
        out.write(data)
    return sink.getvalue().to_pybytes()


def test_compressed_objects_and_files_load_one_partition_each(workspace: Workspace, s3: S3Server) -> None:
    bucket = s3.new_bucket()
    rows = [{"id": i, "name": f"n{i}"} for i in range(5000)]
    jsonl = "".join(json.dumps(r) + "\n" for r in rows).encode()
    csv = ("id,name\n" + "".join(f"{r['id']},{r['name']}\n" for r in rows)).encode()
    s3.put(
        bucket,
        [
            ("z/a.jsonl.zst", _zstd(jsonl[: len(jsonl) // 2])),
            ("z/b.jsonl.zst", _zstd(jsonl[len(jsonl) // 2 :])),
            ("g/a.csv.gz", gzip.compress(csv)),
        ],
    )
    summary = workspace.run(_job(workspace, "zst", f"s3://{bucket}/z/*.jsonl.zst", s3, connector="jsonl"))
    assert summary["state"] == "committed" and summary["partitions_total"] == 2
    assert workspace.read("acme.zst", "id").to_pylist() == rows
    summary = workspace.run(
        _job(workspace, "gz", f"s3://{bucket}/g/a.csv.gz", s3, extra="  partitioning: {target_mb: 1}\n")
    )
    assert summary["state"] == "committed" and summary["partitions_total"] == 1
    assert workspace.read("acme.gz", "id").to_pylist() == rows
    (workspace.root / "jobs" / "local.csv.gz").write_bytes(gzip.compress(csv))
    local = workspace.job(
        "jobs/local_gz.yaml",
        "tenant_id: acme\nname: local_gz\nsource: {connector: csv, files: [{path: 'local.csv.gz'}]}\n"
        "target: {namespace: acme, table: local_gz}\n",
    )
    summary = workspace.run(local)
    assert summary["state"] == "committed" and workspace.read("acme.local_gz", "id").to_pylist() == rows


def test_an_object_changing_while_read_fails_the_read_and_a_retry_reads_it_again(
    workspace: Workspace, s3: S3Server
) -> None:
    bucket = s3.new_bucket()
    s3.put(
        bucket, [("c/small.csv", b"id,v\n" + b"".join(b"%d,%d\n" % (i, i) for i in range(300_000)))]
    )  # far more than Arrow reads ahead
    s3.put(bucket, [("c/big.csv", _quoted_csv(120_000))])
    options = CsvOptions(block_size_mb=0.05)
    reader = CsvReader(options, _context(workspace, s3, f"s3://{bucket}/c/small.csv", target=64 << 20))
    [whole] = reader.plan()
    batches = iter(reader.read(whole, None))
    next(batches)
    s3.put(bucket, [("c/small.csv", b"id,v\n1,1\n")])  # replaced while the partition reads it
    with pytest.raises(SourceChanged, match=rf"s3://{bucket}/c/small.csv: changed while being read") as changed:
        list(batches)
    assert is_transient(plugin_error("csv", changed.value))  # the job's retry policy reads it again
    assert sum(b.num_rows for b in reader.read(whole, None)) == 1  # a retry reads the object as it is now

    reader = CsvReader(options, _context(workspace, s3, f"s3://{bucket}/c/big.csv"))
    ranged = reader.plan()
    assert len(ranged) >= 3
    s3.put(bucket, [("c/big.csv", _quoted_csv(120_001))])  # planned ranges no longer start on records
    with pytest.raises(SourceError, match=rf"s3://{bucket}/c/big.csv: changed size since the run was planned"):
        list(reader.read(ranged[1], None))


def _refused(ws: Workspace, job: Path, *needles: str) -> None:
    """The run stops while planning, with an error of exit code 2 that says what to fix."""
    with pytest.raises(DativoError) as error:
        ws.run(job)
    assert error.value.exit_code == 2
    for needle in needles:
        assert needle in str(error.value)


def test_bad_inputs_fail_clearly_with_exit_2_and_commit_nothing(workspace: Workspace, s3: S3Server) -> None:
    bucket = s3.new_bucket()
    s3.put(bucket, [("raw/a.csv", _orders(1))])
    with pytest.raises(ConfigError) as refused:  # when the job is loaded, naming its file and line
        load_job(_job(workspace, "scheme", "ftp://host/raw/*.csv", s3))
    assert refused.value.exit_code == 2 and "ftp://host/raw/*.csv: unknown scheme 'ftp://'" in str(refused.value)
    _refused(
        workspace,
        _job(workspace, "nobucket", "s3://no-such-bucket-x1/raw/*.csv", s3),
        "'no-such-bucket-x1' does not exist",
    )
    _refused(
        workspace,
        _job(workspace, "nothing", f"s3://{bucket}/raw/*.json", s3),
        f"no object matches 's3://{bucket}/raw/*.json'",
    )
    _refused(
        workspace,
        _job(workspace, "nokey", f"s3://{bucket}/raw/b.csv", s3),
        f"no object matches 's3://{bucket}/raw/b.csv'",
    )

    denied = _job(workspace, "denied", f"s3://{bucket}/raw/*.csv", s3)
    wrong = "wrong-secret-Zq8xv2kPq"
    env = {SECRET_ENV: json.dumps({"key": s3.access_key, "secret": wrong})}
    result = workspace.cli("run", str(denied), "--json", env=env)
    text = result.stdout + result.stderr
    assert result.code == 2 and f"s3://{bucket}/raw/*.csv: access to bucket {bucket!r} denied" in text, text
    assert "secret:src_s3.secret" in text  # the reference that was used, never its value
    assert wrong not in text and s3.secret_key not in text

    check = workspace.cli("check", str(denied), "--json", env=env)
    [source] = [c for c in check.json["checks"] if c["name"] == "source"]
    assert check.code == 2 and not source["ok"] and f"access to bucket {bucket!r} denied" in source["detail"]
    assert wrong not in check.stdout + check.stderr
    missing = check_job(_job(workspace, "nobucket", "s3://no-such-bucket-x1/raw/*.csv", s3), workspace.runner_file)
    [source] = [c for c in missing["checks"] if c["name"] == "source"]
    assert not missing["ok"] and "bucket 'no-such-bucket-x1' does not exist" in source["detail"]
    catalog = workspace.state / "catalog.db"
    assert not catalog.exists() or ("acme",) not in workspace.catalog().list_namespaces()  # nothing committed


def test_fleet_workers_read_the_source_from_the_object_store(workspace: Workspace, fleet: Fleet, s3: S3Server) -> None:
    bucket = s3.new_bucket()
    s3.put(bucket, [(f"in/d={d}/part-{i}.csv", _orders(d * 10 + i)) for d in range(4) for i in range(5)])
    s3.put(bucket, [("in/d=9/big.csv", _big_orders(1000, 45_000))])
    producer = workspace.root / "producer"  # the job's directory: workers never see it
    job = _job(workspace, "fleet_src", f"s3://{bucket}/in/**/*.csv", s3, extra="  partitioning: {target_mb: 1}\n")
    producer.mkdir()
    job = Path(shutil.move(job, producer / job.name))
    fleet.extra_env[SECRET_ENV] = json.dumps({"key": s3.access_key, "secret": s3.secret_key})
    fleet.start_worker(concurrency=2)
    runner = load_runner(workspace.runner_file)
    ledger = workspace.ledger()
    run_id = submit(load_job(job), runner, ledger, None)
    shutil.rmtree(producer)  # nothing local is left to read
    summary = wait(run_id, ledger, timeout_s=120)
    assert summary["state"] == "committed", f"{summary}\n{fleet.log_text()}"
    assert summary["partitions_total"] == 22  # 20 small objects and the big one in two ranges
    ids = workspace.read("acme.fleet_src", "id")["id"].to_pylist()
    assert ids == [d * 10 + i for d in range(4) for i in range(5)] + list(range(1000, 46_000))
    workers = {p["worker"] for p in ledger.partitions(run_id)}
    assert workers and all(w and not w.endswith(f":{os.getpid()}") for w in workers)
    assert s3.secret_key not in fleet.log_text()
    ledger_text = json.dumps([ledger.run(run_id), ledger.partitions(run_id)], default=str)
    assert s3.secret_key not in ledger_text and "${secret:src_s3.secret}" in ledger_text


def test_the_fleet_example_job_reads_its_file_from_the_object_store(
    workspace: Workspace, s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """config/jobs/acme/customers_s3.yaml, as compose's producer submits it once minio-init has
    uploaded config/data/customers.csv: the same rows as the local demo job."""
    bucket = s3.new_bucket()
    s3.put(bucket, [("acme/customers/customers.csv", (REPO / "config" / "data" / "customers.csv").read_bytes())])
    monkeypatch.setenv("DATIVO_SOURCE_BUCKET", bucket)
    monkeypatch.setenv("DATIVO_S3_ENDPOINT", s3.endpoint)
    monkeypatch.setenv(
        "DATIVO_SECRET__GLOBAL__S3", json.dumps({"access_key": s3.access_key, "secret_key": s3.secret_key})
    )
    remote = workspace.run(REPO / "config" / "jobs" / "acme" / "customers_s3.yaml")
    assert remote["state"] == "committed", remote
    from_s3 = workspace.read("acme.customers", "customer_id")
    local = workspace.run(REPO / "config" / "jobs" / "acme" / "customers.yaml")
    assert local["state"] == "committed" and local["rows"] == remote["rows"] > 0
    assert workspace.read("acme.customers", "customer_id").equals(from_s3)
