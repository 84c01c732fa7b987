"""Plugins end to end: the example readers and writers of examples/plugins on the embedded executor and
on real Celery workers, writer targets (staging, publishing, retry), and plugin errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from dativo_workers.config import load_job, load_runner
from dativo_workers.producer import cancel, retry, submit, wait

from ..conftest import REPO, Workspace
from .fleet import Fleet, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

EXAMPLES = REPO / "examples" / "plugins"


@pytest.fixture
def examples(workspace: Workspace) -> Path:
    """A copy of examples/plugins in the workspace: outputs land there, not in the repository."""
    target = workspace.root / "examples"
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns("out", ".dativo", "__pycache__"))
    return target


@pytest.fixture
def demo_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """examples/plugins/demo_api.py serving on a free loopback port; the example job reads DEMO_API_URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "demo_api.py"), "--port", str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and "serving" in proc.stdout.readline()
        url = f"http://127.0.0.1:{port}"
        monkeypatch.setenv("DEMO_API_URL", url)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _submit_and_wait(ws: Workspace, job: Path, timeout: float = 120) -> dict[str, Any]:
    ledger = ws.ledger()
    run_id = submit(load_job(job), load_runner(ws.runner_file), ledger, None)
    return wait(run_id, ledger, timeout_s=timeout)


def _variant(job: Path, name: str, **replace: str) -> Path:
    """A copy of an example job beside it (same directory: its plugin modules stay importable)."""
    text = job.read_text()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = job.with_name(name)
    path.write_text(text)
    return path


def _orders_csv(examples: Path) -> pa.Table:
    return pacsv.read_csv(examples / "data/orders.csv")


def _data_files(directory: Path) -> list[Path]:
    """Published output: what a reader of the directory sees (names starting with _ are Dativo's own)."""
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.relative_to(directory).parts[0][0] not in "_.")


# --- the examples, embedded and on the worker pool ---------------------------------------------


def test_http_api_reader_example_embedded_and_on_workers(
    workspace: Workspace, fleet: Fleet, examples: Path, demo_api: str
) -> None:
    embedded = workspace.run(examples / "http_api_orders.yaml", workers=2)
    assert embedded["state"] == "committed", embedded
    assert embedded["partitions_total"] == 3  # one per region: the reader's plan()
    fleet.start_worker(concurrency=2)
    job = _variant(examples / "http_api_orders.yaml", "fleet.yaml", **{"table: api_orders": "table: api_fleet"})
    distributed = _submit_and_wait(workspace, job)
    assert distributed["state"] == "committed", distributed

    rows = workspace.read("examples.api_orders", "id")
    assert rows["id"].to_pylist() == list(range(1, 301))  # 3 regions x 100 orders over pages of 40
    assert rows.schema.field("amount").type == pa.float64() and rows.schema.field("paid").type == pa.bool_()
    assert workspace.read("examples.api_fleet", "id").equals(rows)
    labels = {p["label"] for p in workspace.ledger().partitions(distributed["run_id"])}
    assert labels == {"region=eu", "region=us", "region=apac"}


def test_jsonl_writer_example_embedded_and_on_workers(workspace: Workspace, fleet: Fleet, examples: Path) -> None:
    summary = workspace.run(examples / "csv_to_jsonl.yaml")
    assert summary["state"] == "committed", summary
    assert summary["snapshot_id"] is None and summary["table"] == str(examples / "out/orders_jsonl")
    files = _data_files(examples / "out/orders_jsonl")
    assert [f.name for f in files] == [f"{summary['run_id']}-p00000-a01-{i:05d}.jsonl" for i in range(3)]
    rows = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert [r["id"] for r in rows] == list(range(1, 301))
    assert rows[0] == {
        "id": 1,
        "region": "us",
        "customer": "customer-01",
        "amount": 17.31,
        "paid": True,
        "created_at": "2026-01-02T01:00:00+00:00",
    }
    assert summary["rows"] == 300 and summary["files"] == 3
    assert not (examples / "out/orders_jsonl/_dativo_staging" / summary["run_id"]).exists()

    fleet.start_worker()
    job = _variant(examples / "csv_to_jsonl.yaml", "fleet.yaml", **{"path: out/orders_jsonl": "path: out/fleet"})
    distributed = _submit_and_wait(workspace, job)
    assert distributed["state"] == "committed", distributed
    fleet_rows = [json.loads(line) for f in _data_files(examples / "out/fleet") for line in f.read_text().splitlines()]
    assert fleet_rows == rows


