"""`dativo plugins certify`: every built-in connector and example passes the conformance kit (the file
connectors on the sample configs of plugins/certify, postgres and mysql against the real servers in
schemas of their own, stripe against a loopback API), and each deliberately broken plugin of
tests/certify_broken fails exactly the checks of its defect."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from dativo_workers.certify import FAIL, PASS, READER_CHECKS, SKIPPED, WRITER_CHECKS, Report, certify, load_subject

from ..conftest import REPO
from . import certify_cases
from .test_sql_sources import MY_HOST, MY_PORT, PG_HOST, PG_PORT, My, Pg, my, pg  # noqa: F401 - fixtures

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SAMPLES = REPO / "plugins" / "certify"
EXAMPLES = REPO / "examples" / "plugins"
BROKEN = REPO / "tests" / "certify_broken"
# checks a reader can only skip when it does not implement the method
OPTIONAL = {"check", "discover"}


def _certify(spec: str, config: Path, kind: str | None = None) -> Report:
    return certify(load_subject(spec, config, kind))


def _assert_passes(report: Report, may_skip: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    statuses = {c.id: (c.status, c.detail) for c in report.checks}
    failed = {k: v for k, v in statuses.items() if v[0] == FAIL}
    assert not failed, f"{report.plugin}: {failed}"
    checks = READER_CHECKS if report.kind == "reader" else WRITER_CHECKS
    assert list(statuses) == list(checks)
    skipped = {k for k, (s, _) in statuses.items() if s == SKIPPED}
    assert skipped <= OPTIONAL | may_skip, f"{report.plugin}: skipped {skipped}: {statuses}"


@pytest.mark.parametrize(
    ("name", "config", "kind"),
    [
        ("csv", "csv.yaml", None),
        ("jsonl", "jsonl.yaml", None),
        ("parquet", "parquet.yaml", "reader"),
        ("markdown_kv", "markdown_kv.yaml", "reader"),
        ("parquet", "parquet_writer.yaml", "writer"),
        ("markdown_kv", "markdown_kv_writer.yaml", "writer"),
    ],
)
def test_builtin_file_connectors_pass(name: str, config: str, kind: str | None) -> None:
    report = _certify(name, SAMPLES / config, kind)
    assert report.kind == (kind or "reader") and report.package == "dativo-workers"
    # parquet writes no table format; the csv sample is split into several byte ranges
    _assert_passes(report, may_skip={"table_format"} if name == "parquet" else set())
    if report.kind == "reader":
        assert report.figures["rows"] > 0
    if name == "csv":
        assert report.figures["partitions"] > report.figures["once_partitions"] >= 2


def _config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_postgres_passes_against_the_real_server(pg: Pg, tmp_path: Path) -> None:  # noqa: F811
    pg.sql(f"CREATE TABLE {pg.schema}.orders (id bigint PRIMARY KEY, amount numeric(12,2), note text, at timestamptz)")
    pg.sql(
        f"INSERT INTO {pg.schema}.orders SELECT g, g * 1.25, 'n' || g, timestamptz '2024-01-01' + g * interval '1 min'"
        " FROM generate_series(1, 3000) g"
    )
    connection = f"{{host: {PG_HOST}, port: {PG_PORT}, database: test, user: postgres, password: '${{secret:pg_pw}}'}}"
    config = _config(
        tmp_path / "pg.yaml",
        f"""
source:
  connection: {connection}
  tables: [{{name: {pg.schema}.orders}}]
  partitioning: {{column: id, partitions: 4}}
certify:
  error_source:
    connection: {{host: {PG_HOST}, port: 1, database: test, user: postgres, password: '${{secret:pg_pw}}'}}
    tables: [{{name: {pg.schema}.orders}}]
""",
    )
    report = _certify("postgres", config)
    _assert_passes(report)
    assert report.figures["rows"] == 3000 and report.figures["partitions"] == 4
    assert {c.id: c.status for c in report.checks}["check"] == PASS  # check() and discover() touch nothing


def test_mysql_passes_against_the_real_server(my: My, tmp_path: Path) -> None:  # noqa: F811
    my.sql("CREATE TABLE orders (id bigint PRIMARY KEY, amount decimal(12,2), note text, at datetime(6))")
    for start in range(0, 2000, 500):
        my.sql(
            "INSERT INTO orders VALUES " + ",".join(["(%s, %s, %s, %s)"] * 500),
            [v for n in range(start + 1, start + 501) for v in (n, n * 1.25, f"n{n}", f"2024-01-01 {n % 24:02d}:00")],
        )
    config = _config(
        tmp_path / "my.yaml",
        f"""
