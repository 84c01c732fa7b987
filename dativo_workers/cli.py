"""`dativo`: run, check and inspect ingestion jobs."""

from __future__ import annotations

import atexit
import enum
import gc
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from dativo_workers import cli_plugins
from dativo_workers import logging as dativo_logging
from dativo_workers.cli_generate import generate_app
from dativo_workers.cli_maintain import maintain
from dativo_workers.cli_secrets import SecretManagerOpt, secrets_app, use_secret_manager
from dativo_workers.cli_state import state_app
from dativo_workers.errors import DativoError, SchemaChangeError
from dativo_workers.ui.command import ui

app = typer.Typer(
    name="dativo",
    help="Move data from files, databases and APIs into governed Apache Iceberg tables.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
    context_settings={"help_option_names": ["-h", "--help"]},  # inherited by every subcommand
)
plugins_app = typer.Typer(help="Inspect installed reader and writer plugins.", no_args_is_help=True)
app.add_typer(plugins_app, name="plugins")
tags_app = typer.Typer(help="Inspect governance tags (classification, ownership, FinOps).", no_args_is_help=True)
app.add_typer(tags_app, name="tags")
app.add_typer(secrets_app, name="secrets")
app.add_typer(generate_app, name="generate")
app.add_typer(state_app, name="state")
app.command("maintain")(maintain)
app.command("ui")(ui)

err = Console(stderr=True)
out = Console()

RunnerOpt = Annotated[
    Path | None,
    typer.Option(
        "--runner",
        help="runner.yaml (default: $DATIVO_RUNNER_CONFIG, else the project's config/runner.yaml, "
        "else built-in SQLite defaults under the project's .dativo/; the project root is the nearest "
        "directory upwards with a dativo.yaml or a .dativo/, else the current one)",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of tables.")]
JobArg = Annotated[Path, typer.Argument(help="Job YAML file.", show_default=False)]
SelectOpt = Annotated[
    str | None,
    typer.Option("--select", help="Only these objects of a multi-table job: OBJECT[,OBJECT] (object names)."),
]
FullRefreshOpt = Annotated[
    bool,
    typer.Option(
        "--full-refresh",
        help="Reload everything (no incremental state) and replace the table's rows in one snapshot; "
        "the state is reset in the same snapshot.",
    ),
]


MetricsPortOpt = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        min=1,
        max=65535,
        help="Serve Prometheus metrics on http://HOST:PORT/metrics (docs/operations.md, Metrics).",
    ),
]


def _selected(select: str | None) -> list[str] | None:
    return [name.strip() for name in select.split(",") if name.strip()] if select else None


EXIT_OK, EXIT_WITH_BAD_ROWS, EXIT_FAILED, EXIT_OUTCOME_UNKNOWN = 0, 1, 2, 3


LogLevel = enum.Enum("LogLevel", {name: name for name in dativo_logging.LEVELS}, type=str)  # type: ignore[misc]
LogFormat = enum.Enum("LogFormat", {name: name for name in dativo_logging.FORMATS}, type=str)  # type: ignore[misc]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        out.print(f"dativo {version('dativo-workers')}", highlight=False)
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    log_level: Annotated[
        LogLevel | None,
        typer.Option(case_sensitive=False, help="Logs go to stderr (default: warning; worker: info)."),
    ] = None,
    log_format: Annotated[LogFormat, typer.Option(case_sensitive=False)] = LogFormat.console,
    version: Annotated[
        bool | None, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = None,
) -> None:
    level = log_level.value if log_level else ("info" if ctx.invoked_subcommand == "worker" else "warning")
    fmt = log_format.value
    # Commands that follow a run print its error in their summary: without an explicit
    # --log-level, the log events saying the same are left out (the worker logs them all).
    quiet = log_level is None and ctx.invoked_subcommand != "worker"
    # exported so worker processes log the same way
    os.environ["DATIVO_LOG_LEVEL"], os.environ["DATIVO_LOG_FORMAT"] = level, fmt
    os.environ[dativo_logging.QUIET_OUTCOMES_ENV] = "1" if quiet else "0"
    dativo_logging.configure(level, fmt, quiet_outcomes=quiet)


