"""`dativo maintain TABLE_OR_JOB`: compact small files, expire old snapshots, remove orphan files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from dativo_workers.errors import ConfigError

out = Console()
err = Console(stderr=True)


def maintain(
    table_or_job: Annotated[
        str,
        typer.Argument(
            help="A job YAML file (its target table, catalog, tenant and file_size_mb), or a table as "
            "NAMESPACE.TABLE (with --catalog and --tenant where needed).",
            show_default=False,
        ),
    ],
    compact: Annotated[
        bool,
        typer.Option(
            "--compact",
            help="Rewrite small files (below 75% of file_size_mb) into file_size_mb files: a run with its own "
            "run id and tag, committed as ONE snapshot with exactly the same rows; big files are left alone.",
        ),
    ] = False,
    expire_older_than: Annotated[
        str | None,
        typer.Option(
            "--expire-older-than",
            metavar="AGE",
            help="Expire snapshots older than AGE (90m, 12h, 7d, 2w). Kept: the current snapshot, every branch, "
            "every tag younger than its max age (run tags: target.run_tag_max_age, default 30d), and the "
            "snapshots the jobs' incremental state is read from. Aged tags are removed.",
        ),
    ] = None,
    remove_orphans: Annotated[
        bool,
        typer.Option(
            "--remove-orphans",
            help="Delete files under the table location that no snapshot references (after expiry), older than "
            "--orphan-age and than the start of any unfinished run of the table; quarantined rows are kept.",
        ),
    ] = False,
    orphan_age: Annotated[
        str, typer.Option("--orphan-age", metavar="AGE", help="Safety age of --remove-orphans.")
    ] = "3d",
    catalog: Annotated[
        str | None, typer.Option("--catalog", help="Catalog of NAMESPACE.TABLE (a name in runner.yaml).")
    ] = None,
    tenant: Annotated[
        str | None,
        typer.Option(
            "--tenant",
            help="Tenant of NAMESPACE.TABLE, whose secrets open the catalog (default: the table's dativo.tenant).",
        ),
    ] = None,
    file_size_mb: Annotated[
        int | None,
        typer.Option(
            "--file-size-mb", min=1, max=4096, help="Target file size of --compact (default: the job's, 256)."
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", "-w", min=1, help="Local worker processes of --compact.")
    ] = None,
    submit: Annotated[
        bool, typer.Option("--submit", help="Send the --compact run to the worker fleet instead of running it here.")
    ] = False,
    queue: Annotated[str | None, typer.Option("--queue", "-q", help="Celery queue of --submit.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would be compacted, expired and removed; change nothing.")
    ] = False,
    runner: Annotated[Path | None, typer.Option("--runner", help="runner.yaml (default as for `dativo run`).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Keep a table small and fast: compact small files, expire old snapshots, remove orphan files.

    The steps run in this order, each freeing what the one before released: a compaction's
    replaced files stay referenced by older snapshots until those expire, and become orphans
    once they do. Schedule it (cron, Celery beat): see docs/operations.md, "Table maintenance".

    Exit codes: 0 done, 2 a step failed (a compaction commits nothing when it fails) or invalid
    arguments.
    """
    from dativo_workers.maintenance import maintain as run_maintenance

    if not (compact or expire_older_than or remove_orphans):
        raise ConfigError("nothing to do: add --compact, --expire-older-than AGE and/or --remove-orphans")
    runner_cfg = _load_runner(runner)
    target = _target(table_or_job, runner_cfg, catalog, tenant, file_size_mb)
    progress = None if as_json or not err.is_terminal else (lambda step: err.print(f"{target.name}: {step}"))
    report = run_maintenance(
        target,
        runner_cfg,
        compact_files=compact,
        expire_older_than=expire_older_than,
        remove_orphan_files=remove_orphans,
        orphan_age=orphan_age,
        dry_run=dry_run,
        workers=workers,
        submit=submit,
        queue=queue,
        on_step=progress,
    )
    failed = report["compaction"] is not None and report["compaction"]["state"] == "failed"
    if as_json:
        sys.stdout.write(json.dumps(report, default=str) + "\n")
    else:
        _print(report)
    raise typer.Exit(2 if failed else 0)


