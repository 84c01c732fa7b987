"""`target.encryption`: Parquet modular encryption of file targets, keys wrapped by a local key
file, Vault Transit (a loopback server speaking Transit's HTTP API: no Vault binary here) and
AWS KMS (moto's server mode). Embedded runs, read back with and without KMS access."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import structlog
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from structlog.testing import capture_logs

from dativo_workers.encryption import (
    EncryptionError,
    decryption_properties,
    footer_is_encrypted,
    forget_keys,
    job_decryption_properties,
)
from tests.conftest import Workspace

from .fleet import free_port
from .test_secrets_providers import JsonServer, Reply

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROWS = [
    {"id": 1, "email": "ana@example.com", "ssn": "123-45-6789", "plan": "gold"},
    {"id": 2, "email": "bo@example.org", "ssn": "234-56-7890", "plan": "free"},
    {"id": 3, "email": "cy@example.net", "ssn": "345-67-8901", "plan": "gold"},
]
CSV = "id,email,ssn,plan\n" + "".join(f"{r['id']},{r['email']},{r['ssn']},{r['plan']}\n" for r in ROWS)


@contextlib.contextmanager
def all_logs() -> Iterator[list[dict[str, Any]]]:
    """Every structlog event of the block, info level included."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with capture_logs() as logs:
            yield logs
    finally:
        structlog.configure(**saved)


def b64key(size: int = 32) -> str:
    return base64.b64encode(os.urandom(size)).decode()


def encrypted_job(ws: Workspace, encryption: str, name: str = "enc", extra: str = "") -> Path:
    ws.write("data/people.csv", CSV)
    return ws.job(
        f"{name}.yaml",
        f"""
        tenant_id: acme
        source: {{connector: csv, files: [{{path: data/people.csv}}]}}
        target:
          connector: parquet
          path: out/{name}
          encryption: {encryption}
        classification_overrides: {{ssn: SENSITIVE}}
        {extra}
        """,
    )


def output_files(ws: Workspace, name: str) -> list[Path]:
    return sorted((ws.root / "out" / name).glob("*.parquet"))


def run_file(ws: Workspace, job: Path) -> Path:
    """Run the job; its one output file."""
    summary = ws.run(job)
    assert summary["state"] == "committed", summary
    [path] = [f for f in output_files(ws, job.stem) if f.name.startswith(summary["run_id"])]
    return path


def read_rows(path: Path, props: Any, columns: list[str] | None = None) -> list[dict[str, Any]]:
    table = pq.read_table(path, decryption_properties=props, columns=columns)
    return sorted(table.to_pylist(), key=lambda r: r["id"])


def assert_unreadable_without_keys(path: Path) -> None:
    assert footer_is_encrypted(path)
    for columns in (None, ["id"], ["email"]):
        with pytest.raises(OSError, match="encrypted metadata"):
            pq.read_table(path, columns=columns)
    with pytest.raises(OSError):
        pq.read_metadata(path)  # not even the schema or the row count


# ==================================== local key file ====================================


@pytest.fixture
def key_file(workspace: Workspace) -> dict[str, Any]:
    keys = {"footer": b64key(), "pii": [b64key(16), b64key()]}
    workspace.write("keys.json", json.dumps(keys))
    return keys


