"""Plugin discovery (entry point group `dativo`), reader and writer construction for a job, and the
guard that reports what a plugin raises under its name."""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pluggy
from pydantic import ValidationError

from dativo_workers.config.job import LoadedJob
from dativo_workers.config.yamlio import format_key_path
from dativo_workers.errors import ConfigError, PluginError
from dativo_workers.plugins import hookspecs
from dativo_workers.plugins.base import DataReader, DataWriter, PluginSettings, SourceContext
from dativo_workers.secrets import resolve, scrub_exception

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


@functools.cache
def plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    return pm


@functools.cache
def installed_plugins() -> list[PluginInfo]:
    """Every reader and writer the entry points provide (read once per process: a worker
    would otherwise re-parse package metadata for every partition)."""
    pm = plugin_manager()
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    found: list[PluginInfo] = []
    for plugin in pm.get_plugins():
        dist = dists.get(id(plugin))
        package = dist.project_name if dist else getattr(plugin, "__name__", str(plugin))
        version = dist.version if dist else "-"
        for kind, hook in (("reader", "dativo_readers"), ("writer", "dativo_writers")):
            impl = getattr(plugin, hook, None)
            for cls in (impl() if impl else None) or []:
                found.append(PluginInfo(cls.name, kind, package, version, cls.description, cls))
    return sorted(found, key=lambda p: (p.kind, p.name))


def reader_class(name: str) -> type[DataReader]:
    readers = {p.name: p.cls for p in installed_plugins() if p.kind == "reader"}
    if name not in readers:
        known = ", ".join(sorted(readers)) or "none installed"
        raise ConfigError(
            f"source.connector: no reader named {name!r} (installed: {known}); "
            "install the package that provides it, or use `source.reader: {type: plugin, plugin_path: ...}`"
        )
    return readers[name]


def writer_class(name: str, key: str) -> type[DataWriter]:
    writers = {p.name: p.cls for p in installed_plugins() if p.kind == "writer"}
    if name not in writers:
        known = ", ".join(sorted(writers)) or "none installed"
        raise ConfigError(
            f"{key}: no writer named {name!r} (installed: {known}); "
            "install the package that provides it, or use `target.writer: {type: plugin, plugin_path: ...}`"
        )
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


def plugin_call(name: str, fn: Callable[..., T], *args: Any) -> T:
    """Call into plugin code: whatever it raises comes back as a PluginError naming it."""
    try:
        return fn(*args)
    except PluginError:
        raise
    except Exception as exc:
        clean = scrub_exception(exc)  # a driver's message may quote a resolved secret
        raise PluginError(name, clean) from clean


def plugin_iter(name: str, items: Iterable[T]) -> Iterator[T]:
    """Iterate plugin output; an exception raised while producing an item names the plugin."""
    iterator = plugin_call(name, iter, items)
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except PluginError:
            raise
        except Exception as exc:
            clean = scrub_exception(exc)  # a driver's message may quote a resolved secret
            raise PluginError(name, clean) from clean
        yield item


def import_plugin_class(plugin_path: str, base_dir: str, key: str, base: type) -> type:
    """Import `package.module.Class`, with the job's directory importable."""
    module_name, _, class_name = plugin_path.rpartition(".")
    if not module_name:
        raise ConfigError(f"{key}.plugin_path: expected `package.module.Class`, got {plugin_path!r}")
    if base_dir not in sys.path:
        sys.path.insert(0, base_dir)
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, class_name)
    except Exception as exc:
        raise ConfigError(f"{key}.plugin_path: cannot import {plugin_path!r}: {type(exc).__name__}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ConfigError(f"{key}.plugin_path: {plugin_path!r} is not a subclass of {base.__name__}")
    return cls


def create_reader(job: LoadedJob, state: dict[str, str] | None = None) -> DataReader:
    """Build the job's reader with validated settings; errors name the plugin and key.

    ``state``: the incremental cursor values committed so far (planning only; partitions
    carry their own bounds)."""
    source = job.config.source
    if source.reader is not None:
        cls = import_plugin_class(source.reader.plugin_path, str(job.base_dir), "source.reader", DataReader)
        settings, key = source.reader.config, "source.reader.config"
    else:
        cls = reader_class(source.connector or "")
        settings, key = source.options, "source.options"
    # Secret references are resolved here, in the process that uses them; the job stored in the
    # ledger and sent around keeps the references.
    tenant = job.config.tenant_id
    settings = resolve(settings, tenant)
    context = SourceContext(
        base_dir=job.base_dir,
        files=[f.model_dump() for f in source.files],
        tables=[t.model_dump() for t in source.tables],
        connection=resolve(dict(source.connection), tenant),
        target_partition_bytes=source.partitioning.target_mb * 1024 * 1024,
        tenant_id=tenant,
        query=source.query,
        partitioning=source.partitioning.model_dump(exclude_none=True),
        incremental=source.incremental.model_dump() if source.incremental else None,
        state=dict(state or {}),
    )
    return plugin_call(plugin_name(cls), cls, validate_settings(cls, settings, key, job), context)


def validate_settings(cls: Any, settings: dict[str, Any], key: str, job: LoadedJob) -> Any:
    try:
        return cls.config_model.model_validate(settings)
    except ValidationError as exc:
        problems = [
            f"{job.path}: {key}.{format_key_path(err['loc'])}: "
            + ("unknown option" if err["type"] == "extra_forbidden" else err["msg"])
            for err in exc.errors()
        ]
        raise ConfigError(f"invalid settings for plugin {cls.name!r}", file=str(job.path), problems=problems) from None
