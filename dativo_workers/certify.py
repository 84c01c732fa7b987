"""Plugin conformance kit: `dativo plugins certify NAME|PLUGIN_PATH` and `pytest -p dativo_workers.certify`.

A reader or writer is run through the plugin contract the engine relies on, and each promise is
reported as a check: pass, fail or skipped (with the reason). The kit drives the plugin the way
the engine does (settings validated by its model, secret references resolved in the process that
uses them, every call guarded so that errors name the plugin and carry no secret, one fresh
process per partition read), so a plugin that passes behaves under ``dativo run`` and on workers.

The configuration file (``--config``) gives the plugin's job block and, for a source that needs
a service, where it is::

    source: {files: [{path: data/*.csv}], options: {delimiter: ";"}}   # a reader's source block
    target: {options: {compression: zstd}}                              # a writer's target block
    secrets: {pg_password: secret}     # values for ${secret:NAME}; unnamed references get canaries
    certify: {partition_bytes: 4096, max_batch_mb: 256, error_source: {...}}

Paths in it are relative to the file. Every ``${secret:NAME}`` reference resolves to the value in
``secrets`` or, without one, to a random canary; a reader's configuration without references gets
canary object-store credentials in ``source.storage``. Partitions, errors and plan summaries are
then searched for every secret value (also base64-, URL- and hex-encoded).
"""

from __future__ import annotations

import base64
import collections
import contextlib
import datetime as dt
import hashlib
import importlib.metadata
import json
import multiprocessing
import os
import resource
import secrets as pysecrets
import shutil
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dativo_workers.errors import ConfigError, DativoError, PluginError

PASS, FAIL, SKIPPED = "pass", "fail", "skipped"
TENANT = "certify"
_PRELOAD_ENV = "DATIVO_CERTIFY_PRELOAD"
UNKNOWN_KEY = "dativo_certify_unknown_key"
CANARY_PREFIX = "dativo-certify-canary-"

READER_CHECKS: dict[str, str] = {
    "api_version": "declares a supported api_version",
    "settings_model": "its settings model rejects unknown keys",
    "plan_json": "plan() returns JSON-serialisable partitions",
    "plan_secrets": "partitions carry no secret values",
    "reads": "every partition reads in a process of its own",
    "disjoint": "partitions are disjoint (no row read by two partitions)",
    "complete": "partitions are complete (all partitions read = the source read once)",
    "repeatable": "reading a partition twice gives the same rows",
    "schema": "batches conform to schema()",
    "batch_memory": "memory per batch is bounded",
    "errors": "errors name the plugin and mask secrets",
    "isolation": "sys.exit and exceptions in plugin code fail only the partition",
    "check": "check() answers without side effects",
    "discover": "discover() answers without side effects",
}
WRITER_CHECKS: dict[str, str] = {
    "api_version": "declares a supported api_version",
    "settings_model": "its settings model rejects unknown keys",
    "output": "close() reports the files it wrote, named with the attempt's prefix",
    "publish": "the files are published exactly once per winning attempt",
    "abort": "abort() leaves nothing",
    "table_format": "to_table() conforms to table_schema()",
    "errors": "errors name the plugin and mask secrets",
    "isolation": "an exception in plugin code fails only its attempt",
}


class CertifyInputError(DativoError):
    """Bad input to the kit (not a plugin, unknown name, unreadable config): exit 2."""


class CertifySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    partition_bytes: int | None = Field(
        4096, ge=1, description="the readers' target partition size while certifying (small: several partitions)"
    )
    max_batch_mb: float = Field(256, gt=0, description="the largest batch a reader may yield")
    held_mb: float = Field(64, gt=0, description="Arrow memory a reader may hold besides its batches")
    error_source: dict[str, Any] | None = Field(
        None, description="a source block that makes the reader fail (wrong port, missing table)"
    )
    whole: dict[str, Any] | None = Field(
        None,
        description="merged over the source block to read the source as one partition (a reader whose own "
        "options split it: {options: {partitions: 1}}); default: without `partitioning`, no size target",
    )
    timeout_s: float = Field(300, gt=0, description="per process reading partitions")


class CertifyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: dict[str, Any] | None = None
    target: dict[str, Any] | None = None
    secrets: dict[str, str] = Field(default_factory=dict)
    certify: CertifySettings = Field(default_factory=CertifySettings)


@dataclass
class Check:
    id: str
    title: str
    status: str
    detail: str = ""


@dataclass
class Subject:
    """What is certified: the plugin class and the job blocks it runs with."""

    spec: str  # as asked: an installed name or `module.Class`
    kind: str  # reader | writer
    name: str
    cls: type
    class_path: str
    by_name: bool
    package: str
    version: str
    base_dir: Path  # the config file's directory: the job's paths resolve against it
    module_dir: Path  # where a `module.Class` plugin is imported from
    config: CertifyConfig
    config_path: Path | None
    secret_values: list[str] = field(default_factory=list)


