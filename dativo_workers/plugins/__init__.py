"""Plugin API: what a connector package imports."""

from dativo_workers.plugins.base import (
    PLUGIN_API_VERSION,
    DataReader,
    DataWriter,
    DeclaredObject,
    DiscoveredObject,
    Partition,
    PluginSettings,
    ReaderConversionError,
    RejectedRecords,
    SourceContext,
    WriterContext,
    parse_lookback,
)
from dativo_workers.plugins.hookspecs import hookimpl

__all__ = [
    "PLUGIN_API_VERSION",
    "DataReader",
    "DataWriter",
    "DeclaredObject",
    "DiscoveredObject",
    "Partition",
    "PluginSettings",
    "ReaderConversionError",
    "RejectedRecords",
    "SourceContext",
    "WriterContext",
    "hookimpl",
    "parse_lookback",
]
