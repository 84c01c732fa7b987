"""Resolve references with the process's provider, cached per process with a TTL.

The provider and its settings come from the runner config this process loaded last
(`use()` is called whenever a RunnerConfig is validated): a worker uses its own runner
config, never anything from a message. Nothing here writes a resolved value anywhere; the
value goes back to the caller as a SecretValue and into the redaction registry.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dativo_workers import metrics
from dativo_workers.secrets import redact
from dativo_workers.secrets.base import (
    REFERENCE,
    Found,
    SecretError,
    SecretProvider,
    SecretRef,
    SecretUnavailable,
    SecretValue,
    check_scope,
    parse_references,
    select_key,
)
from dativo_workers.secrets.config import SecretsConfig


def references(obj: Any) -> list[SecretRef]:
    """Every secret reference in a config tree, in order of appearance."""
    if isinstance(obj, dict):
        return [ref for value in obj.values() for ref in references(value)]
    if isinstance(obj, list | tuple):
        return [ref for value in obj for ref in references(value)]
    if isinstance(obj, str):
        return parse_references(obj)
    return []


@dataclass
class _Entry:
    found: Found
    expires: float


class Resolver:
    """One provider plus the cache of what it returned (successful lookups only: a secret
    created after a miss is found on the next try)."""

    def __init__(self, config: SecretsConfig, provider: SecretProvider | None = None) -> None:
        self.config = config
        self._provider = provider
        self._cache: dict[tuple[str, str, str | None], _Entry] = {}
        self._lock = threading.Lock()
        self.clock: Callable[[], float] = time.monotonic

    @property
    def provider(self) -> SecretProvider:
        if self._provider is None:
            from dativo_workers.secrets.registry import create_provider

            self._provider = create_provider(self.config)
        return self._provider

    @property
    def provider_name(self) -> str:
        return self._provider.name if self._provider is not None else self.config.provider

    def lookup(self, tenant: str, ref: SecretRef) -> Found:
        """The whole secret for ``ref`` (tenant first, then global); raises naming the reference."""
        check_scope(tenant, ref)  # before any cache or store: a foreign tenant's entry is never reached
        cache_key = (tenant, ref.name, ref.version)
        now = self.clock()
        with self._lock:
            entry = self._cache.get(cache_key)
            if entry is not None and entry.expires > now:
                return entry.found
        provider = self.provider
        try:
            found = provider.get(tenant, ref)
        except Exception as exc:
            metrics.secret_error(tenant, provider.name, _error_kind(exc))
            raise
        if found is None:
            metrics.secret_error(tenant, provider.name, "not_found")
            where = " and ".join(describe_location(provider, loc) for loc in provider.locations(tenant, ref.name))
            raise SecretError(
                f"secret {ref} not found by the {provider.name} provider for tenant {tenant!r} (looked for {where})"
            )
        if self.config.cache_ttl_seconds > 0 and provider.cached:
            with self._lock:
                self._cache[cache_key] = _Entry(found, now + self.config.cache_ttl_seconds)
        return found

    def value(self, tenant: str, ref: SecretRef) -> str:
        found = self.lookup(tenant, ref)
        text = found.text if ref.key is None else select_key(ref, found.text)
        redact.remember(text)
        return text

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()

    def close(self) -> None:
        if self._provider is not None:
            self._provider.close()
            self._provider = None

    def resolve(self, obj: Any, tenant: str) -> Any:
        if isinstance(obj, dict):
            return {k: self.resolve(v, tenant) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.resolve(v, tenant) for v in obj]
        if not isinstance(obj, str) or "${secret:" not in obj:
            return obj

        def lookup(match: Any) -> str:
            return self.value(tenant, SecretRef.parse(match.group(1)))

        whole = REFERENCE.fullmatch(obj)
        text = lookup(whole) if whole else REFERENCE.sub(lookup, obj)
        if not whole:
            redact.remember(text)
        return SecretValue(text)


def _error_kind(exc: Exception) -> str:
    """A provider error's kind for the metrics (dativo_workers.metrics.SECRET_ERROR_KINDS)."""
    if isinstance(exc, SecretUnavailable):
        return "unavailable"
    return "refused" if isinstance(exc, SecretError) else "error"


def describe_location(provider: SecretProvider, location: str) -> str:
    describe = getattr(provider, "describe", None)
    return describe(location) if callable(describe) else location


_active_lock = threading.Lock()
_active: Resolver | None = None


def use(config: SecretsConfig) -> None:
    """Make ``config`` this process's secret settings (a no-op when they did not change, so
    the cache survives re-loading the same runner config)."""
    global _active
    with _active_lock:
        if _active is not None and _active.config == config:
            return
        old, _active = _active, Resolver(config.model_copy(deep=True))
    if old is not None:
        old.close()


def reset() -> None:
    """Forget the settings and every cached secret (a process that runs several commands)."""
    global _active
    with _active_lock:
        old, _active = _active, None
    if old is not None:
        old.close()


def active() -> Resolver:
    global _active
    with _active_lock:
        if _active is None:
            _active = Resolver(SecretsConfig())
        return _active


def _after_fork() -> None:
    # SDK clients (connection pools, gRPC channels) must not be shared with a forked child
    resolver = _active
    if resolver is not None:
        resolver._provider = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def resolve(obj: Any, tenant: str, provider: SecretProvider | None = None) -> Any:
    """Replace the references in ``obj`` with their values (SecretValue) for ``tenant``.

    Uses this process's provider, or ``provider`` (uncached) when given. Raises SecretError
    naming the reference, never a value.
    """
    if provider is not None:
        resolver = Resolver(SecretsConfig(provider="env", cache_ttl_seconds=0), provider)
        return resolver.resolve(obj, tenant)
    return active().resolve(obj, tenant)


@dataclass(frozen=True)
class CheckResult:
    reference: str
    provider: str
    ok: bool
    detail: str  # where it was found, or why not: never the value


def check(refs: list[SecretRef], tenant: str, resolver: Resolver | None = None) -> list[CheckResult]:
    """Whether each reference resolves (`dativo secrets check`), without keeping any value."""
    resolver = resolver or active()
    results: list[CheckResult] = []
    seen: set[SecretRef] = set()
    for ref in refs:
        if ref in seen:
            continue
        seen.add(ref)
        try:
            provider = resolver.provider
            found = resolver.lookup(tenant, ref)
            if ref.key is not None:
                select_key(ref, found.text)
            results.append(CheckResult(str(ref), provider.name, True, describe_location(provider, found.location)))
        except Exception as exc:  # every failure is a line of the report
            clean = redact.scrub_exception(exc)
            text = redact.scrub(str(clean)) if isinstance(clean, SecretError) else redact.describe_error(clean)
            results.append(CheckResult(str(ref), resolver.provider_name, False, text))
    return results


def reference_paths(obj: Any, prefix: str = "") -> list[tuple[str, SecretRef]]:
    """(key path, reference) for every reference in a config tree, in order of appearance."""
    if isinstance(obj, dict):
        return [hit for k, v in obj.items() for hit in reference_paths(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(obj, list | tuple):
        return [hit for i, v in enumerate(obj) for hit in reference_paths(v, f"{prefix}[{i}]")]
    if isinstance(obj, str):
        return [(prefix, ref) for ref in parse_references(obj)]
    return []
