"""`dativo generate job` and `dativo generate asset`: the questions, in order, and the files.

Every question goes through ``Asker``: answered by its flag, typed on the terminal, or taken
from its default with ``--yes``. Nothing here knows a specific connector: readers describe
themselves (``config_model``, ``connection_model``, ``source_list``) and are asked what they
hold (``discover``), whether they connect (``check``) and what their rows look like
(``plan`` + ``sample``), exactly as a run would.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pyiceberg.schema import Schema
from pyiceberg.types import DateType, TimestampType, TimestamptzType
from rich.table import Table

from dativo_workers.config import load_job, load_runner
from dativo_workers.config.job import PartitionField
from dativo_workers.config.runner import RunnerConfig
from dativo_workers.errors import DativoError
from dativo_workers.generator import documents as docs
from dativo_workers.generator.asker import Asker, GenerateError, Invalid
from dativo_workers.generator.source import (
    Connector,
    Draft,
    Probe,
    connectors,
    default_text,
    discover,
    is_credential_name,
    is_secret_reference,
    matching_files,
    object_name_from_path,
    probe,
    probe_reader,
    run_check,
    secret_name,
    settings_of,
    slug,
    validate_model,
    writers,
)
from dativo_workers.governance.pii import Finding
from dativo_workers.plugins.base import DiscoveredObject
from dativo_workers.secrets.base import tenant_problem

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")
_SKIP = {"-", "none"}


@dataclass
class Request:
    """How to generate, besides the answers: where files go and what may be overwritten."""

    out_dir: Path
    runner_path: Path | None = None
    force: bool = False
    write_asset: bool = True
    dry_run: bool = False
    command: str = "dativo generate job"


@dataclass
class SourceResult:
    draft: Draft
    object_name: str
    probe: Probe
    labels: dict[str, str]  # column -> label; "none" removes a detected label
    notes: list[str] = field(default_factory=list)  # what the user must still do (secrets)


def _name(what: str) -> Any:
    def check(value: str) -> str:
        if not _NAME.match(value):
            raise Invalid(f"{what} must start with a letter or digit and use only letters, digits, '_' and '-'")
        return value

    return check


# -- the source half (shared by `generate job` and `generate asset`) ----------------------------


def _tenant(value: str) -> str:
    if (problem := tenant_problem(value)) is not None:
        raise Invalid(f"the tenant id: {problem}")
    return value


def ask_tenant(asker: Asker, out_dir: Path) -> str:
    jobs = out_dir / "jobs"
    known = sorted(p.name for p in jobs.iterdir() if p.is_dir()) if jobs.is_dir() else []
    hint = f" (existing: {', '.join(known)})" if known else ""
    return asker.ask(
        "tenant",
        f"Tenant{hint}",
        flag="--tenant",
        default=known[0] if len(known) == 1 else None,
        validate=_tenant,  # the job's own rule: it names the tenant's secrets
    )


def ask_connector(asker: Asker) -> Connector:
    found = {c.name: c for c in connectors()}
    if not found:
        raise GenerateError("no reader is installed: install a connector package (see `dativo plugins list`)")
    if asker.interactive and not asker.has("source"):
        table = Table("connector", "capabilities", "description", "package", title="Installed sources")
        for c in found.values():
            table.add_row(c.name, ", ".join(c.capabilities()), c.description, c.package)
        asker.info(table)

    def check(value: str) -> Connector:
        if value not in found:
            raise Invalid(f"no reader named {value!r}; installed: {', '.join(found)}")
        return found[value]

    return asker.ask(
        "source",
        "Source connector" + ("" if asker.interactive else f" ({', '.join(found)})"),
        flag="--source",
        default="csv" if "csv" in found else next(iter(found)),
        validate=check,
    )


def _secret_available(name: str, tenant: str) -> bool:
    from dativo_workers.secrets import resolve

    try:
        resolve("${secret:" + name + "}", tenant)
        return True
    except DativoError:
        return False


def _ask_secret(
    asker: Asker,
    draft: Draft,
    field_name: str,
    runner: RunnerConfig,
    given: str | None,
    notes: list[str],
    previous: str | None = None,
) -> str | None:
    """A secret setting: the job gets a reference; a value typed here stays in memory and is
    offered to the secret provider. Returns the reference (None: no such setting)."""
    default_name = secret_name(previous) if previous else f"{draft.connector.name}_{field_name}"
    value: str | None = None
    if given is not None and is_secret_reference(given):
        name = secret_name(given)
    elif given is not None:  # a value on the command line: the job still only gets a reference
        name, value = default_name, given
    else:
        name = asker.ask(
            f"secret.{field_name}",
            f"{field_name}: name of the secret (the job stores ${{secret:NAME}}, never the value; '-' for none)",
            flag=f"--connection {field_name}=${{secret:NAME}}",
            default=default_name,
            validate=lambda v: v if v in _SKIP else secret_name(v),
        )
        if name in _SKIP:
            return None
    reference = "${secret:" + name + "}"
    base = name.split(".", 1)[0]
    known = name in draft.secret_values or _secret_available(base, draft.tenant)
    if value is None and not known and asker.interactive:
        value = asker.ask(
            f"secret_value.{field_name}",
            f"Value of {reference}, to check the connection now (hidden; Enter to skip)",
            flag="(terminal only)",
            default="",
            password=True,
            required=False,
        )
    if value:
        draft.secret_values[name] = value
        if "." in name:
            notes.append(f"{reference} is the key of the JSON secret {base!r}: store the value there yourself")
        elif runner.secrets.provider == "env":
            notes.append(docs.store_secret(runner, draft.tenant, base, value)[1])
        elif asker.confirm(
            "store_secrets",
            f"Write the value of {reference} to the {runner.secrets.provider} secret provider?",
            flag="--store-secrets",
            default=True,
        ):
            stored, message = docs.store_secret(runner, draft.tenant, base, value)
            (asker.info if stored else notes.append)(message)
        else:
            notes.append(f"store the value of {reference} in the {runner.secrets.provider} secret provider")
    return reference


def _pairs(raw: list[str] | None, flag: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in raw or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise GenerateError(f"{flag} {item!r}: write name=value")
        result[name.strip()] = value.strip()
    return result


def ask_connection(asker: Asker, draft: Draft, runner: RunnerConfig, notes: list[str]) -> None:
    """Connection settings, checked with the reader's ``check()``; a failed check asks again
    with the previous answers as defaults."""
    connector = draft.connector
    model = getattr(connector.cls, "connection_model", None)
    settings = settings_of(model)
    given = _pairs(asker.answers.pop("connection", None), "--connection")
    if not settings:
        if connector.source_list == "files" and not given:
            return
        # no declared model: free-form settings; credential-looking ones still become references
        draft.connection = dict(given)
        while True:
            if asker.interactive and not given:
                draft.connection = asker.pairs(
                    "connection_pairs",
                    "Connection setting (name=value, Enter when done)",
                    flag="--connection",
                    validate=lambda k, v: v,
                )
            for key, value in list(draft.connection.items()):
                if is_credential_name(key) and not is_secret_reference(value):
                    draft.connection[key] = _ask_secret(asker, draft, key, runner, value, notes)
            if _check_connection(asker, draft):
                return
            if not asker.interactive:
                raise GenerateError("the source check failed (above): fix the --connection values")
            given = {}
            asker.info("Enter the connection settings again:")
    names = {s.name for s in settings}
    unknown = sorted(set(given) - names)
    if unknown:
        message = f"{connector.name} has no connection setting {', '.join(unknown)}; it has: {', '.join(sorted(names))}"
        if not asker.interactive:
            raise GenerateError(f"--connection: {message}")
        asker.error(message)
    current: dict[str, Any] = {}
    first = True
    while True:
        if asker.interactive and first:
            asker.info(f"[bold]Connection to {connector.name}[/bold]")
        for s in settings:
            key = f"connection.{s.name}"
            if s.secret:
                flagged = given.get(s.name) if first else None
                if flagged is None and not asker.interactive and not s.required:
                    continue  # an optional secret nobody gave (trust or certificate auth): leave it out
                current[s.name] = _ask_secret(asker, draft, s.name, runner, flagged, notes, current.get(s.name))
                continue
            if first and s.name in given:
                asker.answers[key] = given[s.name]
            previous = current.get(s.name, s.default)
            label = s.name + (f" ({s.description})" if s.description else "")
            current[s.name] = asker.ask(
                key,
                label,
                flag=f"--connection {s.name}=...",
                default=default_text(previous),
                validate=s.parse,
                required=s.required,
            )
        first = False
        values = {k: v for k, v in current.items() if v is not None and v != ""}
        defaults = {x.name: x.default for x in settings}
        try:
            validate_model(model, values, "connection")  # type: ignore[arg-type]
        except Invalid as exc:
            if not asker.interactive:
                raise GenerateError(f"--connection: {exc}") from None
            asker.error(str(exc))
            continue
        # settings left at their default stay out of the job, unless a flag named them
        draft.connection = {k: v for k, v in values.items() if k in given or v != defaults.get(k)}
        if _check_connection(asker, draft):
            return
        if not asker.interactive:
            raise GenerateError("the source check failed (above): fix the --connection values (or the --table)")
        asker.info("Fix the settings (Enter keeps an answer):")


def _check_connection(asker: Asker, draft: Draft) -> bool:
    """Does the source answer with these settings? A source that lists tables or objects proves it
    by listing them (kept for the next step); else, or when a flag already names the object, the
    reader's ``check()`` (connect, object exists, privileges) decides."""
    kind = draft.connector.source_list
    key = "table" if kind == "tables" else "object"
    if kind in ("tables", "objects") and not asker.has(key) and _overrides(draft.connector, "discover"):
        try:
            draft.discovered = discover(draft)
        except Invalid as exc:
            asker.error(str(exc))
            return False
        asker.info(f"[green]✓[/green] connected to {draft.connector.name}: {len(draft.discovered)} {kind} found")
        return True
    if not _overrides(draft.connector, "check"):
        return True
    if kind == "tables" and asker.has("table"):
        draft.tables = [str(asker.answers["table"])]
    problems = run_check(draft)
    if not problems:
        asker.info(f"[green]✓[/green] connected to {draft.connector.name}")
        return True
    for problem in problems:
        asker.error(problem)
    return False


