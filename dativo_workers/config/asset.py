"""Assets: ODCS v3 data contracts, parsed with the official `open-data-contract-standard` model.

The older flat form (`asset: {name, version, schema: [{name, type, classification}]}`) is
converted to ODCS on load, so the rest of the engine sees one shape: ``Asset``.

A contract may describe several schema objects (tables); an asset is one of them, picked
with ``contract.yaml#<object name>`` (a contract with a single object needs no name).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from open_data_contract_standard.model import OpenDataContractStandard, SchemaProperty
from pydantic import ValidationError

from dativo_workers.config.yamlio import LoadedYaml, format_key_path, load_yaml
from dativo_workers.errors import ConfigError

if TYPE_CHECKING:
    import jsonschema

log = structlog.get_logger("dativo.asset")

OBJECT_SEPARATOR = "#"  # asset_path: contract.yaml#orders


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
    where: str = ""  # "file:line: schema[0].properties[3]", for messages


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
    object_name: str | None = None  # the contract's schema object this asset is
    warnings: list[str] = field(default_factory=list)
    object_index: int = 0  # the schema object's place in the file (for messages)
    line_of: Any = None  # (key path) -> line in the file, for messages naming a key

    def lines(self, loc: tuple[Any, ...]) -> int | None:
        return self.line_of(loc) if self.line_of is not None else None

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def warn(self, message: str) -> None:
        """Something the contract leaves open that we settled (said once, in the log and the list)."""
        if message not in self.warnings:
            self.warnings.append(message)
            log.warning(message)


def split_asset_ref(ref: str) -> tuple[str, str | None]:
    """``contract.yaml#orders`` -> ("contract.yaml", "orders"); no ``#``: no object named."""
    path, separator, name = ref.rpartition(OBJECT_SEPARATOR)
    if not separator:
        return ref, None
    return path, (name.strip() or None)


def load_asset(path: Path, object_name: str | None = None) -> Asset:
    """The asset one schema object of a contract describes (``object_name``, or the only one)."""
    loaded = _read(path)
    data = loaded.data
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: an asset must be a mapping (an ODCS v3 data contract)")
    prefix: tuple[str, ...] = ()
    if "asset" in data and "apiVersion" not in data:
        data, prefix = _flat_to_odcs(data["asset"], loaded), ("asset",)
    # Only the picked schema object is validated: a contract may describe a whole database
    # (dozens of tables), and its other objects are not this asset's business.
    objects = data.get("schema")
    index = 0
    if isinstance(objects, list) and objects and all(isinstance(o, dict) for o in objects):
        index = _pick_object(path, objects, object_name)
        data = {**data, "schema": [_v30_quality(objects[index], data.get("apiVersion"), loaded, ("schema", index))]}
    elif object_name is not None:
        raise ConfigError(f"{path}: schema: no schema object is called {object_name!r} (the contract has none)")
    problems = _schema_problems(data, loaded, prefix, index)
    if problems:
        raise ConfigError(f"invalid ODCS v3 asset {path}", file=str(path), problems=problems)
    try:
        contract = OpenDataContractStandard.model_validate(data)
    except ValidationError as exc:
        raise _odcs_error(loaded, exc, prefix, index) from None
    if not contract.schema_:
        raise ConfigError(f"{path}: schema: an asset needs at least one schema object with properties")
    obj = contract.schema_[0]
    warnings: list[str] = []
    columns = [
        _column(p, loaded, ("schema", index, "properties", i), warnings) for i, p in enumerate(obj.properties or [])
    ]
    if not columns:
        where = f"{path}:{loaded.line_of(('schema', index))}"
        raise ConfigError(f"{where}: schema[{index}].properties: the schema object {obj.name!r} defines no columns")
    custom = {cp.property: cp.value for cp in (contract.customProperties or []) if cp.property}
    asset = Asset(
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
        object_name=obj.name,
        object_index=index,
        line_of=loaded.line_of,
    )
    for message in warnings:
        asset.warn(message)
    return asset


def _read(path: Path) -> LoadedYaml:
    """The contract file as data; a job of many tables reads one contract many times."""
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()  # a same-size rewrite is seen too
    except OSError:
        return load_yaml(path, core_schema=True)  # says what is wrong with the path
    return _read_cached(path, digest)


