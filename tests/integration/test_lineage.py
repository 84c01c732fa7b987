"""OpenLineage events (docs/lineage.md): every event of a run that commits, one that fails and a
cancelled distributed run, received by a loopback HTTP server and parsed back into the
openlineage-python client's models; an unreachable endpoint still commits and logs once."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import structlog
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    data_quality_assertions_dataset,
    datasource_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    ownership_dataset,
    processing_engine_run,
    schema_dataset,
    tags_job,
    tags_run,
)

from dativo_workers import lineage
from dativo_workers.config import load_job, load_runner
from dativo_workers.pipeline import plan_run

from ..conftest import Workspace
from .fleet import Fleet

pytestmark = pytest.mark.integration

API_KEY = "ol-key-4f1c9e"

ASSET = """
apiVersion: v3.0.2
kind: DataContract
id: people
name: people
version: 1.0.0
status: active
team:
  - username: owner@acme.com
    role: owner
schema:
  - name: people
    quality:
      - {{metric: rowCount, mustBeGreaterThan: 0, severity: error}}
    properties:
      - {{name: id, physicalType: bigint, required: true, primaryKey: true}}
      - name: email
        logicalType: string
        classification: pii
        quality:
          - {{metric: nullValues, mustBe: 0, severity: {severity}}}
      - {{name: city, logicalType: string}}
"""


class Receiver:
    """A loopback OpenLineage endpoint: keeps every POST's path, headers and JSON body."""

    def __init__(self) -> None:
        received = self.received = []  # type: list[dict[str, Any]]
        refused = self.refused = set()  # type: set[str]  # Authorization headers answered 401

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Authorization") in refused:
                    self.send_response(401)
                    self.end_headers()
                    return
                received.append({"path": self.path, "headers": dict(self.headers), "event": json.loads(body)})
                self.send_response(201)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self, run_uuid: str | None = None) -> list[dict[str, Any]]:
        return [r["event"] for r in self.received if run_uuid is None or r["event"]["run"]["runId"] == run_uuid]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()
    server.server.server_close()


def _runner(ws: Workspace, url: str) -> None:
    tmp = ws.root
    ws.write(
        "runner.yaml",
        f"""
        runner:
          ledger_url: sqlite:///{tmp}/state/dativo.db
          catalogs:
            default:
              type: sql
              uri: sqlite:///{tmp}/state/catalog.db
              warehouse: {tmp}/state/warehouse
          lineage:
            url: {url}
            api_key: "${{secret:openlineage_key}}"
            namespace: test
            timeout_seconds: 2
        """,
    )


def _job(ws: Workspace, severity: str = "error", email: str = "b@x.org") -> Path:
    ws.write("data/people.csv", f"id,email,city\n1,a@x.org,Oslo\n2,{email},Lima\n")
    ws.write("assets/people.yaml", ASSET.format(severity=severity))
    return ws.job(
        "people.yaml",
        """
        tenant_id: acme
        asset_path: assets/people.yaml
        source: {connector: csv, files: [{path: data/people.csv}]}
        target: {namespace: acme, table: people}
        finops: {cost_center: marketing, project: crm}
        """,
    )


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__OPENLINEAGE_KEY", API_KEY)