@app.command()
def run(
    job: JobArg,
    workers: Annotated[
        int | None, typer.Option("--workers", "-w", min=1, help="Parallel worker processes (default: CPU cores).")
    ] = None,
    runner: RunnerOpt = None,
    as_json: JsonOpt = False,
    secret_manager: SecretManagerOpt = None,
    select: SelectOpt = None,
    full_refresh: FullRefreshOpt = False,
    metrics_port: MetricsPortOpt = None,
    metrics_host: Annotated[str, typer.Option(help="Address the metrics listen on.")] = "127.0.0.1",
) -> None:
    """Run a job on this machine (no broker): plan, ingest every partition, commit ONE snapshot.

    A job listing several source tables runs once per table, each into its own table;
    `--json` then prints one object whose `runs` key lists the run summaries.

    Exit codes: 0 committed, 1 committed but some rows were quarantined or skipped,
    2 failed (nothing committed) or invalid configuration, 3 the commit's outcome could not be
    read back from the catalog (do not re-run: `dativo retry RUN_ID` settles it).
    """
    from dativo_workers.config import load_job, load_runner
    from dativo_workers.config.job import expand_objects
    from dativo_workers.executor import execute, shared_pools
    from dativo_workers.metrics import serving

    use_secret_manager(secret_manager)
    jobs = expand_objects(load_job(job), _selected(select), full_refresh)  # one run per source table
    runner_cfg = load_runner(runner)
    summaries = []
    # metrics first: the pool processes inherit where to write them
    with serving(metrics_port, metrics_host), shared_pools():  # the tables' runs share the worker processes
        for one in jobs:
            progress = _RunProgress(enabled=not as_json and err.is_terminal)
            with progress:
                summaries.append(execute(one, runner_cfg, workers, on_plan=progress.start, on_progress=progress.update))
    _print_summaries(summaries, as_json)
    raise typer.Exit(max(_exit_code(s) for s in summaries))


def _print_summaries(summaries: list[dict[str, Any]], as_json: bool) -> None:
    """One run: its summary (DESIGN.md §8). A multi-table job: {"runs": [summary, ...]}."""
    if len(summaries) == 1:
        _print_summary(summaries[0], as_json)
    elif as_json:
        sys.stdout.write(json.dumps({"runs": summaries}, default=str) + "\n")
    else:
        for summary in summaries:
            _print_summary(summary, as_json)


def _exit_code(summary: dict[str, Any]) -> int:
    if summary["state"] == "committing":  # the commit's outcome could not be read back yet
        return EXIT_OUTCOME_UNKNOWN
    if summary["state"] != "committed":
        return EXIT_FAILED
    return EXIT_WITH_BAD_ROWS if summary["bad_rows"] else EXIT_OK


