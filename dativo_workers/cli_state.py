"""`dativo state show|reset`: a job's incremental cursors, read from and written to its table.

The state lives in snapshot summaries (`dativo.state.<tenant>.<job>.<object>.<cursor>`), so a
reset is a table change like a run: a metadata-only snapshot (an append of no files) whose
summary carries the job's whole new state and `dativo.state-reset.<tenant>.<job>`. It is
atomic, shows in the table's history, and the state lookup stops at it even when it clears
every cursor.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from dativo_workers.errors import ConfigError

if TYPE_CHECKING:  # pyiceberg and the job model are imported by the commands that use them
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

    from dativo_workers.config.job import LoadedJob

state_app = typer.Typer(
    help="See and reset a job's incremental state (the cursors its next run starts from).", no_args_is_help=True
)
out = Console()
err = Console(stderr=True)

JobArg = Annotated[Path, typer.Argument(help="Job YAML file.", show_default=False)]
RunnerOpt = Annotated[Path | None, typer.Option("--runner", help="runner.yaml (default as for `dativo run`).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def _split(key: str) -> tuple[str, str]:
    """`<object>.<cursor_field>` -> (object, cursor_field)."""
    obj, _, cursor = key.rpartition(".")
    return obj, cursor


def _targets(job_path: Path, runner_path: Path | None) -> list[tuple[LoadedJob, Catalog, Table | None]]:
    """Every table the job writes (one per source table), with its catalog; None: not created yet."""
    from dativo_workers.config import load_job, load_runner
    from dativo_workers.config.job import expand_objects
    from dativo_workers.iceberg import load_table, open_catalog
    from dativo_workers.storage import catalog_properties

    job = load_job(job_path)
    if not job.config.target.is_iceberg:
        raise ConfigError(f"{job.path}: target: incremental state is kept for Iceberg targets only")
    runner = load_runner(runner_path)
    found = []
    for one in expand_objects(job):
        cfg = one.config
        catalog = open_catalog(
            cfg.target.catalog, catalog_properties(runner.catalog(cfg.target.catalog), cfg.tenant_id)
        )
        found.append((one, catalog, load_table(catalog, (cfg.target.namespace or "", cfg.target.table or ""))))
    return found


def _entries(one: LoadedJob, table: Table) -> list[dict[str, Any]]:
    from dativo_workers.iceberg import state_reset_key, state_snapshot

    cfg = one.config
    state, snapshot = state_snapshot(table, cfg.tenant_id, cfg.name)
    summary = snapshot.summary.additional_properties if snapshot is not None and snapshot.summary else {}
    entries = []
    for key, value in sorted(state.items()):
        obj, cursor = _split(key)
        entries.append(
            {
                "table": f"{cfg.target.namespace}.{cfg.target.table}",
                "object": obj,
                "cursor_field": cursor,
                "value": value,
                "run_id": summary.get("dativo.run-id"),
                "reset_id": summary.get(state_reset_key(cfg.tenant_id, cfg.name)) if "dativo.run-id" not in summary
                else None,
                "snapshot_id": snapshot.snapshot_id if snapshot is not None else None,
                "committed_at": _when(snapshot.timestamp_ms) if snapshot is not None else None,
            }
        )  # fmt: skip
    return entries


def _when(timestamp_ms: int) -> str:
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).isoformat(timespec="seconds")


@state_app.command("show")
def show(job: JobArg, runner: RunnerOpt = None, as_json: JsonOpt = False) -> None:
    """Each object's cursor: its value, and the run and snapshot that committed it."""
    targets = _targets(job, runner)
    entries = [e for one, _, table in targets if table is not None for e in _entries(one, table)]
    if as_json:
        first = targets[0][0].config
        sys.stdout.write(json.dumps({"job": first.name, "tenant": first.tenant_id, "state": entries}) + "\n")
        return
    if not entries:
        out.print("no incremental state: the next run reads everything")
        return
    for e in entries:  # one line per cursor: readable in a narrow terminal, greppable in a script
        by = f"run {e['run_id']}" if e["run_id"] else f"state reset {e['reset_id']}"
        out.print(
            f"{e['table']}  {e['object']}.{e['cursor_field']} = {e['value']}  "
            f"({by}, snapshot {e['snapshot_id']}, {e['committed_at']})",
            highlight=False,
            soft_wrap=True,
        )


