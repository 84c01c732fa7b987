"""Fleet storage: ledger and Iceberg SQL catalog on PostgreSQL, warehouse on S3 (moto's server on loopback).

Workers on different hosts share nothing but Redis, Postgres and the object store, so these tests
keep no state on the local disk: every test gets its own Postgres schema (ledger + catalog tables)
and its own bucket; S3 credentials reach the engine only as secret references.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from pyiceberg.catalog.sql import SqlCatalog

from dativo_workers.config import RunnerConfig, load_job, load_runner
from dativo_workers.executor import execute
from dativo_workers.ledger import Ledger
from dativo_workers.storage import catalog_properties

from .fleet import dativo_command
from .s3 import S3Server
from .services import service_unavailable

pytestmark = pytest.mark.integration

PG_BASE = os.environ.get("DATIVO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SECRET_ENV = "DATIVO_SECRET__GLOBAL__S3"
LEDGER_TABLES = {"dativo_runs", "dativo_partitions", "dativo_fragments"}
CATALOG_TABLES = {"iceberg_tables", "iceberg_namespace_properties"}


# -- services -------------------------------------------------------------------------------


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A private schema in the test database; the URL puts it first on the search_path."""
    schema = f"dativo_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_BASE)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        service_unavailable("PostgreSQL", PG_BASE, exc.orig)
    url = sa.make_url(PG_BASE).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text("SET LOCAL lock_timeout = '20s'"))
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def schema_of(url: str) -> str:
    return sa.make_url(url).query["options"].split("=", 1)[1]


@dataclass
class Fleet:
    """One tenant's view of fleet storage: runner.yaml, bucket, Postgres schema."""

    root: Path
    pg_url: str
    s3: S3Server
    bucket: str

    @property
    def runner_file(self) -> Path:
        return self.root / "runner.yaml"

    @property
    def schema(self) -> str:
        return schema_of(self.pg_url)

    def runner(self) -> RunnerConfig:
        return load_runner(self.runner_file)

    def catalog(self) -> SqlCatalog:
        """A reader's own catalog, built from the same (resolved) properties the engine uses."""
        return SqlCatalog("default", **catalog_properties(self.runner().catalog("default"), "acme"))

    def sql(self, query: str, **params: Any) -> list[Any]:
        engine = sa.create_engine(PG_BASE)
        try:
            with engine.connect() as conn:
                return list(conn.execute(sa.text(query), params).all())
        finally:
            engine.dispose()

    def tables_in_schema(self) -> set[str]:
        rows = self.sql("SELECT table_name FROM information_schema.tables WHERE table_schema = :s", s=self.schema)
        return {r[0] for r in rows}

    def all_text(self) -> str:
        """Every row of every table in the schema (ledger and catalog), as text."""
        return "\n".join(
            str(row[0])
            for table in sorted(self.tables_in_schema())
            for row in self.sql(f'SELECT t::text FROM "{self.schema}"."{table}" t')
        )

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path


