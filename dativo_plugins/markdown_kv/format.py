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
_VALUE_QUOTE_RE2 = rf'^$|^\s|\s$|^"|{_CONTROL}'
_HEADING_QUOTE_RE2 = rf'^$|^\s|\s$|^"|(^|\s)#+$|{_CONTROL}'
_CONTROL_PY = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# A key also must not hold the separator or look like a heading; a heading text must not
# end in what CommonMark would strip as a closing `#` sequence.
_KEY_NEEDS_QUOTE = re.compile(r'^$|^\s|\s$|^["#]|:|[\x00-\x1f\x7f-\x9f\u2028\u2029]')
_HEADING_NEEDS_QUOTE = re.compile(r'^$|^\s|\s$|^"|(^|\s)#+$|[\x00-\x1f\x7f-\x9f\u2028\u2029]')
_HEADING = re.compile(r"^(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_CLOSING_HASHES = re.compile(r"[ \t]+#+$")
_JSON = json.JSONDecoder()


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
    return text == "" or text[0].isspace() or text[-1].isspace() or text[0] == '"'


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
    ordinal = pa.array(range(n), pa.int64())
    position = pa.array([0] * n, pa.int32())  # entries of each document placed so far
    parts: list[pa.Table] = []
    for e in rendered.entries:
        present = None if e.section == ROOT else rendered.present[e.section]
        part = pa.table(
            {
                "row": ordinal,
                "section": pa.array([e.section] * n, pa.string()),
                "key": pa.array([e.key] * n, pa.string()),
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
        new_group = pa.array([True] * total, pa.bool_())
    starts = pc.indices_nonzero(new_group)
    entries = pa.StructArray.from_arrays(
        [kv.column("key").combine_chunks(), kv.column("value").combine_chunks()], fields=list(ENTRY_TYPE)
    )
    entry_offsets = pa.concat_arrays([starts.cast(pa.int32()), pa.array([total], pa.int32())])
    sections = pa.StructArray.from_arrays(
        [section.take(starts), pa.ListArray.from_arrays(entry_offsets, entries)], fields=list(SECTION_TYPE)
    )
    # sections per document -> list offsets (documents without entries get an empty list)
    per_doc = [0] * n
    for r in rows.take(starts).to_pylist():
        per_doc[r] += 1
    offsets = [0]
    for count in per_doc:
        offsets.append(offsets[-1] + count)
    return pa.table(
        {"doc_id": doc_ids, "sections": pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), sections)},
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
        if text[end:].strip():
            raise FormatError(f"{where}: unexpected text after the quoted {what}: {text[end:].strip()[:40]!r}")
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
        if not line.strip():
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
        key, value = _parse_entry(line.strip(), where)
        if section is None:
            section = []
            doc.sections.append((ROOT, section))
        section.append((key, value))
    if doc is not None:
        yield doc


def _parse_entry(line: str, where: str) -> tuple[str, str | None]:
    if line.startswith('"'):
        key, end = _decode_token(line, where, "key")
        rest = line[end:].lstrip()
        if not rest.startswith(":"):
            raise FormatError(f"{where}: expected ':' after the quoted key {key!r}")
    else:
        colon = line.find(":")
        if colon < 0:
            raise FormatError(f"{where}: expected 'key: value', a '#'/'##' heading or a blank line, got {line[:40]!r}")
        key, rest = line[:colon].rstrip(), line[colon:]
        if not key:
            raise FormatError(f'{where}: empty key (write an empty key as "")')
    text = rest[1:].strip()
    if not text:
        return key, None
    if text.startswith('"'):
        value, end = _decode_token(text, where, f"value of {key!r}")
        if text[end:].strip():
            extra = text[end:].strip()[:40]
            raise FormatError(f"{where}: unexpected text after the quoted value of {key!r}: {extra!r}")
        return key, value
    return key, text


def render_document(doc: Document) -> str:
    """One parsed document in canonical form (what the writer writes for the same entries)."""
    heading = encode_heading(doc.doc_id)
    blocks = ["# " + heading if heading else "#"]
    for name, entries in doc.sections:
        lines = [encode_key(key) + ":" + encode_value(value) for key, value in entries]
        if name == ROOT:
            blocks.append("\n".join(lines))
        else:
            blocks.append(f"## {encode_heading(name)}" + ("\n\n" + "\n".join(lines) if lines else ""))
    return "\n\n".join(blocks) + "\n"


# -- documents -> Arrow -------------------------------------------------------------------


def documents_mode_table(docs: list[Document], mode: str) -> pa.Table:
    """Parsed documents in one of the three table shapes (what the writer produces for them)."""
    doc_ids = pa.array([d.doc_id for d in docs], pa.string())
    if mode == "string":
        return pa.table({"doc_id": doc_ids, "markdown": [render_document(d) for d in docs]}, schema=STRING_SCHEMA)
    rows: list[int] = []
    ids: list[str | None] = []
    sections: list[str] = []
    keys: list[str] = []
    values: list[str | None] = []
    positions: list[int] = []
    for i, doc in enumerate(docs):
        for position, (name, key, value) in enumerate(doc.entries()):
            rows.append(i)
            ids.append(doc.doc_id)
            sections.append(name)
            keys.append(key)
            values.append(value)
            positions.append(position)
    kv = pa.table(
        {"doc_id": ids, "section": sections, "key": keys, "value": values, "position": positions}, schema=KV_SCHEMA
    )
    if mode == "row_per_kv":
        return kv
    if mode == "document_level":
        return document_table(kv, pa.array(rows, pa.int64()), doc_ids)
    raise ValueError(f"unknown Markdown-KV storage mode {mode!r} (use one of {', '.join(STORAGE_MODES)})")


def infer_schema(docs: Iterable[Document]) -> pa.Schema:
    """Untyped records schema: root keys as strings, each section as a struct of strings, in
    order of first appearance."""
    root: dict[str, None] = {}
    sections: dict[str, dict[str, None]] = {}
    for doc in docs:
        for name, key, _ in doc.entries():
            if name == ROOT:
                root.setdefault(key)
            else:
                sections.setdefault(name, {}).setdefault(key)
    fields = [pa.field(k, pa.string()) for k in root]
    for name, keys in sections.items():
        if name in root:
            raise ValueError(f"section {name!r} has the name of a key of the root section")
        fields.append(pa.field(name, pa.struct([pa.field(k, pa.string()) for k in keys])))
    return pa.schema(fields)


class ConversionError(ValueError):
    """A value's text does not convert to the requested type."""


def documents_to_records(docs: list[Document], schema: pa.Schema, source: str, typed: bool = True) -> pa.RecordBatch:
    """The records mode: one row per document, columns of ``schema`` (root keys; a struct
    column from the section of its name). ``typed``: convert text to the schema's types,
    else every scalar stays text."""
    by_doc: list[dict[str, dict[str, str | None]]] = []
    for doc in docs:
        sections: dict[str, dict[str, str | None]] = {}
        for name, entries in doc.sections:
            target = sections.setdefault(name, {})
            for key, value in entries:
                if key in target:
                    where = f"{source}: document at line {doc.line}"
                    shown = "the root section" if name == ROOT else f"section {name!r}"
                    raise FormatError(f"{where}: key {key!r} appears twice in {shown}")
                target[key] = value
        by_doc.append(sections)
    arrays = []
    for f in schema:
        if pa.types.is_struct(f.type):
            children = [
                _convert([d.get(f.name, {}).get(c.name) for d in by_doc], c.type, typed, f"{f.name}.{c.name}")
                for c in f.type
            ]
            absent = pa.array([f.name not in d for d in by_doc], pa.bool_())
            arrays.append(pa.StructArray.from_arrays(children, names=[c.name for c in f.type], mask=absent))
        else:
            arrays.append(_convert([d.get(ROOT, {}).get(f.name) for d in by_doc], f.type, typed, f.name))
    return pa.RecordBatch.from_arrays(arrays, names=schema.names)


def untyped_schema(schema: pa.Schema) -> pa.Schema:
    def text(t: pa.DataType) -> pa.DataType:
        return pa.struct([pa.field(c.name, pa.string()) for c in t]) if pa.types.is_struct(t) else pa.string()

    return pa.schema([pa.field(f.name, text(f.type)) for f in schema])


def _convert(values: list[str | None], t: pa.DataType, typed: bool, column: str) -> pa.Array:
    text = pa.array(values, pa.string())
    if not typed or pa.types.is_string(t):
        return text
    try:
        if pa.types.is_large_string(t):
            return text.cast(t)
        if (
            pa.types.is_integer(t)
            or pa.types.is_floating(t)
            or pa.types.is_decimal(t)
            or pa.types.is_boolean(t)
            or pa.types.is_date(t)
            or pa.types.is_timestamp(t)
        ):
            return text.cast(t)
        return pa.array([None if v is None else _from_text(v, t) for v in values], t)
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


def read_documents(lines: Iterable[str], source: str, batch: int) -> Iterator[list[Document]]:
    """Documents in lists of at most ``batch``."""
    chunk: list[Document] = []
    for doc in parse_lines(lines, source):
        chunk.append(doc)
        if len(chunk) >= batch:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