def _overrides(connector: Connector, hook: str) -> bool:
    from dativo_workers.plugins.base import DataReader

    return getattr(connector.cls, hook) is not getattr(DataReader, hook)


def ask_options(asker: Asker, draft: Draft) -> None:
    """Reader settings (``source.options``): defaults unless the user changes some."""
    settings = {s.name: s for s in settings_of(draft.connector.cls.config_model)}
    if not settings:
        return
    if asker.interactive and not asker.has("option"):
        described = any(s.description for s in settings.values())
        table = Table("option", "default", *(["meaning"] if described else []), title=f"{draft.connector.name} options")
        for s in settings.values():
            table.add_row(s.name, default_text(s.default) or "", *([s.description] if described else []))
        asker.info(table)

    def check(name: str, value: str) -> Any:
        if name not in settings:
            raise Invalid(f"{draft.connector.name} has no option {name!r}; it has: {', '.join(settings)}")
        parsed = settings[name].parse(value)
        validate_model(draft.connector.cls.config_model, {name: parsed}, "option")  # the model's own rules, now
        return parsed

    while True:
        draft.options = asker.pairs(
            "option", "Option to change (name=value, Enter to keep the defaults)", flag="--option", validate=check
        )
        try:
            validate_model(draft.connector.cls.config_model, draft.options, "option")
            return
        except Invalid as exc:
            if not asker.interactive:
                raise GenerateError(f"--option: {exc}") from None
            asker.error(str(exc))


