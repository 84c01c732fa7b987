"""Prometheus metrics of the engine: what workers ingest and commit, and what goes wrong.

Off unless a command started with `--metrics-port` (`dativo worker`, `dativo run`): that command
makes a private directory, exports it as PROMETHEUS_MULTIPROC_DIR, and serves `/metrics` from
every file its processes write there (prometheus_client's multiprocess mode: each Celery
prefork child and each embedded pool process keeps its own file, summed when scraped). Off, each
recording function is one environment lookup, once per partition or commit, never per row, and
prometheus_client is not imported.

Labels are bounded: tenant and table (and an outcome or error kind from a fixed set); never a
run id, a partition or an error text. docs/operations.md ("Metrics") lists the names.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any

from dativo_workers.errors import DativoError

ENV = "PROMETHEUS_MULTIPROC_DIR"
# a partition's outcome, as the partitions counter's `outcome` label
OUTCOMES = ("done", "retried", "failed", "duplicate", "stolen_lease")
SOURCE_ERROR_KINDS = ("timeout", "bad_data", "config", "transient", "source", "other")
SECRET_ERROR_KINDS = ("not_found", "refused", "unavailable", "error")
PARTITION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
COMMIT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)

# Every name this module exports, as Prometheus shows it (counters gain _total, histograms
# _bucket/_sum/_count): docker/monitoring's dashboard may only query these (and its exporters').
EXPORTED = {
    "dativo_rows_total",
    "dativo_bytes_total",
    "dativo_bad_rows_total",
    "dativo_partitions_total",
    "dativo_partitions_in_progress",
    "dativo_partition_duration_seconds",
    "dativo_commit_duration_seconds",
    "dativo_commits_total",
    "dativo_source_errors_total",
    "dativo_secret_provider_errors_total",
}


@dataclass
class _Metrics:
    directory: str
    rows: Any
    bytes: Any
    bad_rows: Any
    partitions: Any
    in_progress: Any
    partition_duration: Any
    commit_duration: Any
    commits: Any
    source_errors: Any
    secret_errors: Any


_current: _Metrics | None = None
_lock = threading.Lock()


def _metrics() -> _Metrics | None:
    """This process's metrics, made on first use for the directory in PROMETHEUS_MULTIPROC_DIR;
    None when metrics are off."""
    global _current
    directory = os.environ.get(ENV)
    if not directory:
        return None
    found = _current
    if found is not None and found.directory == directory:
        return found
    with _lock:
        if _current is None or _current.directory != directory:
            _current = _make(directory)
        return _current


def _make(directory: str) -> _Metrics:
    from prometheus_client import Counter, Gauge, Histogram, values

    # Values go to this directory's files even if prometheus_client was imported before the
    # variable was set (a fresh value class per directory: its files follow forks by pid).
    values.ValueClass = values.MultiProcessValue()
    labels = ("tenant", "table")
    return _Metrics(
        directory=directory,
        rows=Counter("dativo_rows", "Rows written by partitions that finished", labels, registry=None),
        bytes=Counter("dativo_bytes", "Bytes of data files written by partitions that finished", labels, registry=None),
        bad_rows=Counter("dativo_bad_rows", "Rows quarantined or skipped (bad_rows policy)", labels, registry=None),
        partitions=Counter(
            "dativo_partitions",
            "Partition attempts by outcome: done, retried, failed, duplicate (discarded), stolen_lease",
            (*labels, "outcome"),
            registry=None,
        ),
        in_progress=Gauge(
            "dativo_partitions_in_progress",
            "Partition attempts running now",
            labels,
            registry=None,
            multiprocess_mode="livesum",
        ),
        partition_duration=Histogram(
            "dativo_partition_duration_seconds",
            "One partition attempt, claim to outcome",
            labels,
            buckets=PARTITION_BUCKETS,
            registry=None,
        ),
        commit_duration=Histogram(
            "dativo_commit_duration_seconds",
            "Committing a run: from the commit claim to the committed run",
            labels,
            buckets=COMMIT_BUCKETS,
            registry=None,
        ),
        commits=Counter("dativo_commits", "Runs committed or failed at commit", (*labels, "state"), registry=None),
        source_errors=Counter(
            "dativo_source_errors",
            "Partition attempts that raised, by kind: " + ", ".join(SOURCE_ERROR_KINDS),
            (*labels, "kind"),
            registry=None,
        ),
        secret_errors=Counter(
            "dativo_secret_provider_errors",
            "Secret lookups that failed, by kind: " + ", ".join(SECRET_ERROR_KINDS),
            ("tenant", "provider", "kind"),
            registry=None,
        ),
    )


# -- recording (each a no-op when metrics are off) ----------------------------------------------


def partition_started(tenant: str, table: str) -> float:
    """Call when an attempt holds its partition; returns the start time for `partition_ended`."""
    m = _metrics()
    if m is not None:
        m.in_progress.labels(tenant, table).inc()
    return time.monotonic()


def partition_ended(
    tenant: str, table: str, started: float, outcome: str | None, rows: int = 0, nbytes: int = 0, bad_rows: int = 0
) -> None:
    """An attempt's end. ``outcome`` one of OUTCOMES, or None (cancelled: not counted)."""
    m = _metrics()
    if m is None:
        return
    m.in_progress.labels(tenant, table).dec()
    if outcome is None:
        return
    m.partitions.labels(tenant, table, outcome).inc()
    m.partition_duration.labels(tenant, table).observe(time.monotonic() - started)
    if outcome == "done":
        m.rows.labels(tenant, table).inc(rows)
        m.bytes.labels(tenant, table).inc(nbytes)
        m.bad_rows.labels(tenant, table).inc(bad_rows)


