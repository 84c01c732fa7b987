"""`dativo generate` on a PostgreSQL table of the local server: the wizard in a real terminal
(a wrong port fixed in place, a secret typed hidden and never written), the same with flags,
and the generated jobs run end to end."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from dativo_workers.config.asset import load_asset

from ..conftest import Workspace
from .fleet import free_port
from .test_generator_csv import Terminal, _plain

pytestmark = pytest.mark.integration

PG_HOST = os.environ.get("DATIVO_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("DATIVO_TEST_PG_PORT", "5432"))
ROWS = 173
SECRET = "Sup3r-Secret-Pw-42"  # trust auth accepts any password: what matters is where it ends up
SECRET_ENV = "DATIVO_SECRET__ACME__POSTGRES_PASSWORD"


@pytest.fixture
def pg_schema() -> Iterator[str]:
    schema = f"dativo_t_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(host=PG_HOST, port=PG_PORT, dbname="test", user="postgres", autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(
            f"""CREATE TABLE {schema}.customers (
                id bigint PRIMARY KEY,
                full_name text,
                email text NOT NULL,
                phone text,
                balance numeric(12, 2),
                created_at timestamptz NOT NULL)"""
        )
        conn.execute(
            f"""INSERT INTO {schema}.customers
                SELECT i, 'Maria Garcia' || chr(97 + i % 26) || 'ez', 'user' || i || '@example.com',
                       '+1 555-010-' || lpad(i::text, 4, '0'), i * 1.25,
                       timestamptz '2024-03-01 00:00+00' + i * interval '7 hours'
                FROM generate_series(1, {ROWS}) AS i"""
        )
        try:
            yield schema
        finally:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def _files_containing(root: Path, needle: str) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and needle.encode() in path.read_bytes():
            found.append(path)
    return found


def test_wizard_connects_after_a_port_fix_and_keeps_the_password_out_of_files(
    workspace: Workspace, pg_schema: str
) -> None:
    table = f"{pg_schema}.customers"
    term = Terminal(workspace, "job", "--out-dir", ".")
    term.answer(r"Tenant[^\n]*: ", "acme")
    assert "postgres" in term.answer(r"Source connector[^\n]*: ", "postgres")
    shown = term.answer(r"host \(database server[^\n]*\)[^\n]*: ", PG_HOST)
    assert "Connection to postgres" in shown
    term.answer(r"port[^\n]*: ", "99999")
    closed = free_port()
    shown = term.answer(r"port[^\n]*: ", str(closed))
    assert "less than or equal to 65535" in _plain(shown)
    term.answer(r"database[^\n]*: ", "test")
    term.answer(r"user[^\n]*: ", "postgres")
    term.answer(r"password: name of the secret[^\n]*: ", "")
    term.answer(r"Value of \$\{secret:postgres_password\}[^\n]*: ", SECRET)  # typed hidden
    term.answer(r"connect_timeout_s[^\n]*: ", "")
    # the check fails on the closed port; the same questions come back with the answers as defaults
    shown = term.answer(r"host \(database server[^\n]*\)[^\n]*: ", "")
    assert "Fix the settings" in shown and str(closed) in shown
    shown = term.answer(r"port[^\n]*: ", str(PG_PORT))
    assert f"({closed})" in shown  # the wrong answer is the default now, ready to be corrected
    term.answer(r"database[^\n]*: ", "")
    term.answer(r"user[^\n]*: ", "")
    term.answer(r"password: name of the secret[^\n]*: ", "")
    term.answer(r"connect_timeout_s[^\n]*: ", "")
    shown = term.answer(r"Table to load[^\n]*: ", f"{pg_schema}.nosuch")
    assert "connected to postgres" in shown and table in shown  # discovered and listed
    shown = term.answer(r"Table to load[^\n]*: ", table)
    assert f"the source has no table '{pg_schema}.nosuch'" in _plain(shown)
    term.answer(r"Option to change[^\n]*: ", "")
    shown = term.answer(r"Label for full_name[^\n]*: ", "")
    assert f"Schema (from {ROWS} sampled rows)" in shown and "decimal(12, 2)" in shown
    term.answer(r"Label for email[^\n]*: ", "")
    term.answer(r"Label for phone[^\n]*: ", "restricted")
    term.answer(r"Label another column[^\n]*: ", "")
    term.answer(r"Job name[^\n]*: ", "pg_customers")
    term.answer(r"Target \([^\n]*\)[^\n]*: ", "")
    term.answer(r"Iceberg catalog[^\n]*: ", "")
    term.answer(r"Namespace[^\n]*: ", "crm")
    term.answer(r"Table[^\n]*: ", "")
    term.answer(r"Mode[^\n]*: ", "overwrite")
    term.answer(r"Partition by[^\n]*: ", "created_at:day")
    code, transcript = term.finish()
    assert code == 0, transcript
    assert SECRET not in transcript  # the terminal did not even echo it
    assert f"export {SECRET_ENV}=..." in " ".join(transcript.split())

    job_path = workspace.root / "jobs" / "acme" / "pg_customers.yaml"
    asset_path = workspace.root / "assets" / "postgres" / "v1.0" / "customers.yaml"
    job = yaml.safe_load(job_path.read_text())
    assert job["source"] == {
        "connector": "postgres",
        "connection": {
            "host": PG_HOST,
            **({"port": PG_PORT} if PG_PORT != 5432 else {}),  # a setting left at its default stays out
            "database": "test",
            "user": "postgres",
            "password": "${secret:postgres_password}",
        },
        "tables": [{"name": table}],
    }
    assert job["target"]["partition_by"] == [{"field": "created_at", "transform": "day"}]
    asset = load_asset(asset_path)
    assert asset.column("id").primary_key and asset.column("id").required
    assert asset.column("email").required and asset.column("email").classification == "PII"
    assert asset.column("phone").classification == "RESTRICTED"
    assert asset.column("balance").physical_type == "decimal(12,2)"
    assert asset.column("created_at").physical_type == "timestamptz"

    env = {SECRET_ENV: SECRET}
    check = workspace.cli("check", str(job_path), env=env)
    assert check.code == 0, check.stdout + check.stderr
    run = workspace.cli("run", str(job_path), "--json", env=env)
    assert run.code == 0, run.stderr
    assert run.json["rows"] == ROWS
    data = workspace.read("crm.customers", sort_by="id")
    assert data.num_rows == ROWS and data.column("id").to_pylist() == list(range(1, ROWS + 1))
    props = workspace.table("crm.customers").properties
    assert props["dativo.classification.email"] == "PII" and props["dativo.classification.phone"] == "RESTRICTED"
    # nowhere on disk: job, asset, ledger, catalog, warehouse
    assert _files_containing(workspace.root, SECRET) == []


def _flags(schema: str, *extra: str) -> list[str]:
    return [
        "generate",
        "job",
        "--yes",
        "--tenant",
        "acme",
        "--name",
        "customers",
        "--source",
        "postgres",
        "--connection",
        f"host={PG_HOST}",
        "--connection",
        f"port={PG_PORT}",
        "--connection",
        "database=test",
        "--connection",
        "user=postgres",
        "--table",
        f"{schema}.customers",
        "--out-dir",
        ".",
        *extra,
    ]


def test_flags_and_yes_write_a_database_job_that_runs(workspace: Workspace, pg_schema: str) -> None:
    result = workspace.cli(*_flags(pg_schema, "--connection", "password=${secret:shop_db}", "--mode", "overwrite"))
    assert result.code == 0, result.stderr
    job_path = workspace.root / "jobs" / "acme" / "customers.yaml"
    asset_path = workspace.root / "assets" / "postgres" / "v1.0" / "customers.yaml"
    assert result.stdout.splitlines() == [str(job_path), str(asset_path)]
    job: dict[str, Any] = yaml.safe_load(job_path.read_text())
    assert job["source"]["connection"]["password"] == "${secret:shop_db}"
    assert job["source"]["tables"] == [{"name": f"{pg_schema}.customers"}]
    asset = load_asset(asset_path)
    assert [c.name for c in asset.columns if c.classification == "PII"] == ["full_name", "email", "phone"]

    env = {"DATIVO_SECRET__ACME__SHOP_DB": "any"}
    assert workspace.cli("check", str(job_path), env=env).code == 0
    run = workspace.cli("run", str(job_path), "--json", env=env)
    assert run.code == 0, run.stderr
    assert run.json["rows"] == ROWS
    assert workspace.read("acme.customers").num_rows == ROWS

    # a plain password on the command line still becomes a reference, and never a file's content
    plain = "Plain-Pw-7731"
    again = workspace.cli(*_flags(pg_schema, "--connection", f"password={plain}", "--force"))
    assert again.code == 0, again.stderr
    job = yaml.safe_load(job_path.read_text())
    assert job["source"]["connection"]["password"] == "${secret:postgres_password}"
    assert plain not in again.stdout + again.stderr and _files_containing(workspace.root, plain) == []
    assert SECRET_ENV in again.stderr


def test_bad_database_answers_fail_naming_what_to_fix(workspace: Workspace, pg_schema: str) -> None:
    port = workspace.cli(*_flags(pg_schema)[:-2], "--connection", "port=70000")
    assert port.code == 2 and "--connection" in port.stderr and "65535" in port.stderr
    closed = workspace.cli(*[a if a != f"port={PG_PORT}" else f"port={free_port()}" for a in _flags(pg_schema)])
    assert closed.code == 2 and "fix the --connection values" in " ".join(closed.stderr.split())
    missing = workspace.cli(*_flags(pg_schema.replace("dativo_t_", "dativo_x_")))
    assert missing.code == 2 and "does not exist" in missing.stderr
    unknown = workspace.cli(*_flags(pg_schema, "--connection", "sslmode=require"))
    assert unknown.code == 2 and "no connection setting sslmode" in unknown.stderr
    assert not (workspace.root / "jobs").exists()
