"""`aws`: AWS Secrets Manager through boto3 (extra `aws`).

Secret id `<tenant>/<NAME>`, then `<NAME>`. SecretString as is (JSON secrets: pick a key
with `${secret:NAME.key}`), SecretBinary decoded as UTF-8. `${secret:NAME@VERSION}` reads a
version: a version id (UUID) or a staging label (AWSCURRENT, AWSPREVIOUS, your own);
`aws.version_stage` is the default label. Credentials come from the SDK's default chain.
"""

from __future__ import annotations

import re
import threading
from typing import Any, ClassVar

from pydantic import BaseModel

from dativo_workers.secrets.base import SecretError, SecretProvider, SecretUnavailable, missing_sdk
from dativo_workers.secrets.config import AwsSettings

_VERSION_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ABSENT = {"ResourceNotFoundException"}


class AwsSecretProvider(SecretProvider):
    name = "aws"
    description = "AWS Secrets Manager: <tenant>/<NAME>, then <NAME>"
    settings_model: ClassVar[type[BaseModel]] = AwsSettings
    extra = "aws"
    supports_versions = True

    def __init__(self, settings: BaseModel) -> None:
        super().__init__(settings)
        assert isinstance(self.settings, AwsSettings)
        try:
            import boto3
        except ImportError:
            raise missing_sdk(self.name, "boto3", "aws") from None
        cfg = self.settings
        self._session = boto3.session.Session(profile_name=cfg.profile, region_name=cfg.region)
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._session.client("secretsmanager", endpoint_url=self.settings.endpoint_url)  # type: ignore[attr-defined]
            return self._client

    def describe(self, location: str) -> str:
        return f"secret id {location!r}"

    def fetch(self, location: str, version: str | None) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

        args: dict[str, Any] = {"SecretId": location}
        version = version or self.settings.version_stage  # type: ignore[attr-defined]
        if version:
            args["VersionId" if _VERSION_ID.match(version) else "VersionStage"] = version
        try:
            response = self.client.get_secret_value(**args)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _ABSENT:
                return None
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            message = f"AWS Secrets Manager refused secret id {location!r}" + (
                f" version {version!r}" if version else ""
            )
            if status >= 500 or code in ("ThrottlingException", "InternalServiceError"):
                raise SecretUnavailable(f"{message}: {code}") from None
            raise SecretError(f"{message}: {code}") from None
        except NoCredentialsError:
            raise SecretError("the aws secret provider found no AWS credentials (SDK default chain)") from None
        except NoRegionError:
            raise SecretError("the aws secret provider needs a region: set runner.secrets.aws.region") from None
        except BotoCoreError as exc:  # endpoint unreachable, no credentials, ...
            raise SecretUnavailable(
                f"AWS Secrets Manager: secret id {location!r}: {type(exc).__name__}: {exc}"
            ) from None
        if response.get("SecretString") is not None:
            return str(response["SecretString"])
        binary = response.get("SecretBinary")
        if binary is None:
            return None
        try:
            return bytes(binary).decode("utf-8")
        except UnicodeDecodeError:
            raise SecretError(f"secret id {location!r} is binary, not UTF-8 text") from None
