"""One scrub for every error text; bad-row values of sensitive columns masked; `${ENV}` kept as a
reference in the stored job and expanded where the job is used; tenant ids that could share a
secret's name refused at load."""

from __future__ import annotations

import hashlib
import json
import logging
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from dativo_workers.config import load_job
from dativo_workers.config.job import expand_objects, job_from_dict
from dativo_workers.conform import Conformer
from dativo_workers.errors import ConfigError, SourceError
from dativo_workers.ledger import Ledger
from dativo_workers.secrets import describe_error, mask_value, redact, scrub, sensitive_columns

SSN = "123-45-6789"


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    redact.forget_all()
    yield
    redact.forget_all()


def test_scrub_masks_remembered_values_url_passwords_settings_and_arrow_quotes() -> None:
    redact.remember("resolved-Secret-1")
    text = scrub(
        "auth with resolved-Secret-1 (url-encoded resolved-Secret-1) failed; "
        "dsn postgresql+psycopg://app:p%40ss-w0rd@db:5432/shop, redis://:r3dis-pw@cache:6379/0, "
        "host=db password=kv-pw dbname=shop; https://api.example.com/v1?access_token=tok-123&x=1; "
        "CSV parse error: Expected 3 columns, got 4: 7,jane@example.com,x,y\n"  # the row runs to the line end
        "In CSV column #1: CSV conversion error to int64: invalid value '123-45-6789'\n"
        "Failed to parse string: 'jane@example.com' as a scalar of type int64"
    )
    for value in ("resolved-Secret-1", "p%40ss-w0rd", "r3dis-pw", "kv-pw", "tok-123", "jane@example.com", SSN):
        assert value not in text, value
    assert "postgresql+psycopg://app:***@db:5432/shop" in text and "redis://:***@cache:6379/0" in text
    assert "password=***" in text and "access_token=***&x=1" in text
    assert f"invalid value '{mask_value(SSN)}'" in text
    # what is not a value stays: hosts, ports, paths, a URL without a password
    plain = "s3://bucket/raw/2024/a.csv: line 3; http://host:8080/path?q=a@b; user app@db:3306"
    assert scrub(plain) == plain


def test_describe_error_is_scrubbed_for_dativo_and_other_errors() -> None:
    redact.remember("hunter2-resolved")
    assert describe_error(SourceError("cannot read with hunter2-resolved")) == "cannot read with ***"
    assert describe_error(RuntimeError("x mysql://u:pw9@h")) == "RuntimeError: x mysql://u:***@h"


def test_masked_value_shows_length_and_a_short_hash() -> None:
    digest = hashlib.sha256(SSN.encode()).hexdigest()[:6]
    assert mask_value(SSN) == f"<masked len=11 sha256={digest}>"
    assert mask_value(42) == f"<masked len=2 sha256={hashlib.sha256(b'42').hexdigest()[:6]}>"


def test_sensitive_columns_follow_the_effective_classification() -> None:
    props = {
        "dativo.classification.ssn": "SENSITIVE",
        "dativo.classification.email": "PII",
        "dativo.classification.margin": "confidential",
        "dativo.classification.team": "internal",
        "dativo.classification.sku": "PUBLIC",
        "dativo.classification.tag": "GDPR-ART9",  # a label of one's own: masked
    }
    columns = ["ssn", "email", "margin", "team", "sku", "tag", "qty"]
    assert sensitive_columns(props, columns) == {"ssn", "email", "margin", "tag"}
    with_default = {**props, "dativo.classification.default": "CONFIDENTIAL"}
    assert sensitive_columns(with_default, columns) == {"ssn", "email", "margin", "tag", "qty"}


