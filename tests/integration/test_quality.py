"""Contract quality rules (docs/quality.md): every rule kind and comparator, across partitions,
evaluated in the run; a failing error rule leaves the table untouched; bad rules are config errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from dativo_workers.errors import ConfigError
from dativo_workers.quality import compare

from ..conftest import Workspace

pytestmark = pytest.mark.integration

HEAD = """
apiVersion: {version}
kind: DataContract
id: orders
name: orders
version: 1.0.0
status: active
schema:
  - name: orders
    quality:
{schema_quality}
    properties:
      - name: id
        physicalType: bigint
        quality:
{id_quality}
      - name: status
        logicalType: string
        quality:
{status_quality}
      - name: amount
        physicalType: double
        quality:
{amount_quality}
"""


def _indent(rules: str, spaces: int) -> str:
    lines = [line for line in rules.strip("\n").splitlines()]
    return "\n".join(" " * spaces + line for line in lines) if lines else " " * spaces + "[]"


def contract(schema: str = "", id_: str = "", status: str = "", amount: str = "", version: str = "v3.1.0") -> str:
    text = HEAD.format(
        version=version,
        schema_quality=_indent(schema, 6),
        id_quality=_indent(id_, 10),
        status_quality=_indent(status, 10),
        amount_quality=_indent(amount, 10),
    )
    return text.replace("quality:\n" + " " * 6 + "[]", "quality: []").replace(
        "quality:\n" + " " * 10 + "[]", "quality: []"
    )


# three files, one partition each: id 4 appears in two of them (a duplicate across partitions)
FILES = {
    "data/a.csv": "id,status,amount\n1,open,10.5\n2,closed,20\n3,,30\n",
    "data/b.csv": "id,status,amount\n4,open,-5\n5,bogus,50\n",
    "data/c.csv": "id,status,amount\n4,open,60\n6,closed,\n",
}
ROWS = 7


def setup(ws: Workspace, asset: str, extra: str = "") -> Path:
    for name, text in FILES.items():
        ws.write(name, text)
    ws.write("assets/orders.yaml", asset)
    return ws.job(
        "orders.yaml",
        f"""
        tenant_id: acme
        asset_path: assets/orders.yaml
        source: {{connector: csv, files: [{{path: data/a.csv}}, {{path: data/b.csv}}, {{path: data/c.csv}}]}}
        target: {{namespace: acme, table: orders}}
        {extra}
        """,
    )


def by_rule(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["rule"]: r for r in summary["quality"]}


def test_library_metrics_across_partitions(workspace: Workspace) -> None:
    asset = contract(
        schema="""
- {metric: rowCount, mustBeBetween: [5, 10], severity: error}
- {name: rows_low, metric: rowCount, mustBeLessThan: 7}
""",
        id_="""
- {metric: duplicateValues, mustBe: 0}
- {name: dup_pct, metric: duplicateValues, mustBeLessThan: 20, unit: percent}
- {metric: nullValues, mustBe: 0, severity: error}
""",
        status="""
- {metric: missingValues, mustBeLessOrEqualTo: 1}
- {name: status_valid, metric: invalidValues, arguments: {validValues: [open, closed]}, mustNotBe: 0}
- {name: status_pattern, metric: invalidValues, arguments: {pattern: '^(open|closed)$'}, mustBeGreaterOrEqualTo: 2}
""",
        amount="""
