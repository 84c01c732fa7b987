"""A reader plugin for chaos tests: the built-in CSV reader, slowed down per record batch.

Copied next to a test's job file and named by `source.reader.plugin_path: slow_csv.SlowCsvReader`,
the way a user ships a plugin module with a job. Partitions then last long enough for a killed
worker to die in the middle of one. Everything else (planning, parsing, types) is the real
CSV reader.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pyarrow as pa
from pydantic import Field

from dativo_plugins.files.csv_reader import CsvOptions, CsvReader
from dativo_workers.plugins import Partition


class SlowCsvOptions(CsvOptions):
    sleep_per_batch_s: float = Field(0.2, ge=0)


class SlowCsvReader(CsvReader):
    name = "slow_csv"
    description = "CSV, sleeping after each record batch (tests)"
    config_model = SlowCsvOptions
    config: SlowCsvOptions

    def read(self, partition: Partition, schema: pa.Schema | None) -> Iterator[pa.RecordBatch]:
        for batch in super().read(partition, schema):
            time.sleep(self.config.sleep_per_batch_s)
            yield batch
