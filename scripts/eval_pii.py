"""Score the PII detector on a blind evaluation set (tests/data/pii_eval, issue #15 item 2).

    .venv/bin/python scripts/eval_pii.py                 # the report: precision, recall, confusion, misses
    .venv/bin/python scripts/eval_pii.py --set tests/data/pii_eval_v2   # the held-out second set
    .venv/bin/python scripts/eval_pii.py --json          # the same as one JSON document
    .venv/bin/python scripts/eval_pii.py --min-precision 0.95 --min-recall 0.93   # exit 1 below either

Each labelled column (tests/data/pii_eval/labels.csv) is read from its Parquet file and given to
``dativo_workers.governance.pii.detect_column(name, array)``; a Finding counts as "sensitive" (its
label PII, SENSITIVE or CREDENTIAL), None as "not sensitive". The headline figures are binary
(sensitive vs NONE); the per-label confusion matrix shows which label the detector gave. The
labels were assigned from the columns' meaning before any detector ran: see the set's README.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SET = ROOT / "tests" / "data" / "pii_eval"
LABELS = ("PII", "SENSITIVE", "CREDENTIAL", "NONE")

Detect = Callable[[str, pa.Array | None], Any]


@dataclass
class Case:
    file: str
    source: str
    table: str
    column: str
    arrow_type: str
    label: str
    reason: str


@dataclass
class Outcome:
    source: str
    table: str
    column: str
    label: str
    predicted: str  # one of LABELS; NONE when the detector returned None
    detector: str | None
    error: str | None
    reason: str


def set_path(path: Path) -> Path:
    """The set's folder: as given, or relative to the repository when it is not under the working directory."""
    if not path.is_absolute() and not path.exists() and (ROOT / path).exists():
        return ROOT / path
    return path


def load_cases(set_dir: Path) -> list[Case]:
    path = set_dir / "labels.csv"
    if not path.is_file():
        raise SystemExit(f"eval_pii: {path} not found (make it with {set_dir / 'make_set.py'})")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    cases = []
    for i, row in enumerate(rows, start=2):
        if row["label"] not in LABELS:
            raise SystemExit(f"eval_pii: {path}:{i}: unknown label {row['label']!r}")
        cases.append(Case(row["file"], row["source"], row["table"], row["column"], row["arrow_type"],
                          row["label"], row["reason"]))
    return cases


def run(cases: list[Case], set_dir: Path, detect: Detect) -> tuple[list[Outcome], float]:
    """Every column through ``detect``; returns the outcomes and the detector's CPU seconds."""
    tables: dict[str, pa.Table] = {}
    outcomes: list[Outcome] = []
    cpu = 0.0
    for case in cases:
        if case.file not in tables:
            tables[case.file] = pq.read_table(set_dir / "data" / case.file)
        column = tables[case.file].column(case.column).combine_chunks()
        if str(column.type) != case.arrow_type:
            raise SystemExit(f"eval_pii: {case.file}:{case.column} is {column.type}, labels.csv says {case.arrow_type}")
        predicted, detector, error = "NONE", None, None
        start = time.process_time()
        try:
            finding = detect(case.column, column)
        except Exception as exc:  # a crash on one column is reported, not fatal
            finding, error = None, f"{type(exc).__name__}: {exc}"
        cpu += time.process_time() - start
        if finding is not None:
            predicted = str(getattr(finding, "label", "?"))
            detector = getattr(finding, "detector", None)
            detector = None if detector is None else str(detector)
        outcomes.append(Outcome(case.source, case.table, case.column, case.label, predicted, detector, error,
                                case.reason))
    return outcomes, cpu


def _ratio(num: int, den: int) -> float | None:
    return None if den == 0 else round(num / den, 4)


