"""A SQL query run by DuckDB (a native library) as a Dativo source.

DuckDB hands its result over through the Arrow PyCapsule interface (`__arrow_c_stream__`):
the reader yields the DuckDB relation itself and the engine imports its record batches
without copying them. `partitions` splits the query by a hash of `partition_column`, so a
worker pool runs the slices in parallel. Relative file paths in the query resolve against the
job file's directory.

    source:
      reader:
        type: plugin
        plugin_path: duckdb_reader.DuckDbReader
        config:
          query: "SELECT * FROM read_csv('data/orders.csv') WHERE paid"
          partition_column: id
          partitions: 4

Needs `pip install "dativo-workers[examples]"` (duckdb).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa
from pydantic import Field

from dativo_workers.plugins import DataReader, Partition, PluginSettings, SourceContext


class DuckDbSettings(PluginSettings):
    query: str = Field(description="a DuckDB SELECT; read_csv/read_parquet/read_json paths are relative to the job")
    partition_column: str | None = None
    partitions: int = Field(default=1, ge=1, le=1024)
    threads: int | None = Field(default=None, ge=1, description="DuckDB threads per worker (default: all cores)")


class DuckDbReader(DataReader):
    name = "duckdb_query"
    description = "A DuckDB SQL query, exported through the Arrow PyCapsule interface (example plugin)"
    config_model = DuckDbSettings
    config: DuckDbSettings

    def __init__(self, config: DuckDbSettings, context: SourceContext) -> None:
        super().__init__(config, context)
        if config.partitions > 1 and config.partition_column is None:
            raise ValueError("partitions > 1 needs partition_column")
        self.connection = duckdb.connect()
        self.connection.execute(f"SET file_search_path = {_literal(str(context.base_dir))}")
        if config.threads is not None:
            self.connection.execute(f"SET threads = {config.threads}")

    def plan(self) -> list[Partition]:
        n = self.config.partitions
        if n == 1:
            return [Partition(index=0, spec={})]
        column = self.config.partition_column
        return [Partition(index=i, spec={"bucket": i}, label=f"hash({column}) % {n} = {i}") for i in range(n)]

    def schema(self) -> pa.Schema:
        return pa.RecordBatchReader.from_stream(self._relation({}).limit(0)).schema

    def read(self, partition: Partition, schema: pa.Schema | None) -> Iterator[Any]:
        yield self._relation(partition.spec)  # a DuckDBPyRelation: exported as an Arrow C stream

    def _relation(self, spec: dict[str, Any]) -> duckdb.DuckDBPyRelation:
        sql = f"SELECT * FROM ({self.config.query}) AS q"
        if "bucket" in spec:
            column = '"' + (self.config.partition_column or "").replace('"', '""') + '"'
            sql += f" WHERE hash(q.{column}) % {self.config.partitions} = {int(spec['bucket'])}"
        return self.connection.sql(sql)

    def close(self) -> None:
        self.connection.close()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
