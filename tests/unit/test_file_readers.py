"""The built-in file readers (CSV, JSON Lines, Parquet) against real files."""

from __future__ import annotations

import bz2
import csv
import functools
import gzip
import io
import itertools
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pluggy
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

import dativo_plugins.files
from dativo_plugins.files import (
    CsvOptions,
    CsvReader,
    JsonlOptions,
    JsonlReader,
    ParquetOptions,
    ParquetReader,
    _csv_records,
)
from dativo_plugins.files._common import RawSlice, SourceFiles
from dativo_plugins.files._csv_records import Dialect, record_lines, split_points
from dativo_workers.conform import POSITION_COLUMN, Conformer
from dativo_workers.errors import SourceError
from dativo_workers.plugins import DataReader, Partition, RejectedRecords, SourceContext, hookspecs


def make(
    reader_class: type[DataReader],
    base_dir: Path,
    *patterns: str,
    target: int = 128 * 1024 * 1024,
    **options: Any,
) -> Any:
    config = reader_class.config_model(**options)
    context = SourceContext(base_dir=base_dir, files=[{"path": p} for p in patterns], target_partition_bytes=target)
    return reader_class(config, context)


def rows(reader: DataReader, partitions: list[Partition], schema: pa.Schema | None = None) -> list[dict]:
    return [row for p in partitions for batch in reader.read(p, schema) for row in batch.to_pylist()]


def untyped_rows(reader: DataReader, partition: Partition, schema: pa.Schema) -> list[dict]:
    return [row for batch in reader.read_untyped(partition, schema) for row in batch.to_pylist()]


def through_json(partition: Partition) -> Partition:
    """A partition as a worker receives it: through the ledger and the broker."""
    return Partition.from_dict(json.loads(json.dumps(partition.to_dict())))


# --- plugin registration and options ----------------------------------------------------


def test_hook_provides_the_three_readers() -> None:
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    manager.register(dativo_plugins.files)
    readers = [cls for result in manager.hook.dativo_readers() for cls in result]
    assert sorted(cls.name for cls in readers) == ["csv", "jsonl", "parquet"]


@pytest.mark.parametrize(
    ("model", "options"),
    [
        (CsvOptions, {"delimeter": ";"}),
        (CsvOptions, {"delimiter": ";;"}),
        (CsvOptions, {"encoding": "no-such-codec"}),
        (JsonlOptions, {"delimiter": ","}),
        (ParquetOptions, {"batch_size": 0}),
        (ParquetOptions, {"batch_bytes": 0}),
        (ParquetOptions, {"buffer_size": 0}),
    ],
)
def test_bad_options_are_rejected(model: type, options: dict) -> None:
    with pytest.raises(ValidationError):
        model(**options)


# --- locating files ---------------------------------------------------------------------


def test_glob_is_recursive_sorted_and_deduplicated(tmp_path: Path) -> None:
    for name in ["b/2.csv", "a/1.csv", "a/deep/3.csv"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"id,file\n1,{name}\n")
    reader = make(CsvReader, tmp_path, "**/*.csv", "a/*.csv", str(tmp_path / "b/2.csv"))
    partitions = reader.plan()
    assert [p.index for p in partitions] == [0, 1, 2]
    assert [p.spec["path"] for p in partitions] == [
        str(tmp_path / "a/1.csv"),
        str(tmp_path / "a/deep/3.csv"),
        str(tmp_path / "b/2.csv"),
    ]
    assert [r["file"] for r in rows(reader, partitions)] == ["a/1.csv", "a/deep/3.csv", "b/2.csv"]