class _RunProgress:
    """Partitions done/total, rows, MB and rate, from ledger snapshots."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("partitions"),
            TextColumn("{task.fields[rows]:,} rows  {task.fields[mb]:.1f} MB written  {task.fields[rate]:,.0f} rows/s"),
            TimeElapsedColumn(),
            console=err,
            disable=not enabled,
        )
        self.task: Any = None

    def __enter__(self) -> _RunProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)  # type: ignore[arg-type]

    def start(self, run_id: str, partitions: int) -> None:
        self.task = self.progress.add_task(f"run {run_id}", total=partitions, rows=0, mb=0.0, rate=0.0)

    def update(self, partitions: list[dict[str, Any]]) -> None:
        if self.task is None:
            return
        rows = sum(p["rows"] for p in partitions)
        mb = sum(p["bytes"] for p in partitions) / 1e6
        elapsed = self.progress.tasks[self.task].elapsed or 0.0
        done = sum(1 for p in partitions if p["state"] in ("done", "failed"))
        total = max(len(partitions), self.progress.tasks[self.task].total or 0)  # a merge's rewrite partitions join
        self.progress.update(
            self.task, total=total, completed=done, rows=rows, mb=mb, rate=rows / elapsed if elapsed else 0.0
        )


SUMMARY_KEYS = (
    "run_id",
    "state",
    "table",
    "table_location",
    "rows",
    "files",
    "bytes",
    "bad_rows",
    "snapshot_id",
    "partitions_done",
    "partitions_failed",
    "duration_s",
)


def _print_summary(summary: dict[str, Any], as_json: bool) -> None:
    """One `key  value` line each, never wrapped (ids and paths stay whole for copy and paste)."""
    if as_json:
        sys.stdout.write(json.dumps(summary, default=str) + "\n")
        return
    state = summary["state"]
    width = max(len(k) for k in SUMMARY_KEYS)
    for key in SUMMARY_KEYS:
        value = summary[key]
        if value is None:
            continue  # e.g. no snapshot_id for a run that committed nothing
        text = Text(f"{key:<{width}}  ")
        if key == "state":
            text.append(str(value), style="green" if state == "committed" else "red")
        else:
            text.append(f"{value:,}" if isinstance(value, int) and key in ("rows", "bytes") else str(value))
        out.print(text, soft_wrap=True, highlight=False)
    changes = _describe_schema_changes(summary.get("schema_changes")) if state == "committed" else ""
    if changes:
        out.print(Text(f"{'schema':<{width}}  {changes}"), soft_wrap=True, highlight=False)
    for path in summary.get("quarantine_files") or []:
        out.print(Text("quarantined rows: ", style="yellow") + Text(path), soft_wrap=True, highlight=False)
    _print_quality(summary.get("quality"), width)
    if summary.get("error"):
        err.print(Text("error: ", style="red") + Text(summary["error"]), soft_wrap=True, highlight=False)
    if summary.get("message"):
        out.print(Text(summary["message"]), soft_wrap=True, highlight=False)


def _print_quality(results: list[dict[str, Any]] | None, width: int) -> None:
    """One line per contract quality rule: pass/fail, measured value, what the contract expects."""
    from dativo_workers.quality import shown_value

    for r in results or []:
        style = {"pass": "green", "fail": "red" if r.get("fails_run") else "yellow"}.get(r["status"], "dim")
        line = Text(f"{'quality':<{width}}  ") + Text(f"{r['status']:<7}", style=style)
        line += Text(f" {r['rule']}  {shown_value(r)}" + (f"  ({r['expected']})" if r.get("expected") else ""))
        if r.get("message"):
            line += Text(f"  {r['message']}", style="dim")
        out.print(line, soft_wrap=True, highlight=False)


@app.command("quality")
def quality_results(
    target: Annotated[str, typer.Argument(help="A job YAML file (its last run) or a run id.", show_default=False)],
    runner: RunnerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The contract quality rules' results of a run: the last run of JOB, or RUN_ID.

    Exit codes: 0 every rule passed (or the run had none), 1 a rule failed without failing the
    run (a warning), 2 a rule failed the run, or no such run."""
    from dativo_workers.ledger import Ledger
    from dativo_workers.pipeline import run_summary

    ledger = Ledger(_load_runner(runner).ledger_url)
    run_id = target
    if target.endswith((".yaml", ".yml")) or Path(target).is_file():
        from dativo_workers.config import load_job

        cfg = load_job(Path(target)).config
        found = [r for r in ledger.list_runs(cfg.tenant_id, limit=200) if r["job_name"] == cfg.name]
        if not found:
            raise DativoError(f"{target}: the ledger holds no run of job {cfg.name} (tenant {cfg.tenant_id})")
        run_id = found[0]["run_id"]
    summary = run_summary(ledger, run_id)
    results = summary["quality"] or []
    code = 2 if any(r.get("fails_run") for r in results) else (1 if any(r["status"] == "fail" for r in results) else 0)
    if as_json:
        keys = ("run_id", "state", "job", "table", "quality")
        sys.stdout.write(json.dumps({k: summary[k] for k in keys}, default=str) + "\n")
        raise typer.Exit(code)
    out.print(Text(f"run {run_id}  {summary['state']}  {summary['table']}"), soft_wrap=True, highlight=False)
    if not results:
        out.print("no quality rules (the run's contract has none)")
    _print_quality(results, len("quality"))
    raise typer.Exit(code)


def _describe_schema_changes(changes: dict[str, list[dict[str, str]]] | None) -> str:
    """What the run changes in the table's schema; nothing for a table it leaves as it is."""
    if not changes:
        return ""
    from dativo_workers.checks import describe_changes

    if changes.get("created"):
        rest = {**changes, "added": []}  # columns the source lacks or brings beyond the asset
        more = describe_changes(rest) if rest["dropped"] or rest.get("ignored") else ""
        return f"creates the table with {len(changes['added'])} column(s)" + (f"; {more}" if more else "")
    kinds = ("added", "dropped", "type_changed", "cast", "ignored")
    return describe_changes(changes) if any(changes.get(k) for k in kinds) else ""


