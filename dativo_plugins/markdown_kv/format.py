"""Markdown-KV: records as blocks of ``key: value`` lines under Markdown headings.

Pure format code (no engine, no files): Arrow batches -> Markdown-KV text and the three
table shapes, and Markdown-KV text -> documents -> Arrow. The grammar is specified in
docs/markdown_kv.md; the short version:

    # <doc id>                 one document per level-1 heading
                               blank lines are ignored
    key: value                 entries of the root section
    other:                     a null value (nothing after the colon)

    ## <section>               a named section (a struct column)
    key: "two\\nlines"          quoted tokens are JSON string literals

Writing is deterministic: the same batch always gives the same bytes.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

StorageMode = Literal["string", "row_per_kv", "document_level"]
STORAGE_MODES: tuple[str, ...] = ("string", "row_per_kv", "document_level")
ROOT = ""  # the section name of entries that come before any `##` heading
BLANKS = " \t"  # the only characters trimmed around tokens (other spaces are content)

STRING_SCHEMA = pa.schema([pa.field("doc_id", pa.string()), pa.field("markdown", pa.string())])
KV_SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string()),
        pa.field("section", pa.string()),
        pa.field("key", pa.string()),
        pa.field("value", pa.string()),
        pa.field("position", pa.int32()),
    ]
)
ENTRY_TYPE = pa.struct([pa.field("key", pa.string()), pa.field("value", pa.string())])
SECTION_TYPE = pa.struct([pa.field("name", pa.string()), pa.field("entries", pa.list_(ENTRY_TYPE))])
DOCUMENT_SCHEMA = pa.schema([pa.field("doc_id", pa.string()), pa.field("sections", pa.list_(SECTION_TYPE))])
MODE_SCHEMAS: dict[str, pa.Schema] = {
    "string": STRING_SCHEMA,
    "row_per_kv": KV_SCHEMA,
    "document_level": DOCUMENT_SCHEMA,
}

# Characters that force a token into its quoted (JSON) form. Control characters (C0, DEL,
# C1, U+2028/2029) would break a line or be invisible; leading/trailing blanks would be
# lost by editors; a leading quote would read as a quoted token.
_CONTROL = r"[\x00-\x1f\x7f-\x9f\x{2028}\x{2029}]"
_VALUE_QUOTE_RE2 = rf'^$|^[ \t]|[ \t]$|^"|{_CONTROL}'
_KEY_QUOTE_RE2 = rf'^$|^[ \t]|[ \t]$|^["#]|:|{_CONTROL}'
_HEADING_QUOTE_RE2 = rf'^$|^[ \t]|[ \t]$|^"|(^|[ \t])#+$|{_CONTROL}'
_CONTROL_PY = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# A key also must not hold the separator or look like a heading; a heading text must not
# end in what CommonMark would strip as a closing `#` sequence.
_KEY_NEEDS_QUOTE = re.compile(r'^$|^[ \t]|[ \t]$|^["#]|:|[\x00-\x1f\x7f-\x9f\u2028\u2029]')
_HEADING_NEEDS_QUOTE = re.compile(r'^$|^[ \t]|[ \t]$|^"|(^|[ \t])#+$|[\x00-\x1f\x7f-\x9f\u2028\u2029]')
_HEADING = re.compile(r"^(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_CLOSING_HASHES = re.compile(r"[ \t]+#+$")
_JSON = json.JSONDecoder()


def arange(n: int, start: int = 0) -> pa.Array:
    """int64 start, start+1, ... (pa.array(range(n)) goes through Python objects)."""
    ones = pc.fill_null(pa.nulls(n, pa.int64()), 1)
    return pc.add(pc.cumulative_sum(ones), pa.scalar(start - 1, pa.int64()))


def constant(value: Any, n: int, type: pa.DataType) -> pa.Array:
    """``value`` n times, built by Arrow."""
    return pc.fill_null(pa.nulls(n, type), pa.scalar(value, type))


class FormatError(ValueError):
    """Text that is not Markdown-KV; the message names the file and line."""


# -- tokens -----------------------------------------------------------------------------


def quote(text: str) -> str:
    """The quoted form of a token: a JSON string literal, with every control character escaped
    (json.dumps leaves DEL, C1 and U+2028/2029 as they are)."""
    return _CONTROL_PY.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False))


def encode_key(key: str) -> str:
    return quote(key) if _KEY_NEEDS_QUOTE.search(key) else key


def encode_heading(text: str | None) -> str:
    """Heading text after `# `/`## `; None (a null doc id) gives the empty string."""
    if text is None:
        return ""
    return quote(text) if _HEADING_NEEDS_QUOTE.search(text) else text


def encode_value(text: str | None) -> str:
    """A value as it follows the colon: '' for null, else ' ' and the bare or quoted token."""
    if text is None:
        return ""
    return " " + (quote(text) if _CONTROL_PY.search(text) or _needs_value_quote(text) else text)


def _needs_value_quote(text: str) -> bool:
    return text == "" or text[0] in ' \t"' or text[-1] in " \t"


def encode_values(values: pa.Array, pattern: str = _VALUE_QUOTE_RE2) -> pa.Array:
    """Vectorised token encoding of a string array: nulls stay null, the rest bare or quoted
    (``pattern`` flags what must be quoted; that is rare, so only those go through Python)."""
    flagged = pc.fill_null(pc.match_substring_regex(values, pattern), False)
    if pc.any(flagged).as_py():
        quoted = pa.array([quote(v) for v in pc.filter(values, flagged).to_pylist()], pa.string())
        values = pc.replace_with_mask(values, flagged, quoted)
    return values


# -- Arrow values -> text ---------------------------------------------------------------


def _json_default(obj: Any) -> Any:
    if isinstance(obj, dt.datetime | dt.date | dt.time):
        return obj.isoformat()
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, bytes):
        return base64.b64encode(obj).decode("ascii")
    if isinstance(obj, dt.timedelta):
        return obj.total_seconds()
    raise TypeError(f"cannot write {type(obj).__name__} in a Markdown-KV value")


def _jsonable(value: Any, t: pa.DataType) -> Any:
    """A nested Python value (from to_pylist) in the JSON shape the reader expects: maps with
    string keys as objects, every other map as a list of [key, value] pairs."""
    if value is None:
        return None
    if pa.types.is_map(t):
        if pa.types.is_string(t.key_type) or pa.types.is_large_string(t.key_type):
            return {k: _jsonable(v, t.item_type) for k, v in value}
        return [[_jsonable(k, t.key_type), _jsonable(v, t.item_type)] for k, v in value]
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return [_jsonable(v, t.value_type) for v in value]
    if pa.types.is_struct(t):
        return {f.name: _jsonable(value.get(f.name), f.type) for f in t}
    return value


def format_column(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One column as value text (unescaped), nulls kept: the text a reader turns back into
    the same value given the same type."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_dictionary(t):
        return format_column(arr.dictionary_decode())
    if pa.types.is_string(t):
        return arr
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return arr.cast(pa.string())
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    if pa.types.is_timestamp(t):
        if t.tz is not None:
            arr = arr.cast(pa.timestamp(t.unit, "UTC"))  # written as UTC with a `Z`
        # ISO 8601 with `T`: Arrow prints a space between date and time
        return pc.replace_substring(arr.cast(pa.string()), " ", "T", max_replacements=1)
    if pa.types.is_float16(t):
        arr = arr.cast(pa.float32())
    if (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_decimal(t)
        or pa.types.is_boolean(t)
        or pa.types.is_date(t)
        or pa.types.is_time(t)
    ):
        return arr.cast(pa.string())
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return pa.array(
            [None if v is None else base64.b64encode(v).decode("ascii") for v in arr.to_pylist()], pa.string()
        )
    if pa.types.is_duration(t):
        return arr.cast(pa.int64()).cast(pa.string())
    if pa.types.is_nested(t):
        return pa.array(
            [
                None
                if v is None
                else json.dumps(_jsonable(v, t), ensure_ascii=False, separators=(", ", ": "), default=_json_default)
                for v in arr.to_pylist()
            ],
            pa.string(),
        )
    raise TypeError(f"column type {t} cannot be written as Markdown-KV")


# -- Arrow batch -> documents -------------------------------------------------------------


@dataclass
class Entry:
    section: str
    key: str
    values: pa.Array  # formatted text, unescaped; null = null value


@dataclass
class RenderedBatch:
    """A batch laid out as documents, column by column (no per-row Python objects)."""

    doc_ids: pa.Array  # string
    entries: list[Entry]  # in document order: root entries, then each section's
    present: dict[str, pa.Array] = field(default_factory=dict)  # section -> bool (a null struct: no section)

    @property
    def num_rows(self) -> int:
        return len(self.doc_ids)


def layout(batch: pa.RecordBatch | pa.Table, doc_ids: pa.Array) -> RenderedBatch:
    """Root entries are the non-struct columns in schema order; each struct column becomes a
    `## <column>` section of its fields (nested values inside a section are JSON text)."""
    entries: list[Entry] = []
    sections: list[Entry] = []
    present: dict[str, pa.Array] = {}
    for f in batch.schema:
        column = batch.column(f.name)
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if pa.types.is_struct(f.type):
            present[f.name] = pc.is_valid(column)
            for i, child in enumerate(f.type):
                sections.append(Entry(f.name, child.name, format_column(column.field(i))))
        else:
            entries.append(Entry(ROOT, f.name, format_column(column)))
    return RenderedBatch(doc_ids, entries + sections, present)


def render_markdown(rendered: RenderedBatch) -> pa.Array:
    """Each row's document text, element-wise across columns (Arrow kernels, no row loop).

    A document is its heading, a blank line, the root entries, then for each present section
    a blank line, `## name`, a blank line and its entries; it ends with a newline.
    """
    tokens = pc.fill_null(encode_values(rendered.doc_ids, _HEADING_QUOTE_RE2), "")
    heading = pc.if_else(pc.equal(tokens, ""), pa.scalar("#"), pc.binary_join_element_wise(pa.scalar("#"), tokens, " "))
    blocks: list[pa.Array] = [heading]
    for section, lines in _section_lines(rendered):
        block = pc.binary_join_element_wise(*lines, "\n") if len(lines) > 1 else lines[0]
        if section != ROOT:
            block = pc.binary_join_element_wise(pa.scalar(f"## {encode_heading(section)}\n"), block, "\n")
            block = pc.if_else(rendered.present[section], block, pa.scalar(None, pa.string()))
        blocks.append(block)
    text = pc.binary_join_element_wise(*blocks, "\n\n", null_handling="skip")
    return pc.binary_join_element_wise(text, pa.scalar(""), "\n").cast(pa.string())  # the final newline


def _section_lines(rendered: RenderedBatch) -> Iterator[tuple[str, list[pa.Array]]]:
    """(section, [line text per row for each entry]) in document order."""
    current: str | None = None
    lines: list[pa.Array] = []
    for entry in rendered.entries:
        if entry.section != current:
            if lines:
                yield current or ROOT, lines
            current, lines = entry.section, []
        key = pa.scalar(encode_key(entry.key) + ":")
        value = pc.binary_join_element_wise(pa.scalar(" "), encode_values(entry.values), "")  # null stays null
        lines.append(pc.binary_join_element_wise(key, value, "", null_handling="replace", null_replacement=""))
    if lines:
        yield current or ROOT, lines


def kv_table(rendered: RenderedBatch) -> tuple[pa.Table, pa.Array]:
    """row_per_kv rows: one per (document, entry), in document order; entries of an absent
    section (a null struct) are left out. Also returns each row's document (0-based).

    Built column-wise: one slice per entry, then one stable sort by document."""
    n = rendered.num_rows
    ordinal = arange(n)
    position = constant(0, n, pa.int32())  # entries of each document placed so far
    parts: list[pa.Table] = []
    for e in rendered.entries:
        present = None if e.section == ROOT else rendered.present[e.section]
        part = pa.table(
            {
                "row": ordinal,
                "section": constant(e.section, n, pa.string()),
                "key": constant(e.key, n, pa.string()),
                "value": e.values,
                "position": position,
            }
        )
        if present is not None:
            part = part.filter(present)
            position = pc.add(position, present.cast(pa.int32()))
        else:
            position = pc.add(position, pa.scalar(1, pa.int32()))
        parts.append(part)
    if not parts or n == 0:
        return KV_SCHEMA.empty_table(), pa.array([], pa.int64())
    long = pa.concat_tables(parts)
    long = long.take(pc.sort_indices(long, [("row", "ascending"), ("position", "ascending")]))
    rows = long.column("row").combine_chunks()
    table = pa.table(
        {
            "doc_id": rendered.doc_ids.take(rows),
            "section": long.column("section"),
            "key": long.column("key"),
            "value": long.column("value"),
            "position": long.column("position"),
        },
        schema=KV_SCHEMA,
    )
    return table, rows


def document_table(kv: pa.Table, rows: pa.Array, doc_ids: pa.Array) -> pa.Table:
    """document_level rows from row_per_kv rows: ``rows[i]`` is the document (0..len(doc_ids)-1)
    of kv row i, non-decreasing. Consecutive entries of one section form one section item."""
    n = len(doc_ids)
    total = kv.num_rows
    section = kv.column("section").combine_chunks()
    rows = rows.cast(pa.int64())
    if total > 1:
        changed = pc.or_(
            pc.not_equal(rows.slice(1), rows.slice(0, total - 1)),
            pc.not_equal(section.slice(1), section.slice(0, total - 1)),
        )
        new_group = pa.concat_arrays([pa.array([True]), changed])
    else:
        new_group = constant(True, total, pa.bool_())
    starts = pc.indices_nonzero(new_group)
    entries = pa.StructArray.from_arrays(
        [kv.column("key").combine_chunks(), kv.column("value").combine_chunks()], fields=list(ENTRY_TYPE)
    )
    entry_offsets = pa.concat_arrays([starts.cast(pa.int32()), pa.array([total], pa.int32())])
    sections = pa.StructArray.from_arrays(
        [section.take(starts), pa.ListArray.from_arrays(entry_offsets, entries)], fields=list(SECTION_TYPE)
    )
    # sections per document -> list offsets (documents without entries get an empty list)
    counts = pc.value_counts(rows.take(starts))  # rows are sorted: values come out ascending
    per_doc = pc.replace_with_mask(
        constant(0, n, pa.int64()), pc.is_in(arange(n), value_set=counts.field("values")), counts.field("counts")
    )
    offsets = pa.concat_arrays([pa.array([0], pa.int64()), pc.cumulative_sum(per_doc)]).cast(pa.int32())
    return pa.table(
        {"doc_id": doc_ids, "sections": pa.ListArray.from_arrays(offsets, sections)},
        schema=DOCUMENT_SCHEMA,
    )


def mode_table(rendered: RenderedBatch, mode: str) -> pa.Table:
    """The batch in one of the three table shapes."""
    if mode == "string":
        return pa.table({"doc_id": rendered.doc_ids, "markdown": render_markdown(rendered)}, schema=STRING_SCHEMA)
    kv, rows = kv_table(rendered)
    if mode == "row_per_kv":
        return kv
    if mode == "document_level":
        return document_table(kv, rows, rendered.doc_ids)
    raise ValueError(f"unknown Markdown-KV storage mode {mode!r} (use one of {', '.join(STORAGE_MODES)})")


# -- text -> documents --------------------------------------------------------------------


@dataclass
class Document:
    doc_id: str | None
    line: int  # line of the `#` heading (1-based)
    sections: list[tuple[str, list[tuple[str, str | None]]]] = field(default_factory=list)

    def entries(self) -> Iterator[tuple[str, str, str | None]]:
        for name, entries in self.sections:
            for key, value in entries:
                yield name, key, value


def _decode_token(text: str, where: str, what: str) -> tuple[str, int]:
    """A quoted token at the start of ``text``: its value and where it ends."""
    try:
        value, end = _JSON.raw_decode(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"{where}: {what} starts with '\"' but is not a valid JSON string ({exc.msg})") from None
    if not isinstance(value, str):
        raise FormatError(f"{where}: {what} starts with '\"' but is not a JSON string")
    return value, end


def _heading_text(text: str | None, where: str, what: str) -> str | None:
    if not text:
        return None
    if text.startswith('"'):
        value, end = _decode_token(text, where, what)
        if text[end:].strip(BLANKS):
            raise FormatError(f"{where}: unexpected text after the quoted {what}: {text[end:].strip(BLANKS)[:40]!r}")
        return value
    return _CLOSING_HASHES.sub("", text)  # CommonMark: `# title ##` is the heading "title"


def parse_lines(lines: Iterable[str], source: str, first_line: int = 1) -> Iterator[Document]:
    """Documents of Markdown-KV text, one at a time (memory: one document).

    ``source`` names the file in errors. Blank lines are skipped; a line is a `#` heading (a new
    document), a `##` heading (a new section of the current document) or a `key: value` entry.
    """
    doc: Document | None = None
    section: list[tuple[str, str | None]] | None = None
    for number, raw in enumerate(lines, first_line):
        line = raw.rstrip("\r\n")
        if not line.strip(BLANKS):
            continue
        where = f"{source}: line {number}"
        if line.startswith("#"):
            match = _HEADING.match(line)
            if match is None:
                raise FormatError(f"{where}: a heading needs a space after its '#' marks: {line[:40]!r}")
            level, text = len(match.group(1)), match.group(2)
            if level == 1:
                if doc is not None:
                    yield doc
                doc, section = Document(_heading_text(text, where, "document id"), number), None
            elif level == 2:
                if doc is None:
                    raise FormatError(f"{where}: section heading before the first '# ' document heading")
                name = _heading_text(text, where, "section name")
                if name is None:
                    raise FormatError(f"{where}: a '##' section heading needs a name")
                section = []
                doc.sections.append((name, section))
            else:
                raise FormatError(
                    f"{where}: '{match.group(1)}' headings are not Markdown-KV; use '#' for a document "
                    "and '##' for a section"
                )
            continue
        if doc is None:
            raise FormatError(f"{where}: 'key: value' line before the first '# ' document heading")
        key, value = _parse_entry(line.strip(BLANKS), where)
        if section is None:
            section = []
            doc.sections.append((ROOT, section))
        section.append((key, value))
    if doc is not None:
        yield doc


def _parse_entry(line: str, where: str) -> tuple[str, str | None]:
    if line.startswith('"'):
        key, end = _decode_token(line, where, "key")
        rest = line[end:].lstrip(BLANKS)
        if not rest.startswith(":"):
            raise FormatError(f"{where}: expected ':' after the quoted key {key!r}")
    else:
        colon = line.find(":")
        if colon < 0:
            raise FormatError(f"{where}: expected 'key: value', a '#'/'##' heading or a blank line, got {line[:40]!r}")
        key, rest = line[:colon].rstrip(BLANKS), line[colon:]
        if not key:
            raise FormatError(f'{where}: empty key (write an empty key as "")')
    text = rest[1:].strip(BLANKS)
    if not text:
        return key, None
    if text.startswith('"'):
        value, end = _decode_token(text, where, f"value of {key!r}")
        if text[end:].strip(BLANKS):
            extra = text[end:].strip(BLANKS)[:40]
            raise FormatError(f"{where}: unexpected text after the quoted value of {key!r}: {extra!r}")
        return key, value
    return key, text


# -- parsed text, column-wise -------------------------------------------------------------

_FAST_HEADING = r"^(?P<marks>#+)(?:[ \t]+(?P<text>.*?))?[ \t]*$"
_ENTRIES_SCHEMA = pa.schema(
    [("doc", pa.int64()), ("section", pa.string()), ("key", pa.string()), ("value", pa.string()), ("line", pa.int64())]
)
_SECTIONS_SCHEMA = pa.schema([("doc", pa.int64()), ("name", pa.string()), ("line", pa.int64())])


@dataclass
class ParsedBlock:
    """Whole documents of Markdown-KV text as columns (no per-document Python objects)."""

    doc_ids: pa.Array  # string, one per document
    doc_lines: pa.Array  # int64: line of each document's `#` heading
    entries: pa.Table  # doc (index into doc_ids, non-decreasing), section, key, value, line; file order
    sections: pa.Table  # doc, name, line: every `##` heading, also one without entries

    @property
    def num_docs(self) -> int:
        return len(self.doc_ids)


class _Irregular(Exception):
    """Text outside the canonical fast path: the line-by-line parser decides (and names the line)."""


def parse_block(text: str, source: str, first_line: int = 1) -> ParsedBlock:
    """Parse text that holds whole documents (line breaks normalised to LF).

    Arrow kernels classify and split every line at once; only quoted tokens go through Python.
    Anything unusual (indented lines, `###`, a bad line) is handed to ``parse_lines``, which
    accepts the same language and raises the error that names the line.
    """
    try:
        return _parse_fast(text, source, first_line)
    except _Irregular:
        return block_from_documents(list(parse_lines(io.StringIO(text), source, first_line)))


def _parse_fast(text: str, source: str, first_line: int) -> ParsedBlock:
    lines = pc.split_pattern(pa.scalar(text, pa.string()), "\n").values
    number = arange(len(lines), first_line)
    content = pc.not_equal(pc.ascii_trim(lines, BLANKS), "")  # blank lines say nothing
    lines, number = pc.filter(lines, content), pc.filter(number, content)
    if len(lines) == 0:
        return block_from_documents([])
    hashed = pc.starts_with(lines, "#")
    if not hashed[0].as_py():
        raise _Irregular  # text before the first document
    # headings: few lines, so the regex only sees those
    heading = pc.extract_regex(pc.filter(lines, hashed), _FAST_HEADING)
    marks = pc.utf8_length(pc.struct_field(heading, "marks"))
    if heading.null_count or not pc.all(pc.less_equal(marks, 2)).as_py():
        raise _Irregular  # `#text`, `###`
    is_sec = pc.starts_with(lines, "##")
    is_doc = pc.and_(hashed, pc.invert(is_sec))
    head_numbers, head_text = pc.filter(number, hashed), pc.struct_field(heading, "text")
    level_one = pc.equal(marks, 1)
    doc_ids = _heading_tokens(
        pc.filter(head_text, level_one), pc.filter(head_numbers, level_one), source, "document id"
    )
    level_two = pc.invert(level_one)
    names = _heading_tokens(pc.filter(head_text, level_two), pc.filter(head_numbers, level_two), source, "section name")
    if names.null_count:
        raise _Irregular  # `##` without a name
    doc = pc.subtract(pc.cumulative_sum(is_doc.cast(pa.int64())), pa.scalar(1, pa.int64()))
    marker = pc.if_else(is_doc, pa.scalar(ROOT), pa.scalar(None, pa.string()))
    section = pc.fill_null_forward(pc.replace_with_mask(marker, is_sec, names))

    is_entry = pc.invert(hashed)
    raw, entry_lines = pc.filter(lines, is_entry), pc.filter(number, is_entry)
    if not pc.all(pc.greater_equal(pc.find_substring(raw, ":"), 0)).as_py():
        raise _Irregular  # a line that is not `key: value`
    parts = pc.split_pattern(raw, ":", max_splits=1)
    key = pc.ascii_trim(pc.list_element(parts, 0), BLANKS)
    value = pc.ascii_trim(pc.list_element(parts, 1), BLANKS)
    quoted_key = pc.starts_with(raw, '"')
    if pc.any(pc.and_(pc.equal(key, ""), pc.invert(quoted_key))).as_py():
        raise _Irregular  # empty key
    # quoted keys and values: decoded one by one (rare: only what the writer had to quote)
    slow = pc.or_(quoted_key, pc.starts_with(value, '"'))
    value = pc.if_else(pc.equal(value, ""), pa.scalar(None, pa.string()), value)
    if pc.any(slow).as_py():
        decoded = [
            _parse_entry(line.strip(BLANKS), f"{source}: line {at}")
            for line, at in zip(pc.filter(raw, slow).to_pylist(), pc.filter(entry_lines, slow).to_pylist(), strict=True)
        ]
        key = pc.replace_with_mask(key, slow, pa.array([k for k, _ in decoded], pa.string()))
        value = pc.replace_with_mask(value, slow, pa.array([v for _, v in decoded], pa.string()))
    entries = pa.table(
        [pc.filter(doc, is_entry), pc.filter(section, is_entry), key, value, entry_lines], schema=_ENTRIES_SCHEMA
    )
    sections = pa.table([pc.filter(doc, is_sec), names, pc.filter(number, is_sec)], schema=_SECTIONS_SCHEMA)
    return ParsedBlock(doc_ids, pc.filter(number, is_doc), entries, sections)


def _heading_tokens(texts: pa.Array, numbers: pa.Array, source: str, what: str) -> pa.Array:
    """Heading tokens as values: null when empty, quoted ones decoded, a closing `#` run dropped."""
    texts = pc.if_else(pc.equal(texts, ""), pa.scalar(None, pa.string()), texts)
    quoted = pc.fill_null(pc.starts_with(texts, '"'), False)
    bare = pc.replace_substring_regex(texts, r"[ \t]+#+$", "")
    if not pc.any(quoted).as_py():
        return bare
    decoded = [
        _heading_text(t, f"{source}: line {at}", what)
        for t, at in zip(pc.filter(texts, quoted).to_pylist(), pc.filter(numbers, quoted).to_pylist(), strict=True)
    ]
    return pc.replace_with_mask(bare, quoted, pa.array(decoded, pa.string()))


def block_from_documents(docs: list[Document]) -> ParsedBlock:
    """Documents from the line-by-line parser as a block (section lines are not tracked there:
    a section's line is its document's)."""
    entries: dict[str, list[Any]] = {name: [] for name in _ENTRIES_SCHEMA.names}
    sections: dict[str, list[Any]] = {name: [] for name in _SECTIONS_SCHEMA.names}
    for i, d in enumerate(docs):
        for name, items in d.sections:
            if name != ROOT:
                sections["doc"].append(i)
                sections["name"].append(name)
                sections["line"].append(d.line)
            for key, value in items:
                for column, item in zip(_ENTRIES_SCHEMA.names, (i, name, key, value, d.line), strict=True):
                    entries[column].append(item)
    return ParsedBlock(
        pa.array([d.doc_id for d in docs], pa.string()),
        pa.array([d.line for d in docs], pa.int64()),
        pa.table(entries, schema=_ENTRIES_SCHEMA),
        pa.table(sections, schema=_SECTIONS_SCHEMA),
    )


def block_mode_table(block: ParsedBlock, mode: str) -> pa.Table:
    """Parsed documents in one of the three table shapes (what the writer gives for the same rows)."""
    if mode == "string":
        documents = block_mode_table(block, "document_level")
        return pa.table({"doc_id": block.doc_ids, "markdown": markdown_of(documents)}, schema=STRING_SCHEMA)
    e = block.entries
    doc = e.column("doc").combine_chunks()
    total = len(doc)
    ordinal = arange(total)
    if total:  # position: entries of the same document before this one
        first = pa.concat_arrays([pa.array([True]), pc.not_equal(doc.slice(1), doc.slice(0, total - 1))])
        position = pc.subtract(ordinal, pc.fill_null_forward(pc.if_else(first, ordinal, pa.scalar(None, pa.int64()))))
    else:
        position = ordinal
    kv = pa.table(
        {
            "doc_id": block.doc_ids.take(doc),
            "section": e.column("section"),
            "key": e.column("key"),
            "value": e.column("value"),
            "position": position.cast(pa.int32()),
        },
        schema=KV_SCHEMA,
    )
    if mode == "row_per_kv":
        return kv
    if mode == "document_level":
        return document_table(kv, doc, block.doc_ids)
    raise ValueError(f"unknown Markdown-KV storage mode {mode!r} (use one of {', '.join(STORAGE_MODES)})")


def _lengths_to_offsets(lists: pa.Array) -> pa.Array:
    lengths = pc.fill_null(pc.list_value_length(lists), 0).cast(pa.int64())
    return pa.concat_arrays([pa.array([0], pa.int64()), pc.cumulative_sum(lengths)]).cast(pa.int32())


def markdown_of(documents: pa.Table) -> pa.Array:
    """The canonical text (what the writer writes) of document_level rows, column-wise."""
    sections = documents.column("sections").combine_chunks()
    items = pc.list_flatten(sections)
    entry_lists = items.field("entries")
    entries = pc.list_flatten(entry_lists)
    keys = encode_values(entries.field("key"), _KEY_QUOTE_RE2)
    values = pc.binary_join_element_wise(pa.scalar(" "), encode_values(entries.field("value")), "")
    lines = pc.binary_join_element_wise(keys, values, ":", null_handling="replace", null_replacement="")
    body = pc.binary_join(pa.ListArray.from_arrays(_lengths_to_offsets(entry_lists), lines), "\n")
    names = items.field("name")
    headed = pc.binary_join_element_wise(
        pa.scalar("## "), encode_values(names, _HEADING_QUOTE_RE2), pa.scalar("\n\n"), body, ""
    )
    blocks = pc.if_else(pc.equal(names, ROOT), body, headed)
    text = pc.binary_join(pa.ListArray.from_arrays(_lengths_to_offsets(sections), blocks), "\n\n")
    tokens = pc.fill_null(encode_values(documents.column("doc_id").combine_chunks(), _HEADING_QUOTE_RE2), "")
    heading = pc.if_else(pc.equal(tokens, ""), pa.scalar("#"), pc.binary_join_element_wise(pa.scalar("#"), tokens, " "))
    document = pc.if_else(pc.equal(text, ""), heading, pc.binary_join_element_wise(heading, text, "\n\n"))
    return pc.binary_join_element_wise(document, pa.scalar(""), "\n")  # the final newline


def block_keys(block: ParsedBlock, root: dict[str, None], sections: dict[str, dict[str, None]]) -> None:
    """Add the block's root keys and section keys, in order of first appearance, to the dicts."""
    e = block.entries
    in_root = pc.equal(e.column("section"), ROOT)
    for key in pc.unique(pc.filter(e.column("key"), in_root)).to_pylist():
        root.setdefault(key)
    for name in pc.unique(block.sections.column("name")).to_pylist():
        sections.setdefault(name, {})
    named = e.filter(pc.invert(in_root))
    pairs = pc.unique(pc.binary_join_element_wise(named.column("section"), named.column("key"), "\x00"))
    order = {}
    for section_name, key in (p.split("\x00", 1) for p in pairs.to_pylist()):
        order.setdefault(section_name, []).append(key)
    for section_name, keys in order.items():
        target = sections.setdefault(section_name, {})
        for key in keys:
            target.setdefault(key)


