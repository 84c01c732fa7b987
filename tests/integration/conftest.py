"""Integration fixtures shared by several files (a file may define its own `fleet` to change it)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from ..conftest import Workspace
from .fleet import Fleet
from .s3 import S3Server, moto_s3


@pytest.fixture
def fleet(workspace: Workspace) -> Iterator[Fleet]:
    """Worker processes on the workspace's runner config and this test process's broker dbs."""
    fleet = Fleet(
        root=workspace.root,
        runner_file=workspace.runner_file,
        broker_url=os.environ["DATIVO_BROKER_URL"],  # set per test process by conftest.pytest_configure
        result_backend=os.environ["DATIVO_RESULT_BACKEND"],
    )
    fleet.flush()
    try:
        yield fleet
    finally:
        fleet.stop()
        fleet.flush()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    """A failed fleet test shows the end of its workers' logs: what the reconciler and the tasks
    did is the first thing to read when a run did not finish in time (in CI above all)."""
    report: pytest.TestReport = yield
    fleet = getattr(item, "funcargs", {}).get("fleet")
    if report.when == "call" and report.failed and isinstance(fleet, Fleet):
        tail = "\n".join(fleet.log_text().splitlines()[-120:])
        report.sections.append(("worker logs (last 120 lines)", tail))
    return report


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 on loopback with signatures checked (tests/integration/s3.py); one per module,
    each test in its own bucket."""
    with moto_s3() as server:
        yield server