def _load_runner(path: Path | None) -> Any:
    """Load the runner config; an explicit file is exported so Celery (and its children) use it too."""
    from dativo_workers.config import load_runner

    if path is not None:
        os.environ["DATIVO_RUNNER_CONFIG"] = str(path.resolve())
    return load_runner(path)


QueueOpt = Annotated[str | None, typer.Option("--queue", "-q", help="Celery queue (route by tenant or job).")]


@app.command()
def submit(
    job: JobArg,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the run until it is committed or failed.")] = False,
    queue: QueueOpt = None,
    runner: RunnerOpt = None,
    as_json: JsonOpt = False,
    secret_manager: SecretManagerOpt = None,
    select: SelectOpt = None,
    full_refresh: FullRefreshOpt = False,
) -> None:
    """Plan a job and send its partitions to the worker fleet (Celery over Redis).

    Prints the run id at once. With --wait, shows progress and exits like `dativo run`
    (0 committed, 1 committed with bad rows, 2 failed).
    """
    from dativo_workers.config import load_job
    from dativo_workers.config.job import expand_objects
    from dativo_workers.ledger import Ledger
    from dativo_workers.producer import submit as submit_run

    use_secret_manager(secret_manager)
    jobs = expand_objects(load_job(job), _selected(select), full_refresh)  # one run per source table
    runner_cfg = _load_runner(runner)
    ledger = Ledger(runner_cfg.ledger_url)
    run_ids, refused = [], set()
    for one in jobs:
        try:
            run_ids.append(submit_run(one, runner_cfg, ledger, queue))
        except SchemaChangeError as exc:  # refused while planning, recorded as a failed run
            if exc.run_id is None:
                raise
            run_ids.append(exc.run_id)
            refused.add(exc.run_id)
    if not wait:
        from dativo_workers.pipeline import run_summary

        if as_json:
            _print_summaries([run_summary(ledger, run_id) for run_id in run_ids], as_json=True)
        else:
            for run_id in run_ids:
                if run_id in refused:
                    _print_summary(run_summary(ledger, run_id), as_json=False)
                else:
                    out.print(f"submitted run [bold]{run_id}[/bold]; follow it with `dativo status {run_id} --watch`")
        raise typer.Exit(EXIT_FAILED if refused else EXIT_OK)
    summaries = []
    for run_id in run_ids:
        if run_id not in refused:
            err.print(f"submitted run {run_id}")
        summaries.append(_watch(ledger, run_id, as_json))
    _print_summaries(summaries, as_json)
    raise typer.Exit(max(_exit_code(s) for s in summaries))


def _watch(ledger: Any, run_id: str, as_json: bool) -> dict[str, Any]:
    """Follow a run in the ledger with a progress bar (on a terminal) until it ends."""
    from dativo_workers.producer import wait as wait_for_run

    progress = _RunProgress(enabled=not as_json and err.is_terminal)
    with progress:
        progress.start(run_id, len(ledger.partitions(run_id)))
        return wait_for_run(run_id, ledger, on_progress=progress.update)


def _follow(ledger: Any, run_id: str, as_json: bool) -> None:
    summary = _watch(ledger, run_id, as_json)
    _print_summary(summary, as_json)
    raise typer.Exit(_exit_code(summary))


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option("--concurrency", "-c", min=1, help="Worker processes.")] = None,
    queues: Annotated[
        str | None, typer.Option(help="Comma-separated queues to consume (default: dativo,dativo.control).")
    ] = None,
    autoscale: Annotated[str | None, typer.Option(help="MAX,MIN processes, scaled with the load.")] = None,
    beat: Annotated[bool, typer.Option("--beat", help="Also run the periodic reconciler (one per fleet).")] = False,
    hostname: Annotated[str | None, typer.Option(help="Worker node name (default: dativo@<host>).")] = None,
    runner: RunnerOpt = None,
    secret_manager: SecretManagerOpt = None,
    metrics_port: MetricsPortOpt = None,
    metrics_host: Annotated[str, typer.Option(help="Address the metrics listen on.")] = "0.0.0.0",
) -> None:
    """Start a Celery worker on the Dativo app (same as `celery -A dativo_workers.celery_app worker`)."""
    use_secret_manager(secret_manager)  # before the Celery app loads the runner config
    _load_runner(runner)
    if metrics_port is not None:  # before the pool forks: every process writes where this one serves
        from dativo_workers.metrics import MetricsServer

        MetricsServer(metrics_port, metrics_host).start()
    from dativo_workers.celery_app import CONTROL_QUEUE, DEFAULT_QUEUE
    from dativo_workers.celery_app import app as celery_app

    queues = queues or f"{DEFAULT_QUEUE},{CONTROL_QUEUE}"  # the reconciler has its own queue
    # no -E: task events follow the runner's `task_events` (Flower turns them on while it watches)
    argv = ["worker", "--queues", queues, "--hostname", hostname or "dativo@%h"]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    if autoscale:
        argv += ["--autoscale", autoscale]
    if beat:
        argv += ["--beat"]
    celery_app.worker_main(argv)


