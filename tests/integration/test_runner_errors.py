"""A runner.yaml mistake, met by every process that loads one (the CLI's commands, and Celery's
own command line): exit 2, the file, line and key named, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import Workspace
from .fleet import dativo_command

pytestmark = pytest.mark.integration

BAD_RUNNER = """\
runner:
  lease_seconds: soon
  brokr_url: redis://127.0.0.1:6379/0
"""

COMMANDS = {
    "dativo run": ["{dativo}", "run", "{job}"],
    "dativo submit": ["{dativo}", "submit", "{job}"],
    "dativo worker": ["{dativo}", "worker", "--concurrency", "1"],
    "celery worker": [sys.executable, "-m", "celery", "-A", "dativo_workers.celery_app", "worker", "-c", "1"],
    "celery beat": [sys.executable, "-m", "celery", "-A", "dativo_workers.celery_app", "beat"],
}


def _run(workspace: Workspace, command: list[str], runner: Path) -> subprocess.CompletedProcess[str]:
    workspace.write("data/a.csv", "id\n1\n")
    job = workspace.job(
        "j.yaml",
        """
        tenant_id: acme
        source: {connector: csv, files: [{path: data/a.csv}]}
        target: {namespace: acme, table: t}
        """,
    )
    argv: list[str] = []
    for part in command:
        argv += dativo_command() if part == "{dativo}" else [part.replace("{job}", str(job))]
    env = {k: v for k, v in os.environ.items() if k not in ("DATIVO_BROKER_URL", "DATIVO_RESULT_BACKEND")}
    return subprocess.run(
        argv,
        cwd=workspace.root,
        env={**env, "DATIVO_RUNNER_CONFIG": str(runner)},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", list(COMMANDS), ids=list(COMMANDS))
def test_a_bad_runner_file_stops_every_entry_point_with_a_clear_message(workspace: Workspace, command: str) -> None:
    runner = workspace.write("bad-runner.yaml", BAD_RUNNER)
    result = _run(workspace, COMMANDS[command], runner)
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    assert f"{runner}:2: runner.lease_seconds: Input should be a valid integer" in out, out
    assert f"{runner}:3: runner.brokr_url: unknown key" in out, out
    assert "Traceback" not in out, out


@pytest.mark.parametrize("command", ["dativo worker", "celery worker"])
def test_a_missing_or_unparsable_runner_file_is_named(workspace: Workspace, command: str) -> None:
    missing = _run(workspace, COMMANDS[command], workspace.root / "nope.yaml")
    assert missing.returncode == 2 and f"{workspace.root / 'nope.yaml'}: file not found" in missing.stderr
    broken = workspace.write("broken.yaml", "runner: [1\n")
    unparsable = _run(workspace, COMMANDS[command], broken)
    assert unparsable.returncode == 2 and f"{broken}:2: invalid YAML" in unparsable.stderr, unparsable.stderr
    assert "Traceback" not in missing.stderr + unparsable.stderr
