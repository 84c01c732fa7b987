"""What every secret provider shares: references, the value type, the provider interface, errors.

A reference is `${secret:NAME}`, `${secret:NAME.key}` (one key of a JSON secret) or, for
providers that keep versions, `${secret:NAME@VERSION}` / `${secret:NAME@VERSION.key}`.

Tenant isolation rests on two alphabets (docs/secrets.md): a NAME is one segment of letters and
digits with single `-` or `_` between them, and a tenant id is lower-case letters and digits with
single `-` between them (never `global`). No NAME can then spell another tenant's place (`/`,
`--`) in any store, and every provider's mapping of (tenant, NAME) is one-to-one.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from dativo_workers.errors import ConfigError, TransientError
from dativo_workers.secrets.redact import MASK  # defined there: redact imports nothing heavy

# Any `${secret:...}`: a malformed one is an error naming it, never a literal left in place.
REFERENCE = re.compile(r"\$\{secret:([^}]*)\}")
_PARTS = re.compile(r"^(?P<name>[^@.]*)(?:@(?P<version>[^.]*))?(?:\.(?P<key>.*))?$")
SECRET_NAME = re.compile(r"^[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*$")
TENANT_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_TOKEN = re.compile(r"^[A-Za-z0-9_\-]+$")  # a key or a version
MAX_TENANT_LENGTH = 63
GLOBAL_SCOPE = "GLOBAL"
NAME_RULE = "one segment of letters and digits with single '-' or '_' between them (no '/', '.', '--')"
TENANT_RULE = "lower-case letters and digits with single '-' between them (e.g. acme-eu), at most 63 characters"


def tenant_problem(tenant: str) -> str | None:
    """Why ``tenant`` cannot be a tenant id (None if it can): the id names the tenant's secrets in
    every store, so two ids must never map to one env name, path or secret id."""
    if not TENANT_ID.match(tenant) or len(tenant) > MAX_TENANT_LENGTH:
        return f"use {TENANT_RULE}"
    if tenant.upper() == GLOBAL_SCOPE:
        return f"{tenant!r} is reserved (it names the secrets shared by every tenant)"
    return None


@dataclass(frozen=True)
class SecretRef:
    name: str
    key: str | None = None
    version: str | None = None

    def __str__(self) -> str:
        version = f"@{self.version}" if self.version else ""
        key = f".{self.key}" if self.key else ""
        return "${secret:" + self.name + version + key + "}"

    @classmethod
    def parse(cls, body: str) -> SecretRef:
        """The reference `${secret:<body>}`; SecretError naming it when it is malformed."""
        parts = _PARTS.match(body)
        shown = "${secret:" + body + "}"
        if parts is None or not SECRET_NAME.match(parts["name"]):
            raise SecretError(
                f"secret reference {shown}: NAME must be {NAME_RULE}; a job reaches only its own tenant's "
                "secrets and the global ones, so a NAME never names a tenant or a path"
            )
        for part in ("version", "key"):
            if parts[part] is not None and not _TOKEN.match(parts[part]):
                raise SecretError(f"secret reference {shown}: the {part} must be letters, digits, '_' and '-'")
        return cls(parts["name"], parts["key"], parts["version"])


def parse_references(text: str) -> list[SecretRef]:
    return [SecretRef.parse(m.group(1)) for m in REFERENCE.finditer(text)]


def check_scope(tenant: str, ref: SecretRef) -> None:
    """Refuse a lookup that could leave the tenant's own and the global secrets."""
    if (problem := tenant_problem(tenant)) is not None:
        raise SecretError(f"secret {ref}: tenant id {tenant!r} is not valid: {problem}")
    if not SECRET_NAME.match(ref.name):
        raise SecretError(f"secret {ref}: NAME must be {NAME_RULE}")


class SecretValue(str):
    """A resolved secret.

    A `str`, so client libraries use it as they would the plain text (`encode()`, concatenation,
    C extensions read the characters directly); but every way of *rendering* it as text,
    `repr()`, `str()`, f-strings, `%s` and `format()`, gives `***`. Code that has to build text
    around the value (a DSN, a header) calls `reveal()`.
    """

    __slots__ = ()

    def reveal(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"SecretValue('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return format(MASK, spec)

    def __reduce__(self) -> tuple[Any, ...]:
        # the default reduction calls str(self), which would pickle the mask instead of the value
        return (SecretValue, (self.reveal(),))


def reveal(value: Any) -> Any:
    """The plain text of a SecretValue; anything else unchanged."""
    return value.reveal() if isinstance(value, SecretValue) else value


class SecretError(ConfigError):
    """A reference that does not resolve (missing, wrong key, refused). Names the reference, never a value."""


class SecretUnavailable(TransientError):
    """The secret store could not be reached: worth retrying."""


class NoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Found:
    """A secret's text (JSON for structured secrets) and where the provider found it."""

    text: str
    location: str


class SecretProvider(ABC):
    """One secret store. Subclasses set `name`, `settings_model` (validated from the runner's
    `runner.secrets.<name>` block) and implement `fetch`; `locations` gives the lookup order.

    Third-party providers are classes like this one, returned from the `dativo_secret_providers`
    hook of a package in the `dativo` entry point group.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    settings_model: ClassVar[type[BaseModel]] = NoSettings
    extra: ClassVar[str | None] = None  # the pip extra that installs this provider's SDK
    supports_versions: ClassVar[bool] = False
    # Remote stores are cached (cache_ttl_seconds); local lookups are cheap and read fresh, so a
    # rotated env var or mounted file applies at the next use.
    cached: ClassVar[bool] = True

    def __init__(self, settings: BaseModel) -> None:
        self.settings = settings

    def locations(self, tenant: str, name: str) -> list[str]:
        """Where to look, in order: the tenant's secret, then the global one (DESIGN.md §4)."""
        return [f"{tenant}/{name}", name]

    @abstractmethod
    def fetch(self, location: str, version: str | None) -> str | None:
        """The secret at one location as text (JSON text for a structured secret), or None when absent.

        Raise SecretError when the store refuses (permissions, invalid name) and SecretUnavailable
        when it cannot be reached; never put the secret's value in an error.
        """

    def get(self, tenant: str, ref: SecretRef) -> Found | None:
        check_scope(tenant, ref)
        if ref.version and not self.supports_versions:
            raise SecretError(f"secret {ref}: the {self.name} provider has no versions (drop `@{ref.version}`)")
        for location in self.locations(tenant, ref.name):
            text = self.fetch(location, ref.version)
            if text is not None:
                return Found(text, location)
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections (called when the runner's secret settings change)."""


def missing_sdk(provider: str, module: str, extra: str) -> SecretError:
    return SecretError(
        f"the {provider} secret provider needs {module}, which is not installed: pip install 'dativo-workers[{extra}]'"
    )


def select_key(ref: SecretRef, text: str) -> str:
    """One key of a JSON secret; errors name the reference and the key, never the text."""
    try:
        data = json.loads(text)
    except ValueError:
        raise SecretError(f"secret {ref}: the secret is not JSON, so it has no key {ref.key!r}") from None
    if not isinstance(data, dict):
        raise SecretError(f"secret {ref}: the secret is JSON but not an object, so it has no key {ref.key!r}")
    if ref.key not in data:
        keys = ", ".join(sorted(str(k) for k in data)) or "none"
        raise SecretError(f"secret {ref}: the JSON secret has no key {ref.key!r} (keys: {keys})")
    value = data[ref.key]
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)  # numbers, booleans, nested JSON
