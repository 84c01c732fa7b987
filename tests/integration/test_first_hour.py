"""A new user's first hour (issue #18), through the CLI as a user runs it: subprocesses, real
files, exact exit codes, and messages that name the column, file, line or variable."""

from __future__ import annotations

import decimal
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ..conftest import CliResult, Workspace, invoke_cli
from .fleet import Fleet

pytestmark = pytest.mark.integration

PG_HOST = os.environ.get("DATIVO_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("DATIVO_TEST_PG_PORT", "5432"))

CSV_JOB = """
tenant_id: acme
name: evo
source:
  connector: csv
  files: [{path: data/a.csv}]
target:
  namespace: acme
  table: evo
"""

PARQUET_JOB = """
tenant_id: acme
name: pevo
source:
  connector: parquet
  files: [{path: data/a.parquet}]
target:
  namespace: acme
  table: pevo
"""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _run_files(ws: Workspace, table: str, run_id: str) -> list[Path]:
    """Every file a run wrote under the table location (data fragments, quarantine)."""
    root = ws.state / "warehouse" / Path(*table.split("."))
    return [p for p in root.rglob("*") if p.is_file() and run_id in str(p)]


# -- 1. schema evolution ------------------------------------------------------------------


def test_allowed_promotions_are_applied_and_reported(workspace: Workspace) -> None:
    ws = workspace
    path = ws.root / "data" / "a.parquet"
    path.parent.mkdir(parents=True)
    first = {
        "id": pa.array([1], pa.int32()),
        "f": pa.array([1.5], pa.float32()),
        "d": pa.array([decimal.Decimal("1.25")], pa.decimal128(5, 2)),
        "gone": ["x"],
    }
    pq.write_table(pa.table(first), path)
    job = ws.job("job.yaml", PARQUET_JOB)
    created = ws.cli("run", str(job), "--json")
    assert created.code == 0, created.stderr
    assert created.json["schema_changes"]["created"]
    assert [c["column"] for c in created.json["schema_changes"]["added"]] == ["id", "f", "d", "gone"]

    second = {
        "id": pa.array([2**40], pa.int64()),
        "f": pa.array([2.5], pa.float64()),
        "d": pa.array([decimal.Decimal("123456.25")], pa.decimal128(9, 2)),
        "new": [3],
    }
    pq.write_table(pa.table(second), path)
    check = ws.cli("check", str(job), "--json")
    assert check.code == 0, check.stdout
    schema_check = next(c for c in check.json["checks"] if c["name"] == "schema")
    assert schema_check["ok"] and "widens id int -> long" in schema_check["detail"]

    result = ws.cli("run", str(job), "--json")
    assert result.code == 0, result.stderr
    assert result.json["schema_changes"] == {
        "created": False,
        "added": [{"column": "new", "type": "long"}],
        "dropped": [{"column": "gone", "type": "string"}],
        "type_changed": [
            {"column": "id", "from": "int", "to": "long"},
            {"column": "f", "from": "float", "to": "double"},
            {"column": "d", "from": "decimal(5, 2)", "to": "decimal(9, 2)"},
        ],
        "cast": [],
        "rejected": [],
        "ignored": [],
    }
    table = ws.table("acme.pevo")
    assert {f.name: str(f.field_type) for f in table.schema().fields} == {
        "id": "long",
        "f": "double",
        "d": "decimal(9, 2)",
        "gone": "string",
        "new": "long",
    }
    rows = ws.read("acme.pevo", sort_by="id").to_pylist()
    assert rows == [
        {"id": 1, "f": 1.5, "d": decimal.Decimal("1.25"), "gone": "x", "new": None},
        {"id": 2**40, "f": 2.5, "d": decimal.Decimal("123456.25"), "gone": None, "new": 3},
    ]


def test_incompatible_type_change_fails_before_writing_and_is_recorded(workspace: Workspace) -> None:
    ws = workspace
    ws.write("data/a.csv", "id,v\n1,1.5\n")
    job = ws.job("job.yaml", CSV_JOB)
    assert ws.cli("run", str(job)).code == 0
    before = ws.table("acme.evo").metadata_location

    ws.write("data/a.csv", "id,v\n2,abc\n")
    text = ws.cli("run", str(job))
    assert text.code == 2, text.stderr
    assert "Traceback" not in text.stderr
    message = _one_line(text.stderr)
    for fragment in ("job.yaml", "column 'v'", "the table has double", "the source now brings string"):
        assert fragment in message, (fragment, message)
    assert "asset" in message and "bad_rows" in message and "on_type_change: cast" in message
    assert "snapshot_id" not in text.stdout  # a failed run has none to show

    result = ws.cli("run", str(job), "--json")
    assert result.code == 2
    summary = result.json
    assert summary["state"] == "failed" and summary["snapshot_id"] is None
    assert summary["schema_changes"]["rejected"] == [{"column": "v", "table_type": "double", "source_type": "string"}]
    assert "column 'v'" in summary["error"]
    # nothing was written: same table metadata, no fragment of the refused run
    assert ws.table("acme.evo").metadata_location == before
    assert _run_files(ws, "acme.evo", summary["run_id"]) == []

    runs = ws.cli("runs", "--json")
    assert runs.code == 0
    listed = {r["run_id"]: r for r in runs.json["runs"]}
    assert listed[summary["run_id"]]["state"] == "failed"
    assert "column 'v'" in listed[summary["run_id"]]["error"]
    status = ws.cli("status", summary["run_id"], "--json")
    assert status.code == 0 and status.json["state"] == "failed"

    retry = ws.cli("retry", summary["run_id"])
    assert retry.code == 2 and "refused before reading anything" in _one_line(retry.stderr)
    assert ws.table("acme.evo").metadata_location == before

    check = ws.cli("check", str(job), "--json")
    assert check.code == 2
    by_name = {c["name"]: c for c in check.json["checks"]}
    assert by_name["catalog"]["ok"]
    assert not by_name["schema"]["ok"] and "column 'v'" in by_name["schema"]["detail"]
    plain = ws.cli("check", str(job))
    assert plain.code == 2
    line = next(line for line in plain.stdout.splitlines() if line.startswith("FAIL"))
    assert line.startswith("FAIL  schema: table acme.evo cannot take") and "load into a new table." in line


def test_type_change_cast_sends_bad_values_to_bad_rows(workspace: Workspace) -> None:
    ws = workspace
    ws.write("data/a.csv", "id,v\n1,1.5\n")
    assert ws.cli("run", str(ws.job("job.yaml", CSV_JOB))).code == 0
    ws.write("data/a.csv", "id,v\n2,abc\n3,2.5\n")
    job = ws.job(
        "cast.yaml",
        CSV_JOB + "  schema_evolution: {on_type_change: cast}\nbad_rows: {action: quarantine}\n",
    )
    result = ws.cli("run", str(job), "--json")
    assert result.code == 1, result.stderr  # committed, with a bad row
    assert result.json["bad_rows"] == 1
    assert result.json["schema_changes"]["cast"] == [{"column": "v", "table_type": "double", "source_type": "string"}]
    assert str(ws.table("acme.evo").schema().find_field("v").field_type) == "double"
    assert ws.read("acme.evo", sort_by="id").to_pylist() == [{"id": 1, "v": 1.5}, {"id": 3, "v": 2.5}]


def test_type_declared_in_the_asset_casts_values(workspace: Workspace) -> None:
    ws = workspace
    ws.write("data/a.csv", "id,v\n1,1.5\n")
    assert ws.cli("run", str(ws.job("job.yaml", CSV_JOB))).code == 0
    ws.write("data/a.csv", "id,v\n2,abc\n3,2.5\n")
    ws.write(
        "assets/evo.yaml",
        """
        apiVersion: v3.0.2
        kind: DataContract
        id: evo
        version: 1.0.0
        status: active
        schema:
          - name: evo
            properties:
              - {name: id, physicalType: bigint}
              - {name: v, physicalType: double}
        """,
    )
    job = ws.job(
        "asset.yaml",
        CSV_JOB.replace("name: evo", "name: evo\nasset_path: assets/evo.yaml") + "bad_rows: {action: skip}\n",
    )
    result = ws.cli("run", str(job), "--json")
    assert result.code == 1, result.stderr
    assert result.json["bad_rows"] == 1 and result.json["rows"] == 1


def test_decimal_scale_change_is_refused(workspace: Workspace) -> None:
    ws = workspace
    path = ws.root / "data" / "a.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"d": pa.array([decimal.Decimal("1.25")], pa.decimal128(5, 2))}), path)
    job = ws.job("job.yaml", PARQUET_JOB)
    assert ws.cli("run", str(job)).code == 0
    pq.write_table(pa.table({"d": pa.array([decimal.Decimal("1.250")], pa.decimal128(9, 3))}), path)
    result = ws.cli("run", str(job), "--json")
    assert result.code == 2
    assert result.json["schema_changes"]["rejected"] == [
        {"column": "d", "table_type": "decimal(5, 2)", "source_type": "decimal(9, 3)"}
    ]
    assert json.loads(ws.cli("runs", "--json").stdout)["runs"][0]["state"] == "failed"


# -- 3. CLI behaviour -----------------------------------------------------------------------


def test_version_help_completion_and_log_options(workspace: Workspace) -> None:
    ws = workspace
    version = ws.cli("--version")
    assert version.code == 0 and version.stdout.strip() == "dativo 0.1.0"
    for args in (["-h"], ["runs", "-h"], ["state", "show", "-h"]):
        helped = ws.cli(*args)
        assert helped.code == 0 and "Usage: dativo" in helped.stdout, args
    assert "--install-completion" in ws.cli("-h").stdout
    # completion looks at the process it runs in (its shell, its argv): a process of its own
    shown = ws.cli_process("--show-completion", "bash", env={"SHELL": "/bin/bash"})
    assert shown.code == 0 and "_dativo_completion" in shown.stdout
    completed = ws.cli_process(env={"_DATIVO_COMPLETE": "complete_bash", "COMP_WORDS": "dativo ru", "COMP_CWORD": "1"})
    assert completed.stdout.split() == ["run", "runs"]

    for option, value in (("--log-level", "loud"), ("--log-format", "xml")):
        refused = ws.cli(option, value, "runs")
        assert refused.code == 2
        message = _one_line(refused.stderr)
        assert f"Invalid value for '{option}'" in message and repr(value) in message
    assert ws.cli("--log-level", "INFO", "runs").code == 0  # case does not matter


def test_runs_lists_whole_ids_start_and_duration(workspace: Workspace) -> None:
    ws = workspace
    empty = ws.cli("runs")
    assert empty.code == 0 and empty.stdout == "" and "no runs in the ledger" in empty.stderr
    assert ws.cli("runs", "--json").json == {"runs": []}

    ws.write("data/a.csv", "id,v\n1,1.5\n")
    ws.write("data/b.csv", "id,v\n2,2.5\n3,x\n")
    job = ws.job("job.yaml", CSV_JOB.replace("data/a.csv", "data/*.csv"))
    failed = ws.cli("run", str(job), "-w", "1", env={"COLUMNS": "40"})
    assert failed.code == 2
    # the partition's error once (not also as log lines), naming file, line and column
    assert failed.stderr.count("cannot convert 'x'") == 1, failed.stderr
    assert "b.csv: line 3: column 'v'" in failed.stderr
    assert "snapshot_id" not in failed.stdout
    location = next(line for line in failed.stdout.splitlines() if line.startswith("table_location"))
    assert location.split()[-1].endswith("/warehouse/acme/evo")  # whole, at 40 columns

    ws.write("data/b.csv", "id,v\n2,2.5\n")
    ok = ws.cli("run", str(job), "--json", "-w", "1")
    assert ok.code == 0
    committed = ok.json

    listing = ws.cli("runs", env={"COLUMNS": "40"})
    lines = listing.stdout.splitlines()
    assert len(lines) == 2  # no header, not a terminal
    fields = lines[0].split("\t")
    assert fields[0] == committed["run_id"] and fields[1] == "committed"
    assert len(fields) == 9 and fields[4:7] == ["acme", "evo", "acme.evo"] and fields[7] == "2"
    assert len(fields[2]) == len("2026-01-01 00:00:00") and fields[3].endswith("s")
    assert lines[1].split("\t")[1] == "failed"
    assert ws.cli("status", lines[1].split("\t")[0]).code == 0  # the id copies straight into status

    listed = ws.cli("runs", "--json").json["runs"]
    assert set(listed[0]) == set(committed)  # the same keys as `run --json`
    same = ("run_id", "state", "rows", "files", "bytes", "snapshot_id", "started_at", "schema_changes")
    assert {k: listed[0][k] for k in same} == {k: committed[k] for k in same}
    assert listed[1]["state"] == "failed" and "line 3" in listed[1]["error"]

    status = ws.cli("status", listed[1]["run_id"])
    assert status.stderr.count("cannot convert 'x'") == 1
    assert "snapshot_id" not in status.stdout
    ledger_url = f"sqlite:///{ws.state}/dativo.db"
    assert ws.cli("runs", "--tenant", "other").stderr.strip() == f"no runs for tenant other in the ledger {ledger_url}"


@pytest.fixture
def pg_schema() -> Iterator[tuple[psycopg.Connection[Any], str]]:
    schema = f"dativo_fh_{uuid.uuid4().hex[:10]}"
    conn = psycopg.connect(f"host={PG_HOST} port={PG_PORT} dbname=test user=postgres", autocommit=True)
    conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield conn, schema
    finally:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.close()


def test_discover_unknown_estimate_and_runner_option(
    workspace: Workspace, pg_schema: tuple[psycopg.Connection[Any], str]
) -> None:
    ws = workspace
    conn, schema = pg_schema
    conn.execute(f'CREATE TABLE "{schema}".fresh (id int PRIMARY KEY, name text)')  # never analyzed
    ws.write("secrets/acme/pg_user", "postgres")
    runner = ws.write(
        "other-runner.yaml",
        ws.runner_file.read_text()
        + f"  secrets:\n    provider: filesystem\n    filesystem: {{dir: {ws.root}/secrets}}\n",
    )
    job = ws.job(
        "pg.yaml",
        f"""
        tenant_id: acme
        source:
          connector: postgres
          connection: {{host: {PG_HOST}, port: {PG_PORT}, database: test, user: "${{secret:pg_user}}"}}
          tables: [{{name: {schema}.fresh}}]
        target: {{namespace: acme, table: fresh}}
        """,
    )
    without = ws.cli("discover", str(job))  # the default runner's env provider lacks the secret
    assert without.code == 2 and "pg_user" in without.stderr

    found = ws.cli("discover", str(job), "--runner", str(runner), "--json")
    assert found.code == 0, found.stderr
    fresh = next(o for o in found.json["objects"] if o["name"] == f"{schema}.fresh")
    assert fresh["row_estimate"] is None and fresh["primary_key"] == ["id"]
    text = ws.cli("discover", str(job), "--runner", str(runner))
    row = next(line.split("\t") for line in text.stdout.splitlines() if line.startswith(f"{schema}.fresh"))
    assert row[1:4] == ["table", "?", "id"] and row[4].startswith("id ")


# -- 4. where state lives ---------------------------------------------------------------------


def _dativo(cwd: Path, *args: str, env: dict[str, str] | None = None, installed: bool = False) -> CliResult:
    """`dativo` as a user runs it: no DATIVO_RUNNER_CONFIG, only its cwd. In-process (see
    invoke_cli) unless ``installed``: then the console script the package installs, in a process."""
    if not installed:
        return invoke_cli(args, cwd, env, unset=("DATIVO_RUNNER_CONFIG",))
    base = {k: v for k, v in os.environ.items() if k != "DATIVO_RUNNER_CONFIG"}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "dativo"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**base, **(env or {})},
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def test_init_scaffolds_a_project_used_from_any_subdirectory(tmp_path: Path) -> None:
    made = _dativo(tmp_path, "init", "shop", installed=True)
    assert made.code == 0, made.stderr
    project = tmp_path / "shop"
    for relative in ("dativo.yaml", "config/runner.yaml", "jobs/example.yaml", "assets/example.yaml"):
        assert (project / relative).is_file(), relative
        assert f"created  {relative}" in made.stdout
    assert ".dativo/" in (project / ".gitignore").read_text().splitlines()

    again = _dativo(tmp_path, "init", "shop")
    assert again.code == 2 and f"{project / 'dativo.yaml'} already exists" in _one_line(again.stderr)

    # from a subdirectory: the project's runner config and its one .dativo/ at the root
    result = _dativo(project / "jobs", "run", "example.yaml", "--json")
    assert result.code == 0, result.stderr
    assert result.json["rows"] == 3
    assert result.json["table_location"] == (project / ".dativo" / "warehouse" / "demo" / "example").as_uri()
    assert (project / ".dativo" / "dativo.db").is_file()
    assert not (project / "jobs" / ".dativo").exists()
    listed = _dativo(project / "assets", "runs", "--json")
    assert [r["run_id"] for r in listed.json["runs"]] == [result.json["run_id"]]

    # an existing .gitignore keeps its lines; init into an existing directory keeps its files
    other = tmp_path / "other"
    other.mkdir()
    (other / ".gitignore").write_text("*.pyc")
    (other / "jobs").mkdir()
    (other / "jobs" / "example.yaml").write_text("# mine\n")
    kept = _dativo(other, "init")
    assert kept.code == 0 and "kept     jobs/example.yaml" in kept.stdout
    assert (other / "jobs" / "example.yaml").read_text() == "# mine\n"
    assert (other / ".gitignore").read_text().splitlines()[0] == "*.pyc"
    assert ".dativo/" in (other / ".gitignore").read_text().splitlines()