@app.command()
def retry(
    run_id: Annotated[str, typer.Argument(help="Run to complete.")],
    wait: Annotated[bool, typer.Option("--wait", help="Follow the run until it ends.")] = False,
    queue: QueueOpt = None,
    runner: RunnerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-run only the partitions that failed or never finished, then commit the whole run once."""
    from dativo_workers.ledger import Ledger
    from dativo_workers.producer import retry as retry_run

    runner_cfg = _load_runner(runner)
    ledger = Ledger(runner_cfg.ledger_url)
    indexes = retry_run(run_id, runner_cfg, ledger, queue)
    if not as_json:
        err.print(f"re-running {len(indexes)} partition(s) of {run_id}: {indexes}" if indexes else "committing")
    if wait or not indexes:
        _follow(ledger, run_id, as_json)
    elif as_json:
        sys.stdout.write(json.dumps({"run_id": run_id, "partitions": indexes}) + "\n")


@app.command()
def cancel(
    run_id: Annotated[str, typer.Argument(help="Run to cancel.")],
    runner: RunnerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke what has not run, stop running partitions, mark the run cancelled; nothing is committed."""
    from dativo_workers.ledger import Ledger
    from dativo_workers.producer import cancel as cancel_run

    runner_cfg = _load_runner(runner)
    summary = cancel_run(run_id, runner_cfg, Ledger(runner_cfg.ledger_url))
    _print_summary(summary, as_json)


@app.command()
def reconcile(runner: RunnerOpt = None, as_json: JsonOpt = False) -> None:
    """Re-enqueue partitions whose worker went silent or whose task message was lost, and commit
    runs whose commit never fired.

    Beat runs this every `runner.reconcile_seconds` (30 s) on the fleet's workers.
    """
    from dativo_workers.ledger import Ledger
    from dativo_workers.reconcile import reconcile as reconcile_runs

    runner_cfg = _load_runner(runner)
    from dativo_workers.tasks import broker_task_ids, enqueue_partitions

    ledger = Ledger(runner_cfg.ledger_url)
    report = reconcile_runs(
        runner_cfg,
        ledger,
        lambda run_id, indexes, queue: enqueue_partitions(run_id, indexes, queue, ledger),
        broker_task_ids,
    )
    if as_json:
        sys.stdout.write(json.dumps(report) + "\n")
    else:
        out.print(report)


ledger_app = typer.Typer(help="Manage the ledger (runs, partitions, fragments) database.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")


@ledger_app.command("upgrade")
def ledger_upgrade(runner: RunnerOpt = None, as_json: JsonOpt = False) -> None:
    """Create the ledger's tables, or migrate them to this version's schema (runner.ledger_url).

    Safe at any time, also while workers run, and from several hosts at once: upgraders take a
    lock (PostgreSQL advisory lock, SQLite write lock) and all but the first find nothing to do.
    Workers and the CLI also upgrade on first use; run this in a deploy step to do it up front.
    A ledger from before migrations existed is adopted in place, its rows kept.
    """
    from dativo_workers.ledger import Ledger

    runner_cfg = _load_runner(runner)
    ledger = Ledger(runner_cfg.ledger_url)
    try:
        before, after = ledger.upgrade()
    finally:
        ledger.dispose()
    if as_json:
        sys.stdout.write(json.dumps({"before": before, "after": after}) + "\n")
    elif before == after:
        out.print(f"ledger schema is current ({after})")
    else:
        out.print(f"ledger schema upgraded: {before or 'none'} -> {after}")


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Project directory (created if missing).")] = Path("."),
) -> None:
    """Scaffold a project: dativo.yaml, config/runner.yaml, jobs/, assets/ and data/ with an
    example job, and a .gitignore entry for .dativo/. Existing files are left as they are.

    Commands run anywhere below a directory holding dativo.yaml (or an existing .dativo/) use
    that project's runner config and state."""
    from dativo_workers.project import init_project

    written = init_project(directory)
    root = directory.resolve()
    for path, created in written:
        label = Text("created  ", style="green") if created else Text("kept     ", style="yellow")
        out.print(label + Text(str(path.relative_to(root))), soft_wrap=True, highlight=False)
    where = os.path.relpath(root)
    step = "" if where == "." else f"cd {where} && "
    out.print(
        Text(f"project ready in {root}; try: {step}dativo run jobs/example.yaml && dativo runs"),
        soft_wrap=True,
        highlight=False,
    )