- {metric: nullValues, mustBeGreaterThan: 0, unit: percent}
- {name: amount_range, metric: invalidValues, arguments: {minimum: 0}, mustNotBeBetween: [1, 5]}
""",
    )
    summary = workspace.run(setup(workspace, asset))
    assert summary["state"] == "committed", summary
    got = {k: (r["value"], r["status"]) for k, r in by_rule(summary).items()}
    assert got == {
        "rowCount": (ROWS, "pass"),
        "rows_low": (ROWS, "fail"),  # a warning: committed anyway
        "id.duplicateValues": (1, "fail"),  # 4 in b.csv and c.csv
        "dup_pct": (round(100 / ROWS, 6), "pass"),
        "id.nullValues": (0, "pass"),
        "status.missingValues": (1, "pass"),  # the empty status
        "status_valid": (1, "pass"),  # bogus (the missing one is not invalid)
        "status_pattern": (1, "fail"),
        "amount.nullValues": (round(100 / ROWS, 6), "pass"),
        "amount_range": (1, "fail"),  # -5
    }
    props = workspace.table("acme.orders").current_snapshot().summary.additional_properties
    assert props["dativo.quality.id.duplicateValues"] == "fail 1"
    assert props["dativo.quality.rowCount"] == "pass 7"
    assert props["dativo.quality.amount.nullValues"].startswith("pass 14.28")


def test_failing_error_rule_fails_the_run_and_leaves_the_table_untouched(workspace: Workspace) -> None:
    asset = contract(id_="- {metric: duplicateValues, mustBe: 0, severity: error}")
    summary = workspace.run(setup(workspace, asset))
    assert summary["state"] == "failed"
    assert summary["snapshot_id"] is None
    assert "id.duplicateValues: measured 1, expected mustBe 0" in summary["error"]
    assert not workspace.catalog().table_exists("acme.orders")
    assert by_rule(summary)["id.duplicateValues"]["fails_run"] is True


def test_on_fail_fail_makes_a_warning_fail_and_warn_lets_an_error_commit(workspace: Workspace) -> None:
    asset = contract(status="- {metric: missingValues, mustBe: 0, severity: warning}")
    job = setup(workspace, asset, extra="quality: {on_fail: fail}")
    assert workspace.run(job)["state"] == "failed"
    asset = contract(status="- {metric: missingValues, mustBe: 0, severity: error}")
    job = setup(workspace, asset, extra="quality: {on_fail: warn}")
    summary = workspace.run(job)
    assert summary["state"] == "committed" and by_rule(summary)["status.missingValues"]["status"] == "fail"


def test_sql_rules_run_over_the_runs_rows(workspace: Workspace) -> None:
    asset = contract(
        schema="""
- {type: sql, name: negatives, query: 'SELECT count(*) FROM ${table} WHERE amount < 0', mustBe: 1}
- {type: sql, name: by_name, query: 'select max(amount) from orders', mustBeGreaterThan: 100}
- {type: text, name: prose, description: Amounts are in euros}
""",
        id_="""
