"""Markdown-KV: the writer and reader plugins round-trip records, every storage mode, and the
escaping edge cases of docs/markdown_kv.md."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from dativo_plugins.markdown_kv import format as mdkv
from dativo_plugins.markdown_kv.reader import MarkdownKvReader, MarkdownKvReaderOptions
from dativo_plugins.markdown_kv.writer import MarkdownKvWriter, MarkdownKvWriterOptions
from dativo_workers.errors import ConfigError, SourceError
from dativo_workers.plugins import ReaderConversionError, SourceContext, WriterContext
from dativo_workers.plugins.manager import installed_plugins

ADDRESS = pa.struct([pa.field("city", pa.string()), pa.field("zip", pa.string())])

SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64()),
        pa.field("name", pa.string()),
        pa.field("note", pa.string()),
        pa.field("amount", pa.decimal128(12, 2)),
        pa.field("score", pa.float64()),
        pa.field("active", pa.bool_()),
        pa.field("day", pa.date32()),
        pa.field("at", pa.timestamp("us", "UTC")),
        pa.field("local", pa.timestamp("us")),
        pa.field("clock", pa.time64("us")),
        pa.field("blob", pa.binary()),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("attrs", pa.map_(pa.string(), pa.int64())),
        pa.field("a:b", pa.int32()),
        pa.field("#hash", pa.string()),
        pa.field("address", ADDRESS),
    ]
)

ROWS: list[dict[str, Any]] = [
    {
        "id": 1,
        "name": "Alice",
        "note": "plain: colons: everywhere",
        "amount": Decimal("12.50"),
        "score": 0.1,
        "active": True,
        "day": dt.date(2024, 1, 31),
        "at": dt.datetime(2024, 1, 31, 12, 0, 0, 123456, tzinfo=dt.UTC),
        "local": dt.datetime(1970, 1, 1),
        "clock": dt.time(23, 59, 59, 999999),
        "blob": b"\x00\xff bytes",
        "tags": ["a", "b, c", 'quote "q"'],
        "attrs": [("x", 1), ("y", None)],
        "a:b": 7,
        "#hash": "# not a heading",
        "address": {"city": "Paris", "zip": "75001"},
    },
    {
        "id": 2,
        "name": "multi\nline\r\nname\twith tab",
        "note": "",
        "amount": None,
        "score": float("inf"),
        "active": False,
        "day": None,
        "at": None,
        "local": None,
        "clock": None,
        "blob": b"",
        "tags": [],
        "attrs": [],
        "a:b": None,
        "#hash": "\n# heading after a newline",
        "address": None,
    },
    {
        "id": 3,
        "name": 'Zoë 北京 🚀 "quoted" \\ backslash',
        "note": "  leading and trailing  ",
        "amount": Decimal("-0.01"),
        "score": -0.0,
        "active": None,
        "day": dt.date(2999, 12, 31),
        "at": dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
        "local": dt.datetime(2024, 2, 29, 6, 30),
        "clock": dt.time(0, 0),
        "blob": None,
        "tags": None,
        "attrs": None,
        "a:b": -1,
        "#hash": '"starts with a quote',
        "address": {"city": None, "zip": ""},
    },
    {
        "id": 4,
        "name": "null",
        "note": "\u2028line separator\x85next line\x7fdel\x00nul",
        "amount": Decimal("9999999999.99"),
        "score": None,
        "active": True,
        "day": dt.date(1970, 1, 1),
        "at": dt.datetime(2024, 6, 1, tzinfo=dt.UTC),
        "local": None,
        "clock": dt.time(12, 0, 0, 1),
        "blob": b"\n",
        "tags": [None, ""],
        "attrs": [("k:ey", 3)],
        "a:b": 2147483647,
        "#hash": "",
        "address": {"city": "x #", "zip": None},
    },
]


def _batch(rows: list[dict[str, Any]] = ROWS, schema: pa.Schema = SCHEMA) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(rows, schema=schema)


def _writer(tmp_path: Path, **options: Any) -> MarkdownKvWriter:
    context = WriterContext(output_dir=tmp_path / "out", file_prefix="run1-p00000-a01")
    return MarkdownKvWriter(MarkdownKvWriterOptions.model_validate(options), context)


def _reader(tmp_path: Path, pattern: str = "out/*.md", **options: Any) -> MarkdownKvReader:
    context = SourceContext(base_dir=tmp_path, files=[{"path": pattern}])
    return MarkdownKvReader(MarkdownKvReaderOptions.model_validate(options), context)


def _read_all(reader: MarkdownKvReader, schema: pa.Schema | None) -> pa.Table:
    tables = [
        pa.Table.from_batches([b]) if isinstance(b, pa.RecordBatch) else b
        for p in reader.plan()
        for b in reader.read(p, schema)
    ]
    return pa.concat_tables(tables)


def _write_files(tmp_path: Path, batches: list[pa.RecordBatch], **options: Any) -> list[dict[str, Any]]:
    writer = _writer(tmp_path, **options)
    for batch in batches:
        writer.write(batch)
    return writer.close()


def test_plugins_are_registered_through_the_entry_point() -> None:
    names = {(p.kind, p.name) for p in installed_plugins()}
    assert ("reader", "markdown_kv") in names and ("writer", "markdown_kv") in names


def test_records_round_trip_through_md_files(tmp_path: Path) -> None:
    written = _write_files(tmp_path, [_batch(ROWS[:2]), _batch(ROWS[2:])])
    assert len(written) == 1
    assert written[0]["rows"] == 4
    path = Path(written[0]["path"])
    assert path.parent == tmp_path / "out" and path.name.startswith("run1-p00000-a01") and path.suffix == ".md"
    assert written[0]["bytes"] == path.stat().st_size
    back = _read_all(_reader(tmp_path), SCHEMA)
    assert back.to_pylist() == ROWS


def test_written_text_is_the_documented_layout(tmp_path: Path) -> None:
    schema = pa.schema([("id", pa.int64()), ("name", pa.string()), ("note", pa.string()), ("address", ADDRESS)])
    rows = [
        {"id": 7, "name": "Ann", "note": None, "address": {"city": "Oslo", "zip": None}},
        {"id": 8, "name": "two\nlines", "note": "", "address": None},
    ]
    (written,) = _write_files(tmp_path, [_batch(rows, schema)])
    assert Path(written["path"]).read_text(encoding="utf-8") == (
        "# 7\n\nid: 7\nname: Ann\nnote:\n\n## address\n\ncity: Oslo\nzip:\n"
        "\n"
        '# 8\n\nid: 8\nname: "two\\nlines"\nnote: ""\n'
    )


def test_escaping_keeps_every_document_on_its_own_lines(tmp_path: Path) -> None:
    (written,) = _write_files(tmp_path, [_batch()])
    lines = Path(written["path"]).read_text(encoding="utf-8").split("\n")
    headings = [line for line in lines if line.startswith("#")]
    # four documents and one `## address` section for each present struct; nothing else
    # starts with '#' although values and keys do
    assert headings == ["# 1", "## address", "# 2", "# 3", "## address", "# 4", "## address"]
    assert '"#hash": # not a heading' in lines  # a value never starts a line: no quoting needed
    assert '"a:b": 7' in lines
    assert 'note: "\\u2028line separator\\u0085next line\\u007fdel\\u0000nul"' in lines
    assert "a:b:" not in "\n".join(lines)


@pytest.mark.parametrize("mode", ["string", "row_per_kv", "document_level"])
def test_storage_modes_match_between_writer_and_reader(tmp_path: Path, mode: str) -> None:
    writer = _writer(tmp_path, mode=mode)
    assert writer.table_schema(SCHEMA) == mdkv.MODE_SCHEMAS[mode]
    rows = writer.to_table(_batch())
    assert rows.schema == mdkv.MODE_SCHEMAS[mode]
    _write_files(tmp_path, [_batch()])
    read = _read_all(_reader(tmp_path, mode=mode), None)
    assert read.to_pylist() == rows.to_pylist()


def test_row_per_kv_rows(tmp_path: Path) -> None:
    schema = pa.schema([("id", pa.int64()), ("name", pa.string()), ("address", ADDRESS)])
    rows = [{"id": 1, "name": "a:b\nc", "address": {"city": "Rome", "zip": None}}, {"id": 2, "name": None}]
    table = _writer(tmp_path, mode="row_per_kv").to_table(_batch(rows, schema))
    assert table.to_pylist() == [
        {"doc_id": "1", "section": "", "key": "id", "value": "1", "position": 0},
        {"doc_id": "1", "section": "", "key": "name", "value": "a:b\nc", "position": 1},
        {"doc_id": "1", "section": "address", "key": "city", "value": "Rome", "position": 2},
        {"doc_id": "1", "section": "address", "key": "zip", "value": None, "position": 3},
        {"doc_id": "2", "section": "", "key": "id", "value": "2", "position": 0},
        {"doc_id": "2", "section": "", "key": "name", "value": None, "position": 1},
    ]


def test_document_level_rows(tmp_path: Path) -> None:
    schema = pa.schema([("sku", pa.string()), ("qty", pa.int32()), ("address", ADDRESS)])
    rows = [{"sku": "A-1", "qty": 2, "address": {"city": "Rome", "zip": "00100"}}, {"sku": "B-2", "qty": None}]
    table = _writer(tmp_path, mode="document_level", id_field="sku").to_table(_batch(rows, schema))
    assert table.to_pylist() == [
        {
            "doc_id": "A-1",
            "sections": [
                {"name": "", "entries": [{"key": "sku", "value": "A-1"}, {"key": "qty", "value": "2"}]},
                {"name": "address", "entries": [{"key": "city", "value": "Rome"}, {"key": "zip", "value": "00100"}]},
            ],
        },
        {
            "doc_id": "B-2",
            "sections": [{"name": "", "entries": [{"key": "sku", "value": "B-2"}, {"key": "qty", "value": None}]}],
        },
    ]


def test_string_mode_rows_are_the_file_documents(tmp_path: Path) -> None:
    writer = _writer(tmp_path, mode="string")
    table = writer.to_table(_batch())
    (written,) = _write_files(tmp_path, [_batch()])
    text = Path(written["path"]).read_text(encoding="utf-8")
    assert "\n".join(table.column("markdown").to_pylist()) == text
    assert table.column("doc_id").to_pylist() == ["1", "2", "3", "4"]


def test_ordinal_ids_continue_across_batches_and_id_field_titles_documents(tmp_path: Path) -> None:
    schema = pa.schema([("name", pa.string())])
    writer = _writer(tmp_path, mode="string")
    first = writer.to_table(_batch([{"name": "a"}, {"name": "b"}], schema))
    second = writer.to_table(_batch([{"name": "c"}], schema))
    assert first.column("doc_id").to_pylist() + second.column("doc_id").to_pylist() == ["1", "2", "3"]
    titled = _writer(tmp_path, mode="string", id_field="name").to_table(_batch([{"name": "x #"}], schema))
    assert titled.to_pylist() == [{"doc_id": "x #", "markdown": '# "x #"\n\nname: x #\n'}]
    with pytest.raises(ConfigError, match="id_field 'nope'"):
        _writer(tmp_path, id_field="nope").table_schema(schema)


def test_files_roll_over_at_file_size(tmp_path: Path) -> None:
    schema = pa.schema([("id", pa.int64()), ("text", pa.string())])
    rows = [{"id": i, "text": "x" * 300} for i in range(40)]
    written = _write_files(tmp_path, [_batch(rows, schema)], file_size_mb=0.002)  # ~2 KB
    assert len(written) > 3
    assert sum(f["rows"] for f in written) == 40
    assert all(Path(f["path"]).stat().st_size == f["bytes"] <= 2098 for f in written)
    assert len({f["path"] for f in written}) == len(written)
    back = _read_all(_reader(tmp_path), schema)
    assert back.to_pylist() == rows


def test_reader_infers_untyped_records(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text(
        "# first\n\nname: Ann\nage: 41\n\n## home\n\ncity: Oslo\n\n# second\nname: Bob\nextra: yes\n",
        encoding="utf-8",
    )
    reader = _reader(tmp_path, "docs/*.md", heading_column="title")
    schema = reader.schema()
    assert schema == pa.schema(
        [
            ("title", pa.string()),
            ("name", pa.string()),
            ("age", pa.string()),
            ("extra", pa.string()),
            ("home", pa.struct([("city", pa.string())])),
        ]
    )
    assert _read_all(reader, None).to_pylist() == [
        {"title": "first", "name": "Ann", "age": "41", "extra": None, "home": {"city": "Oslo"}},
        {"title": "second", "name": "Bob", "age": None, "extra": "yes", "home": None},
    ]


def test_hand_written_variants_are_accepted() -> None:
    text = '# doc ##\r\n\r\n  key:value  \r\nq: "a\\u00e9"   \r\n"k\\"x" :  v : w\r\n##  sec  \r\nz:\t\r\n'
    (doc,) = mdkv.parse_lines(io.StringIO(text, newline=""), "x.md")
    assert doc.doc_id == "doc"
    assert doc.sections == [("", [("key", "value"), ("q", "aé"), ('k"x', "v : w")]), ("sec", [("z", None)])]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("key: value\n", "x.md: line 1: 'key: value' line before the first '# ' document heading"),
        ("# d\n\njust text\n", "x.md: line 3: expected 'key: value'"),
        ("# d\n### deep\n", "x.md: line 2: '###' headings are not Markdown-KV"),
        ("#nospace\n", "x.md: line 1: a heading needs a space"),
        ('# d\nk: "open\n', "x.md: line 2: value of 'k' starts with '\"' but is not a valid JSON string"),
        ('# d\nk: "a" tail\n', "x.md: line 2: unexpected text after the quoted value of 'k'"),
        ('# d\n"k" v\n', "x.md: line 2: expected ':' after the quoted key 'k'"),
        ("# d\n: v\n", "x.md: line 2: empty key"),
        ("## s\n", "x.md: line 1: section heading before the first '# ' document heading"),
        ("# d\n##\n", "x.md: line 2: a '##' section heading needs a name"),
    ],
)
def test_malformed_text_names_file_and_line(text: str, message: str) -> None:
    with pytest.raises(mdkv.FormatError) as exc:
        list(mdkv.parse_lines(io.StringIO(text), "x.md"))
    assert str(exc.value).startswith(message)


def test_reader_errors_name_the_file_line_and_key(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    bad = tmp_path / "docs" / "bad.md"
    bad.write_text("# 1\nid: 1\n\n# 2\nid: 2\nid: 3\n", encoding="utf-8")
    reader = _reader(tmp_path, "docs/*.md")
    (partition,) = reader.plan()
    with pytest.raises(SourceError, match=r"bad\.md: document at line 4: key 'id' appears twice"):
        list(reader.read(partition, None))
    bad.write_text("# 1\nid: 1\n\n# 2\nid: two\n", encoding="utf-8")
    with pytest.raises(ReaderConversionError, match=r"bad\.md: column 'id'"):
        list(reader.read(partition, pa.schema([("id", pa.int64())])))
    untyped = list(reader.read_untyped(partition, pa.schema([("id", pa.int64())])))
    assert pa.Table.from_batches(untyped).to_pylist() == [{"id": "1"}, {"id": "two"}]
    assert reader.describe_position(partition, 1) == f"{bad}: line 4"
    bad.write_bytes(b"# 1\nname: \xff\n")
    with pytest.raises(SourceError, match="not UTF-8"):
        list(reader.read(partition, None))


def test_writing_is_deterministic(tmp_path: Path) -> None:
    one = _write_files(tmp_path / "a", [_batch()])
    two = _write_files(tmp_path / "b", [_batch(ROWS[:1]), _batch(ROWS[1:])])
    assert Path(one[0]["path"]).read_bytes() == Path(two[0]["path"]).read_bytes()


def test_quoting_rules() -> None:
    assert mdkv.encode_key("plain key") == "plain key"
    assert mdkv.encode_key("a:b") == '"a:b"'
    assert mdkv.encode_key("#x") == '"#x"'
    assert mdkv.encode_key("") == '""'
    assert mdkv.encode_value(None) == ""
    assert mdkv.encode_value("") == ' ""'
    assert mdkv.encode_value("a: b # c") == " a: b # c"
    assert mdkv.encode_value("tab\there") == ' "tab\\there"'
    assert mdkv.encode_value('"') == ' "\\""'
    assert mdkv.encode_heading("x #") == '"x #"' and mdkv.encode_heading("x#") == "x#"
    assert mdkv.quote("\u2029") == '"\\u2029"'


def test_abort_removes_the_attempts_files(tmp_path: Path) -> None:
    writer = _writer(tmp_path, file_size_mb=0.001)
    writer.write(_batch())
    writer.write(_batch())
    assert list((tmp_path / "out").glob("*.md"))
    writer.abort()
    assert not list((tmp_path / "out").glob("*.md"))


def test_only_space_and_tab_are_trimmed_other_blanks_are_content(tmp_path: Path) -> None:
    schema = pa.schema([("id", pa.int64()), ("v", pa.string()), ("\u00a0k\u3000", pa.string())])
    rows = [
        {"id": 1, "v": "\u00a0nbsp\u00a0", "\u00a0k\u3000": "\u3000ideographic\u3000"},
        {"id": 2, "v": "\x0bvertical tab\x0c", "\u00a0k\u3000": "\u2003em space "},
    ]
    writer = _writer(tmp_path, mode="string")
    table = writer.to_table(_batch(rows, schema))
    (written,) = _write_files(tmp_path, [_batch(rows, schema)])
    text = Path(written["path"]).read_text(encoding="utf-8")
    assert "v: \u00a0nbsp\u00a0\n" in text  # bare: nothing trims U+00A0
    assert 'v: "\\u000bvertical tab\\f"' in text and '"\u2003em space "' in text
    assert _read_all(_reader(tmp_path), schema).to_pylist() == rows
    assert _read_all(_reader(tmp_path, mode="string"), None).equals(table)


def test_fast_and_line_by_line_parsers_agree(tmp_path: Path) -> None:
    (written,) = _write_files(tmp_path, [_batch()])
    text = Path(written["path"]).read_text(encoding="utf-8")
    fast = mdkv._parse_fast(text, "x.md", 1)
    slow = mdkv.block_from_documents(list(mdkv.parse_lines(io.StringIO(text), "x.md")))
    assert fast.doc_ids.equals(slow.doc_ids) and fast.doc_lines.equals(slow.doc_lines)
    assert fast.entries.drop_columns(["line"]).equals(slow.entries.drop_columns(["line"]))
    assert fast.sections.column("name").equals(slow.sections.column("name"))
    # every entry's line number is the line it is on
    lines = text.split("\n")
    for row in fast.entries.to_pylist():
        assert lines[row["line"] - 1].startswith(mdkv.encode_key(row["key"]) + ":")


def test_irregular_text_is_read_by_the_line_parser(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text(
        "# one ##\n  name: indented\n\tage:  41 \n\n## home\ncity: Oslo\n# two\nname: Bob\n", encoding="utf-8"
    )
    reader = _reader(tmp_path, "docs/*.md", heading_column="title")
    assert _read_all(reader, None).to_pylist() == [
        {"title": "one", "name": "indented", "age": "41", "home": {"city": "Oslo"}},
        {"title": "two", "name": "Bob", "age": None, "home": None},
    ]


def test_big_files_are_parsed_in_blocks_with_the_right_line_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dativo_plugins.markdown_kv.reader as reader_module

    monkeypatch.setattr(reader_module, "_BLOCK_BYTES", 97)  # many blocks, cut at document starts
    schema = pa.schema([("id", pa.int64()), ("text", pa.string()), ("address", ADDRESS)])
    rows = [
        {"id": i, "text": f"row {i}\n# not a doc" if i % 2 else "x" * (i % 50), "address": {"city": "c", "zip": None}}
        for i in range(60)
    ]
    (written,) = _write_files(tmp_path, [_batch(rows, schema)])
    path = Path(written["path"])
    assert _read_all(_reader(tmp_path, batch_size=7), schema).to_pylist() == rows
    kv = _read_all(_reader(tmp_path, mode="row_per_kv"), None)
    assert kv.num_rows == 60 * 4
    # CRLF line ends read the same; an error deep in the file names its line
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert _read_all(_reader(tmp_path), schema).to_pylist() == rows
    text = path.read_text(encoding="utf-8").replace("\r\n", "\n").split("\n")
    bad_line = next(i for i, line in enumerate(text) if line == "id: 41") + 1
    text[bad_line - 1] = "id 41"
    path.write_text("\n".join(text), encoding="utf-8")
    with pytest.raises(SourceError, match=rf"line {bad_line}: expected 'key: value'"):
        _read_all(_reader(tmp_path), schema)


def test_keys_missing_from_the_schema_come_along_as_text(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# 1\nid: 1\nlate: x\n\n## more\nk: v\n", encoding="utf-8")
    got = _read_all(_reader(tmp_path, "docs/*.md"), pa.schema([("id", pa.int64())]))
    assert got.to_pylist() == [{"id": 1, "late": "x", "more": {"k": "v"}}]


def test_files_without_entries_cannot_tell_a_schema(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "empty.md").write_text("\n\n# only a heading\n", encoding="utf-8")
    reader = _reader(tmp_path, "docs/*.md")
    with pytest.raises(SourceError, match=r"no `key: value` entries in .*empty\.md.*set `asset_path`"):
        reader.schema()
    assert _read_all(reader, pa.schema([("id", pa.int64())])).to_pylist() == [{"id": None}]
