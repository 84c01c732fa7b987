"""Jobs that fail in every way that once printed or stored sensitive text, each run with a known
secret value, a known `${ENV}` password, a password in a URL and a known personal value; then a
scan of what they leave: stdout and stderr, ledger rows, Redis (messages and task results), worker
logs. Quarantine files alone keep the personal value (beside the table, which is their purpose)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest

from dativo_workers.config import load_job, load_runner
from dativo_workers.ingest import ingest_partition
from dativo_workers.pipeline import commit_run, plan_run
from dativo_workers.producer import submit, wait
from dativo_workers.secrets import SecretsConfig, mask_value, redact, use

from ..conftest import Workspace
from .fleet import BrokerRecorder, Fleet, leaks
from .services import service_unavailable
from .test_secrets_e2e import _redis_dump

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PG_DSN = os.environ.get("DATIVO_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
TOKEN = f"tok{uuid.uuid4().hex[:16]}"  # a resolved secret: ${secret:api_token}
ENV_PW = f"envpw{uuid.uuid4().hex[:12]}"  # a ${ENV} value: ${DATIVO_SCRUB_PW}
URL_PW = f"urlpw{uuid.uuid4().hex[:12]}"  # written into a DSN in the job itself
PII = f"9{uuid.uuid4().int % 100:02d}-{uuid.uuid4().int % 100:02d}-{uuid.uuid4().int % 10000:04d}"  # an SSN
ENV = {"DATIVO_SECRET__ACME__API_TOKEN": TOKEN, "DATIVO_SCRUB_PW": ENV_PW}

LEAKY_READER = """
import pyarrow as pa
from dativo_workers.plugins import DataReader, Partition, PluginSettings


class Settings(PluginSettings):
    fail_in: str = "read"


class LeakyReader(DataReader):
    \"\"\"A driver that quotes everything it was given in its errors.\"\"\"

    name = "leaky"
    config_model = Settings

    def _fail(self):
        c = self.context.connection
        raise RuntimeError(f"cannot log in to {c['dsn']} with {c['password']} and token {c['token'].reveal()}")

    def plan(self):
        if self.config.fail_in == "plan":
            self._fail()
        return [Partition(index=0, spec={}, label="p0")]

    def schema(self):
        return pa.schema([("id", pa.int64())])

    def read(self, partition, schema):
        self._fail()
        yield pa.table({"id": [1]})
"""

ASSET = """
apiVersion: v3.0.2
kind: DataContract
id: people
name: people
version: 1.0.0
status: active
schema:
  - name: people
    properties:
      - {name: id, physicalType: bigint, required: true}
      - {name: ref, physicalType: bigint}
      - {name: qty, physicalType: bigint}
