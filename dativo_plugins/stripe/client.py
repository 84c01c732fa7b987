"""A small Stripe REST client: list pages with bounded retries, errors without secrets."""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from dativo_workers.errors import SourceError, TransientError

log = structlog.get_logger("dativo.stripe")

# Anything shaped like a Stripe key (secret, restricted, publishable), masked even when the
# server echoes one back in an error message.
_KEY_SHAPED = re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]+")


@dataclass(frozen=True)
class RetrySettings:
    max_retries: int = 8  # retries after the first attempt
    backoff_seconds: float = 0.5  # first delay for 5xx and network errors; doubles each time
    max_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 120.0  # a longer Retry-After is cut to this
    requests_per_second: float | None = None  # pace of this client (one per worker process); None: no pacing


class StripeApiError(SourceError):
    """A permanent Stripe error (4xx other than 429): retrying the same request fails the same way."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status_code = status


class StripeUnavailable(TransientError):
    """Retries exhausted on 429/5xx/network errors: worth retrying the partition later."""


class StripeClient:
    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        api_version: str | None = None,
        account: str | None = None,
        timeout: float = 60.0,
        retry: RetrySettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._key = api_key
        self._retry = retry or RetrySettings()
        self._sleep = sleep
        self._next_request = 0.0  # monotonic time before which pacing holds the next request
        headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        if api_version:
            headers["Stripe-Version"] = api_version
        if account:
            headers["Stripe-Account"] = account
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def redact(self, text: str) -> str:
        if self._key:
            text = text.replace(self._key, "***")
        return _KEY_SHAPED.sub("***", text)

    def get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """GET ``path``; 429 waits Retry-After (else backs off), 5xx and network errors back off
        exponentially, both at most ``max_retries`` times. Other 4xx: StripeApiError at once."""
        retry = self._retry
        attempts = retry.max_retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            self._pace()
            try:
                response = self._http.get(path, params=params)
            except httpx.TransportError as exc:
                reason = self.redact(f"{type(exc).__name__}: {exc}")
                if last:
                    raise StripeUnavailable(f"stripe: GET {path}: {reason} (after {attempts} attempts)") from None
                delay = self._backoff(attempt)
                log.warning("stripe request failed, retrying", path=path, error=reason, delay_s=round(delay, 3))
                self._sleep(delay)
                continue
            status = response.status_code
            if status == 200:
                try:
                    body = response.json()
                except ValueError:
                    raise SourceError(f"stripe: GET {path}: the response is not JSON") from None
                if not isinstance(body, dict):
                    raise SourceError(f"stripe: GET {path}: expected a JSON object, got {type(body).__name__}")
                return body
            message = self.redact(_error_message(response))
            if not _retryable(response):
                raise StripeApiError(f"stripe: GET {path}: HTTP {status}: {message}", status)
            if last:
                raise StripeUnavailable(f"stripe: GET {path}: HTTP {status} after {attempts} attempts: {message}")
            delay = self._retry_after(response) if status == 429 else None
            delay = self._backoff(attempt) if delay is None else delay
            log.warning("stripe throttled or failing, retrying", path=path, status=status, delay_s=round(delay, 3))
            self._sleep(delay)
        raise AssertionError("unreachable")

    def _pace(self) -> None:
        rate = self._retry.requests_per_second
        if not rate:
            return
        now = time.monotonic()
        if self._next_request > now:
            self._sleep(self._next_request - now)
        self._next_request = max(now, self._next_request) + 1.0 / rate

    def _backoff(self, attempt: int) -> float:
        base = min(self._retry.backoff_seconds * 2**attempt, self._retry.max_backoff_seconds)
        return base / 2 + random.uniform(0, base / 2)  # jitter: parallel workers do not retry in lockstep

    def _retry_after(self, response: httpx.Response) -> float | None:
        value = response.headers.get("Retry-After")
        if value is None:
            return None
        try:
            seconds = float(value)
        except ValueError:
            when = email.utils.parsedate_to_datetime(value) if value else None
            if when is None:
                return None
            seconds = when.timestamp() - time.time()
        return min(max(seconds, 0.0), self._retry.max_retry_after_seconds)


def _retryable(response: httpx.Response) -> bool:
    # Stripe says explicitly when a retry can help (e.g. a 409 lock timeout); else 429 and 5xx.
    hint = response.headers.get("Stripe-Should-Retry")
    if hint is not None:
        return hint.strip().lower() == "true"
    return response.status_code == 429 or response.status_code >= 500


def _error_message(response: httpx.Response) -> str:
    """Stripe's own explanation (`error.message`, type, code) or a short piece of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return str(body)[:200]
    parts = [str(error.get("message") or "no message")]
    details = [f"{k}={error[k]}" for k in ("type", "code", "param") if error.get(k)]
    if details:
        parts.append(f"({', '.join(details)})")
    return " ".join(parts)
