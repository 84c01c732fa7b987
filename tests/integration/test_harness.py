"""The test harness itself: a missing service fails the run (naming it) unless skipping was
asked for, every test process has a Redis no other process flushes, and a test's changes to
os.environ do not reach the next test."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import psutil
import pytest
import redis

from ..conftest import REPO
from .fleet import BrokerRecorder, leaks
from .services import PAIRS, free_port, lock_db_pair

pytestmark = pytest.mark.integration

PG_TEST = "tests/integration/test_fleet_storage.py::test_embedded_run_uses_postgres_and_s3"
MARIADB_TEST = "tests/integration/test_secrets_e2e.py::test_password_from_env"
REDIS_TEST = "tests/integration/test_distributed.py::test_runs_are_routed_to_their_queue"
ENV_CASES = [
    "tests/integration/harness_cases.py::test_an_in_process_cli_call_exports_log_settings",
    "tests/integration/harness_cases.py::test_the_next_test_and_its_subprocesses_do_not_inherit_them",
]


def _inner_pytest(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATIVO_", "PYTEST_", "COV_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", "-n", "0", "-rs",
         "--timeout", "120", *args],
        cwd=REPO, env={**clean, **env}, capture_output=True, text=True, timeout=240,
    )  # fmt: skip


def test_missing_services_fail_naming_them_unless_skipping_is_allowed() -> None:
    closed = free_port()  # nothing listens there
    pg = f"postgresql+psycopg://postgres@127.0.0.1:{closed}/test"
    down = {
        "DATIVO_TEST_POSTGRES_URL": pg,
        "DATIVO_TEST_MYSQL_HOST": "127.0.0.1",
        "DATIVO_TEST_MYSQL_PORT": str(closed),
    }
    failed = _inner_pytest(PG_TEST, MARIADB_TEST, *ENV_CASES, **down)
    out = failed.stdout + failed.stderr
    assert failed.returncode == 1, out
    assert f"PostgreSQL is not reachable at {pg}" in out and f"MariaDB is not reachable at 127.0.0.1:{closed}" in out
    assert "2 passed, 2 errors" in out, out  # the environment cases pass: each test starts from a clean os.environ

    redis_down = _inner_pytest(REDIS_TEST, DATIVO_TEST_REDIS_URL=f"redis://127.0.0.1:{closed}")
    out = redis_down.stdout + redis_down.stderr
    assert redis_down.returncode != 0 and f"Redis is not reachable at redis://127.0.0.1:{closed}" in out, out
    assert "passed" not in out

    allowed = _inner_pytest(
        PG_TEST, MARIADB_TEST, REDIS_TEST, DATIVO_TEST_ALLOW_SKIP="1",
        DATIVO_TEST_REDIS_URL=f"redis://127.0.0.1:{closed}", **down,
    )  # fmt: skip
    out = allowed.stdout + allowed.stderr
    assert allowed.returncode == 0, out
    assert "3 skipped" in out and "DATIVO_TEST_ALLOW_SKIP=1" in out, out


def test_this_process_has_a_redis_server_of_its_own() -> None:
    broker, results = os.environ["DATIVO_BROKER_URL"], os.environ["DATIVO_RESULT_BACKEND"]
    assert broker != results
    if os.environ.get("DATIVO_TEST_REDIS_URL"):
        pytest.skip("a Redis server was given (DATIVO_TEST_REDIS_URL): dbs are locked, see the next test")
    info = redis.Redis.from_url(broker).info("server")
    server = psutil.Process(int(info["process_id"]))
    assert server.ppid() == os.getpid(), "the broker's redis-server is not this test process's own"
    assert int(info["tcp_port"]) != 6379


def test_db_pairs_of_a_shared_server_are_never_handed_out_twice(tmp_path: Path) -> None:
    held = [lock_db_pair("redis://example.invalid:6379", lock_dir=tmp_path) for _ in range(PAIRS)]
    try:
        dbs = [db for pair in held for db in (pair.broker_db, pair.result_db)]
        assert sorted(dbs) == list(range(2, 16)) and len(set(dbs)) == len(dbs)
        with pytest.raises(RuntimeError, match=f"all {PAIRS} Redis db pairs"):
            lock_db_pair("redis://example.invalid:6379", lock_dir=tmp_path)
        # another process sees them taken too, and gets the one released
        held.pop(3).close()
        probe = (
            "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
            "from tests.integration.services import lock_db_pair;"
            "print(lock_db_pair('redis://example.invalid:6379', lock_dir=Path(sys.argv[2])).broker_db)"
        )
        child = subprocess.run(
            [sys.executable, "-c", probe, str(REPO), str(tmp_path)], capture_output=True, text=True, check=True
        )
        assert child.stdout.strip() == "8"
    finally:
        for pair in held:
            pair.close()


def test_every_test_has_a_time_limit(pytestconfig: pytest.Config) -> None:
    assert 0 < float(pytestconfig.getini("timeout")) <= 300  # pyproject's pytest config (pytest-timeout)


def test_the_broker_recorder_sees_a_message_that_is_gone_before_the_scan() -> None:
    """The leak scans' own check: a secret in a base64-encoded kombu body, taken off the queue at
    once, is found in every form it was written in."""
    secret = 'pw/with "quotes" &+=%é'
    client = redis.Redis.from_url(os.environ["DATIVO_BROKER_URL"])
    recorder = BrokerRecorder(os.environ["DATIVO_BROKER_URL"])
    body = base64.b64encode(json.dumps([["run", secret], {}, {}]).encode()).decode()
    client.lpush("leak-probe", json.dumps({"body": body, "properties": {"body_encoding": "base64"}}))
    client.rpop("leak-probe")
    client.set("leak-probe-url", f"redis://:{quote(secret, safe='')}@host/0")
    client.delete("leak-probe-url")
    texts = recorder.stop().texts()
    assert client.exists("leak-probe", "leak-probe-url") == 0  # a scan of what stays finds nothing
    found = leaks(secret, *texts)
    assert quote(secret, safe="") in found and json.dumps(secret)[1:-1] in found  # what each one carried
    assert leaks("not-there-at-all", *texts) == []


def test_the_test_command_measures_coverage_in_every_process() -> None:
    """scripts/test.sh runs the suite under coverage.py, configured to follow subprocesses (CLI
    calls, workers), forked pool processes and processes ending in os._exit, and prints the figures."""
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["coverage"]["run"]
    assert {"subprocess", "fork", "_exit"} <= set(config["patch"]) and config["parallel"] is True
    assert {"dativo_workers", "dativo_plugins"} <= set(config["source"])
    script = (REPO / "scripts" / "test.sh").read_text()
    assert "coverage run -m pytest" in script and "coverage combine" in script
    assert "coverage report" in script and 'COVERAGE_FILE="$PWD/.coverage"' in script
