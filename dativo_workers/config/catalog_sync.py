"""`runner.catalog_sync`: push each committed table's metadata to an external data catalog.

Only OpenMetadata for now (dativo_workers/catalog_sync.py, docs/governance.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dativo_workers.secrets.base import parse_references


class OpenMetadataConfig(BaseModel):
    """Where the OpenMetadata server is and how Dativo's entities are named there."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="the server, `http://host:8585` (or its API base, `http://host:8585/api`)")
    token: str | None = Field(
        default=None,
        description="a bot's JWT, as a secret reference `${secret:NAME}`; resolved at each sync, never stored",
    )
    service: str = Field(default="dativo", min_length=1, description="the database service of Dativo's tables")
    source_service: str | None = Field(
        default=None, description="the database service of the lineage sources (default: `<service>_sources`)"
    )
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("token")
    @classmethod
    def _token_reference(cls, value: str | None) -> str | None:
        if value is not None and not parse_references(value):
            raise ValueError(
                "the token must be a secret reference, `${secret:NAME}` (a token is never written in a config file)"
            )
        return value

    @property
    def api(self) -> str:
        return self.url if self.url.endswith("/api") else f"{self.url}/api"

    @property
    def sources(self) -> str:
        return self.source_service or f"{self.service}_sources"


class CatalogSyncConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    openmetadata: OpenMetadataConfig | None = None
