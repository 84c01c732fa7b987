"""Google service-account auth: a JWT assertion (iss = the account's e-mail, scope, aud = the token
URI) signed RS256 with the key file's private key, exchanged at the token endpoint for an access
token (RFC 7523 JWT bearer grant). Tokens last an hour; a new one is fetched before that, and once
more after a 401."""

from __future__ import annotations

import json
import time
from typing import Any

from dativo_plugins.jwt_rs256 import load_private_key, sign_rs256
from dativo_plugins.rest_api.http import _OAuth2, _plain
from dativo_workers.errors import ConfigError

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
SHEETS_SCOPE = "https://www.googleapis.com/auth/spreadsheets.readonly"
DRIVE_SCOPE = "https://www.googleapis.com/auth/drive.readonly"


class GoogleServiceAccount(_OAuth2):
    grant = "google_service_account"

    def __init__(self, key_json: Any, scope: str, token_url: str | None = None) -> None:
        text = _plain(key_json)
        try:
            key = json.loads(text)
        except ValueError:
            raise ConfigError("source.connection.service_account_key: not a service account key JSON") from None
        if not isinstance(key, dict) or key.get("type") != "service_account":
            raise ConfigError('source.connection.service_account_key: not a key JSON of `"type": "service_account"`')
        missing = [k for k in ("client_email", "private_key") if not key.get(k)]
        if missing:
            raise ConfigError(f"source.connection.service_account_key: no {', '.join(missing)} in the key JSON")
        pem = _plain(str(key["private_key"]))  # registered for masking
        self._key = load_private_key(pem, "source.connection.service_account_key: private_key")
        self._kid = str(key.get("private_key_id") or "")
        if self._kid:
            _plain(self._kid)
        uri = token_url or str(key.get("token_uri") or DEFAULT_TOKEN_URI)
        # the private key stands in for the client secret: masked, part of the token cache key
        self.account = str(key["client_email"])  # not a secret: the service account's e-mail
        super().__init__(uri, self.account, pem, scope)

    def _form(self) -> dict[str, str]:
        now = int(time.time())
        claims = {"iss": self._client_id, "scope": self.scope, "aud": self.token_url, "iat": now, "exp": now + 3600}
        headers = {"kid": self._kid} if self._kid else None
        return {"grant_type": JWT_GRANT, "assertion": sign_rs256(claims, self._key, headers)}