def test_an_existing_state_directory_marks_the_root(tmp_path: Path) -> None:
    root = tmp_path / "adhoc"
    (root / "data").mkdir(parents=True)
    (root / "data" / "a.csv").write_text("id,v\n1,x\n")
    (root / "job.yaml").write_text(CSV_JOB)
    first = _dativo(root, "run", "job.yaml", "--json")
    assert first.code == 0, first.stderr
    assert (root / ".dativo").is_dir()
    (root / "sub" / "deeper").mkdir(parents=True)
    second = _dativo(root / "sub" / "deeper", "run", "../../job.yaml", "--json")
    assert second.code == 0, second.stderr
    assert not (root / "sub" / "deeper" / ".dativo").exists()
    assert len(_dativo(root / "sub", "runs", "--json").json["runs"]) == 2


def test_project_file_mistakes_name_file_line_and_key(tmp_path: Path) -> None:
    (tmp_path / "dativo.yaml").write_text("name: p\nrunnr: x.yaml\n")
    bad = _dativo(tmp_path, "runs")
    assert bad.code == 2
    assert f"{tmp_path / 'dativo.yaml'}:2: runnr: unknown key" in _one_line(bad.stderr)
    (tmp_path / "dativo.yaml").write_text("name: p\nrunner: conf/missing.yaml\n")
    missing = _dativo(tmp_path / ".", "runs")
    assert missing.code == 2 and f"runner: {tmp_path / 'conf/missing.yaml'} does not exist" in _one_line(missing.stderr)


