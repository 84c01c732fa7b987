"""`azure`: Azure Key Vault secrets (extra `azure`).

Key Vault names allow letters, digits and `-` only: the tenant's secret is `<tenant>--<NAME>`,
then `<NAME>`, with `_` turned into `-` (so `shop_db` and `shop-db` are one secret). Neither part
can contain `--` or start or end with `-`, so the first `--` always ends the tenant. `${secret:NAME@VERSION}` reads a
version id. Credentials: DefaultAzureCredential (environment, workload identity, managed
identity, Azure CLI, ...); `managed_identity_client_id` picks a user-assigned identity.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import BaseModel

from dativo_workers.secrets.base import SecretError, SecretProvider, SecretUnavailable, missing_sdk
from dativo_workers.secrets.config import AzureSettings


def azure_secret_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", text)


class AzureSecretProvider(SecretProvider):
    name = "azure"
    description = "Azure Key Vault: <tenant>--<NAME>, then <NAME>"
    settings_model: ClassVar[type[BaseModel]] = AzureSettings
    extra = "azure"
    supports_versions = True

    def __init__(self, settings: BaseModel, credential: Any = None) -> None:
        super().__init__(settings)
        assert isinstance(self.settings, AzureSettings)
        try:
            from azure.identity import DefaultAzureCredential
            from azure.keyvault.secrets import SecretClient
        except ImportError:
            raise missing_sdk(self.name, "azure-keyvault-secrets and azure-identity", "azure") from None
        cfg: AzureSettings = self.settings
        if not cfg.vault_url:
            raise SecretError("runner.secrets.azure.vault_url is required for the azure secret provider")
        self.cfg = cfg
        self.credential = credential or DefaultAzureCredential(
            managed_identity_client_id=cfg.managed_identity_client_id,
            connection_verify=cfg.connection_verify,
            disable_instance_discovery=cfg.disable_instance_discovery,
        )
        self.client = SecretClient(
            vault_url=cfg.vault_url,
            credential=self.credential,
            verify_challenge_resource=cfg.verify_challenge_resource,
            connection_verify=cfg.connection_verify,
        )

    def locations(self, tenant: str, name: str) -> list[str]:
        return [azure_secret_name(f"{tenant}--{name}"), azure_secret_name(name)]

    def describe(self, location: str) -> str:
        return f"{self.cfg.vault_url.rstrip('/')}/secrets/{location}"  # type: ignore[union-attr]

    def fetch(self, location: str, version: str | None) -> str | None:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
            ServiceResponseError,
        )

        where = self.describe(location) + (f"/{version}" if version else "")
        try:
            secret = self.client.get_secret(location, version)
        except ResourceNotFoundError:
            return None
        except ClientAuthenticationError as exc:
            raise SecretError(f"Key Vault {where}: authentication failed ({type(exc).__name__})") from None
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise SecretUnavailable(f"Key Vault {where}: unreachable ({type(exc).__name__})") from None
        except HttpResponseError as exc:
            status = exc.status_code or 0
            if status == 429 or status >= 500:
                raise SecretUnavailable(f"Key Vault {where}: HTTP {status}") from None
            raise SecretError(f"Key Vault refused {where}: HTTP {status}") from None
        return secret.value

    def close(self) -> None:
        self.client.close()
        close = getattr(self.credential, "close", None)
        if callable(close):
            close()
