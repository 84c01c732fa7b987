"""Which secret providers exist: the built-ins, plus any a plugin registers.

Built-ins are registered here directly (their SDKs are imported only when one is used);
third-party packages return provider classes from the `dativo_secret_providers` hook of a
module in the `dativo` entry point group, the same way connectors register readers.
A plugin cannot replace a built-in name.
"""

from __future__ import annotations

import functools

from pydantic import BaseModel, ValidationError

from dativo_workers.secrets.base import SecretError, SecretProvider
from dativo_workers.secrets.config import BUILTIN_PROVIDERS, SecretsConfig


def builtin_providers() -> dict[str, type[SecretProvider]]:
    from dativo_workers.secrets.aws import AwsSecretProvider
    from dativo_workers.secrets.azure import AzureSecretProvider
    from dativo_workers.secrets.env import EnvSecretProvider
    from dativo_workers.secrets.filesystem import FilesystemSecretProvider
    from dativo_workers.secrets.gcp import GcpSecretProvider
    from dativo_workers.secrets.vault import VaultSecretProvider

    classes: list[type[SecretProvider]] = [
        EnvSecretProvider,
        FilesystemSecretProvider,
        VaultSecretProvider,
        AwsSecretProvider,
        GcpSecretProvider,
        AzureSecretProvider,
    ]
    return {cls.name: cls for cls in classes}


@functools.cache
def provider_classes() -> dict[str, type[SecretProvider]]:
    """Every provider by name (plugins read once per process, like readers and writers)."""
    from dativo_workers.plugins.manager import plugin_manager

    found = builtin_providers()
    for result in plugin_manager().hook.dativo_secret_providers():
        for cls in result or []:
            if not (isinstance(cls, type) and issubclass(cls, SecretProvider)) or not cls.name:
                raise SecretError(f"dativo_secret_providers returned {cls!r}: not a named SecretProvider subclass")
            if cls.name in BUILTIN_PROVIDERS:
                continue  # a plugin cannot shadow a built-in provider
            found[cls.name] = cls
    return found


def create_provider(config: SecretsConfig, name: str | None = None) -> SecretProvider:
    """The configured provider (or `name`), with its settings block validated."""
    name = name or config.provider
    classes = provider_classes() if name not in BUILTIN_PROVIDERS else builtin_providers()
    if name not in classes:
        known = ", ".join(sorted(provider_classes()))
        raise SecretError(f"runner.secrets.provider: unknown secret provider {name!r} (installed: {known})")
    cls = classes[name]
    block = config.settings_for(name)
    try:
        settings = (
            block
            if isinstance(block, cls.settings_model)
            else cls.settings_model.model_validate(block.model_dump() if isinstance(block, BaseModel) else block)
        )
    except ValidationError as exc:
        problems = [f"runner.secrets.{name}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise SecretError(f"invalid settings for the {name} secret provider", problems=problems) from None
    return cls(settings)