@dataclass
class Report:
    plugin: str
    kind: str
    class_path: str
    package: str
    version: str
    api_version: Any
    dativo_version: str
    date: str
    config: str | None
    checks: list[Check]
    figures: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0

    @property
    def passed(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    def failed(self) -> list[str]:
        return [c.id for c in self.checks if c.status == FAIL]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        data["summary"] = {s: sum(c.status == s for c in self.checks) for s in (PASS, FAIL, SKIPPED)}
        return data


# ---------------------------------------------------------------------------------------------
# loading what to certify


def load_config(path: Path | None) -> CertifyConfig:
    if path is None:
        return CertifyConfig()
    from dativo_workers.config.yamlio import load_yaml

    if not path.is_file():
        raise CertifyInputError(f"{path}: no such certify configuration file")
    loaded = load_yaml(path.resolve(), expand_env=False)
    if not isinstance(loaded.data, dict):
        raise CertifyInputError(f"{path}: expected a mapping with source/target/secrets/certify")
    try:
        return CertifyConfig.model_validate(loaded.data)
    except ValidationError as exc:
        raise loaded.validation_error(exc) from None


def _installed(name: str) -> list[Any]:
    from dativo_workers.plugins.manager import installed_plugins

    return [p for p in installed_plugins() if p.name == name]


def _import_class(class_path: str, base_dir: Path) -> type:
    from dativo_workers.plugins.manager import _import_plugin_module

    module_name, _, class_name = class_path.rpartition(".")
    if not module_name:
        raise CertifyInputError(f"{class_path!r}: expected an installed plugin name or `package.module.Class`")
    try:
        module = _import_plugin_module(module_name, base_dir)
        return getattr(module, class_name)
    except Exception as exc:
        raise CertifyInputError(f"cannot import {class_path!r}: {type(exc).__name__}: {exc}") from None


def _split_path(class_path: str, base_dir: Path) -> tuple[str, Path]:
    if ".py:" in class_path:
        file, _, cls_name = class_path.partition(".py:")
        module_file = (base_dir / f"{file}.py").resolve()
        return f"{module_file.stem}.{cls_name}", module_file.parent
    return class_path, base_dir


def load_subject(spec: str, config_path: Path | None = None, kind: str | None = None) -> Subject:
    """The plugin ``spec`` names (an installed reader/writer, or `module.Class` importable from the
    config file's directory or installed), with its configuration. Raises CertifyInputError."""
    from dativo_workers.plugins.base import DataReader, DataWriter
    from dativo_workers.plugins.manager import plugin_name

    config = load_config(config_path)
    base_dir = (config_path.resolve().parent if config_path else Path.cwd()).resolve()
    if kind not in (None, "reader", "writer"):
        raise CertifyInputError(f"--kind: expected reader or writer, got {kind!r}")
    found = _installed(spec)
    if found:
        if kind is None:
            kinds = {p.kind for p in found}
            kind = kinds.pop() if len(kinds) == 1 else ("writer" if config.target is not None else "reader")
        matching = [p for p in found if p.kind == kind]
        if not matching:
            raise CertifyInputError(f"{spec!r} is installed as a {found[0].kind}, not a {kind}")
        info = matching[0]
        cls, package, version, by_name = info.cls, info.package, info.version, True
        subject_module_dir = base_dir
        class_path = f"{cls.__module__}.{cls.__qualname__}"
    else:
        if "." not in spec:
            from dativo_workers.plugins.manager import installed_plugins

            known = ", ".join(sorted({p.name for p in installed_plugins()})) or "none"
            raise CertifyInputError(
                f"no installed plugin named {spec!r} (installed: {known}); give an installed name or "
                "a class path `package.module.Class` (a module in the config file's directory works too)"
            )
        # module.Class: from the config file's directory (as a job's plugin_path), else installed;
        # path/to/module.py:Class: that file (relative to the working directory)
        class_path, module_dir = _split_path(spec, Path.cwd()) if ".py:" in spec else (spec, base_dir)
        cls = _import_class(class_path, module_dir)
        if not isinstance(cls, type) or not issubclass(cls, DataReader | DataWriter):
            raise CertifyInputError(f"{spec!r} is not a DataReader or DataWriter subclass (dativo_workers.plugins)")
        found_kind = "reader" if issubclass(cls, DataReader) else "writer"
        if kind is not None and kind != found_kind:
            raise CertifyInputError(f"{spec!r} is a {found_kind}, not a {kind}")
        kind, by_name = found_kind, False
        subject_module_dir = module_dir
        package, version = _distribution_of(cls)
    block = config.source if kind == "reader" else config.target
    if kind == "writer" and config.target is None:
        config.target = {}
    if kind == "reader" and block is None:
        config.source = {}
    return Subject(
        spec=spec,
        kind=kind,
        name=plugin_name(cls),
        cls=cls,
        class_path=class_path,
        by_name=by_name,
        package=package,
        version=version,
        base_dir=base_dir,
        module_dir=subject_module_dir,
        config=config,
        config_path=config_path.resolve() if config_path else None,
    )


def _distribution_of(cls: type) -> tuple[str, str]:
    top = cls.__module__.split(".", 1)[0]
    for dist in importlib.metadata.packages_distributions().get(top, []):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            return dist, importlib.metadata.version(dist)
    return "-", "-"


# ---------------------------------------------------------------------------------------------
# secrets: given values or canaries, through the env provider


def _secret_env(refs: list[Any], given: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Environment variables the env provider reads for ``refs`` (tenant `certify`), and the values."""
    from dativo_workers.secrets.env import env_key

    by_name: dict[str, dict[str, str] | str] = {}
    for ref in refs:
        if ref.name in given:
            by_name[ref.name] = given[ref.name]
            continue
        canary = CANARY_PREFIX + pysecrets.token_hex(8)
        if ref.key is None:
            by_name.setdefault(ref.name, canary)
        else:
            entry = by_name.setdefault(ref.name, {})
            if isinstance(entry, dict):
                entry.setdefault(ref.key, canary)
    env: dict[str, str] = {}
    values: list[str] = []
    for name, value in by_name.items():
        text = json.dumps(value) if isinstance(value, dict) else value
        env[env_key(TENANT, name)] = text
        if isinstance(value, str):  # a given JSON secret: its values are secrets too
            with contextlib.suppress(ValueError):
                parsed = json.loads(value)
                if isinstance(parsed, dict):
                    values += [str(v) for v in parsed.values() if isinstance(v, str | int) and len(str(v)) >= 6]
        values += list(value.values()) if isinstance(value, dict) else [value]
    return env, [v for v in values if v]


def secret_forms(value: str) -> list[str]:
    """A secret as it may appear in text: itself, base64 (standard and URL-safe), URL-quoted, hex."""
    raw = value.encode()
    forms = {
        value,
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        urllib.parse.quote(value, safe=""),
        raw.hex(),
    }
    return [f for f in forms if len(f) >= 6]


def leaked(text: str, values: list[str]) -> list[str]:
    """Which of ``values`` (in any of their forms) ``text`` shows, masked for the report."""
    return [f"{v[:3]}***" for v in values if any(form in text for form in secret_forms(v))]


# ---------------------------------------------------------------------------------------------
# jobs and plugin instances, built as the engine builds them


def _source_block(subject: Subject, source: dict[str, Any] | None = None) -> dict[str, Any]:
    block = dict(subject.config.source or {} if source is None else source)
    block.pop("connector", None)
    if subject.by_name:
        block.pop("reader", None)
        block["connector"] = subject.name
    else:
        reader = dict(block.pop("reader", None) or {})
        options = block.pop("options", None)
        block["reader"] = {
            "type": "plugin",
            "plugin_path": subject.class_path,
            "config": reader.get("config", options or {}),
        }
    return block


def _target_block(subject: Subject, path: str) -> dict[str, Any]:
    block = dict(subject.config.target or {})
    for key in ("connector", "namespace", "table", "format", "format_options"):
        block.pop(key, None)
    block["path"] = path
    if subject.by_name:
        block.pop("writer", None)
        block["connector"] = subject.name
    else:
        writer = dict(block.pop("writer", None) or {})
        options = block.pop("options", None)
        block["writer"] = {
            "type": "plugin",
            "plugin_path": subject.class_path,
            "config": writer.get("config", options or {}),
        }
    return block


def job_data(source: dict[str, Any] | None, target: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "tenant_id": TENANT,
        "name": "certify",
        "source": source or {"connector": "certify_input"},
        "target": target or {"namespace": TENANT, "table": "certify"},
    }


def _loaded_job(data: dict[str, Any], base_dir: Path) -> Any:
    from dativo_workers.config.job import job_from_dict

    return job_from_dict(str(base_dir / "certify-job.yaml"), data)


def build_reader(cls: type, job: Any, partition_bytes: int | None = None) -> Any:
    """``cls`` built for ``job`` by the engine's own ``create_reader`` (settings validated,
    references resolved here, every public method guarded)."""
    from dativo_workers.plugins.manager import create_reader

    return create_reader(job, cls=cls, partition_bytes=partition_bytes)


def _describe(name: str, exc: BaseException) -> str:
    """What the engine stores and prints for ``exc`` raised in plugin ``name``."""
    from dativo_workers.plugins.manager import plugin_error
    from dativo_workers.secrets.redact import describe_error

    return describe_error(plugin_error(name, exc))


# ---------------------------------------------------------------------------------------------
# reading partitions in processes of their own


@dataclass
class ReadResult:
    ok: bool
    error: str = ""
    error_type: str = ""
    files: list[str] = field(default_factory=list)
    rows: int = 0
    batches: int = 0
    rejected: int = 0
    max_batch_bytes: int = 0
    max_held_bytes: int = 0
    schema_problem: str = ""
    died: str = ""


def _read_into(
    reader: Any,
    name: str,
    partition: Any,
    schema: pa.Schema | None,
    out: Path,
) -> ReadResult:
    """Read one partition the way ingest does (guarded iteration), batches to Arrow IPC files."""
    from dativo_workers.conform import to_record_batches
    from dativo_workers.plugins.base import RejectedRecords
    from dativo_workers.plugins.manager import plugin_call, plugin_iter

    result = ReadResult(ok=True)
    sink: ipc.RecordBatchFileWriter | None = None
    sink_schema: pa.Schema | None = None
    baseline = pa.total_allocated_bytes()
    try:
        for obj in plugin_iter(name, plugin_call(name, reader.read, partition, schema)):
            if isinstance(obj, RejectedRecords):
                result.rejected += len(obj)
                continue
            for batch in plugin_iter(name, to_record_batches(obj)):
                result.batches += 1
                result.rows += batch.num_rows
                result.max_batch_bytes = max(result.max_batch_bytes, batch.nbytes)
                if schema is not None and not result.schema_problem:
                    result.schema_problem = schema_problem(batch.schema, schema, batch)
                if sink is None or batch.schema != sink_schema:
                    if sink is not None:
                        sink.close()
                    path = out.with_name(f"{out.name}-{len(result.files)}.arrow")
                    result.files.append(str(path))
                    sink, sink_schema = ipc.new_file(str(path), batch.schema), batch.schema
                sink.write_batch(batch)
                held = pa.total_allocated_bytes() - baseline - batch.nbytes
                del batch
                result.max_held_bytes = max(result.max_held_bytes, held)
            del obj
    except (Exception, SystemExit) as exc:  # a plain sys.exit comes back as a PluginError too
        result.ok, result.error, result.error_type = False, _describe(name, exc), type(exc).__name__
    finally:
        if sink is not None:
            sink.close()
    return result


def schema_problem(actual: pa.Schema, declared: pa.Schema, batch: pa.RecordBatch) -> str:
    """Why a batch does not conform to the declared schema ('' when it does): columns by name, and
    types the engine converts without a bad row."""
    from dativo_workers.conform import cast_values

    missing = [n for n in declared.names if n not in actual.names]
    extra = [n for n in actual.names if n not in declared.names]
    if missing or extra:
        return f"batch columns {actual.names} differ from schema() {declared.names}"
    for f in declared:
        got = actual.field(f.name).type
        if got == f.type:
            continue
        try:
            cast_values(batch.column(f.name), f.type)  # the engine's conversion (conform.Conformer)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            return f"column {f.name!r} is {got}, schema() says {f.type}: {str(exc).splitlines()[0][:120]}"
    return ""


def _process_context() -> Any:
    """Fresh processes forked from a clean server with the engine already imported: each partition
    gets a process of its own at a fraction of a spawn's start-up (the plugin is imported in it)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    os.environ[_PRELOAD_ENV] = "1"  # the server imports every installed plugin once (see the module's end)
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(
        ["dativo_workers.certify", "dativo_workers.plugins.manager", "dativo_workers.conform"]
    )
    return context


