"""Sheet cells to typed Arrow columns.

The Sheets values endpoint (``valueRenderOption=UNFORMATTED_VALUE``,
``dateTimeRenderOption=FORMATTED_STRING``) gives numbers as JSON numbers, checkboxes as JSON
booleans, and text, dates and times as strings (dates as the cell's format shows them). A
column's type is inferred from all its values, never from a sample:

- every value a JSON integer within int64: ``int64``; every value a number: ``float64``
  (Sheets holds every number as a double, so nothing is lost);
- every value a boolean: ``bool``;
- every value text in ISO form: ``date`` (``2024-01-31``) or ``timestamp`` without zone
  (``2024-01-31 13:45:00``, ``T`` accepted; a sheet's times have no zone);
- anything else, mixed kinds included: ``string``, each value as Sheets renders it.

Empty cells (``""``) and the cells missing from ragged rows are null. A CSV export (Drive) is text
only: the same rules apply to its text, with an integer only where no value has a leading zero
(``00123`` stays text) and a float only where every value has at most 15 significant digits (the
digits a double holds exactly); ``TRUE``/``FALSE`` (any case) are booleans.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
TIMESTAMP_RE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$"
INT_RE = r"^-?(0|[1-9]\d*)$"
FLOAT_RE = r"^-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?$"
BOOL_RE = r"(?i)^(true|false)$"
_SIGNIFICANT = re.compile(r"[1-9](\d*[1-9])?")


def header_names(header: list[Any], width: int) -> list[str]:
    """Column names from a header row: blanks become `column_<n>` (1-based), repeats get `_2`, `_3`."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for i in range(width):
        raw = header[i] if i < len(header) else None
        name = str(raw).strip() if raw not in (None, "") else f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 1
        names.append(name)
    return names


def render(value: Any) -> str | None:
    """A cell as text (for string columns and for casting to an asset's type)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    return str(value)


def json_column(values: list[Any]) -> pa.Array:
    """A column of JSON cell values, typed by what all of them are."""
    present = [v for v in values if v is not None and v != ""]
    if present:
        if all(isinstance(v, bool) for v in present):
            return pa.array([None if v == "" else v for v in values], pa.bool_())
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)
        if numbers and all(isinstance(v, int) and INT64_MIN <= v <= INT64_MAX for v in present):
            return pa.array([None if v == "" else v for v in values], pa.int64())
        if numbers:
            return pa.array([None if v == "" else float(v) for v in values], pa.float64())
        if all(isinstance(v, str) for v in present):
            return text_column(pa.array([None if v == "" else v for v in values], pa.string()), numbers=False)
    return pa.array([render(v) for v in values], pa.string())


def _all(texts: pa.Array, pattern: str) -> bool:
    return bool(pc.all(pc.match_substring_regex(texts, pattern), skip_nulls=True).as_py() is not False)


def text_column(texts: pa.Array, numbers: bool = True) -> pa.Array:
    """A column of text (nulls for empty) typed by what every value looks like."""
    texts = pc.if_else(pc.equal(texts, ""), pa.scalar(None, pa.string()), texts)
    present = pc.drop_null(texts)
    if len(present) == 0:
        return texts
    if numbers and _all(present, INT_RE):
        try:
            return pc.cast(texts, pa.int64())
        except pa.ArrowInvalid:  # beyond int64: keep the digits as text
            return texts
    if numbers and _all(present, FLOAT_RE):
        digits = [len(m.group(0)) if (m := _SIGNIFICANT.search(t.split("e")[0].split("E")[0].replace(".", ""))) else 0
                  for t in present.to_pylist()]  # fmt: skip
        if max(digits) <= 15:
            return pc.cast(texts, pa.float64())
    if numbers and _all(present, BOOL_RE):
        return pc.cast(pc.utf8_lower(texts), pa.bool_())
    if _all(present, DATE_RE):
        try:
            return pc.cast(texts, pa.date32())
        except pa.ArrowInvalid:  # 2024-02-30: not a date, keep the text
            return texts
    if _all(present, TIMESTAMP_RE):
        try:
            return pc.cast(pc.replace_substring(texts, " ", "T"), pa.timestamp("us"))
        except pa.ArrowInvalid:
            return texts
    return texts


def cast_to(array: pa.Array, target: pa.DataType) -> pa.Array:
    """An inferred column to the asset's type (the asset's schema wins): through its text when the
    kinds differ, so `1.10` lands in a decimal(10,2) as 1.10 and a value that does not fit fails."""
    if array.type == target:
        return array
    if pa.types.is_string(target):
        return pa.array([render(v) for v in array.to_pylist()], pa.string())
    if pa.types.is_floating(array.type) and not pa.types.is_floating(target):
        array = pa.array([render(v) for v in array.to_pylist()], pa.string())
    if pa.types.is_timestamp(target) and pa.types.is_string(array.type):
        array = pc.replace_substring(array, " ", "T")
    return pc.cast(array, target)