def test_duckdb_reader_example_embedded_and_on_workers(workspace: Workspace, fleet: Fleet, examples: Path) -> None:
    embedded = workspace.run(examples / "duckdb_orders.yaml", workers=2)
    assert embedded["state"] == "committed", embedded
    fleet.start_worker(concurrency=2)
    job = _variant(examples / "duckdb_orders.yaml", "fleet.yaml", **{"table: duckdb_orders": "table: duckdb_fleet"})
    distributed = _submit_and_wait(workspace, job)
    assert distributed["state"] == "committed", distributed
    assert distributed["partitions_total"] == 4

    orders = _orders_csv(examples)
    paid = sorted(orders.filter(orders["paid"])["id"].to_pylist())
    table = workspace.read("examples.duckdb_orders", "id")
    assert table["id"].to_pylist() == paid
    assert table.column_names == ["id", "region", "customer", "amount", "created_at"]
    assert workspace.read("examples.duckdb_fleet", "id").equals(table)
    per_partition = [p["rows"] for p in workspace.ledger().partitions(distributed["run_id"])]
    assert sum(per_partition) == len(paid) and all(per_partition), per_partition  # the hash split spreads the rows


# --- writer targets: staging, publishing, failures ---------------------------------------------

EXPLODING_READER = '''
import pyarrow as pa
from dativo_workers.plugins import DataReader, Partition, PluginSettings


class Settings(PluginSettings):
    explode_partition: int = 1


class ExplodingReader(DataReader):
    """Three partitions of 1,000 ids in batches of 250; one fails after its first batch until `fixed` exists."""

    name = "exploding"
    config_model = Settings

    def plan(self):
        return [Partition(index=i, spec={"i": i}, label=f"part-{i}") for i in range(3)]

    def schema(self):
        return pa.schema([("id", pa.int64())])

    def read(self, partition, schema):
        i = partition.spec["i"]
        for b in range(4):
            if b == 1 and i == self.config.explode_partition and not (self.context.base_dir / "fixed").exists():
                raise RuntimeError(f"source went away in partition {i}")
            yield pa.table({"id": pa.array(range(i * 1000 + b * 250, i * 1000 + (b + 1) * 250), pa.int64())})
'''


def _exploding_job(ws: Workspace, name: str, target: str) -> Path:
    ws.write("exploding.py", EXPLODING_READER)
    return ws.job(
        f"{name}.yaml",
        f"""
        tenant_id: acme
        source:
          reader: {{type: plugin, plugin_path: exploding.ExplodingReader}}
        target: {target}
        governance_overrides: {{pii_detection: false}}
        """,
    )


def test_reader_raising_mid_stream_fails_only_its_partition_and_the_worker_lives_on(
    workspace: Workspace, fleet: Fleet
) -> None:
    fleet.start_worker(concurrency=1)  # one pool process: it runs all three partitions, in turn
    job = _exploding_job(workspace, "explode", "{connector: parquet, path: out}")
    first = _submit_and_wait(workspace, job)
    assert first["state"] == "failed" and first["snapshot_id"] is None
    parts = workspace.ledger().partitions(first["run_id"])
    assert [p["state"] for p in parts] == ["done", "failed", "done"]
    assert parts[1]["error"] == "plugin exploding: RuntimeError: source went away in partition 1"
    assert "plugin exploding" in first["error"]
    assert len({p["worker"] for p in parts}) == 1, "the process that hit the plugin error went on to the next partition"
    assert all(p.poll() is None for p in fleet.processes)
    out = workspace.root / "out"
    assert _data_files(out) == [], "a failed run publishes nothing"
    staged = sorted(f.name for f in (out / "_dativo_staging" / first["run_id"]).iterdir())
    assert [n.split("-p", 1)[1][:9] for n in staged] == ["00000-a01", "00002-a01"]  # the failed attempt cleaned up

    (workspace.root / "fixed").touch()
    assert retry(first["run_id"], load_runner(workspace.runner_file), workspace.ledger(), None) == [1]
    summary = wait(first["run_id"], workspace.ledger(), timeout_s=120)
    assert summary["state"] == "committed", summary
    published = _data_files(out)
    assert [f.name.split("-p", 1)[1][:9] for f in published] == ["00000-a01", "00001-a02", "00002-a01"]
    ids = sorted(pq.read_table(out)["id"].to_pylist())
    assert ids == list(range(3000)), "every row once: the finished partitions' staged files were kept"
    assert not (out / "_dativo_staging" / first["run_id"]).exists()


