"""Integration fixtures shared by several files (a file may define its own `fleet` to change it)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from ..conftest import Workspace
from .fleet import Fleet


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
