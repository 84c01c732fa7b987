"""Built-in file readers: CSV, JSON Lines and Parquet.

Registered through the ``dativo`` entry point group like any third-party plugin.
"""

from __future__ import annotations

from dativo_plugins.files.csv_reader import CsvOptions, CsvReader
from dativo_plugins.files.jsonl_reader import JsonlOptions, JsonlReader
from dativo_plugins.files.parquet_reader import ParquetOptions, ParquetReader
from dativo_workers.plugins import DataReader, hookimpl

__all__ = [
    "CsvOptions",
    "CsvReader",
    "JsonlOptions",
    "JsonlReader",
    "ParquetOptions",
    "ParquetReader",
    "dativo_readers",
]


@hookimpl
def dativo_readers() -> list[type[DataReader]]:
    return [CsvReader, JsonlReader, ParquetReader]