def test_conformer_masks_bad_values_of_sensitive_columns_only() -> None:
    schema = pa.schema([("ssn", pa.int64()), ("qty", pa.int64())])
    batch = pa.record_batch({"ssn": [SSN, "1"], "qty": ["5", "abc"]})
    result = Conformer(schema, lambda row: f"row {row + 1}", sensitive={"ssn"}).conform(batch)
    assert result.bad is not None
    reasons = dict(
        zip(
            result.bad.column("_dativo_position").to_pylist(),
            result.bad.column("_dativo_reason").to_pylist(),
            strict=True,
        )
    )
    assert reasons["row 1"] == f"column 'ssn': cannot convert {mask_value(SSN)} to int64"
    assert reasons["row 2"] == "column 'qty': cannot convert 'abc' to int64"
    assert result.bad.column("ssn").to_pylist()[0] == SSN  # the quarantine row keeps the value itself


def test_the_ledger_stores_every_error_scrubbed(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path}/dativo.db")
    ledger.create_run(
        run_id="r1",
        tenant="acme",
        job_name="j",
        job_path="/jobs/j.yaml",
        job={"tenant_id": "acme"},
        catalog="default",
        table_ident="acme.t",
        plan={"table": {"location": "file:///wh"}, "mode": "append"},
        partition_specs=[{"index": i, "label": f"p{i}"} for i in range(2)],
    )
    redact.remember("resolved-in-this-process")
    leak = "login resolved-in-this-process via postgresql://u:url-pw@h/db"
    a0 = ledger.start_attempt("r1", 0)
    a1 = ledger.start_attempt("r1", 1)
    assert a0 is not None and a1 is not None
    ledger.release_partition("r1", 0, a0, leak)
    ledger.fail_partition("r1", 1, a1, leak)
    ledger.fail_run("r1", leak)
    stored = [p["error"] for p in ledger.partitions("r1")] + [ledger.run("r1")["error"]]  # type: ignore[index]
    assert stored == ["login *** via postgresql://u:***@h/db"] * 3
    ledger.dispose()


# -- ${ENV} ------------------------------------------------------------------------------------------