source:
  connection: {{host: {MY_HOST}, port: {MY_PORT}, database: {my.database}, user: root}}
  tables: [{{name: {my.database}.orders}}]
  partitioning: {{column: id, partitions: 3}}
certify:
  error_source:
    connection: {{host: {MY_HOST}, port: 1, database: {my.database}, user: root, password: '${{secret:my_pw}}'}}
    tables: [{{name: {my.database}.orders}}]
""",
    )
    report = _certify("mysql", config)
    _assert_passes(report)
    assert report.figures["rows"] == 2000 and report.figures["partitions"] == 3


def test_stripe_passes_against_a_loopback_api(tmp_path: Path) -> None:
    with certify_cases.stripe(tmp_path) as config:
        report = _certify("stripe", config)
    _assert_passes(report)
    assert report.figures["rows"] == 120 and report.figures["partitions"] == 3
    errors = {c.id: c.detail for c in report.checks}["errors"]
    assert "plugin stripe" in errors and "secret:stripe_wrong_key" in errors


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def demo_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    sys.path.insert(0, str(EXAMPLES))
    try:
        from demo_api import OrdersApi  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(EXAMPLES))
    server = ThreadingHTTPServer(("127.0.0.1", 0), OrdersApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setenv("DEMO_API_URL", url)
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("spec", "config"),
    [
        ("http_api_reader.JsonApiReader", "certify_http_api.yaml"),
        ("duckdb_reader.DuckDbReader", "certify_duckdb.yaml"),
        ("jsonl_writer.JsonLinesWriter", "certify_jsonl_writer.yaml"),
    ],
)
def test_examples_pass(spec: str, config: str, demo_api: str) -> None:
    report = _certify(spec, EXAMPLES / config)
    _assert_passes(report, may_skip={"table_format"})
    if report.kind == "reader":
        assert report.figures["partitions"] > 1


# Each broken plugin: the checks it must fail, and only those (others pass or are skipped).
BROKEN_CASES = {
    "CountingReader": set(),
    "LeakyPlanReader": {"plan_secrets"},
    "OverlappingReader": {"disjoint"},
    "WrongSchemaReader": {"schema"},
    "ExitingReader": {"reads"},
    "HardExitReader": {"reads", "isolation"},
    "NoApiVersionReader": {"api_version"},
    "UncheckedSettingsReader": {"settings_model"},
    "SideFileWriter": {"abort"},
    "HoardingReader": {"batch_memory"},
}
CONFIGS = {"SideFileWriter": "writer.yaml", "HoardingReader": "memory.yaml"}


@pytest.mark.parametrize("cls", sorted(BROKEN_CASES))
def test_broken_plugins_fail_exactly_their_checks(cls: str) -> None:
    config = BROKEN / CONFIGS.get(cls, "certify.yaml")
    report = _certify(f"broken_plugins.{cls}", config)
    assert set(report.failed()) == BROKEN_CASES[cls], [(c.id, c.status, c.detail) for c in report.checks]
    statuses = {c.id: c for c in report.checks}
    if cls == "LeakyPlanReader":  # the secret is named, never shown
        assert "dativo-certify-canary" not in json.dumps(report.to_dict())
    if cls == "ExitingReader":
        assert "plugin exiting: SystemExit: 3" in statuses["reads"].detail
        assert statuses["isolation"].status == PASS  # the engine's guard contained it
        assert statuses["disjoint"].status == SKIPPED
    if cls == "HoardingReader":
        assert "held besides the current batch" in statuses["batch_memory"].detail
    if cls == "HardExitReader":
        assert "exited with code 3" in statuses["isolation"].detail
    if cls == "CountingReader":  # the sound base: the kit read it all, and its error masked the token
        assert statuses["errors"].status == PASS and "ConnectionError" in statuses["errors"].detail
        assert statuses["isolation"].detail.startswith("SystemExit injected")


def _cli(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dativo_workers.cli", "plugins", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=180,
    )


def test_cli_exit_codes_json_and_bad_input(tmp_path: Path) -> None:
    cache = {"DATIVO_CERTIFY_CACHE": str(tmp_path / "cache")}
    passed = _cli("certify", "csv", "--config", str(SAMPLES / "csv.yaml"), "--json", env=cache)
    assert passed.returncode == 0, passed.stderr
    report = json.loads(passed.stdout)
    assert report["passed"] and report["plugin"] == "csv" and report["summary"]["fail"] == 0
    assert [c["id"] for c in report["checks"]] == list(READER_CHECKS)

    failed = _cli("certify", "broken_plugins.LeakyPlanReader", "-c", str(BROKEN / "certify.yaml"), env=cache)
    assert failed.returncode == 1, failed.stderr
    assert "1 check(s) failed: plan_secrets" in failed.stdout

    # the local report of csv shows in the list (outside the repository: no runner.plugin_index)
    listed = _cli("list", "--json", cwd=tmp_path, env=cache)
    status = {(p["name"], p["kind"]): p["certification"] for p in json.loads(listed.stdout)}
    assert status[("csv", "reader")].startswith("certified locally")

    unknown = _cli("certify", "no_such_plugin", env=cache)
    assert unknown.returncode == 2 and "no installed plugin named 'no_such_plugin'" in unknown.stderr
    not_plugin = _cli("certify", "json.JSONDecoder", env=cache)
    assert not_plugin.returncode == 2 and "is not a DataReader or DataWriter" in not_plugin.stderr
    missing = _cli("certify", "csv", "--config", str(tmp_path / "nope.yaml"), env=cache)
    assert missing.returncode == 2 and "no such certify configuration file" in missing.stderr


def test_pytest_plugin_runs_the_checks_in_a_plugin_authors_ci(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\n"
        f"dativo_plugin =\n    broken_plugins.LeakyPlanReader\n"
        f"dativo_plugin_config = {BROKEN / 'certify.yaml'}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "dativo_workers.certify", "-p", "no:cacheprovider", "-q", "-rfs"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "DATIVO_TEST_COVERAGE": "0"},
        timeout=180,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 11 passed, 2 skipped" in result.stdout, result.stdout
    assert "plan_secrets" in result.stdout and "partitions carry no secret values" in result.stdout
    by_option = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "dativo_workers.certify", "-p", "no:cacheprovider", "-q",
         "--dativo-plugin", "csv", "--dativo-plugin-config", str(SAMPLES / "csv.yaml"), "-c", os.devnull],
        capture_output=True, text=True, cwd=tmp_path, timeout=180,
    )  # fmt: skip
    assert by_option.returncode == 0, by_option.stdout + by_option.stderr
    assert "12 passed, 2 skipped" in by_option.stdout


# -- the SaaS connectors, against the loopback APIs of their own tests (google_sheets and salesforce
# run the kit in tests/integration/test_google_sheets.py and test_salesforce.py) ---------------------


def _saas_passes(name: str, config: Path) -> Report:
    report = _certify(name, config)
    _assert_passes(report, may_skip=OPTIONAL)
    errors = {c.id: c for c in report.checks}["errors"]
    assert errors.status == PASS and f"plugin {name}" in errors.detail
    return report


@pytest.mark.parametrize(
    ("name", "rows", "partitions"), [("rest_api", 300, 5), ("zendesk", 120, 1), ("intercom", 180, 1)]
)
def test_saas_connectors_pass_against_loopback_apis(name: str, rows: int, partitions: int, tmp_path: Path) -> None:
    with certify_cases.CASES[name](tmp_path) as config:
        report = _saas_passes(name, config)
    assert report.figures["rows"] == rows and report.figures["partitions"] == partitions


def test_access_log_readers_pass(tmp_path: Path) -> None:
    sample = pytest.importorskip("dativo_access_log.sample")  # the Rust plugin is built by scripts/test.sh
    written = sample.write_log(tmp_path / "access.log", 3000)  # malformed lines included
    config = _config(
        tmp_path / "access_log.yaml", "source: {files: [{path: access.log}]}\ncertify: {partition_bytes: 65536}\n"
    )
    for name in ("access_log", "access_log_py"):
        report = _certify(name, config)
        _assert_passes(report)
        assert report.figures["rows"] == written.rows and report.figures["partitions"] > 1
        assert report.figures["rejected"] == len(written.malformed)  # in no two partitions, in one of them
