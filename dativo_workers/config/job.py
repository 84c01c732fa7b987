"""Job configuration: one source, an optional asset (data contract) and one target."""

from __future__ import annotations

import re
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

from dativo_workers.config.yamlio import load_yaml
from dativo_workers.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
OBJECT_PLACEHOLDER = "{object}"
_TRANSFORM = re.compile(r"^(identity|year|month|day|hour|void|bucket\[\d+\]|truncate\[\d+\])$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileEntry(Strict):
    path: str


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
    cursor_field: str
    lookback: str | None = None


class SourceConfig(Strict):
    connector: str | None = None
    reader: PluginRef | None = None
    connection: dict[str, Any] = Field(default_factory=dict)
    files: list[FileEntry] = Field(default_factory=list)
    tables: list[TableEntry] = Field(default_factory=list)
    query: str | None = None
    objects: list[Any] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)
    incremental: Incremental | None = None
    partitioning: Partitioning = Field(default_factory=Partitioning)

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


# Keys that belong to one kind of target only: an Iceberg table, or a writer's output directory.
_ICEBERG_ONLY = ("namespace", "table", "partition_by", "file_size_mb", "format", "format_options")
_WRITER_ONLY = ("path", "options")


class TargetConfig(Strict):
    connector: str = Field(default="iceberg", description="iceberg, or the name of an installed writer")
    catalog: str = "default"
    namespace: str | None = None  # required for iceberg targets
    table: str | None = None  # required for iceberg targets
    mode: Literal["append", "overwrite"] = "append"
    partition_by: list[PartitionField] = Field(default_factory=list)
    file_size_mb: int = Field(default=256, ge=1, le=4096)
    writer: PluginRef | None = None
    path: str | None = Field(default=None, description="writer targets: output directory (local path or URI)")
    options: dict[str, Any] = Field(default_factory=dict, description="settings of the writer named by `connector`")
    format: str | None = Field(default=None, description="iceberg targets: a table-format writer shapes the rows")
    format_options: dict[str, Any] = Field(default_factory=dict)

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

    @field_validator("tenant_id", "name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use letters, digits, '_' and '-' only")
        return value


class LoadedJob(BaseModel):
    """A validated job plus where it came from (relative paths resolve against ``base_dir``)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    path: Path
    config: JobConfig
    raw: dict[str, Any]

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, relative: str) -> Path:
        candidate = Path(relative).expanduser()
        return candidate if candidate.is_absolute() else (self.base_dir / candidate).resolve()


def load_job(path: str | Path) -> LoadedJob:
    """Load and validate a job file. Raises ConfigError naming file, key and line."""
    path = Path(path).resolve()
    loaded = load_yaml(path)
    if not isinstance(loaded.data, dict):
        raise ConfigError(f"{path}: a job file must be a mapping of keys (tenant_id, source, target, ...)")
    data = dict(loaded.data)
    data.setdefault("name", path.stem)
    try:
        config = JobConfig.model_validate(data)
    except ValidationError as exc:
        raise loaded.validation_error(exc) from None
    return LoadedJob(path=path, config=config, raw=data)


def job_from_dict(path: str, data: dict[str, Any]) -> LoadedJob:
    """Rebuild a job on a worker from what the ledger stored (already validated once)."""
    return LoadedJob(path=Path(path), config=JobConfig.model_validate(data), raw=data)


def object_name(entry: TableEntry) -> str:
    """A source table's object name: `object` if set, else the table name without its schema."""
    return entry.object or entry.name.rsplit(".", 1)[-1]


def expand_objects(job: LoadedJob) -> list[LoadedJob]:
    """One job per source table: each object loads into its own Iceberg table and run.

    `target.table` may name the object as `{object}`; a job with several tables must, so
    no two objects land in the same table.
    """
    tables = job.config.source.tables
    key = "table" if job.config.target.is_iceberg else "path"  # writer targets: `{object}` in target.path
    template = getattr(job.config.target, key) or ""
    if len(tables) > 1 and OBJECT_PLACEHOLDER not in template:
        raise ConfigError(
            f"{job.path}: target.{key}: the job reads {len(tables)} tables; put `{OBJECT_PLACEHOLDER}` in "
            f'target.{key} (e.g. `{key}: "{OBJECT_PLACEHOLDER}"`) so each lands in its own {key}'
        )
    if len(tables) > 1 and job.config.asset_path:
        raise ConfigError(f"{job.path}: asset_path: an asset describes one table; split the job per table")
    if len(tables) <= 1 and OBJECT_PLACEHOLDER not in template:
        return [job]
    names = [object_name(t) for t in tables] or [job.config.name]
    if len(set(names)) != len(names):
        raise ConfigError(f"{job.path}: source.tables: two tables share an object name; set `object:` on one")
    jobs = []
    for entry, name in zip(tables or [None], names, strict=True):
        raw = {**job.raw, "source": dict(job.raw["source"]), "target": dict(job.raw["target"])}
        if entry is not None:
            raw["source"]["tables"] = [entry.model_dump(exclude_none=True)]
        raw["target"][key] = template.replace(OBJECT_PLACEHOLDER, name)
        jobs.append(LoadedJob(path=job.path, config=JobConfig.model_validate(raw), raw=raw))
    return jobs
