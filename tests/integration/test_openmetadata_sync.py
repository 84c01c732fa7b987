"""OpenMetadata catalog sync (runner.catalog_sync.openmetadata) against a loopback server that
implements the REST endpoints the sync uses, with an in-memory store, and checks every request
body against OpenMetadata's documented shapes (required fields, parent FQNs, TagLabel and
EntityReference fields, defined custom properties)."""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from pyiceberg.types import DecimalType, FixedType, ListType, LongType, StringType, TimestamptzType

from dativo_workers.catalog_sync import column_type, fqn, pii_tag
from dativo_workers.config import load_runner
from dativo_workers.errors import ConfigError
from dativo_workers.pipeline import run_summary

from ..conftest import Workspace

TOKEN = "om-jwt-" + "Zx8q" * 10  # what the env provider serves for ${secret:om_token}
DATA_TYPES = {
    "BOOLEAN", "INT", "BIGINT", "FLOAT", "DOUBLE", "DECIMAL", "DATE", "TIME", "TIMESTAMP", "TIMESTAMPZ",
    "STRING", "UUID", "BYTES", "FIXED", "ARRAY", "MAP", "STRUCT", "UNKNOWN",
}  # fmt: skip
SERVICE_TYPES = {"Iceberg", "CustomDatabase"}
TAGS = {"PII.Sensitive", "PII.NonSensitive", "PII.None"}  # OpenMetadata's built-in PII classification
CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")


class Store:
    """OpenMetadata's entities, in memory: kind -> FQN -> entity."""

    def __init__(self) -> None:
        self.entities: dict[str, dict[str, dict[str, Any]]] = {
            k: {} for k in ("databaseService", "database", "databaseSchema", "table", "team", "user")
        }
        self.entities["team"]["data-platform"] = {"id": str(uuid.uuid4()), "name": "data-platform"}
        self.entities["user"]["owner"] = {"id": str(uuid.uuid4()), "name": "owner"}
        self.types = {
            "table": {"id": str(uuid.uuid4()), "name": "table", "category": "entity", "customProperties": []},
            "string": {"id": str(uuid.uuid4()), "name": "string", "category": "field"},
        }
        self.edges: set[tuple[str, str]] = set()
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.fail: int | None = None  # answer every request with this status
        self.lock = threading.Lock()

    def by_id(self, entity_id: str) -> dict[str, Any] | None:
        return next((e for kind in self.entities.values() for e in kind.values() if e["id"] == entity_id), None)

    def upsert(self, kind: str, name_fqn: str, body: dict[str, Any]) -> dict[str, Any]:
        """createOrUpdate: the entity of this FQN keeps its id; its version moves on."""
        old = self.entities[kind].get(name_fqn)
        entity = {**body, "id": old["id"] if old else str(uuid.uuid4()), "fullyQualifiedName": name_fqn}
        entity["version"] = round(old["version"] + 0.1, 1) if old else 0.1
        self.entities[kind][name_fqn] = entity
        return entity


def check_tag(tag: Any) -> None:
    assert set(tag) == {"tagFQN", "source", "labelType", "state"}, tag
    assert tag["tagFQN"] in TAGS and tag["source"] == "Classification"
    assert tag["labelType"] in {"Manual", "Propagated", "Automated", "Derived"}
    assert tag["state"] in {"Suggested", "Confirmed"}


def check_column(column: dict[str, Any]) -> None:
    assert isinstance(column["name"], str) and column["name"], column
    assert column["dataType"] in DATA_TYPES, column
    if column["dataType"] in {"CHAR", "VARCHAR", "BINARY", "VARBINARY", "FIXED"}:
        assert isinstance(column.get("dataLength"), int), column
    if column["dataType"] == "ARRAY":
        assert column["arrayDataType"] in DATA_TYPES
    for tag in column.get("tags", []):
        check_tag(tag)
    for child in column.get("children", []):
        check_column(child)


