"""Plugins from installed packages: tests/plugin_package is pip-installed into a directory on
PYTHONPATH (as a user installs a connector package) and found through the `dativo` entry point group by fresh
processes: the CLI and real Celery workers."""

from __future__ import annotations

import csv
import importlib.metadata
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import REPO, Workspace
from .fleet import Fleet

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PACKAGE = REPO / "tests" / "plugin_package"


@pytest.fixture
def test_plugin_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """`pip install --target` of tests/plugin_package into a directory of this test's own, put on
    PYTHONPATH for the processes the test starts (CLI, workers): the shared environment, which
    other test processes use meanwhile, is never changed."""
    source = tmp_path / "plugin_package"
    shutil.copytree(PACKAGE, source)  # the build writes next to its sources
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", "install", "--no-deps",
         "--no-compile", "--target", str(site), str(source)],
        check=True, timeout=240,
    )  # fmt: skip
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    yield site
    with pytest.raises(importlib.metadata.PackageNotFoundError):  # nothing reached the shared environment
        importlib.metadata.distribution("dativo-test-plugin")


def _counter_to_csv(ws: Workspace, name: str, path: str) -> Path:
    return ws.job(
        f"{name}.yaml",
        f"""
        tenant_id: acme
        source:
          connector: ep_counter
          options: {{rows: 1000, partitions: 4}}
        target:
          connector: ep_csv
          path: {path}
          options: {{delimiter: ";"}}
        """,
    )


def _csv_rows(directory: Path) -> list[dict[str, str]]:
    rows = []
    for path in sorted(directory.glob("*.csv")):
        with path.open() as handle:
            rows += list(csv.DictReader(handle, delimiter=";"))
    return sorted(rows, key=lambda r: int(r["n"]))


@pytest.mark.usefixtures("test_plugin_installed")
def test_an_installed_package_is_discovered_and_runs_like_a_builtin(workspace: Workspace, fleet: Fleet) -> None:
    _discovered(workspace)
    _reader_and_writer_run_embedded_and_on_workers(workspace, fleet)
    _writer_as_iceberg_table_format(workspace)


def _discovered(workspace: Workspace) -> None:
    result = workspace.cli_process("plugins", "list", "--json")
    assert result.code == 0, result.stderr
    found = {(p["name"], p["kind"]): p for p in result.json}
    for key in (("ep_counter", "reader"), ("ep_csv", "writer")):
        assert found[key]["package"] == "dativo-test-plugin" and found[key]["version"] == "0.3.0"
    assert ("csv", "reader") in found and ("parquet", "writer") in found  # the built-ins still load
    assert not [p for p in result.json if p["kind"] == "broken"]


def _reader_and_writer_run_embedded_and_on_workers(workspace: Workspace, fleet: Fleet) -> None:
    embedded = workspace.cli_process("run", str(_counter_to_csv(workspace, "emb", "out/embedded")), "--json", "-w", "2")
    assert embedded.code == 0, embedded.stderr
    assert embedded.json["state"] == "committed" and embedded.json["files"] == 4
    expected = [{"n": str(n), "square": str(n * n)} for n in range(1000)]
    assert _csv_rows(workspace.root / "out/embedded") == expected

    fleet.start_worker(concurrency=2)  # a fresh process: finds the package through its entry point
    fleet_job = _counter_to_csv(workspace, "fleet", "out/fleet")
    submitted = workspace.cli_process("submit", str(fleet_job), "--wait", "--json")
    assert submitted.code == 0, submitted.stderr
    assert submitted.json["state"] == "committed" and submitted.json["partitions_done"] == 4
    assert _csv_rows(workspace.root / "out/fleet") == expected


def _writer_as_iceberg_table_format(workspace: Workspace) -> None:
    job = workspace.job(
        "lines.yaml",
        """
        tenant_id: acme
        source:
          connector: ep_counter
          options: {rows: 50, partitions: 2}
        target:
          namespace: acme
          table: lines
          format: ep_csv
          format_options: {delimiter: "|"}
        """,
    )
    result = workspace.cli_process("run", str(job), "--json")
    assert result.code == 0, result.stderr
    table = workspace.table("acme.lines")
    assert [(f.name, str(f.field_type)) for f in table.schema().fields] == [("line", "string"), ("fields", "int")]
    rows = table.scan().to_arrow().to_pylist()
    assert sorted(r["line"] for r in rows) == sorted(f"{n}|{n * n}" for n in range(50))
    assert {r["fields"] for r in rows} == {2}
    assert table.current_snapshot().summary["dativo.rows"] == "50"


def test_broken_entry_point_is_reported_and_leaves_the_others_working(workspace: Workspace, tmp_path: Path) -> None:
    """A package whose plugin module fails to import: listed with its error; asking for its
    connector is a config error that says why; every other plugin still works."""
    site = tmp_path / "site"
    (site / "broken_dativo_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "broken_dativo_plugin-1.0.dist-info/METADATA").write_text(
        "Metadata-Version: 2.1\nName: broken-dativo-plugin\nVersion: 1.0\n"
    )
    (site / "broken_dativo_plugin-1.0.dist-info/entry_points.txt").write_text(
        "[dativo]\nbroken = broken_dativo_plugin\n"
    )
    (site / "broken_dativo_plugin.py").write_text("raise ImportError('needs libfoo, which is not installed')\n")
    env = {"PYTHONPATH": str(site)}

    listed = workspace.cli_process("plugins", "list", "--json", env=env)
    assert listed.code == 0, listed.stderr
    broken = [p for p in listed.json if p["kind"] == "broken"]
    assert broken == [
        {
            "name": "broken = broken_dativo_plugin",
            "kind": "broken",
            "package": "broken-dativo-plugin",
            "version": "1.0",
            "error": "ImportError: needs libfoo, which is not installed",
        }
    ]
    assert any(p["name"] == "csv" for p in listed.json)

    workspace.write("data/a.csv", "id\n1\n2\n")
    job = workspace.job(
        "broken.yaml",
        """
        tenant_id: acme
        source: {connector: broken_reader, files: [{path: data/a.csv}]}
        target: {namespace: acme, table: t}
        """,
    )
    result = workspace.cli_process("run", str(job), env=env)
    assert result.code == 2
    message = " ".join(result.stderr.split())
    assert "source.connector: no reader named 'broken_reader'" in message
    assert (
        "plugins that failed to load: broken-dativo-plugin 1.0 (broken = broken_dativo_plugin): ImportError" in message
    )
    fine = workspace.job("fine.yaml", job.read_text().replace("broken_reader", "csv"))
    assert workspace.cli_process("run", str(fine), env=env).code == 0
