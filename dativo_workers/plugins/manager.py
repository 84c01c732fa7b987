"""Plugin discovery (entry point group `dativo`), reader and writer construction for a job, and the
guard that reports what a plugin raises under its name."""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.machinery
import importlib.metadata
import importlib.util
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn, TypeVar

import pluggy
import pyarrow as pa
from pydantic import ValidationError

from dativo_workers.config.job import LoadedJob
from dativo_workers.config.yamlio import format_key_path
from dativo_workers.errors import ConfigError, PluginError
from dativo_workers.plugins import hookspecs
from dativo_workers.plugins.base import PLUGIN_API_VERSION, DataReader, DataWriter, PluginSettings, SourceContext
from dativo_workers.secrets import references, resolve, scrub_exception
from dativo_workers.secrets.guard import guard

ENTRY_POINT_GROUP = "dativo"
T = TypeVar("T")


@dataclass(frozen=True)
class PluginInfo:
    name: str
    kind: str  # reader | writer
    package: str
    version: str
    description: str
    cls: type


@dataclass(frozen=True)
class BrokenPlugin:
    """An entry point that could not be loaded: reported, instead of disabling every plugin."""

    entry_point: str  # `name = module` in the `dativo` group
    package: str
    version: str
    error: str


@dataclass
class _Registry:
    pm: pluggy.PluginManager
    packages: dict[int, tuple[str, str]]  # id(plugin module) -> (distribution, version)
    broken: list[BrokenPlugin]
    loaded: set[str] = field(default_factory=set)  # entry point names tried (loaded or broken)


@dataclass(frozen=True)
class _EntryPoint:
    entry_point: importlib.metadata.EntryPoint
    package: str
    version: str


_load_lock = threading.RLock()


@functools.cache
def _entry_points() -> tuple[_EntryPoint, ...]:
    """The `dativo` entry points of every installed package, in discovery order, none imported."""
    found: list[_EntryPoint] = []
    for dist in importlib.metadata.distributions():
        # entry_points.txt first: parsing every installed package's METADATA (hundreds in a venv)
        # costs a fifth of a second at each start, and only the `dativo` group's packages need it
        entry_points = dist.entry_points.select(group=ENTRY_POINT_GROUP)
        if not entry_points:
            continue
        package, version = dist.metadata["Name"], dist.version
        found += [_EntryPoint(ep, package, version) for ep in entry_points]
    return tuple(found)


@functools.cache
def _plugins() -> _Registry:
    """The plugin manager, holding the entry points loaded so far (see ``_load``)."""
    registry = _Registry(pluggy.PluginManager(hookspecs.PROJECT_NAME), {}, [])
    registry.pm.add_hookspecs(hookspecs)
    return registry


def _load(found: _EntryPoint) -> Any:
    """Import and register one entry point (once); its module, or None when it failed to load."""
    registry, ep = _plugins(), found.entry_point
    with _load_lock:
        if ep.name in registry.loaded:
            return registry.pm.get_plugin(ep.name)
        registry.loaded.add(ep.name)  # the same distribution seen twice on sys.path: the first wins
        try:
            plugin = ep.load()
            registry.pm.register(plugin, name=ep.name)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            registry.broken.append(BrokenPlugin(f"{ep.name} = {ep.value}", found.package, found.version, error))
            return None
        registry.packages[id(plugin)] = (found.package, found.version)
        return plugin


@functools.cache
def _registry() -> _Registry:
    """Every entry point loaded (listing plugins, secret providers, an unknown connector)."""
    for found in _entry_points():
        _load(found)
    return _plugins()


def _likely_first(name: str) -> list[_EntryPoint]:
    """The entry points in the order to look for the connector ``name``: one named after it, then
    packages with a module named after it (``dativo_plugins.sql`` has ``postgres.py``,
    ``dativo_plugins.files`` has ``csv_reader.py``), then the rest in discovery order. Only the
    order depends on names: a reader is found by what the loaded plugin returns."""
    ranked: list[tuple[int, int, _EntryPoint]] = []
    for index, found in enumerate(_entry_points()):
        ep = found.entry_point
        rank = 0 if ep.name == name else 1 if _has_module_named(ep.module, name) else 2
        ranked.append((rank, index, found))
    return [found for _, _, found in sorted(ranked, key=lambda item: item[:2])]


