"""The blind PII evaluation sets (tests/data/pii_eval and tests/data/pii_eval_v2, now development sets, and
the held-out tests/data/pii_eval_v3) and their scorer (scripts/eval_pii.py).

These tests check the set and the scorer's arithmetic with stand-in detectors; they never run the
real detector (scoring it is the scorer's job, reported in docs, not asserted here).
"""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]
SET = ROOT / "tests" / "data" / "pii_eval"
SET_V2 = ROOT / "tests" / "data" / "pii_eval_v2"
SET_V3 = ROOT / "tests" / "data" / "pii_eval_v3"
SETS = pytest.mark.parametrize("set_dir", [SET, SET_V2, SET_V3], ids=["v1", "v2", "v3"])


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def make_set() -> ModuleType:
    return _load("pii_eval_make_set", SET / "make_set.py")


@pytest.fixture(scope="module")
def make_set_v2() -> ModuleType:
    return _load("pii_eval_v2_make_set", SET_V2 / "make_set.py")


@pytest.fixture(scope="module")
def make_set_v3() -> ModuleType:
    return _load("pii_eval_v3_make_set", SET_V3 / "make_set.py")


@pytest.fixture(scope="module")
def scorer() -> ModuleType:
    return _load("pii_eval_scorer", ROOT / "scripts" / "eval_pii.py")


