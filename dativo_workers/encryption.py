"""Parquet modular encryption for file targets (`target.encryption`), and reading such files back.

Each file gets fresh random data keys (one for the footer, one per encrypted column). With
pyarrow's double wrapping, data keys are wrapped by key-encryption keys (KEKs) made in this
process, and only the KEKs are wrapped by the master keys in the KMS: a KMS call per master key
per process and cache lifetime, not per file. The wrapped keys travel inside each file's footer
(key material), so reading a file needs only access to the KMS, not the job's settings.

KMS: `local` (a key file: development only), `vault_transit` (HashiCorp Vault Transit through
hvac, connected as the runner's `secrets.vault` block says) and `aws_kms` (boto3, the runner's
`secrets.aws` block). No key, wrapped or not, is ever logged or put into an error message.

Reading back::

    import pyarrow.parquet as pq
    from dativo_workers.encryption import job_decryption_properties

    props = job_decryption_properties("jobs/acme/patients.yaml")  # the job's kms, the runner's secrets
    table = pq.read_table("out/patients/<file>.parquet", decryption_properties=props)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets as pysecrets
import threading
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe

from dativo_workers.config.encryption import AwsKms, EncryptionConfig, KmsConfig, LocalKms, VaultTransitKms
from dativo_workers.errors import ConfigError, DativoError, TransientError
from dativo_workers.secrets import redact
from dativo_workers.secrets.config import SecretsConfig

CACHE_LIFETIME = timedelta(minutes=10)  # how long a KEK (and its KMS unwrap) is reused
ENCRYPTED_FOOTER_MAGIC = b"PARE"


class EncryptionError(DativoError):
    """A master key could not wrap or unwrap a file key (missing key, no permission, bad key file)."""


class KmsUnavailable(TransientError):
    """The KMS did not answer: worth retrying."""


# -- KMS clients ------------------------------------------------------------------------------


class LocalKeyFileKms(pe.KmsClient):
    """Master keys from a JSON file, AES-GCM key wrapping. For development only: the master keys
    sit next to the data, in plain text."""

    def __init__(self, key_file: Path) -> None:
        pe.KmsClient.__init__(self)
        try:
            import cryptography  # noqa: F401
        except ImportError:
            raise EncryptionError(
                "the local key-file KMS needs the cryptography package: pip install 'dativo-workers[encryption]'"
            ) from None
        self.key_file = key_file
        self.keys = _read_key_file(key_file)

    def _versions(self, name: str) -> list[bytes | None]:
        if name not in self.keys:
            raise EncryptionError(f"master key {name!r} is not in the key file {self.key_file}")
        return self.keys[name]

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        versions = self._versions(master_key_identifier)
        nonce = os.urandom(12)
        newest = versions[-1]
        assert newest is not None  # the key file's loader refuses a retired newest version
        sealed = AESGCM(newest).encrypt(nonce, bytes(key_bytes), master_key_identifier.encode())
        return f"local:v{len(versions)}:" + base64.b64encode(nonce + sealed).decode()

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        versions = self._versions(master_key_identifier)
        try:
            scheme, version, payload = wrapped_key.split(":", 2)
            number = int(version.removeprefix("v"))
            raw = base64.b64decode(payload, validate=True)
        except (ValueError, binascii.Error):
            raise EncryptionError(
                f"a key wrapped by {master_key_identifier!r} is not local key-file material"
            ) from None
        if scheme != "local" or not 1 <= number <= len(versions) or versions[number - 1] is None:
            raise EncryptionError(
                f"master key {master_key_identifier!r} version {number} is not in the key file {self.key_file}"
            )
        try:
            key = versions[number - 1]
            assert key is not None
            return AESGCM(key).decrypt(raw[:12], raw[12:], master_key_identifier.encode())
        except InvalidTag:
            raise EncryptionError(
                f"master key {master_key_identifier!r} v{number} in {self.key_file} does not unwrap this file's key"
            ) from None


def _read_key_file(path: Path) -> dict[str, list[bytes | None]]:
    where = "target.encryption.kms.key_file"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{where}: key file {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{where}: key file {path} is not readable JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(f'{where}: key file {path} must be a JSON object {{"<key name>": "<base64 key>"}}')
    keys: dict[str, list[bytes | None]] = {}
    for name, value in data.items():
        versions = value if isinstance(value, list) else [value]
        decoded: list[bytes | None] = []
        for number, item in enumerate(versions, 1):
            if item is None and number < len(versions):
                decoded.append(None)  # a retired version keeps its number
                continue
            try:
                key = base64.b64decode(str(item), validate=True)
            except binascii.Error:
                key = b""
            if len(key) not in (16, 24, 32):
                raise ConfigError(
                    f"{where}: key {name!r} in {path}: each version must be a base64 16, 24 or 32-byte key"
                )
            redact.remember(str(item))
            decoded.append(key)
        keys[str(name)] = decoded
    return keys


class VaultTransitClient(pe.KmsClient):
    """Vault Transit: `POST <mount>/encrypt/<key>` and `<mount>/decrypt/<key>`; the wrapped key is
    Vault's `vault:v<N>:...` ciphertext, so rotating the Transit key keeps old files readable."""

    def __init__(self, settings: SecretsConfig, mount: str) -> None:
        pe.KmsClient.__init__(self)
        from dativo_workers.secrets.vault import VaultSecretProvider

        self.vault = VaultSecretProvider(settings.vault)  # the same url, auth, namespace and TLS as secrets
        self.mount = mount

    def _call(self, action: str, key: str, **payload: str) -> dict[str, Any]:
        import hvac.exceptions as errors
        import requests

        where = f"Vault Transit {action} with key {key!r} at mount {self.mount!r}"
        try:
            transit = self.vault.authenticated_client().secrets.transit
            method = transit.encrypt_data if action == "encrypt" else transit.decrypt_data
            response = method(name=key, mount_point=self.mount, **payload)
        except (errors.InvalidPath, errors.InvalidRequest) as exc:
            raise EncryptionError(f"{where} failed ({type(exc).__name__}): does the key exist?") from None
        except errors.Forbidden:
            raise EncryptionError(f"{where}: permission denied (check the token's or role's policy)") from None
        except errors.Unauthorized:
            raise EncryptionError(f"{where}: Vault rejected the credentials") from None
        except (errors.VaultDown, errors.InternalServerError, errors.BadGateway, requests.ConnectionError) as exc:
            raise KmsUnavailable(f"{where}: Vault unreachable ({type(exc).__name__})") from None
        except (errors.VaultError, requests.RequestException) as exc:
            raise EncryptionError(f"{where}: {type(exc).__name__}") from None
        return dict(response.get("data") or {})

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        data = self._call("encrypt", master_key_identifier, plaintext=base64.b64encode(bytes(key_bytes)).decode())
        return str(data["ciphertext"])

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        data = self._call("decrypt", master_key_identifier, ciphertext=wrapped_key)
        return base64.b64decode(data["plaintext"])


