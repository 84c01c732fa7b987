"""Data catalog sync: after a run commits, push its table to OpenMetadata (`runner.catalog_sync`).

What is pushed is the table as committed: its Iceberg schema and its governance properties
(classification, owner, FinOps), plus the column descriptions of the asset, through
OpenMetadata's REST API. Every write is a PUT (create or update by name), so a second push
of the same table updates the same entities and never duplicates them; a sync that failed is
simply done again by the next committed run of the table.

A sync never fails the run: the data is committed before it starts. Its outcome goes to the
run's ledger row (`catalog_sync` in the run summary) and one log line, scrubbed of the token.

Entities (names quoted per OpenMetadata's FQN rules when they hold a dot):

  <service> (databaseService, Iceberg) . <catalog> (database) . <namespace> (databaseSchema) . <table>
  <service>_sources (databaseService, CustomDatabase) . <tenant> . <job> . <source table or job>   the lineage source
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import structlog
from pyiceberg.table import Table
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FixedType,
    FloatType,
    IcebergType,
    IntegerType,
    ListType,
    LongType,
    MapType,
    NestedField,
    StringType,
    StructType,
    TimestampNanoType,
    TimestampType,
    TimestamptzNanoType,
    TimestamptzType,
    TimeType,
    UUIDType,
)

from dativo_workers.config.catalog_sync import OpenMetadataConfig
from dativo_workers.config.job import JobConfig
from dativo_workers.config.runner import RunnerConfig
from dativo_workers.ledger import Ledger
from dativo_workers.secrets import SecretValue, resolve, reveal
from dativo_workers.secrets.redact import describe_error, remember, scrub

log = structlog.get_logger("dativo.catalog_sync")

CLASSIFICATION = "dativo.classification."
FINOPS = "dativo.finops."
OWNER = "dativo.governance.owner"
# these labels -> PII.Sensitive; any other label -> PII.NonSensitive; no label -> no tag
SENSITIVE_LABELS = frozenset({"PII", "SENSITIVE", "CREDENTIAL"})
PII_SENSITIVE, PII_NON_SENSITIVE = "PII.Sensitive", "PII.NonSensitive"
_DOC_LABEL = re.compile(r"\s*\[classification: [^\]]*\]$")  # what governance.column_docs appends

_PRIMITIVES: dict[type[IcebergType], str] = {
    BooleanType: "BOOLEAN",
    IntegerType: "INT",
    LongType: "BIGINT",
    FloatType: "FLOAT",
    DoubleType: "DOUBLE",
    DecimalType: "DECIMAL",
    DateType: "DATE",
    TimeType: "TIME",
    TimestampType: "TIMESTAMP",
    TimestampNanoType: "TIMESTAMP",
    TimestamptzType: "TIMESTAMPZ",
    TimestamptzNanoType: "TIMESTAMPZ",
    StringType: "STRING",
    UUIDType: "UUID",
    BinaryType: "BYTES",
    FixedType: "FIXED",
}


class CatalogSyncError(Exception):
    """One failed request of a sync; its text names the request, never the token."""


def sync_committed_run(
    runner: RunnerConfig, ledger: Ledger, run: Mapping[str, Any], plan: Mapping[str, Any], job: JobConfig, table: Table
) -> None:
    """Push a committed run's table to the configured catalogs and record the outcome with the
    run (`catalog_sync` of its summary). Never raises: the run is committed whatever happens."""
    if runner.catalog_sync.openmetadata is None:
        return
    outcome = {"openmetadata": _push_openmetadata(runner.catalog_sync.openmetadata, run, plan, job, table)}
    try:
        ledger.set_catalog_sync(run["run_id"], json.dumps(outcome))
    except Exception as exc:
        log.warning("catalog sync outcome not recorded", run_id=run["run_id"], error=describe_error(exc))


def _push_openmetadata(
    config: OpenMetadataConfig, run: Mapping[str, Any], plan: Mapping[str, Any], job: JobConfig, table: Table
) -> dict[str, Any]:
    try:
        sync = OpenMetadataSync(config, run["tenant"])
        try:
            outcome = sync.push(run, plan, job, table)
        finally:
            sync.session.close()
        log.info("catalog synced", run_id=run["run_id"], catalog="openmetadata", table=outcome["table"])
    except Exception as exc:  # a sync never fails the run; the next run pushes again
        error = describe_error(exc) if not isinstance(exc, CatalogSyncError) else scrub(str(exc))
        outcome = {"state": "failed", "error": error, "retry": "the next committed run of the table pushes it again"}
        log.warning(
            "catalog sync failed; the run is committed", run_id=run["run_id"], catalog="openmetadata", error=error
        )
    return outcome


def fqn(*names: str) -> str:
    """OpenMetadata's fully qualified name: names joined by dots, a name holding a dot quoted."""
    return ".".join(f'"{n}"' if "." in n else n for n in names)


