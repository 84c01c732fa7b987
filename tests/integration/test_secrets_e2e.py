"""Secrets end to end: a MariaDB user with a real password (MariaDB checks it), read by a job whose
password comes from the env, filesystem or AWS provider; wrong and missing secrets; and a scan of
everything a distributed run leaves behind (Redis, task results, ledger, logs, table) for the password.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pymysql
import pytest
import redis

from dativo_workers.config import load_job, load_runner
from dativo_workers.errors import DativoError
from dativo_workers.producer import retry, submit, wait
from dativo_workers.secrets import SecretsConfig, use

from ..conftest import Workspace
from .fleet import BrokerRecorder, Fleet, free_port, leaks
from .services import service_unavailable

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

MY_HOST = os.environ.get("DATIVO_TEST_MYSQL_HOST", "127.0.0.1")
MY_PORT = int(os.environ.get("DATIVO_TEST_MYSQL_PORT", "3306"))
ROWS = 40


@pytest.fixture(autouse=True)
def _default_provider_afterwards() -> Iterator[None]:
    yield
    use(SecretsConfig())  # loading these runners switched this process's provider


@dataclass
class DbUser:
    user: str
    password: str
    table: str  # database.table

    def secret(self, password: str | None = None) -> str:
        return json.dumps({"user": self.user, "password": password or self.password})


def _root() -> Any:
    try:
        return pymysql.connect(host=MY_HOST, port=MY_PORT, user="root", password="", database="test", autocommit=True)
    except pymysql.err.OperationalError as exc:
        service_unavailable("MariaDB", f"{MY_HOST}:{MY_PORT}", exc)


@pytest.fixture
def db_user() -> Iterator[DbUser]:
    """A table and a user allowed to read it, with a password only the secret store knows."""
    suffix = uuid.uuid4().hex[:8]
    user, table = f"dativo_t_{suffix}", f"secret_rows_{suffix}"
    password = f"Pw-{uuid.uuid4().hex}!@:/#"  # characters that need quoting in a URL
    conn = _root()
    hosts = ("%", "localhost", "127.0.0.1")
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{table}` (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, amount DECIMAL(10,2))")
        cur.executemany(
            f"INSERT INTO `{table}` VALUES (%s, %s, %s)",
            [(i, f"name-{i}", Decimal(i) / 4) for i in range(1, ROWS + 1)],
        )
        for host in hosts:
            cur.execute("CREATE USER %s@%s IDENTIFIED BY %s", (user, host, password))
            cur.execute(f"GRANT SELECT ON `test`.`{table}` TO %s@%s", (user, host))
    try:
        yield DbUser(user, password, f"test.{table}")
    finally:
        with conn.cursor() as cur:
            for host in hosts:
                cur.execute("DROP USER IF EXISTS %s@%s", (user, host))
            cur.execute(f"DROP TABLE IF EXISTS `{table}`")
        conn.close()


def _job(ws: Workspace, db: DbUser, table: str, partitions: int = 2) -> Path:
    return ws.job(
        f"jobs/{table}.yaml",
        f"""
        tenant_id: acme
        name: {table}
        source:
          connector: mysql
          connection:
            host: {MY_HOST}
            port: {MY_PORT}
            user: "${{secret:mariadb.user}}"
            password: "${{secret:mariadb.password}}"
            database: test
          tables: [{{name: {db.table}}}]
          partitioning: {{column: id, partitions: {partitions}}}
        target: {{namespace: acme, table: {table}}}
        """,
    )


def _runner(ws: Workspace, secrets_block: str) -> None:
    """runner.yaml with a workspace-local ledger and catalog; ``secrets_block`` is indented 4 spaces."""
    state = ws.root / "state"
    text = (
        "runner:\n"
        f"  ledger_url: sqlite:///{state}/dativo.db\n"
        "  catalogs:\n"
        f'    default: {{type: sql, uri: "sqlite:///{state}/catalog.db", warehouse: {state}/warehouse}}\n'
        "  secrets:\n"
        f"{secrets_block}\n"
    )
    ws.runner_file.write_text(text, encoding="utf-8")


def _persisted_bytes(ws: Workspace) -> bytes:
    """Everything a run leaves on disk: ledger (with WAL), catalog, every metadata and data file."""
    return b"".join(p.read_bytes() for p in (ws.root / "state").rglob("*") if p.is_file())


def _assert_loaded(ws: Workspace, summary: dict[str, Any], table: str) -> None:
    assert summary["state"] == "committed", summary
    assert summary["rows"] == ROWS
    rows = sorted(ws.read(f"acme.{table}").to_pylist(), key=lambda r: r["id"])
    assert [r["id"] for r in rows] == list(range(1, ROWS + 1))
    assert rows[5]["name"] == "name-6" and rows[5]["amount"] == Decimal("1.50")


# -------------------------------------------------------------------------- one provider each


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def _put_aws_secret(endpoint: str, name: str, value: str) -> None:
    import boto3

    client = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=endpoint)
    try:
        client.create_secret(Name=name, SecretString=value)
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=name, SecretString=value)


def test_password_from_env(workspace: Workspace, db_user: DbUser, monkeypatch: pytest.MonkeyPatch) -> None:
    _runner(workspace, "    provider: env")
    monkeypatch.setenv("DATIVO_SECRET__ACME__MARIADB", db_user.secret())
    summary = workspace.run(_job(workspace, db_user, "from_env"), workers=2)  # pool processes resolve it
    _assert_loaded(workspace, summary, "from_env")
    assert db_user.password.encode() not in _persisted_bytes(workspace)
    assert b"${secret:mariadb.password}" in _persisted_bytes(workspace)  # the ledger keeps the reference


def test_password_from_filesystem_chosen_by_the_cli_flag(workspace: Workspace, db_user: DbUser) -> None:
    mounted = workspace.root / "mounted"
    (mounted / "acme").mkdir(parents=True)
    (mounted / "acme" / "mariadb.json").write_text(db_user.secret())
    _runner(workspace, f"    provider: env\n    filesystem: {{dir: {mounted}}}")  # the flag overrides env
    job = _job(workspace, db_user, "from_files")
    check = workspace.cli("secrets", "check", str(job), "--secret-manager", "filesystem", "--json")
    assert check.code == 0, check.stderr
    assert {r["provider"] for r in check.json["references"]} == {"filesystem"}
    result = workspace.cli("run", str(job), "--json", "-w", "2", "--secret-manager", "filesystem")
    assert result.code == 0, result.stderr
    _assert_loaded(workspace, result.json, "from_files")
    for text in (result.stdout, result.stderr, check.stdout, check.stderr):
        assert db_user.password not in text
    assert db_user.password.encode() not in _persisted_bytes(workspace)


def test_password_from_aws_secrets_manager(
    workspace: Workspace, db_user: DbUser, moto_endpoint: str, aws_credentials: None
) -> None:
    _put_aws_secret(moto_endpoint, "acme/mariadb", db_user.secret())
    _runner(workspace, f"    provider: aws\n    aws: {{region: us-east-1, endpoint_url: '{moto_endpoint}'}}")
    summary = workspace.run(_job(workspace, db_user, "from_aws"), workers=2)
    _assert_loaded(workspace, summary, "from_aws")
    assert db_user.password.encode() not in _persisted_bytes(workspace)


# -------------------------------------------------------------------------- wrong and missing


def test_wrong_password_fails_naming_the_reference_not_the_value(
    workspace: Workspace, db_user: DbUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    _runner(workspace, "    provider: env")
    wrong = f"wrong-{uuid.uuid4().hex}"
    monkeypatch.setenv("DATIVO_SECRET__ACME__MARIADB", db_user.secret(wrong))
    job = _job(workspace, db_user, "wrong_pw")
    with pytest.raises(DativoError) as exc:
        workspace.run(job)
    text = str(exc.value)
    assert "access denied" in text.lower() and "${secret:mariadb.password}" in text, text
    assert wrong not in text and db_user.password not in text
    result = workspace.cli("run", str(job), "--json", env={"DATIVO_SECRET__ACME__MARIADB": db_user.secret(wrong)})
    assert result.code == 2 and "${secret:mariadb.password}" in result.stderr, result.stderr
    assert wrong not in result.stdout + result.stderr
    assert wrong.encode() not in _persisted_bytes(workspace)


def test_missing_secret_fails_naming_the_reference(workspace: Workspace, db_user: DbUser) -> None:
    _runner(workspace, "    provider: env")
    job = _job(workspace, db_user, "no_secret")
    result = workspace.cli("run", str(job))
    assert result.code == 2
    assert "${secret:mariadb.user}" in result.stderr or "${secret:mariadb.password}" in result.stderr
    assert "DATIVO_SECRET__ACME__MARIADB" in result.stderr and "DATIVO_SECRET__GLOBAL__MARIADB" in result.stderr
    check = workspace.cli("secrets", "check", str(job))
    assert check.code == 2 and "${secret:mariadb.password}" in check.stdout


# -------------------------------------------------------------------------- distributed scan


def _redis_dump(url: str) -> bytes:
    client = redis.Redis.from_url(url)
    chunks: list[bytes] = []
    for key in client.scan_iter():
        kind = client.type(key)
        chunks.append(key)
        if kind == b"string":
            chunks.append(client.get(key) or b"")
        elif kind == b"list":
            chunks.extend(client.lrange(key, 0, -1))
        elif kind == b"hash":
            chunks.extend(v for kv in client.hgetall(key).items() for v in kv)
        elif kind in (b"set", b"zset"):
            chunks.extend(client.smembers(key) if kind == b"set" else client.zrange(key, 0, -1))
    return b"\n".join(chunks)


@pytest.fixture
def aws_fleet(
    workspace: Workspace,
    moto_endpoint: str,
    aws_credentials: None,
    db_user: DbUser,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Fleet, DbUser]]:
    """Workers whose runner.yaml picks the aws provider; the secret lives only in the store."""
    _put_aws_secret(moto_endpoint, "acme/mariadb", db_user.secret())
    _runner(workspace, f"    provider: aws\n    aws: {{region: us-east-1, endpoint_url: '{moto_endpoint}'}}")
    # as `dativo submit --runner FILE` does: the Celery app of this (producer) process loads the same file
    monkeypatch.setenv("DATIVO_RUNNER_CONFIG", str(workspace.runner_file))
    fleet = Fleet(
        root=workspace.root,
        runner_file=workspace.runner_file,
        broker_url=os.environ["DATIVO_BROKER_URL"],
        result_backend=os.environ["DATIVO_RESULT_BACKEND"],
        extra_env={"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"},
    )
    fleet.flush()
    try:
        yield fleet, db_user
    finally:
        fleet.stop()
        fleet.flush()


def test_distributed_run_leaves_the_password_nowhere(workspace: Workspace, aws_fleet: tuple[Fleet, DbUser]) -> None:
    fleet, db = aws_fleet
    fleet.start_worker(concurrency=2)
    recorder = BrokerRecorder(fleet.broker_url)  # every command Redis receives, while the run is on
    job = _job(workspace, db, "distributed", partitions=3)
    runner = load_runner(workspace.runner_file)
    ledger = workspace.ledger()
    run_id = submit(load_job(job), runner, ledger, None)
    summary = wait(run_id, ledger, timeout_s=180)
    _assert_loaded(workspace, summary, "distributed")
    assert summary["partitions_done"] == 3

    secret = db.password.encode()
    traffic = recorder.stop().texts()
    assert sum(f'[["{run_id}", ' in t for t in traffic) >= 3  # the partitions' messages, decoded, were scanned
    assert leaks(db.password, *traffic) == []  # as is, URL-quoted, JSON-escaped
    dump = _redis_dump(fleet.broker_url) + _redis_dump(fleet.result_backend)
    assert leaks(db.password, dump.decode(errors="replace")) == []
    logs = fleet.log_text()
    assert run_id in logs and "partition done" in logs  # the workers did log this run
    assert leaks(db.password, logs) == []
    ledger_bytes = b"".join(p.read_bytes() for p in (workspace.root / "state").glob("dativo.db*"))
    assert b"${secret:mariadb.password}" in ledger_bytes and secret not in ledger_bytes
    assert secret not in _persisted_bytes(workspace)
    table = workspace.table("acme.distributed")
    props = json.dumps(table.properties) + json.dumps([s.summary.additional_properties for s in table.snapshots()])
    assert db.password not in props


# -------------------------------------------------------------------------- ${ENV} passwords


PW_VAR = "DATIVO_E2E_MARIADB_PW"


def _env_job(ws: Workspace, db: DbUser, table: str) -> Path:
    """The password as an environment variable the job refers to (not a secret reference)."""
    return ws.job(
        f"jobs/{table}.yaml",
        f"""
        tenant_id: acme
        name: {table}
        source:
          connector: mysql
          connection: {{host: {MY_HOST}, port: {MY_PORT}, user: {db.user}, password: "${{{PW_VAR}}}", database: test}}
          tables: [{{name: {db.table}}}]
          partitioning: {{column: id, partitions: 2}}
        target: {{namespace: acme, table: {table}}}
        """,
    )


def test_an_env_password_is_stored_as_written_and_expanded_by_each_worker(
    workspace: Workspace, db_user: DbUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    _runner(workspace, "    provider: env")
    monkeypatch.setenv(PW_VAR, db_user.password)
    result = workspace.cli("run", str(_env_job(workspace, db_user, "from_env_var")), "--json", "-w", "2")
    assert result.code == 0, result.stderr
    _assert_loaded(workspace, result.json, "from_env_var")
    ledger = b"".join(p.read_bytes() for p in (workspace.root / "state").glob("dativo.db*"))
    assert f"${{{PW_VAR}}}".encode() in ledger  # the job as written
    assert db_user.password.encode() not in _persisted_bytes(workspace)


@pytest.fixture
def env_fleet(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fleet]:
    _runner(workspace, "    provider: env")
    monkeypatch.setenv("DATIVO_RUNNER_CONFIG", str(workspace.runner_file))
    fleet = Fleet(
        root=workspace.root,
        runner_file=workspace.runner_file,
        broker_url=os.environ["DATIVO_BROKER_URL"],
        result_backend=os.environ["DATIVO_RESULT_BACKEND"],
    )
    fleet.flush()
    try:
        yield fleet
    finally:
        fleet.stop()
        fleet.flush()


def test_a_worker_without_the_jobs_env_variable_fails_clearly_and_one_with_it_completes_the_retry(
    workspace: Workspace, db_user: DbUser, env_fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PW_VAR, raising=False)
    env_fleet.start_worker(concurrency=1)  # this worker's environment lacks the variable
    monkeypatch.setenv(PW_VAR, db_user.password)  # the producer has it (it plans against MariaDB)
    runner = load_runner(workspace.runner_file)
    ledger = workspace.ledger()
    run_id = submit(load_job(_env_job(workspace, db_user, "env_fleet")), runner, ledger, None)
    summary = wait(run_id, ledger, timeout_s=120)
    assert summary["state"] == "failed", summary
    assert f"environment variable {PW_VAR} is not set" in summary["error"], summary["error"]
    assert "each worker needs the variable" in summary["error"]

    env_fleet.stop()
    env_fleet.start_worker(concurrency=1)  # the same environment as the producer
    assert retry(run_id, runner, ledger, None) == [0, 1]
    summary = wait(run_id, ledger, timeout_s=120)
    _assert_loaded(workspace, summary, "env_fleet")
    assert db_user.password not in env_fleet.log_text()
    assert db_user.password.encode() not in _persisted_bytes(workspace)
