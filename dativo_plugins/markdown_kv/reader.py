"""The `markdown_kv` reader: `.md` files as records, or as rows of a storage mode."""

from __future__ import annotations

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
    schema_sampled = True  # records mode: the keys of the first documents
    config_model = MarkdownKvReaderOptions
    description = "Markdown-KV documents in .md files (records, or the string/row_per_kv/document_level rows)"
    config: MarkdownKvReaderOptions
    source_list = "files"

    def __init__(self, config: PluginSettings, context: SourceContext) -> None:
        super().__init__(config, context)
        self._heading_lines: dict[str, list[int]] = {}

    @cached_property
    def _paths(self) -> list[str]:
        paths = [f.uri for f in resolve_files(self.context)]
        remote = [path for path in paths if "://" in path]
        if remote:  # this reader opens local files; object stores are for the CSV/JSON/Parquet readers
            raise SourceError(f"markdown_kv reads local files only, not {remote[0]!r}")
        return paths

    def plan(self) -> list[Partition]:
        return [
            Partition(index=i, spec={"path": path}, estimated_bytes=os.path.getsize(path), label=path)
            for i, path in enumerate(self._paths)
        ]

    def schema(self) -> pa.Schema:
        if self.config.mode != "records":
            return mdkv.MODE_SCHEMAS[self.config.mode]
        root: dict[str, None] = {}
        sections: dict[str, dict[str, None]] = {}
        seen = 0
        for path in self._paths:
            for block in self._parsed(path):
                mdkv.block_keys(block, root, sections)
                seen += block.num_docs
                if seen >= self.config.infer_documents:
                    break
            if seen >= self.config.infer_documents:
                break
        if not root and not sections:
            raise SourceError(
                f"markdown_kv: no `key: value` entries in {', '.join(self._paths[:3])}"
                f"{' ...' if len(self._paths) > 3 else ''} to take the columns from; set `asset_path`"
            )
        try:
            inferred = mdkv.keys_schema(root, sections)
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
        size = self.config.batch_size
        for block in self._parsed(path):
            lines.extend(block.doc_lines.to_pylist())
            if self.config.mode != "records":
                yield mdkv.block_mode_table(block, self.config.mode)
                continue
            assert schema is not None
            batch = self._records(block, schema, path, typed)
            for start in range(0, batch.num_rows, size):
                yield batch.slice(start, size)

    def _records(self, block: mdkv.ParsedBlock, schema: pa.Schema, path: str, typed: bool) -> pa.RecordBatch:
        heading = self.config.heading_column
        fields = [f for f in schema if f.name != heading]
        # keys the schema lacks come along as text, so the engine can report them as not loaded
        root: dict[str, None] = {}
        sections: dict[str, dict[str, None]] = {}
        mdkv.block_keys(block, root, sections)
        known = set(schema.names)
        extra = [k for k in root if k not in known] + [k for k in sections if k not in known and k not in root]
        if extra:
            fields += list(
                mdkv.keys_schema(
                    {k: None for k in root if k in extra}, {k: sections[k] for k in extra if k in sections}
                )
            )
        try:
            batch = mdkv.block_records(block, pa.schema(fields), path, typed)
        except mdkv.FormatError as exc:
            raise SourceError(str(exc)) from None
        except mdkv.ConversionError as exc:
            raise ReaderConversionError(f"{path}: {exc}") from None
        if heading and heading in schema.names:
            batch = batch.add_column(schema.get_field_index(heading), heading, block.doc_ids)
        return batch

    def _parsed(self, path: str) -> Iterator[mdkv.ParsedBlock]:
        try:
            for text, first_line in _blocks(path):
                yield mdkv.parse_block(text, path, first_line)
        except mdkv.FormatError as exc:
            raise SourceError(str(exc)) from None
        except OSError as exc:
            raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from None

    def describe_position(self, partition: Partition, row_in_partition: int) -> str:
        path = partition.spec.get("path", "")
        lines = self._heading_lines.get(path, [])
        if self.config.mode == "records" and row_in_partition < len(lines):
            return f"{path}: line {lines[row_in_partition]}"
        return f"{path}: row {row_in_partition + 1}"


_BLOCK_BYTES = 4 * 1024 * 1024  # text parsed at once: whole documents, about this much
_BOM = b"\xef\xbb\xbf"


def _last_document_start(data: bytes) -> int:
    """Index just after the last line break that a `#` (level-1) heading follows, or -1."""
    at = len(data)
    while (at := data.rfind(b"\n#", 0, at)) >= 0:
        following = data[at + 2 : at + 3]
        if following in (b" ", b"\t", b"\r", b"\n"):
            return at + 1
    return -1


def _blocks(path: str) -> Iterator[tuple[str, int]]:
    """The file as text blocks that hold whole documents, line breaks normalised to LF, each
    with the number of its first line. Memory: a block (a document larger than a block is
    read whole)."""
    line = 1
    carry = b""
    with open(path, "rb") as raw:
        first = True
        while True:
            chunk = raw.read(_BLOCK_BYTES)
            data = carry + chunk
            if first:
                data, first = data.removeprefix(_BOM), False  # a BOM is not text
            if chunk:
                cut = _last_document_start(data)
                if cut <= 0:
                    carry = data
                    continue
                data, carry = data[:cut], data[cut:]
            elif not data:
                return
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                at = line + data[: exc.start].replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n")
                raise SourceError(f"{path}: line {at}: not UTF-8 ({exc.reason})") from None
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            yield text, line
            line += text.count("\n")
            if not chunk:
                return