FRAGILE_WRITER = '''
from dativo_workers.plugins import DataWriter, PluginSettings


class Settings(PluginSettings):
    fail_partition: int = 2


class FragileWriter(DataWriter):
    """One text file per attempt; the attempt of `fail_partition` fails on its second batch."""

    name = "fragile"
    config_model = Settings

    def __init__(self, config, context):
        super().__init__(config, context)
        self.path = context.output_dir / f"{context.file_prefix}.txt"
        self.handle = self.path.open("w")
        self.rows = self.batches = 0
        self.partition = int(context.file_prefix.rsplit("-p", 1)[1][:5])

    def write(self, batch):
        self.batches += 1
        if self.partition == self.config.fail_partition and self.batches == 2:
            raise OSError("disk quota exceeded")
        self.handle.writelines(f"{v}\\n" for v in batch.column("id").to_pylist())
        self.rows += batch.num_rows

    def close(self):
        self.handle.close()
        return [{"path": self.path.name, "rows": self.rows, "bytes": self.path.stat().st_size}]

    def abort(self):
        self.handle.close()
'''


def test_writer_raising_mid_stream_fails_only_its_partition(workspace: Workspace) -> None:
    workspace.write("fragile.py", FRAGILE_WRITER)
    job = _exploding_job(
        workspace, "fragile", "{writer: {type: plugin, plugin_path: fragile.FragileWriter}, path: out/text}"
    )
    (workspace.root / "fixed").touch()  # the reader behaves: only the writer fails
    summary = workspace.run(job, workers=2)
    assert summary["state"] == "failed"
    parts = workspace.ledger().partitions(summary["run_id"])
    assert [p["state"] for p in parts] == ["done", "done", "failed"]
    assert parts[2]["error"] == "plugin fragile: OSError: disk quota exceeded"
    assert parts[2]["attempts"] == 1, "a plugin's permanent error is not retried"
    out = workspace.root / "out/text"
    assert _data_files(out) == []
    staged = sorted(f.name for f in (out / "_dativo_staging" / summary["run_id"]).iterdir())
    assert len(staged) == 2 and not any("-p00002-" in n for n in staged), "the failed attempt's file was deleted"

    cancel(summary["run_id"], load_runner(workspace.runner_file), workspace.ledger())
    assert not any((out / "_dativo_staging" / summary["run_id"]).glob("*")), "cancel deletes the staged files"


def test_parquet_writer_target_quarantines_bad_rows_beside_the_output(workspace: Workspace) -> None:
    workspace.write("data/a.csv", "id,score\n1,0.5\n2,lots\n3,1.5\n")
    workspace.write(
        "asset.yaml",
        """
        apiVersion: v3.0.2
        kind: DataContract
        id: scores
        version: 1.0.0
        status: active
        schema: [{name: scores, properties: [{name: id, physicalType: bigint}, {name: score, physicalType: double}]}]
        """,
    )
    job = workspace.job(
        "q.yaml",
        """
        tenant_id: acme
        asset_path: asset.yaml
        source: {connector: csv, files: [{path: data/a.csv}]}
        target: {connector: parquet, path: out}
        bad_rows: {action: quarantine}
        """,
    )
    result = workspace.cli("run", str(job), "--json")
    assert result.code == 1, result.stderr  # committed, with quarantined rows
    [quarantined] = result.json["quarantine_files"]
    assert quarantined.startswith(str(workspace.root / "out/_dativo_quarantine" / result.json["run_id"]))
    bad = pq.read_table(quarantined).to_pylist()
    assert [(r["score"], r["_dativo_position"]) for r in bad] == [("lots", f"{workspace.root}/data/a.csv: line 3")]
    assert pq.read_table(workspace.root / "out").to_pylist() == [{"id": 1, "score": 0.5}, {"id": 3, "score": 1.5}]


def test_parquet_writer_target_appends_files_run_after_run(workspace: Workspace) -> None:
    workspace.write("data/a.csv", "id,name,score\n" + "".join(f"{i},n{i},{i / 4}\n" for i in range(5000)))
    job = workspace.job(
        "to_parquet.yaml",
        """
        tenant_id: acme
        source: {connector: csv, files: [{path: data/a.csv}]}
        target:
          connector: parquet
          path: lake/scores
          options: {compression: snappy}
        """,
    )
    first = workspace.run(job)
    second = workspace.run(job)
    assert first["state"] == second["state"] == "committed"
    lake = workspace.root / "lake/scores"
    files = _data_files(lake)
    assert [f.name.rsplit("-p", 1)[0] for f in files] == sorted([first["run_id"], second["run_id"]])
    assert pq.ParquetFile(files[0]).metadata.row_group(0).column(0).compression == "SNAPPY"
    table = pq.read_table(lake)
    assert table.num_rows == 10_000 and sorted(set(table["id"].to_pylist())) == list(range(5000))
    assert table.schema.field("score").type == pa.float64()


