"""Salesforce OAuth 2.0: the JWT bearer flow (a connected app's certificate; server to server, no
user in the loop) and the refresh token flow. Both answer with an access token *and* the org's
`instance_url`, which every API request then goes to. An expired session (HTTP 401
`INVALID_SESSION_ID`) gets a new token once, through the shared client's refresh."""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import urlparse

from dativo_plugins.jwt_rs256 import load_private_key, sign_rs256
from dativo_plugins.rest_api.http import AuthFailed, HttpClient, OAuth2RefreshToken, _OAuth2, _plain

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_PATH = "/services/oauth2/token"
ASSERTION_SECONDS = 180  # Salesforce accepts an assertion whose `exp` is at most 3 minutes away

# instance_url by token cache key: a process reusing a cached token also needs the org's host
_INSTANCES: dict[str, str] = {}
_LOCK = threading.Lock()


class _InstanceUrl:
    """Keeps the `instance_url` of the token response (and of the cached token)."""

    instance_url: str | None = None
    fixed_instance_url: str | None = None

    def _remember_instance(self, body: dict[str, Any], key: str) -> None:
        url = body.get("instance_url")
        if self.fixed_instance_url:
            url = self.fixed_instance_url
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise AuthFailed("salesforce: POST /services/oauth2/token: no instance_url in the answer")
        self.instance_url = url.rstrip("/")
        with _LOCK:
            _INSTANCES[key] = self.instance_url

    def _cached_instance(self, key: str) -> None:
        if self.instance_url is None:
            with _LOCK:
                self.instance_url = self.fixed_instance_url or _INSTANCES.get(key)


def jwt_audience(login_url: str) -> str:
    """The `aud` of a JWT bearer assertion: the login host, except that a My Domain login URL
    takes the audience of its kind of org (Salesforce accepts only these two for the flow)."""
    host = (urlparse(login_url).hostname or "").lower()
    if host.endswith(".sandbox.my.salesforce.com"):
        return "https://test.salesforce.com"
    if host.endswith(".my.salesforce.com"):
        return "https://login.salesforce.com"
    return login_url.rstrip("/")


class SalesforceJwtBearer(_InstanceUrl, _OAuth2):
    """OAuth 2.0 JWT bearer flow (RFC 7523): an assertion signed with the connected app's private
    key (iss = consumer key, sub = the user, aud = the login host), exchanged for a token."""

    grant = "jwt_bearer"

    def __init__(
        self,
        login_url: str,
        client_id: Any,
        username: Any,
        private_key: Any,
        instance_url: str | None = None,
        audience: str | None = None,
    ) -> None:
        self.login_url = str(login_url).rstrip("/")
        self.audience = audience or jwt_audience(self.login_url)
        self._username = _plain(username)
        pem = _plain(private_key)  # registered for masking: the key never appears in an error text
        self._key = load_private_key(pem, "source.connection.private_key")
        self.fixed_instance_url = instance_url
        # the private key stands in for the client secret: masked, and part of the token cache key
        super().__init__(self.login_url + TOKEN_PATH, client_id, pem)

    def _cache_key(self) -> str:
        return super()._cache_key() + ":" + self._username

    def _form(self) -> dict[str, str]:
        now = int(time.time())
        claims = {"iss": self._client_id, "sub": self._username, "aud": self.audience, "exp": now + ASSERTION_SECONDS}
        return {"grant_type": JWT_GRANT, "assertion": sign_rs256(claims, self._key)}

    def _received(self, body: dict[str, Any]) -> None:
        self._remember_instance(body, self._cache_key())

    def prepare(self, client: HttpClient) -> None:
        self._cached_instance(self._cache_key())
        super().prepare(client)


class SalesforceRefreshToken(_InstanceUrl, OAuth2RefreshToken):
    """OAuth 2.0 refresh token flow: a long-lived refresh token (from the web server flow) exchanged
    for access tokens. The client secret is optional (connected apps may not require it)."""

    def __init__(
        self,
        login_url: str,
        client_id: Any,
        client_secret: Any,
        refresh_token: Any,
        instance_url: str | None = None,
    ) -> None:
        self.fixed_instance_url = instance_url
        super().__init__(str(login_url).rstrip("/") + TOKEN_PATH, client_id, client_secret or "", refresh_token)

    def _form(self) -> dict[str, str]:
        form = super()._form()
        if not form.get("client_secret"):
            form.pop("client_secret", None)
        return form

    def _received(self, body: dict[str, Any]) -> None:
        super()._received(body)
        self._remember_instance(body, self._cache_key())

    def prepare(self, client: HttpClient) -> None:
        self._cached_instance(self._cache_key())
        super().prepare(client)
