"""A reader and a writer registered through the `dativo` entry point group."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
from pydantic import Field

from dativo_workers.plugins import DataReader, DataWriter, Partition, PluginSettings, WriterContext, hookimpl


class CounterSettings(PluginSettings):
    rows: int = Field(default=10, ge=0)
    partitions: int = Field(default=1, ge=1)


class CounterReader(DataReader):
    """Rows 0..rows-1 split over `partitions` partitions: `n` and its square."""

    name = "ep_counter"
    description = "counts (test entry-point plugin)"
    config_model = CounterSettings
    config: CounterSettings

    def plan(self) -> list[Partition]:
        n = self.config.partitions
        return [Partition(index=i, spec={"part": i}, label=f"counter-{i}") for i in range(n)]

    def schema(self) -> pa.Schema:
        return pa.schema([("n", pa.int64()), ("square", pa.int64())])

    def read(self, partition: Partition, schema: pa.Schema | None) -> Iterator[Any]:
        values = range(partition.spec["part"], self.config.rows, self.config.partitions)
        yield [{"n": n, "square": n * n} for n in values]


class CsvSettings(PluginSettings):
    delimiter: str = ","


class CsvWriter(DataWriter):
    """One CSV file per partition attempt; as an Iceberg table format, one CSV line per row."""

    name = "ep_csv"
    description = "CSV files (test entry-point plugin)"
    config_model = CsvSettings
    config: CsvSettings

    def __init__(self, config: CsvSettings, context: WriterContext) -> None:
        super().__init__(config, context)
        self.path = context.output_dir / f"{context.file_prefix}.csv"
        self.writer: pacsv.CSVWriter | None = None
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        if self.writer is None:
            options = pacsv.WriteOptions(delimiter=self.config.delimiter)
            self.writer = pacsv.CSVWriter(str(self.path), batch.schema, write_options=options)
        self.writer.write_batch(batch)
        self.rows += batch.num_rows

    def close(self) -> list[dict[str, Any]]:
        if self.writer is None:
            return []
        self.writer.close()
        return [{"path": str(self.path), "rows": self.rows, "bytes": self.path.stat().st_size}]

    def table_schema(self, schema: pa.Schema) -> pa.Schema:
        return pa.schema([pa.field("line", pa.string(), nullable=False), pa.field("fields", pa.int32())])

    def to_table(self, batch: pa.RecordBatch) -> pa.Table:
        values = zip(*(c.to_pylist() for c in batch.columns), strict=True)
        lines = [self.config.delimiter.join("" if v is None else str(v) for v in row) for row in values]
        return pa.table({"line": lines, "fields": [batch.num_columns] * batch.num_rows})


@hookimpl
def dativo_readers() -> list[type[DataReader]]:
    return [CounterReader]


@hookimpl
def dativo_writers() -> list[type[DataWriter]]:
    return [CsvWriter]