def test_writer_settings_are_validated_with_the_plugin_and_key_named(workspace: Workspace) -> None:
    workspace.write("data/a.csv", "id\n1\n")
    job = workspace.job(
        "bad.yaml",
        """
        tenant_id: acme
        source: {connector: csv, files: [{path: data/a.csv}]}
        target: {connector: parquet, path: out, options: {compresion: zstd}}
        """,
    )
    result = workspace.cli("run", str(job))
    assert result.code == 2
    assert "invalid settings for plugin 'parquet'" in result.stderr
    assert "target.options.compresion: unknown option" in result.stderr
    assert not (workspace.root / "out").exists()


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (
            "{writer: {type: plugin, plugin_path: missing_module.Writer}, path: out}",
            "target.writer.plugin_path: cannot import 'missing_module.Writer': ModuleNotFoundError",
        ),
        (
            "{writer: {type: plugin, plugin_path: broken_writer.Writer}, path: out}",
            "target.writer.plugin_path: cannot import 'broken_writer.Writer': ImportError: needs libfoo",
        ),
        (
            "{writer: {type: plugin, plugin_path: pathlib.Path}, path: out}",
            "'pathlib.Path' is not a subclass of DataWriter",
        ),
        (
            "{writer: {type: plugin, plugin_path: future_writer.Writer}, path: out}",
            "'future_writer.Writer': written for plugin API 99; this dativo-workers provides API 1: upgrade it",
        ),
        ("{connector: parqet, path: out}", "target.connector: no writer named 'parqet' (installed: "),
        ("{connector: parquet}", "target.path: required key is missing"),
        ("{connector: parquet, path: out, namespace: acme}", "target.namespace: only for iceberg targets"),
        ("{namespace: acme}", "target.table: required key is missing"),
        ("{namespace: acme, table: t, format: parquet}", "target.format: writer 'parquet' is not a table format"),
    ],
    ids=[
        "missing-module",
        "import-error",
        "not-a-writer",
        "newer-api",
        "unknown-writer",
        "no-path",
        "iceberg-key",
        "no-table",
        "not-a-format",
    ],
)
def test_target_mistakes_are_config_errors(workspace: Workspace, target: str, expected: str) -> None:
    workspace.write("broken_writer.py", "raise ImportError('needs libfoo')\n")
    workspace.write(
        "future_writer.py",
        "from dativo_plugins.parquet_writer import ParquetWriter\n\n\n"
        "class Writer(ParquetWriter):\n    api_version = 99\n",
    )
    workspace.write("data/a.csv", "id\n1\n")
    job = workspace.job(
        "bad.yaml",
        f"""
        tenant_id: acme
        source: {{connector: csv, files: [{{path: data/a.csv}}]}}
        target: {target}
        """,
    )
    result = workspace.cli("run", str(job))
    assert result.code == 2, result
    assert expected in " ".join(result.stderr.split()), result.stderr
    assert not (workspace.root / "out").exists() and not (workspace.state / "dativo.db").exists()


def test_a_reader_failing_to_plan_is_reported_by_name(workspace: Workspace) -> None:
    workspace.write(
        "unplannable.py",
        """
        from dativo_workers.plugins import DataReader


        class Reader(DataReader):
            name = "unplannable"

            def plan(self):
                raise KeyError("region")
        """,
    )
    job = workspace.job(
        "plan.yaml",
        """
        tenant_id: acme
        asset_path: asset.yaml
        source: {reader: {type: plugin, plugin_path: unplannable.Reader}}
        target: {namespace: acme, table: t}
        """,
    )
    workspace.write(
        "asset.yaml",
        """
        apiVersion: v3.0.2
        kind: DataContract
        id: t
        version: 1.0.0
        status: active
        schema: [{name: t, properties: [{name: id, physicalType: bigint}]}]
        """,
    )
    result = workspace.cli("run", str(job))
    assert result.code == 2
    assert "plugin unplannable: KeyError: 'region'" in result.stderr
    assert "Traceback" not in result.stderr


