"""The HTTP layer of the SaaS connectors (rest_api, zendesk, intercom, salesforce, google_sheets).

One client, one set of rules for every HTTP API source:

``HttpClient(base_url, auth, *, retry, rate_limiter, timeout, source_name)``
    ``.request(method, url_or_path, *, params=None, json=None, data=None, headers=None,
    resource=None) -> httpx.Response`` sends one request and returns a 2xx/3xx response:

    - 429: waits ``Retry-After`` (seconds or an HTTP date; else ``X-RateLimit-Reset`` /
      ``RateLimit-Reset``; else exponential backoff), at most ``retry.max_throttle_retries`` times;
    - 5xx and network errors (connect, read, timeout): exponential backoff with jitter, at most
      ``retry.max_retries`` times;
    - either budget spent: ``HttpUnavailable`` (a ``TransientError``: the engine retries only the
      partition that raised it);
    - 403 that is a rate limit, not a refusal (GitHub's secondary limits, Salesforce's
      ``REQUEST_LIMIT_EXCEEDED``): a ``Retry-After`` header, ``X-RateLimit-Remaining: 0``, or an
      error code of the body among ``rate_limit_codes`` (``errorCode``/``error_code``/``code``/
      ``error``/``reason``, of the body or of its errors). With a wait time (``Retry-After``, a
      reset header), or a code among ``throttle_codes`` (a short-term limit: Google's
      ``userRateLimitExceeded``), it waits (else backs off) and retries like a 429; without one (a
      daily limit used up) it is ``HttpUnavailable`` at once, saying the API's request limit is
      exhausted: the engine retries the partition later, the client never loops on it and never
      asks for a new credential;
    - 401/403: ``auth.refresh(client)`` is asked once for new credentials (an expired OAuth token);
      if it has none, or the request still fails, ``AuthFailed`` (a ``SourceError``: no retry);
    - any other 4xx: ``HttpError`` (a ``SourceError``) at once.

    Hooks for a connector's API (subclass ``HttpClient``): ``error_message(response)`` (the
    API's own explanation from its error body), ``retryable(response)`` (True/False to overrule the
    rules above for one response, e.g. Stripe's ``Stripe-Should-Retry``; None: the rules), the
    classes ``http_error``/``auth_error``/``unavailable_error`` it raises, ``auth_hint`` (the words
    after ``HTTP 401`` that point at the credential).

    Error texts name the source, the resource and the request (method and path, never the query
    string), and carry the server's message with every credential masked, echoed ones too.
    ``.request_json(...)`` is the same and returns the decoded JSON body (a ``SourceError`` naming
    the request when the body is not JSON; ``decimals=True``: numbers with a fraction as Decimal).

``Auth`` with ``apply(request)`` (set the credential on an outgoing ``httpx.Request``),
``refresh(client) -> bool`` (obtain new credentials: True if it did; called once on a 401/403)
and ``prepare(client)`` (called before every request: an OAuth flow fetches its first token or
renews one about to expire). Subclasses: ``NoAuth``, ``BearerAuth(token)``,
``ApiKeyAuth(name, value, location="header"|"query", prefix="")``, ``BasicAuth(user, password)``,
``OAuth2ClientCredentials(token_url, client_id, client_secret, scope)``,
``OAuth2RefreshToken(token_url, client_id, client_secret, refresh_token)``. Values arrive
resolved from ``${secret:...}`` references; each Auth registers them (and every token it
obtains) for masking in this process's logs and error texts.

``RateLimiter`` protocol: ``acquire(tokens=1)`` blocks until the request may go. ``LocalTokenBucket
(rate, burst)`` paces one process; ``RedisTokenBucket(url, key, rate, burst)`` shares one bucket
across the whole fleet (a provider's limit is per account, not per process), atomic through a Lua
script that uses the Redis server's clock. ``rate_limiter(rate, burst, redis_url, key)`` builds
either.

``RetrySettings`` holds the budgets and delays; ``sleep`` may be injected for tests.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import httpx
import structlog

from dativo_plugins.rest_api.records import loads
from dativo_workers.errors import ConfigError, SourceError, TransientError
from dativo_workers.secrets import MASK, mask, reveal
from dativo_workers.secrets.redact import remember

log = structlog.get_logger("dativo.http")
# httpx logs every request's full URL at INFO (a query string may carry a key or a cursor): the
# client logs its own retries, named by method and path only. An explicit level set elsewhere wins.
for _name in ("httpx", "httpcore"):
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.WARNING)

__all__ = [
    "ApiKeyAuth",
    "Auth",
    "AuthFailed",
    "BasicAuth",
    "BearerAuth",
    "HttpClient",
    "HttpError",
    "HttpUnavailable",
    "LocalTokenBucket",
    "NoAuth",
    "OAuth2ClientCredentials",
    "OAuth2RefreshToken",
    "RateLimiter",
    "RedisTokenBucket",
    "RetrySettings",
    "error_codes",
    "rate_limiter",
]


# -- errors ----------------------------------------------------------------------------------


class HttpError(SourceError):
    """A permanent HTTP error (4xx other than 429): the same request fails the same way."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status