def test_pattern_matching_nothing_names_pattern_and_directory(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    reader = make(CsvReader, tmp_path, "data/*.csv")
    with pytest.raises(SourceError, match=r"'data/\*\.csv'") as error:
        reader.plan()
    assert str(tmp_path / "data") in str(error.value)


def test_later_file_with_other_columns_fails_naming_it(tmp_path: Path) -> None:
    (tmp_path / "1.csv").write_text("id,name\n1,a\n")
    (tmp_path / "2.csv").write_text("id,label\n2,b\n")
    reader = make(CsvReader, tmp_path, "*.csv")
    first, second = reader.plan()
    assert rows(reader, [first]) == [{"id": 1, "name": "a"}]
    with pytest.raises(SourceError, match=r"2\.csv.*missing \['name'\].*unexpected \['label'\]"):
        rows(reader, [second])


def test_reordered_columns_in_a_later_file_are_accepted(tmp_path: Path) -> None:
    (tmp_path / "1.csv").write_text("id,name\n1,a\n")
    (tmp_path / "2.csv").write_text("name,id\nb,2\n")
    reader = make(CsvReader, tmp_path, "*.csv")
    assert sorted(rows(reader, reader.plan()), key=lambda r: r["id"]) == [
        {"id": 1, "name": "a"},
        {"id": 2, "name": "b"},
    ]


# --- CSV parsing --------------------------------------------------------------------------


def test_csv_quotes_unicode_and_empty_versus_null(tmp_path: Path) -> None:
    (tmp_path / "q.csv").write_text(
        'id,text,note\n1,"a, b","he said ""hi"""\n2,"",\n3,Zürich ☃ 東京,"x"\n',
        encoding="utf-8",
    )
    reader = make(CsvReader, tmp_path, "q.csv")
    assert rows(reader, reader.plan()) == [
        {"id": 1, "text": "a, b", "note": 'he said "hi"'},
        {"id": 2, "text": "", "note": None},  # quoted empty is "", unquoted empty is NULL
        {"id": 3, "text": "Zürich ☃ 東京", "note": "x"},
    ]


@pytest.mark.parametrize("newlines_in_values", [None, True, False])
def test_csv_newlines_in_values(tmp_path: Path, newlines_in_values: bool | None) -> None:
    text = 'id,body\n1,"line one\nline two"\n2,plain\n3,"a\r\nb"\n'
    (tmp_path / "n.csv").write_bytes(text.encode())
    reader = make(CsvReader, tmp_path, "n.csv", target=8, newlines_in_values=newlines_in_values)
    partitions = [through_json(p) for p in reader.plan()]
    # cut only at record starts, never inside a quoted value (whatever the option says)
    assert [p.spec["start"] for p in partitions] == [0, text.index("2,plain"), text.index("3,")]
    assert [r["body"] for r in rows(reader, partitions)] == ["line one\nline two", "plain", "a\r\nb"]
    assert reader.describe_position(partitions[0], 0) == f"{tmp_path / 'n.csv'}: line 2"
    assert reader.describe_position(partitions[2], 0) == f"{tmp_path / 'n.csv'}: line 5"


def test_csv_integers_beyond_int64_are_inferred_as_text(tmp_path: Path) -> None:
    forty_digits = "1" * 40
    (tmp_path / "big.csv").write_text(
        f"id,big,huge,ratio\n1,12345678901234567890,{forty_digits},0.5\n2,-99999999999999999999,7,1\n3,,,\n"
    )
    reader = make(CsvReader, tmp_path, "big.csv")
    schema = reader.schema()
    assert schema.field("id").type == pa.int64()
    assert schema.field("big").type == pa.string()
    assert schema.field("huge").type == pa.string()
    assert schema.field("ratio").type == pa.float64()
    assert [(r["big"], r["huge"]) for r in rows(reader, reader.plan())] == [
        ("12345678901234567890", forty_digits),
        ("-99999999999999999999", "7"),
        (None, None),
    ]


def test_csv_digit_strings_with_leading_zeros_are_inferred_as_text(tmp_path: Path) -> None:
    (tmp_path / "zip.csv").write_text(
        'id,zip,plz,code,amount,ratio,count\n1,"08123",01067,-007,0.50,00.5,0\n2,"90210",10115,12,10.25,1.5,-0\n'
    )
    reader = make(CsvReader, tmp_path, "zip.csv")
    schema = reader.schema()
    assert {name: str(schema.field(name).type) for name in schema.names} == {
        "id": "int64",
        "zip": "string",  # quoted or not, a leading zero is kept
        "plz": "string",
        "code": "string",
        "amount": "double",  # 0.50: a zero before the point is not a leading zero
        "ratio": "string",
        "count": "int64",  # 0 and -0 alone are numbers
    }
    got = rows(reader, reader.plan())
    assert [(r["zip"], r["plz"], r["code"], r["ratio"]) for r in got] == [
        ("08123", "01067", "-007", "00.5"),
        ("90210", "10115", "12", "1.5"),
    ]


def test_csv_custom_dialect_latin1_and_null_markers(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_bytes("# exported\nid;name;score\n1;'Café; bar';NA\n2;-;3\n".encode("latin-1"))
    reader = make(
        CsvReader,
        tmp_path,
        "d.csv",
        delimiter=";",
        quote_char="'",
        encoding="latin-1",
        null_values=["NA", "-"],
        skip_rows=1,
    )
    assert rows(reader, reader.plan()) == [
        {"id": 1, "name": "Café; bar", "score": None},
        {"id": 2, "name": None, "score": 3},
    ]


def test_csv_utf16_is_read_whole(tmp_path: Path) -> None:
    (tmp_path / "w.csv").write_bytes(("id,name\n" + "".join(f"{i},ü{i}\n" for i in range(500))).encode("utf-16"))
    reader = make(CsvReader, tmp_path, "w.csv", target=512, encoding="utf-16")
    partitions = reader.plan()
    assert len(partitions) == 1  # a newline is two bytes in UTF-16: no line-aligned byte split
    assert rows(reader, partitions)[499] == {"id": 499, "name": "ü499"}


def test_csv_escape_char(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text('id,text\n1,"say \\"yes\\""\n')
    reader = make(CsvReader, tmp_path, "e.csv", escape_char="\\")
    assert rows(reader, reader.plan()) == [{"id": 1, "text": 'say "yes"'}]


def test_csv_explicit_column_names(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("a,b\n1,x\n2,y\n")
    (tmp_path / "n.csv").write_text("1,x\n2,y\n")
    replaced = make(CsvReader, tmp_path, "h.csv", column_names=["id", "code"])
    headerless = make(CsvReader, tmp_path, "n.csv", header=False, column_names=["id", "code"])
    autonamed = make(CsvReader, tmp_path, "n.csv", header=False)
    expected = [{"id": 1, "code": "x"}, {"id": 2, "code": "y"}]
    assert rows(replaced, replaced.plan()) == expected
    assert rows(headerless, headerless.plan()) == expected
    assert rows(autonamed, autonamed.plan()) == [{"f0": 1, "f1": "x"}, {"f0": 2, "f1": "y"}]


def test_csv_compressed_files_are_read_whole(tmp_path: Path) -> None:
    body = "id,name\n" + "".join(f"{i},name-{i}\n" for i in range(5000))
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(body.encode()))
    (tmp_path / "b.csv.bz2").write_bytes(bz2.compress(body.encode()))
    with pa.CompressedOutputStream(str(tmp_path / "c.csv.zst"), "zstd") as out:
        out.write(body.encode())
    reader = make(CsvReader, tmp_path, "*.csv.*", target=1024)
    partitions = reader.plan()
    assert [(p.label, p.spec["compression"]) for p in partitions] == [
        ("a.csv.gz", "gzip"),
        ("b.csv.bz2", "bz2"),
        ("c.csv.zst", "zstd"),
    ]
    assert len(rows(reader, partitions)) == 15_000
    assert reader.describe_position(partitions[1], 99).endswith("b.csv.bz2: line 101")


def test_csv_typed_read_converts_to_target_types(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("id,day,amount,extra\n1,2024-01-31,1.50,x\n2,,2,y\n")
    reader = make(CsvReader, tmp_path, "t.csv")
    target = pa.schema(
        [
            ("id", pa.int32()),
            ("day", pa.date32()),
            ("amount", pa.decimal128(10, 2)),
            ("tags", pa.list_(pa.string())),  # not in the file: the engine fills it
        ]
    )
    batches = list(reader.read(reader.plan()[0], target))
    assert batches[0].schema == pa.schema(
        [("id", pa.int32()), ("day", pa.date32()), ("amount", pa.decimal128(10, 2)), ("extra", pa.string())]
    )
    assert batches[0].to_pylist()[1] == {"id": 2, "day": None, "amount": Decimal("2.00"), "extra": "y"}


def test_csv_bad_value_raises_then_untyped_read_shows_it(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("id,qty\n1,10\n2,ten\n3,\n")
    reader = make(CsvReader, tmp_path, "bad.csv")
    (partition,) = reader.plan()
    target = pa.schema([("id", pa.int64()), ("qty", pa.int64())])
    with pytest.raises(pa.ArrowInvalid):
        rows(reader, [partition], target)
    assert untyped_rows(reader, partition, target) == [
        {"id": "1", "qty": "10"},
        {"id": "2", "qty": "ten"},
        {"id": "3", "qty": None},
    ]
    assert reader.describe_position(partition, 1).endswith("bad.csv: line 3")


def test_csv_ragged_records_are_handed_out_with_their_line(tmp_path: Path) -> None:
    (tmp_path / "1.csv").write_text('id,qty\n1,"ten\nmore"\n2,3,4\n\n3,30\n4\n5,50\n')
    reader = make(CsvReader, tmp_path, "1.csv")
    [partition] = reader.plan()  # the ragged record in the sample is skipped by inference
    assert reader.schema().names == ["id", "qty"]
    read = list(reader.read(partition, None))
    rejected = [r for r in read if isinstance(r, RejectedRecords)]
    assert [(r.text, r.reasons, r.positions) for r in rejected] == [
        (
            ["2,3,4", "4"],
            ["expected 2 fields, found 3", "expected 2 fields, found 1"],
            [f"{tmp_path / '1.csv'}: line 4", f"{tmp_path / '1.csv'}: line 7"],
        )
    ]
    ids = [i for r in read if isinstance(r, pa.RecordBatch) for i in r.column("id").to_pylist()]
    assert ids == [1, 3, 5]
    # rows are counted without the ragged records, lines with them
    assert [reader.describe_position(partition, row) for row in range(3)] == [
        f"{tmp_path / '1.csv'}: line {n}" for n in (2, 6, 8)
    ]


def test_csv_of_ragged_records_only_hands_every_one_out(tmp_path: Path) -> None:
    (tmp_path / "1.csv").write_text("a,b\n1,2,3\n4,5,6\n")
    reader = make(CsvReader, tmp_path, "1.csv")
    [partition] = reader.plan()
    read = list(reader.read(partition, None))
    assert [(r.text, r.positions) for r in read if isinstance(r, RejectedRecords)] == [
        (["1,2,3", "4,5,6"], [f"{tmp_path / '1.csv'}: line 2", f"{tmp_path / '1.csv'}: line 3"])
    ]
    assert sum(r.num_rows for r in read if isinstance(r, pa.RecordBatch)) == 0


# --- byte-range splitting -----------------------------------------------------------------


def _record_ends(data: bytes, dialect: Dialect) -> list[int]:
    """Offsets of the line breaks that end records, one byte at a time the way pyarrow reads:
    a quote opens a value only at a field start, a doubled quote is a quote, an escape takes
    the next byte."""
    field_start, unquoted, quoted = 0, 1, 2
    state, i, ends = field_start, 0, []
    while i < len(data):
        c = data[i]
        if state == quoted:
            if c == dialect.escape:
                i += 1
            elif c == dialect.quote:
                if data[i + 1 : i + 2] == bytes([c]):
                    i += 1
                else:
                    state = unquoted
        elif c == dialect.escape:
            state, i = unquoted, i + 1
        elif state == field_start and c == dialect.quote:
            state = quoted
        elif c in (dialect.delimiter, 0x0D, 0x0A):
            state = field_start
            if c == 0x0A:
                ends.append(i)
        else:
            state = unquoted
        i += 1
    return ends


def _random_csv(rng: random.Random) -> bytes:
    pieces = ["a", "b", ",", '"', "\n", "\r\n", " ", "é", '""', "abcdefghij"]
    rows = [
        ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 6))) for _ in range(rng.randint(1, 4))]
        for _ in range(rng.randint(1, 30))
    ]
    text = io.StringIO()
    csv.writer(text, lineterminator=rng.choice(["\n", "\r\n"])).writerows(rows)
    data = text.getvalue().encode()
    if rng.random() < 0.3:  # a stray quote (as in 5" screw), an escape byte or a bare line break
        at = rng.randrange(len(data))
        data = data[:at] + rng.choice([b'"', b'x"', b"\\", b"\n"]) + data[at:]
    return data


def _tail(data: bytes, start: int) -> io.BytesIO:
    return io.BytesIO(data[start:])


@pytest.mark.parametrize("seed", range(3))
def test_csv_cut_points_are_always_record_starts(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """The planner's cut points against a byte-at-a-time reference, on random CSV (regular and
    not), with scan steps small enough to put every quote and line break on a step edge."""
    rng = random.Random(seed)
    for _ in range(100):
        monkeypatch.setattr(_csv_records, "CHUNK", rng.choice([2, 7, 1 << 20]))
        data = _random_csv(rng)
        dialect = Dialect(ord(","), ord('"'), rng.choice([None, ord("\\")]))
        starts = {end + 1 for end in _record_ends(data, dialect)}
        points = split_points(io.BytesIO(data), dialect, 0, len(data), rng.randint(1, max(1, len(data) // 2)))
        assert points[0] == 0 and points[-1] == len(data)
        assert points == sorted(set(points))
        assert set(points[1:-1]) <= starts, data
        if dialect.escape is None and b"\\" not in data:
            batches = record_lines(io.BytesIO(data), dialect, 3, functools.partial(_tail, data))
            lines = [line for batch in batches for line in batch]
            records = zip([0, *sorted(starts)], [*sorted(starts), len(data)], strict=True)
            expected = [data.count(b"\n", 0, a) + 4 for a, b in records if data[a:b].strip(b"\r\n")]
            if b"\r" not in data.replace(b"\r\n", b""):  # a bare CR ends a record for pyarrow, not a line
                assert lines == expected, data


def test_csv_quote_free_ranges_keep_the_fast_parse(tmp_path: Path) -> None:
    # Only a range holding a quote byte is parsed quote-aware (slower); a quoted header does not count.
    body = "".join(f"{i},name {i}\n" for i in range(3000))
    (tmp_path / "plain.csv").write_text('"id","name"\n' + body)
    (tmp_path / "late.csv").write_text("id,name\n" + body + '3000,"a\nb"\n')
    plain, late = (make(CsvReader, tmp_path, name, target=8192) for name in ("plain.csv", "late.csv"))
    assert not any(plain._newlines_possible(p.spec) for p in plain.plan())
    flags = [late._newlines_possible(p.spec) for p in late.plan()]
    assert len(flags) > 3 and flags[-1] and not any(flags[:-1])
    assert rows(late, late.plan())[-1] == {"id": 3000, "name": "a\nb"}
    assert make(CsvReader, tmp_path, "plain.csv", quote_char=None)._newlines_possible(plain.plan()[0].spec) is False


def test_csv_in_other_multibyte_encodings_is_split_only_without_quoting(tmp_path: Path) -> None:
    # In Shift-JIS the byte 0x5C (backslash) or 0x7C (|) can be half of a character: the
    # planner cannot follow quotes and escapes byte by byte there, so it does not try.
    body = "".join(f'{i},"表{i}\n能"\n' for i in range(2000))
    (tmp_path / "sjis.csv").write_bytes(("id,name\n" + body).encode("shift_jis"))
    quoted = make(CsvReader, tmp_path, "sjis.csv", target=4096, encoding="shift_jis")
    assert len(quoted.plan()) == 1
    assert rows(quoted, quoted.plan())[1999] == {"id": 1999, "name": "表1999\n能"}
    (tmp_path / "bare.csv").write_bytes(("id,name\n" + body.replace('"', "").replace("\n能", "能")).encode("shift_jis"))
    bare = make(CsvReader, tmp_path, "bare.csv", target=4096, encoding="shift_jis", quote_char=None)
    assert len(bare.plan()) > 3
    assert rows(bare, bare.plan())[1999] == {"id": 1999, "name": "表1999能"}


def test_csv_with_stray_quotes_is_cut_only_before_them(tmp_path: Path) -> None:
    # "5\" screw" is text to pyarrow (a quote inside an unquoted value), but it breaks the quote
    # parity the planner follows: nothing after it is cut, and every value still reads right.
    head = "".join(f'{i},"a\nb {i}"\n' for i in range(2000))
    tail = "".join(f'{i},5" screw {i}\n' for i in range(2000, 4000))
    (tmp_path / "s.csv").write_text("id,text\n" + head + tail)
    reader = make(CsvReader, tmp_path, "s.csv", target=4096)
    partitions = reader.plan()
    assert 2 < len(partitions) < 20 and partitions[-1].spec["start"] <= len("id,text\n" + head)
    got = rows(reader, partitions)
    assert [r["text"] for r in got] == [f"a\nb {i}" for i in range(2000)] + [f'5" screw {i}' for i in range(2000, 4000)]
    last = partitions[-1]
    count = sum(b.num_rows for b in reader.read(last, None))
    assert reader.describe_position(last, count - 1) == f"{tmp_path / 's.csv'}: line {1 + 2 * 2000 + 2000}"


@pytest.fixture
def big_csv(tmp_path: Path) -> tuple[Path, dict[int, int]]:
    """About 3 MB of CSV with blank lines sprinkled in; maps each id to its 1-based line."""
    lines = ["id,name,amount,comment\n"]
    line_of: dict[int, int] = {}
    for i in range(60_000):
        if i % 997 == 0:
            lines.append("\n")
        lines.append(f'{i},name-{i},{i * 3 % 1000}.25,"note, with comma {i}"\n')
        line_of[i] = len(lines)
    path = tmp_path / "big.csv"
    path.write_text("".join(lines))
    return path, line_of


def test_csv_byte_split_equals_single_partition(big_csv: tuple[Path, dict[int, int]]) -> None:
    path, _ = big_csv
    data = path.read_bytes()
    whole = make(CsvReader, path.parent, "big.csv")
    split = make(CsvReader, path.parent, "big.csv", target=256 * 1024, block_size_mb=0.1)
    partitions = [through_json(p) for p in split.plan()]

    assert len(partitions) >= 10
    assert [p.index for p in partitions] == list(range(len(partitions)))
    assert partitions[0].spec["start"] == 0 and partitions[-1].spec["end"] == len(data)
    for previous, current in itertools.pairwise(partitions):
        assert current.spec["start"] == previous.spec["end"]
        assert data[current.spec["start"] - 1 : current.spec["start"]] == b"\n"  # a line start
        assert not current.spec["first"]
    assert partitions[1].label == f"big.csv[{partitions[1].spec['start']}:{partitions[1].spec['end']}]"

    expected = rows(whole, whole.plan())
    assert len(expected) == 60_000
    assert rows(split, partitions) == expected


def test_describe_position_in_third_range(big_csv: tuple[Path, dict[int, int]]) -> None:
    path, line_of = big_csv
    reader = make(CsvReader, path.parent, "big.csv", target=256 * 1024)
    third = reader.plan()[2]
    batch = next(iter(reader.read(third, None)))
    for row in (0, 1234, batch.num_rows - 1):
        row_id = batch.column("id")[row].as_py()
        assert reader.describe_position(third, row) == f"{path}: line {line_of[row_id]}"


def test_non_first_range_reads_with_target_schema(big_csv: tuple[Path, dict[int, int]]) -> None:
    path, _ = big_csv
    reader = make(CsvReader, path.parent, "big.csv", target=1024 * 1024)
    target = pa.schema([("amount", pa.decimal128(12, 2)), ("id", pa.int32())])
    batch = next(iter(reader.read(reader.plan()[1], target)))
    assert batch.schema.field("amount").type == pa.decimal128(12, 2)
    assert batch.schema.field("id").type == pa.int32()
    assert batch.schema.names == ["id", "name", "amount", "comment"]  # file order, extras kept


def test_non_first_range_checks_its_files_header(tmp_path: Path) -> None:
    (tmp_path / "1.csv").write_text("id,name\n1,a\n")
    (tmp_path / "2.csv").write_text("id,label\n" + "".join(f"{i},x\n" for i in range(2000)))
    reader = make(CsvReader, tmp_path, "*.csv", target=4096)
    later = [p for p in reader.plan() if p.spec["path"].endswith("2.csv") and not p.spec["first"]]
    assert later
    with pytest.raises(SourceError, match=r"2\.csv"):
        rows(reader, later[:1])


# --- JSON Lines ---------------------------------------------------------------------------


JSONL = (
    '{"id": 1, "name": "a", "score": 1.5, "ok": true, "big": 12345678901234567890, "tags": ["x"]}\n'
    "\n"
    '{"id": 2, "name": null, "score": 12, "ok": false, "big": 7, "meta": {"k": [1, 2]}}\n'
)


def test_jsonl_typed_read(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(JSONL)
    reader = make(JsonlReader, tmp_path, "a.jsonl")
    schema = reader.schema()
    assert schema.field("big").type == pa.decimal128(38, 0)
    assert schema.field("score").type == pa.float64()
    got = rows(reader, reader.plan())
    assert got[0]["big"] == Decimal("12345678901234567890")
    assert got[1]["meta"] == {"k": [1, 2]}

    target = pa.schema([("id", pa.int16()), ("name", pa.string()), ("day", pa.date32())])
    typed = next(iter(reader.read(reader.plan()[0], target)))
    assert typed.schema.field("id").type == pa.int16()
    assert typed.schema.names[:3] == ["id", "name", "day"]
    assert "tags" in typed.schema.names  # sampled fields outside the target are kept


def test_jsonl_untyped_read_gives_json_text(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(JSONL)
    reader = make(JsonlReader, tmp_path, "a.jsonl")
    (partition,) = reader.plan()
    got = untyped_rows(reader, partition, reader.schema())
    assert got[0] == {
        "id": "1",
        "name": "a",
        "score": "1.5",
        "ok": "true",
        "big": "12345678901234567890",
        "tags": ["x"],  # nested targets keep their structure: text cannot be cast to a list
        "meta": None,
    }
    assert got[1]["score"] == "12" and got[1]["ok"] == "false" and got[1]["meta"] == {"k": [1, 2]}
    as_text = untyped_rows(reader, partition, pa.schema([("tags", pa.string()), ("meta", pa.string())]))
    assert (as_text[0]["tags"], as_text[1]["meta"]) == ('["x"]', '{"k": [1, 2]}')


def test_jsonl_bad_value_raises_then_untyped_read_shows_it(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"id": 0}\n')
    (tmp_path / "b.jsonl").write_text('{"id": 1}\n{"id": "two"}\n')
    reader = make(JsonlReader, tmp_path, "*.jsonl")
    partition = reader.plan()[1]
    target = pa.schema([("id", pa.int64())])
    with pytest.raises(pa.ArrowInvalid):
        rows(reader, [partition], target)
    assert untyped_rows(reader, partition, target) == [{"id": "1"}, {"id": "two"}]
    assert reader.describe_position(partition, 1).endswith("b.jsonl: line 2")


def test_jsonl_invalid_line_is_a_source_error_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"id": 0}\n')
    (tmp_path / "c.jsonl").write_text('{"id": 1}\n\n{"id": 2,\n')
    reader = make(JsonlReader, tmp_path, "*.jsonl")
    partition = reader.plan()[1]
    with pytest.raises(SourceError, match=r"c\.jsonl: line 3"):
        untyped_rows(reader, partition, pa.schema([("id", pa.int64())]))


def test_jsonl_pretty_printed_objects(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text('{\n  "id": 1,\n  "v": "a"\n}\n{\n  "id": 2,\n  "v": "b"\n}\n')
    reader = make(JsonlReader, tmp_path, "p.json", newlines_in_values=True)
    (partition,) = reader.plan()
    assert untyped_rows(reader, partition, reader.schema()) == [{"id": "1", "v": "a"}, {"id": "2", "v": "b"}]
    assert reader.describe_position(partition, 1).endswith("p.json: record 2")


def test_jsonl_byte_split_equals_single_partition(tmp_path: Path) -> None:
    body = "".join(json.dumps({"id": i, "name": f"n{i}", "v": i / 4}) + "\n" for i in range(40_000))
    (tmp_path / "s.jsonl").write_text(body)
    whole = make(JsonlReader, tmp_path, "s.jsonl")
    split = make(JsonlReader, tmp_path, "s.jsonl", target=100 * 1024, block_size_mb=0.05)
    partitions = [through_json(p) for p in split.plan()]
    assert len(partitions) > 5
    assert rows(split, partitions) == rows(whole, whole.plan())

    third = partitions[2]
    row_id = next(iter(split.read(third, None))).column("id")[10].as_py()
    assert split.describe_position(third, 10).endswith(f"s.jsonl: line {row_id + 1}")
    untyped = untyped_rows(split, third, split.schema())
    assert untyped[10]["id"] == str(row_id)


# --- Parquet ------------------------------------------------------------------------------


def test_parquet_row_group_split_equals_full_read(tmp_path: Path) -> None:
    table = pa.table({"id": pa.array(range(10_000), pa.int64()), "name": [f"n{i}" for i in range(10_000)]})
    pq.write_table(table, tmp_path / "a.parquet", row_group_size=1000)
    pq.write_table(table.slice(0, 10), tmp_path / "b.parquet")
    metadata = pq.ParquetFile(tmp_path / "a.parquet").metadata
    target = 3 * metadata.row_group(1).total_byte_size

    whole = make(ParquetReader, tmp_path, "*.parquet")
    split = make(ParquetReader, tmp_path, "*.parquet", target=target, batch_size=300)
    partitions = [through_json(p) for p in split.plan()]
    groups = [p.spec["row_groups"] for p in partitions]
    assert [g for group in groups for g in group] == [*range(10), 0]  # contiguous, all of them
    assert 3 <= len(groups) <= 6
    assert all(p.estimated_bytes <= target for p in partitions)
    assert [p.index for p in partitions] == list(range(len(partitions)))
    first, last = groups[1][0], groups[1][-1]
    assert partitions[1].label == f"a.parquet[rg {first}-{last}]" and partitions[-1].label == "b.parquet"
    assert sum(p.estimated_rows or 0 for p in partitions) == 10_010
    assert split.schema() == pa.schema([("id", pa.int64()), ("name", pa.string())])
    assert rows(split, partitions) == rows(whole, whole.plan())
    assert split.describe_position(partitions[1], 5) == f"{tmp_path / 'a.parquet'}: row {first * 1000 + 6}"


def test_parquet_streams_a_large_row_group_by_column_chunk(tmp_path: Path) -> None:
    """One 20 MB row group: the reader's first batch costs a few MiB of Arrow memory (1 MiB reads
    of each column chunk), not the whole row group (what pyarrow's default reads)."""
    n = 20_000
    blobs = pa.array([random.randbytes(1000) for _ in range(n)], pa.binary())  # incompressible
    table = pa.table({"id": pa.array(range(n), pa.int64()), "blob": blobs})
    pq.write_table(table, tmp_path / "big.parquet", row_group_size=n, compression="none")
    del table, blobs
    reader = make(ParquetReader, tmp_path, "*.parquet", batch_size=1000)
    (partition,) = reader.plan()
    before = pa.total_allocated_bytes()
    batches = reader.read(partition, None)
    first = next(batches)
    held = pa.total_allocated_bytes() - before
    assert first.num_rows == 1000
    assert held < 8 * 1024 * 1024, f"{held:,} bytes held after the first batch of a 20 MB row group"
    assert sum(b.num_rows for b in batches) == n - 1000
    assert reader.config.buffer_size == 1024 * 1024


def test_parquet_batch_rows_bounded_by_bytes(tmp_path: Path) -> None:
    n = 3000
    table = pa.table({"id": pa.array(range(n), pa.int64()), "text": ["x" * 2000 + str(i) for i in range(n)]})
    pq.write_table(table, tmp_path / "wide.parquet", row_group_size=n)
    whole = make(ParquetReader, tmp_path, "*.parquet")
    bounded = make(ParquetReader, tmp_path, "*.parquet", batch_bytes=200_000)
    (partition,) = bounded.plan()
    sizes = [b.num_rows for b in bounded.read(partition, None)]
    assert max(sizes) < 100 and sum(sizes) == n  # ~2 KB rows: about 100 rows per 200 KB
    assert [b.num_rows for b in whole.read(whole.plan()[0], None)] == [n]  # 65,536 rows by default
    assert rows(bounded, [partition]) == rows(whole, whole.plan())


def test_parquet_later_file_with_other_columns_fails(tmp_path: Path) -> None:
    pq.write_table(pa.table({"id": [1]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"key": [1]}), tmp_path / "b.parquet")
    reader = make(ParquetReader, tmp_path, "*.parquet")
    with pytest.raises(SourceError, match=r"b\.parquet"):
        rows(reader, reader.plan())


# --- positions of bad rows ------------------------------------------------------------------


def test_bad_row_positions_are_right_and_take_one_scan_per_partition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thousands of bad rows over many batches: each gets its own file line (records with
    quoted line breaks and blank lines in between), and each partition is scanned once."""
    records = ["id,qty,note\n"]
    line_of: dict[int, int] = {}
    lines = 1
    for i in range(6000):
        if i % 500 == 0:
            records.append("\n")
            lines += 1
        line_of[i] = lines + 1
        note = f'"two\nlines {i}"' if i % 4 == 0 else f"n{i}"
        records.append(f"{i},{'bad' if i % 3 == 0 else i},{note}\n")
        lines += records[-1].count("\n")
    (tmp_path / "bad.csv").write_text("".join(records))
    reader = make(CsvReader, tmp_path, "bad.csv", target=40 * 1024, block_size_mb=0.005)
    partitions = reader.plan()
    assert len(partitions) >= 3
    opened: list[int] = []
    slice_of = SourceFiles.open_slice
    monkeypatch.setattr(
        SourceFiles, "open_slice", lambda self, spec: (opened.append(spec["start"]), slice_of(self, spec))[1]
    )
    schema = pa.schema([("id", pa.int64()), ("qty", pa.int64()), ("note", pa.string())])
    found: dict[int, str] = {}
    batches = 0
    for partition in partitions:
        conformer = Conformer(schema, functools.partial(reader.describe_position, partition))
        for batch in reader.read_untyped(partition, schema):
            batches += 1
            bad = conformer.conform(batch).bad
            assert bad is not None
            ids = map(int, bad.column("id").to_pylist())
            found.update(zip(ids, bad.column(POSITION_COLUMN).to_pylist(), strict=True))
    reader.close()
    assert batches > 2 * len(partitions)  # positions are asked for batch after batch
    assert found == {i: f"{tmp_path / 'bad.csv'}: line {line_of[i]}" for i in range(0, 6000, 3)}
    # each partition's file is opened to read it, to read the header names (after the first) and
    # once to find positions: not once per bad row
    assert len(opened) == 3 * len(partitions) - 1


def test_positions_asked_out_of_order_are_still_right(big_csv: tuple[Path, dict[int, int]]) -> None:
    path, line_of = big_csv
    reader = make(CsvReader, path.parent, "big.csv", target=256 * 1024)
    second = reader.plan()[1]
    ids = [row["id"] for batch in reader.read(second, None) for row in batch.to_pylist()]
    for row in (500, 20, 3000, 3001, 0, len(ids) - 1):
        assert reader.describe_position(second, row) == f"{path}: line {line_of[ids[row]]}"
    assert reader.describe_position(second, len(ids)).endswith(f"row {len(ids) + 1}")  # past the end
    reader.close()


def test_raw_slice_read_keeps_to_its_limit_and_reports_its_end_once(tmp_path: Path) -> None:
    """pyarrow's JSON reader calls `read(n)`: at most the slice's bytes, in the source's own reads,
    and the end check runs once, when a read returns nothing."""
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * 40)  # 10,240 bytes
    ends: list[int] = []
    raw = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by the slice
    raw.seek(100)
    with RawSlice(raw, 5000, lambda: ends.append(1)) as piece:
        first = piece.read(4096)
        assert first == (bytes(range(256)) * 40)[100:4196] and isinstance(first, bytes)
        assert piece.read(4096) == (bytes(range(256)) * 40)[4196:5100]  # cut at the limit
        assert ends == []
        assert piece.read(4096) == b"" and ends == [1]
        assert piece.read(4096) == b"" and ends == [1]
        assert piece.read(0) == b""
    with RawSlice(pa.BufferReader(b"abcdef"), None) as whole:  # a pyarrow source, read to its end
        assert whole.read() == b"abcdef" and whole.read(3) == b""
