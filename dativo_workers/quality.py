"""Data quality rules from the ODCS contract, evaluated in every run (docs/quality.md).

Three stages, matching a run's:

* plan (``plan_rules``): the asset's `quality` blocks (schema object and properties) become
  ``Rule`` records, checked against the table's Arrow schema; anything that cannot run is a
  ConfigError naming the file, line and key (exit 2, nothing written). The rules travel to the
  workers in the run's plan.
* ingest (``PartitionQuality``): while a partition's batches stream, Arrow compute counts what
  each library rule measures (nulls, missing, invalid values, rows), on a thread beside the
  writing (``QualityThread``). Duplicate rules keep a batch of consecutive integers as an
  interval, and write any other batch's distinct values to an Arrow IPC sidecar beside the
  fragments. The counters (and intervals) are recorded in the ledger with the partition's result.
* commit (``evaluate``): counters summed, duplicates counted across partitions by DuckDB over the
  sidecars (it spills to disk: bounded memory), SQL rules run by DuckDB over the run's staged
  fragments, every comparator applied. The commit fails the run on a failed rule of severity
  error (or any failed rule under the job's `quality.on_fail: fail`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import re
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from dativo_workers.errors import ConfigError

METRICS = ("nullValues", "missingValues", "invalidValues", "duplicateValues", "rowCount")
# ODCS v3.0.x library rules (`rule`) and the v3.1 metric each became
V30_RULES = {"duplicateCount": "duplicateValues", "validValues": "invalidValues", "rowCount": "rowCount"}
COMPARATORS = (
    "mustBe",
    "mustNotBe",
    "mustBeGreaterThan",
    "mustBeGreaterOrEqualTo",
    "mustBeLessThan",
    "mustBeLessOrEqualTo",
    "mustBeBetween",
    "mustNotBeBetween",
)
RANGE_KEYS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength")
ARGUMENTS: dict[str, tuple[str, ...]] = {
    "nullValues": (),
    "missingValues": ("missingValues",),
    "invalidValues": ("validValues", "pattern", *RANGE_KEYS),
    "duplicateValues": ("properties",),
    "rowCount": (),
}
UNITS = ("rows", "percent")
KINDS = ("library", "sql", "custom", "text")
SUMMARY_PREFIX = "dativo.quality."
# ODCS's placeholders: `${table}`/`${column}` (the schema's example), `${object}`/`${property}`
# (v3.0.x docs) and `{object}`/`{property}` (v3.1 docs)
_TABLE_PLACEHOLDERS = ("${table}", "${object}", "{object}")
_COLUMN_PLACEHOLDERS = ("${column}", "${property}", "{property}")
_LEFT_PLACEHOLDER = re.compile(r"\$\{[^}]*\}")
RUN_VIEW = "dativo_run_rows"
MAX_INTERVALS = 1000  # per duplicate rule and partition; batches beyond go to the sidecar
# the measuring thread measures at least this many rows at a time (a CSV reader's batches are ~10k
# rows: measured one by one, the Python around the ~20 compute calls per batch cost as much as the
# null, missing and range rules themselves)
GROUP_ROWS = 65_536
QUALITY_THREAD_NICE = 19  # the lowest priority: see _lower_priority
SOFT_ENGINES: dict[str, str] = {
    "soda": (
        "Soda Core is not supported: soda-core-duckdb (3.5.6, the newest) pins duckdb<1.1 and would "
        "replace the DuckDB 2 that Dativo runs SQL rules with; write the check as a `library` metric "
        "or a `type: sql` rule (see docs/quality.md)"
    ),
}


@dataclass
class Rule:
    key: str  # the rule's id, else its name, else generated: `<column>.<metric>`
    kind: str  # library | sql | custom | text
    where: str  # "file:line: schema[0].properties[2].quality[0]", for messages
    metric: str | None = None
    column: str | None = None  # a property-level rule's column
    columns: list[str] = field(default_factory=list)  # schema-level duplicateValues: arguments.properties
    comparator: str | None = None
    threshold: Any = None
    unit: str = "rows"
    severity: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    query: str | None = None
    engine: str | None = None
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rule:
        return cls(**data)

    @property
    def runs(self) -> bool:
        return self.kind in ("library", "sql")

    @property
    def expected(self) -> str:
        if self.comparator is None:
            return ""
        suffix = "%" if self.unit == "percent" else ""
        value = self.threshold
        shown = f"[{value[0]}, {value[1]}]" if isinstance(value, list) else str(value)
        return f"{self.comparator} {shown}{suffix}"


# -- plan: rules from the asset ----------------------------------------------------------------


def plan_rules(asset: Any, schema: pa.Schema) -> list[Rule]:
    """The asset's quality rules, checked against the table's Arrow schema. ConfigError (exit 2)
    for anything that cannot run: unknown metric, comparator that does not fit, bad SQL, ..."""
    contract = asset.contract
    obj = contract.schema_[0]
    path = str(asset.path)
    lines = getattr(asset, "lines", None)
    index = getattr(asset, "object_index", 0)
    rules: list[Rule] = []
    problems: list[str] = []
    obj_name = obj.name or asset.object_name or "table"

    def where(loc: tuple[Any, ...]) -> str:
        from dativo_workers.config.yamlio import format_key_path

        line = lines(loc) if callable(lines) else None
        return f"{path}:{line}: {format_key_path(loc)}" if line else f"{path}: {format_key_path(loc)}"

    def collect(entries: Iterable[Any] | None, loc: tuple[Any, ...], column: str | None) -> None:
        for i, entry in enumerate(entries or []):
            try:
                rules.append(_rule(entry, (*loc, "quality", i), where, column, schema, obj_name))
            except _Problem as problem:
                problems.append(str(problem))

    collect(obj.quality, ("schema", index), None)
    for i, prop in enumerate(obj.properties or []):
        collect(prop.quality, ("schema", index, "properties", i), prop.name)
    seen: dict[str, int] = {}
    for rule in rules:  # keys are unique within the run: the summary holds one value per key
        count = seen.get(rule.key, 0)
        seen[rule.key] = count + 1
        if count:
            rule.key = f"{rule.key}_{count + 1}"
    if problems:
        raise ConfigError(f"invalid quality rules in {path}", file=path, problems=problems)
    return rules


class _Problem(Exception):
    pass


def _rule(
    entry: Any,
    loc: tuple[Any, ...],
    where: Callable[[tuple[Any, ...]], str],
    column: str | None,
    schema: pa.Schema,
    obj_name: str,
) -> Rule:
    data = entry.model_dump(exclude_none=True) if hasattr(entry, "model_dump") else dict(entry)
    kind = data.get("type") or ("library" if data.get("metric") or data.get("rule") else None)
    if kind is None:
        raise _Problem(f"{where(loc)}: a quality rule needs `type` (library, sql, custom, text) or a `metric`")
    if kind not in KINDS:
        raise _Problem(f"{where((*loc, 'type'))}: unknown type {kind!r}; known: {', '.join(KINDS)}")
    metric = data.get("metric")
    if kind == "library" and metric is None and data.get("rule"):
        metric = V30_RULES.get(data["rule"], data["rule"])
    key = data.get("id") or data.get("name") or _generated_key(kind, metric, column)
    rule = Rule(
        key=str(key),
        kind=kind,
        where=where(loc),
        metric=metric,
        column=column,
        unit=str(data.get("unit") or "rows"),
        severity=(str(data["severity"]).lower() if data.get("severity") else None),
        arguments=dict(data.get("arguments") or {}),
        query=data.get("query"),
        engine=data.get("engine"),
        description=data.get("description"),
    )
    comparators = [c for c in COMPARATORS if c in data]
    if len(comparators) > 1:
        raise _Problem(f"{where(loc)}: one comparator per rule, found {', '.join(comparators)}")
    if comparators:
        rule.comparator, rule.threshold = comparators[0], data[comparators[0]]
    if kind == "text":
        return rule
    if kind == "custom":
        engine = str(data.get("engine") or "")
        reason = SOFT_ENGINES.get(engine.lower(), f"engine {engine!r} is not one Dativo runs (it runs library and sql)")
        raise _Problem(f"{where((*loc, 'engine'))}: custom rule refused: {reason}")
    if rule.unit not in UNITS:
        raise _Problem(f"{where((*loc, 'unit'))}: unknown unit {rule.unit!r}; known: rows, percent")
    if kind == "sql":
        _check_sql(rule, loc, where, obj_name)
    else:
        _check_library(rule, loc, where, schema)
    _check_comparator(rule, loc, where)
    return rule


def _generated_key(kind: str, metric: str | None, column: str | None) -> str:
    what = metric if kind == "library" else kind
    return f"{column}.{what}" if column else str(what)


def _check_library(rule: Rule, loc: tuple[Any, ...], where: Callable[..., str], schema: pa.Schema) -> None:
    metric = rule.metric
    if metric not in METRICS:
        raise _Problem(
            f"{where((*loc, 'metric'))}: unknown metric {metric!r}; known: {', '.join(METRICS)} "
            f"(ODCS v3.0.x rules: {', '.join(V30_RULES)})"
        )
    allowed = ARGUMENTS[metric]
    unknown = sorted(set(rule.arguments) - set(allowed))
    if unknown:
        known = ", ".join(allowed) or "none"
        raise _Problem(
            f"{where((*loc, 'arguments'))}: unknown argument(s) {', '.join(unknown)} for {metric}; known: {known}"
        )
    if metric == "rowCount":
        if rule.unit == "percent":
            raise _Problem(f"{where((*loc, 'unit'))}: rowCount counts rows: `unit: percent` does not fit it")
        if rule.comparator is None:
            raise _Problem(
                f"{where(loc)}: rowCount needs a comparator (mustBeGreaterThan: 0, mustBeBetween: [a, b], ...)"
            )
        return
    if rule.comparator is None:  # ODCS v3.0.x `validValues` and counts without an operator: none allowed
        rule.comparator, rule.threshold = "mustBe", 0
    if metric == "duplicateValues" and rule.column is None:
        props = rule.arguments.get("properties")
        if not isinstance(props, list) or not props or not all(isinstance(p, str) for p in props):
            raise _Problem(
                f"{where((*loc, 'arguments'))}: a schema-level duplicateValues rule needs "
                "`arguments.properties`: the list of columns whose combination must be unique"
            )
        rule.columns = list(props)
    elif rule.column is None:
        raise _Problem(f"{where(loc)}: {metric} is measured on a column: put the rule on a property")
    else:
        rule.columns = [rule.column]
    for name in rule.columns:
        if schema.get_field_index(name) < 0:
            raise _Problem(f"{where(loc)}: column {name!r} is not in the table")
        kind = schema.field(name).type
        if pa.types.is_nested(kind) and metric != "nullValues":
            raise _Problem(f"{where(loc)}: {metric} does not apply to the nested column {name!r} ({kind})")
    if metric == "missingValues":
        values = rule.arguments.setdefault("missingValues", [None, ""])
        if not isinstance(values, list):
            raise _Problem(f"{where((*loc, 'arguments', 'missingValues'))}: a list of values")
        _typed_values(values, schema.field(rule.columns[0]).type, (*loc, "arguments", "missingValues"), where)
    if metric == "invalidValues":
        _check_invalid_arguments(rule, loc, where, schema.field(rule.columns[0]).type)


def _check_invalid_arguments(rule: Rule, loc: tuple[Any, ...], where: Callable[..., str], kind: pa.DataType) -> None:
    args = rule.arguments
    if not any(k in args for k in ("validValues", "pattern", *RANGE_KEYS)):
        raise _Problem(
            f"{where(loc)}: invalidValues needs `arguments.validValues`, `pattern` or a range ({', '.join(RANGE_KEYS)})"
        )
    if "validValues" in args:
        if not isinstance(args["validValues"], list):
            raise _Problem(f"{where((*loc, 'arguments', 'validValues'))}: a list of values")
        _typed_values(args["validValues"], kind, (*loc, "arguments", "validValues"), where)
    if "pattern" in args:
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            raise _Problem(f"{where((*loc, 'arguments', 'pattern'))}: a pattern needs a text column, not {kind}")
        try:
            pc.match_substring_regex(pa.array([""]), pattern=str(args["pattern"]))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise _Problem(
                f"{where((*loc, 'arguments', 'pattern'))}: not a valid pattern (RE2 syntax): {exc}"
            ) from None
    for key in RANGE_KEYS:
        if key not in args:
            continue
        if key in ("minLength", "maxLength"):
            if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)) or not isinstance(args[key], int):
                raise _Problem(f"{where((*loc, 'arguments', key))}: {key} takes a whole number, on a text column")
        else:
            _typed_values([args[key]], kind, (*loc, "arguments", key), where)


def _typed_values(values: list[Any], kind: pa.DataType, loc: tuple[Any, ...], where: Callable[..., str]) -> pa.Array:
    try:
        return pa.array([_cast_value(v, kind) for v in values], type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError) as exc:
        raise _Problem(f"{where(loc)}: {values!r} do not fit the column's type {kind}: {exc}") from None


def _cast_value(value: Any, kind: pa.DataType) -> Any:
    if value is None:
        return None
    if isinstance(value, str) and not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return pa.scalar(value).cast(kind).as_py()  # "2024-01-31" for a date column
    return pa.scalar(value, type=kind).as_py()


def _check_comparator(rule: Rule, loc: tuple[Any, ...], where: Callable[..., str]) -> None:
    comparator, value = rule.comparator, rule.threshold
    if comparator is None:
        raise _Problem(f"{where(loc)}: the rule needs a comparator: {', '.join(COMPARATORS)}")
    at = where((*loc, comparator))
    if comparator in ("mustBeBetween", "mustNotBeBetween"):
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(_is_number(v) for v in value)
            or value[0] > value[1]
        ):
            raise _Problem(f"{at}: {comparator} takes two numbers, smallest first: [low, high]")
        bounds = value
    else:
        allow_bool = rule.kind == "sql" and comparator in ("mustBe", "mustNotBe")
        if not (_is_number(value) or (allow_bool and isinstance(value, bool))):
            raise _Problem(f"{at}: {comparator} takes a number, not {value!r}")
        bounds = [] if isinstance(value, bool) else [value]
    if rule.kind == "library" and rule.unit == "percent" and any(b < 0 or b > 100 for b in bounds):
        raise _Problem(f"{at}: a percentage is between 0 and 100, not {value!r}")
    if rule.kind == "library" and comparator in ("mustBeLessThan",) and bounds[0] <= 0:
        raise _Problem(f"{at}: a count is never below {bounds[0]}: the rule could never pass")
    if rule.kind == "library" and comparator == "mustBeBetween" and bounds[1] < 0:
        raise _Problem(f"{at}: a count is never negative: the rule could never pass")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def bind_sql(query: str, column: str | None, table: str = RUN_VIEW) -> str:
    """The query with ODCS's placeholders bound: the run's rows and the rule's column."""
    for placeholder in _TABLE_PLACEHOLDERS:
        query = query.replace(placeholder, f'"{table}"')
    if column is not None:
        quoted = '"' + column.replace('"', '""') + '"'
        for placeholder in _COLUMN_PLACEHOLDERS:
            query = query.replace(placeholder, quoted)
    return query


