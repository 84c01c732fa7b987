"""The declarative REST API source (`connector: rest_api`) and the HTTP layer every SaaS connector
uses (``dativo_plugins.rest_api.http``). See docs/saas.md.

Registered through the ``dativo`` entry point group like any third-party plugin.
"""

from __future__ import annotations

from dativo_plugins.rest_api.config import RestApiOptions
from dativo_plugins.rest_api.reader import RestApiReader
from dativo_workers.plugins import DataReader, hookimpl

__all__ = ["RestApiOptions", "RestApiReader", "dativo_readers"]


@hookimpl
def dativo_readers() -> list[type[DataReader]]:
    return [RestApiReader]
