"""Object-store settings (pyiceberg FileIO names) to pyarrow filesystems, and globs over object keys.

S3 is exercised for real against moto (tests/integration/test_object_store_sources.py); GCS and
Azure have no emulator here, so their URI parsing and settings mapping are checked on the
filesystem objects pyarrow builds (nothing connects until a file is opened)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from dativo_workers.config import load_job
from dativo_workers.errors import ConfigError, SourceError
from dativo_workers.storage import filesystem, glob_regex, list_files, unsupported_scheme


def _options(fs: pafs.FileSystem) -> dict[str, object]:
    return fs.__reduce__()[1][0]  # the settings pyarrow rebuilds the filesystem from


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        (
            "b/raw/2026/*/orders-*.csv",
            ["b/raw/2026/01/orders-1.csv"],
            ["b/raw/2026/01/x/orders-1.csv", "b/raw/2026/orders-1.csv"],
        ),
        ("b/raw/**/*.csv", ["b/raw/a.csv", "b/raw/2026/01/x/a.csv"], ["b/raw.csv", "b/other/a.csv", "b/raw/a.csv.gz"]),
        ("b/raw/**", ["b/raw/a", "b/raw/x/y/z.json"], ["b/rawx/a"]),
        ("b/d?y=0[1-3]/*.jsonl.zst", ["b/day=02/p.jsonl.zst"], ["b/day=04/p.jsonl.zst", "b/dayy=02/p.jsonl.zst"]),
        ("b/[!x]*.csv", ["b/a.csv"], ["b/x.csv"]),
        ("b/a+b (1).csv", ["b/a+b (1).csv"], ["b/aab (1).csv"]),
    ],
)
def test_globs_match_keys_segment_by_segment(pattern: str, matches: list[str], misses: list[str]) -> None:
    regex = glob_regex(pattern)
    assert [k for k in matches if regex.match(k)] == matches
    assert [k for k in misses if regex.match(k)] == []


def test_s3_settings_map_to_the_s3_filesystem() -> None:
    fs, path = filesystem(
        "s3://bkt/raw/x.csv",
        {
            "s3.endpoint": "http://127.0.0.1:9000",
            "s3.access-key-id": "AK",
            "s3.secret-access-key": "SK",
            "s3.session-token": "ST",
            "s3.path-style-access": "true",
            "s3.request-timeout": "30",
        },
    )
    options = _options(fs)
    assert (type(fs), path) == (pafs.S3FileSystem, "bkt/raw/x.csv")
    assert options["endpoint_override"] == "127.0.0.1:9000" and options["scheme"] == "http"
    assert (options["access_key"], options["secret_key"], options["session_token"]) == ("AK", "SK", "ST")
    assert options["region"] == "us-east-1"  # a custom endpoint signs for us-east-1 unless told
    assert options["force_virtual_addressing"] is False and options["request_timeout"] == 30.0
    virtual, _ = filesystem("s3a://bkt/k", {"s3.endpoint": "https://oss.example.com", "s3.path-style-access": "false"})
    assert _options(virtual)["force_virtual_addressing"] is True


def test_s3_without_settings_leaves_credentials_to_the_sdk_chain() -> None:
    fs, path = filesystem("s3://bkt/k.csv", {"s3.region": "eu-west-1"})
    options = _options(fs)
    assert path == "bkt/k.csv" and options["region"] == "eu-west-1"
    assert not options["access_key"] and not options["endpoint_override"]


def test_gcs_settings_map_to_the_gcs_filesystem() -> None:
    props = {
        "gcs.service.host": "http://127.0.0.1:4443",
        "gcs.project-id": "proj",
        "gcs.oauth2.token": "tok",
        "gcs.oauth2.token-expires-at": "1893456000000",
    }
    for uri in ("gs://bkt/raw/x.csv", "gcs://bkt/raw/x.csv"):
        fs, path = filesystem(uri, props)
        options = _options(fs)
        assert (type(fs), path) == (pafs.GcsFileSystem, "bkt/raw/x.csv")
        assert (options["scheme"], options["endpoint_override"], options["project_id"]) == (
            "http",
            "127.0.0.1:4443",
            "proj",
        )
        assert options["access_token"] == "tok"
        assert options["credential_token_expiration"] == datetime(2030, 1, 1, tzinfo=UTC)


def test_abfs_uris_name_container_and_account() -> None:
    props = {
        "adls.account-key": "a2V5",
        "adls.blob-storage-authority": "127.0.0.1:10000",
        "adls.blob-storage-scheme": "http",
    }
    fs, path = filesystem("abfss://raw@acct.dfs.core.windows.net/2026/x.csv", props)
    options = _options(fs)
    assert (type(fs), path) == (pafs.AzureFileSystem, "raw/2026/x.csv")
    assert (options["account_name"], options["account_key"]) == ("acct", "a2V5")
    assert (options["blob_storage_authority"], options["blob_storage_scheme"]) == ("127.0.0.1:10000", "http")
    # an emulator's host name says nothing about the account: adls.account-name does
    fs, path = filesystem("abfs://raw@127.0.0.1:10000/x.csv", {**props, "adls.account-name": "devstoreaccount1"})
    assert _options(fs)["account_name"] == "devstoreaccount1" and path == "raw/x.csv"
    with pytest.raises(SourceError, match="abfs://<container>@<account>"):
        filesystem("abfs://acct.dfs.core.windows.net/x.csv", {})


def test_unknown_schemes_are_named() -> None:
    assert unsupported_scheme("s3://b/k") is None and unsupported_scheme("data/*.csv") is None
    problem = unsupported_scheme("ftp://host/x.csv")
    assert problem is not None and "ftp://host/x.csv" in problem and "'ftp://'" in problem
    with pytest.raises(SourceError, match="unknown scheme 'hdfs://'"):
        list_files("hdfs://nn/x/*.csv")


def _job(tmp_path: Path, source: str) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(
        f"tenant_id: acme\nname: j\nsource:\n  connector: csv\n{source}\ntarget: {{namespace: a, table: t}}\n"
    )
    load_job(path)


def test_job_refuses_unknown_schemes_and_storage_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        _job(tmp_path, "  files: [{path: 'ftp://h/x.csv'}]")
    assert "job.yaml:5: source.files[0].path" in str(error.value) and "ftp://h/x.csv: unknown scheme" in str(
        error.value
    )
    with pytest.raises(ConfigError) as error:
        _job(tmp_path, "  files: [{path: 's3://b/x.csv'}]\n  storage: {s3.acess-key-id: x}")
    assert "source.storage" in str(error.value) and "unknown key(s) s3.acess-key-id" in str(error.value)
    _job(tmp_path, "  files: [{path: 's3://b/x.csv'}]\n  storage: {s3.path-style-access: true}")