def _check_sql(rule: Rule, loc: tuple[Any, ...], where: Callable[..., str], obj_name: str) -> None:
    duckdb = duckdb_engine()
    at = where((*loc, "query"))
    if not rule.query or not str(rule.query).strip():
        raise _Problem(f"{at}: a sql rule needs a `query`")
    if rule.unit == "percent":
        raise _Problem(f"{where((*loc, 'unit'))}: a sql rule's value is what its query returns: no `unit: percent`")
    query = bind_sql(str(rule.query), rule.column)
    if rule.column is None and any(p in query for p in _COLUMN_PLACEHOLDERS):
        raise _Problem(f"{at}: ${{column}} in a schema-level rule: put the rule on a property, or name the column")
    if left := _LEFT_PLACEHOLDER.findall(query):
        raise _Problem(
            f"{at}: unknown placeholder {left[0]}; ODCS binds ${{table}} (or ${{object}}) to the run's rows "
            "and ${column} (or ${property}) to the rule's column"
        )
    # the contract names its own table (`FROM River_Levels`): that is the run's rows too
    rule.query = _bind_object_name(query, obj_name)
    try:
        statements = duckdb.extract_statements(rule.query)
    except duckdb.Error as exc:
        raise _Problem(f"{at}: the query does not parse (DuckDB SQL): {_first_line(exc)}") from None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise _Problem(f"{at}: the query must be one SELECT returning one value")


