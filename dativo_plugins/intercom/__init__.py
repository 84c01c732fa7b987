"""intercom source (being built)."""

from __future__ import annotations

from dativo_workers.plugins import DataReader, hookimpl


@hookimpl
def dativo_readers() -> list[type[DataReader]]:
    return []
