"""Shared fixtures: an isolated Dativo workspace (runner.yaml, SQLite ledger + catalog) per test."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table
from rich.console import Console

from dativo_workers.config import load_job, load_runner
from dativo_workers.executor import execute
from dativo_workers.ledger import Ledger

from .integration.services import RedisForTests, redis_for_this_process

REPO = Path(__file__).resolve().parent.parent
_redis: RedisForTests | None = None


def pytest_configure(config: pytest.Config) -> None:
    """The producer side of distributed tests (this process) and the workers it starts share a
    Redis of this test process's own (see tests/integration/services.py); set before
    dativo_workers.celery_app is imported."""
    global _redis
    _redis = redis_for_this_process()
    os.environ["DATIVO_BROKER_URL"] = _redis.broker_url
    os.environ["DATIVO_RESULT_BACKEND"] = _redis.result_backend


def pytest_unconfigure(config: pytest.Config) -> None:
    global _redis
    if _redis is not None:
        _redis.close()
        _redis = None


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    """Whatever a test puts in os.environ (an in-process CLI call exports DATIVO_LOG_*, a provider
    test sets secrets) is gone before the next test, and from the subprocesses it starts."""
    saved = dict(os.environ)
    yield
    if dict(os.environ) != saved:
        os.environ.clear()
        os.environ.update(saved)


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


def invoke_cli(
    args: tuple[str, ...] | list[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    unset: tuple[str, ...] = (),
    stdin: str = "",
) -> CliResult:
    """Run `dativo ARGS` through the CLI's own entry point (`main()`: its error handling and
    exit codes) in this process, with ``cwd``, ``env`` and its own stdout/stderr, and put the
    process back as it was. A CLI subprocess costs 2-3 s of imports under coverage; this, none.
    Embedded runs still start their worker processes (spawned: they write to the real fds)."""
    from dativo_workers import cli
    from dativo_workers.secrets.resolve import reset as forget_secrets

    saved_env, saved_cwd, saved_argv, saved_stdin = dict(os.environ), Path.cwd(), sys.argv, sys.stdin
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        os.environ.update(env or {})
        for name in unset:
            os.environ.pop(name, None)
        os.chdir(cwd)
        sys.argv, sys.stdin = ["dativo", *args], io.StringIO(stdin)
        for name, module in list(sys.modules.items()):
            if name.startswith("dativo_workers.cli"):
                for console in (v for v in vars(module).values() if isinstance(v, Console)):
                    console._width = None  # rich reads COLUMNS when a console is made (an earlier call's)
        root.handlers = []  # so the command's logging.basicConfig writes to this call's stderr
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        root.handlers, root.level = saved_handlers, saved_level
        sys.argv, sys.stdin = saved_argv, saved_stdin
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        forget_secrets()  # secrets resolved by this call are not reused by the next
    return CliResult(code, out.getvalue(), err.getvalue())


@dataclass
class Workspace:
    root: Path

    @property
    def runner_file(self) -> Path:
        return self.root / "runner.yaml"

    @property
    def state(self) -> Path:
        return self.root / "state"

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    def job(self, relative: str, text: str) -> Path:
        return self.write(relative, text)

    def run(self, job: Path, workers: int = 1) -> dict[str, Any]:
        """Run in-process (fast); the CLI path is covered by `cli()`."""
        return execute(load_job(job), load_runner(self.runner_file), workers)

    def cli(self, *args: str, env: dict[str, str] | None = None) -> CliResult:
        """`dativo ARGS` run in this process (see invoke_cli): the same code path as the command.
        With another broker in ``env``, in a process: this one's Celery app keeps the broker it
        was imported with."""
        given = env or {}
        if any(k in given and given[k] != os.environ.get(k) for k in ("DATIVO_BROKER_URL", "DATIVO_RESULT_BACKEND")):
            return self.cli_process(*args, env=env)
        return invoke_cli(args, self.root, {"DATIVO_RUNNER_CONFIG": str(self.runner_file), **(env or {})})

    def cli_process(self, *args: str, env: dict[str, str] | None = None) -> CliResult:
        """`dativo ARGS` in a process of its own: for what only a process shows (signals, a
        freshly installed plugin, start-up)."""
        proc = subprocess.run(
            [sys.executable, "-m", "dativo_workers.cli", *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "DATIVO_RUNNER_CONFIG": str(self.runner_file), **(env or {})},
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    def catalog(self) -> Catalog:
        return SqlCatalog(
            "default", uri=f"sqlite:///{self.state}/catalog.db", warehouse=(self.state / "warehouse").as_uri()
        )

    def table(self, identifier: str) -> Table:
        return self.catalog().load_table(identifier)

    def read(self, identifier: str, sort_by: str | None = None) -> pa.Table:
        data = self.table(identifier).scan().to_arrow()
        return data.sort_by(sort_by) if sort_by else data

    def ledger(self) -> Ledger:
        return Ledger(load_runner(self.runner_file).ledger_url)


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path)
    ws.write(
        "runner.yaml",
        f"""
        runner:
          ledger_url: sqlite:///{tmp_path}/state/dativo.db
          catalogs:
            default:
              type: sql
              uri: sqlite:///{tmp_path}/state/catalog.db
              warehouse: {tmp_path}/state/warehouse
        """,
    )
    return ws
