"""`dativo worker` builds the Celery worker command line it documents."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from dativo_workers.cli import app


def test_worker_consumes_partitions_and_the_control_queue_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from dativo_workers import celery_app

    seen: list[list[str]] = []
    monkeypatch.setattr(celery_app.app, "worker_main", lambda argv: seen.append(list(argv)))
    result = CliRunner().invoke(app, ["worker", "-c", "3", "--beat"])
    assert result.exit_code == 0, result.output
    [argv] = seen
    assert argv[argv.index("--queues") + 1] == "dativo,dativo.control"
    assert argv[argv.index("--concurrency") + 1] == "3" and "--beat" in argv and "-E" in argv

    seen.clear()
    assert CliRunner().invoke(app, ["worker", "--queues", "tenant-a"]).exit_code == 0
    assert seen[0][seen[0].index("--queues") + 1] == "tenant-a"
