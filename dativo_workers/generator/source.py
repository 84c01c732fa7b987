"""What the generator learns from a reader, through the plugin API only: its settings and
connection models, what the source holds (``discover``), whether it can connect (``check``),
and a sample of real rows (``plan`` + ``sample``) for the schema and PII detection."""

from __future__ import annotations

import glob
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pyiceberg.schema import Schema

from dativo_workers.errors import DativoError
from dativo_workers.generator.asker import Invalid
from dativo_workers.governance.pii import CREDENTIAL, Finding, detect, detect_column
from dativo_workers.plugins.base import DataReader, DiscoveredObject, SourceContext
from dativo_workers.plugins.manager import installed_plugins
from dativo_workers.schema import arrow_to_iceberg
from dativo_workers.secrets.base import NAME_RULE, SECRET_NAME

SAMPLE_ROWS = 1000
_SLUG = re.compile(r"[^A-Za-z0-9_\-]+")


def slug(text: str) -> str:
    """A job/table name from free text: `Customers 2024.csv` -> `customers_2024_csv`."""
    value = _SLUG.sub("_", text).strip("_-").lower()
    return value if value and value[0].isalnum() else f"t_{value}".rstrip("_")


@dataclass(frozen=True)
class Connector:
    name: str
    description: str
    package: str
    cls: type[DataReader]

    @property
    def source_list(self) -> str | None:
        return getattr(self.cls, "source_list", None)

    def capabilities(self) -> list[str]:
        """What this reader offers the generator, read off the class (overridden hooks)."""
        caps = [f"lists {self.source_list}"] if self.source_list else []
        if getattr(self.cls, "connection_model", None) is not None:
            caps.append("connection")
        for hook, label in (
            ("discover", "discover"),
            ("check", "check"),
            ("schema", "schema"),
            ("plan", "partitions"),
            ("source_tags", "source tags"),
        ):
            if getattr(self.cls, hook) is not getattr(DataReader, hook):
                caps.append(label)
        return caps


def connectors() -> list[Connector]:
    return [Connector(p.name, p.description, p.package, p.cls) for p in installed_plugins() if p.kind == "reader"]


def writers() -> list[str]:
    return [p.name for p in installed_plugins() if p.kind == "writer"]


# -- settings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One field of a settings model (reader options or connection)."""

    name: str
    required: bool
    default: Any
    description: str
    secret: bool
    info: FieldInfo

    def parse(self, raw: str) -> Any:
        """Validate one typed-in value against the field's type and constraints."""
        if is_secret_reference(raw) or "${" in raw:
            return raw  # a reference or ${ENV}: resolved later
        annotation = self.info.annotation
        if _is_secret_type(annotation):
            return raw
        try:
            metadata = tuple(self.info.metadata)
            adapter = TypeAdapter(Annotated[(annotation, *metadata)] if metadata else annotation)  # type: ignore[valid-type]
            if raw == "" and not self.required:
                return self.default
            value = adapter.validate_strings(raw) if _plain_scalar(annotation) else adapter.validate_json(raw)
        except ValidationError as exc:
            raise Invalid(_first_error(exc)) from None
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        return value


def _plain_scalar(annotation: Any) -> bool:
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    return all(a in (str, int, float, bool) for a in args)