def summarise(outcomes: list[Outcome], cpu: float) -> dict[str, Any]:
    def sensitive(label: str) -> bool:
        return label != "NONE"

    tp = sum(sensitive(o.label) and sensitive(o.predicted) for o in outcomes)
    fp = sum(not sensitive(o.label) and sensitive(o.predicted) for o in outcomes)
    fn = sum(sensitive(o.label) and not sensitive(o.predicted) for o in outcomes)
    tn = sum(not sensitive(o.label) and not sensitive(o.predicted) for o in outcomes)
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = None if not precision or not recall else round(2 * precision * recall / (precision + recall), 4)

    predicted_labels = list(LABELS) + sorted({o.predicted for o in outcomes} - set(LABELS))
    confusion = {t: {p: sum(o.label == t and o.predicted == p for o in outcomes) for p in predicted_labels}
                 for t in LABELS}
    per_label = {}
    for lab in LABELS[:3]:
        hit = sum(o.label == lab and o.predicted == lab for o in outcomes)
        per_label[lab] = {
            "columns": sum(o.label == lab for o in outcomes),
            "predicted": sum(o.predicted == lab for o in outcomes),
            "exact_precision": _ratio(hit, sum(o.predicted == lab for o in outcomes)),
            "exact_recall": _ratio(hit, sum(o.label == lab for o in outcomes)),
            # found as sensitive at all, whatever label the detector gave
            "binary_recall": _ratio(sum(o.label == lab and sensitive(o.predicted) for o in outcomes),
                                    sum(o.label == lab for o in outcomes)),
        }
    per_source: dict[str, dict[str, int]] = {}
    for o in outcomes:
        s = per_source.setdefault(o.source, {"columns": 0, "tp": 0, "fp": 0, "fn": 0, "tn": 0})
        s["columns"] += 1
        key = ("t" if sensitive(o.label) == sensitive(o.predicted) else "f") + ("p" if sensitive(o.predicted) else "n")
        s[key] += 1
    return {
        "columns": len(outcomes),
        "binary": {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "precision": precision, "recall": recall, "f1": f1},
        "per_label": per_label,
        "confusion": confusion,
        "per_source": per_source,
        "false_positives": [asdict(o) for o in outcomes if not sensitive(o.label) and sensitive(o.predicted)],
        "false_negatives": [asdict(o) for o in outcomes if sensitive(o.label) and not sensitive(o.predicted)],
        "label_mismatches": [asdict(o) for o in outcomes
                             if sensitive(o.label) and sensitive(o.predicted) and o.label != o.predicted],
        "errors": [asdict(o) for o in outcomes if o.error],
        "detector_cpu_seconds": round(cpu, 3),
    }


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def render(summary: dict[str, Any]) -> str:
    b = summary["binary"]
    out = [
        f"PII evaluation set: {summary['columns']} columns; detector CPU time {summary['detector_cpu_seconds']} s",
        f"binary (sensitive vs NONE): precision {_fmt(b['precision'])}  recall {_fmt(b['recall'])}  "
        f"F1 {_fmt(b['f1'])}   (TP {b['tp']}  FP {b['fp']}  FN {b['fn']}  TN {b['tn']})",
        "",
        "per label       columns  predicted  exact P  exact R  found as sensitive",
    ]
    for lab, m in summary["per_label"].items():
        out.append(f"  {lab:<12}{m['columns']:>9}{m['predicted']:>11}  {_fmt(m['exact_precision']):>7}  "
                   f"{_fmt(m['exact_recall']):>7}  {_fmt(m['binary_recall']):>7}")
    cols = list(next(iter(summary["confusion"].values())))
    out += ["", "confusion (rows: label, columns: detector)", "  " + " " * 12 + "".join(f"{c:>12}" for c in cols)]
    for t, row in summary["confusion"].items():
        out.append(f"  {t:<12}" + "".join(f"{row[c]:>12}" for c in cols))
    out += ["", "per source       columns    TP    FP    FN    TN"]
    for src, s in sorted(summary["per_source"].items()):
        out.append(f"  {src:<15}{s['columns']:>8}{s['tp']:>6}{s['fp']:>6}{s['fn']:>6}{s['tn']:>6}")

    def listing(title: str, rows: list[dict[str, Any]]) -> None:
        out.extend(["", f"{title}: {len(rows)}"])
        for o in rows:
            got = o["predicted"] + (f" by {o['detector']}" if o["detector"] else "")
            err = f"  ERROR {o['error']}" if o["error"] else ""
            out.append(f"  {o['source']}.{o['table']}.{o['column']}: label {o['label']}, detector {got}"
                       f"  ({o['reason']}){err}")

    listing("false positives (NONE columns flagged)", summary["false_positives"])
    listing("false negatives (sensitive columns missed)", summary["false_negatives"])
    listing("found, with another label", summary["label_mismatches"])
    if summary["errors"]:
        listing("detector errors", summary["errors"])
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", type=Path, default=DEFAULT_SET,
                        help="the set's folder (labels.csv, data/); default tests/data/pii_eval, "
                             "the held-out one is tests/data/pii_eval_v2")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--min-precision", type=float, help="exit 1 when binary precision is below this")
    parser.add_argument("--min-recall", type=float, help="exit 1 when binary recall is below this")
    args = parser.parse_args(argv)
    args.set = set_path(args.set)

    from dativo_workers.governance.pii import detect_column

    outcomes, cpu = run(load_cases(args.set), args.set, detect_column)
    summary = summarise(outcomes, cpu)
    print(json.dumps(summary, indent=2) if args.json else render(summary))
    b = summary["binary"]
    if args.min_precision is not None and (b["precision"] or 0.0) < args.min_precision:
        return 1
    if args.min_recall is not None and (b["recall"] or 0.0) < args.min_recall:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