@pytest.fixture
def fleet(tmp_path: Path, pg_url: str, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Fleet:
    bucket = f"fleet-{uuid.uuid4().hex[:10]}"
    s3_server.client().create_bucket(Bucket=bucket)
    monkeypatch.setenv(SECRET_ENV, json.dumps({"access_key": s3_server.access_key, "secret_key": s3_server.secret_key}))
    monkeypatch.chdir(tmp_path)  # anything written "locally" by mistake would land here, where we look for it
    fleet = Fleet(tmp_path, pg_url, s3_server, bucket)
    fleet.write(
        "runner.yaml",
        f"""
        runner:
          broker_url: {os.environ["DATIVO_BROKER_URL"]}
          result_backend: {os.environ["DATIVO_RESULT_BACKEND"]}
          ledger_url: "{pg_url}"
          catalogs:
            default:
              type: sql
              uri: "{pg_url}"
              warehouse: s3://{bucket}/wh
              s3.endpoint: {s3_server.endpoint}
              s3.region: us-east-1
              s3.access-key-id: "${{secret:s3.access_key}}"
              s3.secret-access-key: "${{secret:s3.secret_key}}"
        """,
    )
    return fleet


# -- data -----------------------------------------------------------------------------------

PARTS = 3


def _people(fleet: Fleet, table: str) -> tuple[Path, list[dict[str, Any]]]:
    """Three CSV files (three partitions) and the rows they must become."""
    expected = []
    for part in range(PARTS):
        lines = ["id,name,score,day"]
        for j in range(4):
            i = part * 10 + j
            name = f"Zoë, {i} 北京" if j % 2 else f"plain {i}"
            lines.append(f'{i},"{name}",{i * 0.5},2024-01-{i % 28 + 1:02d}')
            expected.append({"id": i, "name": name, "score": i * 0.5, "day": dt.date(2024, 1, i % 28 + 1)})
        fleet.write(f"data/{table}/part-{part}.csv", "\n".join(lines) + "\n")
    job = fleet.write(
        f"{table}.yaml",
        f"""
        tenant_id: acme
        name: {table}
        source: {{connector: csv, files: [{{path: 'data/{table}/*.csv'}}]}}
        target: {{namespace: acme, table: {table}}}
        """,
    )
    return job, expected


def _assert_table_in_fleet_storage(
    fleet: Fleet, table: str, summary: dict[str, Any], expected: list[dict[str, Any]]
) -> None:
    assert summary["state"] == "committed", summary
    assert summary["partitions_total"] == PARTS and summary["rows"] == len(expected)
    location = f"s3://{fleet.bucket}/wh/acme/{table}"
    assert summary["table_location"] == location

    # read back with pyiceberg alone: a reader on another host needs only the catalog properties
    loaded = fleet.catalog().load_table(("acme", table))
    assert loaded.location() == location
    assert loaded.metadata_location.startswith(f"{location}/metadata/")
    assert loaded.scan().to_arrow().sort_by("id").to_pylist() == expected
    snapshots = loaded.snapshots()
    assert len(snapshots) == 1 and snapshots[0].summary["dativo.run-id"] == summary["run_id"]
    data_files = [task.file.file_path for task in loaded.scan().plan_files()]
    assert len(data_files) == summary["files"] >= PARTS
    assert all(path.startswith(f"{location}/data/") for path in data_files)

    # data files and metadata are objects in the bucket ...
    keys = set(fleet.s3.keys(fleet.bucket))
    prefix = f"wh/acme/{table}/"
    assert {p.removeprefix(f"s3://{fleet.bucket}/") for p in data_files} <= keys
    assert loaded.metadata_location.removeprefix(f"s3://{fleet.bucket}/") in keys
    assert any(k.startswith(prefix + "metadata/") and k.endswith(".avro") for k in keys)  # manifests
    assert [k for k in keys if k.endswith("/")] == []  # no directory marker objects
    # ... and nothing landed on the local disk
    local = [p for pattern in ("*.parquet", "*.avro", "*.metadata.json", "*.db") for p in fleet.root.rglob(pattern)]
    assert local == [] and not (fleet.root / ".dativo").exists()

    # ledger and catalog rows live in the test's own Postgres schema
    assert fleet.tables_in_schema() >= LEDGER_TABLES | CATALOG_TABLES
    s = fleet.schema
    runs = fleet.sql(f'SELECT state, snapshot_id FROM "{s}".dativo_runs WHERE run_id = :r', r=summary["run_id"])
    assert runs == [("committed", summary["snapshot_id"])]
    parts = fleet.sql(f'SELECT state FROM "{s}".dativo_partitions WHERE run_id = :r', r=summary["run_id"])
    assert [p[0] for p in parts] == ["done"] * PARTS
    paths = fleet.sql(f'SELECT path FROM "{s}".dativo_fragments WHERE run_id = :r', r=summary["run_id"])
    assert sorted(p[0] for p in paths) == sorted(data_files)
    entry = fleet.sql(f'SELECT metadata_location FROM "{s}".iceberg_tables WHERE table_name = :t', t=table)
    assert entry == [(loaded.metadata_location,)]
    assert fleet.s3.secret_key not in fleet.all_text()


# -- tests ----------------------------------------------------------------------------------


def test_embedded_run_uses_postgres_and_s3(fleet: Fleet) -> None:
    job, expected = _people(fleet, "people")
    summary = execute(load_job(job), fleet.runner(), workers=2)
    _assert_table_in_fleet_storage(fleet, "people", summary, expected)


@contextmanager
def _producer_app(runner: RunnerConfig) -> Iterator[None]:
    """Point this process's Celery app (the producer side) at the runner's broker and backend.

    `dativo_workers.celery_app` builds its app from `load_runner()` at import; when another test
    imported it first, its settings (and cached connections) belong to that test's runner.
    """
    from dativo_workers import celery_app as module

    app = module.app
    settings = module.celery_settings(runner)
    previous = {key: app.conf.get(key) for key in settings}

    def reset_connections() -> None:
        app._pool = None
        with suppress(AttributeError, KeyError):
            app.__dict__["amqp"]._producer_pool = None
        app._backend_cache = None
        with suppress(AttributeError):
            del app._local.backend

    app.conf.update(settings)
    reset_connections()
    try:
        yield
    finally:
        app.conf.update(previous)
        reset_connections()
        module.worker_runner.cache_clear()


@contextmanager
def _celery_worker(fleet: Fleet) -> Iterator[Path]:
    log = fleet.root / "worker.log"
    cmd = [*dativo_command(), "--log-level", "info", "worker", "-c", "1", "--queues", "dativo",
           "--hostname", f"fleet-{uuid.uuid4().hex[:8]}@%h"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("DATIVO_BROKER_URL", "DATIVO_RESULT_BACKEND")}
    env["DATIVO_RUNNER_CONFIG"] = str(fleet.runner_file)  # the worker's broker, ledger and catalog
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=fleet.root, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while b" ready." not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"celery worker did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)
        yield log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def private_redis(fleet: Fleet) -> Iterator[None]:
    """The broker and result dbs of this test process (tests/integration/services.py), emptied."""
    runner = fleet.runner()
    clients = [redis.Redis.from_url(url) for url in (runner.broker_url, runner.result_backend)]
    try:
        for client in clients:
            client.flushdb()
    except redis.ConnectionError as exc:
        service_unavailable("Redis", runner.broker_url, exc)
    yield
    for client in clients:
        client.flushdb()
        client.close()


def test_distributed_run_on_a_real_worker_uses_postgres_and_s3(
    fleet: Fleet, private_redis: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The app is built at import from this process's own settings (other tests rely on them);
    # _producer_app re-points it at this test's broker and puts it back afterwards.
    import dativo_workers.celery_app  # noqa: F401
    from dativo_workers.producer import submit, wait

    # tests/conftest.py may point DATIVO_BROKER_URL at a per-xdist-worker db: this test uses its own
    for name in ("DATIVO_BROKER_URL", "DATIVO_RESULT_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATIVO_RUNNER_CONFIG", str(fleet.runner_file))
    job, expected = _people(fleet, "people_dist")
    runner = fleet.runner()
    ledger = Ledger(runner.ledger_url)
    try:
        with _producer_app(runner), _celery_worker(fleet) as log:
            run_id = submit(load_job(job), runner, ledger, queue=None)
            summary = wait(run_id, ledger, poll_seconds=0.2, timeout_s=120)
            assert summary["state"] == "committed", f"{summary}\n{log.read_text(errors='replace')}"
        _assert_table_in_fleet_storage(fleet, "people_dist", summary, expected)
        workers = fleet.sql(f'SELECT DISTINCT worker FROM "{fleet.schema}".dativo_partitions')
        assert workers and all(w[0] and not w[0].endswith(f":{os.getpid()}") for w in workers)  # not the producer
        assert fleet.s3.secret_key not in log.read_text(errors="replace")
    finally:
        ledger.dispose()


def test_wrong_s3_secret_fails_clearly_without_creating_the_table(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "wrong-" + uuid.uuid4().hex
    monkeypatch.setenv(SECRET_ENV, json.dumps({"access_key": fleet.s3.access_key, "secret_key": wrong}))
    job, _ = _people(fleet, "denied")
    summary = execute(load_job(job), fleet.runner(), workers=1)

    assert summary["state"] == "failed", summary
    error = summary["error"]
    # the store's own verdict, and where the worker was writing
    assert "SIGNATURE_DOES_NOT_MATCH" in error and "Check your key" in error, error
    assert f"bucket '{fleet.bucket}'" in error and "wh/acme/denied/data/" in error, error
    assert summary["partitions_failed"] == PARTS and summary["snapshot_id"] is None

    monkeypatch.setenv(SECRET_ENV, json.dumps({"access_key": fleet.s3.access_key, "secret_key": fleet.s3.secret_key}))
    assert not fleet.catalog().table_exists(("acme", "denied"))
    assert [k for k in fleet.s3.keys(fleet.bucket) if k.endswith((".parquet", ".json", ".avro"))] == []

    ledger_text = fleet.all_text()
    assert summary["run_id"] in ledger_text  # the scan does see the run's rows
    for secret in (wrong, fleet.s3.secret_key):
        assert secret not in ledger_text
        assert secret not in json.dumps(summary)