def _labels(set_dir: Path = SET) -> list[dict[str, str]]:
    with open(set_dir / "labels.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@SETS
def test_every_labelled_column_is_in_its_file_with_its_type(set_dir: Path) -> None:
    rows = _labels(set_dir)
    assert len(rows) >= 170
    assert len({(r["file"], r["column"]) for r in rows}) == len(rows)
    assert {r["label"] for r in rows} == {"PII", "SENSITIVE", "CREDENTIAL", "NONE"}
    none_share = sum(r["label"] == "NONE" for r in rows) / len(rows)
    assert 0.4 <= none_share <= 0.7
    files = {r["file"] for r in rows}
    assert files == {p.name for p in (set_dir / "data").glob("*.parquet")}
    tables = {f: pq.read_table(set_dir / "data" / f) for f in files}
    for r in rows:
        table = tables[r["file"]]
        assert 50 <= table.num_rows <= 200, r["file"]
        assert str(table.schema.field(r["column"]).type) == r["arrow_type"], (r["file"], r["column"])
        assert r["source_url"] and r["reason"], r["column"]
    assert sum(len(t.column_names) for t in tables.values()) == len(rows)  # no unlabelled column


def test_the_generator_reproduces_the_committed_set(make_set: ModuleType, tmp_path: Path) -> None:
    make_set.main(tmp_path)
    assert (tmp_path / "labels.csv").read_text() == (SET / "labels.csv").read_text()
    for path in sorted((SET / "data").glob("*.parquet")):
        assert pq.read_table(tmp_path / "data" / path.name).equals(pq.read_table(path)), path.name


def test_the_v2_generator_reproduces_the_committed_set(make_set_v2: ModuleType, tmp_path: Path) -> None:
    make_set_v2.main(tmp_path)
    assert (tmp_path / "labels.csv").read_text() == (SET_V2 / "labels.csv").read_text()
    for path in sorted((SET_V2 / "data").glob("*.parquet")):
        assert pq.read_table(tmp_path / "data" / path.name).equals(pq.read_table(path)), path.name


def test_v2_is_held_out_from_v1() -> None:
    """Other sources, other opaque column names, at least 12 sources, 200 schema and 40 opaque columns."""
    v1, v2 = _labels(SET), _labels(SET_V2)
    assert {r["source"] for r in v1} & {r["source"] for r in v2} == {"opaque"}
    opaque_v1 = {r["column"] for r in v1 if r["source"] == "opaque"}
    assert not opaque_v1 & {r["column"] for r in v2 if r["source"] == "opaque"}
    schema = [r for r in v2 if r["source"] != "opaque"]
    assert len(schema) >= 200 and len({r["source"] for r in schema}) >= 12
    assert sum(r["source"] == "opaque" for r in v2) >= 40
    assert all(r["source_url"].startswith("https://") for r in schema)
    readme = (SET_V2 / "README.md").read_text()
    assert all(r["source_url"] in readme for r in schema)


def test_the_v3_generator_reproduces_a_subset_of_the_committed_set(make_set_v3: ModuleType, tmp_path: Path) -> None:
    """Each v3 table has its own seed, so three sources (a second or so) stand for the whole generator."""
    sources = {"openmrs", "prestashop", "opaque"}
    rows = make_set_v3.main(tmp_path, sources=sources)
    committed = [r for r in _labels(SET_V3) if r["source"] in sources]
    assert rows == committed and len(committed) > 100
    for name in sorted({r["file"] for r in committed}):
        assert pq.read_table(tmp_path / "data" / name).equals(pq.read_table(SET_V3 / "data" / name)), name


def test_v3_is_held_out_from_v1_and_v2() -> None:
    """No source and no opaque column name shared with sets 1 and 2; at least 12 sources, 200 schema and 40
    opaque columns; every source's URL in the README."""
    v1, v2, v3 = _labels(SET), _labels(SET_V2), _labels(SET_V3)
    earlier = v1 + v2
    assert {r["source"] for r in earlier} & {r["source"] for r in v3} == {"opaque"}
    opaque_earlier = {r["column"] for r in earlier if r["source"] == "opaque"}
    assert not opaque_earlier & {r["column"] for r in v3 if r["source"] == "opaque"}
    schema = [r for r in v3 if r["source"] != "opaque"]
    assert len(schema) >= 200 and len({r["source"] for r in schema}) >= 12
    assert sum(r["source"] == "opaque" for r in v3) >= 40
    assert all(r["source_url"].startswith("https://") for r in schema)
    readme = (SET_V3 / "README.md").read_text()
    assert all(r["source_url"] in readme for r in schema)


def test_v3_numbers_carry_valid_check_digits() -> None:
    from stdnum import ean, iban, imei, luhn
    from stdnum.ar import cuit
    from stdnum.at import vnr
    from stdnum.cn import ric
    from stdnum.co import nit
    from stdnum.cz import rc
    from stdnum.gr import amka
    from stdnum.ie import pps
    from stdnum.kr import rrn
    from stdnum.pe import cui
    from stdnum.pt import cc, nif
    from stdnum.ro import cnp
    from stdnum.tr import tckimlik

    def values(file: str, column: str) -> list[str]:
        raw = pq.read_table(SET_V3 / "data" / file).column(column).to_pylist()
        return [str(v) for v in raw if v not in (None, "", "-", "N/D", "null")]

    checks = {"n_a": vnr, "n_b": nif, "n_c": cc, "n_d": pps, "n_e": amka, "n_f": cnp, "n_h": rc, "n_i": tckimlik,
              "n_j": rrn, "n_k": ric, "n_l": cuit, "n_m": nit, "n_n": cui, "n_o": iban, "n_p": luhn, "n_q": cnp}
    for column, module in checks.items():
        got = [v.replace("-", "") if column == "n_p" else v for v in values("opaque__blob_n.parquet", column)]
        assert got and all(module.is_valid(v) for v in got), column
    assert all(imei.is_valid(v) for v in values("opaque__blob_p.parquet", "p10"))
    assert all(ean.is_valid(v) for v in values("opaque__blob_p.parquet", "p12"))
    assert not cnp.is_valid("1800121414741") and not iban.is_valid("PT02981766236135799995715")


def test_v2_numbers_carry_valid_check_digits() -> None:
    from stdnum import iban, luhn
    from stdnum.be import nn
    from stdnum.ch import ssn
    from stdnum.cl import rut
    from stdnum.dk import cpr
    from stdnum.fi import hetu
    from stdnum.it import codicefiscale
    from stdnum.mx import curp
    from stdnum.nl import bsn
    from stdnum.no import fodselsnummer
    from stdnum.pl import pesel
    from stdnum.se import personnummer
    from stdnum.za import idnr

    table = pq.read_table(SET_V2 / "data" / "opaque__dump_r.parquet")
    checks = {"r_a": bsn, "r_b": personnummer, "r_c": pesel, "r_d": nn, "r_e": cpr, "r_f": hetu,
              "r_g": fodselsnummer, "r_h": curp, "r_i": rut, "r_j": idnr, "r_k": codicefiscale, "r_l": ssn,
              "r_m": iban, "r_n": luhn, "r_o": pesel}
    for column, module in checks.items():
        values = [str(v) for v in table.column(column).to_pylist() if v not in (None, "", "-", "n/a")]
        values = [v.zfill(11) if column == "r_o" else v.replace(" ", "") if column == "r_n" else v for v in values]
        assert values and all(module.is_valid(v) for v in values), column
    assert not iban.is_valid("PL00123456780000000000000000")


def test_numbers_carry_valid_check_digits(make_set: ModuleType) -> None:
    def values(file: str, column: str) -> list[str]:
        raw = pq.read_table(SET / "data" / file).column(column).to_pylist()
        return [str(v) for v in raw if v not in (None, "", "N/A")]

    ibans = values("opaque__export_a.parquet", "value") + values("odoo__res_partner_bank.parquet", "acc_number")
    assert ibans and all(make_set.iban_ok(v) for v in ibans)
    assert not make_set.iban_ok("DE00123456780000000000")
    cards = values("adventureworks__Sales.CreditCard.parquet", "CardNumber")
    assert cards and all(make_set.luhn_ok(v.replace(" ", "").replace("-", "")) for v in cards)
    assert not make_set.luhn_ok("4111111111111112")


@SETS
def test_scorer_counts_hits_misses_and_labels(scorer: ModuleType, set_dir: Path) -> None:
    cases = scorer.load_cases(set_dir)
    miss = next(i for i, c in enumerate(cases) if c.label == "PII")
    false_alarm = next(i for i, c in enumerate(cases) if c.label == "NONE")
    relabel = next(i for i, c in enumerate(cases) if c.label == "SENSITIVE")
    calls: list[str] = []

    def oracle(name: str, array: object) -> object:
        """Answers from the labels (the scorer asks in the set's order), with three mistakes."""
        i = len(calls)
        calls.append(name)
        assert name == cases[i].column and array is not None
        label = {miss: "NONE", false_alarm: "PII", relabel: "PII"}.get(i, cases[i].label)
        return None if label == "NONE" else SimpleNamespace(label=label, detector="oracle")

    outcomes, _ = scorer.run(cases, set_dir, oracle)
    summary = scorer.summarise(outcomes, 0.0)
    positives = sum(c.label != "NONE" for c in cases)
    b = summary["binary"]
    assert (b["tp"], b["fp"], b["fn"], b["tn"]) == (positives - 1, 1, 1, len(cases) - positives - 1)
    assert b["precision"] == round((positives - 1) / positives, 4) == b["recall"]
    assert [o["column"] for o in summary["false_negatives"]] == [cases[miss].column]
    assert [o["column"] for o in summary["false_positives"]] == [cases[false_alarm].column]
    assert [o["column"] for o in summary["label_mismatches"]] == [cases[relabel].column]
    assert summary["confusion"]["SENSITIVE"]["PII"] == 1
    assert summary["per_label"]["SENSITIVE"]["binary_recall"] == 1.0
    text = scorer.render(summary)
    assert "false negatives (sensitive columns missed): 1" in text and cases[miss].column in text


def test_scorer_reports_a_crashing_detector(scorer: ModuleType) -> None:
    cases = scorer.load_cases(SET)[:3]

    def crash(name: str, array: object) -> object:
        raise ValueError("boom")

    outcomes, _ = scorer.run(cases, SET, crash)
    summary = scorer.summarise(outcomes, 0.0)
    assert len(summary["errors"]) == 3 and "ValueError: boom" in summary["errors"][0]["error"]


def test_scorer_takes_the_set_as_a_repository_relative_path(scorer: ModuleType, monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path: Path) -> None:
    """``--set tests/data/pii_eval_v2`` names the same folder from any working directory."""
    monkeypatch.chdir(tmp_path)
    assert scorer.set_path(Path("tests/data/pii_eval_v2")) == SET_V2
    assert scorer.set_path(SET) == SET
    (tmp_path / "mine").mkdir()
    assert scorer.set_path(Path("mine")) == Path("mine")  # a folder under the working directory wins
