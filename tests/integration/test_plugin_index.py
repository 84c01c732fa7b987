"""`dativo plugins search|install|list` against a plugin index: a wheel of tests/plugin_package, built
in the test, installed with its sha256 pinned into a temporary virtual environment (the shared one
is never touched; no network: pip runs with --no-index on a file the index names). A wrong hash,
an unknown name, an index that cannot be fetched: exit 2, nothing installed."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import site
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ..conftest import REPO

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PACKAGE = REPO / "tests" / "plugin_package"
CERTIFIED = "2026-11-30T10:00:00+00:00"


def build_wheel(dist: Path, version: str = "0.3.0") -> Path:
    """A pure-Python wheel of tests/plugin_package (its module and `dativo` entry point), written
    directly: no build backend, no network."""
    name = "dativo_test_plugin"
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": (PACKAGE / name / "__init__.py").read_bytes(),
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: dativo-test-plugin\nVersion: {version}\n"
            "Summary: Entry-point plugin for Dativo's tests\nRequires-Python: >=3.11\n"
        ).encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: dativo-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/entry_points.txt": b"[dativo]\ntest_plugin = dativo_test_plugin\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")
        record.append(f"{path},sha256={digest},{len(data)}")
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    dist.mkdir(parents=True, exist_ok=True)
    wheel = dist / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(zipfile.ZipInfo(path, date_time=(2026, 1, 1, 0, 0, 0)), data)
    return wheel


def write_index(path: Path, wheel: Path, sha256: str) -> Path:
    path.write_text(
        f"""
index_version: 1
plugins:
- name: dativo-test-plugin
  description: Counts rows and writes CSV (a test plugin)
  license: MIT
  maintainers: [{{name: Test Maintainer, email: test@example.com}}]
  connectors: [{{name: ep_counter, kind: reader}}, {{name: ep_csv, kind: writer}}]
  versions:
  - version: 0.2.0
    files: [{{url: dist/old.whl, sha256: "{"0" * 64}"}}]
  - version: 0.3.0
    files: [{{url: {wheel.relative_to(path.parent)}, sha256: "{sha256}"}}]
    certification: {{date: "{CERTIFIED}", passed: true, dativo_version: 0.1.0, report: reports/test-plugin.json}}
- name: csv
  description: CSV files
  package: dativo-workers
  builtin: true
  connectors: [{{name: csv, kind: reader}}]
  versions: [{{version: 0.1.0, certification: {{date: "{CERTIFIED}", passed: false, failed: ["csv:schema"]}}}}]
