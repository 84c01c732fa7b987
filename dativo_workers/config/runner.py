"""Runner configuration: where the ledger, catalogs, broker and secrets live.

Looked up from `--runner FILE`, else `$DATIVO_RUNNER_CONFIG`, else the project's runner file
(`config/runner.yaml`, or the `runner:` of `dativo.yaml`), else built-in defaults (SQLite ledger
and catalog under the project's `.dativo/`). The project root is the nearest directory, from
the current one upwards, holding a `dativo.yaml` project file or an existing `.dativo/`; without
one, the current directory. Relative paths in the runner config are relative to that root.
Any top-level key can be overridden with `DATIVO_<KEY>`, nested keys with `DATIVO_<KEY>__<SUBKEY>`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from dativo_workers import secrets
from dativo_workers.config.catalog_sync import CatalogSyncConfig
from dativo_workers.config.yamlio import LoadedYaml, load_yaml
from dativo_workers.errors import ConfigError
from dativo_workers.secrets.config import SecretsConfig

DEFAULT_STATE_DIR = ".dativo"


class CatalogConfig(BaseModel):
    """A pyiceberg catalog. Keys besides these are passed to pyiceberg as catalog properties."""

    model_config = ConfigDict(extra="allow")

    type: str = "sql"
    uri: str | None = None
    warehouse: str | None = None

    def pyiceberg_properties(self) -> dict[str, str]:
        props = {k: str(v) for k, v in (self.model_extra or {}).items()}
        if "py-catalog-impl" not in props:  # pyiceberg refuses a type beside a custom catalog class
            props["type"] = self.type
        if self.uri:
            props["uri"] = self.uri
        if self.warehouse:
            props["warehouse"] = self.warehouse
        return props


class LineageConfig(BaseModel):
    """`lineage:`: OpenLineage events of every run (docs/lineage.md). Unset, the client's own
    configuration applies (OPENLINEAGE_URL, openlineage.yml); with none, nothing is sent."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, description="the OpenLineage HTTP endpoint's base URL")
    endpoint: str = "api/v1/lineage"
    api_key: str | None = Field(default=None, description="a bearer key; may be a ${secret:NAME} reference")
    namespace: str = Field(default="dativo", description="job namespace prefix: <namespace>.<tenant>")
    disabled: bool = False
    timeout_seconds: float = Field(default=3.0, gt=0, le=60, description="per request; one retry on connect errors")


class RunnerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    broker_url: str = "redis://localhost:6379/0"
    result_backend: str = "redis://localhost:6379/1"
    ledger_url: str = f"sqlite:///{DEFAULT_STATE_DIR}/dativo.db"
    lease_seconds: int = Field(default=60, ge=5)
    reconcile_seconds: int = Field(default=30, ge=1, description="how often beat sends the reconciler")
    # Celery soft time limit of one partition attempt (hard limit: + PARTITION_KILL_AFTER_S); below
    # the 6 h visibility timeout, and a worker's shutdown grace period must exceed the hard limit
    partition_timeout_seconds: int = Field(default=3600, ge=1, le=5 * 3600)
    workers: int = Field(default=0, ge=0, description="embedded pool size; 0 = one per CPU core")
    # a merge whose touched table files hold more than this many MiB rewrites them as partitions on
    # the workers (the embedded pool); up to this much is rewritten by the committing process
    # (docs/merge.md)
    merge_rewrite_in_process_mb: int = Field(default=512, ge=0)
    # Celery task events (received, started, succeeded...) from the start: three Redis publishes
    # per task in the worker's main process. Off, Flower still turns them on for the workers it
    # watches (it broadcasts `enable_events` every few seconds), so they cost only while watched.
    task_events: bool = False
    catalogs: dict[str, CatalogConfig] = Field(
        default_factory=lambda: {
            "default": CatalogConfig(
                type="sql",
                uri=f"sqlite:///{DEFAULT_STATE_DIR}/catalog.db",
                warehouse=f"{DEFAULT_STATE_DIR}/warehouse",
            )
        }
    )
    secrets: SecretsConfig = Field(default_factory=SecretsConfig)
    lineage: LineageConfig = Field(default_factory=LineageConfig)  # OpenLineage events (docs/lineage.md)
    # push each committed table to a data catalog (OpenMetadata: docs/governance.md)
    catalog_sync: CatalogSyncConfig = Field(default_factory=CatalogSyncConfig)
    # the plugin index `dativo plugins search|install|list` read: a path or URL of JSON/YAML (docs/plugins.md)
    plugin_index: str | None = None
    source_file: str | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _use_secret_settings(self) -> RunnerConfig:
        # The runner config a process loads (CLI, Celery worker, embedded pool process) chooses
        # the provider its secret references resolve with; nothing comes from a message.
        secrets.use(self.secrets)
        from dativo_workers import lineage  # the same for lineage events' destination

        lineage.use(self.lineage)
        return self

    def catalog(self, name: str) -> CatalogConfig:
        if name not in self.catalogs:
            known = ", ".join(sorted(self.catalogs)) or "none"
            where = self.source_file or "the built-in runner defaults"
            raise ConfigError(f"target.catalog: catalog {name!r} is not defined in {where} (known: {known})")
        return self.catalogs[name]


