"""Built-in `parquet` writer: a run's rows as Parquet files in `target.path`.

```yaml
target:
  connector: parquet
  path: out/customers          # relative to the job file, or a URI (s3://bucket/prefix)
  options: {compression: zstd, file_size_mb: 256}
  encryption: {kms: {type: vault_transit}, footer_key: dativo-footer, columns: auto}  # optional
```

`target.encryption` writes Parquet modular encryption (docs/governance.md, "Encrypted files").

Registered through the ``dativo`` entry point group like any third-party plugin.
"""

from __future__ import annotations

from typing import Any, Literal

import pyarrow as pa
import pyarrow.fs as pafs
from pydantic import Field

from dativo_workers.fragments import RollingParquetWriter
from dativo_workers.plugins import DataWriter, PluginSettings, WriterContext, hookimpl


class ParquetWriterOptions(PluginSettings):
    compression: Literal["zstd", "snappy", "gzip", "lz4", "brotli", "none"] = "zstd"
    compression_level: int | None = Field(default=None, description="codec level (zstd: 1-22); codec default if unset")
    file_size_mb: int = Field(default=256, ge=1, le=4096, description="a file is closed once it reaches this size")


class ParquetWriter(DataWriter):
    """Rolling Parquet files named `<file_prefix>-00000.parquet`, `-00001`, ..."""

    name = "parquet"
    description = "Parquet files in a directory (local or object store)"
    config_model = ParquetWriterOptions
    supports_encryption = True  # `target.encryption`: Parquet modular encryption

    def __init__(self, config: ParquetWriterOptions, context: WriterContext) -> None:
        super().__init__(config, context)
        self.options = config
        self.files: RollingParquetWriter | None = None

    def write(self, batch: pa.RecordBatch) -> None:
        if self.files is None:  # the first batch fixes the file schema when the engine knows none
            directory = self.context.output_dir
            self.files = RollingParquetWriter(
                pafs.LocalFileSystem(),
                lambda seq: f"{directory}/{self.context.file_prefix}-{seq:05d}.parquet",
                self.context.schema or batch.schema,
                self.options.file_size_mb * 1024 * 1024,
                parquet_options={
                    "compression": self.options.compression,
                    "compression_level": self.options.compression_level,
                    "write_statistics": True,
                },
                encryption=self.context.encryption,
            )
        self.files.write(batch)

    def close(self) -> list[dict[str, Any]]:
        if self.files is None:
            return []
        return [{"path": f.path, "rows": f.rows, "bytes": f.bytes} for f in self.files.close()]

    def abort(self) -> None:
        if self.files is not None:
            self.files.abort()


@hookimpl
def dativo_writers() -> list[type[DataWriter]]:
    return [ParquetWriter]