def _file_step(asker: Asker, draft: Draft) -> tuple[str, Probe]:
    while True:

        def check(value: str) -> str:
            if not matching_files(value, draft.base_dir):
                raise Invalid(f"no file matches it (looked from {draft.base_dir}); give an existing path or a glob")
            return value

        path = asker.ask("path", "Files to load (a path or glob, `**` recurses)", flag="--path", validate=check)
        matched = matching_files(path, draft.base_dir)
        shown = ", ".join(os.path.relpath(m, draft.base_dir) for m in matched[:5])
        asker.info(f"{len(matched)} file(s): {shown}{' ...' if len(matched) > 5 else ''}")
        draft.files = [path]
        ask_options(asker, draft)
        try:
            return object_name_from_path(path, matched), probe(draft)
        except Invalid as exc:
            if not asker.interactive:
                raise GenerateError(f"cannot read {path!r}: {exc}") from None
            asker.error(f"cannot read {path!r}: {exc}")
            asker.info("Fix the path or the options:")


def _object_step(asker: Asker, draft: Draft) -> tuple[str, Probe]:
    kind = draft.connector.source_list
    key, flag, noun = ("table", "--table", "table") if kind == "tables" else ("object", "--object", "object")
    found: list[DiscoveredObject] = list(draft.discovered or [])  # listed by the connection check
    listed_already = False
    while True:
        if not found and not (asker.has(key) and kind is not None):
            # list what the source holds (a flag names the object: then the reader's check() suffices)
            try:
                found = discover(draft)
            except Invalid as exc:
                if not asker.interactive:
                    raise GenerateError(f"{draft.connector.name}: {exc}") from None
                asker.warn(f"{exc}; type the {noun} name")
        by_name = {o.name: o for o in found}
        chosen: DiscoveredObject | None = None
        if kind is None:
            chosen = found[0] if found else None  # a reader without a list: its one (implicit) object
        else:
            if asker.interactive and found and not asker.has(key) and not listed_already:
                _show_objects(asker, found, noun)
                listed_already = True

            def check(value: str, by_name: dict[str, DiscoveredObject] = by_name) -> str:
                if not by_name or value in by_name:
                    return value
                tail = [n for n in by_name if n.rsplit(".", 1)[-1] == value]
                if len(tail) == 1:
                    return tail[0]
                shown = ", ".join(list(by_name)[:10]) + (" ..." if len(by_name) > 10 else "")
                raise Invalid(f"the source has no {noun} {value!r}; it has: {shown}")

            name = asker.ask(
                key,
                f"{noun.capitalize()} to load",
                flag=flag,
                default=next(iter(by_name)) if len(by_name) == 1 else None,
                validate=check,
            )
            if kind == "tables":
                draft.tables = [name]
            elif kind == "objects":
                draft.objects = [name]
            problems = run_check(draft) if _overrides(draft.connector, "check") else []
            if problems:
                if not asker.interactive:
                    raise GenerateError(f"{flag} {name}: " + "; ".join(problems))
                for problem in problems:
                    asker.error(problem)
                continue
            chosen = by_name.get(name) or _discovered(draft, name)
            if chosen is None:
                chosen = DiscoveredObject(name=name, kind=noun)
        ask_options(asker, draft)
        try:
            object_name = slug(chosen.name.rsplit(".", 1)[-1]) if chosen else slug(draft.connector.name)
            return object_name, probe(draft, chosen)
        except Invalid as exc:
            if not asker.interactive:
                raise GenerateError(f"cannot read from {draft.connector.name}: {exc}") from None
            asker.error(f"cannot read it: {exc}")