PROJECT_FILE = "dativo.yaml"
DEFAULT_RUNNER_FILE = "config/runner.yaml"


class ProjectFile(BaseModel):
    """`dativo.yaml`: marks a project's root; every `dativo` command below it uses the project."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    runner: str = Field(default=DEFAULT_RUNNER_FILE, description="the runner config, relative to the project root")


def find_project_root(start: Path | None = None) -> Path | None:
    """The nearest directory, from ``start`` (default: the current one) upwards, holding a
    `dativo.yaml` or an existing `.dativo/` state directory; None when there is none."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / PROJECT_FILE).is_file() or (directory / DEFAULT_STATE_DIR).is_dir():
            return directory
    return None


def project_root() -> Path:
    """Where relative runner paths and the default state directory live."""
    return find_project_root() or Path.cwd().resolve()


def load_project_file(root: Path) -> ProjectFile | None:
    path = root / PROJECT_FILE
    if not path.is_file():
        return None
    loaded = load_yaml(path)
    if loaded.data is None:
        return ProjectFile()
    if not isinstance(loaded.data, dict):
        raise ConfigError(f"{path}: expected a mapping (name:, runner:)")
    try:
        return ProjectFile.model_validate(loaded.data)
    except ValidationError as exc:
        raise loaded.validation_error(exc) from None


def locate_runner_file(explicit: str | Path | None) -> Path | None:
    if explicit:
        return Path(explicit)
    if os.environ.get("DATIVO_RUNNER_CONFIG"):
        return Path(os.environ["DATIVO_RUNNER_CONFIG"])
    root = find_project_root()
    project = load_project_file(root) if root is not None else None
    base = root or Path.cwd()
    if project is not None and project.runner != DEFAULT_RUNNER_FILE:
        named = base / project.runner
        if not named.is_file():
            raise ConfigError(f"{base / PROJECT_FILE}: runner: {named} does not exist")
        return named
    default = base / DEFAULT_RUNNER_FILE
    return default if default.exists() else None


def load_runner(explicit: str | Path | None = None) -> RunnerConfig:
    """Load the runner config; relative SQLite paths and warehouses become absolute (cwd-based)."""
    path = locate_runner_file(explicit)
    data: dict[str, Any] = {}
    loaded: LoadedYaml | None = None
    if path is not None:
        loaded = load_yaml(path.resolve())
        raw = loaded.data or {}
        if not isinstance(raw, dict) or not isinstance(raw.get("runner", {}), dict):
            raise ConfigError(f"{path}: expected a mapping under the top-level key `runner:`")
        extra = set(raw) - {"runner"}
        if extra:
            line = loaded.line_of((sorted(extra)[0],))
            raise ConfigError(f"{path}:{line}: {sorted(extra)[0]}: unknown key (everything goes under `runner:`)")
        data = dict(raw.get("runner") or {})
    if "catalogs" not in data:  # so DATIVO_CATALOGS__DEFAULT__URI keeps the built-in catalog's other keys
        catalogs = RunnerConfig.model_fields["catalogs"].default_factory()  # type: ignore[misc,call-arg]
        data["catalogs"] = {k: v.model_dump(exclude_none=True) for k, v in catalogs.items()}
    try:
        config = RunnerSettings(**data)
    except SettingsError as exc:  # a DATIVO_* value that is not the JSON a mapping setting needs
        raise ConfigError(f"invalid runner setting from the environment: {_settings_error_variable(exc)}") from None
    except ValidationError as exc:
        raise _runner_error(exc, loaded) from None
    config.source_file = str(path) if path else None
    return _absolutise(config, project_root())


