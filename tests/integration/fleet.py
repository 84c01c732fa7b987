"""Real Celery workers for tests: `dativo worker` subprocesses on the test process's own Redis, stopped at
teardown (and when the test process dies)."""

from __future__ import annotations

import base64
import codecs
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, quote_plus

import psutil
import redis

from .services import die_with_parent, free_port, service_unavailable

__all__ = ["BrokerRecorder", "Fleet", "alive_in_group", "eventually", "free_port", "leaks"]
T = TypeVar("T")


def _child_setup(cpus: set[int] | None) -> None:
    die_with_parent()
    if cpus is not None:
        os.sched_setaffinity(0, cpus)


def alive_in_group(group: int) -> list[int]:
    """The live (not zombie) processes of a process group."""
    alive = []
    for proc in psutil.process_iter():
        with contextlib.suppress(ProcessLookupError, psutil.Error):
            if os.getpgid(proc.pid) == group and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc.pid)
    return alive


def dativo_command() -> list[str]:
    """The `dativo` console script of this environment (as installed), else the module."""
    script = Path(sys.executable).with_name("dativo")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dativo_workers.cli"]


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

    def start_worker(
        self,
        concurrency: int = 1,
        queues: str | None = None,
        beat: bool = False,
        cpus: set[int] | None = None,
        args: tuple[str, ...] = (),
    ) -> str:
        """A worker started as operators start one, `dativo worker` (the console script), so its
        options, default queues (dativo,dativo.control) and process setup are what is tested.
        ``beat``: `dativo worker --beat`, the embedded beat that sends the reconciler every
        reconcile_seconds (its schedule file lands in the test's directory). ``cpus``: the CPU
        affinity of the worker (as `taskset` or a cpuset would set it). ``args``: more options of
        `dativo worker` (`--metrics-port N`, say)."""
        name = f"w{len(self.names)}-{uuid.uuid4().hex[:6]}"
        log = self.root / f"{name}.log"
        cmd = [*dativo_command(), "--log-level", "info", "--log-format", "json", "worker",
               "--concurrency", str(concurrency), "--hostname", f"{name}@%h"]  # fmt: skip
        if queues is not None:
            cmd += ["--queues", queues]
        if beat:
            cmd += ["--beat"]
        cmd += list(args)
        handle = log.open("wb")
        proc = subprocess.Popen(
            cmd, cwd=self.root, env=self.env(), stdout=handle, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=lambda: _child_setup(cpus),
        )  # fmt: skip
        self.processes.append(proc)
        self.names.append(name)
        self.logs.append(log)
        self._wait_ready(log, proc)
        return name

    def kill_worker(self, index: int) -> None:
        """SIGKILL a whole worker, main process and pool alike (its own process group), as a lost
        host or a pod past its grace period: no warm shutdown, no acknowledgement, no requeue."""
        proc = self.processes[index]
        deadline = time.monotonic() + 10
        while True:  # again while a member lives: a process forked as the signal went out
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            if not alive_in_group(proc.pid) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        proc.wait()

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
            with contextlib.suppress(ProcessLookupError):  # pool processes left behind by a killed main process
                os.killpg(proc.pid, signal.SIGKILL)
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


class BrokerRecorder:
    """Everything the test process's Redis carries while it carries it: every command any
    client sends (Redis MONITOR, on a thread), so a message is seen before a worker takes,
    acknowledges and deletes it. Kombu base64-encodes message bodies: `texts()` decodes them."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url)
        self._commands: list[list[bytes]] = []
        self._monitor = self._client.monitor()
        self._monitor.__enter__()
        self._thread = threading.Thread(target=self._record, daemon=True)
        self._thread.start()

    def _record(self) -> None:
        with contextlib.suppress(Exception):  # the connection is closed by stop()
            while True:
                response = self._monitor.connection.read_response()
                if isinstance(response, bytes):
                    self._commands.append(_monitor_args(response))

    def stop(self) -> BrokerRecorder:
        time.sleep(0.2)  # the last commands in flight
        with contextlib.suppress(Exception):
            self._monitor.__exit__(None, None, None)
        self._thread.join(timeout=5)
        return self

    def texts(self) -> list[str]:
        """Every argument of every command, plus the decoded body of every kombu message."""
        out: list[str] = []
        for args in list(self._commands):
            for arg in args:
                text = arg.decode("utf-8", "replace")
                out.append(text)
                out.extend(_message_bodies(text))
        return out


_MONITOR_ARG = re.compile(rb'"((?:[^"\\]|\\.)*)"')


def _monitor_args(line: bytes) -> list[bytes]:
    """`1700000000.1 [0 127.0.0.1:5000] "LPUSH" "dativo" "{\\"body\\": ...}"`: the quoted arguments,
    unescaped (Redis writes \\" \\\\ \\n \\xHH ...)."""
    return [codecs.escape_decode(m)[0] for m in _MONITOR_ARG.findall(line)]  # type: ignore[attr-defined]


def _message_bodies(text: str) -> list[str]:
    try:
        envelope = json.loads(text)
    except ValueError:
        return []
    found: list[str] = []
    stack = [envelope]
    while stack:  # a message may sit inside a list ([message, exchange, routing key] in `unacked`)
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            body = node.get("body")
            if isinstance(body, str) and (node.get("properties") or {}).get("body_encoding") == "base64":
                with contextlib.suppress(ValueError):
                    found.append(base64.b64decode(body).decode("utf-8", "replace"))
    return found


def secret_forms(value: str) -> set[str]:
    """How a value can show up in text: as is, URL-quoted (path and form style), JSON-escaped,
    JSON-escaped twice (a JSON document inside a JSON string), and Python-repr'd."""
    forms = {value, quote(value, safe=""), quote_plus(value), quote(value), json.dumps(value)[1:-1], repr(value)[1:-1]}
    forms |= {json.dumps(value, ensure_ascii=False)[1:-1], json.dumps(json.dumps(value)[1:-1])[1:-1]}
    return {f for f in forms if f}


def leaks(value: str, *texts: str) -> list[str]:
    """The forms of ``value`` found in ``texts`` (empty: no leak)."""
    forms = secret_forms(value)
    return sorted({form for text in texts for form in forms if form in text})