def _bind_object_name(query: str, name: str) -> str:
    pattern = re.compile(r'(?i)(\bfrom|\bjoin)(\s+)("?)' + re.escape(name) + r"\3(?![\w.])")
    return pattern.sub(lambda m: f'{m.group(1)}{m.group(2)}"{RUN_VIEW}"', query)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# -- ingest: per-partition counters --------------------------------------------------------------

# a range's bounds and the comparison a value breaking it passes (a null compares null: not counted)
_BOUNDS = (
    ("minimum", pc.less),
    ("exclusiveMinimum", pc.less_equal),
    ("maximum", pc.greater),
    ("exclusiveMaximum", pc.greater_equal),
)
_LENGTH_BOUNDS = (("minLength", pc.less), ("maxLength", pc.greater))


# a pattern is searched once per distinct value when a sample of the values repeats: SAMPLES
# slices of SAMPLE_ROWS spread over a group, at most half of them distinct; the answer holds for
# the next PROBE_EVERY - 1 groups of the partition
SAMPLES, SAMPLE_ROWS, PROBE_EVERY = 4, 256, 8


def _repeats(values: Any) -> bool:
    """Whether a sample of the values holds each value twice on average (or more)."""
    step = len(values) // SAMPLES
    pieces: list[pa.Array] = []
    for i in range(SAMPLES):
        piece = values.slice(i * step, SAMPLE_ROWS)
        pieces += piece.chunks if isinstance(piece, pa.ChunkedArray) else [piece]
    return bool(pc.count_distinct(pa.chunked_array(pieces, type=values.type)).as_py() <= SAMPLES * SAMPLE_ROWS // 2)


def _matching(values: Any, pattern: str, on_distinct: bool) -> int:
    """How many values the pattern matches (RE2: ~30-60 ns a call). ``on_distinct``: searched on
    the distinct values and their counts summed (hashing costs ~11 ns a value: for values that
    repeat, such as codes, statuses, names); else value by value (e-mails, ids: counting distinct
    values would cost more than the searches)."""
    if on_distinct:
        counts = pc.value_counts(values)
        matched = pc.match_substring_regex(counts.field("values"), pattern=pattern)  # a null: null
        return int(pc.sum(pc.filter(counts.field("counts"), matched), min_count=0).as_py() or 0)
    return int(pc.sum(pc.match_substring_regex(values, pattern=pattern), min_count=0).as_py() or 0)


def _min_max_first(kind: pa.DataType, bounds: int) -> bool:
    """Whether min_max is cheaper than the comparisons: for integers, dates and times (0.3-0.5 ns a
    value against 0.4-0.6 a comparison), decimals with two bounds; not for floating point (2.4 ns:
    NaN-aware, against 0.6) nor text (9.7 against 2.7)."""
    return pa.types.is_integer(kind) or pa.types.is_temporal(kind) or (pa.types.is_decimal(kind) and bounds > 1)


def _broken_bounds(values: Any, bounds: list[tuple[str, Any, pa.Scalar]]) -> list[Callable[[], Any]]:
    """The masks of the bounds some value breaks. A value breaks a lower bound only if the
    minimum does (NaN compares false either way: min_max skips it), an upper bound only if the
    maximum does: the bounds the minimum and maximum keep need no mask."""
    extremes = pc.min_max(values)
    broken = []
    for key, compare, bound in bounds:
        extreme = extremes["min" if key in ("minimum", "exclusiveMinimum", "minLength") else "max"]
        if extreme.is_valid and compare(extreme, bound).as_py():
            broken.append(lambda compare=compare, bound=bound: compare(values, bound))
    return broken


class PartitionQuality:
    """What one partition's rows measure, computed batch by batch as they stream.

    ``state()`` is small (one counter per rule) and goes to the ledger with the partition's
    result; duplicate rules leave one sidecar Arrow IPC file each (the distinct values of each
    batch), whose URIs are in the state and which are recorded as fragments of kind `quality`."""

    def __init__(self, rules: list[Rule], open_sidecar: Callable[[str, pa.Schema], tuple[Any, str]]) -> None:
        self.rules = [r for r in rules if r.kind == "library"]
        self.rows = 0
        self.counts = {r.key: 0 for r in self.rules}
        self._open_sidecar = open_sidecar
        self._sidecars: dict[str, tuple[Any, str]] = {}
        self._intervals: dict[str, list[list[int]]] = {}  # duplicate rules: runs of consecutive integers
        self._prepared: dict[str, Any] = {}

    def observe(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Count one batch, or a table of several (the same counts as its batches one by one)."""
        rows = batch.num_rows
        if not rows:
            return
        self.rows += rows
        for rule in self.rules:
            metric = rule.metric
            if metric == "rowCount":
                continue
            if metric == "duplicateValues":
                self._distinct(rule, batch)
                continue
            values = batch.column(rule.columns[0])
            if metric == "nullValues":
                self.counts[rule.key] += values.null_count
            elif metric == "missingValues":
                self.counts[rule.key] += self._missing(rule, values)
            elif metric == "invalidValues":
                self.counts[rule.key] += self._invalid(rule, values)

    def _missing(self, rule: Rule, values: pa.Array) -> int:
        listed = rule.arguments["missingValues"]
        present = [v for v in listed if v is not None]
        count = values.null_count if None in listed else 0
        if len(present) == 1:  # the usual `[null, '']`: a comparison, cheaper than a hash lookup
            value = self._value_set(rule, "missingValues", present, values.type)[0]
            count += pc.sum(pc.equal(values, value), min_count=0).as_py() or 0
        elif present:
            value_set = self._value_set(rule, "missingValues", present, values.type)
            count += pc.sum(pc.is_in(values, value_set=value_set), min_count=0).as_py() or 0
        return int(count)

    def _value_set(self, rule: Rule, name: str, listed: list[Any], kind: pa.DataType) -> pa.Array:
        key = f"{rule.key}/{name}"
        if key not in self._prepared:
            self._prepared[key] = pa.array([_cast_value(v, kind) for v in listed], type=kind)
        return self._prepared[key]

    def _invalid(self, rule: Rule, values: pa.Array) -> int:
        """Values that break a condition; nulls are missing, never invalid (as in SQL checks).

        A range on integers, dates, times (decimals with two bounds) or lengths is first checked on
        the values' minimum and maximum (one pass, no mask): only a bound they break is checked
        value by value, so a valid column costs a min_max. Floating point and text are compared."""
        args = rule.arguments
        checks: list[Callable[[], Any]] = []  # each: a mask of the values breaking one condition
        if "validValues" in args:
            listed = [v for v in args["validValues"] if v is not None]
            listed_set = self._value_set(rule, "validValues", listed, values.type)
            checks.append(lambda: pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=listed_set))))
        bounds = [
            (key, compare, pa.scalar(_cast_value(args[key], values.type), type=values.type))
            for key, compare in _BOUNDS
            if key in args
        ]
        if bounds and _min_max_first(values.type, len(bounds)):
            checks += _broken_bounds(values, bounds)
        elif bounds:
            checks += [lambda compare=compare, bound=bound: compare(values, bound) for _, compare, bound in bounds]
        if "minLength" in args or "maxLength" in args:
            length = pc.utf8_length(values)
            lengths = [(k, c, pa.scalar(args[k], type=length.type)) for k, c in _LENGTH_BOUNDS if k in args]
            checks += _broken_bounds(length, lengths)
        if "pattern" in args:
            pattern = str(args["pattern"])
            if not checks:  # the pattern alone: the values that do not match, without a mask
                return len(values) - values.null_count - _matching(values, pattern, self._repeats(rule, values))
            matches = pc.match_substring_regex(values, pattern=pattern)
            checks.append(lambda: pc.invert(matches))
        bad: Any = None
        for check in checks:
            mask = check()
            bad = mask if bad is None else pc.or_kleene(bad, mask)
        return int(pc.sum(bad, min_count=0).as_py() or 0) if bad is not None else 0

    def _repeats(self, rule: Rule, values: Any) -> bool:
        """Whether the rule's values repeat (``_repeats``), sampled in the partition's first group
        and every PROBE_EVERY groups after; small groups are searched value by value."""
        if len(values) < 8 * SAMPLES * SAMPLE_ROWS:
            return False
        key = f"{rule.key}/repeats"
        groups, repeats = self._prepared.get(key, (0, False))
        if groups % PROBE_EVERY == 0:
            repeats = _repeats(values)
        self._prepared[key] = (groups + 1, repeats)
        return repeats

    def _distinct(self, rule: Rule, batch: pa.RecordBatch) -> None:
        if len(rule.columns) == 1:
            values = batch.column(rule.columns[0])
            values = values.drop_null() if values.null_count else values
            self.counts[rule.key] += len(values)  # the rows compared
            if not len(values) or self._as_interval(rule.key, values):
                return
            distinct = pa.table({"v": pc.unique(values)})
        else:
            self.counts[rule.key] += batch.num_rows
            names = [f"c{i}" for i in range(len(rule.columns))]
            table = pa.Table.from_arrays([batch.column(c) for c in rule.columns], names=names)
            distinct = table.group_by(names, use_threads=False).aggregate([])  # no pool thread made at nice 19
        if rule.key not in self._sidecars:
            self._sidecars[rule.key] = self._open_sidecar(rule.key, distinct.schema)
        self._sidecars[rule.key][0].write_table(distinct)

    def _as_interval(self, key: str, values: pa.Array) -> bool:
        """A batch of whole numbers that runs lo, lo+1, ..., hi (a sequential key, the usual case)
        is kept as the interval [lo, hi]: no distinct values to write, none to count at the commit."""
        if not pa.types.is_integer(values.type):
            return False
        spans = self._intervals.setdefault(key, [])
        if len(spans) >= MAX_INTERVALS:
            return False
        bounds = pc.min_max(values)
        lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
        if hi - lo + 1 != len(values):
            return False
        if isinstance(values, pa.ChunkedArray):  # a group of batches: one array to compare with itself
            values = values.combine_chunks()
        if len(values) > 1 and not pc.all(pc.less(values.slice(0, len(values) - 1), values.slice(1))).as_py():
            return False  # as many values as the span, but some repeat
        if spans and spans[-1][1] + 1 == lo:
            spans[-1][1] = hi  # the previous batch ended just before: one interval
        else:
            spans.append([lo, hi])
        return True

    def close(self) -> dict[str, Any]:
        """The partition's state: rows, one counter per rule, its sidecars' URIs and intervals."""
        for writer, _ in self._sidecars.values():
            writer.close()
        return {
            "rows": self.rows,
            "counts": self.counts,
            "sidecars": {key: uri for key, (_, uri) in self._sidecars.items()},
            "intervals": {key: spans for key, spans in self._intervals.items() if spans},
        }

    def abort(self) -> list[str]:
        for writer, _ in self._sidecars.values():
            with contextlib.suppress(Exception):
                writer.close()
        uris = [uri for _, uri in self._sidecars.values()]
        self._sidecars = {}
        return uris


def _lower_priority() -> None:
    """Run the calling thread at the lowest CPU priority (Linux: nice is per thread). The measuring
    is off the partition's critical path (it only has to finish by the partition's end, and a full
    queue stalls the writer, which frees a core for it), so it takes the cores' idle moments
    instead of preempting the parsing and encoding threads when both cores are busy."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), QUALITY_THREAD_NICE)


class QualityThread:
    """A PartitionQuality fed from a thread of its own: the measuring (Arrow compute, which
    releases the GIL) overlaps with the conversion and Parquet writing of the next batches
    instead of adding to them. Small batches are measured together, ``group_rows`` rows at a
    time (one table of the batches, not copied): fewer compute calls, and less Python holding the
    GIL beside the writing. Up to ``max_rows`` rows wait in the queue (bounded memory; a batch is
    always taken when none wait) before observe() blocks, besides the group being gathered (less
    than ``group_rows`` and a batch): the thread always empties the queue, so observe() never
    waits on a group that waits for more rows. An error is raised by close()."""

    _STOP = object()

    def __init__(self, checks: PartitionQuality, group_rows: int = GROUP_ROWS, max_rows: int = 4 * GROUP_ROWS) -> None:
        self.checks = checks
        self.group_rows = group_rows
        self.max_rows = max_rows
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._queued = 0  # rows in the queue
        self._room = threading.Condition()
        self._error: BaseException | None = None
        self._finished = False
        self._thread = threading.Thread(target=self._run, name="dativo-quality", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        _lower_priority()
        group: list[Any] = []
        rows = 0
        while True:
            batch = self._queue.get()
            stop = batch is self._STOP
            if not stop:
                with self._room:
                    self._queued -= batch.num_rows
                    self._room.notify()
            if not stop and group and batch.schema != group[0].schema:
                self._measure(group)  # a batch of another schema starts a group of its own
                group, rows = [], 0
            if not stop:
                group.append(batch)
                rows += batch.num_rows
            if group and (stop or rows >= self.group_rows):
                self._measure(group)
                group, rows = [], 0
            if stop:
                return

    def _measure(self, group: list[Any]) -> None:
        if self._error is not None:
            return
        try:
            if len(group) == 1:
                self.checks.observe(group[0])
            elif all(isinstance(b, pa.RecordBatch) for b in group):
                self.checks.observe(pa.Table.from_batches(group))
            else:  # tables too: one table of all their chunks
                self.checks.observe(
                    pa.concat_tables(pa.Table.from_batches([b]) if isinstance(b, pa.RecordBatch) else b for b in group)
                )
        except BaseException as exc:  # raised by close(), on the caller's thread
            self._error = exc

    def observe(self, batch: pa.RecordBatch) -> None:
        if self._error is not None:
            raise self._error
        with self._room:
            while self._queued and self._queued + batch.num_rows > self.max_rows:
                self._room.wait()
            self._queued += batch.num_rows
        self._queue.put(batch)

    def finish(self) -> None:
        """No more batches: the thread measures what it holds (the last, partial group) now,
        beside whatever the caller does next (closing its files), instead of in close()."""
        if not self._finished:
            self._finished = True
            self._queue.put(self._STOP)

    def close(self) -> dict[str, Any]:
        self.finish()
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self.checks.close()

    def abort(self) -> list[str]:
        if self._thread.is_alive():
            self._error = self._error or RuntimeError("aborted")
            self.finish()
            self._thread.join()
        return self.checks.abort()


# -- commit: merge, SQL, comparators -------------------------------------------------------------


@dataclass
class Outcome:
    results: list[dict[str, Any]]
    failed_errors: list[dict[str, Any]]  # failed rules that fail the run

    @property
    def ok(self) -> bool:
        return not self.failed_errors


def evaluate(
    rules: list[Rule],
    on_fail: str,
    states: list[dict[str, Any]],
    data_files: list[str],
    open_dataset: Callable[[list[str]], Any],
) -> Outcome:
    """Every rule's value over the whole run, and whether it passes. ``states``: each done
    partition's ``PartitionQuality.close()``; ``data_files``: the run's winning fragments;
    ``open_dataset``: a pyarrow dataset over Parquet URIs (the catalog's storage)."""
    rows = sum(int(s.get("rows", 0)) for s in states)
    results = []
    connection: list[Any] = []  # opened on first use: most runs need no DuckDB

    def con() -> Any:
        if not connection:
            connection.append(_duckdb())
        return connection[0]

    try:
        for rule in rules:
            result: dict[str, Any] = {
                "rule": rule.key,
                "type": rule.kind,
                "metric": rule.metric,
                "column": rule.column if rule.column else (",".join(rule.columns) or None),
                "severity": rule.severity,
                "expected": rule.expected or None,
                "unit": rule.unit if rule.kind == "library" else None,
                "value": None,
                "status": "not run",
                "message": None,
                "description": rule.description,
            }
            results.append(result)
            if not rule.runs:
                result["message"] = "type text: recorded, not run"
                continue
            try:
                if rule.kind == "sql":
                    value = _run_sql(con(), rule, data_files, open_dataset)
                else:
                    value = _library_value(rule, states, rows, con, open_dataset)
            except Exception as exc:  # a rule that cannot be measured fails, with the reason
                result["status"] = "fail"
                result["message"] = f"could not be measured: {_first_line(exc)}"
                continue
            result["value"] = value
            result["status"] = "pass" if compare(rule.comparator or "", value, rule.threshold) else "fail"
    finally:
        for c in connection:
            c.close()
    failed = [r for r, rule in zip(results, rules, strict=True) if r["status"] == "fail" and _fails_run(rule, on_fail)]
    for r, rule in zip(results, rules, strict=True):
        r["fails_run"] = r["status"] == "fail" and _fails_run(rule, on_fail)
    return Outcome(results, failed)


def _fails_run(rule: Rule, on_fail: str) -> bool:
    if on_fail == "fail":
        return True
    if on_fail == "warn":
        return False
    return rule.severity in ("error", "critical", "fatal")


def duckdb_engine(scans_arrow: bool = False) -> Any:
    """DuckDB's engine module. Its C extension (`_duckdb`) alone parses SQL and queries Parquet
    files; the `duckdb` package around it, which scanning Arrow objects needs, costs 2-4 times the
    import time (23-64 ms more) and ~4,100 more Python objects, enough to set off an extra full
    garbage collection in a run (docs/performance.md). The package is imported only to scan Arrow
    objects (it sets that up for connections already open), or when something else loaded it."""
    if not scans_arrow and "duckdb" not in sys.modules:
        try:
            import _duckdb
        except ImportError:  # another layout: the package
            pass
        else:
            if all(hasattr(_duckdb, n) for n in ("connect", "extract_statements", "StatementType", "Error")):
                return _duckdb
    import duckdb

    return duckdb


def _duckdb() -> Any:
    con = duckdb_engine().connect()
    # bounded memory: DuckDB spills distinct counts and joins to disk past this
    con.execute("SET memory_limit='512MB'")
    con.execute(f"SET temp_directory='{tempfile.gettempdir()}/dativo-duckdb'")
    con.execute("SET threads=2")
    return con


def _library_value(
    rule: Rule, states: list[dict[str, Any]], rows: int, con: Callable[[], Any], open_dataset: Callable[..., Any]
) -> float | int:
    if rule.metric == "rowCount":
        return rows
    counted = sum(int(s.get("counts", {}).get(rule.key, 0)) for s in states)
    if rule.metric == "duplicateValues":
        sidecars = [s["sidecars"][rule.key] for s in states if rule.key in s.get("sidecars", {})]
        spans = _union([span for s in states for span in s.get("intervals", {}).get(rule.key, [])])
        distinct = sum(hi - lo + 1 for lo, hi in spans)
        if sidecars:
            distinct += _count_distinct(con(), sidecars, open_dataset, spans)
        counted = counted - distinct  # rows compared minus distinct values: the repeats
    if rule.unit == "percent":
        return round(100.0 * counted / rows, 6) if rows else 0.0
    return counted


def _union(spans: list[list[int]]) -> list[tuple[int, int]]:
    """Intervals merged where they overlap or touch, in order."""
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _count_distinct(
    con: Any, uris: list[str], open_dataset: Callable[..., Any], spans: list[tuple[int, int]] | None = None
) -> int:
    """Distinct values (rows of the sidecars' columns) outside ``spans``, counted by DuckDB."""
    dataset = open_dataset(uris)
    duckdb_engine(scans_arrow=True)  # the package: DuckDB scans Arrow objects below
    if _local_path(uris[0]) is not None:
        con.register("dativo_sidecars", dataset)
        drop = lambda: con.unregister("dativo_sidecars")  # noqa: E731
    else:
        # an object store: pyarrow reads the files on this thread and DuckDB takes the batches into
        # a temporary table (spilled to disk past its memory limit); DuckDB's own threads pulling
        # from a pyarrow dataset over S3 stalled the reads (seen with moto's server in-process)
        con.execute(f"CREATE OR REPLACE TEMP TABLE dativo_sidecars AS SELECT * FROM {_empty(con, dataset)}")
        con.unregister("dativo_empty")
        for batch in dataset.to_batches():
            con.register("dativo_batch", pa.Table.from_batches([batch]))
            con.execute("INSERT INTO dativo_sidecars SELECT * FROM dativo_batch")
            con.unregister("dativo_batch")
        drop = lambda: con.execute("DROP TABLE IF EXISTS dativo_sidecars")  # noqa: E731
    try:
        names = ", ".join(f'"{n}"' for n in dataset.schema.names)
        outside = ""
        if spans:
            con.register("dativo_spans", pa.table({"lo": [s[0] for s in spans], "hi": [s[1] for s in spans]}))
            outside = " WHERE NOT EXISTS (SELECT 1 FROM dativo_spans WHERE v BETWEEN lo AND hi)"
        query = f"SELECT count(*) FROM (SELECT DISTINCT {names} FROM dativo_sidecars{outside})"
        return int(con.execute(query).fetchall()[0][0])
    finally:
        drop()
        if spans:
            con.unregister("dativo_spans")


def _empty(con: Any, dataset: Any) -> str:
    """A registered empty table of the dataset's schema (to create a DuckDB table from)."""
    con.register("dativo_empty", dataset.schema.empty_table())
    return "dativo_empty"


def _run_sql(con: Any, rule: Rule, data_files: list[str], open_dataset: Callable[..., Any]) -> Any:
    if not data_files:
        raise ValueError("the run wrote no rows to query")
    local = [_local_path(uri) for uri in data_files]
    if all(path is not None and path.endswith(".parquet") for path in local):
        # local Parquet: DuckDB's own reader (a third of the CPU of scanning through pyarrow)
        paths = ", ".join("'" + str(path).replace("'", "''") + "'" for path in local)
        con.execute(f'CREATE OR REPLACE TEMP VIEW "{RUN_VIEW}" AS SELECT * FROM read_parquet([{paths}])')
        drop = lambda: con.execute(f'DROP VIEW IF EXISTS "{RUN_VIEW}"')  # noqa: E731
    else:  # object stores: through pyarrow's filesystem, with the catalog's credentials
        duckdb_engine(scans_arrow=True)  # the package: DuckDB scans Arrow objects
        con.register(RUN_VIEW, open_dataset(data_files))
        drop = lambda: con.unregister(RUN_VIEW)  # noqa: E731
    try:
        rows = con.execute(rule.query).fetchmany(2)
    finally:
        drop()
    if len(rows) != 1 or len(rows[0]) != 1:
        raise ValueError(f"the query must return one row of one value, it returned {len(rows)} row(s)")
    value = rows[0][0]
    if isinstance(value, bool) or value is None:
        return value
    if hasattr(value, "__float__"):
        number = float(value)
        return int(number) if number.is_integer() and not isinstance(value, float) else number
    raise ValueError(f"the query returned {type(value).__name__}, not a number or a boolean")


def _local_path(uri: str) -> str | None:
    """The local path of a ``file://`` URI or a plain path; None for object stores."""
    if uri.startswith("file://"):
        return uri.removeprefix("file://")
    return None if "://" in uri else uri


def compare(comparator: str, value: Any, threshold: Any) -> bool:
    if value is None:
        return False
    if comparator == "mustBe":
        return bool(value == threshold)
    if comparator == "mustNotBe":
        return bool(value != threshold)
    if isinstance(value, bool):
        value = int(value)
    if comparator == "mustBeGreaterThan":
        return bool(value > threshold)
    if comparator == "mustBeGreaterOrEqualTo":
        return bool(value >= threshold)
    if comparator == "mustBeLessThan":
        return bool(value < threshold)
    if comparator == "mustBeLessOrEqualTo":
        return bool(value <= threshold)
    if comparator == "mustBeBetween":
        return bool(threshold[0] <= value <= threshold[1])
    if comparator == "mustNotBeBetween":
        return not threshold[0] <= value <= threshold[1]
    raise ValueError(f"unknown comparator {comparator!r}")


# -- reporting -------------------------------------------------------------------------------------


def shown_value(result: dict[str, Any]) -> str:
    value = result["value"]
    if value is None:
        return "-"
    return f"{value}%" if result.get("unit") == "percent" else str(value)


def summary_properties(results: list[dict[str, Any]]) -> dict[str, str]:
    """`dativo.quality.<rule>` = `pass 0` / `fail 12.5%` (text rules: `not run`)."""
    out = {}
    for r in results:
        text = r["status"] if r["value"] is None else f"{r['status']} {shown_value(r)}"
        out[SUMMARY_PREFIX + r["rule"]] = text
    return out


def failure_report(failed: list[dict[str, Any]]) -> str:
    parts = []
    for r in failed:
        measured = f"measured {shown_value(r)}" if r["value"] is not None else (r["message"] or "not measured")
        parts.append(f"{r['rule']}: {measured}, expected {r['expected']}")
    return f"{len(failed)} quality rule(s) failed, nothing committed: " + "; ".join(parts)


def dumps(results: list[dict[str, Any]]) -> str:
    return json.dumps(results, default=str)


# -- glue for the pipeline ---------------------------------------------------------------------------


def planned_rules(plan: dict[str, Any]) -> list[Rule] | None:
    """The rules a run's plan carries (None: the asset has none)."""
    quality = plan.get("quality")
    if not quality or not quality.get("rules"):
        return None
    return [Rule.from_dict(r) for r in quality["rules"]]


def plan_entry(asset: Any, table_schema: Any, on_fail: str) -> dict[str, Any] | None:
    """The plan's `quality` entry: the rules, checked against the table's (Iceberg) schema, and
    the job's policy (None without rules)."""
    if asset is None:
        return None
    from dativo_workers.schema import arrow_schema

    rules = plan_rules(asset, arrow_schema(table_schema))
    return {"rules": [r.to_dict() for r in rules], "on_fail": on_fail} if rules else None


def sidecar_opener(
    location: str, run_id: str, index: int, attempt: int, storage: dict[str, str]
) -> Callable[[str, pa.Schema], tuple[Any, str]]:
    """Opens a duplicate rule's sidecar beside the partition's fragments (swept after the commit)."""
    from dativo_workers.fragments import run_data_dir
    from dativo_workers.storage import filesystem, make_parent_dir

    counter = [0]

    def open_sidecar(key: str, schema: pa.Schema) -> tuple[Any, str]:
        counter[0] += 1
        uri = f"{location}/{run_data_dir(run_id)}/p{index:05d}-a{attempt:02d}-quality{counter[0]:02d}.arrow"
        fs, path = filesystem(uri, storage)
        make_parent_dir(fs, path)
        # Arrow IPC, uncompressed: writing it costs next to nothing (Parquet's encoding would cost
        # as much as the distinct values themselves); the file lives until the commit's sweep
        if fs.type_name == "local":
            return pa.ipc.new_file(fs.open_output_stream(path), schema), uri
        return _StagedSidecar(schema, fs, path), uri

    return open_sidecar


class _StagedSidecar:
    """A sidecar for an object store, written to a local file and uploaded by close(). The
    measuring thread runs at nice 19, and a thread inherits its creator's priority: writing to
    the store from it would make Arrow's IO pool threads (its uploads) nice 19 for the process.
    close() runs on the partition's own thread (QualityThread.close)."""

    def __init__(self, schema: pa.Schema, fs: Any, path: str) -> None:
        handle, self._local = tempfile.mkstemp(prefix="dativo-sidecar-", suffix=".arrow")
        os.close(handle)
        self._writer = pa.ipc.new_file(pa.OSFile(self._local, "wb"), schema)
        self._fs, self._path = fs, path

    def write_table(self, table: pa.Table) -> None:
        self._writer.write_table(table)

    def close(self) -> None:
        import pyarrow.fs as pafs

        try:
            self._writer.close()
            pafs.copy_files(self._local, self._path, destination_filesystem=self._fs)
        finally:
            os.unlink(self._local)


def check_run(
    run: dict[str, Any],
    plan: dict[str, Any],
    parts: list[dict[str, Any]],
    data_files: list[str],
    storage: dict[str, str],
) -> tuple[list[dict[str, Any]], str | None]:
    """The run's rule results and, when a rule fails the run, the error (nothing is committed)."""
    rules = planned_rules(plan) or []
    quality = plan.get("quality") or {}
    states = [json.loads(p["quality"]) for p in parts if p.get("quality")]

    def open_dataset(uris: list[str]) -> Any:
        import pyarrow.dataset as ds

        from dativo_workers.storage import filesystem

        fs, _ = filesystem(uris[0], storage)
        kind = "arrow" if uris[0].endswith(".arrow") else "parquet"  # sidecars, or the run's fragments
        return ds.dataset([filesystem(u, storage)[1] for u in uris], format=kind, filesystem=fs)

    outcome = evaluate(rules, quality.get("on_fail", "severity"), states, data_files, open_dataset)
    return outcome.results, None if outcome.ok else failure_report(outcome.failed_errors)