class AuthFailed(HttpError):
    """401/403 after one attempt to refresh the credentials: fix the credential, do not retry."""


class HttpUnavailable(TransientError):
    """Retries spent on 429, 5xx or network errors: worth retrying the partition later."""


# -- settings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetrySettings:
    max_retries: int = 6  # retries after the first attempt, for 5xx and network errors
    max_throttle_retries: int = 20  # retries after 429 (each waits what the server asks)
    backoff_seconds: float = 0.5  # first delay for 5xx and network errors; doubles each time
    max_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 120.0  # a longer Retry-After is cut to this


# -- rate limiting ---------------------------------------------------------------------------


@runtime_checkable
class RateLimiter(Protocol):
    def acquire(self, tokens: float = 1.0) -> None:
        """Block until ``tokens`` requests may be sent."""


class LocalTokenBucket:
    """A token bucket for this process: ``rate`` requests per second, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: float | None = None, *, sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(1.0, rate))
        self._tokens = self.burst
        self._stamp = time.monotonic()
        self._lock = threading.Lock()
        self._sleep = sleep

    def acquire(self, tokens: float = 1.0) -> None:
        # reservation: take the tokens now (the balance may go negative) and wait off the debt,
        # so waiting callers are served in arrival order
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= tokens
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)


# KEYS[1]: the bucket; ARGV: rate (tokens/s), burst, tokens wanted, ttl (ms). Returns the seconds
# to wait as a string (a Lua number would be truncated to an integer reply). The server's clock
# is the one clock of the fleet; the reservation may take the balance below zero, and callers
# wait it off, so concurrent callers queue instead of retrying in a loop.
_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1])
local stamp = tonumber(state[2])
if tokens == nil or stamp == nil then
  tokens = burst
  stamp = now
end
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate) - wanted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
if tokens >= 0 then
  return '0'
end
return tostring(-tokens / rate)
"""


class RedisTokenBucket:
    """A token bucket shared by every process that uses the same Redis ``key``: the whole
    fleet together sends at most ``rate`` requests per second (bursts up to ``burst``)."""

    def __init__(
        self,
        url: str,
        key: str,
        rate: float,
        burst: float | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import redis

        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(1.0, rate))
        self.key = key
        self._sleep = sleep
        self._redis = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        self._script = self._redis.register_script(_BUCKET_LUA)
        # the bucket refills completely in burst/rate seconds; keep it a little longer than that
        self._ttl_ms = int(max(60.0, 2 * self.burst / self.rate) * 1000)

    def acquire(self, tokens: float = 1.0) -> None:
        import redis

        try:
            wait = float(self._script(keys=[self.key], args=[self.rate, self.burst, tokens, self._ttl_ms]))
        except redis.RedisError as exc:
            # the limiter's store is down: worth retrying the partition, never ignore the limit
            raise HttpUnavailable(f"rate limiter: Redis unreachable ({type(exc).__name__}: {mask(str(exc))})") from None
        if wait > 0:
            self._sleep(wait)

    def close(self) -> None:
        self._redis.close()