"""
    )
    return path


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    """A virtual environment of its own that sees the shared environment's packages (a .pth file:
    dativo, pip) but installs into itself."""
    root = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=60)
    python = root / "bin" / "python"
    own = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (Path(own) / "_dativo_shared.pth").write_text(f"import site; site.addsitedir({site.getsitepackages()[0]!r})\n")
    return python


def _dativo(python: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "dativo_workers.cli", "plugins", *args],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "DATIVO_PIP_ARGS": "--no-index",
            "DATIVO_CERTIFY_CACHE": str(python.parent.parent / "certify-cache"),
            "COLUMNS": "200",
            **(env or {}),
        },
        timeout=240,
    )


def _installed(python: Path) -> str | None:
    probe = (
        "import importlib.metadata as m\n"
        "try: print(m.version('dativo-test-plugin'))\n"
        "except m.PackageNotFoundError: print('-')"
    )
    out = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    return None if out == "-" else out


def test_search_install_with_pinned_hash_and_list_status(tmp_path: Path, venv: Path) -> None:
    wheel = build_wheel(tmp_path / "idx" / "dist")
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    index = write_index(tmp_path / "idx" / "index.yaml", wheel, sha)

    found = _dativo(venv, "search", "counts rows", "--index", str(index))
    assert found.returncode == 0, found.stderr
    assert "dativo-test-plugin" in found.stdout and "certified 2026-11-30" in found.stdout and "MIT" in found.stdout
    as_json = json.loads(_dativo(venv, "search", "ep_csv", "--index", str(index), "--json").stdout)
    assert [e["name"] for e in as_json] == ["dativo-test-plugin"]
    assert as_json[0]["latest"] == "0.3.0" and as_json[0]["versions"] == ["0.2.0", "0.3.0"]
    assert as_json[0]["maintainers"] == [{"name": "Test Maintainer", "email": "test@example.com"}]
    assert as_json[0]["certification"]["passed"] is True
    assert "no plugin in the index matches" in _dativo(venv, "search", "salesforce", "--index", str(index)).stdout

    # a wrong hash: refused before pip runs, nothing installed
    bad = write_index(tmp_path / "idx" / "bad.yaml", wheel, "f" * 64)
    refused = _dativo(venv, "install", "dativo-test-plugin==0.3.0", "--index", str(bad))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"sha256 of {wheel} is {sha}, the index says {'f' * 64}; nothing installed" in refused.stderr
    assert _installed(venv) is None

    # the runner setting (here from the environment, like every runner key) names the index
    env = {"DATIVO_PLUGIN_INDEX": str(index)}
    installed = _dativo(venv, "install", "dativo-test-plugin", env=env)  # latest: 0.3.0
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "installed dativo-test-plugin 0.3.0" in installed.stdout and "certified 2026-11-30" in installed.stdout
    assert _installed(venv) == "0.3.0"
    assert _installed(Path(sys.executable)) is None  # the shared environment is untouched

    listed = _dativo(venv, "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    status = {(p["name"], p["kind"]): p.get("certification") for p in json.loads(listed.stdout)}
    assert status[("ep_counter", "reader")] == "certified 2026-11-30"
    assert status[("ep_csv", "writer")] == "certified 2026-11-30"
    assert status[("csv", "reader")] == "failed 2026-11-30: csv:schema"  # the index's word on a built-in
    assert status[("postgres", "reader")] == "not certified"  # not in this index, no local report
    table = _dativo(venv, "list", env=env).stdout
    assert "certification" in table and "certified 2026-11-30" in table


def test_bad_input_exits_2_and_installs_nothing(tmp_path: Path, venv: Path) -> None:
    wheel = build_wheel(tmp_path / "idx" / "dist")
    index = write_index(tmp_path / "idx" / "index.yaml", wheel, hashlib.sha256(wheel.read_bytes()).hexdigest())
    cases = {
        ("install", "dativo-test-plugn"): "no plugin named 'dativo-test-plugn' in the index",
        ("install", "dativo-test-plugin==9.9"): "no version 9.9 in the index (listed: 0.2.0, 0.3.0)",
        ("install", "dativo-test-plugin==0.2.0"): "cannot fetch dativo-test-plugin 0.2.0's file",
        ("install", "csv"): "csv comes with dativo-workers: nothing to install",
    }
    for args, message in cases.items():
        result = _dativo(venv, *args, "--index", str(index))
        assert result.returncode == 2 and message in result.stderr, (args, result.stdout, result.stderr)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    unreachable = _dativo(venv, "search", "x", "--index", f"http://127.0.0.1:{port}/index.yaml")
    assert unreachable.returncode == 2 and "cannot fetch the plugin index http://127.0.0.1:" in unreachable.stderr
    (tmp_path / "list.yaml").write_text("- just a list\n")
    not_index = _dativo(venv, "search", "x", "--index", str(tmp_path / "list.yaml"))
    assert not_index.returncode == 2 and "expected a mapping with `plugins:`" in not_index.stderr
    runner = tmp_path / "runner.yaml"
    runner.write_text("runner: {}\n")
    unset = _dativo(venv, "search", "x", "--runner", str(runner), env={"DATIVO_PLUGIN_INDEX": ""})
    assert unset.returncode == 2 and "no plugin index configured: set runner.plugin_index" in unset.stderr
    assert _installed(venv) is None


def test_the_repository_index_lists_the_builtins_and_examples_certified() -> None:
    from dativo_workers.plugin_index import load_index, search

    index = load_index(str(REPO / "plugins" / "index.yaml"))
    names = {e.name for e in index.plugins}
    assert {"csv", "jsonl", "parquet", "markdown_kv", "postgres", "mysql", "json_api", "duckdb_query"} <= names
    assert {"stripe", "rest_api", "zendesk", "intercom", "salesforce", "google_sheets", "dativo-access-log"} <= names
    for entry in index.plugins:
        version = entry.version(None)
        assert version is not None, entry.name
        if entry.certify:  # certified by scripts/certify_index.py, report attached
            assert version.certification is not None and version.certification.passed, entry.name
            assert (REPO / "plugins" / str(version.certification.report)).is_file()
    assert [e.name for e in search(index, "duckdb")] == ["duckdb_query"]
