"""Dativo reader plugin for web server access logs (Common/Combined Log Format).

Registers two readers through the ``dativo`` entry point group: ``access_log`` (the Rust parser
in ``dativo_access_log._native``, exported through the Arrow C stream interface) and
``access_log_py`` (the pure-Python reference).
"""

from __future__ import annotations

from dativo_access_log.reader import AccessLogPyReader, AccessLogReader, AccessLogSettings
from dativo_workers.plugins import DataReader, hookimpl

__all__ = ["AccessLogPyReader", "AccessLogReader", "AccessLogSettings"]


@hookimpl
def dativo_readers() -> list[type[DataReader]]:
    return [AccessLogReader, AccessLogPyReader]
