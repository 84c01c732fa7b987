"""The real services tests talk to: a missing one fails the run, and every test process gets a
Redis of its own.

A service that cannot be reached fails the test that needs it, naming the service and its
address; `DATIVO_TEST_ALLOW_SKIP=1` turns that into a skip (for a laptop without MariaDB, say),
never silently. `bash scripts/services.sh` (run by `scripts/test.sh`) starts what is missing.

Redis: each pytest process (the master, or each xdist worker) starts a private `redis-server`
on a free loopback port and uses its dbs 0 and 1, so no two test processes, and no two pytest
sessions on one machine, ever share a queue that a fixture flushes. With
`DATIVO_TEST_REDIS_URL` set (a server given from outside), or without `redis-server` on the
PATH, each process takes a broker/result db pair of that server under an exclusive file lock
(released when the process exits), so concurrent processes still never share one.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NoReturn

import pytest
import redis

SHARED_REDIS = "redis://127.0.0.1:6379"
PAIRS = 7  # dbs 2..15 of a shared server; 0 and 1 are left to people's own workers


def allow_skip() -> bool:
    return os.environ.get("DATIVO_TEST_ALLOW_SKIP", "") == "1"


def service_unavailable(service: str, address: str, error: object) -> NoReturn:
    """Fail (or, when the caller allowed it, skip) a test whose service cannot be reached."""
    message = f"{service} is not reachable at {address}: {error}"
    if allow_skip():
        raise pytest.skip.Exception(message + " (DATIVO_TEST_ALLOW_SKIP=1)") from None
    raise pytest.fail.Exception(
        message + "\nStart it (`bash scripts/services.sh`), point the test at one (DATIVO_TEST_* variables), "
        "or set DATIVO_TEST_ALLOW_SKIP=1 to skip the tests that need it.",
        pytrace=False,
    ) from None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM when the test process dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class RedisForTests:
    """The Redis of one test process: a base URL and the broker/result dbs on it."""

    base: str
    broker_db: int
    result_db: int
    process: subprocess.Popen[bytes] | None = None
    lock: IO[str] | None = None
    workdir: Path | None = field(default=None, repr=False)

    @property
    def broker_url(self) -> str:
        return f"{self.base}/{self.broker_db}"

    @property
    def result_backend(self) -> str:
        return f"{self.base}/{self.result_db}"

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.lock is not None:
            self.lock.close()  # releases the pair
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def start_private_redis(timeout: float = 15) -> RedisForTests:
    """A redis-server of this process's own on a free loopback port (no persistence)."""
    workdir = Path(tempfile.mkdtemp(prefix="dativo-test-redis-"))
    last: Exception | None = None
    for _ in range(3):  # another process may take the free port before redis binds it
        port = free_port()
        proc = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(workdir), "--databases", "16"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent,
        )  # fmt: skip
        url = f"redis://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                redis.Redis.from_url(url, socket_connect_timeout=1).ping()
                return RedisForTests(url, 0, 1, process=proc, workdir=workdir)
            except redis.ConnectionError as exc:
                last = exc
                time.sleep(0.05)
        proc.kill()
        proc.wait()
    shutil.rmtree(workdir, ignore_errors=True)
    raise RuntimeError(f"could not start a private redis-server: {last}")


def lock_db_pair(base: str, lock_dir: Path | None = None) -> RedisForTests:
    """A broker/result db pair of a shared server, held under an exclusive lock by this process."""
    lock_dir = lock_dir or Path(tempfile.gettempdir()) / "dativo-test-redis-locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(base.encode()).hexdigest()[:12]
    for n in range(PAIRS):
        handle = (lock_dir / f"{key}-pair{n}.lock").open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        return RedisForTests(base, 2 + 2 * n, 3 + 2 * n, lock=handle)
    raise RuntimeError(
        f"all {PAIRS} Redis db pairs of {base} are taken by other test processes "
        f"(locks in {lock_dir}); run fewer at once, or unset DATIVO_TEST_REDIS_URL to give each its own server"
    )


def redis_for_this_process() -> RedisForTests:
    given = os.environ.get("DATIVO_TEST_REDIS_URL", "").rstrip("/")
    if not given and shutil.which("redis-server"):
        return start_private_redis()
    base = given or SHARED_REDIS
    try:
        redis.Redis.from_url(base, socket_connect_timeout=2).ping()
    except redis.ConnectionError as exc:
        if not allow_skip():
            raise pytest.UsageError(
                f"Redis is not reachable at {base}: {exc}. Install redis-server (each test process then starts "
                "its own), start one (`bash scripts/services.sh`), or set DATIVO_TEST_REDIS_URL."
            ) from None
    return lock_db_pair(base)