- {type: sql, query: 'SELECT count(DISTINCT ${column}) FROM ${object}', mustBe: 6}
""",
    )
    summary = workspace.run(setup(workspace, asset))
    assert summary["state"] == "committed", summary
    got = {k: (r["value"], r["status"]) for k, r in by_rule(summary).items()}
    assert got == {"negatives": (1, "pass"), "by_name": (60, "fail"), "prose": (None, "not run"), "id.sql": (6, "pass")}


def test_v30_rules_are_read_as_v30_defines_them(workspace: Workspace) -> None:
    asset = contract(
        version="v3.0.2",
        schema="- {rule: rowCount, mustBeGreaterThan: 0}",
        id_="- {rule: duplicateCount, mustBeLessThan: 2, unit: rows}",
        status="- {rule: validValues, validValues: [open, closed, bogus, '']}",
    )
    summary = workspace.run(setup(workspace, asset))
    assert summary["state"] == "committed", summary
    got = {k: (r["value"], r["status"]) for k, r in by_rule(summary).items()}
    assert got == {"rowCount": (7, "pass"), "id.duplicateValues": (1, "pass"), "status.invalidValues": (0, "pass")}


@pytest.mark.parametrize(
    ("comparator", "threshold", "passes", "fails"),
    [
        ("mustBe", 3, 3, 4),
        ("mustNotBe", 3, 4, 3),
        ("mustBeGreaterThan", 3, 4, 3),
        ("mustBeGreaterOrEqualTo", 3, 3, 2),
        ("mustBeLessThan", 3, 2, 3),
        ("mustBeLessOrEqualTo", 3, 3, 4),
        ("mustBeBetween", [2, 4], 4, 5),
        ("mustNotBeBetween", [2, 4], 5, 2),
    ],
)
def test_every_comparator(comparator: str, threshold: Any, passes: Any, fails: Any) -> None:
    assert compare(comparator, passes, threshold)
    assert not compare(comparator, fails, threshold)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("- {metric: nullCount, mustBe: 0}", "'nullCount' is not one of"),
        ("- {metric: rowCount, mustBe: 3, unit: percent}", "rowCount counts rows"),
        ("- {metric: nullValues, mustBeLessThan: 0}", "could never pass"),
        ("- {metric: nullValues, mustBeLessThan: 150, unit: percent}", "between 0 and 100"),
        ("- {metric: invalidValues, mustBe: 0}", "invalidValues needs"),
        ("- {metric: invalidValues, mustBe: 0, arguments: {validValues: [x], colour: red}}", "unknown argument"),
        ("- {type: sql, query: 'SELEC count(*) FROM ${table}', mustBe: 0}", "does not parse"),
        ("- {type: sql, query: 'SELECT 1 FROM ${tabel}', mustBe: 1}", r"unknown placeholder \$\{tabel\}"),
        ("- {type: custom, engine: soda, implementation: 'type: row_count'}", "Soda Core is not supported"),
        ("- {metric: nullValues, mustBe: 0, unit: lines}", "unknown unit"),
    ],
)
def test_bad_rules_are_config_errors_naming_file_and_key(workspace: Workspace, rules: str, message: str) -> None:
    job = setup(workspace, contract(id_=rules))
    with pytest.raises(ConfigError) as exc:
        workspace.run(job)
    text = str(exc.value)
    assert re.search(message, text), text
    assert "orders.yaml:" in text and "schema[0].properties[0].quality[0]" in text
    assert not (workspace.state / "warehouse").exists() or not any((workspace.state / "warehouse").rglob("*.parquet"))


def cli(ws: Workspace, *args: str) -> Any:
    """`dativo ARGS` in this process through typer's runner."""
    from typer.testing import CliRunner

    from dativo_workers.cli import app

    return CliRunner().invoke(app, list(args), env={"DATIVO_RUNNER_CONFIG": str(ws.runner_file)})


def test_cli_status_json_and_quality_command(workspace: Workspace) -> None:
    asset = contract(id_="- {metric: duplicateValues, mustBe: 0}", status="- {metric: nullValues, mustBe: 1}")
    job = setup(workspace, asset)
    result = cli(workspace, "run", str(job), "--json", "--workers", "1")
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout)["run_id"]
    status = json.loads(cli(workspace, "status", run_id, "--json").stdout)
    assert [(r["rule"], r["value"], r["status"]) for r in status["quality"]] == [
        ("id.duplicateValues", 1, "fail"),
        ("status.nullValues", 1, "pass"),
    ]
    by_job = cli(workspace, "quality", str(job), "--json")
    assert by_job.exit_code == 1  # a failed warning
    assert json.loads(by_job.stdout) == {
        "run_id": run_id,
        "state": "committed",
        "job": "orders",
        "table": "acme.orders",
        "quality": status["quality"],
    }
    text = cli(workspace, "quality", run_id).stdout
    assert "fail    id.duplicateValues  1  (mustBe 0)" in text and "pass    status.nullValues  1" in text
    assert re.search(r"quality +fail +id.duplicateValues  1", cli(workspace, "status", run_id).stdout)


def test_quality_command_exit_2_for_a_run_a_rule_failed(workspace: Workspace) -> None:
    job = setup(workspace, contract(id_="- {metric: duplicateValues, mustBe: 0, severity: error}"))
    assert cli(workspace, "run", str(job), "--workers", "1").exit_code == 2
    result = cli(workspace, "quality", str(job))
    assert result.exit_code == 2 and "id.duplicateValues" in result.stdout


def test_check_refuses_a_bad_rule_like_run(workspace: Workspace) -> None:
    job = setup(workspace, contract(amount="- {metric: invalidValues, arguments: {pattern: 'x'}, mustBe: 0}"))
    result = cli(workspace, "check", str(job))
    assert isinstance(result.exception, ConfigError)  # main() prints it and exits 2
    assert "schema[0].properties[2].quality[0].arguments.pattern: a pattern needs a text column" in str(
        result.exception
    )