@state_app.command("reset")
def reset(
    job: JobArg,
    obj: Annotated[
        str | None, typer.Option("--object", help="Only this object's cursor (default: every object of the job).")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="The cursor's new value (default: none, the next run reads everything).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    runner: RunnerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set or clear cursors, recorded as a snapshot of the table (atomic, in its history).

    The value is the cursor as `state show` prints it (an ISO timestamp, a number, a string);
    the next run checks it against the cursor column's type. Cleared cursors make the next
    run read everything: on a merge table that converges, on an append table it loads the rows
    again (use `dativo run --full-refresh` to replace them instead).
    """
    from dativo_workers.config.job import object_name
    from dativo_workers.iceberg import state_snapshot

    changes: list[tuple[LoadedJob, Catalog, dict[str, str], dict[str, str]]] = []
    objects: set[str] = set()
    targets = _targets(job, runner)
    for one, catalog, table in targets:
        cfg = one.config
        if to is not None and cfg.source.incremental is not None and cfg.source.incremental.new_files:
            raise ConfigError(
                f"{one.path}: --to: a `mode: new_files` job's state is the list of files it loaded; "
                "reset it without --to (the next run loads every file again)"
            )
        state = state_snapshot(table, cfg.tenant_id, cfg.name)[0] if table is not None else {}
        own = object_name(cfg.source.tables[0]) if cfg.source.tables else None
        objects |= {_split(k)[0] for k in state} | ({own} if own else set())
        matched = [k for k in state if obj is None or _split(k)[0] == obj]
        if obj is not None and not matched and own != obj:
            continue  # another object's table
        new = {k: v for k, v in state.items() if k not in matched}
        if to is not None:
            keys = matched or [_new_key(one, obj or own)]
            new.update(dict.fromkeys(keys, to))
        if table is None:
            raise ConfigError(f"{one.path}: table {cfg.target.namespace}.{cfg.target.table} does not exist yet")
        changes.append((one, catalog, state, new))
    if obj is not None and not changes:
        raise ConfigError(
            f"{job}: --object: the job has no object {obj!r} (its objects: {', '.join(sorted(objects)) or 'none'})"
        )
    for one, _, state, new in changes:
        name = f"{one.config.target.namespace}.{one.config.target.table}"
        for key in sorted(set(state) | set(new)):
            err.print(f"{name}: {key}: {state.get(key, '(none)')} -> {new.get(key, '(none)')}")
    if not yes:
        typer.confirm("Record this state in the table (a new snapshot)?", abort=True, err=True)
    reset_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + f"-{random.getrandbits(32):08x}"
    results = []
    for one, catalog, _, new in changes:
        cfg = one.config
        identifier = (cfg.target.namespace or "", cfg.target.table or "")
        snapshot_id = commit_state(catalog, identifier, cfg.tenant_id, cfg.name, new, reset_id)
        results.append({"table": ".".join(identifier), "state": new, "snapshot_id": snapshot_id, "reset_id": reset_id})
    if as_json:
        sys.stdout.write(json.dumps({"reset": results}) + "\n")
    else:
        for r in results:
            out.print(f"{r['table']}: state recorded in snapshot {r['snapshot_id']} (reset {reset_id})")


def _new_key(job: LoadedJob, obj: str | None) -> str:
    inc = job.config.source.incremental
    if inc is None:
        raise ConfigError(f"{job.path}: source.incremental: the job has no cursor_field to set")
    if obj is None:
        raise ConfigError(f"{job.path}: the table has no state yet: name the object with --object")
    return f"{obj}.{inc.cursor_field}"


def commit_state(catalog: Catalog, identifier: tuple[str, str], tenant: str, job: str, state: dict[str, str],
                 reset_id: str) -> int:  # fmt: skip
    """Record ``state`` as the job's whole state in one metadata-only snapshot; returns its id.

    Like a run's commit: pyiceberg's own retry is off, conflicts are retried on the reloaded
    table, and after any error the table is searched for this reset before deciding."""
    from dativo_workers.iceberg import _disable_library_retries, commit_verified, state_prefix, state_reset_key

    marker = state_reset_key(tenant, job)
    properties = {
        **{state_prefix(tenant, job) + k: v for k, v in state.items()},
        marker: reset_id,
        "dativo.tenant": tenant,
        "dativo.job": job,
        "dativo.operation": "state-reset",
    }

    def apply(table: Table | None) -> int:
        if table is None:
            raise ConfigError(f"table {'.'.join(identifier)} does not exist")
        tx = table.transaction()
        with tx.update_snapshot(snapshot_properties=properties).fast_append():
            pass  # no files: the snapshot carries only the state
        snapshot = tx.table_metadata.current_snapshot()
        assert snapshot is not None
        _disable_library_retries(tx)
        tx.commit_transaction()
        return snapshot.snapshot_id

    return commit_verified(
        catalog,
        identifier,
        f"the state reset of {'.'.join(identifier)}",
        landed=lambda table: _recorded(table, marker, reset_id),
        apply=apply,
    )


def _recorded(table: Table, marker: str, reset_id: str) -> int | None:
    for snapshot in table.snapshots():
        if snapshot.summary is not None and snapshot.summary.get(marker) == reset_id:
            return snapshot.snapshot_id
    return None