# -- 5. runner settings from the environment ------------------------------------------------


def test_runner_env_overrides_and_bad_values_name_the_variable(workspace: Workspace) -> None:
    ws = workspace
    bad = ws.cli("runs", env={"DATIVO_LEASE_SECONDS": "abc-hunter2"})
    assert bad.code == 2 and "Traceback" not in bad.stderr
    message = _one_line(bad.stderr)
    assert "DATIVO_LEASE_SECONDS: Input should be a valid integer" in message
    assert "abc-hunter2" not in message and "errors.pydantic.dev" not in message  # no value, no raw dump

    low = ws.cli("runs", env={"DATIVO_RECONCILE_SECONDS": "0", "DATIVO_SECRETS__VAULT__URLL": "x"})
    assert low.code == 2
    message = _one_line(low.stderr)
    assert "DATIVO_RECONCILE_SECONDS: Input should be greater than or equal to 1" in message
    assert "DATIVO_SECRETS__VAULT__URLL: unknown runner key (runner setting secrets.vault.urll)" in message

    not_json = ws.cli("runs", env={"DATIVO_CATALOGS": "default"})
    assert not_json.code == 2 and "DATIVO_CATALOGS is not valid JSON" in _one_line(not_json.stderr)

    # a bad value in the file names file and line, one from the environment its variable
    ws.write("runner.yaml", ws.runner_file.read_text() + "  lease_seconds: soon\n")
    both = ws.cli("runs", env={"DATIVO_WORKERS": "-1"})
    assert both.code == 2
    message = _one_line(both.stderr)
    assert f"{ws.runner_file}:8: runner.lease_seconds: Input should be a valid integer" in message
    assert "DATIVO_WORKERS: Input should be greater than or equal to 0" in message


