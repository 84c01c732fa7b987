"""Markdown-KV: an LLM-friendly text format (records as `key: value` blocks under Markdown
headings). A writer (`.md` files, or an Iceberg table format in three storage modes) and a
reader. The format is specified in docs/markdown_kv.md.

Registered through the ``dativo`` entry point group like any third-party plugin.
"""

from __future__ import annotations

from dativo_plugins.markdown_kv.reader import MarkdownKvReader, MarkdownKvReaderOptions
from dativo_plugins.markdown_kv.writer import MarkdownKvWriter, MarkdownKvWriterOptions
from dativo_workers.plugins import DataReader, DataWriter, hookimpl

__all__ = [
    "MarkdownKvReader",
    "MarkdownKvReaderOptions",
    "MarkdownKvWriter",
    "MarkdownKvWriterOptions",
    "dativo_readers",
    "dativo_writers",
]


@hookimpl
def dativo_readers() -> list[type[DataReader]]:
    return [MarkdownKvReader]


@hookimpl
def dativo_writers() -> list[type[DataWriter]]:
    return [MarkdownKvWriter]
