"""`vault`: HashiCorp Vault KV (v1 or v2) through hvac (extra `vault`).

Paths `<mount>/<tenant>/<NAME>`, then `<mount>/<NAME>`. A KV secret is a map of keys: pick one
with `${secret:NAME.key}`; a secret whose only key is `value` is that value. KV v2 reads a
version with `${secret:NAME@3}`. Auth: a token (`vault.token`, else $VAULT_TOKEN) or AppRole
(`role_id` + `secret_id`); Enterprise namespaces; TLS via `verify` (bool or CA bundle) and a
client certificate. For long runs a renewable token is renewed at half its TTL, and an
AppRole login is repeated when its token can no longer be renewed or is refused.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, ClassVar

from pydantic import BaseModel

from dativo_workers.secrets import redact
from dativo_workers.secrets.base import SecretError, SecretProvider, SecretUnavailable, missing_sdk
from dativo_workers.secrets.config import VaultSettings


class VaultSecretProvider(SecretProvider):
    name = "vault"
    description = "HashiCorp Vault KV v1/v2: <mount>/<tenant>/<NAME>, then <mount>/<NAME>"
    settings_model: ClassVar[type[BaseModel]] = VaultSettings
    extra = "vault"
    supports_versions = True

    def __init__(self, settings: BaseModel) -> None:
        super().__init__(settings)
        assert isinstance(self.settings, VaultSettings)
        try:
            import hvac
        except ImportError:
            raise missing_sdk(self.name, "hvac", "vault") from None
        cfg: VaultSettings = self.settings
        if cfg.auth_method == "approle" and not (cfg.role_id and cfg.secret_id):
            raise SecretError("runner.secrets.vault: AppRole auth needs both role_id and secret_id")
        for credential in (cfg.token, cfg.secret_id):
            if credential is not None:
                redact.remember(credential.get_secret_value())
        cert = (cfg.client_cert, cfg.client_key) if cfg.client_cert else None
        self.client = hvac.Client(
            url=cfg.url,
            token=cfg.token.get_secret_value() if cfg.token and cfg.auth_method == "token" else None,
            verify=cfg.verify,
            cert=cert,
            timeout=cfg.timeout_seconds,
            namespace=cfg.namespace,
        )
        self.cfg = cfg
        self._lock = threading.Lock()
        self._logged_in = False
        self._renewable = False
        self._renew_at: float | None = None  # monotonic time; None: nothing to renew
        self.clock = time.monotonic

    def describe(self, location: str) -> str:
        kv = "data/" if self.cfg.kv_version == 2 else ""
        return f"{self.cfg.mount}/{kv}{location}"

    # -- auth ---------------------------------------------------------------------------
    def _schedule(self, ttl: int | float | None, renewable: bool) -> None:
        self._renewable = renewable
        self._renew_at = self.clock() + ttl / 2 if ttl and self.cfg.renew else None

    def _login(self) -> None:
        if self.cfg.auth_method == "approle":
            errors = self._hvac_errors()
            try:
                response = self.client.auth.approle.login(
                    role_id=self.cfg.role_id,
                    secret_id=self.cfg.secret_id.get_secret_value() if self.cfg.secret_id else None,
                    mount_point=self.cfg.approle_mount,
                )
            except (errors.InvalidRequest, errors.Forbidden, errors.Unauthorized, errors.InvalidPath) as exc:
                raise SecretError(
                    f"Vault AppRole login at auth/{self.cfg.approle_mount}/login failed ({type(exc).__name__}): "
                    "check runner.secrets.vault.role_id and secret_id"
                ) from None
            auth = response.get("auth") or {}
            self._schedule(auth.get("lease_duration"), bool(auth.get("renewable")))
        elif self.cfg.renew:
            try:
                data = self.client.auth.token.lookup_self().get("data") or {}
                self._schedule(data.get("ttl"), bool(data.get("renewable")))
            except self._hvac_errors().Forbidden:
                self._renew_at = None  # a token without lookup-self still reads; nothing to schedule
        self._logged_in = True

    def _keep_token_fresh(self) -> None:
        if not self._logged_in:
            self._login()
            return
        if self._renew_at is None or self.clock() < self._renew_at:
            return
        if self._renewable:
            try:
                auth = self.client.auth.token.renew_self().get("auth") or {}
                self._schedule(auth.get("lease_duration"), bool(auth.get("renewable")))
                return
            except self._hvac_errors().VaultError:
                pass  # past its max TTL: log in again below if we can
        if self.cfg.auth_method == "approle":
            self._login()
        else:
            self._renew_at = None  # a static token cannot be replaced from here

    def authenticated_client(self) -> Any:
        """The hvac client, logged in and its token renewed as needed (other Vault engines, such
        as Transit for Parquet encryption, use the same connection and auth as the secrets)."""
        with self._lock:
            self._keep_token_fresh()
            return self.client

    @staticmethod
    def _hvac_errors() -> Any:
        import hvac.exceptions

        return hvac.exceptions

    # -- reads ----------------------------------------------------------------------------
    def _read(self, location: str, version: str | None) -> dict[str, Any]:
        kv = self.client.secrets.kv
        if self.cfg.kv_version == 2:
            response = kv.v2.read_secret_version(
                path=location,
                version=int(version) if version else None,
                mount_point=self.cfg.mount,
                raise_on_deleted_version=True,
            )
            return dict(response["data"]["data"] or {})
        if version:
            raise SecretError(f"vault path {self.describe(location)!r}: KV version 1 has no versions")
        return dict(kv.v1.read_secret(path=location, mount_point=self.cfg.mount)["data"] or {})

    def fetch(self, location: str, version: str | None) -> str | None:
        import requests

        errors = self._hvac_errors()
        if version is not None and not version.isdigit():
            raise SecretError(f"vault path {self.describe(location)!r}: version must be a number, got {version!r}")
        where = f"vault path {self.describe(location)!r}"
        with self._lock:
            try:
                self._keep_token_fresh()
                try:
                    data = self._read(location, version)
                except errors.Forbidden:
                    if self.cfg.auth_method != "approle":
                        raise
                    self._login()  # the token may have been revoked or expired early
                    data = self._read(location, version)
            except errors.InvalidPath:
                return None
            except errors.Forbidden:
                raise SecretError(f"{where}: permission denied (check the token's or role's policy)") from None
            except errors.Unauthorized:
                raise SecretError(f"{where}: Vault rejected the credentials") from None
            except (errors.VaultDown, errors.InternalServerError, errors.BadGateway, requests.ConnectionError) as exc:
                raise SecretUnavailable(f"{where}: Vault unreachable ({type(exc).__name__})") from None
            except errors.VaultError as exc:
                raise SecretError(f"{where}: {type(exc).__name__}") from None
            except requests.RequestException as exc:
                raise SecretUnavailable(f"{where}: {type(exc).__name__}") from None
        if set(data) == {"value"}:
            value = data["value"]
            return value if isinstance(value, str) else json.dumps(value)
        return json.dumps(data)