# quality rules keep ODCS's `${table}`/`${column}` placeholders: they are no environment variables
_LITERAL = frozenset({"quality"})


@functools.lru_cache(maxsize=8)
def _read_cached(path: Path, digest: str) -> LoadedYaml:
    # the data is only read, never changed, by load_asset
    return load_yaml(path, core_schema=True, literal_keys=_LITERAL)


def _pick_object(path: Path, objects: list[dict[str, Any]], wanted: str | None) -> int:
    """Index of the schema object named ``wanted`` (its name, else its physicalName; exact
    spelling first, then ignoring case); without a name, the contract's only object."""
    names = [str(o.get("name") or o.get("physicalName") or f"#{i}") for i, o in enumerate(objects)]
    shown = ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "")
    if wanted is None:
        if len(objects) == 1:
            return 0
        raise ConfigError(
            f"{path}: schema: the contract describes {len(objects)} schema objects ({shown}); pick one "
            f"with `asset_path: {path.name}{OBJECT_SEPARATOR}<name>`, e.g. {path.name}{OBJECT_SEPARATOR}{names[0]}"
        )
    for same in (lambda a, b: a == b, lambda a, b: a.casefold() == b.casefold()):
        for key in ("name", "physicalName"):
            found = [i for i, o in enumerate(objects) if isinstance(o.get(key), str) and same(o[key], wanted)]
            if len(found) > 1:
                raise ConfigError(f"{path}: schema: {len(found)} schema objects are called {wanted!r}")
            if found:
                return found[0]
    raise ConfigError(f"{path}: schema: no schema object is called {wanted!r} (the contract has: {shown})")


def _in_file(loc: tuple[Any, ...], index: int) -> tuple[Any, ...]:
    """A location in the validated document (one schema object) as a location in the file."""
    if len(loc) >= 2 and loc[0] == "schema" and loc[1] == 0:
        return ("schema", index, *loc[2:])
    return loc


def _owner(contract: OpenDataContractStandard, custom: dict[str, Any]) -> str | None:
    if custom.get("owner"):
        return str(custom["owner"])
    members = contract.team.members if contract.team and hasattr(contract.team, "members") else contract.team
    for member in members or []:
        if (member.role or "").lower() in {"owner", "data owner", "product owner"}:
            return member.username or member.name
    return None


def _column(
    prop: SchemaProperty, loaded: LoadedYaml, loc: tuple[Any, ...], warnings: list[str], *, element: bool = False
) -> Column:
    line = loaded.line_of(loc)
    where = f"{loaded.path}:{line}: {_fmt(loc)}" if line else f"{loaded.path}: {_fmt(loc)}"
    if not prop.name and not element:  # an array's `items` describes values, not a named column
        raise ConfigError(f"{where}: every property needs a `name`")
    name = prop.name or "element"
    logical = (prop.logicalType or "").strip().lower()
    items = _column(prop.items, loaded, (*loc, "items"), warnings, element=True) if prop.items else None
    if logical == "array" and items is None:
        # ODCS allows an array without `items`; text is the one element type every source can give
        items = Column(name="element", logical_type="string", where=f"{where}.items")
        warnings.append(f"{where}: array {name!r} has no `items`: loaded as a list of strings")
    return Column(
        name=name,
        logical_type=(prop.logicalType or None),
        physical_type=(prop.physicalType or None),
        logical_options=dict(prop.logicalTypeOptions or {}),
        # ODCS keeps primaryKey and required apart; a key column without values is no key
        required=bool(prop.required) or bool(prop.primaryKey),
        primary_key=bool(prop.primaryKey),
        classification=prop.classification,
        description=prop.description,
        tags=list(prop.tags or []),
        items=items,
        fields=[_column(p, loaded, (*loc, "properties", i), warnings) for i, p in enumerate(prop.properties or [])],
        where=where,
    )


def _fmt(loc: tuple[Any, ...]) -> str:
    return format_key_path(loc)


@functools.cache
def _odcs_validator() -> jsonschema.protocols.Validator:
    """The JSON schema shipped with the official ODCS package: strict about unknown keys.
    jsonschema is imported here, when the first contract is validated (not by every command that
    imports the asset model)."""
    import jsonschema

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