def test_local_key_file_encrypts_the_sensitive_columns_and_reads_back(
    workspace: Workspace, key_file: dict[str, Any]
) -> None:
    job = encrypted_job(workspace, "{kms: {type: local, key_file: keys.json}, footer_key: footer, column_key: pii}")
    with all_logs() as logs:
        summary = workspace.run(job)
    assert summary["state"] == "committed" and summary["rows"] == 3
    [path] = output_files(workspace, "enc")
    assert_unreadable_without_keys(path)

    props = job_decryption_properties(job, workspace.runner_file)
    assert read_rows(path, props) == ROWS
    # email (detected PII) and ssn (SENSITIVE by the job) have column keys, wrapped by `pii`'s
    # newest version: a key file holding only `footer` reads the footer and the plain columns only
    workspace.write("footer_only.json", json.dumps({"footer": key_file["footer"]}))
    footer_only = decryption_properties({"type": "local", "key_file": str(workspace.root / "footer_only.json")})
    assert read_rows(path, footer_only, ["id", "plan"]) == [{"id": r["id"], "plan": r["plan"]} for r in ROWS]
    for column in ("email", "ssn"):
        with pytest.raises(EncryptionError, match="master key 'pii' is not in the key file"):
            pq.read_table(path, columns=[column], decryption_properties=footer_only)
    # other keys under the same names unwrap nothing
    workspace.write("wrong.json", json.dumps({"footer": b64key(), "pii": [b64key(16), b64key()]}))
    wrong = decryption_properties({"type": "local", "key_file": str(workspace.root / "wrong.json")})
    with pytest.raises(EncryptionError, match="does not unwrap"):
        pq.read_table(path, decryption_properties=wrong)

    # no key leaves the key file: not in the ledger, the stored plan, the run summary or the logs
    ledger_bytes = (workspace.state / "dativo.db").read_bytes()
    logged = json.dumps(logs, default=str)
    assert "run committed" in logged
    for value in [key_file["footer"], *key_file["pii"]]:
        assert value.encode() not in ledger_bytes
        assert value not in json.dumps(summary) + logged


def test_plaintext_footer_leaves_the_other_columns_readable_without_keys(
    workspace: Workspace, key_file: dict[str, Any]
) -> None:
    job = encrypted_job(
        workspace,
        "{kms: {type: local, key_file: keys.json}, footer_key: footer, columns: [ssn], plaintext_footer: true}",
    )
    assert workspace.run(job)["state"] == "committed"
    [path] = output_files(workspace, "enc")
    assert not footer_is_encrypted(path)
    assert pq.read_metadata(path).num_rows == 3  # schema, row counts and plain columns' statistics show
    plain = pq.read_table(path, columns=["id", "email", "plan"]).to_pylist()
    assert plain == [{k: r[k] for k in ("id", "email", "plan")} for r in ROWS]  # listed columns only: email is plain
    for columns in (["ssn"], None):
        with pytest.raises(OSError, match="ColumnMetadata"):
            pq.read_table(path, columns=columns)
    assert read_rows(path, job_decryption_properties(job, workspace.runner_file)) == ROWS


def test_a_rotated_local_key_keeps_old_files_readable(workspace: Workspace, key_file: dict[str, Any]) -> None:
    job = encrypted_job(workspace, "{kms: {type: local, key_file: keys.json}, footer_key: footer, column_key: pii}")
    first = run_file(workspace, job)
    key_file["pii"].append(b64key())  # rotation: a new newest version wraps new files' keys
    workspace.write("keys.json", json.dumps(key_file))
    second = run_file(workspace, job)
    props = job_decryption_properties(job, workspace.runner_file)
    assert read_rows(first, props) == read_rows(second, props) == ROWS
    key_file["pii"] = [None, None, key_file["pii"][-1]]  # retired versions: files wrapped by them are lost
    workspace.write("keys.json", json.dumps(key_file))
    props = job_decryption_properties(job, workspace.runner_file)
    assert read_rows(second, props) == ROWS
    with pytest.raises(EncryptionError, match="version"):
        pq.read_table(first, decryption_properties=props)


# ================================== bad configuration ===================================


@pytest.mark.parametrize(
    ("encryption", "extra", "expected"),
    [
        ("{footer_key: footer}", "", "target.encryption.kms"),
        ("{kms: {type: gpg}, footer_key: footer}", "", "target.encryption.kms"),
        ("{kms: {type: local, key_file: keys.json}}", "", "target.encryption.footer_key"),
        ("{kms: {type: local}, footer_key: footer}", "", "target.encryption.kms.local.key_file"),
        ("{kms: {type: local, key_file: keys.json}, footer_key: footer, columns: [nope]}", "", "no column 'nope'"),
        ("{kms: {type: local, key_file: keys.json}, footer_key: nokey}", "", "master key 'nokey' is not in"),
        ("{kms: {type: local, key_file: missing.json}, footer_key: footer}", "", "key file .* does not exist"),
        ("{kms: {type: local, key_file: keys.json}, footer_key: footer}", "bad_rows: {action: quarantine}", "skip"),
    ],
)
def test_bad_encryption_config_exits_2_naming_file_and_key_and_writes_nothing(
    workspace: Workspace, key_file: dict[str, Any], encryption: str, extra: str, expected: str
) -> None:
    job = encrypted_job(workspace, encryption, extra=extra)
    result = workspace.cli("run", str(job))
    assert result.code == 2, result.stderr
    assert str(job) in result.stderr
    assert re.search(expected, result.stderr), result.stderr
    assert not (workspace.root / "out").exists()
    for value in [key_file["footer"], *key_file["pii"]]:
        assert value not in result.stderr + result.stdout