"""


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    use(SecretsConfig(provider="env", cache_ttl_seconds=0))
    yield
    use(SecretsConfig())
    redact.forget_all()


def _leaky_job(ws: Workspace, name: str, fail_in: str) -> Path:
    ws.write("jobs/acme/leaky.py", LEAKY_READER)
    return ws.job(
        f"jobs/acme/{name}.yaml",
        f"""
        tenant_id: acme
        name: {name}
        source:
          reader: {{type: plugin, plugin_path: leaky.LeakyReader, config: {{fail_in: {fail_in}}}}}
          connection:
            dsn: "postgresql://app:{URL_PW}@db.internal:5432/shop"
            password: "${{DATIVO_SCRUB_PW}}"
            token: "${{secret:api_token}}"
        target: {{namespace: acme, table: {name}}}
        """,
    )


def _people_job(ws: Workspace, name: str, bad: str, action: str = "fail") -> Path:
    """`ref` holds personal data (classified PII by the job), `qty` does not; ``bad`` picks which is bad."""
    ws.write("jobs/acme/assets/people.yaml", ASSET)
    rows = ["id,ref,qty", "1,11,5", f"2,{PII},6" if bad == "ref" else "2,12,abc", "3,13,7"]
    ws.write(f"jobs/acme/data/{name}.csv", "\n".join(rows) + "\n")
    return ws.job(
        f"jobs/acme/{name}.yaml",
        f"""
        tenant_id: acme
        name: {name}
        asset_path: assets/people.yaml
        source: {{connector: csv, files: [{{path: data/{name}.csv}}]}}
        target: {{namespace: acme, table: {name}}}
        classification_overrides: {{ref: PII}}
        bad_rows: {{action: {action}}}
        """,
    )


def _ledger_bytes(ws: Workspace) -> bytes:
    return b"".join(p.read_bytes() for p in (ws.root / "state").glob("dativo.db*"))


def _assert_clean(*texts: str | bytes, url_password: bool = True) -> None:
    for text in texts:
        data = text.encode() if isinstance(text, str) else text
        for value in (TOKEN, ENV_PW, PII) + ((URL_PW,) if url_password else ()):
            assert value.encode() not in data, f"{value} leaked in: {data[:2000]!r}"


# ---------------------------------------------------------------------------------- embedded


def test_bad_row_of_a_pii_column_is_masked_in_errors_and_kept_in_quarantine(workspace: Workspace) -> None:
    result = workspace.cli("run", str(_people_job(workspace, "people_fail", "ref")), "--json")
    assert result.code == 2, result.stderr
    error = result.json["error"]
    assert f"column 'ref': cannot convert {mask_value(PII)} to int64" in error, error
    assert "people_fail.csv: line 3" in error  # still names the file and line
    status = workspace.cli("status", result.json["run_id"], "--json")
    _assert_clean(result.stdout, result.stderr, status.stdout, status.stderr, _ledger_bytes(workspace))

    # a column that is not classified shows its bad value
    shown = workspace.cli("run", str(_people_job(workspace, "qty_fail", "qty")), "--json")
    assert "column 'qty': cannot convert 'abc' to int64" in shown.json["error"], shown.json

    # quarantine: the file keeps the row as the source had it; the ledger and outputs do not
    result = workspace.cli("run", str(_people_job(workspace, "people_q", "ref", action="quarantine")), "--json")
    assert result.code == 1, result.stderr
    [path] = result.json["quarantine_files"]
    [row] = pq.read_table(path.removeprefix("file://")).to_pylist()
    assert row["ref"] == PII and mask_value(PII) in row["_dativo_reason"]
    _assert_clean(result.stdout, result.stderr, _ledger_bytes(workspace))


def test_plugin_errors_in_plan_and_read_are_scrubbed_on_screen_and_in_the_ledger(workspace: Workspace) -> None:
    planned = workspace.cli("run", str(_leaky_job(workspace, "leak_plan", "plan")))
    assert planned.code == 2 and "plugin leaky: RuntimeError: cannot log in to postgresql://app:***@" in planned.stderr
    read = workspace.cli("run", str(_leaky_job(workspace, "leak_read", "read")), "--json")
    assert read.code == 2 and read.json["state"] == "failed", read.stderr
    assert "cannot log in to postgresql://app:***@db.internal:5432/shop with *** and token ***" in read.json["error"]
    status = workspace.cli("status", read.json["run_id"], "--json")
    _assert_clean(planned.stdout, planned.stderr, read.stdout, read.stderr, status.stdout)
    # the ledger holds the job as written (its DSN included) but no resolved or expanded value
    ledger = _ledger_bytes(workspace)
    _assert_clean(ledger, url_password=False)
    assert b"${DATIVO_SCRUB_PW}" in ledger and b"${secret:api_token}" in ledger


# ------------------------------------------------------------------------- catalog errors


@pytest.fixture
def pg_catalog_db(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A catalog database whose name is a secret (its value shows up in the server's errors)."""
    name = f"scrub_{TOKEN}"
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__CATALOG_DB", name)
    try:
        admin = psycopg.connect(PG_DSN, autocommit=True)
    except psycopg.OperationalError as exc:
        service_unavailable("PostgreSQL", PG_DSN, exc)
    state = workspace.root / "state"
    workspace.runner_file.write_text(
        "runner:\n"
        f"  ledger_url: sqlite:///{state}/dativo.db\n"
        "  catalogs:\n"
        "    default:\n"
        "      type: sql\n"
        '      uri: "postgresql+psycopg://postgres@127.0.0.1:5432/${secret:catalog_db}"\n'
        f"      warehouse: {state}/warehouse\n"
    )
    try:
        yield name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_check_and_an_unexpected_catalog_error_are_scrubbed(workspace: Workspace, pg_catalog_db: str) -> None:
    job = _people_job(workspace, "people_ok", "qty", action="skip")
    check = workspace.cli("check", str(job), "--json")
    assert check.code == 2
    [catalog] = [c for c in check.json["checks"] if c["name"] == "catalog"]
    assert not catalog["ok"] and 'database "***" does not exist' in catalog["detail"], catalog
    run = workspace.cli("run", str(job))  # the catalog error is not one of ours: a traceback, scrubbed
    assert run.code == 2 and "Traceback" in run.stderr and 'database "***" does not exist' in run.stderr
    _assert_clean(check.stdout, check.stderr, run.stdout, run.stderr)
    assert pg_catalog_db not in check.stdout + run.stderr


