"""The `markdown_kv` writer: `.md` files, or rows of one of the three table shapes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from dativo_plugins.markdown_kv import format as mdkv
from dativo_workers.errors import ConfigError
from dativo_workers.plugins import DataWriter, PluginSettings, WriterContext


class MarkdownKvWriterOptions(PluginSettings):
    """Settings of the `markdown_kv` writer (`target.options`)."""

    mode: mdkv.StorageMode = "string"  # table shape when used as a table format
    # column whose value titles each document (`# <value>`); default: `id` when the data has
    # one, else the document's 1-based ordinal in the partition
    id_field: str | None = None
    file_size_mb: float = Field(64, gt=0)  # `.md` files roll over at this size


class MarkdownKvWriter(DataWriter):
    """Records as Markdown-KV documents: one `# heading` per record, `key: value` lines,
    struct columns as `## sections`. Also a table format (`string`, `row_per_kv`,
    `document_level`)."""

    name = "markdown_kv"
    config_model = MarkdownKvWriterOptions
    description = "Markdown-KV (LLM-friendly key: value documents): .md files or an Iceberg table format"
    config: MarkdownKvWriterOptions

    def __init__(self, config: PluginSettings, context: WriterContext) -> None:
        super().__init__(config, context)
        self._ordinal = 0  # documents titled so far (ordinal ids continue across batches and files)
        self._files: list[dict[str, Any]] = []
        self._stream: Any = None
        self._path: str | None = None
        self._rows = 0
        self._bytes = 0

    # -- table format ------------------------------------------------------------------

    def table_schema(self, schema: pa.Schema) -> pa.Schema:
        self._check_id_field(schema)
        return mdkv.MODE_SCHEMAS[self.config.mode]

    def to_table(self, batch: pa.RecordBatch) -> pa.Table:
        return mdkv.mode_table(self._layout(batch), self.config.mode)

    # -- files -------------------------------------------------------------------------

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        texts = mdkv.render_markdown(self._layout(batch))
        # bytes each document adds to a file: its text and the newline that separates it
        sizes = pc.add(pc.binary_length(texts), pa.scalar(1, pa.int32())).cast(pa.int64())
        limit = int(self.config.file_size_mb * 1024 * 1024)
        start, n = 0, len(texts)
        while start < n:
            if self._stream is None:
                self._open_file()
            fits = pc.sum(pc.less_equal(pc.cumulative_sum(sizes.slice(start)), limit - self._bytes)).as_py()
            if not fits:
                if self._rows:
                    self._finish_file()
                    continue
                fits = 1  # a document larger than file_size_mb gets a file of its own
            chunk = texts.slice(start, fits)
            joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, fits], pa.int32()), chunk), "\n")
            if self._rows:
                self._stream.write(b"\n")  # a blank line between documents
                self._bytes += 1
            data = joined[0].as_buffer()
            self._stream.write(data)
            self._bytes += data.size
            self._rows += fits
            start += fits

    def close(self) -> list[dict[str, Any]]:
        self._finish_file()
        return list(self._files)

    def abort(self) -> None:
        """The attempt failed: close and remove what this writer created."""
        if self._stream is not None:
            self._stream.close()
            self._files.append({"path": self._path, "rows": self._rows, "bytes": self._bytes})
            self._stream = None
        for written in self._files:
            Path(written["path"]).unlink(missing_ok=True)
        self._files = []

    def _open_file(self) -> None:
        prefix = self.context.file_prefix
        sep = "" if not prefix or prefix.endswith(("-", "_", ".", "/")) else "-"
        path = self.context.output_dir / f"{prefix}{sep}{len(self._files):05d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = str(path)
        self._stream = open(path, "wb")  # noqa: SIM115 - closed in _finish_file
        self._rows = self._bytes = 0

    def _finish_file(self) -> None:
        if self._stream is None:
            return
        self._stream.close()
        self._files.append({"path": self._path, "rows": self._rows, "bytes": self._bytes})
        self._stream = None

    # -- shared ------------------------------------------------------------------------

    def _id_column(self, schema: pa.Schema) -> str | None:
        if self.config.id_field is not None:
            return self.config.id_field
        return "id" if "id" in schema.names and not pa.types.is_nested(schema.field("id").type) else None

    def _check_id_field(self, schema: pa.Schema) -> None:
        name = self.config.id_field
        if name is not None and name not in schema.names:
            raise ConfigError(
                f"markdown_kv writer: id_field {name!r} is not a column (columns: {', '.join(schema.names)})"
            )

    def _layout(self, batch: pa.RecordBatch) -> mdkv.RenderedBatch:
        self._check_id_field(batch.schema)
        column = self._id_column(batch.schema)
        if column is not None:
            doc_ids = mdkv.format_column(batch.column(column))
        else:
            doc_ids = mdkv.arange(batch.num_rows, self._ordinal + 1).cast(pa.string())
        self._ordinal += batch.num_rows
        return mdkv.layout(batch, doc_ids)