def _discovered(draft: Draft, name: str) -> DiscoveredObject | None:
    """The discovered entry for one named object (its primary key), when discovery works."""
    try:
        return next((o for o in discover(draft) if o.name == name), None)
    except Invalid:
        return None


def _show_objects(asker: Asker, found: list[DiscoveredObject], noun: str) -> None:
    table = Table(noun, "kind", "columns", "rows (estimate)", title="Found in the source")
    for o in found[:50]:
        cols = str(len(o.schema)) if o.schema is not None else "?"
        rows = f"{o.row_estimate:,}" if o.row_estimate is not None else "?"
        table.add_row(o.name, o.kind, cols, rows)
    asker.info(table)
    if len(found) > 50:
        asker.info(f"... and {len(found) - 50} more")


def show_schema(asker: Asker, result: Probe) -> None:
    rows = result.sample.num_rows if result.sample is not None else 0
    table = Table("column", "type", "required", "detected", title=f"Schema (from {rows} sampled rows)")
    for f in result.iceberg.fields:
        finding = result.findings.get(f.name)
        detected = (
            f"{finding.label} ({finding.detector}, {finding.reason}, {finding.confidence:.2f})" if finding else ""
        )
        arrow_field = result.arrow.field(f.name)
        table.add_row(f.name, str(f.field_type), "yes" if not arrow_field.nullable else "", detected)
    asker.info(table)