def _has_module_named(module: str, name: str) -> bool:
    """Whether the package ``module`` has a module file starting with ``name``, found on disk
    without importing the package or its parents (a plugin's parent package may be heavy)."""
    top, *rest = module.split(".")
    try:
        spec = importlib.util.find_spec(top)  # a top-level name: nothing is imported
    except (ImportError, ValueError):
        return False
    folders = [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    for part in rest:
        folders = [folder / part for folder in folders if (folder / part).is_dir()]
    for folder in folders:
        try:
            if any(child.name.startswith(name) and child.suffix == ".py" for child in folder.iterdir()):
                return True
        except OSError:
            continue
    return False


def _provided(plugin: Any, hook: str) -> list[type]:
    """The classes a loaded plugin's hook returns; [] when it has none or the hook fails (the
    failure is recorded when every plugin is listed)."""
    impl = getattr(plugin, hook, None)
    try:
        return list((impl() if impl else None) or [])
    except Exception:
        return []


def plugin_manager() -> pluggy.PluginManager:
    """The `dativo` entry points of every installed package, loaded once per process."""
    return _registry().pm


def broken_plugins() -> list[BrokenPlugin]:
    """Entry points that failed to load (and the hooks that failed to answer), with the error."""
    installed_plugins()
    return _registry().broken


@functools.cache
def installed_plugins() -> list[PluginInfo]:
    """Every reader and writer the entry points provide (read once per process: a worker
    would otherwise re-parse package metadata for every partition)."""
    registry = _registry()
    found: list[PluginInfo] = []
    for plugin in registry.pm.get_plugins():
        package, version = registry.packages.get(id(plugin), (getattr(plugin, "__name__", str(plugin)), "-"))
        for kind, hook in (("reader", "dativo_readers"), ("writer", "dativo_writers")):
            impl = getattr(plugin, hook, None)
            try:
                classes = (impl() if impl else None) or []
            except Exception as exc:
                entry = f"{registry.pm.get_name(plugin)}: {hook}()"
                registry.broken.append(BrokenPlugin(entry, package, version, f"{type(exc).__name__}: {exc}"))
                continue
            for cls in classes:
                if (problem := api_mismatch(cls)) is not None:
                    registry.broken.append(BrokenPlugin(f"{plugin_name(cls)} ({kind})", package, version, problem))
                    continue
                description = str(getattr(cls, "description", "") or "")
                found.append(PluginInfo(plugin_name(cls), kind, package, version, description, cls))
    return sorted(found, key=lambda p: (p.kind, p.name))


def _not_installed(kind: str, name: str, key: str, known: list[str], hint: str) -> ConfigError:
    listed = ", ".join(sorted(known)) or "none installed"
    message = f"{key}: no {kind} named {name!r} (installed: {listed}); {hint}"
    broken = broken_plugins()
    if broken:  # the one asked for may be in a package that failed to load
        message += "; plugins that failed to load: " + "; ".join(
            f"{b.package} {b.version} ({b.entry_point}): {b.error}" for b in broken
        )
    return ConfigError(message)


def find_reader(name: str) -> type[DataReader] | None:
    """The reader class named ``name``, importing only the plugins needed to find it (a run
    imports one plugin, not every connector's HTTP client and models); None if no plugin has it."""
    if not name:
        return None
    for found in _likely_first(name):
        plugin = _load(found)
        for cls in _provided(plugin, "dativo_readers") if plugin is not None else []:
            if plugin_name(cls) == name and api_mismatch(cls) is None:
                return cls
    return None


def reader_class(name: str) -> type[DataReader]:
    cls = find_reader(name)
    if cls is not None:
        return cls
    readers = {p.name: p.cls for p in installed_plugins() if p.kind == "reader"}
    if name not in readers:
        hint = "install the package that provides it, or use `source.reader: {type: plugin, plugin_path: ...}`"
        raise _not_installed("reader", name, "source.connector", list(readers), hint)
    return readers[name]


def writer_class(name: str, key: str) -> type[DataWriter]:
    writers = {p.name: p.cls for p in installed_plugins() if p.kind == "writer"}
    if name not in writers:
        hint = "install the package that provides it, or use `target.writer: {type: plugin, plugin_path: ...}`"
        raise _not_installed("writer", name, key, list(writers), hint)
    return writers[name]


def target_writer(job: LoadedJob) -> tuple[type[DataWriter], PluginSettings] | None:
    """The job's writer class and validated settings: a writer target (`target.connector: <writer>`
    or `target.writer`), or an Iceberg table's format (`target.format`). None for plain Iceberg."""
    target = job.config.target
    if target.writer is not None:
        cls = import_plugin_class(target.writer.plugin_path, str(job.base_dir), "target.writer", DataWriter)
        settings, key = target.writer.config, "target.writer.config"
    elif not target.is_iceberg:
        cls = writer_class(target.connector, "target.connector")
        settings, key = target.options, "target.options"
    elif target.format is not None:
        cls = writer_class(target.format, "target.format")
        settings, key = target.format_options, "target.format_options"
    else:
        return None
    return cls, validate_settings(cls, resolve(settings, job.config.tenant_id), key, job)


def plugin_name(cls: type) -> str:
    return str(getattr(cls, "name", cls.__name__))


def plugin_error(name: str, exc: BaseException) -> BaseException:
    """What to raise for ``exc`` coming out of plugin code: a PluginError naming the plugin.

    Exceptions are the plugin's failure, and so is a plain ``sys.exit()``: a plugin must not end a
    worker process (in an embedded pool that would fail every partition of the process). Celery's
    own shutdown (SystemExit subclasses), KeyboardInterrupt and PluginError pass unchanged.
    """
    if isinstance(exc, PluginError) or not (isinstance(exc, Exception) or type(exc) is SystemExit):
        return exc
    clean = scrub_exception(exc)  # a driver's message may quote a resolved secret
    error = PluginError(name, clean)
    error.__cause__ = clean
    return error


def reraise_as_plugin_error(name: str, exc: BaseException) -> NoReturn:
    """Raise, from an ``except`` block, what ``plugin_error`` makes of ``exc``."""
    error = plugin_error(name, exc)
    if error is exc:
        raise exc
    raise error from error.__cause__


def plugin_call(name: str, fn: Callable[..., T], *args: Any) -> T:
    """Call into plugin code: whatever it raises comes back as a PluginError naming it."""
    try:
        return fn(*args)
    except BaseException as exc:
        reraise_as_plugin_error(name, exc)


def plugin_iter(name: str, items: Iterable[T]) -> Iterator[T]:
    """Iterate plugin output; an exception raised while producing an item names the plugin."""
    iterator = plugin_call(name, iter, items)
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except BaseException as exc:
            reraise_as_plugin_error(name, exc)
        yield item


def import_plugin_class(plugin_path: str, base_dir: str, key: str, base: type) -> type:
    """Import `module.Class` or `package.module.Class`: from the job's directory when the module
    lives there, else from the installed packages."""
    module_name, _, class_name = plugin_path.rpartition(".")
    if not module_name:
        raise ConfigError(f"{key}.plugin_path: expected `package.module.Class`, got {plugin_path!r}")
    try:
        module = _import_plugin_module(module_name, Path(base_dir))
        cls = getattr(module, class_name)
    except Exception as exc:
        raise ConfigError(f"{key}.plugin_path: cannot import {plugin_path!r}: {type(exc).__name__}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ConfigError(f"{key}.plugin_path: {plugin_path!r} is not a subclass of {base.__name__}")
    if (problem := api_mismatch(cls)) is not None:
        raise ConfigError(f"{key}.plugin_path: {plugin_path!r}: {problem}")
    return cls


JOB_PACKAGE_PREFIX = "_dativo_job_"
_job_packages_lock = threading.Lock()


def _import_plugin_module(module_name: str, base_dir: Path) -> ModuleType:
    """The module, imported without putting the job's directory on sys.path.

    A module of the job's directory is imported as `_dativo_job_<hash of the directory>.<name>`:
    a file there named `json.py` or `pymysql.py` cannot stand in for the real module anywhere else
    in the process (another tenant's job, a driver imported later), and two jobs' `reader.py`
    files stay two modules. Inside the job directory, plugin modules import each other relatively
    (`from . import helpers`)."""
    base_dir = base_dir.resolve()
    top = module_name.split(".", 1)[0]
    if not ((base_dir / f"{top}.py").is_file() or (base_dir / top).is_dir()):
        return importlib.import_module(module_name)
    return importlib.import_module(f"{_job_package(base_dir)}.{module_name}")


def _job_package(base_dir: Path) -> str:
    """A package, registered under a name unique to ``base_dir``, whose path is that directory."""
    name = JOB_PACKAGE_PREFIX + hashlib.sha256(str(base_dir).encode()).hexdigest()[:16]
    with _job_packages_lock:
        if name not in sys.modules:
            spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
            spec.submodule_search_locations = [str(base_dir)]
            sys.modules[name] = importlib.util.module_from_spec(spec)
    return name


def api_mismatch(cls: type) -> str | None:
    """Why this Dativo cannot run a plugin class written for a newer plugin API (None if it can)."""
    wanted = getattr(cls, "api_version", PLUGIN_API_VERSION)
    if wanted > PLUGIN_API_VERSION:
        return f"written for plugin API {wanted}; this dativo-workers provides API {PLUGIN_API_VERSION}: upgrade it"
    return None


def create_reader(
    job: LoadedJob,
    state: dict[str, str] | None = None,
    planner_lives_for_run: bool = False,
    loaded: pa.Array | None = None,
    *,
    cls: type[DataReader] | None = None,
    partition_bytes: int | None = None,
) -> DataReader:
    """Build the job's reader with validated settings; errors name the plugin and key.

    ``state``: the incremental cursor values committed so far (planning only; partitions
    carry their own bounds). ``planner_lives_for_run``, ``loaded``: see ``SourceContext``.
    ``cls``: this reader class instead of the job's (`dativo plugins certify`);
    ``partition_bytes``: instead of ``source.partitioning.target_mb``."""
    source = job.config.source
    if source.reader is not None:
        if cls is None:
            cls = import_plugin_class(source.reader.plugin_path, str(job.base_dir), "source.reader", DataReader)
        settings, key = source.reader.config, "source.reader.config"
    else:
        if cls is None:
            cls = reader_class(source.connector or "")
        settings, key = source.options, "source.options"
    # Secret references are resolved here, in the process that uses them; the job stored in the
    # ledger and sent around keeps the references.
    tenant = job.config.tenant_id
    raw_settings, settings = settings, resolve(settings, tenant)
    context = SourceContext(
        base_dir=job.base_dir,
        files=[f.model_dump() for f in source.files],
        tables=[t.model_dump() for t in source.tables],
        connection=resolve(dict(source.connection), tenant),
        storage=resolve(dict(source.storage), tenant),
        target_partition_bytes=partition_bytes or source.partitioning.target_mb * 1024 * 1024,
        tenant_id=tenant,
        query=source.query,
        partitioning=source.partitioning.model_dump(exclude_none=True),
        incremental=source.incremental.model_dump() if source.incremental else None,
        state=dict(state or {}),
        planner_lives_for_run=planner_lives_for_run,
        loaded=loaded,
    )
    reader = plugin_call(plugin_name(cls), cls, validate_settings(cls, settings, key, job), context)
    # errors the reader raises carry no resolved value, and an auth failure names the references
    return guard(reader, references([raw_settings, dict(source.connection), dict(source.storage)]))


def validate_settings(cls: Any, settings: dict[str, Any], key: str, job: LoadedJob) -> Any:
    """The plugin's ``self.config``: its ``config_model`` instance, or the settings as a plain
    dict for a plugin that declares no model (validated only as a mapping)."""
    model = getattr(cls, "config_model", None)
    if model is None:
        if not isinstance(settings, dict):
            raise ConfigError(f"{job.path}: {key}: expected a mapping of settings, got {type(settings).__name__}")
        return dict(settings)
    try:
        return model.model_validate(settings)
    except ValidationError as exc:
        problems = [
            f"{job.path}: {key}.{format_key_path(err['loc'])}: "
            + ("unknown option" if err["type"] == "extra_forbidden" else err["msg"])
            for err in exc.errors()
        ]
        raise ConfigError(
            f"invalid settings for plugin {plugin_name(cls)!r}", file=str(job.path), problems=problems
        ) from None