def column_type(kind: IcebergType) -> dict[str, Any]:
    """OpenMetadata's column type fields for an Iceberg type (dataType, dataTypeDisplay, ...)."""
    fields: dict[str, Any] = {"dataTypeDisplay": str(kind)}
    if isinstance(kind, ListType):
        fields.update(dataType="ARRAY", arrayDataType=column_type(kind.element_type)["dataType"])
    elif isinstance(kind, MapType):
        fields["dataType"] = "MAP"
    elif isinstance(kind, StructType):
        fields["dataType"] = "STRUCT"
    else:
        fields["dataType"] = _PRIMITIVES.get(type(kind), "UNKNOWN")
        if isinstance(kind, DecimalType):
            fields.update(precision=kind.precision, scale=kind.scale)
        elif isinstance(kind, FixedType):
            fields["dataLength"] = len(kind)
    return fields


def pii_tag(label: str | None) -> dict[str, Any] | None:
    """Our classification label as OpenMetadata's PII classification tag (a TagLabel)."""
    if not label:
        return None
    tag = PII_SENSITIVE if label.upper() in SENSITIVE_LABELS else PII_NON_SENSITIVE
    return {"tagFQN": tag, "source": "Classification", "labelType": "Automated", "state": "Confirmed"}


def custom_property_name(finops_key: str) -> str:
    """`cost_center` -> `dativoCostCenter` (custom property names are camelCase words)."""
    return "dativo" + "".join(part.capitalize() for part in finops_key.split("_") if part)


