"""What a run changes in its table's schema, as the source brings it: columns the source no longer
brings (``dropped``), source columns the asset does not declare (``ignored``: not loaded), and
where the report goes besides the run summary: the snapshot summary and one warning per run.

``plan_table`` compares the table with the asset's schema (or the inferred one); with an asset,
``source_columns`` also compares the asset with the schema the reader reports, which the asset
alone cannot show: the columns it lacks, and the ones it declares that the source lacks.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import structlog
from pyiceberg.schema import Schema

from dativo_workers.config.asset import Asset
from dativo_workers.errors import ConfigError, DativoError, SchemaChangeError
from dativo_workers.plugins.base import DataReader
from dativo_workers.plugins.manager import plugin_call
from dativo_workers.schema import arrow_to_iceberg

log = structlog.get_logger("dativo.pipeline")

SchemaChanges = dict[str, Any]

# snapshot summary keys (only the non-empty ones are written)
ADDED_KEY = "dativo.schema.added"
DROPPED_KEY = "dativo.schema.dropped"
TYPE_CHANGED_KEY = "dativo.schema.type-changed"
IGNORED_KEY = "dativo.schema.ignored"


def source_columns(
    changes: SchemaChanges,
    table_schema: Schema,
    asset: Asset,
    brought: pa.Schema,
    sampled: bool,
    table_name: str,
) -> SchemaChanges:
    """``changes`` plus what the source (``brought``: the reader's schema) differs in from the asset.

    A source column the asset lacks is ``ignored``. A column the asset declares and the source
    lacks is ``dropped`` (null in the new rows); when the asset marks it required, the run is
    refused before anything is written (SchemaChangeError, ``changes`` attached). ``sampled``: the
    reader's schema comes from a sample, so a column it lacks may still come later: not dropped."""
    declared = {c.name for c in asset.columns}
    ignored = [{"column": f.name, "type": _type_of(f)} for f in brought if f.name not in declared]
    dropped = list(changes.get("dropped") or [])
    missing = [] if sampled else [c for c in asset.columns if c.name not in brought.names]
    known = {d["column"] for d in dropped}
    for col in missing:
        if col.name not in known:
            dropped.append({"column": col.name, "type": str(table_schema.find_type(col.name))})
    result = {**changes, "dropped": dropped, "ignored": ignored}
    required = [c for c in missing if c.required]
    if required:
        names = ", ".join(repr(c.name) for c in required)
        where = "; ".join(f"{c.where or asset.path}" for c in required)
        refusal = [
            {"column": c.name, "table_type": str(table_schema.find_type(c.name)), "source_type": None} for c in required
        ]
        error = SchemaChangeError(
            f"table {table_name}: required column(s) {names} no longer in the source; the asset {asset.path} "
            f"marks them `required: true` ({where}), so nothing was written. Ways out: bring the column(s) "
            "back in the source, or drop `required: true` from the asset to load them as NULL.",
            refusal,  # source_type None: the source lacks the column
        )
        error.changes = {**result, "rejected": refusal}
        raise error
    return result


def reported_schema(reader: DataReader) -> tuple[pa.Schema, bool] | None:
    """The schema the reader reports, and whether it is a sample (``DataReader.schema_sampled``);
    None when the reader cannot tell, or fails to (then nothing is reported: the run goes on, and
    the partitions still warn of the columns they ignore)."""
    try:
        brought = plugin_call(reader.name, reader.schema)
    except DativoError as exc:
        log.warning("source schema unavailable: columns ignored or dropped are not reported", error=str(exc))
        return None
    if brought is None:
        return None
    return pa.schema(brought), bool(getattr(reader, "schema_sampled", False))


def _type_of(field: pa.Field) -> str:
    """The Iceberg name of a source column's type (as in the rest of ``schema_changes``)."""
    try:
        return str(arrow_to_iceberg(pa.schema([field])).fields[0].field_type)
    except ConfigError:  # no Iceberg equivalent: the source's own name
        return str(field.type)


def snapshot_properties(changes: SchemaChanges | None) -> dict[str, str]:
    """The run's schema changes as snapshot summary properties; empty ones are left out, and so
    is ``added`` of a run that creates the table (every column would be in it)."""
    if not changes:
        return {}
    values = {
        ADDED_KEY: [] if changes.get("created") else [c["column"] for c in changes.get("added") or []],
        DROPPED_KEY: [c["column"] for c in changes.get("dropped") or []],
        TYPE_CHANGED_KEY: [f"{c['column']}:{c['from']}->{c['to']}" for c in changes.get("type_changed") or []],
        IGNORED_KEY: [c["column"] for c in changes.get("ignored") or []],
    }
    return {key: ",".join(names) for key, names in values.items() if names}


def warning_fields(changes: SchemaChanges | None) -> dict[str, list[str]] | None:
    """The fields of a run's schema warning, or None when nothing calls for one: a column
    dropped, a type changed (widened or cast) or a source column ignored."""
    if not changes:
        return None
    fields = {
        "dropped": [c["column"] for c in changes.get("dropped") or []],
        "type_changed": [f"{c['column']}:{c['from']}->{c['to']}" for c in changes.get("type_changed") or []],
        "cast": [f"{c['column']}:{c['source_type']}->{c['table_type']}" for c in changes.get("cast") or []],
        "ignored": [c["column"] for c in changes.get("ignored") or []],
    }
    if not any(fields.values()):
        return None
    added = [] if changes.get("created") else [c["column"] for c in changes.get("added") or []]
    return {"added": added, **fields}