def _job(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "jobs" / "job.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body).lstrip())
    return path


ENV_JOB = """
    tenant_id: acme
    source:
      connector: csv
      files: [{path: "data/${DATIVO_T_FILE}"}]
      connection: {password: "${DATIVO_T_PW}", dsn: "pg://u:${DATIVO_T_PW}@h"}
      tables: [{name: "s.a"}, {name: "s.b"}]
    target: {namespace: acme, table: "{object}_${DATIVO_T_SUFFIX:-x}"}
    bad_rows: {action: quarantine, max: "${DATIVO_T_MAX}"}
"""


def test_env_stays_a_reference_in_the_stored_job_and_expands_where_it_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATIVO_T_PW", "env-password-1")
    monkeypatch.setenv("DATIVO_T_FILE", "a.csv")
    monkeypatch.setenv("DATIVO_T_MAX", "7")
    job = load_job(_job(tmp_path, ENV_JOB))
    assert job.config.source.connection == {"password": "env-password-1", "dsn": "pg://u:env-password-1@h"}
    assert job.config.bad_rows.max == 7 and job.config.source.files[0].path == "data/a.csv"
    stored = json.dumps(job.raw)
    assert "env-password-1" not in stored and "${DATIVO_T_PW}" in stored and "${DATIVO_T_MAX}" in stored
    assert scrub("connect failed: env-password-1") == "connect failed: ***"  # referenced values are masked
    # one job per table: each keeps the references too
    tables = expand_objects(job)
    assert [t.config.target.table for t in tables] == ["a_x", "b_x"]
    assert all("${DATIVO_T_PW}" in json.dumps(t.raw) and "env-password-1" not in json.dumps(t.raw) for t in tables)

    # a worker expands the stored job from ITS environment
    monkeypatch.setenv("DATIVO_T_PW", "worker-password")
    rebuilt = job_from_dict(str(job.path), json.loads(stored))
    assert rebuilt.config.source.connection["password"] == "worker-password"
    monkeypatch.delenv("DATIVO_T_PW")
    with pytest.raises(ConfigError, match=r"environment variable DATIVO_T_PW is not set.*each worker needs"):
        job_from_dict(str(job.path), json.loads(stored))


def test_env_values_not_set_anywhere_are_not_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATIVO_T_PW", "DATIVO_T_FILE", "DATIVO_T_MAX"):
        monkeypatch.setenv(name, {"DATIVO_T_MAX": "3"}.get(name, "v"))
    monkeypatch.delenv("DATIVO_T_SUFFIX", raising=False)
    load_job(_job(tmp_path, ENV_JOB))
    assert scrub("x_default") == "x_default"  # a ${VAR:-default} is the file's own text, not a secret


# -- tenant ids and references at load ------------------------------------------------------------


@pytest.mark.parametrize("tenant", ["acme_eu", "Acme", "acme--eu", "acme-", "global", "GLOBAL"])
def test_tenant_ids_that_could_share_secret_names_are_refused_at_load(tmp_path: Path, tenant: str) -> None:
    path = _job(tmp_path, f"tenant_id: {tenant}\nsource: {{connector: csv, files: [{{path: a.csv}}]}}\n"
                "target: {namespace: n, table: t}\n")  # fmt: skip
    with pytest.raises(ConfigError) as exc:
        load_job(path)
    assert f"{path}:1: tenant_id:" in str(exc.value)


def test_acme_eu_is_a_valid_tenant(tmp_path: Path) -> None:
    path = _job(tmp_path, "tenant_id: acme-eu\nsource: {connector: csv, files: [{path: a.csv}]}\n"
                "target: {namespace: n, table: t}\n")  # fmt: skip
    assert load_job(path).config.tenant_id == "acme-eu"


def test_a_cross_tenant_reference_is_refused_at_load_naming_file_line_and_key(tmp_path: Path) -> None:
    path = _job(
        tmp_path,
        """
        tenant_id: acme
        source:
          connector: csv
          files: [{path: a.csv}]
          connection:
            user: app
            password: "${secret:globex/db_password}"
        target: {namespace: n, table: t}
        """,
    )
    with pytest.raises(ConfigError) as exc:
        load_job(path)
    assert f"{path}:7: source.connection.password: secret reference ${{secret:globex/db_password}}" in str(exc.value)


def test_log_events_and_stdlib_records_are_scrubbed_too() -> None:
    redact.remember("resolved-for-logs")
    event = redact.redact_event(
        None, "error", {"event": "partition failed", "error": "x postgresql://u:pw-in-url@h/db resolved-for-logs"}
    )
    assert event["error"] == "x postgresql://u:***@h/db ***"
    record = logging.LogRecord("celery", logging.ERROR, __file__, 1, "task failed: %s", ("redis://:pw2@h",), None)
    assert redact.RedactingFilter().filter(record) and record.getMessage() == "task failed: redis://:***@h"


def test_an_exception_escaping_a_celery_task_reaches_the_result_backend_scrubbed() -> None:
    from celery.exceptions import Retry

    from dativo_workers.tasks import TaskFailed, commit_run_task

    redact.remember("escaped-Secret-9")
    boom = RuntimeError("unexpected: dsn postgresql://app:escaped-Secret-9@db/shop")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("dativo_workers.tasks.commit_run", lambda *a, **k: (_ for _ in ()).throw(boom))
        with pytest.raises(TaskFailed) as raised:
            commit_run_task.run(None, "r1")
    assert "escaped-Secret-9" not in str(raised.value) and "RuntimeError: unexpected" in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert not isinstance(raised.value, Retry)


def test_an_exception_escaping_the_reconcile_task_is_scrubbed_too() -> None:
    from dativo_workers.tasks import TaskFailed, reconcile_task

    redact.remember("reconcile-Secret-7")
    boom = RuntimeError("catalog refused token reconcile-Secret-7 at postgresql://app:pw-8@db/cat")
    with pytest.MonkeyPatch.context() as patch, pytest.raises(TaskFailed) as raised:
        patch.setattr("dativo_workers.tasks.reconcile", lambda *a, **k: (_ for _ in ()).throw(boom))
        reconcile_task.run()
    assert "reconcile-Secret-7" not in str(raised.value) and "pw-8" not in str(raised.value)
    assert "RuntimeError: catalog refused token ***" in str(raised.value)