def test_writer_target_on_an_object_store(tmp_path: Path) -> None:
    """`target.path: s3://...`: the writer writes locally, its files are staged in the bucket and
    published there by the commit (moto's S3 server on loopback; credentials from the catalog)."""
    import boto3
    from moto.server import ThreadedMotoServer

    from dativo_workers.executor import execute

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        s3 = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
        )
        s3.create_bucket(Bucket="lake")
        ws = Workspace(tmp_path)
        ws.write(
            "runner.yaml",
            f"""
            runner:
              ledger_url: sqlite:///{tmp_path}/state/dativo.db
              catalogs:
                default:
                  type: sql
                  uri: sqlite:///{tmp_path}/state/catalog.db
                  warehouse: {tmp_path}/state/warehouse
                  s3.endpoint: {endpoint}
                  s3.region: us-east-1
                  s3.access-key-id: k
                  s3.secret-access-key: s
            """,
        )
        for i in range(3):
            ws.write(f"data/p{i}.csv", "id,v\n" + "".join(f"{i * 100 + j},{j / 2}\n" for j in range(100)))
        job = ws.job(
            "to_s3.yaml",
            """
            tenant_id: acme
            source: {connector: csv, files: [{path: "data/p*.csv"}]}
            target: {connector: parquet, path: "s3://lake/orders/"}
            """,
        )
        summary = execute(load_job(job), load_runner(ws.runner_file), 2)
        assert summary["state"] == "committed", summary
        assert summary["table"] == "s3://lake/orders" and summary["files"] == 3
        objects = s3.list_objects_v2(Bucket="lake").get("Contents", [])
        files = sorted(o["Key"] for o in objects if not o["Key"].endswith("/"))  # pyarrow leaves directory markers
        assert files == [f"orders/{summary['run_id']}-p{i:05d}-a01-00000.parquet" for i in range(3)], files
        fs = pa.fs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http", access_key="k", secret_key="s")
        ids = pq.read_table("lake/orders", filesystem=fs)["id"].to_pylist()
        assert sorted(ids) == list(range(300))
        assert not list((tmp_path).glob("dativo-*")), "no local temporary directory is left behind"
    finally:
        server.stop()


def test_reader_plugin_settings_are_validated_with_the_plugin_and_key_named(workspace: Workspace) -> None:
    workspace.write("exploding.py", EXPLODING_READER)
    job = workspace.job(
        "bad_reader.yaml",
        """
        tenant_id: acme
        source:
          reader: {type: plugin, plugin_path: exploding.ExplodingReader, config: {explode_partition: x, extra: 1}}
        target: {connector: parquet, path: out}
        """,
    )
    for command in ("run", "check"):
        result = workspace.cli(command, str(job))
        assert result.code == 2, (command, result.stdout, result.stderr)
        message = " ".join(result.stderr.split())
        assert "invalid settings for plugin 'exploding'" in message
        assert "source.reader.config.explode_partition: Input should be a valid integer" in message
        assert "source.reader.config.extra: unknown option" in message


def test_check_reports_a_writer_target(workspace: Workspace, examples: Path) -> None:
    result = workspace.cli("check", str(examples / "csv_to_jsonl.yaml"), "--json")
    assert result.code == 0, result.stderr
    checks = {c["name"]: c for c in result.json["checks"]}
    assert checks["source"]["ok"] and checks["target"] == {
        "name": "target",
        "ok": True,
        "detail": f"writer jsonl_files: files go to {examples / 'out/orders_jsonl'}",
    }
    assert not (examples / "out").exists(), "check writes nothing"


def test_a_plugin_calling_sys_exit_fails_only_its_partition_in_an_embedded_pool(workspace: Workspace) -> None:
    """`sys.exit()` in plugin code would end the pool process and with it every partition it had;
    it is the plugin's failure like any exception."""
    job = _exploding_job(workspace, "exiting", "{connector: parquet, path: out}")
    exiting = EXPLODING_READER.replace("raise RuntimeError(", "raise SystemExit(3) or (")
    assert exiting != EXPLODING_READER
    workspace.write("exploding.py", exiting)
    summary = workspace.run(job, workers=3)
    assert summary["state"] == "failed"
    parts = workspace.ledger().partitions(summary["run_id"])
    assert [p["state"] for p in parts] == ["done", "failed", "done"]
    assert parts[1]["error"] == "plugin exploding: SystemExit: 3"