def _child_main(payload: dict[str, Any], result_path: str) -> None:
    """A partition process: its outcome goes to ``result_path`` (nothing there: the process died)."""
    outcome = _child_read(payload)
    Path(result_path).write_text(json.dumps(outcome))


def _child_read(payload: dict[str, Any]) -> dict[str, Any]:
    """In a fresh process: build the reader from the job and read the partitions asked for."""
    from dativo_workers.plugins.base import Partition
    from dativo_workers.plugins.manager import plugin_call

    os.environ.clear()
    os.environ.update(payload["env"])
    cls = _import_class(payload["class_path"], Path(payload["module_dir"])) if not payload["by_name"] else None
    if cls is None:
        info = [p for p in _installed(payload["name"]) if p.kind == "reader"]
        cls = info[0].cls
    name = payload["name"]
    schema = ipc.read_schema(pa.py_buffer(bytes.fromhex(payload["schema"]))) if payload["schema"] else None
    out = Path(payload["out"])
    results: list[dict[str, Any]] = []
    job = _loaded_job(payload["job"], Path(payload["base_dir"]))
    for round_no in range(payload.get("rounds", 1)):
        for i, spec in enumerate(payload["partitions"]):
            partition = Partition.from_dict(json.loads(json.dumps(spec)))  # as the ledger hands it over
            try:
                reader = build_reader(cls, job)
            except (Exception, SystemExit) as exc:
                results.append(asdict(ReadResult(ok=False, error=_describe(name, exc), error_type=type(exc).__name__)))
                continue
            try:
                if payload.get("inject") and i == 0 and round_no == 0:
                    results.append(_inject(reader, lambda: build_reader(cls, job), name, partition, schema))
                    continue
                results.append(
                    asdict(_read_into(reader, name, partition, schema, out.with_name(f"{out.name}-r{round_no}-p{i}")))
                )
            finally:
                with contextlib.suppress(Exception, SystemExit):
                    plugin_call(name, reader.close)
    return {"results": results, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def _inject(
    reader: Any, fresh: Callable[[], Any], name: str, partition: Any, schema: pa.Schema | None
) -> dict[str, Any]:
    """Raise SystemExit, then an exception, inside the plugin's read generator after its first
    batch (as if its own code had): each must come out as a PluginError naming the plugin, close()
    must still work, and the process must go on."""
    from dativo_workers.plugins.manager import plugin_call

    notes: list[str] = []
    problems: list[str] = []
    for number, injected in enumerate((SystemExit(3), RuntimeError("dativo certify: injected failure"))):
        if number:  # as on a worker: every partition attempt gets a reader of its own
            reader = fresh()
        try:
            stream = plugin_call(name, reader.read, partition, schema)
        except (Exception, SystemExit) as exc:
            problems.append(f"read() raised before any batch: {_describe(name, exc)}")
            break
        if not hasattr(stream, "throw"):
            notes.append(f"read() returns {type(stream).__name__}, not a generator: nothing injected")
            break
        try:
            plugin_call(name, next, stream)
        except StopIteration:
            notes.append("partition 0 yields no batch: nothing injected")
            break
        except (Exception, SystemExit) as exc:
            problems.append(f"the first batch failed: {_describe(name, exc)}")
            break
        try:
            plugin_call(name, stream.throw, injected)
            problems.append(f"read() swallowed {type(injected).__name__} and yielded another batch")
        except StopIteration:
            problems.append(f"read() swallowed {type(injected).__name__} and ended as if complete")
        except PluginError as exc:
            if not str(exc).startswith(f"plugin {name}"):
                problems.append(f"the error does not name the plugin: {exc}")
        except BaseException as exc:
            problems.append(f"{type(exc).__name__} escaped the engine's guard: {exc}")
        with contextlib.suppress(Exception):
            stream.close()
        try:
            plugin_call(name, reader.close)
        except (Exception, SystemExit) as exc:
            problems.append(f"close() after the {type(injected).__name__} failed: {_describe(name, exc)}")
        notes.append(f"{type(injected).__name__} injected after the first batch")
    return asdict(ReadResult(ok=not problems, error="; ".join(problems), schema_problem="; ".join(notes)))


# ---------------------------------------------------------------------------------------------
# the reader checks


class _Kit:
    def __init__(self, subject: Subject, work: Path) -> None:
        self.subject = subject
        self.work = work
        self.name = subject.name
        self.cls = subject.cls
        self.checks: dict[str, Check] = {}
        self.figures: dict[str, Any] = {}
        self.errors_seen: list[str] = []  # engine texts of every plugin error met on the way
        self.env: dict[str, str] = {}
        self.secret_values: list[str] = []
        self.options = subject.config.certify

    def set(self, check_id: str, status: str, detail: str = "") -> None:
        titles = READER_CHECKS if self.subject.kind == "reader" else WRITER_CHECKS
        self.checks[check_id] = Check(check_id, titles[check_id], status, detail)

    def prepare_secrets(self, blocks: list[Any]) -> None:
        from dativo_workers.secrets import references
        from dativo_workers.secrets.env import env_key

        given = {k: str(v) for k, v in self.subject.config.secrets.items()}
        # a name met before keeps its value (canary): every block of the run resolves it alike
        refs = [r for r in references(blocks) if env_key(TENANT, r.name) not in self.env]
        env, values = _secret_env(refs, given)
        self.env.update(env)  # all of them go to every partition process
        known = set(self.secret_values)
        self.secret_values += [v for v in [*values, *given.values()] if v and v not in known]
        os.environ.update(self.env)
        from dativo_workers.secrets.resolve import active

        active().invalidate()

    # shared by readers and writers
    def check_api_version(self) -> None:
        from dativo_workers.plugins.base import PLUGIN_API_VERSION

        value = getattr(self.cls, "api_version", None)
        declared_on = next((k.__qualname__ for k in self.cls.__mro__ if "api_version" in vars(k)), None)
        if not isinstance(value, int) or isinstance(value, bool):
            self.set("api_version", FAIL, f"api_version is {value!r}: declare the plugin API the class is written for")
        elif not 1 <= value <= PLUGIN_API_VERSION:
            self.set("api_version", FAIL, f"api_version {value}: this dativo-workers supports 1..{PLUGIN_API_VERSION}")
        else:
            self.set("api_version", PASS, f"{value} (declared on {declared_on})")

    def check_settings_model(self, settings: Any) -> None:
        model = getattr(self.cls, "config_model", None)
        if model is None:
            self.set(
                "settings_model",
                FAIL,
                "no config_model: settings are an unchecked dict, a mistyped key is silently ignored "
                "(subclass dativo_workers.plugins.PluginSettings)",
            )
            return
        data = dict(settings) if isinstance(settings, dict) else {}
        try:
            model.model_validate({**data, UNKNOWN_KEY: 1})
        except ValidationError as exc:
            if any(e["type"] == "extra_forbidden" for e in exc.errors()):
                self.set("settings_model", PASS, f"{model.__name__} refuses {UNKNOWN_KEY!r}")
            else:
                self.set(
                    "settings_model", FAIL, f"{model.__name__} failed for another reason: {exc.errors()[0]['msg']}"
                )
            return
        self.set(
            "settings_model", FAIL, f"{model.__name__} accepts an unknown key {UNKNOWN_KEY!r} (set extra='forbid')"
        )

    def check_errors(self, provoked: list[str], how: str) -> None:
        texts = provoked + self.errors_seen
        if not texts:
            self.set("errors", SKIPPED, f"no error could be provoked ({how}); set certify.error_source in the config")
            return
        problems = []
        for text in dict.fromkeys(texts):
            if not text.startswith(f"plugin {self.name}"):
                problems.append(f"does not name the plugin: {text[:200]}")
            if shown := leaked(text, self.secret_values):
                problems.append(f"shows secret {', '.join(shown)}: {text[:80]}...")
        if problems:
            self.set("errors", FAIL, "; ".join(problems))
        else:
            self.set("errors", PASS, f"{len(texts)} error(s), e.g. {texts[0][:160]}")


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if abs(n) < 1024 or unit == "MiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _schema_hex(schema: pa.Schema | None) -> str:
    return schema.serialize().to_pybytes().hex() if schema is not None else ""


def _files_snapshot(root: Path) -> dict[str, tuple[int, int]]:
    snap: dict[str, tuple[int, int]] = {}
    if root.is_dir():
        for path in root.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and ".dativo" not in path.parts:
                stat = path.stat()
                snap[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return snap


def _dirs_snapshot(dirs: list[Path]) -> dict[str, tuple[int, int]]:
    snap: dict[str, tuple[int, int]] = {}
    for directory in dirs:
        snap.update({str(directory / k): v for k, v in _files_snapshot(directory).items()})
    return snap


def _table_of(files: list[str]) -> pa.Table | None:
    tables = []
    for path in files:
        with ipc.open_file(path) as f:
            tables.append(f.read_all())
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]


def row_counts(tables: list[pa.Table | None], columns: list[str] | None = None) -> collections.Counter[str]:
    """The multiset of rows of ``tables`` (each row as canonical JSON of its values by column name)."""
    counts: collections.Counter[str] = collections.Counter()
    for table in tables:
        if table is None or table.num_rows == 0:
            continue
        names = columns or sorted(table.column_names)
        present = [n for n in names if n in table.column_names]
        for batch in table.select(present).to_batches(max_chunksize=65536):
            for row in batch.to_pylist():
                counts[json.dumps([row.get(n) for n in names], default=str)] += 1
    return counts


def _sample_rows(counter: collections.Counter[str], n: int = 2) -> str:
    return ", ".join(k[:120] for k, _ in counter.most_common(n))


class _ReaderKit(_Kit):
    def run(self) -> None:
        subject = self.subject
        source = _source_block(subject)
        self.prepare_secrets([source])
        from dativo_workers.plugins.base import Partition
        from dativo_workers.plugins.manager import plugin_call
        from dativo_workers.secrets import references, resolve

        if not references([source]):  # something to leak: canary object-store credentials
            source = {
                **source,
                "storage": {
                    **dict(source.get("storage") or {}),
                    "s3.access-key-id": "${secret:certify_canary_key_id}",
                    "s3.secret-access-key": "${secret:certify_canary_secret_key}",
                },
            }
            self.prepare_secrets([source])
        self.check_api_version()
        job = _loaded_job(job_data(source, None), subject.base_dir)
        raw = job.config.source.reader.config if job.config.source.reader is not None else job.config.source.options
        try:
            settings = resolve(raw, TENANT)
        except DativoError as exc:
            raise CertifyInputError(f"resolving the configuration's secret references: {exc}") from None
        self.check_settings_model(settings)
        self.job_source = source

        # plan, split small
        try:
            reader = build_reader(self.cls, job, self.options.partition_bytes)
        except ConfigError as exc:
            raise CertifyInputError(str(exc)) from None
        except (Exception, SystemExit) as exc:
            self.errors_seen.append(_describe(self.name, exc))
            self._cannot_plan(f"constructing the reader failed: {self.errors_seen[-1]}")
            return
        try:
            partitions = plugin_call(self.name, reader.plan)
            schema = plugin_call(self.name, reader.schema)
            extras = [
                plugin_call(self.name, reader.plan_summary),
                plugin_call(self.name, reader.planned_state),
                plugin_call(self.name, reader.lineage_inputs),
            ]
        except (Exception, SystemExit) as exc:
            self.errors_seen.append(_describe(self.name, exc))
            self._cannot_plan(f"plan() failed: {self.errors_seen[-1]}")
            with contextlib.suppress(Exception, SystemExit):
                plugin_call(self.name, reader.close)
            return
        with contextlib.suppress(Exception, SystemExit):
            plugin_call(self.name, reader.close)
        self.figures["partitions"] = len(partitions) if isinstance(partitions, list) else None
        specs = self._check_plan_json(partitions, Partition)
        self._check_plan_secrets(specs, extras)
        if specs is None:
            for cid in ("reads", "disjoint", "complete", "repeatable", "schema", "batch_memory", "isolation"):
                self.set(cid, SKIPPED, "plan() gave no usable partitions (see plan_json)")
        else:
            if schema is not None and not isinstance(schema, pa.Schema):
                self.set("schema", FAIL, f"schema() returned {type(schema).__name__}, not a pyarrow.Schema")
                schema = None
            self._check_reads(job, specs, schema)
        self._check_reader_errors(source)
        if "check" not in self.checks:
            self._check_check_discover(job, schema)

    def _cannot_plan(self, why: str) -> None:
        for cid in READER_CHECKS:
            if cid not in self.checks and cid not in ("errors",):
                self.set(cid, FAIL if cid == "plan_json" else SKIPPED, why if cid == "plan_json" else "plan() failed")
        self._check_reader_errors(self.job_source)

    def _check_plan_json(self, partitions: Any, partition_cls: type) -> list[dict[str, Any]] | None:
        if not isinstance(partitions, list) or not all(isinstance(p, partition_cls) for p in partitions):
            self.set("plan_json", FAIL, f"plan() must return a list of Partition, got {type(partitions).__name__}")
            return None
        if not partitions:
            self.set("plan_json", FAIL, "plan() returned no partition (the certify source must hold data)")
            return None
        specs = []
        for p in partitions:
            try:
                text = json.dumps(p.to_dict())
            except (TypeError, ValueError) as exc:
                self.set("plan_json", FAIL, f"partition {p.index}: spec is not JSON-serialisable: {exc}")
                return None
            back = json.loads(text)
            if partition_cls.from_dict(back) != p:
                self.set("plan_json", FAIL, f"partition {p.index}: spec changes through JSON ({p.spec!r:.120})")
                return None
            specs.append(back)
        indexes = [s["index"] for s in specs]
        if len(set(indexes)) != len(indexes):
            self.set("plan_json", FAIL, f"partition indexes repeat: {indexes[:20]}")
            return None
        self.set("plan_json", PASS, f"{len(specs)} partition(s)")
        return specs

    def _check_plan_secrets(self, specs: list[dict[str, Any]] | None, extras: list[Any]) -> None:
        text = json.dumps(specs, default=str) + json.dumps(extras, default=str)
        if shown := leaked(text, self.secret_values):
            self.set("plan_secrets", FAIL, f"plan output holds secret value(s) {', '.join(shown)}")
        elif specs is None:
            self.set("plan_secrets", SKIPPED, "no partitions to search")
        else:
            self.set(
                "plan_secrets",
                PASS,
                f"{len(self.secret_values)} secret value(s) searched in partitions and plan output",
            )

    def _payload(self, job: Any, specs: list[dict[str, Any]], schema: pa.Schema | None, out: str, **kw: Any) -> dict:
        s = self.subject
        return {
            # the whole environment: the fork server's copy is the one of its start, and the job's
            # `${VAR}` references are expanded in the partition process
            "env": {**os.environ, **self.env},
            "class_path": s.class_path,
            "base_dir": str(s.base_dir),
            "module_dir": str(s.module_dir),
            "by_name": s.by_name,
            "name": self.name,
            "schema": _schema_hex(schema),
            "job": job.raw,
            "partitions": specs,
            "out": str(self.work / out),
            **kw,
        }

    def _run_children(self, payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each payload in a process of its own (two at a time); a process that dies is reported
        with its exit code, and only for its own partitions."""
        context = _process_context()
        outcomes: dict[int, dict[str, Any]] = {}
        pending = list(enumerate(payloads))
        running: list[tuple[int, Any, Path, float]] = []
        while pending or running:
            while pending and len(running) < 2:
                i, payload = pending.pop(0)
                result_path = self.work / f"result-{i}-{pysecrets.token_hex(4)}.json"
                process = context.Process(target=_child_main, args=(payload, str(result_path)), daemon=True)
                process.start()
                running.append((i, process, result_path, time.monotonic()))
            running[0][1].join(timeout=0.05)
            for entry in list(running):
                j, proc, path, began = entry
                if proc.is_alive() and time.monotonic() - began < self.options.timeout_s:
                    continue
                if proc.is_alive():
                    proc.kill()
                    proc.join()
                running.remove(entry)
                outcomes[j] = self._outcome(payloads[j], proc.exitcode, path)
        return [outcomes[i] for i in range(len(payloads))]

    def _outcome(self, payload: dict[str, Any], exitcode: int | None, path: Path) -> dict[str, Any]:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            pass
        if exitcode is not None and exitcode < 0:
            died = f"the process reading it was killed by signal {-exitcode}"
        elif exitcode == 0:
            died = "the process reading it ended without a result"
        else:
            died = f"the process reading it exited with code {exitcode}"
        n = len(payload["partitions"]) * payload.get("rounds", 1)
        return {"results": [asdict(ReadResult(ok=False, died=died, error=died))] * n}

    def _whole_source(self) -> dict[str, Any]:
        """The source block read as one partition (certify.whole merged over it)."""
        source = dict(self.job_source)
        source.pop("partitioning", None)
        overlay = dict(self.options.whole or {})
        options = overlay.pop("options", None)
        source.update(overlay)
        if options is not None and "reader" in source:  # a plugin_path reader: its settings are reader.config
            reader = dict(source["reader"])
            reader["config"] = {**dict(reader.get("config") or {}), **dict(options)}
            source["reader"] = reader
        elif options is not None:
            source["options"] = {**dict(source.get("options") or {}), **dict(options)}
        return source

    def _check_reads(self, job: Any, specs: list[dict[str, Any]], schema: pa.Schema | None) -> None:
        # the source read once: one partition where the reader allows it
        once_job = _loaded_job(job_data(self._whole_source(), None), self.subject.base_dir)
        try:
            once_reader = build_reader(self.cls, once_job, 2**62)
            once_specs = [p.to_dict() for p in once_reader.plan()]
            once_reader.close()
        except (Exception, SystemExit) as exc:
            once_specs = specs
            self.figures["once_plan_error"] = _describe(self.name, exc)
        self.figures["once_partitions"] = len(once_specs)
        started = time.monotonic()
        payloads = [self._payload(job, [s], schema, f"part{i}", rounds=2) for i, s in enumerate(specs)]
        payloads.append(self._payload(once_job, once_specs, schema, "once"))
        payloads.append(self._payload(job, [specs[0], specs[-1]], schema, "inject", inject=True))
        outcomes = self._run_children(payloads)
        self.figures["read_s"] = round(time.monotonic() - started, 2)
        self.figures["max_rss_mb"] = round(max(o.get("maxrss_kb", 0) for o in outcomes) / 1024, 1)
        per_part = [[ReadResult(**r) for r in o["results"]] for o in outcomes[: len(specs)]]
        once = [ReadResult(**r) for r in outcomes[len(specs)]["results"]]
        inject = [ReadResult(**r) for r in outcomes[len(specs) + 1]["results"]]

        failed = [(i, r) for i, rs in enumerate(per_part) for r in rs if not r.ok]
        once_failed = [r for r in once if not r.ok]
        for _, r in failed:
            self.errors_seen.append(r.error) if not r.died else None
        if failed:
            i, r = failed[0]
            self.set("reads", FAIL, f"{len(failed)} read(s) failed; partition {specs[i]['index']}: {r.error[:300]}")
        elif once_failed:
            self.set("reads", FAIL, f"reading the source as one partition failed: {once_failed[0].error[:300]}")
        else:
            rows = sum(rs[0].rows for rs in per_part)
            self.set("reads", PASS, f"{len(specs)} partition(s), {rows} row(s), each in a fresh process")
        self.figures["rows"] = sum(rs[0].rows for rs in per_part if rs and rs[0].ok)
        self.figures["rejected"] = sum(rs[0].rejected for rs in per_part if rs and rs[0].ok)

        died = [r.died for rs in per_part for r in rs if r.died] + [r.died for r in inject if r.died]
        if died:
            self.set(
                "isolation",
                FAIL,
                f"plugin code ended its process: {died[0]} (the engine loses every partition of that process)",
            )
        else:
            inj = inject[0] if inject else ReadResult(ok=False, error="not run")
            after = inject[1] if len(inject) > 1 else None
            if not inj.ok:
                self.set("isolation", FAIL, inj.error[:400])
            elif after is not None and not after.ok and not failed:
                self.set("isolation", FAIL, f"the process could not read on after the failure: {after.error[:300]}")
            else:
                self.set("isolation", PASS, (inj.schema_problem or "contained") + "; the process read on")
        if failed or once_failed:
            for cid in ("disjoint", "complete", "repeatable", "schema", "batch_memory"):
                self.set(cid, SKIPPED, "partition reads failed (see reads)")
            return

        tables = [_table_of(rs[0].files) for rs in per_part]
        seconds = [_table_of(rs[1].files) for rs in per_part]
        once_table = _table_of([f for r in once for f in r.files])
        columns = sorted(once_table.column_names) if once_table is not None else None
        union = row_counts(tables, columns)
        whole = row_counts([once_table], columns)
        extra, missing = union - whole, whole - union
        rejected_parts = sum(rs[0].rejected for rs in per_part)
        rejected_once = sum(r.rejected for r in once)
        if rejected_parts > rejected_once:  # records the reader could not make rows of count too
            extra[f"({rejected_parts - rejected_once} rejected record(s) more than the source read once)"] = 1
        elif rejected_parts < rejected_once:
            missing[f"({rejected_once - rejected_parts} rejected record(s) fewer than the source read once)"] = 1
        if len(specs) > 1 and [s["spec"] for s in once_specs] == [s["spec"] for s in specs]:
            why = (
                "the source read once is planned as the same partitions: nothing to compare with; "
                "set certify.whole (e.g. {options: {partitions: 1}})"
            )
            self.set("disjoint", SKIPPED, why)
            self.set("complete", SKIPPED, why)
        elif extra:
            self.set(
                "disjoint",
                FAIL,
                f"{sum(extra.values())} row(s) read by more than one partition, e.g. {_sample_rows(extra)}",
            )
        else:
            self.set("disjoint", PASS, f"{sum(union.values())} row(s), none read twice")
        if "complete" in self.checks:
            pass
        elif missing:
            self.set(
                "complete",
                FAIL,
                f"{sum(missing.values())} row(s) of the source in no partition, e.g. {_sample_rows(missing)}",
            )
        elif not whole:
            self.set("complete", SKIPPED, "the source read once holds no row: give the config a source with data")
        else:
            self.set("complete", PASS, f"{len(specs)} partition(s) = the source read once ({sum(whole.values())} rows)")
        differ = [
            specs[i]["index"]
            for i, (a, b) in enumerate(zip(tables, seconds, strict=True))
            if row_counts([a], columns) != row_counts([b], columns)
        ]
        if differ:
            self.set("repeatable", FAIL, f"partition(s) {differ[:10]} gave other rows the second time")
        else:
            self.set("repeatable", PASS, "every partition read twice, same rows")

        if schema is None:
            self.set("schema", SKIPPED, "schema() declares none (None): the job's asset gives the types")
        else:
            problems = [
                (specs[i]["index"], r.schema_problem) for i, rs in enumerate(per_part) for r in rs if r.schema_problem
            ]
            if problems:
                self.set("schema", FAIL, f"partition {problems[0][0]}: {problems[0][1]}")
            else:
                self.set("schema", PASS, f"every batch has schema()'s {len(schema)} column(s) and types")

        results = [r for rs in per_part for r in rs] + once
        max_batch = max((r.max_batch_bytes for r in results), default=0)
        max_held = max((r.max_held_bytes for r in results), default=0)
        self.figures["max_batch_bytes"], self.figures["max_held_bytes"] = max_batch, max_held
        self.figures["batches"] = sum(rs[0].batches for rs in per_part)
        limit = int(self.options.max_batch_mb * 1024 * 1024)
        held_limit = max(4 * max_batch, int(self.options.held_mb * 1024 * 1024))
        if max_batch == 0:
            self.set("batch_memory", SKIPPED, "no batch was read")
        elif max_batch > limit:
            self.set("batch_memory", FAIL, f"a batch of {_size(max_batch)} (limit {_size(limit)})")
        elif max_held > held_limit:
            self.set(
                "batch_memory",
                FAIL,
                f"{_size(max_held)} of Arrow memory held besides the current batch (limit {_size(held_limit)}): "
                "the reader keeps what it read",
            )
        else:
            self.set(
                "batch_memory",
                PASS,
                f"largest batch {_size(max_batch)}, at most {_size(max(0, max_held))} held besides it "
                f"({self.figures['batches']} batches)",
            )

    def _check_reader_errors(self, source: dict[str, Any]) -> None:
        from dativo_workers.plugins.base import Partition
        from dativo_workers.plugins.manager import plugin_call

        provoked: list[str] = []
        how = ""
        error_source = self.options.error_source
        attempts: list[tuple[str, dict[str, Any], Path]] = []
        if error_source is not None:
            attempts.append(("certify.error_source", _source_block(self.subject, error_source), self.subject.base_dir))
        empty = self.work / "empty"
        empty.mkdir(exist_ok=True)
        attempts.append(("the source with relative paths against an empty directory", source, empty))
        for what, block, base in attempts:
            how = what
            try:
                self.prepare_secrets([block]) if block is not source else None
                job = _loaded_job(job_data(block, None), base)
                reader = build_reader(self.cls, job)
            except ConfigError as exc:
                raise CertifyInputError(f"certify.error_source: {exc}") from None
            except (Exception, SystemExit) as exc:
                provoked.append(_describe(self.name, exc))
                break
            try:
                parts = plugin_call(self.name, reader.plan) or [Partition(0, {})]
                for _ in plugin_call(self.name, reader.read, parts[0], None):
                    pass
            except (Exception, SystemExit) as exc:
                provoked.append(_describe(self.name, exc))
            finally:
                with contextlib.suppress(Exception, SystemExit):
                    plugin_call(self.name, reader.close)
            if provoked:
                break
        self.check_errors(provoked, how)

    def _check_check_discover(self, job: Any, schema: pa.Schema | None) -> None:
        from dativo_workers.plugins.base import DataReader, DiscoveredObject
        from dativo_workers.plugins.manager import plugin_call

        implemented = {m: getattr(self.cls, m) is not getattr(DataReader, m) for m in ("check", "discover")}
        if not any(implemented.values()):
            self.set("check", SKIPPED, "check() not implemented (the base class's default)")
            self.set("discover", SKIPPED, "discover() not implemented (the base class's default)")
            return
        once_job = _loaded_job(job_data(self._whole_source(), None), self.subject.base_dir)
        watched = self._watched_dirs()
        before_files = _dirs_snapshot(watched)
        before = self._read_once(once_job, schema, "before")
        answers: dict[str, str] = {}
        for method in ("check", "discover"):
            if not implemented[method]:
                self.set(method, SKIPPED, f"{method}() not implemented (the base class's default)")
                continue
            try:
                reader = build_reader(self.cls, job)
                answer = plugin_call(self.name, getattr(reader, method))
                plugin_call(self.name, reader.close)
            except (Exception, SystemExit) as exc:
                self.set(method, FAIL, f"{method}() raised: {_describe(self.name, exc)[:300]}")
                continue
            if method == "check" and not (isinstance(answer, list) and all(isinstance(a, str) for a in answer)):
                self.set(method, FAIL, f"check() must return a list of messages, got {answer!r:.120}")
            elif method == "discover" and not (
                isinstance(answer, list) and all(isinstance(a, DiscoveredObject) for a in answer)
            ):
                self.set(method, FAIL, f"discover() must return a list of DiscoveredObject, got {answer!r:.120}")
            elif method == "check" and answer:
                self.set(method, FAIL, f"check() reports problems with a working source: {answer[:3]}")
            elif shown := leaked(json.dumps([str(a) for a in answer]), self.secret_values):
                self.set(method, FAIL, f"{method}() answer shows secret value(s) {', '.join(shown)}")
            else:
                answers[method] = f"{len(answer)} {'problem(s)' if method == 'check' else 'object(s)'}"
        after_files = _dirs_snapshot(watched)
        after = self._read_once(once_job, schema, "after")
        changed = sorted(set(before_files.items()) ^ set(after_files.items()))
        for method, what in answers.items():
            if changed:
                self.set(method, FAIL, f"files of the source changed: {changed[0][0]}")
            elif before is None or after is None:
                self.set(method, FAIL, "the source could not be read around the call")
            elif before != after:
                self.set(method, FAIL, "the source's rows differ after the call")
            else:
                self.set(method, PASS, f"{what}; files and rows unchanged")

    def _watched_dirs(self) -> list[Path]:
        """The local directories the source's files lie in (where a side effect would show)."""
        dirs: set[Path] = set()
        for entry in self.job_source.get("files") or []:
            pattern = str(entry.get("path", "")) if isinstance(entry, dict) else ""
            if not pattern or "://" in pattern:
                continue
            head = Path(pattern.split("*", 1)[0])
            base = head if pattern.endswith("/") else head.parent
            dirs.add((self.subject.base_dir / base).resolve())
        return sorted(d for d in dirs if d.is_dir())

    def _read_once(self, job: Any, schema: pa.Schema | None, tag: str) -> collections.Counter[str] | None:
        try:
            reader = build_reader(self.cls, job, 2**62)
            specs = [p.to_dict() for p in reader.plan()]
            reader.close()
        except (Exception, SystemExit):
            return None
        outcome = self._run_children([self._payload(job, specs, schema, tag)])[0]
        results = [ReadResult(**r) for r in outcome["results"]]
        if not all(r.ok for r in results):
            return None
        return row_counts([_table_of([f for r in results for f in r.files])])


# ---------------------------------------------------------------------------------------------
# the writer checks


def sample_batches(partition: int, batches: int = 2, rows: int = 250) -> list[pa.RecordBatch]:
    """Rows a writer is given when the config names no source: several types, nulls, unicode."""
    out = []
    for b in range(batches):
        start = (partition * batches + b) * rows
        ids = list(range(start, start + rows))
        out.append(
            pa.record_batch(
                {
                    "id": pa.array(ids, pa.int64()),
                    "name": pa.array([None if i % 17 == 0 else f"name {i} é" for i in ids], pa.string()),
                    "amount": pa.array([i * 1.25 for i in ids], pa.float64()),
                    "active": pa.array([i % 2 == 0 for i in ids], pa.bool_()),
                    "created_at": pa.array(
                        [dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=i) for i in ids],
                        pa.timestamp("us", tz="UTC"),
                    ),
                }
            )
        )
    return out


class _WriterKit(_Kit):
    def run(self) -> None:
        from dativo_workers.ledger import Fragment
        from dativo_workers.plugins.manager import validate_settings
        from dativo_workers.secrets import resolve
        from dativo_workers.writers import WriterSink, publish_run

        subject = self.subject
        out = self.work / "target"
        target = _target_block(subject, str(out))
        self.prepare_secrets([target])
        self.check_api_version()
        job = _loaded_job(job_data(None, target), subject.base_dir)
        target_cfg = job.config.target
        raw, key = (
            (target_cfg.writer.config, "target.writer.config")
            if target_cfg.writer is not None
            else (target_cfg.options, "target.options")
        )
        cls = subject.cls  # built as the engine builds a writer (plugins.manager.target_writer), from this class
        try:
            settings = validate_settings(cls, resolve(raw, TENANT), key, job)
        except ConfigError as exc:
            raise CertifyInputError(str(exc)) from None
        self.check_settings_model(raw)
        inputs = self._inputs()
        schema = inputs[0][0].schema
        rows_in = [sum(b.num_rows for b in part) for part in inputs]

        self._check_writer_errors(cls, settings, job, schema, inputs[0])
        run_id = "certify-" + pysecrets.token_hex(4)
        staging_root = f"{out}/_dativo_staging/{run_id}"
        from dativo_workers.fragments import staging_dir

        staging_root = f"{out}/{staging_dir(run_id)}"

        def attempt(partition: int, number: int, abort: bool = False) -> tuple[list[Fragment], str]:
            prefix = f"{run_id}-p{partition:05d}-a{number:02d}"
            sink = WriterSink(cls, settings, job, staging=staging_root, storage={}, prefix=prefix, schema=schema)
            try:
                for batch in inputs[partition]:
                    sink.write(batch)
                if abort:
                    from dativo_workers.plugins.manager import plugin_call

                    plugin_call(self.name, sink.writer.abort)
                    return [], prefix
                return sink.close(), prefix
            except BaseException:
                sink.abort()
                raise

        problems: list[str] = []
        attempts: dict[tuple[int, int], list[Fragment]] = {}
        try:
            for key in ((0, 1), (0, 2), (1, 1)):
                attempts[key] = attempt(*key)[0]
        except (Exception, SystemExit) as exc:
            text = _describe(self.name, exc) if not isinstance(exc, PluginError) else str(exc)
            self.set("output", FAIL, text[:400])
            for cid in ("publish", "abort"):
                self.set(cid, SKIPPED, "writing failed (see output)")
            self._check_table_format(cls, settings, job, schema, inputs[0])
            self._isolation_after_errors(ok=False)
            return
        for (p, a), frags in attempts.items():
            reported = sum(f.rows for f in frags)
            if reported != rows_in[p]:
                problems.append(f"attempt p{p}-a{a} reported {reported} rows for {rows_in[p]} written")
        self.set(
            "output",
            FAIL if problems else PASS,
            "; ".join(problems) or f"{sum(len(f) for f in attempts.values())} file(s) over 3 attempts, rows as written",
        )
        self._isolation_after_errors(ok=True)

        # abort: nothing of the attempt left, after the plugin's abort() and the engine's cleanup by prefix
        before = _files_snapshot(self.work)
        try:
            _, prefix = attempt(0, 3, abort=True)
            for path in Path(staging_root).rglob(f"{prefix}*"):  # what WriterSink.abort does
                if path.is_file():
                    path.unlink()
            after = _files_snapshot(self.work)
            new = sorted(set(after) - set(before))
            if new:
                self.set("abort", FAIL, f"after abort() files remain: {new[:3]}")
            else:
                self.set("abort", PASS, "no file of the aborted attempt remains")
        except (Exception, SystemExit) as exc:
            self.set("abort", FAIL, f"abort() raised: {_describe(self.name, exc)[:300]}")

        # publish: the winners (p0 a02, p1 a01), twice (a commit re-run)
        winners = attempts[(0, 2)] + attempts[(1, 1)]
        losers = attempts[(0, 1)]
        try:
            publish_run(str(out), run_id, winners, {})
            first = _published(out)
            publish_run(str(out), run_id, winners, {})
            second = _published(out)
        except Exception as exc:
            self.set("publish", FAIL, f"publishing failed: {exc}")
        else:
            expected = {f.path.split(f"{staging_root}/", 1)[-1] for f in winners}
            lost = {f.path.split(f"{staging_root}/", 1)[-1] for f in losers}
            issues = []
            if set(first) != expected:
                issues.append(f"published {sorted(first)[:4]}, expected the winners' {sorted(expected)[:4]}")
            if set(first) & lost:
                issues.append("a losing attempt's file was published")
            if first != second:
                issues.append("publishing again changed the target")
            if Path(staging_root).exists() and any(Path(staging_root).rglob("*")):
                issues.append("the staging area was left with files")
            self.set(
                "publish",
                FAIL if issues else PASS,
                "; ".join(issues) or f"{len(first)} file(s) of the 2 winning attempts, once; the loser's dropped",
            )
        self._check_table_format(cls, settings, job, schema, inputs[0])

    def _inputs(self) -> list[list[pa.RecordBatch]]:
        source = self.subject.config.source
        if not source:
            return [sample_batches(0), sample_batches(1)]
        from dativo_workers.conform import to_record_batches
        from dativo_workers.plugins.manager import reader_class

        connector = source.get("connector")
        if not connector:
            raise CertifyInputError("a writer's config `source` (its input data) needs `connector`")
        cls = reader_class(connector)
        job = _loaded_job(job_data(source, None), self.subject.base_dir)
        reader = build_reader(cls, job)
        batches: list[pa.RecordBatch] = []
        schema = reader.schema()
        for p in reader.plan():
            for obj in reader.read(p, schema):
                batches += list(to_record_batches(obj)) if not hasattr(obj, "reasons") else []
        reader.close()
        table = pa.Table.from_batches(batches).combine_chunks()
        half = table.num_rows // 2
        return [
            table.slice(0, half).to_batches() or [table.slice(0, 0).to_batches()[0]],
            table.slice(half).to_batches(),
        ]

    def _check_writer_errors(self, cls: type, settings: Any, job: Any, schema: pa.Schema, batches: list) -> None:
        """A writer whose output_dir is a regular file cannot write: its error must name it and hide secrets."""
        from dativo_workers.plugins.base import WriterContext
        from dativo_workers.plugins.manager import plugin_call

        blocker = self.work / "not-a-directory"
        blocker.write_text("certify")
        context = WriterContext(
            output_dir=blocker, file_prefix="certify-p00000-a01", schema=schema, base_dir=job.base_dir, tenant_id=TENANT
        )
        provoked: list[str] = []
        writer = None
        try:
            writer = plugin_call(self.name, cls, settings, context)
            for batch in batches:
                plugin_call(self.name, writer.write, batch)
            plugin_call(self.name, writer.close)
        except (Exception, SystemExit) as exc:
            self.provoked_exc = exc
            provoked.append(str(exc) if isinstance(exc, PluginError) else _describe(self.name, exc))
            if writer is not None:
                with contextlib.suppress(Exception, SystemExit):
                    plugin_call(self.name, writer.abort)
        self.provoked = provoked
        self.check_errors(provoked, "writing into an output_dir that is a regular file")

    def _isolation_after_errors(self, ok: bool) -> None:
        if not getattr(self, "provoked", None):
            self.set("isolation", SKIPPED, "no failure could be provoked (see errors)")
        elif not ok:
            self.set("isolation", FAIL, "after a failed attempt, the next attempt in the same process failed too")
        else:
            self.set(
                "isolation", PASS, "the failed attempt raised a PluginError; the next attempts in the process wrote"
            )

    def _check_table_format(self, cls: type, settings: Any, job: Any, schema: pa.Schema, batches: list) -> None:
        from dativo_workers.conform import to_record_batches
        from dativo_workers.plugins.base import WriterContext
        from dativo_workers.plugins.manager import plugin_call, plugin_iter

        scratch = self.work / "format"
        scratch.mkdir(exist_ok=True)
        try:
            writer = plugin_call(
                self.name, cls, settings, WriterContext(output_dir=scratch, file_prefix="certify-fmt", schema=schema)
            )
            table_schema = plugin_call(self.name, writer.table_schema, schema)
            if table_schema is None:
                self.set("table_format", SKIPPED, "table_schema() is None: not an Iceberg table format")
                return
            rows = 0
            for batch in batches:
                for part in plugin_iter(self.name, to_record_batches(plugin_call(self.name, writer.to_table, batch))):
                    if problem := schema_problem(part.schema, table_schema, part):
                        self.set("table_format", FAIL, problem)
                        return
                    rows += part.num_rows
            self.set("table_format", PASS, f"{rows} row(s) in table_schema()'s {len(table_schema)} column(s)")
        except (Exception, SystemExit) as exc:
            self.set("table_format", FAIL, f"{_describe(self.name, exc)[:300]}")


def _published(out: Path) -> dict[str, tuple[int, int]]:
    return {k: v for k, v in _files_snapshot(out).items() if not k.startswith("_dativo")}


# ---------------------------------------------------------------------------------------------
# entry points


def dativo_version() -> str:
    try:
        return importlib.metadata.version("dativo-workers")
    except importlib.metadata.PackageNotFoundError:
        return "-"


def certify(subject: Subject) -> Report:
    """Run every check on ``subject``. Raises CertifyInputError for bad input."""
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="dativo-certify-"))
    saved_env = dict(os.environ)
    kit: _Kit = _ReaderKit(subject, work) if subject.kind == "reader" else _WriterKit(subject, work)
    try:
        kit.run()  # type: ignore[attr-defined]
    finally:
        os.environ.pop(_PRELOAD_ENV, None)
        for key in kit.env:
            if key not in saved_env:
                os.environ.pop(key, None)
            else:
                os.environ[key] = saved_env[key]
        shutil.rmtree(work, ignore_errors=True)
    order = READER_CHECKS if subject.kind == "reader" else WRITER_CHECKS
    for cid in order:
        if cid not in kit.checks:
            kit.set(cid, SKIPPED, "not reached")
    checks = [kit.checks[cid] for cid in order]
    return Report(
        plugin=subject.name,
        kind=subject.kind,
        class_path=subject.class_path,
        package=subject.package,
        version=subject.version,
        api_version=getattr(subject.cls, "api_version", None),
        dativo_version=dativo_version(),
        date=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        config=_shown_path(subject.config_path),
        checks=checks,
        figures=kit.figures,
        duration_s=round(time.monotonic() - started, 2),
    )