def _v30_quality(obj: dict[str, Any], api_version: Any, loaded: LoadedYaml, loc: tuple[Any, ...]) -> dict[str, Any]:
    """An ODCS v3.0.x schema object's library checks in the v3.1 shape the official schema
    validates: `rule: duplicateCount` is `metric: duplicateValues`, `rule: validValues` with
    `validValues: [...]` is `metric: invalidValues` with `arguments.validValues`, a count without an
    operator must be 0. A copy: the cached file data is never changed."""
    if not str(api_version or "").startswith("v3.0"):
        return obj
    from dativo_workers.quality import METRICS, V30_RULES

    def convert(checks: Any, at: tuple[Any, ...]) -> Any:
        if not isinstance(checks, list):
            return checks
        out = []
        for i, check in enumerate(checks):
            if isinstance(check, dict) and "rule" in check and "metric" not in check:
                check = dict(check)
                name = check.pop("rule")
                metric = V30_RULES.get(name, name if name in METRICS else None)
                if metric is None:
                    key = (*at, i, "rule")
                    raise ConfigError(
                        f"{loaded.path}:{loaded.line_of(key)}: {format_key_path(key)}: unknown rule {name!r}; "
                        f"ODCS v3.0.x rules: {', '.join(V30_RULES)} (or the v3.1 metrics: {', '.join(METRICS)})"
                    )
                check["metric"] = metric
                loaded.lines.setdefault((*at, i, "metric"), loaded.line_of((*at, i, "rule")) or 0)
                if "validValues" in check:
                    check["arguments"] = {**check.get("arguments", {}), "validValues": check.pop("validValues")}
                operators = ("mustBe", "mustNotBe", "mustBeGreaterThan", "mustBeGreaterOrEqualTo", "mustBeLessThan")
                operators += ("mustBeLessOrEqualTo", "mustBeBetween", "mustNotBeBetween")
                if metric != "rowCount" and not any(o in check for o in operators):
                    check["mustBe"] = 0
            out.append(check)
        return out

    def walk(node: dict[str, Any], at: tuple[Any, ...]) -> dict[str, Any]:
        node = dict(node)
        if "quality" in node:
            node["quality"] = convert(node["quality"], (*at, "quality"))
        if isinstance(node.get("properties"), list):
            node["properties"] = [
                walk(p, (*at, "properties", i)) if isinstance(p, dict) else p for i, p in enumerate(node["properties"])
            ]
        return node

    return walk(obj, loc)


# ODCS v3.0 named a library check `rule` (free text); v3.1 made it `metric`, one of a fixed list.
_RULE_HINT = (
    "ODCS v3.1 replaced a library check's `rule` with `metric`: nullValues, missingValues, "
    "invalidValues, duplicateValues or rowCount"
)


def _schema_problems(data: dict[str, Any], loaded: LoadedYaml, prefix: tuple[str, ...], index: int) -> list[str]:
    problems = []
    for error in sorted(_odcs_validator().iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        loc = _in_file(tuple(error.absolute_path), index)
        if error.validator in ("additionalProperties", "unevaluatedProperties") and isinstance(error.instance, dict):
            # name each offending key (the message lists them quoted) so its own line is shown
            unknown = sorted(k for k in re.findall(r"'([^']+)'", error.message) if k in error.instance)
            messages = [((*loc, key), "unknown key") for key in unknown] or [(loc, error.message)]
        else:
            messages = [(loc, error.message)]
        for key_loc, message in messages:
            if key_loc and key_loc[-1] == "rule" and "quality" in key_loc:
                message += f" ({_RULE_HINT})"
            elif key_loc and key_loc[-1] in ("exclusiveMinimum", "exclusiveMaximum") and error.instance is True:
                message += f" (ODCS v3.1: `{key_loc[-1]}` holds the bound itself, e.g. `{key_loc[-1]}: 100`)"
            shown = prefix or key_loc  # flat assets: point at the key the user wrote
            line = loaded.line_of(shown)
            where = f"{loaded.path}:{line}" if line else str(loaded.path)
            problems.append(f"{where}: {format_key_path(shown) or '(top level)'}: {message}")
    return problems


def _odcs_error(loaded: LoadedYaml, exc: ValidationError, prefix: tuple[str, ...], index: int) -> ConfigError:
    problems = []
    for err in exc.errors():
        # pydantic reports `schema_` for the aliased field; users wrote `schema`
        loc = _in_file(tuple("schema" if p == "schema_" else p for p in err["loc"]), index)
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