@app.command()
def check(
    job: JobArg,
    runner: RunnerOpt = None,
    as_json: JsonOpt = False,
    secret_manager: SecretManagerOpt = None,
    select: SelectOpt = None,
) -> None:
    """Validate the job, its asset and the runner config; check the source is readable and the
    catalog reachable. Writes nothing."""
    from dativo_workers.checks import check_job

    use_secret_manager(secret_manager)
    report = check_job(job, runner, _selected(select))
    if as_json:
        sys.stdout.write(json.dumps(report) + "\n")
    else:
        for item in report["checks"]:
            mark = Text("ok", style="green") if item["ok"] else Text("FAIL", style="red")
            out.print(mark + Text(f"  {item['name']}: {item['detail']}"), soft_wrap=True, highlight=False)
    raise typer.Exit(EXIT_OK if report["ok"] else EXIT_FAILED)


@app.command()
def discover(
    job: JobArg, runner: RunnerOpt = None, as_json: JsonOpt = False, secret_manager: SecretManagerOpt = None
) -> None:
    """List what the job's source holds: tables (or files, API objects) with their columns,
    types, row estimates and primary keys. Reads no data."""
    from dativo_workers.config import load_job
    from dativo_workers.plugins.manager import create_reader

    use_secret_manager(secret_manager)
    _load_runner(runner)  # its secrets provider resolves the connection's references
    reader = create_reader(load_job(job))
    try:
        found = reader.discover()
    finally:
        reader.close()

    def estimate(obj: Any) -> int | None:  # a negative estimate (PostgreSQL: never analyzed) is unknown
        return obj.row_estimate if obj.row_estimate is not None and obj.row_estimate >= 0 else None

    if as_json:
        records = []
        for obj in found:
            native = obj.details.get("columns", {})
            columns = [{"name": f.name, "type": str(f.type), "native": native.get(f.name)} for f in obj.schema or []]
            records.append(
                {
                    "name": obj.name,
                    "kind": obj.kind,
                    "row_estimate": estimate(obj),
                    "primary_key": obj.primary_key,
                    "columns": columns if obj.schema else None,
                    **{k: v for k, v in obj.details.items() if k != "columns"},
                }
            )
        sys.stdout.write(json.dumps({"source": reader.name, "objects": records}, default=str) + "\n")
        return
    rows = []
    for obj in found:
        native = obj.details.get("columns", {})
        columns = ", ".join(f"{f.name} {native.get(f.name, f.type)}" for f in obj.schema) if obj.schema else ""
        rows.append(
            [
                obj.name,
                obj.kind,
                f"{rows_:,}" if (rows_ := estimate(obj)) is not None else "?",
                ", ".join(obj.primary_key),
                columns or f"error: {obj.details.get('error', 'unknown')}",
            ]
        )
    _print_rows(["object", "kind", "rows (est.)", "primary key", "columns"], rows)


def _print_rows(headers: list[str], rows: list[list[str]]) -> None:
    """A listing that copies and pipes well: aligned columns under a header on a terminal,
    tab-separated values without a header otherwise (`cut -f1`); never cut or wrapped by us."""
    if not out.is_terminal:
        for row in rows:
            sys.stdout.write("\t".join(cell.replace("\t", " ").replace("\n", " ") for cell in row) + "\n")
        return
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        padded = [c.ljust(w) for c, w in zip(cells[:-1], widths[:-1], strict=True)]
        return "  ".join([*padded, cells[-1]]).replace("\n", " ")

    out.print(Text(line(headers), style="bold"), soft_wrap=True, highlight=False)
    for row in rows:
        out.print(Text(line(row)), soft_wrap=True, highlight=False)


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _local_time(iso: str) -> str:
    from datetime import datetime

    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")


