"""`dativo generate` on CSV files: the wizard in a real terminal (pexpect), the same generator
with flags and --yes, and the files it writes checked, run and read back with pyiceberg."""

from __future__ import annotations

import os
import re
import sys

import pexpect
import pytest
import yaml

from dativo_workers.config import load_job
from dativo_workers.config.asset import load_asset

from ..conftest import Workspace

pytestmark = pytest.mark.integration

HEADER = "id,full_name,email,phone,signup_date,amount"


def _row(i: int) -> str:
    name = f"Maria Garcia{chr(97 + i % 26)}ez"
    return f"{i},{name},user{i}@example.com,+1 555-010-{i:04d},2024-0{1 + i % 9}-1{i % 10},{i}.25"


def write_contacts(ws: Workspace, first: int = 30, second: int = 25) -> int:
    ws.write("data/contacts_1.csv", "\n".join([HEADER, *(_row(i) for i in range(1, first + 1))]) + "\n")
    ws.write(
        "data/contacts_2.csv", "\n".join([HEADER, *(_row(i) for i in range(first + 1, first + second + 1))]) + "\n"
    )
    return first + second


class Terminal:
    """`dativo generate ...` in a pseudo-terminal, answered line by line like a person would."""

    def __init__(self, ws: Workspace, *args: str, env: dict[str, str] | None = None) -> None:
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "dativo_workers.cli", "generate", *args],
            cwd=str(ws.root),
            env={
                **os.environ,
                "DATIVO_RUNNER_CONFIG": str(ws.runner_file),
                "NO_COLOR": "1",
                "COLUMNS": "200",
                "TERM": "xterm",
                **(env or {}),
            },
            encoding="utf-8",
            timeout=60,
            dimensions=(60, 200),
        )
        self.transcript: list[str] = []

    def answer(self, prompt: str, text: str) -> str:
        """Wait for a prompt (regex), type the answer; returns what was shown before the prompt."""
        self.child.expect(prompt)
        shown = self.child.before + self.child.after
        self.transcript.append(shown)
        self.child.sendline(text)
        return shown

    def expect(self, pattern: str) -> str:
        self.child.expect(pattern)
        shown = self.child.before + self.child.after
        self.transcript.append(shown)
        return shown

    def finish(self) -> tuple[int, str]:
        self.child.expect(pexpect.EOF)
        self.transcript.append(self.child.before)
        self.child.close()
        return self.child.exitstatus, "".join(self.transcript)


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_wizard_in_a_terminal_fixes_wrong_answers_in_place_and_the_job_runs(workspace: Workspace) -> None:
    rows = write_contacts(workspace)
    term = Terminal(workspace, "job", "--out-dir", ".")
    assert "the tenant id" not in term.answer(r"Tenant[^\n]*: ", "bad tenant!")
    assert "the tenant id: use lower-case letters" in _plain(term.answer(r"Tenant[^\n]*: ", "acme"))
    shown = term.answer(r"Source connector[^\n]*: ", "csv")
    assert "Installed sources" in shown and "lists files" in shown  # readers with their capabilities
    term.answer(r"Files to load[^\n]*: ", "missing/*.csv")
    shown = term.answer(r"Files to load[^\n]*: ", "data/*.csv")
    assert "no file matches it" in _plain(shown)
    shown = term.answer(r"Option to change[^\n]*: ", "delimiter=;;")
    assert "2 file(s): data/contacts_1.csv, data/contacts_2.csv" in _plain(shown)
    shown = term.answer(r"Option to change[^\n]*: ", "")
    assert "must be exactly one character" in _plain(shown)
    shown = term.answer(r"Label for full_name[^\n]*: ", "")
    assert "Schema (from 30 sampled rows)" in shown and "PII (email" in shown
    term.answer(r"Label for email[^\n]*: ", "")
    term.answer(r"Label for phone[^\n]*: ", "none")
    term.answer(r"Label another column[^\n]*: ", "nosuchcolumn=PII")
    shown = term.answer(r"Label another column[^\n]*: ", "amount=confidential")
    assert "no column 'nosuchcolumn'" in _plain(shown)
    term.answer(r"Label another column[^\n]*: ", "")
    term.answer(r"Job name[^\n]*: ", "")
    term.answer(r"Target \([^\n]*\)[^\n]*: ", "")
    term.answer(r"Iceberg catalog[^\n]*: ", "")
    term.answer(r"Namespace[^\n]*: ", "")
    term.answer(r"Table[^\n]*: ", "")
    term.answer(r"Mode[^\n]*: ", "sometimes")
    shown = term.answer(r"Mode[^\n]*: ", "overwrite")
    assert "overwrite replaces the table's rows" in _plain(shown)
    term.answer(r"Partition by[^\n]*: ", "amount:day")
    shown = term.answer(r"Partition by[^\n]*: ", "signup_date:month")
    assert "day needs a date or timestamp column (amount is double)" in _plain(shown)
    code, transcript = term.finish()
    assert code == 0, transcript

    job_path = workspace.root / "jobs" / "acme" / "contacts.yaml"
    asset_path = workspace.root / "assets" / "csv" / "v1.0" / "contacts.yaml"
    assert str(job_path) in transcript and str(asset_path) in transcript
    job = load_job(job_path)
    assert job.config.source.files[0].path == "../../data/*.csv"
    assert job.config.target.mode == "overwrite" and job.config.target.namespace == "acme"
    assert [(p.field, p.transform) for p in job.config.target.partition_by] == [("signup_date", "month")]
    asset = load_asset(asset_path)
    labels = {c.name: c.classification for c in asset.columns}
    assert labels == {
        "id": None,
        "full_name": "PII",
        "email": "PII",
        "phone": "none",
        "signup_date": None,
        "amount": "CONFIDENTIAL",
    }

    check = workspace.cli("check", str(job_path))
    assert check.code == 0, check.stdout + check.stderr
    run = workspace.cli("run", str(job_path), "--json")
    assert run.code == 0, run.stderr
    assert run.json["rows"] == rows and run.json["state"] == "committed"
    table = workspace.table("acme.contacts")
    assert table.scan().to_arrow().num_rows == rows
    props = table.properties
    assert props["dativo.classification.email"] == "PII"
    assert props["dativo.classification.amount"] == "CONFIDENTIAL"
    assert "dativo.classification.phone" not in props  # the rejected detection stays off
    assert [f.name for f in table.schema().fields] == ["id", "full_name", "email", "phone", "signup_date", "amount"]