def keys_schema(root: dict[str, None], sections: dict[str, dict[str, None]]) -> pa.Schema:
    """Untyped records schema: root keys as strings, each section a struct of strings."""
    fields = [pa.field(k, pa.string()) for k in root]
    for name, keys in sections.items():
        if name in root:
            raise ValueError(f"section {name!r} has the name of a key of the root section")
        if keys:  # a section never seen with entries gives no column (a struct needs fields)
            fields.append(pa.field(name, pa.struct([pa.field(k, pa.string()) for k in keys])))
    return pa.schema(fields)


class ConversionError(ValueError):
    """A value's text does not convert to the requested type."""


def block_records(block: ParsedBlock, schema: pa.Schema, source: str, typed: bool = True) -> pa.RecordBatch:
    """The records mode: one row per document, columns of ``schema`` (root keys; a struct column
    from the section of its name). ``typed``: convert text to the schema's types, else text.

    Entries are sorted once by (section, key, document); each column is then one contiguous
    slice scattered onto the documents, so the cost does not grow with rows times columns."""
    n = block.num_docs
    e = block.entries
    section_codes = pc.dictionary_encode(e.column("section")).combine_chunks()
    key_codes = pc.dictionary_encode(e.column("key")).combine_chunks()
    width = max(len(key_codes.dictionary), 1)
    code = pc.add(pc.multiply(section_codes.indices.cast(pa.int64()), width), key_codes.indices.cast(pa.int64()))
    order = pc.sort_indices(
        pa.table({"code": code, "doc": e.column("doc")}), [("code", "ascending"), ("doc", "ascending")]
    )
    code = code.take(order)
    doc = e.column("doc").combine_chunks().take(order)
    value = e.column("value").combine_chunks().take(order)
    total = len(code)
    if total > 1:
        same = pc.and_(
            pc.equal(code.slice(1), code.slice(0, total - 1)), pc.equal(doc.slice(1), doc.slice(0, total - 1))
        )
        if pc.any(same).as_py():
            at = pc.indices_nonzero(same)[0].as_py() + 1
            row = order[at].as_py()
            name, key, line = (
                e.column("section")[row].as_py(),
                e.column("key")[row].as_py(),
                e.column("line")[row].as_py(),
            )
            shown = "the root section" if name == ROOT else f"section {name!r}"
            raise FormatError(
                f"{source}: document at line {block.doc_lines[doc[at].as_py()].as_py()}: "
                f"key {key!r} appears twice in {shown} (line {line})"
            )
    # where each (section, key) group starts in the sorted entries
    groups: dict[tuple[str, str], tuple[int, int]] = {}
    if total:
        first = pa.concat_arrays([pa.array([True]), pc.not_equal(code.slice(1), code.slice(0, total - 1))])
        starts = [*pc.indices_nonzero(first).to_pylist(), total]
        sec_dict, key_dict = section_codes.dictionary.to_pylist(), key_codes.dictionary.to_pylist()
        for start, stop in itertools.pairwise(starts):
            c = code[start].as_py()
            groups[(sec_dict[c // width], key_dict[c % width])] = (start, stop)
    docs = arange(n)

    def text(section: str, key: str) -> pa.Array:
        if (section, key) not in groups:
            return pa.nulls(n, pa.string())
        start, stop = groups[(section, key)]
        mask = pc.is_in(docs, value_set=doc.slice(start, stop - start))
        return pc.replace_with_mask(pa.nulls(n, pa.string()), mask, value.slice(start, stop - start))

    arrays = []
    for f in schema:
        if pa.types.is_struct(f.type):
            children = [_convert(text(f.name, c.name), c.type, typed, f"{f.name}.{c.name}") for c in f.type]
            heads = block.sections.filter(pc.equal(block.sections.column("name"), f.name)).column("doc")
            absent = pc.invert(pc.is_in(docs, value_set=heads.combine_chunks()))
            arrays.append(pa.StructArray.from_arrays(children, names=[c.name for c in f.type], mask=absent))
        else:
            arrays.append(_convert(text(ROOT, f.name), f.type, typed, f.name))
    return pa.RecordBatch.from_arrays(arrays, names=schema.names)


def _convert(text: pa.Array, t: pa.DataType, typed: bool, column: str) -> pa.Array:
    if not typed or pa.types.is_string(t):
        return text
    try:
        if (
            pa.types.is_large_string(t)
            or pa.types.is_integer(t)
            or pa.types.is_floating(t)
            or pa.types.is_decimal(t)
            or pa.types.is_boolean(t)
            or pa.types.is_date(t)
            or pa.types.is_timestamp(t)
        ):
            return text.cast(t)
        return pa.array([None if v is None else _from_text(v, t) for v in text.to_pylist()], t)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, TypeError) as exc:
        raise ConversionError(f"column {column!r}: {exc}") from None


def _from_text(text: str, t: pa.DataType) -> Any:
    if pa.types.is_time(t):
        return dt.time.fromisoformat(text)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return base64.b64decode(text, validate=True)
    if pa.types.is_duration(t):
        return int(text)
    if pa.types.is_null(t):
        return None
    if pa.types.is_nested(t):
        return _from_json(json.loads(text), t)
    raise TypeError(f"type {t} cannot be read from Markdown-KV")


def _from_json(value: Any, t: pa.DataType) -> Any:
    """A parsed JSON value in the Python shape pyarrow builds ``t`` from."""
    if value is None:
        return None
    if pa.types.is_map(t):
        pairs = value.items() if isinstance(value, dict) else value
        return [(_from_json(k, t.key_type), _from_json(v, t.item_type)) for k, v in pairs]
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return [_from_json(v, t.value_type) for v in value]
    if pa.types.is_struct(t):
        return {f.name: _from_json(value.get(f.name), f.type) for f in t}
    if pa.types.is_timestamp(t):
        return dt.datetime.fromisoformat(value)
    if pa.types.is_date(t):
        return dt.date.fromisoformat(value)
    if pa.types.is_time(t):
        return dt.time.fromisoformat(value)
    if pa.types.is_decimal(t):
        return Decimal(str(value))
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return base64.b64decode(value)
    return value