def test_runner_env_values_win_over_the_file(workspace: Workspace) -> None:
    ws = workspace
    ws.write("data/a.csv", "id,v\n1,x\n")
    job = ws.job("job.yaml", CSV_JOB)
    elsewhere = ws.root / "elsewhere"
    env = {
        "DATIVO_LEDGER_URL": f"sqlite:///{ws.root}/env-ledger.db",
        "DATIVO_CATALOGS__DEFAULT__WAREHOUSE": str(elsewhere),  # the file's catalog uri stays
        "DATIVO_SECRET__ACME__ANYTHING": "{not a runner key",  # secret values are not settings
    }
    result = ws.cli("run", str(job), "--json", env=env)
    assert result.code == 0, result.stderr
    assert result.json["table_location"] == (elsewhere / "acme" / "evo").as_uri()
    assert ws.table("acme.evo").metadata.location == (elsewhere / "acme" / "evo").as_uri()  # the file's catalog db
    assert (ws.root / "env-ledger.db").is_file() and not (ws.state / "dativo.db").exists()
    assert [r["run_id"] for r in ws.cli("runs", "--json", env=env).json["runs"]] == [result.json["run_id"]]


# -- 7. plugins as simple as the docs' first example ---------------------------------------

MINIMAL_PLUGINS = """
import json
from urllib.request import urlopen

from dativo_workers.plugins import DataReader, DataWriter


class ApiReader(DataReader):
    def read_batch(self, batch_size):
        with urlopen(self.config["api_url"]) as response:
            rows = json.load(response)
        for start in range(0, len(rows), batch_size):
            yield rows[start : start + batch_size]


class LinesWriter(DataWriter):
    def __init__(self, config, context):
        super().__init__(config, context)
        self.rows = []

    def write(self, batch):
        self.rows += batch.to_pylist()

    def close(self):
        path = self.context.output_dir / f"{self.context.file_prefix}{self.config['suffix']}"
        path.write_text("".join(json.dumps(row) + "\\n" for row in self.rows))
        return [{"path": str(path), "rows": len(self.rows), "bytes": path.stat().st_size}]
"""