def _generate(ws: Workspace, *extra: str) -> object:
    return ws.cli(
        "generate",
        "job",
        "--yes",
        "--tenant",
        "acme",
        "--name",
        "contacts",
        "--source",
        "csv",
        "--path",
        "data/*.csv",
        "--target",
        "iceberg",
        "--out-dir",
        "out",
        *extra,
    )


def test_flags_and_yes_write_a_job_that_checks_and_runs(workspace: Workspace) -> None:
    rows = write_contacts(workspace, 40, 17)
    result = _generate(workspace, "--classification", "amount=SENSITIVE")
    assert result.code == 0, result.stderr
    job_path = workspace.root / "out" / "jobs" / "acme" / "contacts.yaml"
    asset_path = workspace.root / "out" / "assets" / "csv" / "v1.0" / "contacts.yaml"
    assert result.stdout.splitlines() == [str(job_path), str(asset_path)]  # only the paths on stdout

    job = yaml.safe_load(job_path.read_text())
    assert job["source"] == {"connector": "csv", "files": [{"path": "../../../data/*.csv"}]}
    assert job["asset_path"] == "../../assets/csv/v1.0/contacts.yaml"
    assert job["target"] == {"catalog": "default", "namespace": "acme", "table": "contacts", "mode": "append"}
    asset = load_asset(asset_path)
    assert asset.column("email").classification == "PII"  # detected, accepted by --yes
    assert asset.column("phone").classification == "PII"
    assert asset.column("amount").classification == "SENSITIVE"
    assert asset.column("id").classification is None

    check = workspace.cli("check", str(job_path), "--json")
    assert check.code == 0 and check.json["ok"], check.stdout + check.stderr
    run = workspace.cli("run", str(job_path), "--json")
    assert run.code == 0, run.stderr
    assert run.json["rows"] == rows
    data = workspace.read("acme.contacts", sort_by="id")
    assert data.num_rows == rows and data.column("id").to_pylist() == list(range(1, rows + 1))
    assert data.column("email")[0].as_py() == "user1@example.com"
    assert workspace.table("acme.contacts").properties["dativo.classification.amount"] == "SENSITIVE"

    again = _generate(workspace)
    assert again.code == 2 and "pass --force" in again.stderr and not again.stdout


