"""Every config mistake exits 2, names the file, key and line, and leaves the table untouched."""

from __future__ import annotations

import pytest

from ..conftest import Workspace

pytestmark = pytest.mark.integration

GOOD_JOB = """
tenant_id: acme
name: cfg
source:
  connector: csv
  files: [{path: data/a.csv}]
target:
  namespace: acme
  table: cfg
"""


@pytest.fixture
def committed(workspace: Workspace) -> Workspace:
    workspace.write("data/a.csv", "id,v\n1,a\n")
    job = workspace.job("good.yaml", GOOD_JOB)
    assert workspace.cli("run", str(job), "--json").code == 0
    return workspace


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD_JOB.replace("  table: cfg", "  table: cfg\n  tabel: typo"),
            ["bad.yaml:9", "target.tabel", "unknown key"],
        ),
        (
            GOOD_JOB.replace("  table: cfg", "  table: cfg\n  file_size_mb: big"),
            ["bad.yaml:9", "target.file_size_mb", "integer"],
        ),
        (
            GOOD_JOB.replace("name: cfg", "name: cfg\nasset_path: assets/missing.yaml"),
            ["bad.yaml", "asset_path", "missing.yaml", "does not exist"],
        ),
        (GOOD_JOB.replace("  table: cfg", "  table: cfg: x"), ["bad.yaml:8", "invalid YAML"]),
        (
            GOOD_JOB.replace("  connector: csv", "  connector: csv\n  options: {delimeter: ';'}"),
            ["bad.yaml", "source.options.delimeter", "unknown option", "'csv'"],
        ),
        (GOOD_JOB.replace("  namespace: acme\n", ""), ["bad.yaml", "target.namespace", "required key is missing"]),
        (
            GOOD_JOB.replace("tenant_id: acme", "tenant_id: ${DATIVO_TEST_UNSET_VAR}"),
            ["bad.yaml:1", "tenant_id", "DATIVO_TEST_UNSET_VAR is not set"],
        ),
    ],
    ids=["unknown-key", "wrong-type", "missing-asset", "bad-yaml", "unknown-plugin-option", "missing-key", "unset-env"],
)
def test_config_mistakes_exit_2_and_leave_the_table_alone(committed: Workspace, text: str, expected: list[str]) -> None:
    ws = committed
    before = ws.table("acme.cfg")
    job = ws.job("bad.yaml", text)
    for command in ("run", "check"):
        result = ws.cli(command, str(job))
        assert result.code == 2, (command, result.stdout, result.stderr)
        message = " ".join(result.stderr.split())
        for fragment in expected:
            assert fragment in message, (fragment, message)
        assert "Traceback" not in result.stderr
    after = ws.table("acme.cfg")
    assert after.metadata_location == before.metadata_location
    assert ws.ledger().list_runs() and len(ws.ledger().list_runs()) == 1  # no run recorded for bad configs


def test_bad_asset_names_file_key_and_line(workspace: Workspace) -> None:
    workspace.write("data/a.csv", "id\n1\n")
    workspace.write(
        "assets/a.yaml",
        """
        apiVersion: v3.0.2
        kind: DataContract
        id: a
        version: 1.0.0
        status: active
        schema:
          - name: a
            properties:
              - {name: id, physicalType: bigint, requird: true}
        """,
    )
    job = workspace.job("job.yaml", GOOD_JOB.replace("name: cfg", "name: cfg\nasset_path: assets/a.yaml"))
    result = workspace.cli("run", str(job))
    assert result.code == 2
    message = " ".join(result.stderr.split())
    assert "a.yaml:9" in message and "schema[0].properties[0].requird" in message
    assert not (workspace.state / "catalog.db").exists()  # nothing written at all


def test_check_passes_and_writes_nothing(workspace: Workspace) -> None:
    workspace.write("data/a.csv", "id,v\n1,a\n")
    job = workspace.job("good.yaml", GOOD_JOB)
    result = workspace.cli("check", str(job), "--json")
    assert result.code == 0, result.stderr
    report = result.json
    assert report["ok"] and {c["name"] for c in report["checks"]} == {"config", "source", "catalog"}
    assert not workspace.state.exists()


def test_check_reports_a_missing_source_file(workspace: Workspace) -> None:
    job = workspace.job("good.yaml", GOOD_JOB)
    result = workspace.cli("check", str(job), "--json")
    assert result.code == 2
    source = next(c for c in result.json["checks"] if c["name"] == "source")
    assert not source["ok"] and "data/a.csv" in source["detail"]


def test_plugins_list_shows_builtin_readers(workspace: Workspace) -> None:
    result = workspace.cli("plugins", "list", "--json")
    assert result.code == 0, result.stderr
    found = {(p["name"], p["kind"]): p for p in result.json}
    for name in ("csv", "jsonl", "parquet"):
        plugin = found[(name, "reader")]
        assert plugin["package"] == "dativo-workers" and plugin["version"] == "0.1.0"