def test_a_commit_error_is_scrubbed_in_the_ledger(workspace: Workspace, pg_catalog_db: str) -> None:
    with psycopg.connect(PG_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{pg_catalog_db}"')
    runner = load_runner(workspace.runner_file)
    ledger = workspace.ledger()
    planned = plan_run(load_job(_people_job(workspace, "people_commit", "qty", action="skip")), runner, ledger)
    with psycopg.connect(PG_DSN, autocommit=True) as admin:  # the catalog goes away before the commit
        admin.execute(f'DROP DATABASE "{pg_catalog_db}" WITH (FORCE)')
    for partition in planned.partitions:
        assert ingest_partition(planned.run_id, partition.index, runner, ledger)["status"] == "done"
    summary = commit_run(planned.run_id, runner, ledger)
    assert summary["state"] == "failed" and summary["error"].startswith("commit failed: "), summary
    assert 'database "***" does not exist' in summary["error"]
    assert pg_catalog_db.encode() not in _ledger_bytes(workspace)


# ------------------------------------------------------------------------------ distributed


@pytest.fixture
def fleet(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fleet]:
    monkeypatch.setenv("DATIVO_RUNNER_CONFIG", str(workspace.runner_file))
    fleet = Fleet(
        root=workspace.root,
        runner_file=workspace.runner_file,
        broker_url=os.environ["DATIVO_BROKER_URL"],
        result_backend=os.environ["DATIVO_RESULT_BACKEND"],
        extra_env=ENV,
    )
    fleet.flush()
    try:
        yield fleet
    finally:
        fleet.stop()
        fleet.flush()


def test_distributed_failures_leave_no_secret_env_value_url_password_or_pii(workspace: Workspace, fleet: Fleet) -> None:
    fleet.start_worker(concurrency=1)
    recorder = BrokerRecorder(fleet.broker_url)  # what Redis carries while it carries it
    runner = load_runner(workspace.runner_file)
    ledger = workspace.ledger()
    summaries: dict[str, dict[str, Any]] = {}
    for job in (_people_job(workspace, "people_dist", "ref"), _leaky_job(workspace, "leak_dist", "read")):
        run_id = submit(load_job(job), runner, ledger, None)
        summaries[job.stem] = wait(run_id, ledger, timeout_s=120)
    assert all(s["state"] == "failed" for s in summaries.values()), summaries
    assert mask_value(PII) in summaries["people_dist"]["error"]
    assert "with *** and token ***" in summaries["leak_dist"]["error"]

    dump = _redis_dump(fleet.broker_url) + _redis_dump(fleet.result_backend)
    # partition results are not stored (the ledger has them); the commit's result, which quotes
    # the partitions' errors, is: it was scanned
    assert b'"state": "failed"' in dump
    logs = fleet.log_text()
    assert "partition failed" in logs
    _assert_clean(dump, logs, json.dumps(summaries))
    traffic = recorder.stop().texts()
    assert any('"state": "failed"' in t for t in traffic)  # the failed run's result went through Redis
    for value in (TOKEN, ENV_PW, PII, URL_PW):  # as is, URL-quoted, JSON-escaped
        assert leaks(value, *traffic) == [], value
    _assert_clean(_ledger_bytes(workspace), url_password=False)
