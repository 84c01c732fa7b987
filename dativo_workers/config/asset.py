"""Assets: ODCS v3 data contracts, parsed with the official `open-data-contract-standard` model.

The older flat form (`asset: {name, version, schema: [{name, type, classification}]}`) is
converted to ODCS on load, so the rest of the engine sees one shape: ``Asset``.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from open_data_contract_standard.model import OpenDataContractStandard, SchemaProperty
from pydantic import ValidationError

from dativo_workers.config.yamlio import LoadedYaml, format_key_path, load_yaml
from dativo_workers.errors import ConfigError


@dataclass
class Column:
    name: str
    logical_type: str | None = None
    physical_type: str | None = None
    logical_options: dict[str, Any] = field(default_factory=dict)
    required: bool = False
    primary_key: bool = False
    classification: str | None = None
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    items: Column | None = None  # element of an array
    fields: list[Column] = field(default_factory=list)  # members of an object


@dataclass
class Asset:
    path: Path
    id: str | None
    name: str | None
    version: str | None
    tenant: str | None
    domain: str | None
    data_product: str | None
    owner: str | None
    tags: list[str]
    columns: list[Column]
    custom: dict[str, Any]
    contract: OpenDataContractStandard

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


def load_asset(path: Path) -> Asset:
    loaded = load_yaml(path)
    data = loaded.data
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: an asset must be a mapping (an ODCS v3 data contract)")
    prefix: tuple[str, ...] = ()
    if "asset" in data and "apiVersion" not in data:
        data, prefix = _flat_to_odcs(data["asset"], loaded), ("asset",)
    problems = _schema_problems(data, loaded, prefix)
    if problems:
        raise ConfigError(f"invalid ODCS v3 asset {path}", file=str(path), problems=problems)
    try:
        contract = OpenDataContractStandard.model_validate(data)
    except ValidationError as exc:
        raise _odcs_error(loaded, exc, prefix) from None
    if not contract.schema_:
        raise ConfigError(f"{path}: schema: an asset needs at least one schema object with properties")
    if len(contract.schema_) > 1:
        raise ConfigError(f"{path}: schema: one schema object per asset is supported (found {len(contract.schema_)})")
    obj = contract.schema_[0]
    columns = [_column(p, loaded, ("schema", 0, "properties", i)) for i, p in enumerate(obj.properties or [])]
    if not columns:
        raise ConfigError(f"{path}: schema[0].properties: the asset defines no columns")
    custom = {cp.property: cp.value for cp in (contract.customProperties or []) if cp.property}
    return Asset(
        path=path,
        id=contract.id,
        name=contract.name or obj.name,
        version=contract.version,
        tenant=contract.tenant,
        domain=contract.domain,
        data_product=contract.dataProduct,
        owner=_owner(contract, custom),
        tags=list(contract.tags or []),
        columns=columns,
        custom=custom,
        contract=contract,
    )


def _owner(contract: OpenDataContractStandard, custom: dict[str, Any]) -> str | None:
    if custom.get("owner"):
        return str(custom["owner"])
    members = contract.team.members if contract.team and hasattr(contract.team, "members") else contract.team
    for member in members or []:
        if (member.role or "").lower() in {"owner", "data owner", "product owner"}:
            return member.username or member.name
    return None


def _column(prop: SchemaProperty, loaded: LoadedYaml, loc: tuple[Any, ...]) -> Column:
    if not prop.name:
        line = loaded.line_of(loc)
        raise ConfigError(f"{loaded.path}:{line}: {_fmt(loc)}: every property needs a `name`")
    return Column(
        name=prop.name,
        logical_type=(prop.logicalType or None),
        physical_type=(prop.physicalType or None),
        logical_options=dict(prop.logicalTypeOptions or {}),
        required=bool(prop.required),
        primary_key=bool(prop.primaryKey),
        classification=prop.classification,
        description=prop.description,
        tags=list(prop.tags or []),
        items=_column(prop.items, loaded, (*loc, "items")) if prop.items else None,
        fields=[_column(p, loaded, (*loc, "properties", i)) for i, p in enumerate(prop.properties or [])],
    )


def _fmt(loc: tuple[Any, ...]) -> str:
    return format_key_path(loc)


@functools.cache
def _odcs_validator() -> jsonschema.protocols.Validator:
    """The JSON schema shipped with the official ODCS package: strict about unknown keys."""
    schema = json.loads(resources.files("open_data_contract_standard").joinpath("schema.json").read_text())
    _require_logical_type_in_conditionals(schema)
    return jsonschema.validators.validator_for(schema)(schema)


def _require_logical_type_in_conditionals(node: Any) -> None:
    """`if: {properties: {logicalType: {const: map}}}` also holds when logicalType is absent, and
    the failing `then` made a parent's `items`/`properties` "unevaluated" (reported as unknown
    keys). Such an `if` now needs logicalType to be present."""
    if isinstance(node, dict):
        condition = node.get("if")
        if isinstance(condition, dict) and "logicalType" in json.dumps(condition):
            condition.setdefault("required", ["logicalType"])
        for value in node.values():
            _require_logical_type_in_conditionals(value)
    elif isinstance(node, list):
        for value in node:
            _require_logical_type_in_conditionals(value)


def _schema_problems(data: dict[str, Any], loaded: LoadedYaml, prefix: tuple[str, ...]) -> list[str]:
    problems = []
    for error in sorted(_odcs_validator().iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        loc = tuple(error.absolute_path)
        if error.validator in ("additionalProperties", "unevaluatedProperties") and isinstance(error.instance, dict):
            # name each offending key (the message lists them quoted) so its own line is shown
            unknown = sorted(k for k in re.findall(r"'([^']+)'", error.message) if k in error.instance)
            messages = [((*loc, key), "unknown key") for key in unknown] or [(loc, error.message)]
        else:
            messages = [(loc, error.message)]
        for key_loc, message in messages:
            shown = prefix or key_loc  # flat assets: point at the key the user wrote
            line = loaded.line_of(shown)
            where = f"{loaded.path}:{line}" if line else str(loaded.path)
            problems.append(f"{where}: {format_key_path(shown) or '(top level)'}: {message}")
    return problems


def _odcs_error(loaded: LoadedYaml, exc: ValidationError, prefix: tuple[str, ...]) -> ConfigError:
    problems = []
    for err in exc.errors():
        # pydantic reports `schema_` for the aliased field; users wrote `schema`
        loc = tuple("schema" if p == "schema_" else p for p in err["loc"])
        if prefix:  # flat assets: point at the original key when we can
            loc = prefix
        line = loaded.line_of(loc)
        where = f"{loaded.path}:{line}" if line else str(loaded.path)
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        problems.append(f"{where}: {_fmt(loc) or '(top level)'}: {msg}")
    return ConfigError(f"invalid ODCS v3 asset {loaded.path}", file=str(loaded.path), problems=problems)


_FLAT_KEYS = {"name", "version", "id", "description", "schema", "governance", "tenant", "domain", "tags"}
_FLAT_COLUMN_KEYS = {"name", "type", "required", "classification", "description", "primary_key"}


def _flat_to_odcs(flat: Any, loaded: LoadedYaml) -> dict[str, Any]:
    """Convert the legacy flat asset layout into an ODCS v3 document."""
    path = loaded.path
    if not isinstance(flat, dict):
        raise ConfigError(f"{path}:{loaded.line_of(('asset',))}: asset: expected a mapping")
    for key in flat:
        if key not in _FLAT_KEYS:
            raise ConfigError(f"{path}:{loaded.line_of(('asset', key))}: asset.{key}: unknown key")
    columns = flat.get("schema")
    if not isinstance(columns, list) or not columns:
        raise ConfigError(f"{path}:{loaded.line_of(('asset',))}: asset.schema: a non-empty list of columns is required")
    props = []
    for i, col in enumerate(columns):
        loc = ("asset", "schema", i)
        if not isinstance(col, dict) or "name" not in col:
            raise ConfigError(f"{path}:{loaded.line_of(loc)}: {_fmt(loc)}: each column needs a `name`")
        for key in col:
            if key not in _FLAT_COLUMN_KEYS:
                raise ConfigError(f"{path}:{loaded.line_of((*loc, key))}: {_fmt((*loc, key))}: unknown key")
        prop: dict[str, Any] = {"name": str(col["name"]), "physicalType": str(col.get("type", "string"))}
        for src, dst in (
            ("required", "required"),
            ("classification", "classification"),
            ("description", "description"),
            ("primary_key", "primaryKey"),
        ):
            if src in col:
                prop[dst] = col[src]
        props.append(prop)
    governance = flat.get("governance") or {}
    custom = [{"property": k, "value": v} for k, v in governance.items()]
    doc: dict[str, Any] = {
        "apiVersion": "v3.0.2",
        "kind": "DataContract",
        "id": str(flat.get("id") or flat.get("name") or path.stem),
        "name": flat.get("name") or path.stem,
        "version": str(flat.get("version", "1.0.0")),
        "status": "active",
        "schema": [{"name": flat.get("name") or path.stem, "properties": props}],
    }
    for key in ("tenant", "domain", "tags"):
        if key in flat:
            doc[key] = flat[key]
    if custom:
        doc["customProperties"] = custom
    return doc
