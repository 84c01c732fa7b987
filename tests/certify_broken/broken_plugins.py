"""Plugins that break the contract on purpose, one defect each, for `dativo plugins certify`'s
tests (tests/integration/test_certify.py): each must fail exactly its expected checks.

`CountingReader` is the sound base: rows 0..rows-1 over `partitions` partitions, a declared
schema, settings with a secret `token`, and `fail: true` making read() fail naming the token."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from dativo_workers.plugins import DataReader, DataWriter, Partition, PluginSettings, WriterContext


class CountingSettings(PluginSettings):
    rows: int = Field(200, ge=0)
    partitions: int = Field(4, ge=1)
    token: str = ""
    fail: bool = False


class CountingReader(DataReader):
    name = "counting"
    config_model = CountingSettings
    config: CountingSettings

    def plan(self) -> list[Partition]:
        n = self.config.partitions
        return [Partition(index=i, spec={"part": i, "of": n}, label=f"part {i}") for i in range(n)]

    def schema(self) -> pa.Schema:
        return pa.schema([("n", pa.int64()), ("name", pa.string())])

    def values(self, partition: Partition) -> range:
        part, of = partition.spec.get("part", 0), partition.spec.get("of", 1)
        size = -(-self.config.rows // of)
        return range(part * size, min(self.config.rows, (part + 1) * size))

    def read(self, partition: Partition, schema: pa.Schema | None) -> Iterator[Any]:
        if self.config.fail:
            raise ConnectionError(f"cannot reach the API with token {self.config.token}")
        values = list(self.values(partition))
        for start in range(0, len(values), 25):
            chunk = values[start : start + 25]
            yield pa.record_batch({"n": pa.array(chunk, pa.int64()), "name": [f"row {v}" for v in chunk]})


class LeakyPlanReader(CountingReader):
    """Puts the secret token into every partition's spec (it travels through the ledger and broker)."""

    name = "leaky_plan"

    def plan(self) -> list[Partition]:
        return [Partition(p.index, {**p.spec, "auth": self.config.token}) for p in super().plan()]


class OverlappingReader(CountingReader):
    """Each partition also reads the first rows of the next one."""

    name = "overlapping"

    def values(self, partition: Partition) -> range:
        inner = super().values(partition)
        return range(inner.start, min(self.config.rows, inner.stop + 10))


class WrongSchemaReader(CountingReader):
    """schema() says `n` is an int64; the batches carry text that is no number."""

    name = "wrong_schema"

    def read(self, partition: Partition, schema: pa.Schema | None) -> Iterator[Any]:
        for batch in super().read(partition, schema):
            yield pa.record_batch({"n": [f"#{v}" for v in batch.column(0).to_pylist()], "name": batch.column(1)})


class ExitingReader(CountingReader):
    """Calls sys.exit() while reading its second partition."""

    name = "exiting"

    def read(self, partition: Partition, schema: pa.Schema | None) -> Iterator[Any]:
        if partition.index == 1:
            sys.exit(3)
        yield from super().read(partition, schema)


class HardExitReader(CountingReader):
    """Ends its process (os._exit) while reading its second partition: nothing can contain that."""

    name = "hard_exit"

    def read(self, partition: Partition, schema: pa.Schema | None) -> Iterator[Any]:
        if partition.index == 1:
            os._exit(3)
        yield from super().read(partition, schema)


class NoApiVersionReader(CountingReader):
    """States no plugin API version."""

    name = "no_api_version"
    api_version = None  # type: ignore[assignment]


class UncheckedSettingsReader(CountingReader):
    """No settings model: a mistyped key is silently ignored."""

    name = "unchecked_settings"
    config_model = None

    def __init__(self, config: Any, context: Any) -> None:
        super().__init__(CountingSettings.model_validate(config), context)


class SideFileWriter(DataWriter):
    """Writes each batch to a side file without the attempt's prefix; abort() leaves it behind."""

    name = "side_file"
    config_model = PluginSettings

    def __init__(self, config: Any, context: WriterContext) -> None:
        super().__init__(config, context)
        self.rows = 0
        self.side = context.output_dir / f"side-{os.getpid()}-{id(self)}.tmp"
        self.path = context.output_dir / f"{context.file_prefix}.txt"

    def write(self, batch: pa.RecordBatch) -> None:
        with self.side.open("a") as handle:
            handle.write(f"{batch.num_rows}\n")
        self.rows += batch.num_rows

    def close(self) -> list[dict[str, Any]]:
        self.side.rename(self.path)
        return [{"path": str(self.path), "rows": self.rows}]


class HoardingReader(CountingReader):
    """Keeps every batch it yields: its memory grows with the partition, not with the batch."""

    name = "hoarding"

    def read(self, partition: Partition, schema: pa.Schema | None) -> Iterator[Any]:
        self.kept = []
        for batch in super().read(partition, schema):
            self.kept.append(pa.record_batch({"n": pc.add(batch.column(0), 0), "name": batch.column(1)}))
            yield batch