def test_an_iceberg_target_with_encryption_is_refused(workspace: Workspace, key_file: dict[str, Any]) -> None:
    workspace.write("data/people.csv", CSV)
    job = workspace.job(
        "ice.yaml",
        """
        tenant_id: acme
        source: {connector: csv, files: [{path: data/people.csv}]}
        target:
          namespace: acme
          table: people
          encryption: {kms: {type: local, key_file: keys.json}, footer_key: footer}
        """,
    )
    result = workspace.cli("run", str(job))
    assert result.code == 2
    assert str(job) in result.stderr and "target.encryption" in result.stderr
    assert "pyiceberg cannot read Parquet files with modular encryption" in result.stderr
    assert not (workspace.state / "warehouse").exists()


# ===================================== Vault Transit =====================================


@dataclass
class TransitState:
    keys: dict[str, list[bytes]] = field(default_factory=dict)  # name -> versions (1-based)
    token: str = "hvs.transit-token"
    calls: list[tuple[str, str]] = field(default_factory=list)  # (encrypt|decrypt, key)


def transit_handler(state: TransitState) -> Any:
    """Vault's Transit encrypt/decrypt endpoints, with real AES-GCM and key versions."""

    def handle(method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        parts = urllib.parse.urlsplit(path).path.removeprefix("/v1/").split("/")
        if headers.get("x-vault-token") != state.token:
            return 403, {"errors": ["permission denied"]}, {}
        if parts[:2] == ["auth", "token"]:  # lookup-self: a static token
            return 200, {"data": {"ttl": 0, "renewable": False}}, {}
        if method != "POST" or len(parts) != 3 or parts[0] != "transit" or parts[1] not in ("encrypt", "decrypt"):
            return 404, {"errors": []}, {}
        action, name = parts[1], parts[2]
        if name not in state.keys:
            return 400, {"errors": ["encryption key not found"]}, {}
        state.calls.append((action, name))
        request = json.loads(body)
        versions = state.keys[name]
        if action == "encrypt":
            nonce = os.urandom(12)
            sealed = AESGCM(versions[-1]).encrypt(nonce, base64.b64decode(request["plaintext"]), None)
            return (
                200,
                {"data": {"ciphertext": f"vault:v{len(versions)}:" + base64.b64encode(nonce + sealed).decode()}},
                {},
            )
        _, version, payload = request["ciphertext"].split(":", 2)
        raw = base64.b64decode(payload)
        plain = AESGCM(versions[int(version[1:]) - 1]).decrypt(raw[:12], raw[12:], None)
        return 200, {"data": {"plaintext": base64.b64encode(plain).decode()}}, {}

    return handle


@pytest.fixture
def transit() -> Iterator[tuple[JsonServer, TransitState]]:
    state = TransitState(keys={"dativo-footer": [os.urandom(32)], "dativo-pii": [os.urandom(32)]})
    server = JsonServer(transit_handler(state))
    yield server, state
    server.close()


def vault_runner(ws: Workspace, url: str, token: str) -> None:
    text = ws.runner_file.read_text()
    ws.runner_file.write_text(text + f"  secrets:\n    vault: {{url: '{url}', token: '{token}'}}\n")


def test_vault_transit_wraps_the_keys_and_reads_back(
    workspace: Workspace, transit: tuple[JsonServer, TransitState], caplog: pytest.LogCaptureFixture
) -> None:
    server, state = transit
    vault_runner(workspace, server.url, state.token)
    job = encrypted_job(
        workspace, "{kms: {type: vault_transit}, footer_key: dativo-footer, column_key: dativo-pii, columns: auto}"
    )
    with all_logs() as logs:
        summary = workspace.run(job)
    assert summary["state"] == "committed", summary
    [path] = output_files(workspace, "enc")
    assert_unreadable_without_keys(path)
    planning = 4  # the planner's probe: wrap and unwrap with each master key
    encrypts = [c for c in state.calls[planning:] if c[0] == "encrypt"]
    assert sorted(set(encrypts)) == [("encrypt", "dativo-footer"), ("encrypt", "dativo-pii")]
    assert len(encrypts) == 2, "double wrapping: one KMS call per master key, not per file or column"

    props = job_decryption_properties(job, workspace.runner_file)
    assert read_rows(path, props) == ROWS

    # rotation: Transit's key gets a new version; new files use it, old ones still unwrap with v1
    state.keys["dativo-pii"].append(os.urandom(32))
    forget_keys()  # as a fresh process would (the KEK cache would keep the v1-wrapped KEK a while)
    second = run_file(workspace, job)
    [first] = [f for f in output_files(workspace, "enc") if f != second]
    props = job_decryption_properties(job, workspace.runner_file)
    assert read_rows(first, props) == read_rows(second, props) == ROWS
    logged = json.dumps(logs, default=str)
    assert "run committed" in logged
    assert state.token not in caplog.text + logged


def test_vault_transit_refusing_the_token_fails_planning_and_writes_nothing(
    workspace: Workspace, transit: tuple[JsonServer, TransitState]
) -> None:
    server, _ = transit
    vault_runner(workspace, server.url, "hvs.wrong-token-value")
    job = encrypted_job(workspace, "{kms: {type: vault_transit}, footer_key: dativo-footer}")
    result = workspace.cli("run", str(job))
    assert result.code == 2, result.stderr
    assert "Vault Transit encrypt with key 'dativo-footer'" in result.stderr
    assert "hvs.wrong-token-value" not in result.stderr + result.stdout
    assert not (workspace.root / "out").exists()


def test_an_unreachable_vault_fails_planning_as_transient(workspace: Workspace) -> None:
    vault_runner(workspace, f"http://127.0.0.1:{free_port()}", "hvs.unused-token")
    job = encrypted_job(workspace, "{kms: {type: vault_transit}, footer_key: dativo-footer}")
    result = workspace.cli("run", str(job))
    assert result.code == 2, result.stderr
    assert "Vault Transit encrypt with key 'dativo-footer' at mount 'transit': Vault unreachable" in result.stderr
    assert "hvs.unused-token" not in result.stderr + result.stdout
    assert not (workspace.root / "out").exists()


def test_reading_with_a_vault_that_lost_the_key_fails_on_the_sensitive_columns(
    workspace: Workspace, transit: tuple[JsonServer, TransitState]
) -> None:
    server, state = transit
    vault_runner(workspace, server.url, state.token)
    job = encrypted_job(workspace, "{kms: {type: vault_transit}, footer_key: dativo-footer, column_key: dativo-pii}")
    assert workspace.run(job)["state"] == "committed"
    [path] = output_files(workspace, "enc")
    del state.keys["dativo-pii"]
    forget_keys()
    props = job_decryption_properties(job, workspace.runner_file)
    assert read_rows(path, props, ["id", "plan"]) == [{"id": r["id"], "plan": r["plan"]} for r in ROWS]
    with pytest.raises(EncryptionError, match="dativo-pii"):
        pq.read_table(path, columns=["email"], decryption_properties=props)


# ======================================== AWS KMS ========================================


@pytest.fixture(scope="module")
def kms_endpoint() -> Iterator[tuple[str, str]]:
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "kms", region_name="eu-west-1", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test"
    )
    key_id = client.create_key(Description="dativo footer")["KeyMetadata"]["KeyId"]
    client.create_alias(AliasName="alias/dativo-footer", TargetKeyId=key_id)
    pii = client.create_key(Description="dativo pii")["KeyMetadata"]["KeyId"]
    try:
        yield endpoint, pii
    finally:
        server.stop()