class OpenMetadataSync:
    def __init__(self, config: OpenMetadataConfig, tenant: str) -> None:
        import requests

        self.config = config
        self.session = requests.Session()
        self.session.headers["Content-Type"] = "application/json"
        if config.token is not None:
            token = resolve(config.token, tenant)  # the run's tenant first, then global (docs/secrets.md)
            remember(reveal(token) if isinstance(token, SecretValue) else token)
            self.session.headers["Authorization"] = "Bearer " + reveal(token)

    # -- HTTP ------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any = None, missing_ok: bool = False) -> dict[str, Any] | None:
        import requests

        url = self.config.api + path
        try:
            response = self.session.request(method, url, json=body, timeout=self.config.timeout_seconds)
        except requests.RequestException as exc:
            raise CatalogSyncError(
                f"OpenMetadata at {self.config.url} unreachable ({method} {path}): {type(exc).__name__}"
            ) from None
        if missing_ok and response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise CatalogSyncError(
                f"OpenMetadata {method} {path}: HTTP {response.status_code}: {scrub(response.text[:300])}"
            )
        try:
            return response.json() if response.content else {}
        except ValueError:
            raise CatalogSyncError(f"OpenMetadata {method} {path}: the answer is not JSON") from None

    def _put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        entity = self._call("PUT", path, body)
        if not entity or "id" not in entity:
            raise CatalogSyncError(f"OpenMetadata PUT {path}: the answer names no entity id")
        return entity

    def _get(self, path: str) -> dict[str, Any] | None:
        return self._call("GET", path, missing_ok=True)

    # -- entities --------------------------------------------------------------------------
    def _schema(self, service: str, service_type: str, database: str, schema: str) -> str:
        """The service / database / schema chain (created or updated); the schema's FQN."""
        self._put("/v1/services/databaseServices", {"name": service, "serviceType": service_type})
        self._put("/v1/databases", {"name": database, "service": fqn(service)})
        self._put("/v1/databaseSchemas", {"name": schema, "database": fqn(service, database)})
        return fqn(service, database, schema)

    def _owner(self, name: str | None) -> tuple[list[dict[str, str]] | None, str | None]:
        """The owner as an entity reference: a team of that name, else a user (an e-mail's user
        name too). None when OpenMetadata knows neither (the table keeps the owners it has)."""
        if not name:
            return None, None
        candidates = [("team", "/v1/teams/name/"), ("user", "/v1/users/name/")]
        names = [name] + ([name.split("@", 1)[0]] if "@" in name else [])
        for kind, path in candidates:
            for candidate in names:
                found = self._get(path + quote(candidate, safe=""))
                if found and found.get("id"):
                    return [{"id": found["id"], "type": kind}], f"{kind}:{candidate}"
        return None, None

    def _custom_properties(self, finops: dict[str, str]) -> dict[str, str]:
        """The FinOps tags as the table's `extension`, defining the table type's custom
        properties that are missing (string properties named dativoCostCenter...)."""
        if not finops:
            return {}
        table_type = self._get("/v1/metadata/types/name/table?fields=customProperties")
        if not table_type or "id" not in table_type:
            raise CatalogSyncError("OpenMetadata GET /v1/metadata/types/name/table: no table entity type")
        defined = {p.get("name") for p in table_type.get("customProperties") or []}
        extension = {custom_property_name(k): v for k, v in finops.items()}
        missing = [k for k in finops if custom_property_name(k) not in defined]
        if missing:
            string_type = self._get("/v1/metadata/types/name/string")
            if not string_type or "id" not in string_type:
                raise CatalogSyncError("OpenMetadata GET /v1/metadata/types/name/string: no string property type")
            for key in missing:
                self._put(
                    f"/v1/metadata/types/{table_type['id']}",
                    {
                        "name": custom_property_name(key),
                        "description": f"Dativo FinOps tag `{key}` (job `finops.{key}`)",
                        "propertyType": {"id": string_type["id"], "type": "type"},
                    },
                )
        return extension

    def push(self, run: Mapping[str, Any], plan: Mapping[str, Any], job: JobConfig, table: Table) -> dict[str, Any]:
        namespace, name = plan["table"]["identifier"]
        props = dict(table.properties)
        schema_fqn = self._schema(self.config.service, "Iceberg", run["catalog"], namespace)
        columns = self._columns(table.schema().fields, props, plan.get("descriptions") or {})
        sensitive = any(t["tagFQN"] == PII_SENSITIVE for c in columns for t in c.get("tags", []))
        owners, owner = self._owner(props.get(OWNER))
        finops = {k.removeprefix(FINOPS): v for k, v in props.items() if k.startswith(FINOPS)}
        body: dict[str, Any] = {
            "name": name,
            "databaseSchema": schema_fqn,
            "tableType": "Iceberg",
            "description": f"Loaded by Dativo: tenant `{run['tenant']}`, job `{run['job_name']}`.",
            "columns": columns,
            "tags": [pii_tag("PII")] if sensitive else [],
        }
        if owners is not None:
            body["owners"] = owners
        extension = self._custom_properties(finops)
        if extension:
            body["extension"] = extension
        entity = self._put("/v1/tables", body)

        source = self._source(run, job, columns)
        self._call(  # addLineage answers without an entity: an edge is keyed by its two ends
            "PUT",
            "/v1/lineage",
            {
                "edge": {
                    "fromEntity": {"id": source["id"], "type": "table"},
                    "toEntity": {"id": entity["id"], "type": "table"},
                    "description": f"Dativo job `{run['job_name']}` (tenant `{run['tenant']}`)",
                }
            },
        )
        return {
            "state": "synced",
            "table": fqn(self.config.service, run["catalog"], namespace, name),
            "table_id": entity["id"],
            "lineage_from": source["fullyQualifiedName"],
            "owner": owner,
            "owner_unresolved": props.get(OWNER) if props.get(OWNER) and owner is None else None,
            "custom_properties": sorted(extension),
            "error": None,
        }

    def _columns(
        self, fields: tuple[NestedField, ...], props: Mapping[str, str], descriptions: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        default = props.get(CLASSIFICATION + "default")
        columns = []
        for field in fields:
            column: dict[str, Any] = {"name": field.name, **column_type(field.field_type)}
            description = descriptions.get(field.name) or _DOC_LABEL.sub("", field.doc or "")
            if description:
                column["description"] = description
            if field.required:
                column["constraint"] = "NOT_NULL"
            tag = pii_tag(props.get(CLASSIFICATION + field.name, default))
            column["tags"] = [tag] if tag else []
            if isinstance(field.field_type, StructType):
                column["children"] = self._columns(field.field_type.fields, {}, {})
            columns.append(column)
        return columns

    def _source(self, run: Mapping[str, Any], job: JobConfig, columns: list[dict[str, Any]]) -> dict[str, Any]:
        """The lineage source, a table entity in the source service: `<sources>.<tenant>.<job>.<object>`,
        the object being the run's source table (one run per table) or else the job's name;
        its columns are those the run loads."""
        reader = job.source.reader
        connector = job.source.connector or (reader.plugin_path.rsplit(".", 1)[-1] if reader else "source")
        tables = job.source.tables
        name = tables[0].name if len(tables) == 1 else run["job_name"]
        schema_fqn = self._schema(self.config.sources, "CustomDatabase", run["tenant"], run["job_name"])
        what = [f.path for f in job.source.files] + [t.name for t in job.source.tables]
        what += [str(o) for o in job.source.objects]
        description = f"Source of Dativo job `{run['job_name']}` ({connector})"
        if what:
            description += ": " + ", ".join(f"`{w}`" for w in what[:20])
        entity = self._put(
            "/v1/tables",
            {
                "name": name,
                "databaseSchema": schema_fqn,
                "tableType": "External",
                "description": description,
                "columns": [{k: v for k, v in c.items() if k != "tags"} for c in columns],
            },
        )
        entity.setdefault("fullyQualifiedName", f"{schema_fqn}.{fqn(name)}")
        return entity


def summary_value(text: str | None) -> dict[str, Any] | None:
    """The ledger's `catalog_sync` column as the run summary shows it."""
    return json.loads(text) if text else None