def test_wrong_flags_fail_naming_the_flag_and_write_nothing(workspace: Workspace) -> None:
    write_contacts(workspace)
    result = _generate(workspace, "--path", "nowhere/*.csv")
    assert result.code == 2
    assert "--path 'nowhere/*.csv': no file matches it" in " ".join(result.stderr.split())
    bad_mode = _generate(workspace, "--mode", "merge")
    assert bad_mode.code == 2 and "--mode 'merge'" in bad_mode.stderr
    bad_option = _generate(workspace, "--option", "delimiter=;;")
    assert bad_option.code == 2 and "must be exactly one character" in bad_option.stderr
    no_tenant = workspace.cli("generate", "job", "--yes", "--source", "csv", "--path", "data/*.csv")
    assert no_tenant.code == 2 and "--tenant is required" in no_tenant.stderr
    assert not (workspace.root / "out").exists() and not (workspace.root / "jobs").exists()


def test_generate_asset_from_a_job_shows_the_diff_and_keeps_user_edits(workspace: Workspace) -> None:
    write_contacts(workspace)
    assert _generate(workspace).code == 0
    job_path = workspace.root / "out" / "jobs" / "acme" / "contacts.yaml"
    asset_path = workspace.root / "out" / "assets" / "csv" / "v1.0" / "contacts.yaml"
    doc = yaml.safe_load(asset_path.read_text())
    email = next(p for p in doc["schema"][0]["properties"] if p["name"] == "email")
    email.update(description="Where receipts go", classification="RESTRICTED")
    asset_path.write_text(yaml.safe_dump(doc, sort_keys=False))

    unchanged = workspace.cli("generate", "asset", "--from", str(job_path), "--yes")
    assert unchanged.code == 0 and unchanged.stdout == "" and "up to date" in unchanged.stderr

    # the source gains a column: the asset follows it, the user's words stay
    for name in ("contacts_1.csv", "contacts_2.csv"):
        path = workspace.root / "data" / name
        lines = path.read_text().splitlines()
        lines = [lines[0] + ",last_ip"] + [f"{line},10.0.{i % 250}.{i % 200 + 1}" for i, line in enumerate(lines[1:])]
        path.write_text("\n".join(lines) + "\n")
    result = workspace.cli("generate", "asset", "--from", str(job_path), "--yes")
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == [str(asset_path)]
    assert "+      - name: last_ip" in result.stderr  # the diff was shown
    asset = load_asset(asset_path)
    assert [c.name for c in asset.columns][-1] == "last_ip"
    assert asset.column("last_ip").classification == "PII"  # IP addresses detected on the new column
    assert asset.column("email").classification == "RESTRICTED"
    assert asset.column("email").description == "Where receipts go"

    run = workspace.cli("run", str(job_path), "--json")
    assert run.code == 0, run.stderr
    props = workspace.table("acme.contacts").properties
    assert props["dativo.classification.last_ip"] == "PII"
    assert props["dativo.classification.email"] == "RESTRICTED"
