"""`env`: secrets in environment variables, `DATIVO_SECRET__<TENANT|GLOBAL>__<NAME>`.

TENANT and NAME are upper-cased and `-` becomes `_`, so `${secret:shop-db}` for tenant `acme-eu`
is `DATIVO_SECRET__ACME_EU__SHOP_DB`. Tenant ids have no `_` and no upper case, and neither has
`__`, so no two tenants (and no tenant and GLOBAL) share a variable.
A value may be JSON (`${secret:NAME.key}` selects a key).
"""

from __future__ import annotations

import os
import re
from typing import ClassVar

from pydantic import BaseModel

from dativo_workers.secrets.base import GLOBAL_SCOPE, SecretProvider
from dativo_workers.secrets.config import EnvSettings


def env_key(scope: str, name: str, prefix: str = "DATIVO_SECRET") -> str:
    def norm(text: str) -> str:
        return re.sub(r"[^A-Z0-9]", "_", text.upper())

    return f"{prefix}__{norm(scope)}__{norm(name)}"


class EnvSecretProvider(SecretProvider):
    name = "env"
    cached = False
    description = "environment variables DATIVO_SECRET__<TENANT|GLOBAL>__<NAME>"
    settings_model: ClassVar[type[BaseModel]] = EnvSettings

    def __init__(self, settings: BaseModel | None = None) -> None:
        super().__init__(settings or EnvSettings())
        assert isinstance(self.settings, EnvSettings)
        self.prefix = self.settings.prefix

    def locations(self, tenant: str, name: str) -> list[str]:
        return [env_key(tenant, name, self.prefix), env_key(GLOBAL_SCOPE, name, self.prefix)]

    def fetch(self, location: str, version: str | None) -> str | None:
        return os.environ.get(location)
