"""`dativo plugins certify|search|install`, and the certification column of `dativo plugins list`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

out = Console()
err = Console(stderr=True)

EXIT_PASSED, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2
_STYLE = {"pass": "green", "fail": "bold red", "skipped": "yellow"}

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of tables.")]
IndexOpt = Annotated[
    str | None,
    typer.Option("--index", help="Plugin index (a path or URL of JSON/YAML); default: runner.plugin_index."),
]
RunnerOpt = Annotated[Path | None, typer.Option("--runner", help="runner.yaml (for runner.plugin_index).")]


def _fail(message: str) -> typer.Exit:
    err.print(Text("error: ", style="bold red") + Text(message), highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_BAD_INPUT)


def certify(
    plugin: Annotated[str, typer.Argument(help="An installed reader/writer name, or module.Class (PLUGIN_PATH).")],
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML with the plugin's source/target block, secrets, certify settings."),
    ] = None,
    kind: Annotated[
        str | None, typer.Option("--kind", help="reader or writer, for a name that is both (parquet, markdown_kv).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a reader or writer through the plugin contract and report each check (exit 0: all pass,
    1: a check failed, 2: bad input)."""
    from dativo_workers.certify import FAIL, CertifyInputError, load_subject, save_report
    from dativo_workers.certify import certify as run_certify
    from dativo_workers.errors import ConfigError

    try:
        subject = load_subject(plugin, config, kind)
        report = run_certify(subject)
    except (CertifyInputError, ConfigError) as exc:
        raise _fail(str(exc)) from None
    save_report(report)
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict()) + "\n")
    else:
        table = Table(title=f"{report.kind} {report.plugin} ({report.class_path})")
        table.add_column("id", no_wrap=True)
        table.add_column("check", ratio=2)
        table.add_column("status", no_wrap=True)
        table.add_column("detail", ratio=5, overflow="fold")
        for check in report.checks:
            table.add_row(check.id, check.title, Text(check.status, style=_STYLE[check.status]), check.detail)
        out.print(table)
        failed = report.failed()
        verdict = f"{len(failed)} check(s) failed: {', '.join(failed)}" if failed else "all checks passed"
        out.print(f"{report.plugin}: {verdict} ({report.duration_s}s)", highlight=False)
    if any(c.status == FAIL for c in report.checks):
        raise typer.Exit(EXIT_CHECK_FAILED)


def search(
    term: Annotated[str, typer.Argument(help="Words in a plugin's name, description or connectors.")],
    index: IndexOpt = None,
    runner: RunnerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Plugins of the index whose name, description or connectors match TERM."""
    from dativo_workers import plugin_index

    try:
        found = plugin_index.search(plugin_index.load_index(plugin_index.index_location(index, runner)), term)
    except plugin_index.IndexError_ as exc:
        raise _fail(str(exc)) from None
    if as_json:
        sys.stdout.write(json.dumps([e.summary() for e in found]) + "\n")
        return
    if not found:
        out.print(f"no plugin in the index matches {term!r}", highlight=False)
        return
    table = Table("name", "latest", "certified", "licence", "description")
    for entry in found:
        table.add_row(entry.name, entry.latest_version or "-", entry.certified_text(), entry.license, entry.description)
    out.print(table)


def install(
    requirement: Annotated[str, typer.Argument(help="NAME or NAME==VERSION from the index.")],
    index: IndexOpt = None,
    runner: RunnerOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the pinned requirement; install nothing.")] = False,
) -> None:
    """Install a plugin from the index into this interpreter's environment, pinned to the index's
    sha256 (`pip install --require-hashes`); a mismatch installs nothing."""
    from dativo_workers import plugin_index

    try:
        idx = plugin_index.load_index(plugin_index.index_location(index, runner))
        entry, version = plugin_index.pick(idx, requirement)
        result = plugin_index.install(entry, version, dry_run=dry_run, index_location=idx.location)
    except plugin_index.IndexError_ as exc:
        raise _fail(str(exc)) from None
    out.print(result, highlight=False)


def certification_status(name: str, kind: str, package: str, version: str, index: Any | None) -> str:
    """`certified <date>` / `failed <checks>` from the index's entry for the package, else from a
    local report (`dativo plugins certify` keeps one per plugin), else `not certified`."""
    from dativo_workers.certify import cached_report

    if index is not None:
        status = index.status_of(name, kind, package, version)
        if status:
            return status
    report = cached_report(name, kind, package)
    if report is not None and report.get("version") == version:
        date = str(report.get("date", ""))[:10]
        if report.get("passed"):
            return f"certified locally {date}"
        failed = [c["id"] for c in report.get("checks", []) if c.get("status") == "fail"]
        return f"failed locally {date}: {', '.join(failed)}"
    return "not certified"


def list_index() -> Any | None:
    """The configured index for `plugins list`, or None when none is set or it cannot be read."""
    from dativo_workers import plugin_index

    try:
        location = plugin_index.index_location(None, None, required=False)
        return plugin_index.load_index(location) if location else None
    except Exception as exc:  # the list still shows what is installed, with local reports
        err.print(f"warning: plugin index not read ({exc}); certification from local reports only", highlight=False)
        return None
