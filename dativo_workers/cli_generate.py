"""`dativo generate job|asset`: the typer side of dativo_workers.generator (docs/generator.md)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

generate_app = typer.Typer(
    help="Write a working job and its ODCS v3 asset from what a source holds (wizard, or flags + --yes).",
    no_args_is_help=True,
)

YesOpt = Annotated[
    bool, typer.Option("--yes", "-y", help="Ask nothing: take the default for every question no flag answers.")
]
TenantOpt = Annotated[str | None, typer.Option(help="Tenant id (jobs/<tenant>/).")]
SourceOpt = Annotated[str | None, typer.Option("--source", help="Reader name (`dativo plugins list`).")]
ConnectionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--connection",
        help="Connection setting name=value (repeatable). Secrets: password=${secret:NAME}; a plain value "
        "becomes a reference and is never written to a file.",
    ),
]
OptionOpt = Annotated[list[str] | None, typer.Option("--option", help="Reader option name=value (repeatable).")]
PathOpt = Annotated[str | None, typer.Option("--path", help="File path or glob, for file sources.")]
TableOpt = Annotated[str | None, typer.Option("--table", help="Source table (schema.table), for database sources.")]
ObjectOpt = Annotated[str | None, typer.Option("--object", help="Source object, for API sources.")]
LabelOpt = Annotated[
    list[str] | None,
    typer.Option("--classification", help="column=LABEL (repeatable); LABEL 'none' drops a detected label."),
]
OutDirOpt = Annotated[Path, typer.Option("--out-dir", help="Root for jobs/<tenant>/ and assets/<source>/.")]
RunnerOpt = Annotated[Path | None, typer.Option("--runner", help="runner.yaml (catalogs, secret provider).")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite existing files.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Show what would be written; write nothing.")]


def _asker(yes: bool, answers: dict[str, Any]) -> Any:
    from dativo_workers.generator import Asker

    interactive = not yes and sys.stdin.isatty() and sys.stdout.isatty()
    console = Console() if interactive else Console(stderr=True)
    return Asker(interactive=interactive, console=console, answers={k: v for k, v in answers.items() if v})


def _print_written(paths: list[Path], asker: Any) -> None:
    if asker.interactive and paths:
        asker.info("[bold green]Written:[/bold green]")
    for path in paths:
        sys.stdout.write(f"{path}\n")
    sys.stdout.flush()


@generate_app.command("job")
def generate_job_command(
    yes: YesOpt = False,
    tenant: TenantOpt = None,
    name: Annotated[str | None, typer.Option(help="Job name (file jobs/<tenant>/<name>.yaml).")] = None,
    source: SourceOpt = None,
    connection: ConnectionOpt = None,
    option: OptionOpt = None,
    path: PathOpt = None,
    table: TableOpt = None,
    object_: ObjectOpt = None,
    classification: LabelOpt = None,
    target: Annotated[str | None, typer.Option(help="Target: iceberg or an installed writer.")] = None,
    catalog: Annotated[str | None, typer.Option(help="Catalog name from runner.yaml.")] = None,
    namespace: Annotated[str | None, typer.Option(help="Iceberg namespace (default: the tenant).")] = None,
    target_table: Annotated[str | None, typer.Option(help="Iceberg table (default: the source object).")] = None,
    mode: Annotated[str | None, typer.Option(help="append or overwrite.")] = None,
    partition_by: Annotated[
        list[str] | None, typer.Option("--partition-by", help="column[:transform], e.g. created_at:day (repeatable).")
    ] = None,
    store_secrets: Annotated[
        bool | None,
        typer.Option("--store-secrets/--no-store-secrets", help="Write typed secret values to the secret provider."),
    ] = None,
    no_asset: Annotated[bool, typer.Option("--no-asset", help="No asset: the schema is inferred at each run.")] = False,
    out_dir: OutDirOpt = Path("."),
    runner: RunnerOpt = None,
    force: ForceOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Ask (or take from flags) the source, its connection, the object to load, PII labels and the
    Iceberg target; write jobs/<tenant>/<name>.yaml and assets/<source>/v1.0/<object>.yaml and
    print their paths."""
    from dativo_workers.generator import Request, generate_job

    answers = {
        "tenant": tenant,
        "name": name,
        "source": source,
        "connection": connection,
        "option": option,
        "path": path,
        "table": table,
        "object": object_,
        "classification": classification,
        "target": target,
        "catalog": catalog,
        "namespace": namespace,
        "target_table": target_table,
        "mode": mode,
        "partition_by": ",".join(partition_by) if partition_by else None,
    }
    asker = _asker(yes, answers)
    if store_secrets is not None:
        asker.answers["store_secrets"] = store_secrets
    request = Request(
        out_dir=out_dir.resolve(),
        runner_path=runner,
        force=force,
        write_asset=not no_asset,
        dry_run=dry_run,
        command="dativo generate job",
    )
    written = generate_job(asker, request)
    _print_written(written, asker)
    if written and asker.interactive:
        job = os.path.relpath(written[0]) if written[0].is_relative_to(Path.cwd()) else str(written[0])
        asker.info(f"Next: [bold]dativo check {job}[/bold], then [bold]dativo run {job}[/bold]")


@generate_app.command("asset")
def generate_asset_command(
    from_: Annotated[
        str,
        typer.Option("--from", help="A job file (its source and asset_path), or a reader name plus source flags."),
    ],
    out: Annotated[Path | None, typer.Option("--out", help="Asset file to write (default: the job's asset).")] = None,
    yes: YesOpt = False,
    tenant: TenantOpt = None,
    connection: ConnectionOpt = None,
    option: OptionOpt = None,
    path: PathOpt = None,
    table: TableOpt = None,
    object_: ObjectOpt = None,
    classification: LabelOpt = None,
    out_dir: OutDirOpt = Path("."),
    runner: RunnerOpt = None,
    force: ForceOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """(Re)write an ODCS v3 asset from the current source schema, with detected PII labels. An
    existing asset keeps its metadata, descriptions and labels; the diff is shown first."""
    from dativo_workers.generator import Request, generate_asset

    answers = {
        "tenant": tenant,
        "connection": connection,
        "option": option,
        "path": path,
        "table": table,
        "object": object_,
        "classification": classification,
    }
    asker = _asker(yes, answers)
    request = Request(
        out_dir=out_dir.resolve(),
        runner_path=runner,
        force=force or yes,
        dry_run=dry_run,
        command="dativo generate asset",
    )
    written = generate_asset(asker, request, from_, out)
    _print_written(written, asker)