def lease_stolen(tenant: str, table: str, count: int = 1) -> None:
    """The reconciler took back partitions whose worker went silent (their lease lapsed)."""
    m = _metrics()
    if m is not None and count:
        m.partitions.labels(tenant, table, "stolen_lease").inc(count)


def source_error(tenant: str, table: str, exc: BaseException) -> None:
    m = _metrics()
    if m is not None:
        m.source_errors.labels(tenant, table, error_kind(exc)).inc()


def error_kind(exc: BaseException) -> str:
    """A partition error's kind, from a fixed set (SOURCE_ERROR_KINDS)."""
    from dativo_workers.errors import BadDataError, ConfigError, PluginError
    from dativo_workers.retry import is_transient

    if type(exc).__name__ in ("SoftTimeLimitExceeded", "TimeLimitExceeded", "TimeoutError"):
        return "timeout"
    cause = exc.cause if isinstance(exc, PluginError) and isinstance(exc.cause, DativoError) else exc
    if isinstance(cause, BadDataError):
        return "bad_data"
    if isinstance(cause, ConfigError):
        return "config"
    if is_transient(exc):
        return "transient"
    from dativo_workers.errors import SourceError

    return "source" if isinstance(cause, SourceError | PluginError) else "other"


def commit_ended(tenant: str, table: str, started: float, state: str) -> None:
    """A commit that was claimed ended: ``state`` committed or failed (its duration is observed
    for committed runs only)."""
    m = _metrics()
    if m is None:
        return
    m.commits.labels(tenant, table, state).inc()
    if state == "committed":
        m.commit_duration.labels(tenant, table).observe(time.monotonic() - started)


def secret_error(tenant: str, provider: str, kind: str) -> None:
    m = _metrics()
    if m is not None:
        m.secret_errors.labels(tenant, provider, kind).inc()


def process_dead(pid: int) -> None:
    """A worker process exits: its live gauges (partitions in progress) stop counting."""
    directory = os.environ.get(ENV)
    if directory:
        from prometheus_client import multiprocess

        with contextlib.suppress(OSError):
            multiprocess.mark_process_dead(pid, directory)


# -- serving ------------------------------------------------------------------------------------


class MetricsServer:
    """`/metrics` over HTTP for every process writing into one private directory."""

    def __init__(self, port: int, host: str) -> None:
        self.port, self.host = port, host
        self.directory = tempfile.mkdtemp(prefix="dativo-metrics-")
        self._pid = os.getpid()  # forked children inherit the exit hook: only this process stops it
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> MetricsServer:
        """Export the directory (for this process and every one it starts) and listen; a port in
        use is a DativoError naming it (exit 2)."""
        from prometheus_client import CollectorRegistry, multiprocess, start_http_server

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.directory)
        try:
            self._server, self._thread = start_http_server(self.port, self.host, registry=registry)
        except OSError as exc:
            self.remove()
            if exc.errno == errno.EADDRINUSE:
                raise DativoError(
                    f"--metrics-port {self.port}: port {self.port} is already in use on {self.host}; "
                    "choose a free port (each worker on a host needs its own)"
                ) from None
            raise DativoError(f"--metrics-port {self.port}: cannot listen on {self.host}:{self.port}: {exc}") from None
        os.environ[ENV] = self.directory
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        global _current
        if os.getpid() != self._pid:
            return
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if os.environ.get(ENV) == self.directory:
            del os.environ[ENV]
            from prometheus_client import values

            with _lock:  # this process records nothing more, and its other metrics are its own again
                _current = None
                values.ValueClass = values.get_value_class()
        self.remove()

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def serving(port: int | None, host: str) -> Any:
    """`/metrics` on ``port`` while the block runs (nothing when ``port`` is None)."""
    if port is None:
        yield None
        return
    server = MetricsServer(port, host).start()
    try:
        yield server
    finally:
        server.stop()
