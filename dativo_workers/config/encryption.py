"""`target.encryption`: Parquet modular encryption of a file target's output (see docs/governance.md).

```yaml
target:
  connector: parquet
  path: out/patients
  encryption:
    kms: {type: vault_transit, mount: transit}   # or {type: aws_kms} / {type: local, key_file: keys.json}
    footer_key: dativo-footer                    # master key (in the KMS) wrapping the footer key
    column_key: dativo-pii                       # master key wrapping the column keys (default: footer_key)
    columns: auto                                # the columns classified sensitive, or a list
```

Only the models live here (the job loader validates them); the KMS clients and the pyarrow
wiring are in `dativo_workers.encryption`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LocalKms(_Strict):
    """Master keys in a local JSON file: development and tests only, never production."""

    type: Literal["local"]
    key_file: str = Field(
        description='JSON {"<key name>": "<base64 16/24/32-byte key>" or [oldest, ..., newest]}; relative '
        "to the job file"
    )


class VaultTransitKms(_Strict):
    """HashiCorp Vault's Transit engine; the connection (url, token or AppRole, namespace, TLS) is
    the runner's `secrets.vault` block."""

    type: Literal["vault_transit"]
    mount: str = Field("transit", description="where the Transit engine is mounted")


class AwsKms(_Strict):
    """AWS KMS; region, endpoint and profile default to the runner's `secrets.aws` block, credentials
    come from the SDK's default chain."""

    type: Literal["aws_kms"]
    region: str | None = None
    endpoint_url: str | None = None


KmsConfig = Annotated[LocalKms | VaultTransitKms | AwsKms, Field(discriminator="type")]


class EncryptionConfig(_Strict):
    kms: KmsConfig
    footer_key: str = Field(min_length=1, description="the master key that wraps each file's footer key")
    column_key: str | None = Field(
        default=None, min_length=1, description="the master key that wraps the column keys (default: footer_key)"
    )
    columns: Literal["auto"] | list[str] = Field(
        default="auto",
        description="auto: every column the run's effective classification marks sensitive (any label but "
        "PUBLIC and INTERNAL); or the columns to encrypt",
    )
    plaintext_footer: bool = Field(
        default=False,
        description="leave the footer readable (schema, row counts, statistics of unencrypted columns) so "
        "readers without keys can read the unencrypted columns",
    )
    algorithm: Literal["AES_GCM_V1", "AES_GCM_CTR_V1"] = "AES_GCM_V1"
    data_key_bits: Literal[128, 192, 256] = 256

    @field_validator("columns")
    @classmethod
    def _columns(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list):
            if not value:
                raise ValueError("list at least one column, or write `auto`")
            if len(set(value)) != len(value):
                raise ValueError("a column is listed twice")
        return value

    @property
    def column_master_key(self) -> str:
        return self.column_key or self.footer_key
