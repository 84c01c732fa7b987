"""The files the generator writes: the job YAML, the ODCS v3 asset, and secret values (only ever
to a secret provider, never into a YAML file)."""

from __future__ import annotations

import difflib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pyiceberg.schema import Schema
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IcebergType,
    IntegerType,
    ListType,
    LongType,
    MapType,
    NestedField,
    StringType,
    StructType,
    TimestampType,
    TimestamptzType,
    TimeType,
)

from dativo_workers.config.runner import RunnerConfig
from dativo_workers.generator.asker import Invalid

NONE_LABEL = "none"  # an asset label that removes a detected one (docs/governance.md)


# -- asset ------------------------------------------------------------------------------------

_SIMPLE: list[tuple[type[IcebergType], str, str]] = [
    (BooleanType, "boolean", "boolean"),
    (IntegerType, "integer", "int"),
    (LongType, "integer", "bigint"),
    (FloatType, "number", "float"),
    (DoubleType, "number", "double"),
    (StringType, "string", "string"),
    (BinaryType, "string", "binary"),
    (DateType, "date", "date"),
    (TimestamptzType, "timestamp", "timestamptz"),
    (TimestampType, "timestamp", "timestamp"),
    (TimeType, "time", "time"),
]


def odcs_type(field_type: IcebergType, column: str) -> dict[str, Any]:
    """logicalType/physicalType (and items/properties) that map back to exactly ``field_type``
    under the asset type mapping of docs/configuration.md."""
    if isinstance(field_type, DecimalType):
        return {"logicalType": "number", "physicalType": f"decimal({field_type.precision},{field_type.scale})"}
    for cls, logical, physical in _SIMPLE:
        if type(field_type) is cls:
            return {"logicalType": logical, "physicalType": physical}
    if isinstance(field_type, ListType):
        items = {"name": "item", **odcs_type(field_type.element_type, column)}
        if field_type.element_required:
            items["required"] = True
        return {"logicalType": "array", "items": items}
    if isinstance(field_type, StructType):
        return {"logicalType": "object", "properties": [_property(f, {}, set()) for f in field_type.fields]}
    if isinstance(field_type, MapType):
        raise Invalid(
            f"column {column!r} is a map, which an ODCS asset cannot describe here; "
            "generate the job without an asset (--no-asset): the schema is then inferred at each run"
        )
    raise Invalid(f"column {column!r}: type {field_type} has no asset equivalent; use --no-asset")


def _property(f: NestedField, labels: dict[str, str], required: set[str]) -> dict[str, Any]:
    prop: dict[str, Any] = {"name": f.name, **odcs_type(f.field_type, f.name)}
    if f.required or f.name in required:
        prop["required"] = True
    if labels.get(f.name):
        prop["classification"] = labels[f.name]
    return prop


# keys of an existing property that the user owns: kept when the asset is regenerated
_KEPT_PROPERTY_KEYS = (
    "description",
    "classification",
    "tags",
    "customProperties",
    "primaryKey",
    "required",
    "examples",
)