class Handler(BaseHTTPRequestHandler):
    store: Store

    def log_message(self, *_args: Any) -> None:
        pass

    def _answer(self, status: int, body: Any = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        path = urlsplit(self.path).path
        store = self.store
        with store.lock:
            store.requests.append((method, self.path, dict(self.headers), body))
            if store.fail is not None:  # a broken server that echoes what it got, the token included
                return self._answer(store.fail, {"message": f"boom: {self.headers.get('Authorization')}"})
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._answer(401, {"message": "unauthorized"})
            try:
                status, answer = self._route(method, path, body)
            except AssertionError as exc:  # a body OpenMetadata would refuse
                status, answer = 400, {"message": f"invalid request: {exc}"}
            self._answer(status, answer)

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        store = self.store
        if not path.startswith("/api/v1/"):
            return 404, {"message": path}
        path = path.removeprefix("/api/v1")
        if method == "GET":
            for prefix, kind in (("/teams/name/", "team"), ("/users/name/", "user"), ("/tables/name/", "table")):
                if path.startswith(prefix):
                    found = store.entities[kind].get(unquote(path.removeprefix(prefix)))
                    return (200, found) if found else (404, {"message": "not found"})
            if path.startswith("/metadata/types/name/"):
                found = store.types.get(path.removeprefix("/metadata/types/name/"))
                return (200, found) if found else (404, {"message": "not found"})
            return 404, {"message": path}
        assert method == "PUT", method
        assert isinstance(body, dict)
        if path == "/services/databaseServices":
            assert body["serviceType"] in SERVICE_TYPES
            return 200, store.upsert("databaseService", fqn(body["name"]), body)
        if path == "/databases":
            assert body["service"] in store.entities["databaseService"], "unknown service"
            return 200, store.upsert("database", f"{body['service']}.{fqn(body['name'])}", body)
        if path == "/databaseSchemas":
            assert body["database"] in store.entities["database"], "unknown database"
            return 200, store.upsert("databaseSchema", f"{body['database']}.{fqn(body['name'])}", body)
        if path == "/tables":
            assert body["databaseSchema"] in store.entities["databaseSchema"], "unknown schema"
            assert isinstance(body["columns"], list)
            for column in body["columns"]:
                check_column(column)
            for tag in body.get("tags", []):
                check_tag(tag)
            for owner in body.get("owners", []):
                assert set(owner) == {"id", "type"} and owner["type"] in {"user", "team"}
                assert store.by_id(owner["id"]) is not None, "unknown owner"
            defined = {p["name"] for p in store.types["table"]["customProperties"]}
            assert set(body.get("extension", {})) <= defined, "extension holds an undefined custom property"
            return 200, store.upsert("table", f"{body['databaseSchema']}.{fqn(body['name'])}", body)
        if path.startswith("/metadata/types/"):
            assert path.removeprefix("/metadata/types/") == store.types["table"]["id"]
            assert CAMEL.match(body["name"]), body["name"]
            assert body["propertyType"] == {"id": store.types["string"]["id"], "type": "type"}
            props = store.types["table"]["customProperties"]
            props[:] = [p for p in props if p["name"] != body["name"]] + [body]
            return 200, store.types["table"]
        if path == "/lineage":
            edge = body["edge"]
            for end in ("fromEntity", "toEntity"):
                assert set(edge[end]) == {"id", "type"} and edge[end]["type"] == "table"
                assert store.by_id(edge[end]["id"]) is not None, f"unknown {end}"
            store.edges.add((edge["fromEntity"]["id"], edge["toEntity"]["id"]))
            return 200, None
        return 404, {"message": path}

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")


@pytest.fixture
def openmetadata() -> Iterator[tuple[str, Store]]:
    store = Store()
    handler = type("StoreHandler", (Handler,), {"store": store})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", store
    finally:
        server.shutdown()
        server.server_close()


ASSET = """
apiVersion: v3.0.2
kind: DataContract
id: acme-customers
name: customers
version: 1.0.0
status: active
team:
  - {username: owner@acme.com, role: owner}
schema:
  - name: customers
    properties:
      - {name: id, physicalType: bigint, required: true, description: Customer key}
      - {name: email, logicalType: string, classification: pii, description: Contact address}
      - {name: plan, logicalType: string, classification: internal}
      - {name: country, logicalType: string}
"""


def _setup(workspace: Workspace, url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__OM_TOKEN", TOKEN)
    runner = workspace.runner_file.read_text()
    workspace.runner_file.write_text(
        runner + f"  catalog_sync:\n    openmetadata: {{url: '{url}', token: '${{secret:om_token}}', service: lake}}\n"
    )
    workspace.write("assets/customers.yaml", ASSET)
    workspace.write("data/customers.csv", "id,email,plan,country\n1,a@x.com,pro,DE\n2,b@y.org,free,FR\n")
    return workspace.job(
        "customers.yaml",
        "tenant_id: acme\nname: customers\nasset_path: assets/customers.yaml\n"
        "source: {connector: csv, files: [{path: data/customers.csv}]}\n"
        "target: {namespace: crm, table: customers, mode: append}\n"
        "finops: {cost_center: marketing, project: crm}\n",
    )


def _entity_counts(store: Store) -> dict[str, int]:
    return {k: len(v) for k, v in store.entities.items()} | {"edges": len(store.edges)}


def test_a_committed_run_pushes_its_table_tags_owner_finops_and_lineage_idempotently(
    workspace: Workspace, openmetadata: tuple[str, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, store = openmetadata
    job = _setup(workspace, url, monkeypatch)
    first = workspace.run(job)
    assert first["state"] == "committed", first
    sync = first["catalog_sync"]["openmetadata"]
    assert sync["state"] == "synced", sync
    assert sync["table"] == "lake.default.crm.customers"
    assert sync["lineage_from"] == "lake_sources.acme.customers.customers"
    assert sync["owner"] == "user:owner" and sync["custom_properties"] == ["dativoCostCenter", "dativoProject"]

    table = store.entities["table"]["lake.default.crm.customers"]
    assert sync["table_id"] == table["id"] and table["tableType"] == "Iceberg"
    columns = {c["name"]: c for c in table["columns"]}
    assert columns["id"]["dataType"] == "BIGINT" and columns["id"]["constraint"] == "NOT_NULL"
    assert columns["id"]["description"] == "Customer key" and columns["id"]["tags"] == []
    assert columns["email"]["description"] == "Contact address"  # the asset's, not the Iceberg doc's label
    assert [t["tagFQN"] for t in columns["email"]["tags"]] == ["PII.Sensitive"]
    assert [t["tagFQN"] for t in columns["plan"]["tags"]] == ["PII.NonSensitive"]
    assert columns["country"]["tags"] == [] and columns["country"]["dataType"] == "STRING"
    assert [t["tagFQN"] for t in table["tags"]] == ["PII.Sensitive"]
    assert table["owners"] == [{"id": store.entities["user"]["owner"]["id"], "type": "user"}]
    assert table["extension"] == {"dativoCostCenter": "marketing", "dativoProject": "crm"}
    source = store.entities["table"]["lake_sources.acme.customers.customers"]
    assert "data/customers.csv" in source["description"]
    assert store.entities["databaseService"]["lake"]["serviceType"] == "Iceberg"
    assert store.edges == {(source["id"], table["id"])}
    assert all(h.get("Authorization") == f"Bearer {TOKEN}" for _, _, h, _ in store.requests)

    counts, ids = _entity_counts(store), {k: {e["id"] for e in v.values()} for k, v in store.entities.items()}
    properties_puts = sum(1 for m, p, _, _ in store.requests if m == "PUT" and p.startswith("/api/v1/metadata/types/"))
    second = workspace.run(job)
    assert second["state"] == "committed" and second["catalog_sync"]["openmetadata"]["state"] == "synced"
    assert second["catalog_sync"]["openmetadata"]["table_id"] == table["id"]
    assert _entity_counts(store) == counts  # updated, never duplicated
    assert {k: {e["id"] for e in v.values()} for k, v in store.entities.items()} == ids
    assert store.entities["table"]["lake.default.crm.customers"]["version"] == 0.2
    assert properties_puts == 2  # the custom properties are defined once, not at every run
    assert sum(1 for m, p, _, _ in store.requests if m == "PUT" and p.startswith("/api/v1/metadata/types/")) == 2
    # the summary read back from the ledger (dativo status, runs, submit --wait) carries it too
    assert run_summary(workspace.ledger(), second["run_id"])["catalog_sync"] == second["catalog_sync"]


@pytest.mark.parametrize("broken", ["http 500", "unreachable"])
def test_a_failed_sync_keeps_the_run_committed_and_the_next_run_pushes_again(
    workspace: Workspace,
    openmetadata: tuple[str, Store],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    broken: str,
) -> None:
    url, store = openmetadata
    job = _setup(workspace, url, monkeypatch)
    if broken == "http 500":
        store.fail = 500
    else:  # a port nothing listens on
        workspace.runner_file.write_text(workspace.runner_file.read_text().replace(url, "http://127.0.0.1:9"))
    caplog.set_level(logging.DEBUG)
    failed = workspace.run(job)
    assert failed["state"] == "committed" and failed["rows"] == 2, failed
    outcome = failed["catalog_sync"]["openmetadata"]
    assert outcome["state"] == "failed", outcome
    assert ("HTTP 500" if broken == "http 500" else "unreachable") in outcome["error"]
    assert workspace.read("crm.customers").num_rows == 2
    out = capsys.readouterr()
    logs = caplog.text + out.out + out.err
    assert logs.count("catalog sync failed") == 1, logs  # once per run
    everything = logs + json.dumps(failed) + (workspace.state / "dativo.db").read_bytes().decode("latin-1")
    assert TOKEN not in everything

    store.fail = None
    workspace.runner_file.write_text(workspace.runner_file.read_text().replace("http://127.0.0.1:9", url))
    retried = workspace.run(job)
    assert retried["state"] == "committed" and retried["catalog_sync"]["openmetadata"]["state"] == "synced"
    assert "lake.default.crm.customers" in store.entities["table"] and len(store.edges) == 1


def test_no_catalog_configured_means_no_sync_key(workspace: Workspace) -> None:
    workspace.write("data/t.csv", "a\n1\n")
    job = workspace.job(
        "t.yaml", "tenant_id: acme\nname: t\nsource: {connector: csv, files: [{path: data/t.csv}]}\n"
        "target: {namespace: crm, table: t}\n"
    )  # fmt: skip
    summary = workspace.run(job)
    assert summary["state"] == "committed" and summary["catalog_sync"] is None


def test_the_token_must_be_a_secret_reference(workspace: Workspace) -> None:
    block = f"  catalog_sync:\n    openmetadata: {{url: 'http://om:8585', token: {TOKEN}}}\n"
    workspace.runner_file.write_text(workspace.runner_file.read_text() + block)
    with pytest.raises(ConfigError) as err:
        load_runner(workspace.runner_file)
    assert "secret reference" in str(err.value.problems) + str(err.value) and TOKEN not in str(err.value)


def test_iceberg_types_map_to_openmetadata_types() -> None:
    assert column_type(LongType())["dataType"] == "BIGINT"
    assert column_type(TimestamptzType())["dataType"] == "TIMESTAMPZ"
    assert column_type(DecimalType(12, 2)) == {"dataTypeDisplay": "decimal(12, 2)", "dataType": "DECIMAL",
                                               "precision": 12, "scale": 2}  # fmt: skip
    assert column_type(FixedType(16))["dataLength"] == 16
    listed = column_type(ListType(1, StringType(), element_required=False))
    assert listed["dataType"] == "ARRAY" and listed["arrayDataType"] == "STRING"
    assert fqn("lake", "db.one", "t") == 'lake."db.one".t'
    assert pii_tag("credential")["tagFQN"] == "PII.Sensitive" and pii_tag("PUBLIC")["tagFQN"] == "PII.NonSensitive"
    assert pii_tag(None) is None


def test_an_unknown_owner_is_reported_and_a_missing_token_secret_fails_only_the_sync(
    workspace: Workspace, openmetadata: tuple[str, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, store = openmetadata
    job = _setup(workspace, url, monkeypatch)
    job.write_text(job.read_text() + "governance_overrides: {owner: nobody@acme.com}\n")
    summary = workspace.run(job)
    sync = summary["catalog_sync"]["openmetadata"]
    assert sync["state"] == "synced" and sync["owner"] is None and sync["owner_unresolved"] == "nobody@acme.com"
    assert "owners" not in store.entities["table"]["lake.default.crm.customers"]

    monkeypatch.delenv("DATIVO_SECRET__GLOBAL__OM_TOKEN")
    requests_before = len(store.requests)
    summary = workspace.run(job)
    assert summary["state"] == "committed" and summary["rows"] == 2
    sync = summary["catalog_sync"]["openmetadata"]
    assert sync["state"] == "failed" and "om_token" in sync["error"], sync
    assert len(store.requests) == requests_before  # nothing sent without the token


def test_struct_columns_become_children() -> None:
    from pyiceberg.types import IntegerType, NestedField, StructType

    from dativo_workers.catalog_sync import OpenMetadataSync

    address = StructType(NestedField(2, "zip", StringType()), NestedField(3, "no", IntegerType(), required=True))
    fields = (NestedField(1, "address", address, doc="Where [classification: PII]"),)
    sync = OpenMetadataSync.__new__(OpenMetadataSync)
    [column] = sync._columns(fields, {"dativo.classification.address": "PII"}, {})
    assert column["dataType"] == "STRUCT" and column["description"] == "Where"
    assert [t["tagFQN"] for t in column["tags"]] == ["PII.Sensitive"]
    assert [(c["name"], c["dataType"], c.get("constraint")) for c in column["children"]] == [
        ("zip", "STRING", None),
        ("no", "INT", "NOT_NULL"),
    ]
    for child in column["children"]:
        check_column(child)


def test_each_source_table_of_a_job_is_its_own_lineage_source(openmetadata: tuple[str, Store]) -> None:
    from dativo_workers.catalog_sync import OpenMetadataSync
    from dativo_workers.config.catalog_sync import OpenMetadataConfig
    from dativo_workers.config.job import JobConfig

    url, store = openmetadata
    store.fail = None
    sync = OpenMetadataSync(OpenMetadataConfig(url=url), "acme")
    sync.session.headers["Authorization"] = f"Bearer {TOKEN}"  # a server without auth would need none
    run = {"tenant": "acme", "job_name": "shop", "run_id": "r1"}
    found = []
    for table in ("public.orders", "public.items"):  # a multi-table job's runs: one source table each
        job = JobConfig.model_validate(
            {"tenant_id": "acme", "name": "shop", "source": {"connector": "postgres", "tables": [{"name": table}]},
             "target": {"namespace": "shop", "table": "{object}"}}
        )  # fmt: skip
        found.append(sync._source(run, job, [{"name": "id", "dataType": "BIGINT"}]))
    assert [e["fullyQualifiedName"] for e in found] == [
        'dativo_sources.acme.shop."public.orders"',
        'dativo_sources.acme.shop."public.items"',
    ]
    assert "(postgres)" in found[0]["description"] and "`public.orders`" in found[0]["description"]
    assert len({e["id"] for e in found}) == 2
