"""Secret references: `${secret:NAME}` / `${secret:NAME.key}` stay references until a worker uses them.

One interface (`SecretProvider`), six built-in providers (env, filesystem, vault, aws, gcp,
azure) and any a plugin registers; the process's provider comes from `runner.secrets`.
Every provider looks for the job's tenant first, then global (DESIGN.md §4). See docs/secrets.md.
"""

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