ENV_PREFIX = "DATIVO_"
ENV_NESTED_DELIMITER = "__"


class RunnerSettings(BaseSettings, RunnerConfig):
    """The runner config as loaded: the runner file's values with `DATIVO_*` environment variables
    over them (pydantic-settings: `DATIVO_LEASE_SECONDS`, nested keys with `__` as in
    `DATIVO_CATALOGS__DEFAULT__URI`; a mapping may also be given whole as JSON). Variables that
    name no runner key (`DATIVO_SECRET__*` secret values, `DATIVO_LOG_LEVEL`...) are not read."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_NESTED_DELIMITER, case_sensitive=False, extra="forbid"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return env_settings, init_settings  # the environment wins over the file; no .env files


def _env_variable(loc: tuple[str | int, ...]) -> str | None:
    """The DATIVO_* variable a value at ``loc`` came from, if one is set (the deepest first)."""
    names = {name.upper() for name in os.environ}
    for end in range(len(loc), 0, -1):
        name = ENV_PREFIX + ENV_NESTED_DELIMITER.join(str(part) for part in loc[:end]).upper()
        if name in names:
            return name
    return None


def _runner_error(exc: ValidationError, loaded: LoadedYaml | None) -> ConfigError:
    """Name the environment variable, or the runner file's line, of every bad value (never the
    value itself: a variable may hold a credential)."""
    from dativo_workers.config.yamlio import format_key_path

    from_env, from_file = [], []
    for err in exc.errors():
        loc = tuple(err["loc"])
        variable = _env_variable(loc)
        if variable is None:
            from_file.append(err)
            continue
        message = "unknown runner key" if err["type"] == "extra_forbidden" else err["msg"]
        from_env.append(f"{variable}: {message} (runner setting {format_key_path(loc)})")
    problems = list(from_env)
    if from_file and loaded is not None:
        file_error = loaded.validation_error(
            ValidationError.from_exception_data(exc.title, from_file),  # type: ignore[arg-type]
            prefix=("runner",),
        )
        problems = file_error.problems + problems
    elif from_file:
        problems += [f"{format_key_path(e['loc'])}: {e['msg']}" for e in from_file]
    if not from_file:
        return ConfigError("invalid runner setting in the environment", problems=problems)
    where = str(loaded.path) if loaded is not None else "the built-in runner defaults"
    return ConfigError(f"invalid runner settings in {where}", file=where, problems=problems)


def _settings_error_variable(exc: SettingsError) -> str:
    """pydantic-settings says `error parsing value for field "catalogs" ...`: name the variable."""
    text = str(exc)
    field = text.split('"')[1] if text.count('"') >= 2 else ""
    if not field:
        return text
    variable = f"{ENV_PREFIX}{field.upper()}"
    return (
        f"{variable} is not valid JSON for the mapping `{field}` "
        f"(or set its keys one by one: {variable}{ENV_NESTED_DELIMITER}<KEY>)"
    )


def _absolutise(config: RunnerConfig, base: Path) -> RunnerConfig:
    """Workers may start in another directory: pin relative local paths to the project root now."""
    config.ledger_url = absolute_sqlite_url(config.ledger_url, base)
    for catalog in config.catalogs.values():
        if catalog.uri:
            catalog.uri = absolute_sqlite_url(catalog.uri, base)
        if catalog.warehouse and "://" not in catalog.warehouse:
            catalog.warehouse = (base / Path(catalog.warehouse).expanduser()).resolve().as_uri()
        elif (
            catalog.warehouse
            and catalog.warehouse.startswith("file://")
            and not catalog.warehouse.startswith("file:///")
        ):
            catalog.warehouse = (base / catalog.warehouse[len("file://") :]).resolve().as_uri()
    return config


def absolute_sqlite_url(url: str, base: Path | None = None) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str(((base or Path.cwd()) / url[len(prefix) :]).resolve())
    return url


def local_path_of(url: str) -> Path | None:
    """The filesystem path behind a sqlite URL or file:// URI, if any."""
    if url.startswith("sqlite:////"):
        return Path(url[len("sqlite:///") :])
    if url.startswith("file:///"):
        return Path(url[len("file://") :])
    return None
