"""`dativo init`: scaffold a project (project file, runner config, folders, an example job)."""

from __future__ import annotations

from pathlib import Path

from dativo_workers.config.runner import DEFAULT_RUNNER_FILE, DEFAULT_STATE_DIR, PROJECT_FILE
from dativo_workers.errors import ConfigError

_PROJECT = """\
# Dativo project file. Every `dativo` command run in this directory or below it uses this
# project: the runner config below, and the state in {state}/ (ledger, catalog, warehouse).
name: {name}
runner: {runner}
"""

_RUNNER = """\
# Runner settings for this project. Relative paths are relative to the project root (where
# dativo.yaml is). Every key can be overridden by an env var: DATIVO_LEDGER_URL,
# DATIVO_LEASE_SECONDS, DATIVO_CATALOGS__DEFAULT__URI, DATIVO_SECRETS__PROVIDER, ...
runner:
  ledger_url: sqlite:///{state}/dativo.db           # postgresql+psycopg://... for a worker fleet
  catalogs:
    default:
      type: sql
      uri: sqlite:///{state}/catalog.db
      warehouse: {state}/warehouse
  secrets:
    provider: env                                   # ${{secret:NAME}} -> $DATIVO_SECRET__<TENANT>__<NAME>
  # a worker fleet (dativo submit / dativo worker) also needs:
  # broker_url: redis://localhost:6379/0
  # result_backend: redis://localhost:6379/1
"""

_JOB = """\
# An example job: the CSV in data/ into the Iceberg table demo.example.
# Run it with `dativo run jobs/example.yaml`, then `dativo runs`.
tenant_id: demo
name: example
asset_path: ../assets/example.yaml      # the data contract: columns, types, classification
source:
  connector: csv
  files:
    - path: ../data/example.csv         # relative to this job file
target:
  namespace: demo
  table: example
bad_rows: {action: quarantine}          # rows that do not fit the contract are set aside, not loaded
"""

_ASSET = """\
# An ODCS v3 data contract: the table's columns and their types and labels.
apiVersion: v3.0.2
kind: DataContract
id: example
version: 1.0.0
status: active
schema:
  - name: example
    properties:
      - {name: id, logicalType: integer, physicalType: bigint, primaryKey: true}
      - {name: email, logicalType: string, classification: PII}
      - {name: amount, logicalType: number, physicalType: "decimal(10,2)"}
      - {name: signed_up, logicalType: date}
"""

_DATA = """\
id,email,amount,signed_up
1,ada@example.com,12.50,2024-01-05
2,grace@example.com,7.25,2024-02-11
3,alan@example.com,30.00,2024-03-20
"""


def init_project(directory: Path) -> list[tuple[Path, bool]]:
    """Write the project's files into ``directory`` (created if missing). Returns each path with
    whether it was created (False: it existed and was left as it is). Refuses a directory that
    already holds a project file."""
    directory = directory.resolve()
    if (directory / PROJECT_FILE).exists():
        raise ConfigError(f"{directory / PROJECT_FILE} already exists: {directory} is a Dativo project already")
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory} is a file, not a directory")
    files = {
        PROJECT_FILE: _PROJECT.format(name=directory.name, runner=DEFAULT_RUNNER_FILE, state=DEFAULT_STATE_DIR),
        DEFAULT_RUNNER_FILE: _RUNNER.format(state=DEFAULT_STATE_DIR),
        "jobs/example.yaml": _JOB,
        "assets/example.yaml": _ASSET,
        "data/example.csv": _DATA,
    }
    done: list[tuple[Path, bool]] = []
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            done.append((path, False))
            continue
        path.write_text(text, encoding="utf-8")
        done.append((path, True))
    done.append(_ignore_state(directory))
    return done


def _ignore_state(directory: Path) -> tuple[Path, bool]:
    """`.dativo/` in the project's .gitignore: the state is per machine, never committed."""
    path = directory / ".gitignore"
    line = f"{DEFAULT_STATE_DIR}/"
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    if any(entry.strip() in (line, DEFAULT_STATE_DIR, f"/{line}") for entry in existing.splitlines()):
        return path, False
    separator = "" if not existing or existing.endswith("\n") else "\n"
    added = f"{separator}# Dativo state: ledger, catalog, warehouse\n{line}\n"
    path.write_text(existing + added, encoding="utf-8")
    return path, True
