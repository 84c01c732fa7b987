"""Job configuration: one source, an optional asset (data contract) and one target.

`${ENV}` references are expanded for validation and use but kept in `LoadedJob.raw`, the form
the ledger stores: a password passed as `${DB_PASSWORD}` never lands in the ledger, and every
process that loads the stored job (a worker) expands it from its own environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from dativo_workers.config.encryption import EncryptionConfig
from dativo_workers.config.yamlio import LoadedYaml, expand_env_vars, format_key_path, load_yaml
from dativo_workers.errors import ConfigError
from dativo_workers.plugins.base import parse_lookback
from dativo_workers.secrets import redact
from dativo_workers.secrets.base import SecretError, parse_references, tenant_problem

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
OBJECT_PLACEHOLDER = "{object}"
_ENV_NAME = re.compile(r"\$\{(?!secret:)([A-Za-z_][A-Za-z0-9_]*)")
_TRANSFORM = re.compile(r"^(identity|year|month|day|hour|void|bucket\[\d+\]|truncate\[\d+\])$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileEntry(Strict):
    path: str = Field(description="a local path or glob (relative to the job file), or s3://, gs://, abfs:// URIs")

    @field_validator("path")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        from dativo_workers.storage import unsupported_scheme  # storage imports the config package

        if (problem := unsupported_scheme(value)) is not None:
            raise ValueError(problem)
        return value


class TableEntry(Strict):
    name: str
    object: str | None = None


class PluginRef(Strict):
    type: Literal["plugin"] = "plugin"
    plugin_path: str = Field(description="package.module.Class, importable from the job's directory")
    config: dict[str, Any] = Field(default_factory=dict)


class Partitioning(Strict):
    column: str | None = None
    partitions: int | None = Field(default=None, ge=1)
    target_rows: int | None = Field(default=None, ge=1)
    target_mb: int = Field(default=128, ge=1, description="target partition size for file sources")
    consistency: Literal["snapshot", "relaxed"] = Field(
        default="snapshot",
        description="relaxed: a source may split even where its partitions cannot read one consistent "
        "state (each reads its own; see the connector's docs)",
    )


class Incremental(Strict):
    mode: Literal["cursor", "new_files"] = Field(
        default="cursor",
        description="cursor: rows past the last committed cursor value; new_files: files (objects) no "
        "earlier committed run of the job loaded, late-arriving ones included",
    )
    cursor_field: str | None = None
    lookback: str | None = None

    @model_validator(mode="after")
    def _fields_of_the_mode(self) -> Incremental:
        if self.mode == "cursor" and self.cursor_field is None:
            raise ValueError("set `cursor_field` (or `mode: new_files` for file sources)")
        if self.mode == "new_files" and (self.cursor_field is not None or self.lookback is not None):
            raise ValueError("`mode: new_files` tracks which files were loaded: it takes no cursor_field or lookback")
        return self

    @property
    def new_files(self) -> bool:
        return self.mode == "new_files"


class SourceConfig(Strict):
    connector: str | None = None
    reader: PluginRef | None = None
    connection: dict[str, Any] = Field(default_factory=dict)
    files: list[FileEntry] = Field(default_factory=list)
    tables: list[TableEntry] = Field(default_factory=list)
    query: str | None = None
    objects: list[Any] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)
    storage: dict[str, Any] = Field(
        default_factory=dict,
        description="object-store settings for source.files URIs, pyiceberg FileIO names (s3.endpoint, "
        "s3.access-key-id, ..., gcs.*, adls.*); values may be ${secret:...} references",
    )
    incremental: Incremental | None = None
    partitioning: Partitioning = Field(default_factory=Partitioning)

    @field_validator("storage")
    @classmethod
    def _storage_keys(cls, value: dict[str, Any]) -> dict[str, str]:
        from dativo_workers.storage import STORAGE_KEYS

        unknown = sorted(set(value) - STORAGE_KEYS)
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(STORAGE_KEYS))}")
        # YAML's `true` is the property's "true"
        return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}

    @model_validator(mode="after")
    def _one_reader(self) -> SourceConfig:
        if (self.connector is None) == (self.reader is None):
            raise ValueError("set exactly one of `connector` (a reader name) or `reader` (a plugin)")
        return self


class PartitionField(Strict):
    field: str
    transform: str = "identity"
    name: str | None = None

    @field_validator("transform")
    @classmethod
    def _known_transform(cls, value: str) -> str:
        value = value.strip().lower()
        if not _TRANSFORM.match(value):
            raise ValueError("transform must be identity, year, month, day, hour, bucket[N] or truncate[N]")
        return value


class DeleteMarker(Strict):
    column: str
    value: bool | int | float | str = True


_MERGE_ONLY = ("merge_key", "merge_order_by", "delete_marker")

# Keys that belong to one kind of target only: an Iceberg table, or a writer's output directory.
_ICEBERG_ONLY = (
    "namespace",
    "table",
    "partition_by",
    "file_size_mb",
    "row_group_mb",
    "format",
    "format_options",
    "schema_evolution",
    "run_tag_max_age",
)
_WRITER_ONLY = ("path", "options")


class SchemaEvolution(Strict):
    on_type_change: Literal["fail", "cast"] = Field(
        default="fail",
        description="a column's type changed in a way Iceberg cannot promote: fail the run before writing "
        "anything, or keep the table's type and cast the values (those that do not fit follow bad_rows)",
    )


class TargetConfig(Strict):
    connector: str = Field(default="iceberg", description="iceberg, or the name of an installed writer")
    catalog: str = "default"
    namespace: str | None = None  # required for iceberg targets
    table: str | None = None  # required for iceberg targets
    mode: Literal["append", "overwrite", "merge"] = "append"
    merge_key: list[str] = Field(
        default_factory=list, description="merge: the key columns (default: the asset's primaryKey properties)"
    )
    merge_order_by: str | None = Field(
        default=None, description="merge: the newest row of a key within a run (default: the incremental cursor)"
    )
    delete_marker: DeleteMarker | None = Field(default=None, description="merge: rows flagged so delete their key")
    partition_by: list[PartitionField] = Field(default_factory=list)
    file_size_mb: int = Field(default=256, ge=1, le=4096)
    row_group_mb: int = Field(
        default=8,
        ge=1,
        le=1024,
        description="a Parquet row group closes at this much in-memory Arrow data (or 1 Mi rows); "
        "the rows wait in the worker's memory until then",
    )
    writer: PluginRef | None = None
    path: str | None = Field(default=None, description="writer targets: output directory (local path or URI)")
    options: dict[str, Any] = Field(default_factory=dict, description="settings of the writer named by `connector`")
    format: str | None = Field(default=None, description="iceberg targets: a table-format writer shapes the rows")
    format_options: dict[str, Any] = Field(default_factory=dict)
    schema_evolution: SchemaEvolution = Field(default_factory=SchemaEvolution)
    encryption: EncryptionConfig | None = Field(
        default=None, description="file targets: Parquet modular encryption, keys wrapped by a KMS"
    )
    run_tag_max_age: str = Field(
        default="30d",
        description="how long a run's `run-<run_id>` tag keeps its snapshot from `dativo maintain "
        "--expire-older-than` (90m, 12h, 30d, 8w)",
    )

    @field_validator("run_tag_max_age")
    @classmethod
    def _age(cls, value: str) -> str:
        try:
            age = parse_lookback(value)
        except ValueError:
            age = None
        if not isinstance(age, timedelta) or age.total_seconds() <= 0:
            raise ValueError("a positive duration with a unit: 90m, 12h, 30d, 8w")
        return value

    @property
    def run_tag_max_age_ms(self) -> int:
        return int(parse_lookback(self.run_tag_max_age).total_seconds() * 1000)  # type: ignore[union-attr]

    @field_validator("namespace", "table")
    @classmethod
    def _identifier(cls, value: str | None, info: ValidationInfo) -> str | None:
        # In `table`, `{object}` stands for each source object's name in a multi-table job.
        text = value.replace(OBJECT_PLACEHOLDER, "x") if value is not None and info.field_name == "table" else value
        if text is not None and not all(_NAME.match(part) for part in text.split(".")):
            raise ValueError("use letters, digits, '_' and '-' (dots separate nested namespaces)")
        return value

    @property
    def is_iceberg(self) -> bool:
        return self.writer is None and self.connector == "iceberg"

    @model_validator(mode="after")
    def _keys_of_the_target_kind(self) -> TargetConfig:
        errors: list[InitErrorDetails] = []

        def problem(key: str, message: str) -> None:
            kind = "missing" if message == "missing" else PydanticCustomError("target_key", message)
            errors.append(InitErrorDetails(type=kind, loc=(key,), input=getattr(self, key, None)))

        if self.writer is not None and "connector" in self.model_fields_set:
            problem("writer", "set either `connector` (a writer name) or `writer` (a plugin), not both")
        if self.is_iceberg and self.encryption is not None:
            problem(
                "encryption",
                "Iceberg targets cannot be encrypted yet: pyiceberg cannot read Parquet files with modular "
                "encryption; encrypt a file target (`connector: parquet`)",
            )
        if self.is_iceberg:
            for key in ("namespace", "table"):
                if getattr(self, key) is None:
                    problem(key, "missing")
            for key in _WRITER_ONLY:
                if key in self.model_fields_set:
                    problem(key, "only for writer targets (`connector: <writer>` or `writer:`), not for iceberg")
            if self.format_options and self.format is None:
                problem("format_options", "set `format` (a table-format writer) to use format_options")
        else:
            if self.path is None:
                problem("path", "missing")
            for key in _ICEBERG_ONLY:
                if key in self.model_fields_set:
                    problem(key, "only for iceberg targets; a writer takes its settings from its own options")
            if self.mode != "append":
                problem("mode", "writer targets only append (each run adds its own files)")
        if self.mode != "merge":
            for key in _MERGE_ONLY:
                if key in self.model_fields_set:
                    problem(key, "only with `mode: merge`")
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self


class FinOps(Strict):
    cost_center: str | None = None
    budget_code: str | None = None
    project: str | None = None


class RetryPolicy(Strict):
    max_attempts: int = Field(default=3, ge=1, le=100)
    backoff_seconds: float = Field(default=2.0, ge=0)
    max_backoff_seconds: float = Field(default=300.0, ge=0)


class BadRows(Strict):
    action: Literal["quarantine", "skip", "fail"] = "fail"
    max: int | None = Field(default=None, ge=0, description="more bad rows than this fails the run")


class QualityPolicy(Strict):
    on_fail: Literal["severity", "fail", "warn"] = Field(
        default="severity",
        description="a failed contract quality rule: severity (a rule of severity error fails the run, "
        "others warn), fail (every failed rule fails the run), warn (none does; all are reported)",
    )


class JobConfig(Strict):
    tenant_id: str
    name: str
    asset_path: str | None = None
    source: SourceConfig
    target: TargetConfig
    classification_overrides: dict[str, str] = Field(default_factory=dict)
    governance_overrides: dict[str, Any] = Field(default_factory=dict)
    finops: FinOps = Field(default_factory=FinOps)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    bad_rows: BadRows = Field(default_factory=BadRows)
    quality: QualityPolicy = Field(default_factory=QualityPolicy)

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, value: str) -> str:
        # the id names the tenant's secrets in every store: two ids must never meet in one name
        if (problem := tenant_problem(value)) is not None:
            raise ValueError(f"{problem}; the tenant id names the tenant's secrets in every secret store")
        return value

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use letters, digits, '_' and '-' only")
        return value


class LoadedJob(BaseModel):
    """A validated job plus where it came from (relative paths resolve against ``base_dir``).

    ``config`` has `${ENV}` expanded; ``raw`` keeps the references (what the ledger stores)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    path: Path
    config: JobConfig
    raw: dict[str, Any]
    full_refresh: bool = False  # this run reloads everything: no incremental state, the table's rows replaced

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, relative: str) -> Path:
        candidate = Path(relative).expanduser()
        return candidate if candidate.is_absolute() else (self.base_dir / candidate).resolve()