def _is_secret_type(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


def _first_error(exc: ValidationError) -> str:
    return str(exc.errors()[0]["msg"]).removeprefix("Value error, ")


def is_credential_name(name: str) -> bool:
    finding = detect_column(name, None)
    return finding is not None and finding.label == CREDENTIAL


def settings_of(model: type[BaseModel] | None) -> list[Setting]:
    if model is None:
        return []
    found = []
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        secret = _is_secret_type(info.annotation) or bool(extra.get("secret")) or is_credential_name(name)
        required = info.is_required()
        default = None if required else info.get_default(call_default_factory=True)
        if isinstance(default, SecretStr):
            default = None
        found.append(Setting(info.alias or name, required, default, info.description or "", secret, info))
    return found


def validate_model(model: type[BaseModel], values: dict[str, Any], what: str) -> None:
    """Whole-model validation (cross-field rules); raises Invalid naming the setting."""
    try:
        model.model_validate(values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or what
            msg = "unknown setting" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
            problems.append(f"{what}.{where}: {msg}")
        raise Invalid("; ".join(problems)) from None


def default_text(value: Any) -> str | None:
    """A default as the user would type it (None: no default)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        import json

        return json.dumps(value)
    return str(value)


# -- secrets ----------------------------------------------------------------------------------

_REFERENCE = re.compile(r"^\$\{secret:[A-Za-z0-9_\-/]+(?:\.[A-Za-z0-9_\-]+)?\}$")
_SECRET_NAME = SECRET_NAME  # one segment: a reference never names another tenant's place


def is_secret_reference(value: Any) -> bool:
    return isinstance(value, str) and bool(_REFERENCE.match(value))


def secret_name(raw: str) -> str:
    """A secret name (or a whole reference) typed in; the name is what references carry."""
    text = raw.strip()
    if is_secret_reference(text):
        text = text[len("${secret:") : -1]
    name = text.split(".", 1)[0]
    if not _SECRET_NAME.match(name):
        raise Invalid(f"a secret name is {NAME_RULE} (optionally NAME.key of a JSON secret)")
    return text


# -- files ------------------------------------------------------------------------------------


def matching_files(pattern: str, base: Path) -> list[str]:
    """Files a `source.files` path or glob matches (`**` recurses), as the file readers see them."""
    full = Path(pattern).expanduser()
    if not full.is_absolute():
        full = base / full
    return sorted(m for m in glob.glob(str(full), recursive=True) if os.path.isfile(m))


def object_name_from_path(pattern: str, matched: list[str] | None = None) -> str:
    """`data/customers_*.csv.gz` -> `customers`; `data/*.csv` over customers_1.csv, customers_2.csv
    -> `customers` (the matched files' common name); else the directory's name."""

    def stem_of(name: str) -> str:
        while True:
            base, dot, suffix = name.rpartition(".")
            if not dot or not base or not suffix.isalnum():
                return name
            name = base

    path = Path(pattern)
    stem = re.split(r"[*?\[]", stem_of(path.name), maxsplit=1)[0].rstrip("_-. 0123456789")
    if not stem and matched:
        names = [stem_of(Path(m).name) for m in matched]
        stem = os.path.commonprefix(names).rstrip("_-. 0123456789")  # noqa: RUF071 - a name prefix, not a path
    if not stem:
        parents = [p for p in path.parent.parts if not re.search(r"[*?\[]", p) and p not in (".", "..", "/")]
        stem = parents[-1] if parents else "data"
    return slug(stem)


# -- probing ----------------------------------------------------------------------------------


@dataclass
class Draft:
    """Everything needed to build the reader a job would build."""

    connector: Connector
    tenant: str
    base_dir: Path  # relative paths in answers are taken from here (the working directory)
    options: dict[str, Any] = field(default_factory=dict)
    connection: dict[str, Any] = field(default_factory=dict)  # as written: secret references
    secret_values: dict[str, str] = field(default_factory=dict)  # reference name -> value, memory only
    files: list[str] = field(default_factory=list)  # paths/globs as typed
    tables: list[str] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)
    discovered: list[DiscoveredObject] | None = None  # what the source listed, once connected

    def resolved_connection(self) -> dict[str, Any]:
        """Connection with the secrets entered in this session (or found by the provider) filled in."""
        from dativo_workers.secrets import SecretValue, resolve

        result: dict[str, Any] = {}
        for key, value in self.connection.items():
            if is_secret_reference(value):
                name = value[len("${secret:") : -1]
                if name in self.secret_values:
                    result[key] = SecretValue(self.secret_values[name])
                    continue
                try:
                    result[key] = resolve(value, self.tenant)
                except DativoError:
                    result[key] = None  # not available here: the source may not need it (trust auth)
                continue
            result[key] = value
        return result

    def reader(self) -> DataReader:
        cls = self.connector.cls
        try:
            model = getattr(cls, "config_model", None)  # none: the plugin takes its settings as a dict
            config = model.model_validate(self.options) if model is not None else dict(self.options)
        except ValidationError as exc:
            raise Invalid(
                "; ".join(
                    f"option {'.'.join(str(p) for p in e['loc'])}: "
                    + ("unknown option" if e["type"] == "extra_forbidden" else e["msg"])
                    for e in exc.errors()
                )
            ) from None
        context = SourceContext(
            base_dir=self.base_dir,
            files=[{"path": str(self.base_dir / f) if not Path(f).is_absolute() else f} for f in self.files],
            tables=[{"name": t, "object": None} for t in self.tables],
            connection={k: v for k, v in self.resolved_connection().items() if v is not None},
            tenant_id=self.tenant,
        )
        return cls(config, context)


def run_check(draft: Draft) -> list[str]:
    """The reader's own connection check; an exception is a problem too."""
    reader = draft.reader()
    try:
        return [str(p) for p in reader.check()]
    except Exception as exc:
        return [_describe(exc)]
    finally:
        reader.close()


def discover(draft: Draft, attempts: int = 2) -> list[DiscoveredObject]:
    """What the source holds. Tried twice: a table dropped while it was being listed is not a
    reason to doubt the connection settings."""
    for attempt in range(attempts):
        reader = draft.reader()
        try:
            return list(reader.discover())
        except Exception as exc:
            if attempt + 1 == attempts:
                raise Invalid(f"cannot list what the source holds: {_describe(exc)}") from None
        finally:
            reader.close()
    return []


@dataclass
class Probe:
    """The source as a run would see it: columns, a sample and what PII detection found."""

    arrow: pa.Schema
    iceberg: Schema
    sample: pa.Table | None
    partitions: int
    findings: dict[str, Finding]
    primary_key: list[str]


def probe(draft: Draft, discovered: DiscoveredObject | None = None) -> Probe:
    """Plan and sample the source the way a run does (the same reader calls)."""
    return probe_reader(draft.reader(), discovered)


def probe_reader(reader: DataReader, discovered: DiscoveredObject | None = None) -> Probe:
    try:
        partitions = reader.plan()
        arrow = reader.schema()
        sample = reader.sample(partitions[0], SAMPLE_ROWS) if partitions else None
    except Exception as exc:
        raise Invalid(_describe(exc)) from None
    finally:
        reader.close()
    if arrow is None and discovered is not None:
        arrow = discovered.schema
    if arrow is None and sample is not None:
        arrow = sample.schema
    if arrow is None or not len(arrow):
        raise Invalid("the source reports no columns and returned no sample rows: check what it points at")
    findings = detect(sample, arrow.names)
    arrow = identifiers_as_text(arrow, findings)
    try:
        iceberg = arrow_to_iceberg(arrow)
    except DativoError as exc:
        raise Invalid(str(exc)) from None
    primary_key = list(discovered.primary_key) if discovered is not None else []
    return Probe(arrow, iceberg, sample, len(partitions), findings, primary_key)


# Detected kinds of value that are identifiers written with digits, not quantities: as a number
# type they lose leading zeros (zip 08123 -> 8123, phone 0171... -> 171...) in every later row.
DIGIT_IDENTIFIERS = frozenset({"postal_address", "phone", "national_id", "tax_id", "passport", "drivers_license"})


def identifiers_as_text(schema: pa.Schema, findings: dict[str, Finding]) -> pa.Schema:
    """``schema`` with text for every numeric column detected as a postal code, phone number or
    national id (a sample of 90210s says nothing about the 08123 in row 5,000)."""
    fields = []
    for f in schema:
        finding = findings.get(f.name)
        numeric = pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_decimal(f.type)
        if numeric and finding is not None and finding.detector in DIGIT_IDENTIFIERS:
            f = f.with_type(pa.string())
        fields.append(f)
    return pa.schema(fields, metadata=schema.metadata)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, DativoError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