def rate_limiter(
    rate: float | None,
    burst: float | None = None,
    redis_url: str | None = None,
    key: str = "default",
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> RateLimiter | None:
    """``rate`` requests/s for this process, or, with ``redis_url``, for the fleet together
    (bucket ``dativo:ratelimit:<key>``). None without a rate."""
    if not rate:
        if redis_url:
            raise ConfigError("rate_limit: a redis_url needs requests_per_second")
        return None
    if redis_url:
        return RedisTokenBucket(reveal(redis_url), f"dativo:ratelimit:{key}", rate, burst, sleep=sleep)
    return LocalTokenBucket(rate, burst, sleep=sleep)


# -- authentication --------------------------------------------------------------------------


def _plain(value: Any) -> str:
    if hasattr(value, "get_secret_value"):  # pydantic SecretStr
        value = value.get_secret_value()
    text = str(reveal(value)) if value is not None else ""
    if text:
        remember(text)
    return text


class Auth:
    """No credential. Subclasses set one on each request and may renew it."""

    def apply(self, request: httpx.Request) -> None:
        """Set the credential on ``request`` (a header or a query parameter)."""

    def prepare(self, client: HttpClient) -> None:
        """Called before each request: obtain a first credential, or renew one about to expire."""

    def refresh(self, client: HttpClient) -> bool:
        """Obtain new credentials after a 401/403; True if there are new ones to try once more."""
        return False

    def secrets(self) -> list[str]:
        """Every credential value this auth holds now (masked in error texts)."""
        return []


NoAuth = Auth


class BearerAuth(Auth):
    def __init__(self, token: Any) -> None:
        self._token = _plain(token)

    def apply(self, request: httpx.Request) -> None:
        request.headers["Authorization"] = f"Bearer {self._token}"

    def secrets(self) -> list[str]:
        return [self._token]


class ApiKeyAuth(Auth):
    """An API key in a header (``X-Api-Key: <value>``, with an optional ``prefix``) or a query
    parameter (never shown: error texts name the path only)."""

    def __init__(self, name: str, value: Any, location: str = "header", prefix: str = "") -> None:
        if location not in ("header", "query"):
            raise ConfigError(f"auth.location: 'header' or 'query', not {location!r}")
        self.name, self.location, self.prefix = name, location, prefix
        self._value = _plain(value)

    def apply(self, request: httpx.Request) -> None:
        if self.location == "header":
            request.headers[self.name] = f"{self.prefix}{self._value}"
        else:
            request.url = request.url.copy_merge_params({self.name: self._value})

    def secrets(self) -> list[str]:
        return [self._value]


class BasicAuth(Auth):
    def __init__(self, user: Any, password: Any) -> None:
        self._user, self._password = _plain(user), _plain(password)
        self._header = "Basic " + base64.b64encode(f"{self._user}:{self._password}".encode()).decode()
        remember(self._header.split(" ", 1)[1])

    def apply(self, request: httpx.Request) -> None:
        request.headers["Authorization"] = self._header

    def secrets(self) -> list[str]:
        return [self._password, self._header.split(" ", 1)[1]]


@dataclass
class _Token:
    access_token: str
    expires_at: float | None  # monotonic; None: unknown (used until a 401)


# Access tokens by (token URL, client, grant): the partitions a worker process reads one after
# another share a token instead of asking for one each.
_TOKENS: dict[str, _Token] = {}
_TOKENS_LOCK = threading.Lock()
_EXPIRY_MARGIN_SECONDS = 60.0


class _OAuth2(Auth):
    grant = ""

    def __init__(self, token_url: str, client_id: Any, client_secret: Any, scope: str | None = None) -> None:
        self.token_url = str(token_url)
        self._client_id = _plain(client_id)
        self._client_secret = _plain(client_secret)
        self.scope = scope
        self._token: _Token | None = None

    def _cache_key(self) -> str:
        material = "\0".join([self.grant, self.token_url, self._client_id, self._client_secret, self._grant_secret()])
        return hashlib.sha256(material.encode()).hexdigest()

    def _grant_secret(self) -> str:
        return ""

    def _form(self) -> dict[str, str]:
        raise NotImplementedError

    def _fetch(self, client: HttpClient) -> None:
        body = client.token_request(self.token_url, self._form())
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            path = httpx.URL(self.token_url).path
            raise AuthFailed(f"{client.source_name}: POST {path}: no access_token in the answer")
        remember(token)
        expires_in = body.get("expires_in")
        expires_at = None
        if isinstance(expires_in, int | float | str) and str(expires_in).replace(".", "", 1).isdigit():
            expires_at = time.monotonic() + float(expires_in)
        self._token = _Token(token, expires_at)
        self._received(body)
        with _TOKENS_LOCK:
            _TOKENS[self._cache_key()] = self._token

    def _received(self, body: dict[str, Any]) -> None:
        """Hook: a grant that rotates its refresh token keeps the new one."""

    def prepare(self, client: HttpClient) -> None:
        if self._token is None:
            with _TOKENS_LOCK:
                self._token = _TOKENS.get(self._cache_key())
        token = self._token
        soon = time.monotonic() + _EXPIRY_MARGIN_SECONDS
        if token is None or (token.expires_at is not None and token.expires_at < soon):
            self._fetch(client)

    def apply(self, request: httpx.Request) -> None:
        if self._token is not None:
            request.headers["Authorization"] = f"Bearer {self._token.access_token}"

    def refresh(self, client: HttpClient) -> bool:
        old = self._token
        with _TOKENS_LOCK:
            if old is not None and _TOKENS.get(self._cache_key()) is old:
                del _TOKENS[self._cache_key()]
        self._fetch(client)
        return self._token is not None and (old is None or self._token.access_token != old.access_token)

    def secrets(self) -> list[str]:
        values = [self._client_secret, self._grant_secret()]
        if self._token is not None:
            values.append(self._token.access_token)
        return [v for v in values if v]


class OAuth2ClientCredentials(_OAuth2):
    """OAuth 2.0 client credentials grant (RFC 6749 §4.4): a token per client, renewed before it expires."""

    grant = "client_credentials"

    def _form(self) -> dict[str, str]:
        form = {"grant_type": "client_credentials", "client_id": self._client_id, "client_secret": self._client_secret}
        if self.scope:
            form["scope"] = self.scope
        return form


class OAuth2RefreshToken(_OAuth2):
    """OAuth 2.0 refresh token grant (RFC 6749 §6): access tokens from a long-lived refresh token.
    A provider that rotates refresh tokens returns a new one; it is kept for this process only."""

    grant = "refresh_token"

    def __init__(
        self, token_url: str, client_id: Any, client_secret: Any, refresh_token: Any, scope: str | None = None
    ) -> None:
        self._refresh_token = _plain(refresh_token)
        super().__init__(token_url, client_id, client_secret, scope)
        self._original = self._refresh_token

    def _cache_key(self) -> str:
        material = "\0".join([self.grant, self.token_url, self._client_id, self._original])
        return hashlib.sha256(material.encode()).hexdigest()

    def _grant_secret(self) -> str:
        return self._refresh_token

    def _form(self) -> dict[str, str]:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": self._refresh_token,
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        if self.scope:
            form["scope"] = self.scope
        return form

    def _received(self, body: dict[str, Any]) -> None:
        new = body.get("refresh_token")
        if isinstance(new, str) and new:
            remember(new)
            self._refresh_token = new


# -- the client ------------------------------------------------------------------------------


class HttpClient:
    def __init__(
        self,
        base_url: str,
        auth: Auth | None = None,
        *,
        retry: RetrySettings | None = None,
        rate_limiter: RateLimiter | None = None,
        timeout: float = 60.0,
        source_name: str = "http",
        headers: dict[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rate_limit_codes: Iterable[str] = (),
        throttle_codes: Iterable[str] = (),
        follow_redirects: bool = True,
    ) -> None:
        self.base_url = str(base_url).rstrip("/")
        self.rate_limit_codes = frozenset(rate_limit_codes)
        self.throttle_codes = frozenset(throttle_codes)
        self.auth = auth or Auth()
        self.retry = retry or RetrySettings()
        self.rate_limiter = rate_limiter
        self.source_name = source_name
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": "dativo-workers", **(headers or {})},
            follow_redirects=follow_redirects,
        )

    # the errors this client raises (a connector may name its own subclasses)
    http_error: type[HttpError] = HttpError
    auth_error: type[HttpError] = AuthFailed
    unavailable_error: type[TransientError] = HttpUnavailable
    auth_hint = " (check the credential)"  # after `HTTP 401` in an auth failure's text

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- texts --------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        """``text`` with every credential of this client masked (and every value registered in the process)."""
        for secret in sorted(self.auth.secrets(), key=len, reverse=True):
            if secret:
                text = text.replace(secret, MASK)
        return mask(text)

    def describe(self, method: str, url: httpx.URL | str, resource: str | None = None) -> str:
        """`<source> <resource>: GET /path` (no query string: it may hold a key)."""
        path = httpx.URL(str(url)).path if not isinstance(url, httpx.URL) else url.path
        where = f"{self.source_name} {resource}" if resource else self.source_name
        return self.redact(f"{where}: {method.upper()} {path}")

    # -- requests -----------------------------------------------------------------------

    def url(self, url_or_path: str) -> httpx.URL:
        """An absolute URL as is; a path relative to ``base_url`` (base ``/v1`` + ``/orders`` = ``/v1/orders``)."""
        if url_or_path.startswith(("http://", "https://")):
            return httpx.URL(url_or_path)
        return httpx.URL(self.base_url + "/" + url_or_path.lstrip("/"))

    def request(
        self,
        method: str,
        url_or_path: str,
        *,
        params: dict[str, Any] | Iterable[tuple[str, Any]] | None = None,
        json: Any = None,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        resource: str | None = None,
    ) -> httpx.Response:
        """Send one request with the retry rules of the module docstring; a 2xx/3xx response or an error."""
        url = self.url(url_or_path)
        what = self.describe(method, url, resource)
        retry = self.retry
        errors = throttles = 0
        refreshed = False
        while True:
            self.auth.prepare(self)
            if self.rate_limiter is not None:
                self.rate_limiter.acquire()
            request = self._http.build_request(method, url, params=params, json=json, data=data, headers=headers)
            self.auth.apply(request)
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                reason = self.redact(f"{type(exc).__name__}: {exc}")
                errors += 1
                if errors > retry.max_retries:
                    raise self.unavailable_error(f"{what}: {reason} (after {errors} attempts)") from None
                delay = self._backoff(errors - 1)
                log.warning("request failed, retrying", request=what, error=reason, delay_s=round(delay, 3))
                self._sleep(delay)
                continue
            status = response.status_code
            if status < 400:
                return response
            message = self.redact(self.error_message(response))
            verdict = self.retryable(response)
            if verdict is False:
                raise self.http_error(f"{what}: HTTP {status}: {message}", status)
            limited = status == 429 or (status == 403 and verdict is None and self.rate_limit_reason(response))
            if limited:
                wait = self._retry_after(response)
                if status == 403 and wait is None and not self.short_limit(response):
                    # a limit with no time to wait for (a daily quota used up): the partition is
                    # retried later by the engine; asking again now would only spend more calls
                    reason = self.rate_limit_reason(response)
                    raise self.unavailable_error(
                        f"{what}: HTTP 403: the API's request limit is exhausted ({reason}; not a credential "
                        f"problem): {message}"
                    )
                throttles += 1
                if throttles > retry.max_throttle_retries:
                    raise self.unavailable_error(f"{what}: HTTP {status} after {throttles} attempts: {message}")
                delay = self._backoff(throttles - 1) if wait is None else wait
                log.warning("rate limited, waiting", request=what, status=status, delay_s=round(delay, 3))
                self._sleep(delay)
                continue
            if status in (401, 403) and verdict is None:
                if not refreshed:
                    refreshed = True
                    if self.auth.refresh(self):
                        log.info("credentials refreshed, retrying once", status=status, request=what)
                        continue
                raise self.auth_error(f"{what}: HTTP {status}{self.auth_hint}: {message}", status)
            if verdict or status >= 500 or status == 408:
                errors += 1
                if errors > retry.max_retries:
                    raise self.unavailable_error(f"{what}: HTTP {status} after {errors} attempts: {message}")
                wait = self._retry_after(response) if status == 503 else None
                delay = self._backoff(errors - 1) if wait is None else wait
                log.warning("server error, retrying", request=what, status=status, delay_s=round(delay, 3))
                self._sleep(delay)
                continue
            raise self.http_error(f"{what}: HTTP {status}: {message}", status)

    # -- hooks --------------------------------------------------------------------------

    def error_message(self, response: httpx.Response) -> str:
        """The API's own explanation of an error response (masked by the caller)."""
        return _error_message(response)

    def retryable(self, response: httpx.Response) -> bool | None:
        """True/False: retry this error response (with backoff) or not, whatever its status;
        None: the module's rules."""
        return None

    def short_limit(self, response: httpx.Response) -> bool:
        """A rate-limit 403 without a wait time is a short-term limit (backed off and retried like
        a 429) rather than a used-up quota: its code is among ``throttle_codes``."""
        return bool(self.throttle_codes & error_codes(response))

    def rate_limit_reason(self, response: httpx.Response) -> str | None:
        """Why a 403 is a rate limit rather than a refusal (None: it is not one)."""
        if response.headers.get("Retry-After"):
            return "Retry-After"
        for name in ("X-RateLimit-Remaining", "RateLimit-Remaining"):
            if response.headers.get(name, "").strip() == "0":
                return f"{name}: 0"
        if self.rate_limit_codes or self.throttle_codes:
            found = sorted((self.rate_limit_codes | self.throttle_codes) & error_codes(response))
            if found:
                return found[0]
        return None

    def request_json(self, method: str, url_or_path: str, *, decimals: bool = False, **kwargs: Any) -> Any:
        """``request`` and the decoded JSON body (a SourceError naming the request when it is not JSON)."""
        response = self.request(method, url_or_path, **kwargs)
        return self.json_of(response, method, kwargs.get("resource"), decimals=decimals)

    def json_of(
        self, response: httpx.Response, method: str = "GET", resource: str | None = None, *, decimals: bool = False
    ) -> Any:
        """The decoded body; ``decimals``: numbers with a fraction as Decimal, exactly as sent."""
        try:
            return loads(response.content) if decimals else response.json()
        except ValueError:
            what = self.describe(method, response.request.url, resource)
            kind = response.headers.get("Content-Type", "no content type")
            start = self.redact(response.text[:80].strip())
            raise SourceError(
                f"{what}: the response is not JSON (HTTP {response.status_code}, {kind}): {start!r}"
            ) from None

    def token_request(self, token_url: str, form: dict[str, str]) -> dict[str, Any]:
        """POST an OAuth token request (form-encoded, RFC 6749): 429/5xx/network errors retried as
        any request; a refusal is ``AuthFailed``. Called by ``Auth.prepare``/``refresh``."""
        url = self.url(token_url)
        what = self.describe("POST", url, "token")
        errors = 0
        while True:
            try:
                response = self._http.post(url, data=form, headers={"Accept": "application/json"})
            except httpx.TransportError as exc:
                errors += 1
                reason = self.redact(f"{type(exc).__name__}: {exc}")
                if errors > self.retry.max_retries:
                    raise HttpUnavailable(f"{what}: {reason} (after {errors} attempts)") from None
                self._sleep(self._backoff(errors - 1))
                continue
            status = response.status_code
            if status == 429 or status >= 500:
                errors += 1
                if errors > self.retry.max_retries:
                    raise HttpUnavailable(f"{what}: HTTP {status} after {errors} attempts")
                wait = self._retry_after(response)
                self._sleep(self._backoff(errors - 1) if wait is None else wait)
                continue
            if status >= 400:
                message = self.redact(_error_message(response))
                refused = f"HTTP {status}, the token endpoint refused the credentials"
                raise AuthFailed(f"{what}: {refused}: {message}", status)
            body = self.json_of(response, "POST", "token")
            if not isinstance(body, dict):
                raise AuthFailed(f"{what}: expected a JSON object from the token endpoint")
            return body

    # -- delays -------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        base = min(self.retry.backoff_seconds * 2**attempt, self.retry.max_backoff_seconds)
        return base / 2 + random.uniform(0, base / 2)  # jitter: parallel workers do not retry in lockstep

    def _retry_after(self, response: httpx.Response) -> float | None:
        seconds: float | None = None
        value = response.headers.get("Retry-After")
        if value:
            try:
                seconds = float(value)
            except ValueError:
                try:
                    seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
                except (TypeError, ValueError):
                    seconds = None
        if seconds is None:
            for name in ("X-RateLimit-Reset", "RateLimit-Reset"):
                reset = response.headers.get(name)
                if reset and reset.replace(".", "", 1).isdigit():
                    number = float(reset)
                    # an epoch timestamp (Intercom, GitHub) or seconds from now (the IETF draft)
                    seconds = number - time.time() if number > 1e9 else number
                    break
        if seconds is None:
            return None
        return min(max(seconds, 0.0), self.retry.max_retry_after_seconds)


def error_codes(response: httpx.Response) -> set[str]:
    """The error codes an error body names: `errorCode`, `error_code`, `code`, `reason` or a string
    `error`, of the body, of its `error` object, or of its (first few) errors in a list (also
    `error.errors`, Google's shape)."""
    try:
        body = response.json()
    except ValueError:
        return set()
    candidates: list[Any] = []
    if isinstance(body, list):
        candidates.extend(body[:5])
    elif isinstance(body, dict):
        candidates.append(body)
        for key in ("error", "errors"):
            inner = body.get(key)
            if isinstance(inner, dict):
                candidates.append(inner)
                nested = inner.get("errors")
                if isinstance(nested, list):
                    candidates.extend(nested[:5])
            elif isinstance(inner, list):
                candidates.extend(inner[:5])
    codes = set()
    for item in candidates:
        if not isinstance(item, dict):
            continue
        for key in ("errorCode", "error_code", "code", "reason", "error"):
            value = item.get(key)
            if isinstance(value, str) and value:
                codes.add(value)
    return codes


def _error_message(response: httpx.Response) -> str:
    """The API's own explanation or a short piece of the body (masked by the caller)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    if isinstance(body, list) and body and isinstance(body[0], dict) and body[0].get("message"):
        return str(body[0]["message"])[:300]  # a list of errors (Salesforce): the first one's message
    if isinstance(body, dict):
        for key in ("error_description", "message", "error", "errors", "description", "detail"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message") or value.get("title") or value
            if isinstance(value, list) and value and isinstance(value[0], dict):
                value = value[0].get("message") or value[0].get("title") or value[0]
            if value:
                return str(value)[:300]
    return str(body)[:200]
