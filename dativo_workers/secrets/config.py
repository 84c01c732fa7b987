"""`runner.secrets`: which provider resolves references, and one settings block per provider."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

BUILTIN_PROVIDERS = ("env", "filesystem", "vault", "aws", "gcp", "azure")


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _bool_or_path(value: Any) -> Any:
    # DATIVO_SECRETS__VAULT__VERIFY=false arrives as text: "false" is a switch, not a CA file
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    return value


class EnvSettings(_Block):
    prefix: str = Field("DATIVO_SECRET", description="variables are <prefix>__<TENANT|GLOBAL>__<NAME>")


class FilesystemSettings(_Block):
    dir: str = Field("/run/secrets", description="secret files: <dir>/<tenant>/<NAME>, then <dir>/<NAME>")


class VaultSettings(_Block):
    url: str | None = Field(None, description="default: $VAULT_ADDR")
    auth: Literal["token", "approle"] | None = Field(None, description="default: approle when role_id is set")
    token: SecretStr | None = Field(None, description="default: $VAULT_TOKEN, then ~/.vault-token")
    role_id: str | None = None
    secret_id: SecretStr | None = None
    approle_mount: str = "approle"
    mount: str = "secret"
    kv_version: Literal[1, 2] = 2
    namespace: str | None = None
    verify: bool | str = Field(True, description="TLS verification: true, false or a CA bundle path")
    client_cert: str | None = None
    client_key: str | None = None
    timeout_seconds: float = Field(30.0, gt=0)
    renew: bool = Field(True, description="renew a renewable token at half its TTL (or log in again)")

    _verify = field_validator("verify", mode="before")(_bool_or_path)

    @property
    def auth_method(self) -> str:
        return self.auth or ("approle" if self.role_id else "token")


class AwsSettings(_Block):
    region: str | None = Field(None, description="default: the SDK's ($AWS_REGION, profile)")
    endpoint_url: str | None = None
    profile: str | None = None
    version_stage: str | None = Field(None, description="default stage when a reference has no @version")


class GcpSettings(_Block):
    project: str | None = None
    version: str = "latest"
    endpoint: str | None = Field(None, description="API endpoint; default: Google's")
    transport: Literal["rest", "grpc"] = Field("rest", description="rest is safe in forked worker processes")
    credentials_file: str | None = Field(None, description="service account JSON; default: ADC")
    anonymous: bool = Field(False, description="no credentials (emulators and tests only)")


class AzureSettings(_Block):
    vault_url: str | None = None
    managed_identity_client_id: str | None = None
    connection_verify: bool | str = Field(True, description="TLS verification: true, false or a CA bundle path")
    verify_challenge_resource: bool = True
    disable_instance_discovery: bool = Field(False, description="for private clouds / Azure Stack authority hosts")

    _verify = field_validator("connection_verify", mode="before")(_bool_or_path)


class SecretsConfig(BaseModel):
    """`runner.secrets`. A third-party provider's settings go in a block named after it."""

    model_config = ConfigDict(extra="forbid")

    provider: str = "env"
    cache_ttl_seconds: float = Field(300.0, ge=0, description="how long a resolved secret is reused; 0 = never")
    env: EnvSettings = Field(default_factory=EnvSettings)
    filesystem: FilesystemSettings = Field(default_factory=FilesystemSettings)
    vault: VaultSettings = Field(default_factory=VaultSettings)
    aws: AwsSettings = Field(default_factory=AwsSettings)
    gcp: GcpSettings = Field(default_factory=GcpSettings)
    azure: AzureSettings = Field(default_factory=AzureSettings)
    plugin: dict[str, Any] = Field(default_factory=dict, description="the block of a third-party provider")

    @model_validator(mode="before")
    @classmethod
    def _plugin_block(cls, data: Any) -> Any:
        # A plugin provider's block sits under its own name, like the built-ins' blocks.
        if isinstance(data, dict):
            name = str(data.get("provider") or "")
            if name and name not in BUILTIN_PROVIDERS and isinstance(data.get(name), dict):
                data = dict(data)
                data["plugin"] = data.pop(name)
        return data

    @field_validator("provider")
    @classmethod
    def _known(cls, value: str) -> str:
        value = value.strip().lower()
        if value in BUILTIN_PROVIDERS:
            return value
        from dativo_workers.secrets.registry import provider_classes

        known = provider_classes()
        if value not in known:
            raise ValueError(f"unknown secret provider {value!r} (installed: {', '.join(sorted(known))})")
        return value

    @model_validator(mode="after")
    def _required(self) -> SecretsConfig:
        missing = {"gcp": ("project", self.gcp.project), "azure": ("vault_url", self.azure.vault_url)}
        if self.provider in missing and not missing[self.provider][1]:
            key = missing[self.provider][0]
            raise ValueError(f"{self.provider}.{key} is required when provider is {self.provider}")
        return self

    def settings_for(self, name: str) -> Any:
        return getattr(self, name) if name in BUILTIN_PROVIDERS else self.plugin