def parse(event: dict[str, Any]) -> RunEvent:
    """The event rebuilt with the client's classes: their validators check the run id is a UUID,
    the times and URIs parse; every standard facet's `_schemaURL` must be the class's own."""

    def facet(cls: type, data: dict[str, Any], **nested: Any) -> Any:
        fields = {k: v for k, v in data.items() if not k.startswith("_")}
        built = cls(**{**fields, **nested})
        assert data["_schemaURL"] == built._schemaURL, (cls, data["_schemaURL"])
        assert data["_producer"] == lineage.PRODUCER
        return built

    def dataset_facets(facets: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, data in facets.items():
            if name == "schema":
                fields = [schema_dataset.SchemaDatasetFacetFields(**f) for f in data["fields"]]
                out[name] = facet(schema_dataset.SchemaDatasetFacet, data, fields=fields)
            elif name == "dataSource":
                out[name] = facet(datasource_dataset.DatasourceDatasetFacet, data)
            elif name == "columnLineage":
                cl = column_lineage_dataset
                fields = {
                    col: cl.Fields(
                        inputFields=[
                            cl.InputField(
                                **{**f, "transformations": [cl.Transformation(**t) for t in f["transformations"]]}
                            )
                            for f in v["inputFields"]
                        ]
                    )
                    for col, v in data["fields"].items()
                }
                out[name] = facet(cl.ColumnLineageDatasetFacet, data, fields=fields)
            elif name == "dataQualityAssertions":
                dq = data_quality_assertions_dataset
                out[name] = facet(
                    dq.DataQualityAssertionsDatasetFacet,
                    data,
                    assertions=[dq.Assertion(**a) for a in data["assertions"]],
                )
            elif name == "ownership":
                owners = [ownership_dataset.Owner(**o) for o in data["owners"]]
                out[name] = facet(ownership_dataset.OwnershipDatasetFacet, data, owners=owners)
            elif name == lineage.GOVERNANCE_FACET:
                assert data["_schemaURL"] == lineage.GOVERNANCE_SCHEMA_URL
                out[name] = facet(lineage._governance_class(), data)
            else:
                raise AssertionError(f"unexpected dataset facet {name}")
        return out

    run_classes = {
        "errorMessage": error_message_run.ErrorMessageRunFacet,
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet,
        "tags": tags_run.TagsRunFacet,  # the client's own
    }
    run_facets = {name: facet(run_classes[name], data) for name, data in event["run"].get("facets", {}).items()}
    job_facets = {
        name: facet({"jobType": job_type_job.JobTypeJobFacet, "tags": tags_job.TagsJobFacet}[name], data)
        for name, data in event["job"].get("facets", {}).items()
    }
    assert job_facets["jobType"].processingType == "BATCH"
    assert run_facets["processing_engine"].name == "dativo"
    uuid.UUID(event["run"]["runId"])
    outputs = []
    for ds in event["outputs"]:
        stats = ds.get("outputFacets", {}).get("outputStatistics")
        output_facets = (
            {"outputStatistics": facet(output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet, stats)}
            if stats
            else {}
        )
        outputs.append(
            OutputDataset(ds["namespace"], ds["name"], facets=dataset_facets(ds["facets"]), outputFacets=output_facets)
        )
    built = RunEvent(
        eventType=RunState(event["eventType"]),
        eventTime=event["eventTime"],
        run=Run(runId=event["run"]["runId"], facets=run_facets),
        job=Job(namespace=event["job"]["namespace"], name=event["job"]["name"], facets=job_facets),
        inputs=[InputDataset(d["namespace"], d["name"], facets=dataset_facets(d["facets"])) for d in event["inputs"]],
        outputs=outputs,
        producer=event["producer"],
    )
    assert event["schemaURL"] == built.schemaURL  # the spec version this client writes
    assert event["producer"] == lineage.PRODUCER
    return built


def test_a_committed_run_sends_start_and_complete(workspace: Workspace, receiver: Receiver, api_key: None) -> None:
    _runner(workspace, receiver.url)
    job = _job(workspace)
    summary = workspace.run(job)
    assert summary["state"] == "committed", summary
    start, complete = (parse(e) for e in receiver.events())
    assert [start.eventType, complete.eventType] == [RunState.START, RunState.COMPLETE]
    assert start.run.runId == complete.run.runId
    assert receiver.received[0]["path"] == "/api/v1/lineage"
    assert receiver.received[0]["headers"]["Authorization"] == f"Bearer {API_KEY}"  # the secret, resolved
    for event in (start, complete):
        assert (event.job.namespace, event.job.name) == ("test.acme", "people")
        [source] = event.inputs
        assert (source.namespace, source.name) == ("file", str(workspace.root / "data/people.csv"))
        assert [f.name for f in source.facets["schema"].fields] == ["id", "email", "city"]
        [table] = event.outputs
        warehouse = (workspace.state / "warehouse").as_uri()
        assert (table.namespace, table.name) == (warehouse, "acme.people")
        assert [(f.name, f.type) for f in table.facets["schema"].fields] == [
            ("id", "long"),
            ("email", "string"),
            ("city", "string"),
        ]
        lineage_of = table.facets["columnLineage"].fields
        assert sorted(lineage_of) == ["city", "email", "id"]
        [field] = lineage_of["email"].inputFields
        assert (field.namespace, field.name, field.field) == ("file", source.name, "email")
        assert field.transformations[0].subtype == "IDENTITY"
        governance = table.facets[lineage.GOVERNANCE_FACET]
        assert governance.classification["email"] == "PII"
        assert governance.owner == "owner@acme.com"
        assert governance.finops == {"cost_center": "marketing", "project": "crm"}
        assert governance.asset == {"id": "people", "version": "1.0.0"}
        assert table.facets["ownership"].owners[0].name == "owner@acme.com"
    assert "outputStatistics" not in start.outputs[0].outputFacets
    stats = complete.outputs[0].outputFacets["outputStatistics"]
    assert (stats.rowCount, stats.size, stats.fileCount) == (2, summary["bytes"], summary["files"])
    assertions = {a.name: a for a in complete.outputs[0].facets["dataQualityAssertions"].assertions}
    assert assertions["email.nullValues"].success and assertions["email.nullValues"].column == "email"
    assert assertions["rowCount"].actual == "2"
    assert API_KEY not in json.dumps(receiver.events())


def test_a_failed_run_sends_fail_with_its_error_and_quality(
    workspace: Workspace, receiver: Receiver, api_key: None
) -> None:
    _runner(workspace, receiver.url)
    summary = workspace.run(_job(workspace, email=""))  # a null email fails an error rule
    assert summary["state"] == "failed", summary
    start, fail = (parse(e) for e in receiver.events())
    assert [start.eventType, fail.eventType] == [RunState.START, RunState.FAIL]
    assert start.run.runId == fail.run.runId
    assert fail.run.facets["errorMessage"].message == summary["error"]
    assert "email.nullValues" in summary["error"]
    assertions = {a.name: a for a in fail.outputs[0].facets["dataQualityAssertions"].assertions}
    assert not assertions["email.nullValues"].success
    assert "outputStatistics" not in fail.outputs[0].outputFacets


def test_a_cancelled_distributed_run_sends_abort(workspace: Workspace, receiver: Receiver, api_key: None) -> None:
    from dativo_workers.producer import cancel

    _runner(workspace, receiver.url)
    runner = load_runner(workspace.runner_file)
    ledger = workspace.ledger()
    planned = plan_run(load_job(_job(workspace)), runner, ledger, queue="lineage-test")  # as `submit` plans
    summary = cancel(planned.run_id, runner, ledger)
    assert summary["state"] == "cancelled"
    start, abort = (parse(e) for e in receiver.events())
    assert [start.eventType, abort.eventType] == [RunState.START, RunState.ABORT]
    assert start.run.runId == abort.run.runId
    assert abort.run.facets["errorMessage"].message == "cancelled by the operator"


def test_an_unreachable_endpoint_still_commits_and_logs_once(workspace: Workspace, api_key: None) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _runner(workspace, f"http://user:{API_KEY}@127.0.0.1:{port}")
    with structlog.testing.capture_logs() as logs:
        summary = workspace.run(_job(workspace))
    assert summary["state"] == "committed", summary
    warnings = [e for e in logs if e["event"].startswith("lineage event not sent") and e["log_level"] == "warning"]
    assert len(warnings) == 1, logs
    assert warnings[0]["run_id"] == summary["run_id"]
    assert API_KEY not in json.dumps(logs, default=str)


def test_without_configuration_nothing_is_sent_or_recorded(workspace: Workspace, receiver: Receiver) -> None:
    summary = workspace.run(_job(workspace))
    assert summary["state"] == "committed"
    assert receiver.received == []
    run = workspace.ledger().run(summary["run_id"])
    assert "lineage" not in json.loads(run["plan_json"]) or json.loads(run["plan_json"])["lineage"] is None


@pytest.fixture
def client_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The client's own variables; it adds OPENLINEAGE__TRANSPORT__* aliases of OPENLINEAGE_URL to
    the environment itself, which go with the test."""
    import os

    before = set(os.environ)
    yield monkeypatch
    for name in set(os.environ) - before:
        if name.startswith("OPENLINEAGE"):
            del os.environ[name]


def test_the_clients_own_variables_with_a_secret_api_key(
    workspace: Workspace, receiver: Receiver, api_key: None, client_env: pytest.MonkeyPatch
) -> None:
    client_env.setenv("OPENLINEAGE_URL", receiver.url)
    client_env.setenv("OPENLINEAGE_API_KEY", "${secret:openlineage_key}")
    summary = workspace.run(_job(workspace))
    assert summary["state"] == "committed"
    assert [e["eventType"] for e in receiver.events()] == ["START", "COMPLETE"]
    assert {r["headers"]["Authorization"] for r in receiver.received} == {f"Bearer {API_KEY}"}
    assert receiver.events()[0]["job"]["namespace"] == "dativo.acme"  # the default prefix


def test_an_openlineage_yml_transport(
    workspace: Workspace, receiver: Receiver, api_key: None, client_env: pytest.MonkeyPatch
) -> None:
    config = workspace.write(
        "openlineage.yml",
        f"""
        transport:
          type: http
          url: {receiver.url}
          endpoint: custom/lineage
          auth: {{type: api_key, apiKey: "${{secret:openlineage_key}}"}}
        """,
    )
    client_env.setenv("OPENLINEAGE_CONFIG", str(config))
    summary = workspace.run(_job(workspace))
    assert summary["state"] == "committed"
    assert [(r["path"], r["event"]["eventType"]) for r in receiver.received] == [
        ("/custom/lineage", "START"),
        ("/custom/lineage", "COMPLETE"),
    ]
    assert receiver.received[0]["headers"]["Authorization"] == f"Bearer {API_KEY}"
    parse(receiver.events()[1])


@pytest.mark.timeout(240)
def test_a_worker_sends_the_complete_of_a_distributed_run(
    workspace: Workspace, receiver: Receiver, api_key: None, fleet: Fleet
) -> None:
    from dativo_workers.producer import submit, wait

    _runner(workspace, receiver.url)  # the worker reads the same runner file (and the secret from its env)
    fleet.start_worker()
    runner = load_runner(workspace.runner_file)
    ledger = workspace.ledger()
    run_id = submit(load_job(_job(workspace)), runner, ledger, None)
    summary = wait(run_id, ledger, timeout_s=120)
    assert summary["state"] == "committed", summary
    deadline = time.monotonic() + 30  # the worker sends COMPLETE right after it records the commit
    while len(receiver.events()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    start, complete = (parse(e) for e in receiver.events())
    assert [start.eventType, complete.eventType] == [RunState.START, RunState.COMPLETE]
    assert start.run.runId == complete.run.runId
    assert complete.outputs[0].outputFacets["outputStatistics"].rowCount == 2
    assert {r["headers"]["Authorization"] for r in receiver.received} == {f"Bearer {API_KEY}"}


def test_the_cli_keeps_its_json_output_clean(workspace: Workspace, receiver: Receiver, api_key: None) -> None:
    _runner(workspace, receiver.url)
    result = workspace.cli("run", str(_job(workspace)), "--json")
    assert result.code == 0, result.stderr
    assert result.json["state"] == "committed"  # stdout is the summary alone
    assert [e["eventType"] for e in receiver.events()] == ["START", "COMPLETE"]


def test_a_rotated_api_key_is_read_again_after_a_refusal(
    workspace: Workspace, receiver: Receiver, api_key: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dativo_workers.producer import cancel

    _runner(workspace, receiver.url)
    receiver.refused.add(f"Bearer {API_KEY}")  # the endpoint has rotated the key already
    runner = load_runner(workspace.runner_file)
    ledger = workspace.ledger()
    planned = plan_run(load_job(_job(workspace)), runner, ledger, queue="lineage-test")  # START: 401
    monkeypatch.setenv("DATIVO_SECRET__GLOBAL__OPENLINEAGE_KEY", "rotated-key")
    cancel(planned.run_id, runner, ledger)
    assert [(r["event"]["eventType"], r["headers"]["Authorization"]) for r in receiver.received] == [
        ("ABORT", "Bearer rotated-key")
    ]


def test_a_run_refused_while_planning_sends_one_fail(workspace: Workspace, receiver: Receiver, api_key: None) -> None:
    _runner(workspace, receiver.url)
    job = _job(workspace)
    assert workspace.run(job)["state"] == "committed"
    workspace.write("data/people.csv", "email,city\nc@x.org,Rome\n")  # `id` is required by the asset
    summary = workspace.run(job)
    assert summary["state"] == "failed" and summary["partitions_total"] == 0, summary
    events = [parse(e) for e in receiver.events()]
    assert [e.eventType for e in events] == [RunState.START, RunState.COMPLETE, RunState.FAIL]
    fail = events[2]
    assert fail.run.runId != events[0].run.runId
    assert fail.run.facets["errorMessage"].message == summary["error"]
    assert "'id'" in summary["error"]
    assert (fail.outputs[0].name, fail.job.name) == ("acme.people", "people")