def test_aws_kms_wraps_the_keys_of_files_on_an_object_store(
    workspace: Workspace, kms_endpoint: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two partitions on two worker processes (each connects to KMS from its own runner config),
    written to S3 (moto serves both on one loopback port)."""
    import boto3
    import pyarrow.fs as pafs

    endpoint, pii_key = kms_endpoint
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="vault-lake")
    storage = f"s3.endpoint: '{endpoint}', s3.region: us-east-1, s3.access-key-id: test, s3.secret-access-key: test"
    workspace.runner_file.write_text(
        f"""runner:
  ledger_url: sqlite:///{workspace.state}/dativo.db
  catalogs:
    default: {{type: sql, uri: 'sqlite:///{workspace.state}/catalog.db', warehouse: '{workspace.state}/wh', {storage}}}
  secrets:
    aws: {{region: eu-west-1, endpoint_url: '{endpoint}'}}
"""
    )
    workspace.write("data/more.csv", CSV.replace("\n1,", "\n11,").replace("\n2,", "\n12,").replace("\n3,", "\n13,"))
    job = encrypted_job(
        workspace, f"{{kms: {{type: aws_kms}}, footer_key: alias/dativo-footer, column_key: {pii_key}}}"
    )
    job.write_text(job.read_text().replace("data/people.csv", "data/*.csv").replace("out/enc", "s3://vault-lake/enc"))
    summary = workspace.run(job, workers=2)
    assert summary["state"] == "committed" and summary["partitions_total"] == 2, summary

    fs = pafs.S3FileSystem(
        endpoint_override=endpoint.removeprefix("http://"), scheme="http", access_key="test", secret_key="test"
    )
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="vault-lake")["Contents"] if o["Key"].endswith(".parquet")]
    assert len(keys) == 2 and all(k.startswith(f"enc/{summary['run_id']}") for k in keys)
    props = job_decryption_properties(job, workspace.runner_file)
    rows = []
    for key in keys:
        local = workspace.root / Path(key).name
        local.write_bytes(s3.get_object(Bucket="vault-lake", Key=key)["Body"].read())
        assert_unreadable_without_keys(local)
        rows += pq.read_table(f"vault-lake/{key}", filesystem=fs, decryption_properties=props).to_pylist()
    more = [{**r, "id": r["id"] + 10} for r in ROWS]
    assert sorted(rows, key=lambda r: r["id"]) == ROWS + more

    bad = encrypted_job(workspace, "{kms: {type: aws_kms}, footer_key: alias/nope}", name="bad")
    result = workspace.cli("run", str(bad), env={"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"})
    assert result.code == 2 and "AWS KMS encrypt with key 'alias/nope': NotFoundException" in result.stderr
    assert not (workspace.root / "out/bad").exists()


# =================================== writer plugins ====================================

IGNORING_WRITER = """
import pyarrow as pa
import pyarrow.parquet as pq
from dativo_workers.plugins import DataWriter


class PlainWriter(DataWriter):
    supports_encryption = True  # but writes plain Parquet: the engine must notice

    def write(self, batch):
        self.path = self.context.output_dir / f"{self.context.file_prefix}.parquet"
        pq.write_table(pa.Table.from_batches([batch]), self.path)
        self.rows = batch.num_rows

    def close(self):
        return [{"path": str(self.path), "rows": self.rows}]
"""


def test_writers_that_cannot_encrypt_are_refused_and_plain_files_are_caught(
    workspace: Workspace, key_file: dict[str, Any]
) -> None:
    encryption = "{kms: {type: local, key_file: keys.json}, footer_key: footer}"
    job = encrypted_job(workspace, encryption)
    job.write_text(job.read_text().replace("connector: parquet", "connector: markdown_kv"))
    result = workspace.cli("run", str(job))
    assert result.code == 2 and "writer 'markdown_kv' does not write encrypted Parquet" in result.stderr
    assert str(job) in result.stderr

    workspace.write("plain_writer.py", IGNORING_WRITER)
    job.write_text(
        job.read_text().replace(
            "connector: markdown_kv", "writer: {type: plugin, plugin_path: plain_writer.PlainWriter}"
        )
    )
    summary = workspace.run(job)
    assert summary["state"] == "failed"
    assert not output_files(workspace, "enc")
    [part] = workspace.ledger().partitions(summary["run_id"])
    assert "without encryption although target.encryption is set" in part["error"]