@app.command()
def status(
    run_id: Annotated[str, typer.Argument(help="Run id printed by `dativo run` or `dativo submit`.")],
    watch: Annotated[bool, typer.Option("--watch", help="Follow the run until it ends.")] = False,
    runner: RunnerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a run and its partitions (state, attempts, rows, errors)."""
    from dativo_workers.ledger import Ledger
    from dativo_workers.pipeline import run_summary

    ledger = Ledger(_load_runner(runner).ledger_url)
    if watch:
        _watch(ledger, run_id, as_json)
    summary = run_summary(ledger, run_id)
    parts = ledger.partitions(run_id)
    if as_json:
        summary["partitions"] = [
            {k: p[k] for k in ("idx", "label", "state", "attempts", "rows", "bytes", "bad_rows", "error")}
            for p in parts
        ]
        sys.stdout.write(json.dumps(summary, default=str) + "\n")
        return
    _print_summary(summary, as_json=False)
    if not parts:
        return
    out.print()
    _print_rows(
        ["partition", "source", "state", "attempts", "rows", "bad rows"],
        [
            [str(p["idx"]), p["label"], p["state"], str(p["attempts"]), f"{p['rows']:,}", str(p["bad_rows"])]
            for p in parts
        ],
    )
    for p in parts:  # each error once: the run's own error already quotes the first failures
        if p["error"] and p["error"] not in (summary["error"] or ""):
            err.print(Text(f"partition {p['idx']} ({p['label']}): {p['error']}"), soft_wrap=True, highlight=False)


@app.command()
def runs(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's runs.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many of the newest runs.")] = 20,
    runner: RunnerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List recent runs, newest first: whole run ids (for `dativo status`), start time, duration.

    Not on a terminal, one tab-separated line per run and no header. `--json` prints
    {"runs": [...]} with the same summary per run as `dativo run --json`."""
    from sqlalchemy.engine import make_url

    from dativo_workers.ledger import Ledger
    from dativo_workers.pipeline import run_summary

    runner_cfg = _load_runner(runner)
    ledger = Ledger(runner_cfg.ledger_url)
    summaries = [run_summary(ledger, r["run_id"]) for r in ledger.list_runs(tenant, limit)]
    if as_json:
        sys.stdout.write(json.dumps({"runs": summaries}, default=str) + "\n")
        return
    if not summaries:
        where = make_url(runner_cfg.ledger_url).render_as_string(hide_password=True)
        scope = f" for tenant {tenant}" if tenant else ""
        err.print(Text(f"no runs{scope} in the ledger {where}"), soft_wrap=True, highlight=False)
        return
    _print_rows(
        ["run", "state", "started", "duration", "tenant", "job", "table", "rows", "bad rows"],
        [
            [
                r["run_id"],
                r["state"],
                _local_time(r["started_at"]),
                _duration(r["duration_s"]),
                r["tenant"],
                r["job"],
                r["table"],
                f"{r['rows']:,}",
                str(r["bad_rows"]),
            ]
            for r in summaries
        ],
    )


@tags_app.command("explain")
def tags_explain(job: JobArg, as_json: JsonOpt = False) -> None:
    """Every table property and column label a run of JOB would write, with the level it comes
    from (detected < source < asset < job) and, for detected PII, reason and confidence.
    Writes nothing."""
    from dativo_workers.checks import explain_tags

    report = explain_tags(job)
    if as_json:
        sys.stdout.write(json.dumps(report) + "\n")
        return
    table = Table("property", "value", "level", "detail")
    for key, tag in report["properties"].items():
        detail = ""
        if tag["level"] == "detected":
            detail = f"{tag['detector']} ({tag['reason']}, confidence {tag['confidence']:.2f})"
        table.add_row(key, tag["value"], tag["level"], detail)
    out.print(table)
    for column, f in report["detected"].items():
        if report["columns"].get(column, {}).get("level") == "detected":
            continue
        now = report["columns"].get(column)
        state = f"{now['value']} from {now['level']}" if now else "removed"
        out.print(
            f"detected {f['label']} on {column} ({f['detector']}, {f['reason']}, {f['confidence']:.2f}) "
            f"overridden: {state}"
        )
    if not report["pii_detection"]:
        out.print("PII detection is switched off (governance_overrides.pii_detection: false)")


@plugins_app.command("list")
def plugins_list(as_json: JsonOpt = False) -> None:
    """Readers and writers installed through the `dativo` entry point group (and any that failed to load),
    with their certification (from runner.plugin_index, else the last local `dativo plugins certify`)."""
    from dativo_workers.cli_plugins import certification_status, list_index
    from dativo_workers.plugins.manager import broken_plugins, installed_plugins

    found = installed_plugins()
    broken = broken_plugins()
    index = list_index()
    status = {(p.name, p.kind): certification_status(p.name, p.kind, p.package, p.version, index) for p in found}
    if as_json:
        listed = [
            {
                "name": p.name,
                "kind": p.kind,
                "package": p.package,
                "version": p.version,
                "certification": status[(p.name, p.kind)],
            }
            for p in found
        ]
        listed += [
            {"name": b.entry_point, "kind": "broken", "package": b.package, "version": b.version, "error": b.error}
            for b in broken
        ]
        sys.stdout.write(json.dumps(listed) + "\n")
        return
    table = Table("name", "kind", "package", "version", "certification", "description")
    for p in found:
        table.add_row(p.name, p.kind, p.package, p.version, status[(p.name, p.kind)], p.description)
    for b in broken:
        table.add_row(b.entry_point, "[red]failed to load[/red]", b.package, b.version, "", b.error)
    out.print(table)


plugins_app.command("certify")(cli_plugins.certify)
plugins_app.command("search")(cli_plugins.search)
plugins_app.command("install")(cli_plugins.install)


def _freeze_at_exit() -> None:
    """gc.freeze, unless a Python module holds instances of a nanobind extension's types: nanobind
    reports its objects still alive at exit as leaks on stderr, and frozen cycles stay alive. The
    `duckdb` package keeps DuckDB's type constants so; its extension `_duckdb` alone (what quality
    rules load to parse and run SQL over Parquet, connections closed after use) leaks nothing."""
    modules = list(sys.modules.values())
    if any(_is_nanobind_extension(module) for module in modules):
        for module in modules:
            if not str(getattr(module, "__file__", None) or "").endswith(".py"):
                continue  # an extension or its submodules (`_duckdb._sqltypes`): torn down with it
            if any(type(type(value)).__name__ == "nb_type" for value in vars(module).values()):
                return
    gc.freeze()


def _is_nanobind_extension(module: object) -> bool:
    if not str(getattr(module, "__file__", None) or "").endswith((".so", ".pyd")):
        return False
    return any(isinstance(value, type) and type(value).__name__ == "nb_type" for value in vars(module).values())


def main() -> None:
    # Arrow's buffers from the C library's allocator (read when pyarrow is first imported, so here,
    # before any command imports it; pool workers inherit it). pyarrow's default, mimalloc, keeps
    # freed pages in per-thread heaps: with the read-ahead thread allocating the batches the
    # partition's thread frees, a worker's peak RSS was ~40 MiB higher at the same CPU time
    # (docs/performance.md, PostgreSQL and MySQL -> Iceberg). An explicit setting wins.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    # At exit the interpreter's last garbage collections walk every object the imports made
    # (pyiceberg, SQLAlchemy, pydantic...: ~0.13 CPU s of a small run's ~1 s). Frozen just before
    # them, they are skipped; modules and objects are still torn down as before (only cyclic
    # garbage left at exit is not collected, which Python does not promise to finalize anyway).
    atexit.unregister(_freeze_at_exit)  # once, however often main() runs in one process (tests)
    atexit.register(_freeze_at_exit)
    # Error texts may quote a resolved secret, a ${ENV} value or a source value: scrubbed first.
    from dativo_workers.secrets.redact import format_traceback, scrub

    try:
        app(prog_name="dativo")  # also under `python -m dativo_workers.cli` (usage, completion)
    except DativoError as exc:
        err.print(Text("error: ", style="bold red") + Text(scrub(str(exc))), highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug or an unhandled library error: the traceback helps, scrubbed
        sys.stderr.write(format_traceback(exc))
        sys.exit(EXIT_FAILED)


if __name__ == "__main__":
    main()
