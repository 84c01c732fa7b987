"""OpenLineage events for runs: START when a run is planned, COMPLETE when it commits, FAIL when
it fails, ABORT when it is cancelled (docs/lineage.md).

Events go through the openlineage-python client, configured by the runner's `lineage:` block,
else the client's own way (`OPENLINEAGE_URL` / `OPENLINEAGE_API_KEY` / `OPENLINEAGE_ENDPOINT`,
`openlineage.yml`, `OPENLINEAGE__TRANSPORT__*`). Without any of these nothing is sent. An API key
may be a `${secret:NAME}` reference, resolved through the secret provider (run's tenant first,
then global).

What the end events need of the plan (inputs, output, columns, the run's UUID) is recorded in the
run's plan in the ledger, so a Celery worker that commits the run emits what the producer planned.

Emission never fails a run: an error is logged once per run (masked), the run goes on.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import uuid
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import structlog

from dativo_workers.secrets import REFERENCE, describe_error, resolve, reveal

if TYPE_CHECKING:
    from dativo_workers.config.job import JobConfig
    from dativo_workers.config.runner import CatalogConfig, LineageConfig, RunnerConfig
    from dativo_workers.ledger import Ledger
    from dativo_workers.plugins.base import DataReader
    from dativo_workers.writers import WriterPlan

log = structlog.get_logger("dativo.lineage")

PLAN_KEY = "lineage"
PRODUCER = "https://github.com/dativo/dativo-workers"
GOVERNANCE_FACET = "dativo_governance"
GOVERNANCE_SCHEMA_URL = PRODUCER + "/blob/main/docs/lineage.md#dativo_governance"
HTTP_RETRY = {
    "total": 1,
    "connect": 1,
    "read": 1,
    "backoff_factor": 0.2,
    "status_forcelist": [502, 503, 504],
    "allowed_methods": ["POST"],
}  # a short retry: an unreachable endpoint costs a run little

# the client's own configuration variables (OPENLINEAGE__TRANSPORT__* the client reads itself)
CLIENT_ENV = ("OPENLINEAGE_URL", "OPENLINEAGE_ENDPOINT", "OPENLINEAGE_API_KEY", "OPENLINEAGE_CONFIG")
_settings: LineageConfig | None = None
_clients: dict[tuple[Any, ...], Any] = {}
_logged: set[str] = set()  # runs whose emission error this process logged
_lock = threading.Lock()


def use(config: LineageConfig) -> None:
    """The lineage settings of this process (the runner config it loaded, like the secret provider)."""
    global _settings
    with _lock:
        if config != _settings:
            _settings = config
            _clients.clear()


# -- datasets ----------------------------------------------------------------------------------


def location_dataset(location: str) -> tuple[str, str]:
    """A file or directory named per the OpenLineage naming spec: local paths are namespace
    `file` and the absolute path; object stores `<scheme>://<bucket>` and the key."""
    parsed = urlparse(location)
    if parsed.scheme in ("", "file") or len(parsed.scheme) == 1:  # a Windows drive letter is no scheme
        path = parsed.path if parsed.scheme == "file" else location
        return "file", os.path.abspath(path) if not path.startswith("/") else path
    return f"{parsed.scheme}://{parsed.netloc}", parsed.path.lstrip("/")


def static_prefix(pattern: str) -> str:
    """The part of a glob before its first wildcard, cut back to a whole directory."""
    cut = min((i for i, ch in enumerate(pattern) if ch in "*?["), default=-1)
    if cut < 0:
        return pattern
    return pattern[:cut].rpartition("/")[0] or "."


def default_inputs(reader: DataReader) -> list[tuple[str, str]]:
    """Input datasets for a reader that does not name its own: its files (paths, object-store
    prefixes), else its tables or objects in the namespace `<reader name>://`, else the reader."""
    context = reader.context
    inputs: list[tuple[str, str]] = []
    for entry in context.files:
        path = static_prefix(str(entry.get("path", "")))
        if "://" not in path and not os.path.isabs(path):
            path = str(context.base_dir / path)
        inputs.append(location_dataset(path))
    for entry in context.tables:
        inputs.append((f"{reader.name}://", str(entry.get("name"))))
    return inputs or [(f"{reader.name}://", reader.name)]


def source(reader: DataReader, columns: list[str]) -> dict[str, Any]:
    """What planning knows of the source: its input datasets (the reader's ``lineage_inputs()``,
    else the default) and its columns."""
    inputs: list[tuple[str, str]] | None = None
    with contextlib.suppress(Exception):  # a reader's own naming failing costs only its precision
        inputs = reader.lineage_inputs()
    if not inputs:
        try:
            inputs = default_inputs(reader)
        except Exception:
            inputs = [(f"{reader.name}://", reader.name)]
    unique = list(dict.fromkeys((str(ns), str(name)) for ns, name in inputs))
    return {"inputs": [{"namespace": ns, "name": name} for ns, name in unique], "columns": columns}


def output_dataset(
    catalog: CatalogConfig, catalog_name: str, identifier: tuple[str, ...], writer_output: str | None
) -> dict[str, str]:
    """The Iceberg table: namespace from the catalog's warehouse (else its URI), name
    `<namespace>.<table>`; a writer target: its output location."""
    if writer_output:
        namespace, name = location_dataset(writer_output)
        return {"namespace": namespace, "name": name}
    where = catalog.warehouse or catalog.uri or f"iceberg://{catalog_name}"
    if "://" not in where:
        where = Path(where).resolve().as_uri()  # a bare local path (the runner makes them file URIs)
    else:
        parsed = urlparse(where)
        where = f"{parsed.scheme}://{parsed.netloc}{parsed.path}".rstrip("/")
        if parsed.password:
            where = where.replace(f":{parsed.password}@", "@")
    return {"namespace": where, "name": ".".join(identifier)}


# -- events ------------------------------------------------------------------------------------


def planned(
    runner: RunnerConfig,
    cfg: JobConfig,
    run_id: str,
    plan: dict[str, Any],
    source_info: dict[str, Any] | None,
    writer: WriterPlan | None,
    send: bool = True,
) -> dict[str, Any] | None:
    """Record what the run's events say (in the plan) and send START (``send``). None when
    lineage is off."""
    settings = runner.lineage
    if not _enabled(settings):
        return None
    try:
        try:
            from openlineage.client.uuid import generate_new_uuid  # time-ordered (UUIDv7)
        except ImportError:  # the client is missing: START says so, once
            generate_new_uuid = uuid.uuid4

        info = {
            "run_uuid": str(generate_new_uuid()),
            "job_namespace": f"{settings.namespace}.{cfg.tenant_id}",
            "job_name": cfg.name,
            "inputs": (source_info or {}).get("inputs", []),
            "source_columns": (source_info or {}).get("columns", []),
            "output": output_dataset(
                runner.catalog(cfg.target.catalog),
                cfg.target.catalog,
                tuple(plan["table"]["identifier"]),
                writer.output if writer else None,
            ),
        }
    except Exception as exc:  # never fails the run
        _report(run_id, exc, quiet=False)
        return None
    run = {"run_id": run_id, "tenant": cfg.tenant_id, "job_name": cfg.name, "state": "running"}
    if send and not _emit(settings, "START", run, {**plan, PLAN_KEY: info}, None):
        info["start_failed"] = True  # logged: the end event's error is not logged again
    return info


def refused(
    runner: RunnerConfig, cfg: JobConfig, ledger: Ledger, run_id: str | None, source_info: dict[str, Any] | None
) -> None:
    """A run refused while planning (a schema change the table cannot take): one FAIL, no START."""
    settings = runner.lineage
    if run_id is None or not _enabled(settings):
        return
    try:
        import json

        run = ledger.run(run_id)
        if run is None:
            return
        plan = json.loads(run["plan_json"])
        info = planned(runner, cfg, run_id, plan, source_info, None, send=False)
        if info is not None:
            _emit(settings, "FAIL", run, {**plan, PLAN_KEY: info}, run_summary_of(ledger, run_id))
    except Exception as exc:
        _report(run_id, exc, quiet=False)


def run_summary_of(ledger: Ledger, run_id: str) -> dict[str, Any]:
    from dativo_workers.pipeline import run_summary

    return run_summary(ledger, run_id)


def ended(ledger: Ledger, run_id: str, runner: RunnerConfig | None = None) -> None:
    """COMPLETE, FAIL or ABORT for a run that just reached that state in the ledger. Without
    ``runner``, the settings of the runner config this process loaded."""
    settings = runner.lineage if runner is not None else _settings
    try:
        import json

        run = ledger.run(run_id)
        if run is None:
            return
        plan = json.loads(run["plan_json"])
        if not plan.get(PLAN_KEY) or not _enabled(settings):
            return  # planned with lineage off, or not a job run (a compaction)
        kind = {"committed": "COMPLETE", "failed": "FAIL", "cancelled": "ABORT"}.get(run["state"])
        if kind is None:
            return
        _emit(settings, kind, run, plan, run_summary_of(ledger, run_id))
    except Exception as exc:
        _report(run_id, exc, quiet=False)


def _enabled(config: LineageConfig | None) -> bool:
    if config is not None and config.disabled:
        return False
    if os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    return bool(
        (config is not None and config.url)
        or os.environ.get("OPENLINEAGE_URL")
        or os.environ.get("OPENLINEAGE_CONFIG")
        or os.path.isfile("openlineage.yml")
        or os.path.isfile(os.path.expanduser("~/.openlineage/openlineage.yml"))
        or any(k.startswith("OPENLINEAGE__TRANSPORT") for k in os.environ)
    )


def _emit(
    settings: LineageConfig | None, kind: str, run: dict[str, Any], plan: dict[str, Any], summary: dict[str, Any] | None
) -> bool:
    info = plan[PLAN_KEY]
    try:
        client = _client(settings, run["tenant"])
        if client is None:
            return True
        client.emit(build_event(kind, run, plan, summary))
        return True
    except Exception as exc:
        with _lock:
            _clients.clear()  # the next event builds its client afresh: a rotated API key is read again
        _report(run["run_id"], exc, quiet=bool(info.get("start_failed")))
        return False


def _report(run_id: str, exc: Exception, quiet: bool) -> None:
    """Once per run: the START's failure is remembered in the plan, the rest in this process."""
    with _lock:
        first = run_id not in _logged and not quiet
        _logged.add(run_id)
    message = describe_error(exc)
    if first:
        log.warning("lineage event not sent; the run goes on", run_id=run_id, error=message)
    else:
        log.debug("lineage event not sent", run_id=run_id, error=message)