def _load_runner(path: Path | None) -> Any:
    import os

    from dativo_workers.config import load_runner

    if path is not None:  # exported so Celery (--submit) uses it too
        os.environ["DATIVO_RUNNER_CONFIG"] = str(path.resolve())
    return load_runner(path)


def _target(table_or_job: str, runner: Any, catalog: str | None, tenant: str | None, file_size_mb: int | None) -> Any:
    from dativo_workers.iceberg import load_table, open_catalog
    from dativo_workers.maintenance import MaintainTarget, job_settings
    from dativo_workers.secrets import references
    from dativo_workers.storage import catalog_properties

    path = Path(table_or_job)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"{path}: no such job file")
        settings = job_settings(path)
        if catalog is not None or tenant is not None:
            raise ConfigError(f"{path}: --catalog and --tenant are for NAMESPACE.TABLE; the job names its own")
    else:
        namespace, _, name = table_or_job.rpartition(".")
        if not namespace or not name:
            raise ConfigError(f"{table_or_job!r}: expected a job file or NAMESPACE.TABLE")
        settings = {"catalog": catalog or "default", "identifier": (namespace, name), "tenant": tenant}
    catalog_cfg = runner.catalog(settings["catalog"])
    if settings["tenant"] is None and references(catalog_cfg.pyiceberg_properties()):
        raise ConfigError(
            f"catalog {settings['catalog']!r} uses secret references: name the tenant whose secrets open it (--tenant)"
        )
    storage = catalog_properties(catalog_cfg, settings["tenant"] or "")
    opened = open_catalog(settings["catalog"], storage)
    if settings["tenant"] is None:  # the tenant that wrote the table, for the compaction run's ledger entry
        table = load_table(opened, settings["identifier"])
        settings["tenant"] = (table.properties.get("dativo.tenant") if table is not None else None) or "maintenance"
    return MaintainTarget(
        catalog_name=settings["catalog"],
        catalog=opened,
        identifier=settings["identifier"],
        tenant=settings["tenant"],
        storage=storage,
        file_size_mb=file_size_mb or settings.get("file_size_mb", 256),
        run_tag_max_age_ms=settings.get("run_tag_max_age_ms", 30 * 86400 * 1000),
        run_tag_max_age=settings.get("run_tag_max_age", "30d"),
        job_path=settings.get("job_path"),
    )


def _print(report: dict[str, Any]) -> None:
    """One line per step, never wrapped (run ids and counts stay whole for copy and paste)."""
    prefix = "would be " if report["dry_run"] else ""
    name = report["table"]
    lines: list[str] = []
    if (c := report["compaction"]) is not None:
        if not c["groups"]:
            files = c["files_before"]
            lines.append(f"{name}: compaction: nothing to do ({files} file(s); no two small files share a partition)")
        elif c["state"] == "planned":
            lines.append(f"{name}: {c['files_compacted']} small files would be compacted in {c['groups']} group(s)")
        elif c["state"] == "committed":
            lines.append(
                f"{name}: compacted {c['files_compacted']} small files into {c['files_written']} (run {c['run_id']}, "
                f"snapshot {c['snapshot_id']}): {c['files_before']} -> {c['files_after']} files, {c['rows']:,} rows"
            )
        elif c["state"] == "failed":
            err.print(
                f"{name}: compaction run {c['run_id']} failed, nothing committed: {c['error']}",
                highlight=False,
                soft_wrap=True,
            )
        else:
            run_id = c["run_id"]
            lines.append(f"{name}: compaction run {run_id} is {c['state']}; follow it with `dativo status {run_id}`")
    if (e := report["expiry"]) is not None:
        tags = f", {len(e['tags_removed'])} aged tag(s) {prefix}removed" if e["tags_removed"] else ""
        state = f", {e['kept_for_state']} older kept for incremental state" if e["kept_for_state"] else ""
        lines.append(
            f"{name}: {e['snapshots_expired']} of {e['snapshots_before']} snapshots {prefix}expired "
            f"(older than {e['older_than']}){tags}{state}"
        )
    if (o := report["orphans"]) is not None:
        lines.append(
            f"{name}: {o['orphans_removed']} orphan files ({o['orphan_bytes']:,} bytes) {prefix}removed "
            f"of {o['files_scanned']} files (older than {o['older_than']})"
        )
    for line in lines:
        out.print(line, highlight=False, soft_wrap=True)