def _shown_path(path: Path | None) -> str | None:
    """A config path for the report: relative to the working directory when under it."""
    if path is None:
        return None
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# A local cache of reports, read by `dativo plugins list` (certification status of what is installed).


def report_cache_dir() -> Path:
    explicit = os.environ.get("DATIVO_CERTIFY_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dativo" / "certify"


def _cache_key(name: str, kind: str, package: str) -> str:
    digest = hashlib.sha256(f"{package}\0{kind}\0{name}".encode()).hexdigest()[:12]
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    return f"{kind}-{safe}-{digest}.json"


def save_report(report: Report) -> Path | None:
    directory = report_cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / _cache_key(report.plugin, report.kind, report.package)
        path.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        return path
    except OSError:
        return None


def cached_report(name: str, kind: str, package: str) -> dict[str, Any] | None:
    path = report_cache_dir() / _cache_key(name, kind, package)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------
# pytest plugin: `pytest -p dativo_workers.certify --dativo-plugin NAME [--dativo-plugin-config FILE]`


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("dativo", "Dativo plugin certification")
    group.addoption("--dativo-plugin", action="append", default=None, help="plugin to certify: NAME or module.Class")
    group.addoption("--dativo-plugin-config", default=None, help="certify configuration file (source/target)")
    group.addoption("--dativo-plugin-kind", default=None, help="reader or writer (for a name that is both)")
    parser.addini("dativo_plugin", "plugin(s) to certify: NAME or module.Class", type="linelist", default=[])
    parser.addini("dativo_plugin_config", "certify configuration file", default="")
    parser.addini("dativo_plugin_kind", "reader or writer", default="")


def _pytest_targets(config: Any) -> tuple[list[str], Path | None, str | None]:
    names = config.getoption("dativo_plugin") or config.getini("dativo_plugin")
    cfg = config.getoption("dativo_plugin_config") or config.getini("dativo_plugin_config") or None
    kind = config.getoption("dativo_plugin_kind") or config.getini("dativo_plugin_kind") or None
    path = Path(cfg) if cfg else None
    if path is not None and not path.is_absolute():
        path = Path(str(config.rootpath)) / path if not path.exists() else path
    return list(names), path, kind


def pytest_collection_modifyitems(session: Any, config: Any, items: list[Any]) -> None:
    import pytest

    names, path, kind = _pytest_targets(config)
    if not names:
        return

    class CertifyItem(pytest.Item):
        def __init__(self, *, spec: str, check_id: str, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.spec, self.check_id = spec, check_id

        def runtest(self) -> None:
            report = _pytest_report(config, self.spec, path, kind)
            check = next(c for c in report.checks if c.id == self.check_id)
            if check.status == SKIPPED:
                pytest.skip(check.detail)
            if check.status == FAIL:
                raise AssertionError(f"{check.title}: {check.detail}")

        def reportinfo(self) -> tuple[str, int, str]:
            return f"dativo-certify {self.spec}", 0, f"{self.spec}::{self.check_id}"

        def repr_failure(self, excinfo: Any, style: Any = None) -> str:
            return str(excinfo.value)

    for spec in names:
        try:
            subject_kind = load_subject(spec, path, kind).kind
        except CertifyInputError as exc:
            raise pytest.UsageError(f"dativo certify: {exc}") from None
        titles = READER_CHECKS if subject_kind == "reader" else WRITER_CHECKS
        for check_id in titles:
            items.append(
                CertifyItem.from_parent(session, name=f"certify[{spec}::{check_id}]", spec=spec, check_id=check_id)
            )


_pytest_reports: dict[str, Report] = {}


def _pytest_report(config: Any, spec: str, path: Path | None, kind: str | None) -> Report:
    if spec not in _pytest_reports:
        _pytest_reports[spec] = certify(load_subject(spec, path, kind))
    return _pytest_reports[spec]


__all__ = [
    "FAIL",
    "PASS",
    "READER_CHECKS",
    "SKIPPED",
    "WRITER_CHECKS",
    "CertifyInputError",
    "Check",
    "Report",
    "cached_report",
    "certify",
    "load_subject",
    "save_report",
]


if os.environ.get(_PRELOAD_ENV) == "1":
    # in the fork server: what every partition's process needs, imported once
    from dativo_workers import conform as _conform  # noqa: F401
    from dativo_workers.config import job as _job  # noqa: F401
    from dativo_workers.plugins.manager import installed_plugins as _installed_plugins

    _installed_plugins()
