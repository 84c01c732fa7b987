"""`gcp`: Google Cloud Secret Manager (extra `gcp`).

Secret ids cannot contain `/`, so the tenant's secret is `<tenant>--<NAME>`, then `<NAME>`.
Neither a tenant id nor a NAME contains `--`, so the first `--` always ends the tenant.
Reads `projects/<project>/secrets/<id>/versions/<version>`: `gcp.version` (default `latest`),
or `${secret:NAME@VERSION}` (a number or an alias). Credentials: Application Default
Credentials, or `credentials_file`.
"""

from __future__ import annotations

import importlib
import re
from typing import Any, ClassVar

from pydantic import BaseModel

from dativo_workers.secrets.base import SecretError, SecretProvider, SecretUnavailable, missing_sdk
from dativo_workers.secrets.config import GcpSettings


def gcp_secret_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", text)


class GcpSecretProvider(SecretProvider):
    name = "gcp"
    description = "Google Cloud Secret Manager: <tenant>--<NAME>, then <NAME>"
    settings_model: ClassVar[type[BaseModel]] = GcpSettings
    extra = "gcp"
    supports_versions = True

    def __init__(self, settings: BaseModel) -> None:
        super().__init__(settings)
        assert isinstance(self.settings, GcpSettings)
        try:
            # import_module, not `from google.cloud import ...`: an absent SDK must fail here even when
            # another google.cloud package is installed
            secretmanager: Any = importlib.import_module("google.cloud.secretmanager")
        except ImportError:
            raise missing_sdk(self.name, "google-cloud-secret-manager", "gcp") from None
        cfg: GcpSettings = self.settings
        if not cfg.project:
            raise SecretError("runner.secrets.gcp.project is required for the gcp secret provider")
        self.cfg = cfg
        credentials: Any = None
        if cfg.anonymous:
            from google.auth.credentials import AnonymousCredentials

            credentials = AnonymousCredentials()
        elif cfg.credentials_file:
            from google.oauth2 import service_account

            credentials = service_account.Credentials.from_service_account_file(
                cfg.credentials_file, scopes=["https://www.googleapis.com/auth/cloud-platform"]
            )
        options = {"api_endpoint": cfg.endpoint} if cfg.endpoint else None
        try:
            self.client = secretmanager.SecretManagerServiceClient(
                credentials=credentials, transport=cfg.transport, client_options=options
            )
        except Exception as exc:  # google.auth.exceptions.DefaultCredentialsError and friends
            raise SecretError(f"the gcp secret provider could not start: {type(exc).__name__}: {exc}") from None

    def locations(self, tenant: str, name: str) -> list[str]:
        return [gcp_secret_id(f"{tenant}--{name}"), gcp_secret_id(name)]

    def describe(self, location: str) -> str:
        return f"projects/{self.cfg.project}/secrets/{location}"

    def fetch(self, location: str, version: str | None) -> str | None:
        from google.api_core import exceptions as gexc

        path = f"{self.describe(location)}/versions/{version or self.cfg.version}"
        try:
            response = self.client.access_secret_version(name=path)
        except gexc.NotFound:
            return None
        except (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError, gexc.TooManyRequests) as exc:
            raise SecretUnavailable(f"Secret Manager: {path}: {type(exc).__name__}") from None
        except gexc.GoogleAPICallError as exc:
            raise SecretError(f"Secret Manager refused {path}: {type(exc).__name__}") from None
        except Exception as exc:  # transport-level: connection refused, DNS, TLS
            raise SecretUnavailable(f"Secret Manager: {path}: {type(exc).__name__}") from None
        try:
            return bytes(response.payload.data).decode("utf-8")
        except UnicodeDecodeError:
            raise SecretError(f"{path} is binary, not UTF-8 text") from None

    def close(self) -> None:
        transport = getattr(self.client, "transport", None)
        if transport is not None:
            transport.close()