API_ASSET = """
apiVersion: v3.0.2
kind: DataContract
id: api
version: 1.0.0
status: active
schema:
  - name: api
    properties:
      - {name: id, physicalType: bigint}
      - {name: name, logicalType: string}
"""


def _minimal_jobs(ws: Workspace, config_key: str = "api_url") -> tuple[Path, Path]:
    ws.write("minimal.py", MINIMAL_PLUGINS)
    ws.write("asset.yaml", API_ASSET)
    api = ws.write("data/api.json", json.dumps([{"id": i, "name": f"n{i}"} for i in range(5)]))
    ws.write("data/a.csv", "id,name\n1,x\n2,y\n")
    reader = ws.job(
        "api.yaml",
        f"""
        tenant_id: acme
        asset_path: asset.yaml
        source:
          reader: {{type: plugin, plugin_path: minimal.ApiReader, config: {{{config_key}: "{api.as_uri()}"}}}}
        target: {{namespace: acme, table: api}}
        """,
    )
    writer = ws.job(
        "lines.yaml",
        """
        tenant_id: acme
        source: {connector: csv, files: [{path: data/a.csv}]}
        target:
          writer: {type: plugin, plugin_path: minimal.LinesWriter, config: {suffix: .jsonl}}
          path: out
        """,
    )
    return reader, writer


