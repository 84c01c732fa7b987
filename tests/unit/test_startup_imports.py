"""Start-up: `dativo --help` (and a command's --help) imports only what printing help needs.

The figure that matters is time, but time depends on the machine and its load: these tests
assert the import set instead (docs/performance.md, Start-up, has the measured times).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

# Libraries whose import costs tens to hundreds of milliseconds and that no help text needs.
HEAVY = (
    "pyiceberg",
    "sqlalchemy",
    "celery",
    "kombu",
    "duckdb",
    "pyarrow",
    "open_data_contract_standard",
    "psycopg",
    "pymysql",
    "connectorx",
    "jsonschema",
    "pydantic_settings",
    "dativo_plugins",
)

PROBE = """
import atexit, json, sys
atexit.register(lambda: sys.__stderr__.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n"))
sys.argv = ["dativo", *json.loads(sys.argv[1])]
from dativo_workers.cli import main
main()
"""


def _help(*args: str) -> tuple[str, set[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(args))], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("MODULES ")]
    assert lines, proc.stderr[-3000:]
    return proc.stdout, set(json.loads(lines[-1].removeprefix("MODULES ")))


def _heavy(modules: set[str]) -> list[str]:
    return sorted({name for name in modules if name.split(".")[0] in HEAVY})


def test_top_level_help_imports_no_engine_library() -> None:
    text, modules = _help("--help")
    assert "Usage: dativo" in text and "run" in text and "state" in text  # the help was printed
    assert _heavy(modules) == []
    # nor the engine's own heavy modules: configuration models, catalog, ledger, plugin manager
    engine = {"dativo_workers.config", "dativo_workers.iceberg", "dativo_workers.ledger", "dativo_workers.plugins"}
    assert modules & engine == set()
    assert "structlog" not in modules and "pydantic" not in modules  # logging is set up by commands, not help


@pytest.mark.parametrize("command", ["run", "submit", "state", "maintain", "plugins", "secrets", "worker", "ui"])
def test_command_help_imports_no_engine_library(command: str) -> None:
    text, modules = _help(command, "--help")
    assert f"Usage: dativo {command}" in text
    assert _heavy(modules) == []


def test_secrets_package_is_lazy_and_keeps_its_names() -> None:
    """`dativo_workers.secrets` loads a submodule on first use; `resolve` stays the function even
    after the submodule of the same name is imported directly."""
    code = (
        "import sys\n"
        "import dativo_workers.secrets.redact\n"
        "assert 'pydantic' not in sys.modules, 'redact pulled pydantic'\n"
        "from dativo_workers.secrets.resolve import Resolver\n"
        "import dativo_workers.secrets as s\n"
        "from dativo_workers.secrets import MASK, SecretRef, resolve\n"
        "assert callable(resolve) and resolve is s.resolve and not isinstance(resolve, type(sys))\n"
        "assert MASK == '***' and SecretRef.__module__ == 'dativo_workers.secrets.base'\n"
        "try:\n"
        "    s.no_such_name\n"
        "except AttributeError as exc:\n"
        "    print(exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "no attribute 'no_such_name'" in proc.stdout


RUN_PROBE = """
import atexit, json, sys
atexit.register(lambda: sys.__stderr__.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n"))
sys.argv = ["dativo", *json.loads(sys.argv[1])]
from dativo_workers.cli import main
main()
"""


def _process(workspace: Any, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", RUN_PROBE, json.dumps(list(args))],
        cwd=workspace.root,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DATIVO_RUNNER_CONFIG": str(workspace.runner_file)},
    )
    lines = [line for line in proc.stderr.splitlines() if line.startswith("MODULES ")]
    assert lines, proc.stderr[-3000:]
    return proc, set(json.loads(lines[-1].removeprefix("MODULES ")))


def _csv_job(workspace: Any, connector: str = "csv") -> Any:
    workspace.write("data/a.csv", "id,name\n1,Ana\n2,Bo\n")
    return workspace.job(
        "job.yaml",
        f"""
        tenant_id: acme
        name: small
        source:
          connector: {connector}
          files:
            - path: data/a.csv
        target:
          connector: iceberg
          catalog: default
          namespace: raw
          table: small
        """,
    )


def test_small_run_imports_only_the_plugin_of_its_connector(workspace: Any) -> None:
    """A csv job loads the entry point that provides `csv` and no other connector (their HTTP
    clients and models cost ~0.05-0.1 s at each start); the run itself is unchanged."""
    job = _csv_job(workspace)
    proc, modules = _process(workspace, "run", str(job), "--workers", "1", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["state"] == "committed" and summary["rows"] == 2
    plugins = {name.split(".")[1] for name in modules if name.startswith("dativo_plugins.")}
    assert plugins == {"files"}


def test_unknown_connector_still_lists_every_installed_reader(workspace: Any) -> None:
    """A connector no plugin provides falls back to loading every entry point: the error lists
    them all, as before."""
    job = _csv_job(workspace, connector="no_such_reader")
    proc, modules = _process(workspace, "run", str(job), "--workers", "1")
    assert proc.returncode == 2, proc.stderr[-3000:]
    message = proc.stdout + proc.stderr
    assert "no reader named 'no_such_reader'" in message
    for name in ("csv", "jsonl", "parquet", "postgres", "mysql", "stripe", "rest_api"):
        assert name in message.split("installed:", 1)[1]
    assert {"dativo_plugins.sql", "dativo_plugins.stripe"} <= modules


def test_find_reader_loads_the_likely_plugin_first() -> None:
    """The entry point named after the connector, or whose package has a module named after it,
    is tried first; the class comes from what the loaded plugin returns."""
    code = (
        "import sys\n"
        "from dativo_workers.plugins.manager import find_reader, installed_plugins\n"
        "from dativo_workers.plugins.manager import _likely_first\n"
        "assert [f.entry_point.name for f in _likely_first('postgres')][0] == 'sql'\n"
        "assert [f.entry_point.name for f in _likely_first('stripe')][0] == 'stripe'\n"
        "assert not [m for m in sys.modules if m.startswith('dativo_plugins')], 'ordering imported a plugin'\n"
        "assert find_reader('postgres').__module__ == 'dativo_plugins.sql.postgres'\n"
        "assert 'dativo_plugins.stripe' not in sys.modules and 'dativo_plugins.files' not in sys.modules\n"
        "assert find_reader('jsonl').name == 'jsonl' and find_reader('nope') is None\n"
        "names = {(p.kind, p.name) for p in installed_plugins()}\n"
        "assert {('reader', 'csv'), ('reader', 'stripe'), ('writer', 'parquet')} <= names, names\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_asset_model_imports_jsonschema_only_to_validate_a_contract() -> None:
    code = (
        "import sys\n"
        "import dativo_workers.config.asset as asset\n"
        "assert 'jsonschema' not in sys.modules\n"
        "asset._odcs_validator()\n"
        "assert 'jsonschema' in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_objects_are_frozen_before_the_last_collections_at_exit() -> None:
    """`main()` registers a gc.freeze at exit (once, however often it runs): the interpreter's final
    garbage collections skip the objects the imports made (~0.13 CPU s of a small run)."""
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: sys.__stderr__.write(f'\\nFROZEN {gc.get_freeze_count()}\\n'))\n"
        "from dativo_workers.cli import main\n"
        "for _ in range(2):\n"
        "    sys.argv = ['dativo', '--help']\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit:\n"
        "        pass\n"
        "assert gc.get_freeze_count() == 0, 'frozen before exit'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("Usage: dativo") == 2
    frozen = [line for line in proc.stderr.splitlines() if line.startswith("FROZEN ")]
    assert frozen and int(frozen[-1].split()[1]) > 10_000


def test_nothing_is_frozen_at_exit_when_a_nanobind_extension_is_loaded() -> None:
    """DuckDB's extension (nanobind) reports objects alive at exit as leaks on stderr: with it
    loaded (quality rules), the objects are not frozen and the exit stays quiet."""
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: sys.__stderr__.write(f'\\nFROZEN {gc.get_freeze_count()}\\n'))\n"
        "import duckdb\n"
        "duckdb.connect().sql('select 1').fetchall()\n"
        "from dativo_workers.cli import main\n"
        "sys.argv = ['dativo', '--help']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "nanobind" not in proc.stderr and "leaked" not in proc.stderr, proc.stderr[-3000:]
    assert "FROZEN 0" in proc.stderr


def test_objects_are_frozen_at_exit_with_duckdb_extension_alone() -> None:
    """Quality rules load DuckDB's extension (`_duckdb`) alone to parse SQL rules and query the
    staged Parquet: with its connection closed, nothing leaks, so the exit still skips the
    collections (frozen) and stderr stays quiet."""
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: sys.__stderr__.write(f'\\nFROZEN {gc.get_freeze_count()}\\n'))\n"
        "from dativo_workers.quality import duckdb_engine\n"
        "engine = duckdb_engine()\n"
        "assert engine.__name__ == '_duckdb' and 'duckdb' not in sys.modules\n"
        "assert engine.extract_statements('select 1')[0].type == engine.StatementType.SELECT\n"
        "con = engine.connect()\n"
        "assert con.execute('select 42').fetchall() == [(42,)]\n"
        "con.close()\n"
        "from dativo_workers.cli import main\n"
        "sys.argv = ['dativo', '--help']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "nanobind" not in proc.stderr and "leaked" not in proc.stderr, proc.stderr[-3000:]
    frozen = [line for line in proc.stderr.splitlines() if line.startswith("FROZEN ")]
    assert frozen and int(frozen[-1].split()[1]) > 10_000, proc.stderr[-3000:]
