"""Which errors are worth retrying, and when to try again (exponential backoff with jitter)."""

from __future__ import annotations

import errno
import random
import socket
import time
from collections.abc import Callable
from typing import TypeVar

import structlog

from dativo_workers.config.job import RetryPolicy
from dativo_workers.errors import DativoError, PluginError, TransientError

T = TypeVar("T")
log = structlog.get_logger("dativo.retry")

_TRANSIENT_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.ETIMEDOUT,
    errno.EPIPE,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.EAGAIN,
}
_TRANSIENT_NAMES = {
    "OperationalError",  # SQLAlchemy / DB-API: connection lost, server restarting, lock timeout
    "InterfaceError",
    "ConnectionError",  # redis-py, requests, httpx
    "TimeoutError",
    "ReadTimeout",
    "ConnectTimeout",
    "ServiceUnavailable",
    "CommitFailedException",
}


def is_transient(exc: BaseException) -> bool:
    """True for connection refused/reset, timeouts, HTTP 429/5xx and similar hiccups."""
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, PluginError):
        return is_transient(exc.cause)
    if isinstance(exc, DativoError):
        return False  # config, bad data, source errors: the same input fails the same way
    if isinstance(exc, ConnectionError | TimeoutError | socket.timeout):
        return True
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS:
        return True
    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int) and (status == 429 or 500 <= status < 600):
        return True
    if any(cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__):
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and is_transient(cause)


def backoff_seconds(policy: RetryPolicy, attempt: int) -> float:
    """Delay before attempt ``attempt + 1``: exponential, capped, with full jitter on top half."""
    base = min(policy.backoff_seconds * (2 ** max(attempt - 1, 0)), policy.max_backoff_seconds)
    return base / 2 + random.uniform(0, base / 2)


def call_with_retries(policy: RetryPolicy, call: Callable[[], T], what: str) -> T:
    """Run ``call``; transient failures wait their backoff and try again, up to max_attempts."""
    attempt = 1
    while True:
        try:
            return call()
        except Exception as exc:
            if attempt >= policy.max_attempts or not is_transient(exc):
                raise
            delay = backoff_seconds(policy, attempt)
            log.warning(
                "transient error, retrying", during=what, attempt=attempt, delay_s=round(delay, 2), error=str(exc)
            )
            time.sleep(delay)
            attempt += 1
