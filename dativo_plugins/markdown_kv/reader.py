"""The `markdown_kv` reader: `.md` files as records, or as rows of a storage mode."""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Iterator
from functools import cached_property
from typing import Literal

import pyarrow as pa
from pydantic import Field

from dativo_plugins.files._common import resolve_files
from dativo_plugins.markdown_kv import format as mdkv
from dativo_workers.errors import SourceError
from dativo_workers.plugins import (
    DataReader,
    DiscoveredObject,
    Partition,
    PluginSettings,
    ReaderConversionError,
    SourceContext,
)


class MarkdownKvReaderOptions(PluginSettings):
    """Settings of the `markdown_kv` reader (`source.options`)."""

    # records: one row per document (root keys -> columns, `## section` -> struct column);
    # string | row_per_kv | document_level: the same rows the writer's table format gives
    mode: Literal["records", "string", "row_per_kv", "document_level"] = "records"
    batch_size: int = Field(10_000, ge=1)  # documents per Arrow batch
    infer_documents: int = Field(10_000, ge=1)  # documents sampled (over all files) for the schema
    heading_column: str | None = None  # records mode: also load each document's heading text here


class MarkdownKvReader(DataReader):
    """Markdown-KV files (docs/markdown_kv.md); one partition per file."""

    name = "markdown_kv"
    config_model = MarkdownKvReaderOptions
    description = "Markdown-KV documents in .md files (records, or the string/row_per_kv/document_level rows)"
    config: MarkdownKvReaderOptions
    source_list = "files"

    def __init__(self, config: PluginSettings, context: SourceContext) -> None:
        super().__init__(config, context)
        self._heading_lines: dict[str, list[int]] = {}

    @cached_property
    def _paths(self) -> list[str]:
        return resolve_files(self.context)

    def plan(self) -> list[Partition]:
        return [
            Partition(index=i, spec={"path": path}, estimated_bytes=os.path.getsize(path), label=path)
            for i, path in enumerate(self._paths)
        ]

    def schema(self) -> pa.Schema:
        if self.config.mode != "records":
            return mdkv.MODE_SCHEMAS[self.config.mode]
        sample = itertools.islice(
            (doc for path in self._paths for doc in self._documents(path)), self.config.infer_documents
        )
        try:
            inferred = mdkv.infer_schema(sample)
        except ValueError as exc:
            raise SourceError(f"markdown_kv: {exc}") from None
        if self.config.heading_column:
            if self.config.heading_column in inferred.names:
                raise SourceError(
                    f"markdown_kv: heading_column {self.config.heading_column!r} is also a key of the documents"
                )
            inferred = pa.schema([pa.field(self.config.heading_column, pa.string()), *inferred])
        return inferred

    def discover(self) -> list[DiscoveredObject]:
        return [DiscoveredObject(name=path, kind="file", schema=None) for path in self._paths]

    def read(self, partition: Partition, schema: pa.Schema | None) -> Iterator[pa.RecordBatch | pa.Table]:
        yield from self._read(partition, schema, typed=True)

    def read_untyped(self, partition: Partition, schema: pa.Schema) -> Iterator[pa.RecordBatch | pa.Table]:
        yield from self._read(partition, schema, typed=False)

    def _read(self, partition: Partition, schema: pa.Schema | None, typed: bool) -> Iterator[pa.RecordBatch | pa.Table]:
        path = partition.spec["path"]
        lines = self._heading_lines.setdefault(path, [])
        lines.clear()
        if schema is None and self.config.mode == "records":
            schema = self.schema()
        for chunk in self._chunks(path):
            lines.extend(doc.line for doc in chunk)
            if self.config.mode != "records":
                yield mdkv.documents_mode_table(chunk, self.config.mode)
                continue
            yield self._records(chunk, schema, path, typed)

    def _records(self, chunk: list[mdkv.Document], schema: pa.Schema, path: str, typed: bool) -> pa.RecordBatch:
        heading = self.config.heading_column
        fields = [f for f in schema if f.name != heading]
        try:
            batch = mdkv.documents_to_records(chunk, pa.schema(fields), path, typed)
        except mdkv.FormatError as exc:
            raise SourceError(str(exc)) from None
        except mdkv.ConversionError as exc:
            raise ReaderConversionError(f"{path}: {exc}") from None
        if heading and heading in schema.names:
            ids = pa.array([d.doc_id for d in chunk], pa.string())
            batch = batch.add_column(schema.get_field_index(heading), heading, ids)
        return batch

    def _chunks(self, path: str) -> Iterator[list[mdkv.Document]]:
        docs = self._documents(path)
        while chunk := list(itertools.islice(docs, self.config.batch_size)):
            yield chunk

    def _documents(self, path: str) -> Iterator[mdkv.Document]:
        try:
            with open(path, "rb") as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")  # a BOM is not text
                yield from mdkv.parse_lines(text, path)
        except mdkv.FormatError as exc:
            raise SourceError(str(exc)) from None
        except UnicodeDecodeError as exc:
            raise SourceError(f"{path}: not UTF-8: {exc}") from None
        except OSError as exc:
            raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from None

    def describe_position(self, partition: Partition, row_in_partition: int) -> str:
        path = partition.spec.get("path", "")
        lines = self._heading_lines.get(path, [])
        if self.config.mode == "records" and row_in_partition < len(lines):
            return f"{path}: line {lines[row_in_partition]}"
        return f"{path}: row {row_in_partition + 1}"