def test_quality_sql_keeps_its_placeholders_and_env_elsewhere_still_expands(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERS_OWNER", "ops@acme.com")
    asset = contract(schema="- {type: sql, query: 'SELECT count(*) FROM ${table}', mustBe: 7}").replace(
        "status: active", "status: active\ncustomProperties:\n  - {property: owner, value: '${ORDERS_OWNER}'}"
    )
    summary = workspace.run(setup(workspace, asset))
    assert summary["state"] == "committed" and summary["quality"][0]["value"] == 7
    assert workspace.table("acme.orders").properties["dativo.governance.owner"] == "ops@acme.com"


def test_rules_on_real_celery_workers(workspace: Workspace, fleet: Any) -> None:
    """Partitions measured on worker processes, merged by the commit task: the same results as
    embedded, and a failing error rule leaves no table."""
    from dativo_workers.config import load_job, load_runner
    from dativo_workers.producer import submit, wait

    fleet.start_worker(concurrency=2)
    asset = contract(
        schema="- {type: sql, query: 'SELECT sum(amount) FROM ${table}', mustBeGreaterThan: 100}",
        id_="- {metric: duplicateValues, mustBe: 1}",
        status="- {metric: invalidValues, arguments: {validValues: [open, closed]}, mustBe: 1}",
    )
    runner = load_runner(workspace.runner_file)
    ledger = workspace.ledger()
    summary = wait(submit(load_job(setup(workspace, asset)), runner, ledger, None), ledger, timeout_s=120)
    assert summary["state"] == "committed", summary
    assert {(r["rule"], r["value"], r["status"]) for r in summary["quality"]} == {
        ("sql", 165.5, "pass"),
        ("id.duplicateValues", 1, "pass"),
        ("status.invalidValues", 1, "pass"),
    }
    snapshot = workspace.table("acme.orders").current_snapshot()
    assert snapshot.summary.additional_properties["dativo.quality.id.duplicateValues"] == "pass 1"

    failing = contract(id_="- {metric: duplicateValues, mustBe: 0, severity: error}")
    workspace.write("assets/orders.yaml", failing)
    summary = wait(submit(load_job(workspace.root / "orders.yaml"), runner, ledger, None), ledger, timeout_s=120)
    assert summary["state"] == "failed" and "id.duplicateValues: measured 1" in summary["error"]
    assert len(workspace.table("acme.orders").snapshots()) == 1  # the first run's only


def test_rules_with_the_warehouse_on_s3(workspace: Workspace, s3_server: Any) -> None:
    """Sidecars and fragments in an object store: written and read through pyarrow's S3
    filesystem with the catalog's settings; the commit's sweep removes the sidecars."""
    bucket = s3_server.new_bucket("quality")
    workspace.write(
        "runner.yaml",
        f"""
        runner:
          ledger_url: sqlite:///{workspace.state}/dativo.db
          catalogs:
            default:
              type: sql
              uri: sqlite:///{workspace.state}/catalog.db
              warehouse: s3://{bucket}/wh
              s3.endpoint: {s3_server.endpoint}
              s3.region: us-east-1
              s3.access-key-id: {s3_server.access_key}
              s3.secret-access-key: {s3_server.secret_key}
        """,
    )
    (workspace.state).mkdir(parents=True, exist_ok=True)
    asset = contract(
        schema="- {type: sql, query: 'SELECT count(*) FROM ${table} WHERE status IS NULL', mustBe: 1}",
        status="- {metric: duplicateValues, mustBe: 3}",  # open x3, closed x2 (strings: sidecars)
    )
    summary = workspace.run(setup(workspace, asset))
    assert summary["state"] == "committed", summary
    assert {r["rule"]: r["value"] for r in summary["quality"]} == {"sql": 1, "status.duplicateValues": 3}
    keys = s3_server.keys(bucket)
    assert any(k.endswith(".parquet") and "/data/" in k for k in keys)
    assert not [k for k in keys if k.endswith(".arrow")]  # swept with the commit