def _lines(ws: Workspace, run_id: str) -> list[dict[str, Any]]:
    files = sorted((ws.root / "out").glob(f"{run_id}*.jsonl"))
    assert len(files) == 1, files
    return [json.loads(line) for line in files[0].read_text().splitlines()]


def test_minimal_plugins_without_name_or_config_model_run_embedded(workspace: Workspace) -> None:
    ws = workspace
    reader, writer = _minimal_jobs(ws)
    result = ws.cli("run", str(reader), "--json")
    assert result.code == 0, result.stderr
    assert ws.read("acme.api", sort_by="id").to_pylist() == [{"id": i, "name": f"n{i}"} for i in range(5)]
    written = ws.cli("run", str(writer), "--json")
    assert written.code == 0, written.stderr
    assert _lines(ws, written.json["run_id"]) == [{"id": 1, "name": "x"}, {"id": 2, "name": "y"}]

    # a missing setting fails the run naming the plugin (its class name), not an AttributeError
    broken, _ = _minimal_jobs(ws, config_key="apiurl")
    failed = ws.cli("run", str(broken))
    assert failed.code == 2
    assert "plugin ApiReader: KeyError: 'api_url'" in failed.stderr
    assert "AttributeError" not in failed.stderr and "Traceback" not in failed.stderr


