"""JSON Lines files as a Dativo target: one JSON object per row, optionally gzip-compressed.

target:
  writer:
    type: plugin
    plugin_path: jsonl_writer.JsonLinesWriter
    config: {rows_per_file: 100000, gzip: true}
  path: out/orders            # relative to the job file, or s3://bucket/prefix
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
from pydantic import Field

from dativo_workers.plugins import DataWriter, PluginSettings, WriterContext


class JsonLinesSettings(PluginSettings):
    rows_per_file: int = Field(default=1_000_000, ge=1, description="a new file starts after this many rows")
    gzip: bool = False


class JsonLinesWriter(DataWriter):
    """Files `<file_prefix>-00000.jsonl[.gz]`, ... in the output directory."""

    name = "jsonl_files"
    description = "JSON Lines files (example plugin)"
    config_model = JsonLinesSettings
    config: JsonLinesSettings

    def __init__(self, config: JsonLinesSettings, context: WriterContext) -> None:
        super().__init__(config, context)
        self.files: list[dict[str, Any]] = []
        self.handle: IO[str] | None = None

    def write(self, batch: pa.RecordBatch) -> None:
        for row in batch.to_pylist():
            if self.handle is None or self.files[-1]["rows"] >= self.config.rows_per_file:
                self._next_file()
            assert self.handle is not None
            self.handle.write(json.dumps(row, default=_json_value, ensure_ascii=False) + "\n")
            self.files[-1]["rows"] += 1

    def _next_file(self) -> None:
        self._finish_file()
        suffix = ".jsonl.gz" if self.config.gzip else ".jsonl"
        path = self.context.output_dir / f"{self.context.file_prefix}-{len(self.files):05d}{suffix}"
        # open across write() calls until the file is full: closed by _finish_file
        if self.config.gzip:
            self.handle = gzip.open(path, "wt", encoding="utf-8")  # noqa: SIM115
        else:
            self.handle = path.open("w", encoding="utf-8")
        self.files.append({"path": str(path), "rows": 0})

    def _finish_file(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def close(self) -> list[dict[str, Any]]:
        self._finish_file()
        return [{**f, "bytes": Path(f["path"]).stat().st_size} for f in self.files]

    def abort(self) -> None:
        self._finish_file()


def _json_value(value: Any) -> Any:
    """JSON for what Arrow hands over beyond str/int/float/bool/list/dict."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
