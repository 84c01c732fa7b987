"""Cases for tests/integration/test_harness.py, run by it in an inner pytest session (the file
name keeps the normal collection away: they only mean something in the order given there)."""

from __future__ import annotations

import os
import subprocess
import sys

from typer.testing import CliRunner

from dativo_workers.cli import app


def test_an_in_process_cli_call_exports_log_settings() -> None:
    result = CliRunner().invoke(app, ["--log-level", "debug", "--log-format", "json", "plugins", "list", "--json"])
    assert result.exit_code == 0, result.output
    assert os.environ["DATIVO_LOG_FORMAT"] == "json"  # the CLI exports them for its worker processes


def test_the_next_test_and_its_subprocesses_do_not_inherit_them() -> None:
    assert "DATIVO_LOG_FORMAT" not in os.environ and "DATIVO_LOG_LEVEL" not in os.environ
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.environ.get('DATIVO_LOG_FORMAT'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert child.stdout.strip() == "None"
