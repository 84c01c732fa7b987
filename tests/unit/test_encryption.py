"""Parquet encryption pieces without a run: the local key-file KMS, the config model, nested
columns, tampering."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from dativo_workers.config.encryption import EncryptionConfig
from dativo_workers.encryption import (
    EncryptionError,
    LocalKeyFileKms,
    ParquetEncryption,
    decryption_properties,
    forget_keys,
)
from dativo_workers.errors import ConfigError


def b64(size: int = 32) -> str:
    return base64.b64encode(os.urandom(size)).decode()


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"footer": b64(), "pii": [b64(16), b64(24)]}))
    forget_keys()
    return path


def config(**settings: Any) -> EncryptionConfig:
    return EncryptionConfig.model_validate(
        {"kms": {"type": "local", "key_file": "keys.json"}, "footer_key": "footer", **settings}
    )


def test_local_kms_wraps_with_the_newest_version_and_unwraps_any(keys: Path) -> None:
    kms = LocalKeyFileKms(keys)
    data_key = os.urandom(16)
    wrapped = kms.wrap_key(data_key, "pii")
    assert wrapped.startswith("local:v2:") and base64.b64encode(data_key).decode() not in wrapped
    assert kms.unwrap_key(wrapped, "pii") == data_key
    with pytest.raises(EncryptionError, match="does not unwrap"):
        kms.unwrap_key(kms.wrap_key(data_key, "footer"), "pii")  # another key (and name) unwraps nothing
    with pytest.raises(EncryptionError, match="master key 'nope' is not in the key file"):
        kms.wrap_key(data_key, "nope")
    data = json.loads(keys.read_text())
    keys.write_text(json.dumps({**data, "pii": [None, data["pii"][1]]}))
    old = LocalKeyFileKms(keys)
    assert old.unwrap_key(wrapped, "pii") == data_key
    v1 = "local:v1:" + wrapped.split(":", 2)[2]
    with pytest.raises(EncryptionError, match="version 1 is not in the key file"):
        old.unwrap_key(v1, "pii")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not json", "not readable JSON"),
        ("{}", "must be a JSON object"),
        ('{"k": "c2hvcnQ="}', "key 'k' .* 16, 24 or 32-byte"),
        ('{"k": "%%%"}', "key 'k' .* 16, 24 or 32-byte"),
        ('{"k": [null]}', "key 'k' .* 16, 24 or 32-byte"),
    ],
)
def test_bad_key_files_are_config_errors_without_the_keys(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=f"target.encryption.kms.key_file: .*{expected}"):
        LocalKeyFileKms(path)
    with pytest.raises(ConfigError, match="does not exist"):
        LocalKeyFileKms(tmp_path / "missing.json")


def test_config_model_refuses_empty_and_repeated_columns() -> None:
    for columns in ([], ["a", "a"]):
        with pytest.raises(ValidationError, match="columns"):
            config(columns=columns)
    assert config().column_master_key == "footer"
    assert config(column_key="pii").column_master_key == "pii"


def test_nested_columns_are_encrypted_whole_and_tampering_fails_the_read(keys: Path, tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": pa.array([1, 2], pa.int64()),
            "address": pa.array([{"street": "1 Main St", "zip": "94105"}, None]),
            "phones": pa.array([["+1 415 555 0100"], []]),
        }
    )
    encryption = ParquetEncryption(config(column_key="pii", plaintext_footer=True), ["address", "phones"], tmp_path)
    path = tmp_path / "nested.parquet"
    with pq.ParquetWriter(path, table.schema, encryption_properties=encryption.file_properties()) as writer:
        writer.write_table(table)
    props = decryption_properties({"type": "local", "key_file": "keys.json"}, base_dir=tmp_path)
    assert pq.read_table(path, decryption_properties=props).equals(table)
    assert pq.read_table(path, columns=["id"]).column("id").to_pylist() == [1, 2]
    for column in ("address", "phones"):
        with pytest.raises(OSError, match="ColumnMetadata"):
            pq.read_table(path, columns=[column])
    assert b"Main St" not in path.read_bytes() and b"555" not in path.read_bytes()

    # every column encrypted (AES-GCM): one changed byte in a page fails the read
    everything = ParquetEncryption(config(), ["id", "address", "phones"], tmp_path)
    with pq.ParquetWriter(path, table.schema, encryption_properties=everything.file_properties()) as writer:
        writer.write_table(table)
    assert pq.read_table(path, decryption_properties=props).equals(table)
    raw = bytearray(path.read_bytes())
    raw[40] ^= 0x01  # inside the first column chunk, after the 4-byte magic and page header
    path.write_bytes(bytes(raw))
    with pytest.raises(OSError):
        pq.read_table(path, decryption_properties=props)
