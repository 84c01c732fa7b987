"""Secret references: `${secret:NAME}` / `${secret:NAME.key}` stay references until a worker uses them.

Only the env provider exists so far; the lookup order (tenant, then global) is the one
every provider follows (DESIGN.md §4).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any

from dativo_workers.errors import ConfigError

REFERENCE = re.compile(r"\$\{secret:([A-Za-z0-9_\-/]+)(?:\.([A-Za-z0-9_\-]+))?\}")


@dataclass(frozen=True)
class SecretRef:
    name: str
    key: str | None = None

    def __str__(self) -> str:
        return "${secret:" + self.name + (f".{self.key}" if self.key else "") + "}"


class SecretValue(str):
    """A resolved secret: a str for the libraries that need one, but never shown by repr."""

    def __repr__(self) -> str:
        return "SecretValue('***')"


def references(obj: Any) -> list[SecretRef]:
    """Every secret reference in a config tree, in order of appearance."""
    if isinstance(obj, dict):
        return [ref for value in obj.values() for ref in references(value)]
    if isinstance(obj, list):
        return [ref for value in obj for ref in references(value)]
    if isinstance(obj, str):
        return [SecretRef(m.group(1), m.group(2)) for m in REFERENCE.finditer(obj)]
    return []


def _env_key(scope: str, name: str) -> str:
    def norm(text: str) -> str:
        return re.sub(r"[^A-Z0-9]", "_", text.upper())

    return f"DATIVO_SECRET__{norm(scope)}__{norm(name)}"


class EnvSecretProvider:
    name = "env"

    def get(self, tenant: str, name: str) -> str | None:
        for scope in (tenant, "GLOBAL"):
            value = os.environ.get(_env_key(scope, name))
            if value is not None:
                return value
        return None


def resolve(obj: Any, tenant: str, provider: EnvSecretProvider | None = None) -> Any:
    """Replace references with their values; raise naming the reference, never a value."""
    provider = provider or EnvSecretProvider()
    if isinstance(obj, dict):
        return {k: resolve(v, tenant, provider) for k, v in obj.items()}
    if isinstance(obj, list):
        return [resolve(v, tenant, provider) for v in obj]
    if not isinstance(obj, str) or "${secret:" not in obj:
        return obj

    def lookup(match: re.Match[str]) -> str:
        ref = SecretRef(match.group(1), match.group(2))
        raw = provider.get(tenant, ref.name)
        if raw is None:
            raise ConfigError(
                f"secret {ref} not found by the {provider.name} provider for tenant {tenant!r} "
                f"(looked for {_env_key(tenant, ref.name)} and {_env_key('GLOBAL', ref.name)})"
            )
        if ref.key is None:
            return raw
        try:
            return str(json.loads(raw)[ref.key])
        except (ValueError, KeyError, TypeError):
            raise ConfigError(f"secret {ref}: the secret is not a JSON object with key {ref.key!r}") from None

    whole = REFERENCE.fullmatch(obj)
    return SecretValue(lookup(whole) if whole else REFERENCE.sub(lookup, obj))