def ask_labels(
    asker: Asker, columns: list[str], findings: dict[str, Finding], existing: dict[str, str]
) -> dict[str, str]:
    """Accept or change each detected label; ``--classification col=LABEL`` answers for a column."""

    def label(value: str) -> str:
        if value.lower() in _SKIP:
            return docs.NONE_LABEL
        if not _LABEL.match(value):
            raise Invalid("a label is a word such as PII, SENSITIVE, CONFIDENTIAL, PUBLIC, or 'none' to drop it")
        return value.upper()

    def pair(column: str, value: str) -> str:
        if column not in columns:
            raise Invalid(f"no column {column!r}; columns: {', '.join(columns)}")
        return label(value)

    labels = {c: v for c, v in existing.items() if c in columns}
    flagged = _pairs(asker.answers.pop("classification", None), "--classification")
    for column, value in flagged.items():
        try:
            labels[column] = pair(column, value)
        except Invalid as exc:
            if not asker.interactive:
                raise GenerateError(f"--classification {column}={value}: {exc}") from None
            asker.error(f"{column}={value}: {exc}")
    for column, finding in findings.items():
        if column in labels or column not in columns:
            continue
        labels[column] = asker.ask(
            f"label.{column}",
            f"Label for {column} ({finding.detector}, {finding.reason}, confidence {finding.confidence:.2f}); "
            "Enter accepts, 'none' drops",
            flag=f"--classification {column}=LABEL",
            default=finding.label,
            validate=label,
        )
    if asker.interactive:
        more = asker.pairs(
            "more_labels", "Label another column (column=LABEL, Enter when done)", flag="", validate=pair
        )
        labels.update(more)
    return labels


def ask_source(asker: Asker, out_dir: Path, runner: RunnerConfig, tenant: str | None = None) -> SourceResult:
    tenant = tenant or ask_tenant(asker, out_dir)
    connector = ask_connector(asker)
    draft = Draft(connector=connector, tenant=tenant, base_dir=Path.cwd())
    notes: list[str] = []
    ask_connection(asker, draft, runner, notes)
    if connector.source_list == "files":
        object_name, result = _file_step(asker, draft)
    else:
        object_name, result = _object_step(asker, draft)
    show_schema(asker, result)
    labels = ask_labels(asker, list(result.arrow.names), result.findings, {})
    return SourceResult(draft, object_name, result, labels, notes)


# -- the target half ------------------------------------------------------------------------


