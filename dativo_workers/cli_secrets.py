"""`dativo secrets ...` and the `--secret-manager` option shared by run, submit, worker and check."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

secrets_app = typer.Typer(help="Check secret references and the configured secret manager.", no_args_is_help=True)
out = Console()

SecretManagerOpt = Annotated[
    str | None,
    typer.Option(
        "--secret-manager",
        help="Secret provider for this command: env, filesystem, vault, aws, gcp, azure or a plugin's "
        "(default: runner.secrets.provider). Exported as DATIVO_SECRETS__PROVIDER, so worker processes use it too.",
    ),
]


def use_secret_manager(name: str | None) -> None:
    """Override runner.secrets.provider for this process and the processes it starts."""
    if name:
        os.environ["DATIVO_SECRETS__PROVIDER"] = name.strip().lower()


@secrets_app.command("check")
def secrets_check(
    job: Annotated[Path, typer.Argument(help="Job YAML file.", show_default=False)],
    runner: Annotated[Path | None, typer.Option("--runner", help="runner.yaml (default as for `dativo run`).")] = None,
    secret_manager: SecretManagerOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """List every secret reference of JOB (and of its target catalog), the provider, and whether it
    resolves. Values are never printed. Exits 2 if any reference does not resolve."""
    from dativo_workers.config import load_job, load_runner
    from dativo_workers.secrets import active, check
    from dativo_workers.secrets.resolve import reference_paths

    use_secret_manager(secret_manager)
    loaded = load_job(job)
    runner_cfg = load_runner(runner)
    found = reference_paths(loaded.raw)
    catalog = runner_cfg.catalogs.get(loaded.config.target.catalog) if loaded.config.target.catalog else None
    if catalog is not None:
        found += reference_paths(catalog.pyiceberg_properties(), f"runner.catalogs.{loaded.config.target.catalog}")
    tenant = loaded.config.tenant_id
    results = {r.reference: r for r in check([ref for _, ref in found], tenant, active())}
    rows: list[dict[str, Any]] = []
    for path, ref in found:
        result = results[str(ref)]
        rows.append(
            {"reference": result.reference, "used_at": path, "provider": result.provider}
            | {"ok": result.ok, "detail": result.detail}
        )
    ok = all(r["ok"] for r in rows)
    if as_json:
        sys.stdout.write(json.dumps({"ok": ok, "tenant": tenant, "references": rows}) + "\n")
    elif not rows:
        out.print("no secret references in this job")
    else:
        # one line per reference (like `dativo check`): nothing is cut off in a narrow terminal or a CI log
        for r in rows:
            mark = "[green]ok[/green]  " if r["ok"] else "[red]FAIL[/red]"
            line = mark + escape(f"  {r['reference']}  at {r['used_at']}  [{r['provider']}] {r['detail']}")
            out.print(line, soft_wrap=True, highlight=False, markup=True)
    raise typer.Exit(0 if ok else 2)
