"""pluggy hook specifications: the only way connectors reach the engine."""

from __future__ import annotations

import pluggy

from dativo_workers.plugins.base import DataReader, DataWriter
from dativo_workers.secrets.base import SecretProvider

PROJECT_NAME = "dativo"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def dativo_readers() -> list[type[DataReader]]:  # type: ignore[empty-body]
    """Return the reader classes this plugin provides."""


@hookspec
def dativo_writers() -> list[type[DataWriter]]:  # type: ignore[empty-body]
    """Return the writer classes this plugin provides."""


@hookspec
def dativo_secret_providers() -> list[type[SecretProvider]]:  # type: ignore[empty-body]
    """Return the secret provider classes this plugin provides (selected by `runner.secrets.provider`)."""
