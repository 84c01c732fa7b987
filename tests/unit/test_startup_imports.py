"""Start-up: `dativo --help` (and a command's --help) imports only what printing help needs.

The figure that matters is time, but time depends on the machine and its load: these tests
assert the import set instead (docs/performance.md, Start-up, has the measured times).
"""

from __future__ import annotations

import json
import subprocess
import sys

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