def _client(config: LineageConfig | None, tenant: str) -> Any:
    """The process's client for ``tenant`` (the API key may be a tenant's secret)."""
    try:
        from openlineage.client import OpenLineageClient
        from openlineage.client.transport import get_default_factory
    except ImportError:
        raise ImportError(
            "lineage is configured but openlineage-python is missing: pip install 'dativo-workers[lineage]'"
        ) from None

    url = config.url if config is not None else None
    client_env = tuple(os.environ.get(name) for name in CLIENT_ENV)  # a changed variable makes a new client
    key = (tenant, config.model_dump_json() if config is not None else None, client_env)
    with _lock:
        if key in _clients:
            return _clients[key]
    if url or os.environ.get("OPENLINEAGE_URL"):
        transport: dict[str, Any] = {
            "type": "http",
            "url": url or os.environ["OPENLINEAGE_URL"],
            "endpoint": (config.endpoint if url and config else None)
            or os.environ.get("OPENLINEAGE_ENDPOINT", "api/v1/lineage"),
            "timeout": config.timeout_seconds if config else 3.0,
            "retry": HTTP_RETRY,
        }
        api_key = (config.api_key if url and config else None) or os.environ.get("OPENLINEAGE_API_KEY")
        if api_key:
            transport["auth"] = {"type": "api_key", "apiKey": _secret(api_key, tenant)}
        client = OpenLineageClient(transport=get_default_factory().create(transport))
    else:  # openlineage.yml or OPENLINEAGE__TRANSPORT__*: the client's own configuration
        client = OpenLineageClient()
        settings = client.config.transport or {}
        if REFERENCE.search(str(settings)):
            client.transport = get_default_factory().create(_resolved(settings, tenant))
    with _lock:
        _clients[key] = client
    return client