def asset_document(
    *,
    tenant: str,
    source: str,
    object_name: str,
    schema: Schema,
    labels: dict[str, str],
    primary_key: list[str],
    not_null: set[str],
    existing: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An ODCS v3 data contract for one table. With ``existing``, its metadata and per-column
    descriptions/labels/keys are kept; the columns and their types follow the source."""
    required = set(not_null) | set(primary_key)
    properties = [_property(f, labels, required) for f in schema.fields]
    for prop in properties:
        if prop["name"] in primary_key:
            prop["primaryKey"] = True
    if existing is None:
        return {
            "apiVersion": "v3.0.2",
            "kind": "DataContract",
            "id": f"{tenant}-{object_name}",
            "name": object_name,
            "version": "1.0.0",
            "status": "draft",
            "tenant": tenant,
            "schema": [{"name": object_name, "physicalType": "table", "properties": properties}],
        }
    doc = dict(existing)
    objects = list(doc.get("schema") or [{"name": object_name, "physicalType": "table"}])
    old_props = {p.get("name"): p for p in (objects[0].get("properties") or []) if isinstance(p, dict)}
    merged = []
    for prop in properties:
        old = old_props.get(prop["name"])
        if old is not None:
            for key in _KEPT_PROPERTY_KEYS:
                if key in old:  # the user's word wins over a new detection
                    prop[key] = old[key]
        merged.append(prop)
    objects[0] = {**objects[0], "properties": merged}
    doc["schema"] = objects
    return doc


# -- job --------------------------------------------------------------------------------------


def job_document(
    *,
    tenant: str,
    name: str,
    asset_path: str | None,
    source: dict[str, Any],
    target: dict[str, Any],
    classification_overrides: dict[str, str],
) -> dict[str, Any]:
    doc: dict[str, Any] = {"tenant_id": tenant, "name": name}
    if asset_path:
        doc["asset_path"] = asset_path
    doc["source"] = source
    doc["target"] = target
    if classification_overrides:
        doc["classification_overrides"] = classification_overrides
    return doc


def relative_to(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


# -- YAML -------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block style, lists indented under their key, no aliases."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _body(doc: dict[str, Any]) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120, default_flow_style=False)


def to_yaml(doc: dict[str, Any], header: str) -> str:
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    return "\n".join(lines) + "\n" + _body(doc)


def document_change(old: dict[str, Any], new: dict[str, Any], path: Path) -> str:
    """A unified diff of two documents' content ("" when equal): both are rendered the same
    way, so a hand-edited file's formatting or comments are not reported as changes."""
    if old == new:
        return ""
    return diff(_body(old), _body(new), path)


def header(kind: str, command: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    if kind == "job":
        return f"Written by `{command}` on {stamp}; every key is described in docs/configuration.md."
    return (
        f"ODCS v3 data contract written by `{command}` on {stamp} from the source schema.\n"
        "Edit descriptions, labels and owners freely: `dativo generate asset --from` keeps them."
    )


def diff(old: str, new: str, path: Path) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), f"{path} (now)", f"{path} (generated)"
        )
    )


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


# -- secrets ----------------------------------------------------------------------------------


def env_variable(runner: RunnerConfig, tenant: str, name: str) -> str:
    """The env provider's variable for a tenant's secret (DESIGN.md §4)."""
    from dativo_workers.secrets import env_key

    prefix = getattr(getattr(runner.secrets, "env", None), "prefix", None) or "DATIVO_SECRET"
    return env_key(tenant, name, prefix)


def store_secret(runner: RunnerConfig, tenant: str, name: str, value: str) -> tuple[bool, str]:
    """Hand a secret value to the configured provider. Returns (stored, message); the message
    never contains the value. A provider that cannot be written to gets instructions instead."""
    provider_name = runner.secrets.provider
    if provider_name == "filesystem":
        root = Path(str(runner.secrets.filesystem.dir)).expanduser()
        folder = root / tenant
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = folder / name
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value)
        os.chmod(target, 0o600)  # also when the file existed with wider permissions
        return True, f"stored secret {name!r} in {target} (mode 0600)"
    if provider_name == "env":
        var = env_variable(runner, tenant, name)
        return False, (
            f"the env provider reads secrets from the environment: on every machine that runs this job, "
            f"`export {var}=...` (the value you typed; it is not written anywhere)"
        )
    where = ""
    try:  # where the provider will look first, e.g. a Vault path or a cloud secret id
        from dativo_workers.secrets import active

        where = f" at {active().provider.locations(tenant, name)[0]}"
    except Exception:
        where = ""
    return False, (
        f"store secret {name!r} for tenant {tenant!r} in the {provider_name} secret provider{where} "
        "(the generator writes only to the filesystem provider); `dativo secrets check JOB` then confirms it"
    )
