"""Real Celery workers for tests: subprocesses on a private Redis db pair, stopped at teardown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import redis

from .services import free_port, service_unavailable

__all__ = ["Fleet", "eventually", "free_port"]
T = TypeVar("T")


@dataclass
class Fleet:
    """Worker processes sharing a runner config (ledger, catalog) and a private broker."""

    root: Path
    runner_file: Path
    broker_url: str
    result_backend: str
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DATIVO_RUNNER_CONFIG": str(self.runner_file),
            "DATIVO_BROKER_URL": self.broker_url,
            "DATIVO_RESULT_BACKEND": self.result_backend,
            "DATIVO_LOG_LEVEL": "info",
            "DATIVO_LOG_FORMAT": "json",
            **self.extra_env,
        }

    def start_worker(self, concurrency: int = 1, queues: str = "dativo,dativo.control", beat: bool = False) -> str:
        name = f"w{len(self.names)}-{uuid.uuid4().hex[:6]}"
        log = self.root / f"{name}.log"
        cmd = [
            sys.executable, "-m", "celery", "-A", "dativo_workers.celery_app", "worker",
            "-c", str(concurrency), "-P", "prefork", "-Q", queues, "--hostname", f"{name}@%h",
            "-E", "--without-gossip", "--without-mingle", "-l", "INFO",
        ]  # fmt: skip
        if beat:  # the embedded beat (`dativo worker --beat`): sends the reconciler every reconcile_seconds
            cmd += ["-B", "--schedule", str(self.root / f"{name}-beat-schedule")]
        handle = log.open("wb")
        proc = subprocess.Popen(cmd, cwd=self.root, env=self.env(), stdout=handle, stderr=subprocess.STDOUT)
        self.processes.append(proc)
        self.names.append(name)
        self.logs.append(log)
        self._wait_ready(log, proc)
        return name

    def _wait_ready(self, log: Path, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{log.read_text(errors='replace')}")
            if b" ready." in log.read_bytes():
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{log.read_text(errors='replace')}")

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs if p.exists())

    def stop(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.processes.clear()

    def flush(self) -> None:
        """Empty this test process's own broker and result dbs (no other process uses them)."""
        for url in (self.broker_url, self.result_backend):
            try:
                redis.Redis.from_url(url).flushdb()
            except redis.ConnectionError as exc:
                service_unavailable("Redis", url, exc)


def eventually(condition: Callable[[], T], timeout: float = 30, interval: float = 0.1, what: str = "condition") -> T:
    """Poll ``condition`` until it returns something truthy (returned), failing after ``timeout``:
    tests wait for a state, never for a fixed time."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout}s (last: {result!r})")
        time.sleep(interval)