def _secret(value: str, tenant: str) -> str:
    return reveal(resolve(value, tenant)) if REFERENCE.search(value) else value


def _resolved(obj: Any, tenant: str) -> Any:
    if isinstance(obj, dict):
        return {k: _resolved(v, tenant) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_resolved(v, tenant) for v in obj]
    return _secret(obj, tenant) if isinstance(obj, str) else obj


def build_event(kind: str, run: dict[str, Any], plan: dict[str, Any], summary: dict[str, Any] | None) -> Any:
    """One run event in the client's model (START carries no statistics; FAIL its error)."""
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
        set_producer,
    )
    from pyiceberg.schema import Schema

    set_producer(PRODUCER)  # the facets' `_producer`
    info = plan[PLAN_KEY]
    table_schema = Schema.model_validate_json(plan["table"]["schema"])
    columns = [(f.name, str(f.field_type), f.doc) for f in table_schema.fields]
    source_columns = set(info.get("source_columns") or [])

    inputs = []
    for ds in info["inputs"]:
        facets: dict[str, Any] = {
            "dataSource": datasource_dataset.DatasourceDatasetFacet(name=ds["namespace"], uri=ds["namespace"])
        }
        if source_columns:
            facets["schema"] = schema_dataset.SchemaDatasetFacet(
                fields=[schema_dataset.SchemaDatasetFacetFields(name=c) for c in info["source_columns"]]
            )
        inputs.append(InputDataset(namespace=ds["namespace"], name=ds["name"], facets=facets))

    out = info["output"]
    identity = [column_lineage_dataset.Transformation(type="DIRECT", subtype="IDENTITY")]
    lineage_fields = {
        name: column_lineage_dataset.Fields(
            inputFields=[
                column_lineage_dataset.InputField(
                    namespace=ds["namespace"], name=ds["name"], field=name, transformations=identity
                )
                for ds in info["inputs"]
            ]
        )
        for name, _type, _doc in columns
        if name in source_columns
    }
    out_facets: dict[str, Any] = {
        "schema": schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(name=n, type=t, description=d, ordinal_position=i + 1)
                for i, (n, t, d) in enumerate(columns)
            ]
        ),
        "dataSource": datasource_dataset.DatasourceDatasetFacet(name=out["namespace"], uri=out["namespace"]),
        "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet(fields=lineage_fields),
        GOVERNANCE_FACET: governance_facet(plan.get("table_properties") or {}),
    }
    owner = (plan.get("table_properties") or {}).get("dativo.governance.owner")
    if owner:
        out_facets["ownership"] = ownership_dataset.OwnershipDatasetFacet(
            owners=[ownership_dataset.Owner(name=owner, type="MAINTAINER")]
        )
    quality = (summary or {}).get("quality")
    if quality:
        out_facets["dataQualityAssertions"] = data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
            assertions=[
                data_quality_assertions_dataset.Assertion(
                    assertion=str(r.get("metric") or r.get("type") or r["rule"]),
                    success=r.get("status") == "pass",
                    column=r.get("column"),
                    severity=r.get("severity"),
                    name=str(r["rule"]),
                    description=r.get("description"),
                    expected=None if r.get("expected") is None else str(r["expected"]),
                    actual=None if r.get("value") is None else str(r["value"]),
                )
                for r in quality
                if r.get("status") in ("pass", "fail")
            ]
        )
    output_facets = {}
    if kind == "COMPLETE" and summary is not None:
        output_facets["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=summary["rows"], size=summary["bytes"], fileCount=summary["files"]
        )
    output = OutputDataset(namespace=out["namespace"], name=out["name"], facets=out_facets, outputFacets=output_facets)

    run_facets: dict[str, Any] = {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=_version(), name="dativo", openlineageAdapterVersion=_version("openlineage-python")
        )
    }
    if kind in ("FAIL", "ABORT") and run.get("error"):
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=str(run["error"]), programmingLanguage="python"
        )
    job_facets = {"jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="DATIVO", jobType="JOB")}
    return RunEvent(
        eventType=RunState[kind],
        eventTime=datetime.now(UTC).isoformat(),
        run=Run(runId=info["run_uuid"], facets=run_facets),
        job=Job(namespace=info["job_namespace"], name=info["job_name"], facets=job_facets),
        inputs=inputs,
        outputs=[output],
        producer=PRODUCER,
    )


def governance_facet(properties: dict[str, str]) -> Any:
    """`dativo_governance`: the tags the commit writes as table properties, grouped."""
    governance = {
        k.removeprefix("dativo.governance."): v for k, v in properties.items() if k.startswith("dativo.governance.")
    }
    return _governance_class()(
        classification={
            k.removeprefix("dativo.classification."): v
            for k, v in properties.items()
            if k.startswith("dativo.classification.") and k != "dativo.classification.default"
        },
        defaultClassification=properties.get("dativo.classification.default"),
        owner=governance.get("owner"),
        governance=governance,
        finops={k.removeprefix("dativo.finops."): v for k, v in properties.items() if k.startswith("dativo.finops.")},
        asset={k.removeprefix("dativo.asset."): v for k, v in properties.items() if k.startswith("dativo.asset.")},
    )


@functools.cache
def _governance_class() -> type:
    """The custom facet's class (made on first use: the client is imported only when lineage is on)."""
    import attr
    from openlineage.client.facet_v2 import DatasetFacet

    @attr.define
    class DativoGovernanceDatasetFacet(DatasetFacet):
        classification: dict[str, str] = attr.field(factory=dict)
        defaultClassification: str | None = attr.field(default=None)
        owner: str | None = attr.field(default=None)
        governance: dict[str, str] = attr.field(factory=dict)
        finops: dict[str, str] = attr.field(factory=dict)
        asset: dict[str, str] = attr.field(factory=dict)  # the ODCS contract's id and version

        @staticmethod
        def _get_schema() -> str:
            return GOVERNANCE_SCHEMA_URL

    return DativoGovernanceDatasetFacet


def _version(package: str = "dativo-workers") -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"