def test_minimal_plugins_without_name_or_config_model_run_on_workers(workspace: Workspace, fleet: Fleet) -> None:
    ws = workspace
    reader, writer = _minimal_jobs(ws)
    fleet.start_worker(concurrency=1)
    result = ws.cli("submit", str(reader), "--wait", "--json")
    assert result.code == 0, result.stderr
    assert result.json["state"] == "committed" and result.json["rows"] == 5
    assert ws.read("acme.api", sort_by="id").to_pylist() == [{"id": i, "name": f"n{i}"} for i in range(5)]
    written = ws.cli("submit", str(writer), "--wait", "--json")
    assert written.code == 0, written.stderr
    assert _lines(ws, written.json["run_id"]) == [{"id": 1, "name": "x"}, {"id": 2, "name": "y"}]


# -- 8. the docs say what is true ------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


def _markdown_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def test_readme_python_snippet_runs_as_written(tmp_path: Path) -> None:
    shutil.copytree(REPO / "config", tmp_path / "config")
    demo = _dativo(tmp_path, "run", "config/jobs/acme/customers.yaml", "--json")
    assert demo.code in (0, 1), demo.stderr  # the demo data holds a few rows that are quarantined on purpose
    (snippet,) = _markdown_blocks((REPO / "README.md").read_text(), "python")
    # as written, then with its last expression printed: it reads the rows the demo committed
    body, last = snippet.rstrip().rsplit("\n", 1)
    for code in (snippet, f"{body}\nprint({last}.num_rows)"):
        ran = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert ran.returncode == 0, ran.stderr
    assert int(ran.stdout) == demo.json["rows"] > 0


def test_docs_link_only_to_files_in_the_repository() -> None:
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    for page in pages:
        text = page.read_text()
        assert "../shared" not in text, page
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#", 1)[0]).resolve()
            assert path.is_relative_to(REPO) and path.exists(), (page.name, target)


def test_json_output_doc_describes_every_key(workspace: Workspace) -> None:
    ws = workspace
    ws.write("data/a.csv", "id,v\n1,1.5\n")
    result = ws.cli("run", str(ws.job("job.yaml", CSV_JOB)), "--json")
    assert result.code == 0, result.stderr
    doc = (REPO / "docs" / "json-output.md").read_text()
    summary_section = doc.split("## The run summary", 1)[1].split("\n## ", 1)[0]
    tables = summary_section.split("`schema_changes` (see", 1)
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", tables[0], flags=re.MULTILINE))
    assert documented == set(result.json)
    changes_table = tables[1].split("\n\n")[1]  # the table right below; later tables describe other keys
    changes = set(re.findall(r"^\| `([a-z_]+)` \|", changes_table, flags=re.MULTILINE))
    assert changes == set(result.json["schema_changes"])
    example = json.loads(_markdown_blocks(summary_section, "json")[0])
    assert set(example) == set(result.json) and set(example["schema_changes"]) == changes


def test_readme_names_every_service_the_tests_need() -> None:
    readme = (REPO / "README.md").read_text()
    ports = re.findall(r"port_open 127\.0\.0\.1 (\d+)", (REPO / "scripts" / "services.sh").read_text())
    assert sorted(set(ports)) == ["3306", "5432", "6379"]
    for port in ports:
        assert f"127.0.0.1:{port}" in readme, port
    for name in ("Redis", "PostgreSQL", "MariaDB"):
        assert name in readme