def load_job(path: str | Path) -> LoadedJob:
    """Load and validate a job file. Raises ConfigError naming file, key and line."""
    path = Path(path).resolve()
    loaded = load_yaml(path, expand_env=False)
    if not isinstance(loaded.data, dict):
        raise ConfigError(f"{path}: a job file must be a mapping of keys (tenant_id, source, target, ...)")
    raw = dict(loaded.data)
    raw.setdefault("name", path.stem)
    data = _expand_env(raw, (), lambda loc: _where(path, loc, loaded))
    _check_references(data, lambda loc: _where(path, loc, loaded))
    try:
        config = JobConfig.model_validate(data)
    except ValidationError as exc:
        raise loaded.validation_error(exc) from None
    return LoadedJob(path=path, config=config, raw=raw)


def job_from_dict(path: str, data: dict[str, Any]) -> LoadedJob:
    """Rebuild a job on a worker from what the ledger stored (validated once, by the producer).

    `${ENV}` is expanded here, from this process's environment: every worker of a fleet needs
    the variables the job refers to, with the values the producer had."""
    try:
        expanded = _expand_env(data, (), lambda loc: _where(Path(path), loc, None))
        config = JobConfig.model_validate(expanded)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (the run stores `${{VAR}}` unexpanded: each worker needs the variable)") from None
    except ValidationError as exc:
        problems = [f"{format_key_path(e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"{path}: the stored job is not valid here", problems=problems) from None
    return LoadedJob(path=Path(path), config=config, raw=data)


def _where(path: Path, loc: tuple[str | int, ...], loaded: LoadedYaml | None) -> str:
    line = loaded.line_of(loc) if loaded is not None else None
    return f"{path}:{line}: {format_key_path(loc)}" if line else f"{path}: {format_key_path(loc)}"


def _expand_env(value: Any, loc: tuple[str | int, ...], where: Callable[[tuple[str | int, ...]], str]) -> Any:
    """`${VAR}` expanded; each value taken from the environment is masked in logs and errors
    from now on (it may be a password)."""
    if isinstance(value, dict):
        return {k: _expand_env(v, (*loc, k), where) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, (*loc, i), where) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value
    for name in _ENV_NAME.findall(value):
        if name in os.environ:
            redact.remember(os.environ[name])
    return expand_env_vars(value, where=lambda: where(loc))


def _check_references(
    value: Any, where: Callable[[tuple[str | int, ...]], str], loc: tuple[str | int, ...] = ()
) -> None:
    """Every `${secret:...}` is well formed (NAME one segment: no other tenant's place)."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check_references(v, where, (*loc, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_references(v, where, (*loc, i))
    elif isinstance(value, str) and "${secret:" in value:
        try:
            parse_references(value)
        except SecretError as exc:
            raise ConfigError(f"{where(loc)}: {exc}") from None


def object_name(entry: TableEntry) -> str:
    """A source table's object name: `object` if set, else the table name without its schema."""
    return entry.object or entry.name.rsplit(".", 1)[-1]


def expand_objects(job: LoadedJob, select: list[str] | None = None, full_refresh: bool = False) -> list[LoadedJob]:
    """One job per source table: each object loads into its own Iceberg table and run.

    `target.table` may name the object as `{object}`; a job with several tables must, so
    no two objects land in the same table. ``select`` (`--select`): only these objects;
    ``full_refresh`` (`--full-refresh`): each run reloads everything.
    """
    jobs = _expand_objects(job)
    if select:
        names = [object_name(one.config.source.tables[0]) if one.config.source.tables else "" for one in jobs]
        unknown = [name for name in select if name not in names]
        if unknown:
            raise ConfigError(
                f"{job.path}: --select: no source table with object name {', '.join(map(repr, unknown))}; "
                f"the job's objects: {', '.join(n for n in names if n) or '(none: the job lists no source.tables)'}"
            )
        jobs = [one for one, name in zip(jobs, names, strict=True) if name in select]
    return [one.model_copy(update={"full_refresh": True}) for one in jobs] if full_refresh else jobs


def _object_asset(job: LoadedJob, asset_path: str, name: str, tables: int) -> str:
    """One object's asset: `{object}` replaced; in a job of several tables, a contract without
    `#<object>` gives each table the schema object of its name (`contract.yaml#orders`)."""
    if OBJECT_PLACEHOLDER in asset_path:
        return asset_path.replace(OBJECT_PLACEHOLDER, name)
    if tables <= 1:
        return asset_path
    if "#" in asset_path:
        picked = asset_path.rpartition("#")[2]
        raise ConfigError(
            f"{job.path}: asset_path: `#{picked}` picks one schema object, but the job reads {tables} tables; "
            f"drop `#{picked}` (each table then uses the contract's schema object of its own name) or write "
            f"`#{OBJECT_PLACEHOLDER}`"
        )
    return f"{asset_path}#{name}"


def _declared_objects(job: LoadedJob) -> dict[str, Any]:
    """The objects the job's reader declares in its options ({name: DeclaredObject}; empty for
    readers that declare none, or when the connector is not installed: that is reported later)."""
    source = job.config.source
    if source.connector is None:
        return {}
    from dativo_workers.plugins.manager import find_reader

    cls = find_reader(source.connector)
    declared = cls.declared_objects(dict(source.options)) if cls is not None else None
    return {obj.name: obj for obj in declared or []}


def _object_defaults(raw: dict[str, Any], declared: Any, has_asset: bool) -> None:
    """A declared object's defaults in one object's raw job (what the job sets wins)."""
    if declared is None:
        return
    if declared.cursor_field and not raw["source"].get("incremental"):
        incremental = {"cursor_field": declared.cursor_field}
        if declared.lookback:
            incremental["lookback"] = declared.lookback
        raw["source"]["incremental"] = incremental
    target = raw["target"]
    if declared.primary_key and target.get("mode") == "merge" and not target.get("merge_key") and not has_asset:
        target["merge_key"] = list(declared.primary_key)


def _expand_objects(job: LoadedJob) -> list[LoadedJob]:
    tables = job.config.source.tables
    declared = _declared_objects(job)
    if not tables and declared:
        tables = [TableEntry(name=name) for name in declared]
    key = "table" if job.config.target.is_iceberg else "path"  # writer targets: `{object}` in target.path
    template = getattr(job.config.target, key) or ""
    if len(tables) > 1 and OBJECT_PLACEHOLDER not in template:
        raise ConfigError(
            f"{job.path}: target.{key}: the job reads {len(tables)} tables; put `{OBJECT_PLACEHOLDER}` in "
            f'target.{key} (e.g. `{key}: "{OBJECT_PLACEHOLDER}"`) so each lands in its own {key}'
        )
    raw_asset = str(job.raw.get("asset_path") or "")
    if len(tables) <= 1 and OBJECT_PLACEHOLDER not in template and OBJECT_PLACEHOLDER not in raw_asset and not declared:
        return [job]
    names = [object_name(t) for t in tables] or [job.config.name]
    if len(set(names)) != len(names):
        raise ConfigError(f"{job.path}: source.tables: two tables share an object name; set `object:` on one")
    jobs = []
    raw_tables = job.raw["source"].get("tables") or ([{"name": n} for n in declared] if declared else [None])
    raw_template = str(job.raw["target"].get(key) or "")  # the stored job keeps its ${ENV}
    if OBJECT_PLACEHOLDER not in raw_template:
        raw_template = template
    # a declared object is named by the entry's `name`; `object:` renames only its table
    declared_names = [t.name for t in tables] or [None]
    for raw_entry, name, declared_name in zip(raw_tables, names, declared_names, strict=True):
        raw = {**job.raw, "source": dict(job.raw["source"]), "target": dict(job.raw["target"])}
        if raw_entry is not None:
            raw["source"]["tables"] = [raw_entry]
        raw["target"][key] = raw_template.replace(OBJECT_PLACEHOLDER, name)
        if raw_asset:
            raw["asset_path"] = _object_asset(job, raw_asset, name, len(tables))
        _object_defaults(raw, declared.get(declared_name or name), bool(raw_asset))
        jobs.append(job_from_dict(str(job.path), raw))
    return jobs