def _partition_fields(text: str, schema: Schema) -> list[dict[str, str]]:
    fields: list[dict[str, str]] = []
    for item in [p.strip() for p in text.split(",") if p.strip()]:
        column, _, transform = item.partition(":")
        column, transform = column.strip(), (transform.strip() or "identity")
        try:
            spec = PartitionField(field=column, transform=transform)
        except ValidationError as exc:
            raise Invalid(f"{item}: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
        try:
            field_type = schema.find_field(column).field_type
        except ValueError:
            raise Invalid(f"no column {column!r}; columns: {', '.join(f.name for f in schema.fields)}") from None
        temporal = isinstance(field_type, (DateType, TimestampType, TimestamptzType))
        if spec.transform in ("year", "month", "day") and not temporal:
            raise Invalid(f"{spec.transform} needs a date or timestamp column ({column} is {field_type})")
        if spec.transform == "hour" and not isinstance(field_type, (TimestampType, TimestamptzType)):
            raise Invalid(f"hour needs a timestamp column ({column} is {field_type})")
        entry = {"field": column}
        if spec.transform != "identity":
            entry["transform"] = spec.transform
        fields.append(entry)
    return fields


def ask_target(asker: Asker, runner: RunnerConfig, tenant: str, object_name: str, schema: Schema) -> dict[str, Any]:
    if asker.interactive:
        asker.info("[bold]Target[/bold]")
    targets = ["iceberg", *writers()]

    def target_check(value: str) -> str:
        if value not in targets:
            raise Invalid(f"choose one of: {', '.join(targets)}")
        return value

    connector = asker.ask(
        "target", f"Target ({', '.join(targets)})", flag="--target", default="iceberg", validate=target_check
    )
    catalogs = sorted(runner.catalogs)
    where = runner.source_file or "the built-in runner defaults"

    def catalog_check(value: str) -> str:
        if value not in runner.catalogs:
            raise Invalid(f"no catalog {value!r} in {where}; catalogs: {', '.join(catalogs) or 'none'}")
        return value

    catalog = asker.ask(
        "catalog",
        "Iceberg catalog" + (f" ({', '.join(catalogs)})" if len(catalogs) > 1 else ""),
        flag="--catalog",
        default="default" if "default" in catalogs else (catalogs[0] if catalogs else None),
        validate=catalog_check,
    )

    def identifier(value: str) -> str:
        if not all(_NAME.match(part) for part in value.split(".")):
            raise Invalid("use letters, digits, '_' and '-' (dots separate nested namespaces)")
        return value

    namespace = asker.ask("namespace", "Namespace", flag="--namespace", default=slug(tenant), validate=identifier)
    table = asker.ask("target_table", "Table", flag="--target-table", default=object_name, validate=_name("the table"))

    def mode_check(value: str) -> str:
        if value not in ("append", "overwrite"):
            raise Invalid("append adds the rows of each run; overwrite replaces the table's rows")
        return value

    mode = asker.ask("mode", "Mode (append, overwrite)", flag="--mode", default="append", validate=mode_check)
    partitioning = asker.ask(
        "partition_by",
        "Partition by (column[:transform], e.g. created_at:day; comma-separated; Enter for none)",
        flag="--partition-by",
        default="",
        validate=lambda v: _partition_fields(v, schema),
        required=False,
    )
    target: dict[str, Any] = {}
    if connector != "iceberg":
        target["connector"] = connector
    target.update({"catalog": catalog, "namespace": namespace, "table": table, "mode": mode})
    if partitioning:
        target["partition_by"] = partitioning
    return target


# -- writing ----------------------------------------------------------------------------------


def _source_block(result: SourceResult, job_dir: Path) -> dict[str, Any]:
    draft = result.draft
    block: dict[str, Any] = {"connector": draft.connector.name}
    if draft.connection:
        block["connection"] = dict(draft.connection)
    if draft.files:
        entries = []
        for path in draft.files:
            absolute = Path(path).expanduser().is_absolute()
            entries.append({"path": path if absolute else docs.relative_to(draft.base_dir / path, job_dir)})
        block["files"] = entries
    if draft.tables:
        block["tables"] = [{"name": t} for t in draft.tables]
    if draft.objects:
        block["objects"] = [{"name": o} for o in draft.objects]
    if draft.options:
        block["options"] = dict(draft.options)
    return block


def _asset_doc(result: SourceResult, tenant: str, existing: dict[str, Any] | None) -> dict[str, Any]:
    probe_ = result.probe
    labels = {c: v for c, v in result.labels.items()}
    not_null = {f.name for f in probe_.arrow if not f.nullable}
    return docs.asset_document(
        tenant=tenant,
        source=result.draft.connector.name,
        object_name=result.object_name,
        schema=probe_.iceberg,
        labels=labels,
        primary_key=[c for c in probe_.primary_key if c in probe_.arrow.names],
        not_null=not_null,
        existing=existing,
    )


def _confirm_overwrite(asker: Asker, path: Path, request: Request, flag_hint: str) -> bool:
    if not path.exists() or request.force:
        return True
    if not asker.interactive:
        raise GenerateError(f"{path} exists: pass --force to overwrite it, or {flag_hint}")
    return asker.confirm(f"overwrite.{path}", f"{path} exists. Overwrite it?", flag="--force", default=False)


def generate_job(asker: Asker, request: Request) -> list[Path]:
    """Ask everything, write the job (and its asset), prove they load. Returns the written paths."""
    runner = load_runner(request.runner_path)
    out_dir = request.out_dir
    result = ask_source(asker, out_dir, runner)
    tenant = result.draft.tenant

    while True:
        name = asker.ask("name", "Job name", flag="--name", default=result.object_name, validate=_name("the job name"))
        job_path = out_dir / "jobs" / tenant / f"{name}.yaml"
        if _confirm_overwrite(asker, job_path, request, "choose another --name"):
            break
    target = ask_target(asker, runner, tenant, result.object_name, result.probe.iceberg)

    written: list[Path] = []
    asset_rel: str | None = None
    overrides: dict[str, str] = {}
    asset_text = None
    asset_path = out_dir / "assets" / result.draft.connector.name / "v1.0" / f"{result.object_name}.yaml"
    if request.write_asset:
        asset_text, existed = _asset_text(asker, request, result, tenant, asset_path)
        if (
            asset_text is not None
            and existed
            and not _confirm_overwrite(asker, asset_path, request, "pass --no-asset to keep it")
        ):
            asset_text = None  # keep the user's asset as it is
        asset_rel = docs.relative_to(asset_path, job_path.parent)
    else:
        overrides = {c: v for c, v in result.labels.items()}  # no asset: the job carries the labels
    job_doc = docs.job_document(
        tenant=tenant,
        name=name,
        asset_path=asset_rel,
        source=_source_block(result, job_path.parent),
        target=target,
        classification_overrides=overrides,
    )
    job_text = docs.to_yaml(job_doc, docs.header("job", request.command))
    _assert_no_secret_values(result.draft, [job_text, asset_text or ""])
    if request.dry_run:
        asker.info(job_text)
        if asset_text:
            asker.info(asset_text)
        return []
    if asset_text is not None:
        docs.write_text(asset_path, asset_text)
        written.append(asset_path)
    docs.write_text(job_path, job_text)
    written.insert(0, job_path)
    _prove_loadable(job_path)
    for note in result.notes:
        asker.warn(note)
    return written


def _assert_no_secret_values(draft: Draft, texts: list[str]) -> None:
    for value in draft.secret_values.values():
        if value and any(value in text for text in texts):
            # a secret value that is also an ordinary word of the job (e.g. the user name) would
            # be caught here too; refusing is the safe side
            raise GenerateError(
                "a secret value typed in this session appears in the generated files; "
                "nothing was written. Use a different value or name for the secret."
            )


def _prove_loadable(job_path: Path) -> None:
    from dativo_workers.pipeline import load_job_asset
    from dativo_workers.schema import asset_schema

    try:
        job = load_job(job_path)
        asset = load_job_asset(job)
        if asset is not None:
            asset_schema(asset)
    except DativoError as exc:  # a bug in the generator: say so plainly
        raise GenerateError(f"the generated files do not load ({exc}); please report this") from exc


def _load_existing(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise GenerateError(f"{path}: not valid YAML ({exc}); fix or remove it first") from None
    if isinstance(data, dict) and "apiVersion" in data:
        return data
    raise GenerateError(f"{path} is not an ODCS v3 asset (no apiVersion); move it away or pass --no-asset")


def _show_diff(asker: Asker, change: str) -> None:
    from rich.syntax import Syntax

    asker.info(Syntax(change, "diff", theme="ansi_dark", background_color="default"))


# -- generate asset ---------------------------------------------------------------------------


def generate_asset(asker: Asker, request: Request, source: str, out: Path | None) -> list[Path]:
    """(Re)write an asset from the current source schema: from a job file or a connector name."""
    runner = load_runner(request.runner_path)
    path = Path(source)
    if path.is_file():
        return _asset_from_job(asker, request, path, out)
    asker.answers["source"] = source
    result = ask_source(asker, request.out_dir, runner)
    target = out or request.out_dir / "assets" / result.draft.connector.name / "v1.0" / f"{result.object_name}.yaml"
    return _write_asset(asker, request, result, result.draft.tenant, target)


def _asset_from_job(asker: Asker, request: Request, job_path: Path, out: Path | None) -> list[Path]:
    from dativo_workers.plugins.manager import create_reader

    job = load_job(job_path)
    cfg = job.config
    existing_path = job.resolve(cfg.asset_path) if cfg.asset_path else None
    reader = create_reader(job)  # resolves the job's secret references, like a run
    connector_name = cfg.source.connector or reader.name
    discovered = None
    if cfg.source.tables:
        table_name = cfg.source.tables[0].name
        try:
            discovered = next((o for o in reader.discover() if o.name == table_name), None)
        except Exception:
            discovered = None  # the primary key is a nicety; the schema comes from the reader
    try:
        result_probe = probe_reader(reader, discovered)
    except Invalid as exc:
        raise GenerateError(f"{job.path}: cannot read the source: {exc}") from None
    existing = _load_existing(existing_path) if existing_path else None
    if existing and existing.get("schema"):
        object_name = str(existing["schema"][0].get("name") or cfg.target.table)
    elif cfg.source.tables:
        object_name = slug(cfg.source.tables[0].name.rsplit(".", 1)[-1])
    elif cfg.source.files:
        object_name = object_name_from_path(cfg.source.files[0].path)
    else:
        object_name = cfg.target.table
    show_schema(asker, result_probe)
    old_labels = {}
    if existing:
        for prop in existing["schema"][0].get("properties") or []:
            if isinstance(prop, dict) and prop.get("classification"):
                old_labels[str(prop["name"])] = str(prop["classification"])
    labels = ask_labels(asker, list(result_probe.arrow.names), result_probe.findings, old_labels)
    from dativo_workers.plugins.manager import reader_class

    connector = Connector(connector_name, "", "", type(reader) if cfg.source.reader else reader_class(connector_name))
    draft = Draft(connector=connector, tenant=cfg.tenant_id, base_dir=job.base_dir)
    result = SourceResult(draft, object_name, result_probe, labels)
    target = out or existing_path
    if target is None:
        target = job.base_dir.parent.parent / "assets" / connector_name / "v1.0" / f"{object_name}.yaml"
    written = _write_asset(asker, request, result, cfg.tenant_id, target)
    if written and not cfg.asset_path:
        rel = docs.relative_to(target, job.base_dir)
        asker.warn(f"{job.path} does not use an asset yet: add `asset_path: {rel}` to it")
    return written


def _asset_text(
    asker: Asker, request: Request, result: SourceResult, tenant: str, path: Path
) -> tuple[str | None, bool]:
    """The asset as the source describes it now, and whether a file is already there (its diff
    shown). Text None: the file already says this, so it (and its comments) stays as it is."""
    existing = _load_existing(path)
    new_doc = _asset_doc(result, tenant, existing)
    text = docs.to_yaml(new_doc, docs.header("asset", request.command))
    if existing is None:
        return text, False
    change = docs.document_change(existing, new_doc, path)
    if not change:
        return None, True
    _show_diff(asker, change)
    return text, True


def _write_asset(asker: Asker, request: Request, result: SourceResult, tenant: str, target: Path) -> list[Path]:
    text, existed = _asset_text(asker, request, result, tenant, target)
    if text is None:
        asker.info(f"{target} is up to date with the source")
        return []
    if existed:
        if request.dry_run:
            return []
        if (
            asker.interactive
            and not request.force
            and not asker.confirm("write_asset", f"Write these changes to {target}?", flag="--yes", default=True)
        ):
            return []
    elif request.dry_run:
        asker.info(text)
        return []
    docs.write_text(target, text)
    from dativo_workers.config.asset import load_asset
    from dativo_workers.schema import asset_schema

    try:
        asset_schema(load_asset(target))
    except DativoError as exc:
        raise GenerateError(f"the generated asset does not load ({exc}); please report this") from exc
    for note in result.notes:
        asker.warn(note)
    return [target]
