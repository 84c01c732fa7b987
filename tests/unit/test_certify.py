"""The conformance kit's pure parts (secret search, row multisets, schema conformance, the single-read
source) and the plugin index's model (search, pick, status, hashes)."""

from __future__ import annotations

import base64
import urllib.parse
from pathlib import Path

import pyarrow as pa
import pytest

from dativo_workers.certify import (
    CertifyConfig,
    CertifyInputError,
    _ReaderKit,
    leaked,
    load_subject,
    row_counts,
    schema_problem,
    secret_forms,
)
from dativo_workers.plugin_index import IndexError_, PluginIndex, pick, search

SECRET = "dativo-certify-canary-0123456789abcdef"


@pytest.mark.parametrize(
    "text",
    [
        f"token={SECRET}",
        "Authorization: Basic " + base64.b64encode(SECRET.encode()).decode(),
        "url?key=" + urllib.parse.quote(SECRET, safe=""),
        "bytes " + SECRET.encode().hex(),
    ],
)
def test_a_secret_is_found_in_every_form(text: str) -> None:
    assert leaked(text, [SECRET]) == ["dat***"]  # named masked, never shown


def test_no_false_alarm_and_short_forms_ignored() -> None:
    assert leaked("plugin x: ConnectionError: refused", [SECRET]) == []
    assert all(len(f) >= 6 for f in secret_forms("abc"))


def test_row_counts_are_multisets_by_column_name() -> None:
    a = pa.table({"id": [1, 2, 2], "name": ["a", "b", "b"]})
    b = pa.table({"name": ["b", "a", "b"], "id": [2, 1, 2]})  # other order, other column order
    assert row_counts([a]) == row_counts([b])
    split = row_counts([a.slice(0, 1), a.slice(1)])
    assert split == row_counts([a])
    assert sum((row_counts([a, a.slice(2)]) - row_counts([a])).values()) == 1  # a row read twice shows


def test_schema_problem_uses_the_engines_conversion() -> None:
    declared = pa.schema([("n", pa.int64()), ("at", pa.timestamp("us", tz="UTC"))])
    good = pa.record_batch({"n": pa.array([1], pa.int32()), "at": ["2026-01-01T00:00:00Z"]})
    assert schema_problem(good.schema, declared, good) == ""
    bad = pa.record_batch({"n": ["#1"], "at": ["2026-01-01T00:00:00Z"]})
    assert "column 'n' is string, schema() says int64" in schema_problem(bad.schema, declared, bad)
    extra = pa.record_batch({"n": [1], "at": ["2026-01-01T00:00:00Z"], "x": [1]})
    assert "differ from schema()" in schema_problem(extra.schema, declared, extra)


def test_whole_source_merges_options_for_named_and_plugin_path_readers(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("source: {options: {partitions: 4, rows: 10}, partitioning: {column: id, partitions: 4}}\n")
    subject = load_subject("csv", config)
    kit = _ReaderKit(subject, tmp_path)
    kit.options = CertifyConfig.model_validate({"certify": {"whole": {"options": {"partitions": 1}}}}).certify
    kit.job_source = {"connector": "csv", "options": {"partitions": 4, "rows": 10}, "partitioning": {"column": "id"}}
    assert kit._whole_source() == {"connector": "csv", "options": {"partitions": 1, "rows": 10}}
    kit.job_source = {"reader": {"type": "plugin", "plugin_path": "m.C", "config": {"partitions": 4}}}
    assert kit._whole_source()["reader"]["config"] == {"partitions": 1}


def test_bad_input_is_named(tmp_path: Path) -> None:
    with pytest.raises(CertifyInputError, match="no installed plugin named 'nope'"):
        load_subject("nope")
    with pytest.raises(CertifyInputError, match="is not a DataReader or DataWriter"):
        load_subject("collections.OrderedDict")
    with pytest.raises(CertifyInputError, match="is installed as a reader, not a writer"):
        load_subject("csv", kind="writer")
    (tmp_path / "bad.yaml").write_text("source: {}\nunknown: 1\n")
    with pytest.raises(Exception, match="unknown"):
        load_subject("csv", tmp_path / "bad.yaml")


INDEX = {
    "plugins": [
        {
            "name": "dativo-things",
            "description": "Things from the Things API",
            "connectors": [{"name": "things", "kind": "reader"}],
            "versions": [
                {"version": "1.10.0", "files": [{"url": "a.whl", "sha256": "a" * 64}],
                 "certification": {"date": "2026-12-01", "passed": False, "failed": ["things:disjoint"]}},
                {"version": "1.9.0", "files": [{"url": "b.whl", "sha256": "b" * 64}],
                 "certification": {"date": "2026-11-01T00:00:00+00:00", "passed": True}},
            ],
        },
        {"name": "csv", "package": "dativo-workers", "builtin": True, "connectors": [{"name": "csv", "kind": "reader"}],
         "versions": [{"version": "0.1.0"}]},
    ]
}  # fmt: skip


def test_index_versions_search_pick_and_status() -> None:
    index = PluginIndex.model_validate(INDEX)
    entry = index.entry("Dativo_Things")  # names compare as pip normalises them
    assert entry is not None and entry.latest_version == "1.10.0"  # numerically, not as text
    assert [e.name for e in search(index, "things API")] == ["dativo-things"]
    assert search(index, "things salesforce") == []
    assert pick(index, "dativo-things==1.9.0")[1].version == "1.9.0"
    assert index.status_of("things", "reader", "dativo_things", "1.9.0") == "certified 2026-11-01"
    assert index.status_of("things", "reader", "dativo-things", "1.10.0") == "failed 2026-12-01: things:disjoint"
    assert index.status_of("things", "reader", "dativo-things", "2.0") == "not certified (index lists 1.10.0, 1.9.0)"
    assert index.status_of("other", "reader", "other-pkg", "1") is None
    with pytest.raises(IndexError_, match="comes with dativo-workers"):
        pick(index, "csv")
    with pytest.raises(IndexError_, match="no version 3 in the index"):
        pick(index, "dativo-things==3")


def test_a_hash_must_be_64_hex_digits_and_not_a_yaml_number() -> None:
    bad = {"plugins": [{"name": "x", "versions": [{"version": "1", "files": [{"url": "x.whl", "sha256": 12}]}]}]}
    with pytest.raises(ValueError, match="quote the hash"):
        PluginIndex.model_validate(bad)
    bad["plugins"][0]["versions"][0]["files"][0]["sha256"] = "xyz"
    with pytest.raises(ValueError, match="64 hex digits"):
        PluginIndex.model_validate(bad)


def test_a_plugin_listed_twice_is_refused() -> None:
    twice = {"plugins": [{"name": "Things"}, {"name": "things"}]}
    with pytest.raises(ValueError, match="plugins listed twice: things"):
        PluginIndex.model_validate(twice)
