"""Built-in database readers: PostgreSQL (ADBC) and MySQL/MariaDB (connectorx).

Registered through the ``dativo`` entry point group like any third-party plugin; their
drivers are the ``postgres`` and ``mysql`` extras.
"""

from __future__ import annotations

from dativo_plugins.sql.mysql import MysqlReader
from dativo_plugins.sql.postgres import PostgresReader
from dativo_workers.plugins import DataReader, hookimpl

__all__ = ["MysqlReader", "PostgresReader", "dativo_readers"]


@hookimpl
def dativo_readers() -> list[type[DataReader]]:
    return [PostgresReader, MysqlReader]