class AwsKmsClient(pe.KmsClient):
    """AWS KMS Encrypt/Decrypt; a master key is a key id, key ARN or `alias/<name>`."""

    def __init__(self, settings: SecretsConfig, kms: AwsKms) -> None:
        pe.KmsClient.__init__(self)
        try:
            import boto3
        except ImportError:
            raise EncryptionError("the aws_kms KMS needs boto3: pip install 'dativo-workers[aws]'") from None

        aws = settings.aws
        session = boto3.session.Session(profile_name=aws.profile, region_name=kms.region or aws.region)
        self.client = session.client("kms", endpoint_url=kms.endpoint_url or aws.endpoint_url)

    def _call(self, action: str, key: str, **args: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

        where = f"AWS KMS {action} with key {key!r}"
        try:
            return dict(getattr(self.client, action)(KeyId=key, **args))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            if status >= 500 or code in ("ThrottlingException", "KMSInternalException", "DependencyTimeoutException"):
                raise KmsUnavailable(f"{where}: {code}") from None
            raise EncryptionError(f"{where}: {code}") from None
        except NoCredentialsError:
            raise EncryptionError(f"{where}: no AWS credentials (SDK default chain)") from None
        except NoRegionError:
            raise EncryptionError(f"{where}: no region (set runner.secrets.aws.region or kms.region)") from None
        except BotoCoreError as exc:
            raise KmsUnavailable(f"{where}: {type(exc).__name__}") from None

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        blob = self._call("encrypt", master_key_identifier, Plaintext=bytes(key_bytes))["CiphertextBlob"]
        return base64.b64encode(blob).decode()

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        blob = base64.b64decode(wrapped_key)
        return bytes(self._call("decrypt", master_key_identifier, CiphertextBlob=blob)["Plaintext"])


def kms_client(kms: KmsConfig, base_dir: Path, settings: SecretsConfig | None = None) -> pe.KmsClient:
    """The KMS client of a `target.encryption.kms` block (connections from the runner's secrets config)."""
    if isinstance(kms, LocalKms):
        path = Path(kms.key_file).expanduser()
        return LocalKeyFileKms(path if path.is_absolute() else (base_dir / path).resolve())
    if settings is None:
        from dativo_workers.secrets import active

        settings = active().config
    if isinstance(kms, VaultTransitKms):
        return VaultTransitClient(settings, kms.mount)
    return AwsKmsClient(settings, kms)


# -- one crypto factory per KMS and process (it caches the KEKs) --------------------------------

_factories: dict[str, tuple[pe.CryptoFactory, pe.KmsClient]] = {}
_lock = threading.Lock()


def _factory(kms: KmsConfig, base_dir: Path, settings: SecretsConfig | None) -> tuple[pe.CryptoFactory, pe.KmsClient]:
    """The process's crypto factory for this KMS (it caches KEKs), and its one KMS client. A KMS
    client's exception reaches the caller of pyarrow as itself (its text is ours, never a key)."""
    if settings is None and not isinstance(kms, LocalKms):
        from dativo_workers.secrets import active

        settings = active().config  # the runner config this process loaded last
    # keyed by everything that reaches the KMS (credentials included: hashed, never kept in clear)
    identity = json.dumps(
        [
            kms.model_dump(),
            str(base_dir),
            settings.model_dump() if settings is not None else None,
            _stamp(kms, base_dir),
        ],
        default=lambda v: v.get_secret_value() if hasattr(v, "get_secret_value") else str(v),
        sort_keys=True,
    )
    key = hashlib.sha256(identity.encode()).hexdigest()
    with _lock:
        if key not in _factories:
            client = kms_client(kms, base_dir, settings)  # fails here (bad key file), not inside pyarrow
            _factories[key] = (pe.CryptoFactory(lambda _conn: client), client)
        return _factories[key]


def _stamp(kms: KmsConfig, base_dir: Path) -> int | None:
    """A local key file's modification time: an edited file (a new key version) is read again."""
    if not isinstance(kms, LocalKms):
        return None
    try:
        return (base_dir / Path(kms.key_file).expanduser()).stat().st_mtime_ns
    except OSError:
        return None


def forget_keys() -> None:
    """Drop this process's KMS clients and cached KEKs: the next file wraps its keys under the
    master keys' current versions at once (else within the cache lifetime, 10 minutes)."""
    with _lock:
        _factories.clear()


def _reset_after_fork() -> None:  # SDK clients (connection pools) must not cross a fork
    global _lock
    _lock = threading.Lock()
    _factories.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


# -- writing -------------------------------------------------------------------------------------


class ParquetEncryption:
    """One target's encryption: `file_properties()` gives each new file fresh data keys."""

    def __init__(
        self,
        config: EncryptionConfig,
        columns: Iterable[str],
        base_dir: Path,
        settings: SecretsConfig | None = None,
    ) -> None:
        self.config = config
        self.columns = sorted(columns)
        self.factory, self.client = _factory(config.kms, base_dir, settings)
        self.encryption = pe.EncryptionConfiguration(
            footer_key=config.footer_key,
            column_keys={config.column_master_key: self.columns} if self.columns else {},
            encryption_algorithm=config.algorithm,
            plaintext_footer=config.plaintext_footer,
            double_wrapping=True,
            cache_lifetime=CACHE_LIFETIME,
            internal_key_material=True,
            data_key_length_bits=config.data_key_bits,
        )

    def file_properties(self) -> pq.FileEncryptionProperties:
        return self.factory.file_encryption_properties(pe.KmsConnectionConfig(), self.encryption)

    def check_keys(self) -> None:
        """Wrap and unwrap a throw-away key with each master key: a missing key or a KMS that refuses
        fails the run while planning, before any file is written."""
        for key in dict.fromkeys([self.config.footer_key, self.config.column_master_key]):
            probe = pysecrets.token_bytes(16)
            if self.client.unwrap_key(self.client.wrap_key(probe, key), key) != probe:
                raise EncryptionError(f"master key {key!r}: the KMS did not return the key it wrapped")


def encrypted_columns(config: EncryptionConfig, schema_columns: list[str], sensitive: Iterable[str]) -> list[str]:
    """The columns a target encrypts: the listed ones, or (`auto`) those classified sensitive."""
    if config.columns == "auto":
        wanted = set(sensitive)
        return [c for c in schema_columns if c in wanted]
    return [c for c in schema_columns if c in set(config.columns)]


def footer_is_encrypted(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-4, os.SEEK_END)
        return handle.read(4) == ENCRYPTED_FOOTER_MAGIC


# -- reading -------------------------------------------------------------------------------------


def decryption_properties(
    kms: KmsConfig | dict[str, Any], *, base_dir: str | Path = ".", settings: SecretsConfig | None = None
) -> pq.FileDecryptionProperties:
    """What `pq.read_table(..., decryption_properties=...)` needs to read an encrypted file: access
    to the KMS that wrapped its keys (`kms` as in `target.encryption.kms`; Vault and AWS connect
    through ``settings``, default: this process's runner secrets config)."""
    from pydantic import TypeAdapter

    config = TypeAdapter(KmsConfig).validate_python(kms) if isinstance(kms, dict) else kms
    factory, _ = _factory(config, Path(base_dir), settings)
    return factory.file_decryption_properties(
        pe.KmsConnectionConfig(), pe.DecryptionConfiguration(cache_lifetime=CACHE_LIFETIME)
    )


def job_decryption_properties(
    job_path: str | Path, runner_path: str | Path | None = None
) -> pq.FileDecryptionProperties:
    """Decryption properties for the files a job wrote: its `target.encryption.kms`, with the
    runner config's Vault/AWS connection (found as `dativo` finds it, or ``runner_path``)."""
    from dativo_workers.config.job import load_job
    from dativo_workers.config.runner import load_runner

    job = load_job(job_path)
    encryption = job.config.target.encryption
    if encryption is None:
        raise ConfigError(f"{job.path}: target.encryption is not set: the job writes plain Parquet")
    runner = load_runner(runner_path)
    return decryption_properties(encryption.kms, base_dir=job.base_dir, settings=runner.secrets)
