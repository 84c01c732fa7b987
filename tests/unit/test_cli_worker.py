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
    assert argv[argv.index("--concurrency") + 1] == "3" and "--beat" in argv
    assert "-E" not in argv  # task events follow the runner's task_events (Flower enables them itself)

    seen.clear()
    assert CliRunner().invoke(app, ["worker", "--queues", "tenant-a"]).exit_code == 0
    assert seen[0][seen[0].index("--queues") + 1] == "tenant-a"


def test_task_events_are_off_unless_the_runner_asks() -> None:
    from dativo_workers.celery_app import celery_settings
    from dativo_workers.config.runner import RunnerConfig

    quiet = celery_settings(RunnerConfig())
    assert quiet["worker_send_task_events"] is False and quiet["task_send_sent_event"] is False
    watched = celery_settings(RunnerConfig(task_events=True))
    assert watched["worker_send_task_events"] is True and watched["task_send_sent_event"] is True
