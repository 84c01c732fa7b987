"""The Stripe client: the shared HTTP layer (dativo_plugins.rest_api.http) with Stripe's specifics.

Retries, 429/``Retry-After``, backoff with jitter and masking are the shared ``HttpClient``'s;
Stripe adds: its error body (``error.message`` with type, code and param), the
``Stripe-Should-Retry`` hint (it overrules the status either way), key-shaped masking, its own
error classes and wording ("HTTP 401: <Stripe's message>"), GET-only listing (idempotent: safe to
retry), and ``requests_per_second`` pacing of one client through a ``LocalTokenBucket``."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from dativo_plugins.rest_api.http import (
    BearerAuth,
    HttpClient,
    HttpError,
    HttpUnavailable,
    LocalTokenBucket,
)
from dativo_plugins.rest_api.http import RetrySettings as HttpRetrySettings
from dativo_workers.errors import SourceError

# Anything shaped like a Stripe key (secret, restricted, publishable), masked even when the
# server echoes one back in an error message.
_KEY_SHAPED = re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]+")


@dataclass(frozen=True)
class RetrySettings:
    max_retries: int = 8  # retries after the first attempt (429s and 5xx/network errors alike)
    backoff_seconds: float = 0.5  # first delay for 5xx and network errors; doubles each time
    max_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 120.0  # a longer Retry-After is cut to this
    requests_per_second: float | None = None  # pace of this client (one per worker process); None: no pacing


class StripeApiError(HttpError):
    """A permanent Stripe error (4xx other than 429): retrying the same request fails the same way."""


class StripeUnavailable(HttpUnavailable):
    """Retries exhausted on 429/5xx/network errors: worth retrying the partition later."""


class StripeClient(HttpClient):
    http_error = StripeApiError
    auth_error = StripeApiError  # Stripe's own message says what is wrong with the key
    unavailable_error = StripeUnavailable
    auth_hint = ""

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
        settings = retry or RetrySettings()
        headers = {}
        if api_version:
            headers["Stripe-Version"] = api_version
        if account:
            headers["Stripe-Account"] = account
        pacing = (
            LocalTokenBucket(settings.requests_per_second, 1.0, sleep=sleep) if settings.requests_per_second else None
        )
        super().__init__(
            base_url,
            BearerAuth(api_key),
            retry=HttpRetrySettings(
                max_retries=settings.max_retries,
                max_throttle_retries=settings.max_retries,
                backoff_seconds=settings.backoff_seconds,
                max_backoff_seconds=settings.max_backoff_seconds,
                max_retry_after_seconds=settings.max_retry_after_seconds,
            ),
            rate_limiter=pacing,
            timeout=timeout,
            source_name="stripe",
            headers=headers,
            sleep=sleep,
            follow_redirects=False,
        )

    def redact(self, text: str) -> str:
        return super().redact(_KEY_SHAPED.sub("***", text))

    def error_message(self, response: httpx.Response) -> str:
        return _error_message(response)

    def retryable(self, response: httpx.Response) -> bool | None:
        # Stripe says explicitly when a retry can help (e.g. a 409 lock timeout) or cannot
        hint = response.headers.get("Stripe-Should-Retry")
        return None if hint is None else hint.strip().lower() == "true"

    def get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """GET ``path`` (one list page) with the shared retry rules; a JSON object or an error."""
        response = self.request("GET", path, params=params)
        try:
            body = response.json()
        except ValueError:
            raise SourceError(f"stripe: GET {path}: the response is not JSON") from None
        if not isinstance(body, dict):
            raise SourceError(f"stripe: GET {path}: expected a JSON object, got {type(body).__name__}")
        return body


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
