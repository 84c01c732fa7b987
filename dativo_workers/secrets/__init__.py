"""Secret references: `${secret:NAME}` / `${secret:NAME.key}` stay references until a worker uses them.

One interface (`SecretProvider`), six built-in providers (env, filesystem, vault, aws, gcp,
azure) and any a plugin registers; the process's provider comes from `runner.secrets`.
Every provider looks for the job's tenant first, then global (DESIGN.md §4). See docs/secrets.md.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dativo_workers.secrets.base import (
        MASK,
        REFERENCE,
        Found,
        SecretError,
        SecretProvider,
        SecretRef,
        SecretUnavailable,
        SecretValue,
        reveal,
    )
    from dativo_workers.secrets.config import SecretsConfig
    from dativo_workers.secrets.env import EnvSecretProvider, env_key
    from dativo_workers.secrets.redact import (
        describe_error,
        mask,
        mask_value,
        redact_event,
        scrub,
        scrub_exception,
        scrubbed_errors,
        scrubbing,
        sensitive_columns,
    )
    from dativo_workers.secrets.resolve import CheckResult, Resolver, active, check, references, resolve, use

# Imported on first use (PEP 562): logging and the CLI's error path need only `redact`, which
# must not pull pydantic and the providers into every `dativo --help`.
_HOMES = {
    "base": (
        "MASK",
        "REFERENCE",
        "Found",
        "SecretError",
        "SecretProvider",
        "SecretRef",
        "SecretUnavailable",
        "SecretValue",
        "reveal",
    ),
    "config": ("SecretsConfig",),
    "env": ("EnvSecretProvider", "env_key"),
    "redact": (
        "describe_error",
        "mask",
        "mask_value",
        "redact_event",
        "scrub",
        "scrub_exception",
        "scrubbed_errors",
        "scrubbing",
        "sensitive_columns",
    ),
    "resolve": ("CheckResult", "Resolver", "active", "check", "references", "resolve", "use"),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}


class _Package(types.ModuleType):
    """The submodule `resolve` and the function `resolve` this package exports share a name: when the
    submodule is first imported (here or by `from dativo_workers.secrets.resolve import ...`), the
    import system sets it on the package; the package keeps the function, as an eager import did."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "resolve" and isinstance(value, types.ModuleType):
            value = value.resolve
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "MASK",
    "REFERENCE",
    "CheckResult",
    "EnvSecretProvider",
    "Found",
    "Resolver",
    "SecretError",
    "SecretProvider",
    "SecretRef",
    "SecretUnavailable",
    "SecretValue",
    "SecretsConfig",
    "active",
    "check",
    "describe_error",
    "env_key",
    "mask",
    "mask_value",
    "redact_event",
    "references",
    "resolve",
    "reveal",
    "scrub",
    "scrub_exception",
    "scrubbed_errors",
    "scrubbing",
    "sensitive_columns",
    "use",
]
