"""`dativo check`: everything a run would need, verified without writing anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dativo_workers.config import load_job, load_runner
from dativo_workers.config.job import expand_objects
from dativo_workers.config.runner import local_path_of
from dativo_workers.errors import ConfigError, DativoError, SchemaChangeError, SourceError
from dativo_workers.iceberg import open_catalog, plan_table
from dativo_workers.pipeline import load_job_asset, source_schema
from dativo_workers.plugins.manager import create_reader, plugin_name, target_writer
from dativo_workers.schema_report import reported_schema, source_columns
from dativo_workers.secrets import describe_error
from dativo_workers.storage import catalog_properties
from dativo_workers.writers import output_location


def check_job(job_path: Path, runner_path: Path | None, select: list[str] | None = None) -> dict[str, Any]:
    """Config errors raise (exit 2 with file/key/line); runtime problems are reported per check."""
    job = load_job(job_path)
    runner = load_runner(runner_path)
    asset = load_job_asset(expand_objects(job)[0])  # several tables: each has its own schema object
    checks: list[dict[str, Any]] = [{"name": "config", "ok": True, "detail": f"job {job.config.name} is valid"}]
    if asset is not None:
        checks.append({"name": "asset", "ok": True, "detail": f"{asset.path.name}: {len(asset.columns)} columns"})
    catalog_cfg = runner.catalog(job.config.target.catalog)

    schema = None
    reported = None  # the first object's reader schema, against its asset (columns ignored, dropped)
    objects = expand_objects(job, select)
    try:
        reader = create_reader(job)
        try:
            problems = reader.check()  # connects; the objects exist and may be read
        finally:
            reader.close()
        if problems:
            raise SourceError(f"{reader.name}: " + "; ".join(problems))
        partitions = 0
        found: list[str] = []
        for one in objects:  # one run per source table
            reader = create_reader(one)
            try:
                partitions += len(reader.plan())
                found += [summary] if (summary := reader.plan_summary()) else []
                one_asset = asset if one is job else load_job_asset(one)  # its contract object loads
                if schema is None and (schema := source_schema(one_asset, reader)) is not None:
                    brought = reported_schema(reader) if one_asset is not None else None
                    reported = (one_asset, *brought) if one_asset is not None and brought is not None else None
            finally:
                reader.close()
        detail = f"{reader.name}: readable, {', '.join([*found, f'{partitions} partition(s)'])}"
        checks.append({"name": "source", "ok": True, "detail": detail})
    except ConfigError:
        raise  # exit 2 naming the file and key, like `dativo run`
    except (DativoError, OSError) as exc:  # details are printed: scrubbed like every error text
        checks.append({"name": "source", "ok": False, "detail": describe_error(exc)})
    if schema is not None:
        from dativo_workers.merge import merge_spec

        # a merge job's key, order and marker columns: exit 2, like `run` (an object's job: its defaults)
        merge_spec(objects[0], asset, schema)
        from dativo_workers.quality import plan_entry

        plan_entry(asset, schema, job.config.quality.on_fail)  # the contract's quality rules: exit 2, like `run`
    job = objects[0]  # the catalog check looks at the first object's table

    found = target_writer(job)  # config errors in the writer's settings raise like the others
    if found is not None and not job.config.target.is_iceberg:
        output = output_location(job)
        checks.append({"name": "target", "ok": True, "detail": f"writer {plugin_name(found[0])}: files go to {output}"})
        return {"job": str(job.path), "ok": all(c["ok"] for c in checks), "checks": checks}
    db = local_path_of(catalog_cfg.uri or "")
    if db is not None and not db.exists():
        checks.append(
            {
                "name": "catalog",
                "ok": True,
                "detail": f"{job.config.target.catalog}: {db} does not exist yet; the first run creates it",
            }
        )
    else:
        schema_check = None
        try:
            catalog = open_catalog(job.config.target.catalog, catalog_properties(catalog_cfg, job.config.tenant_id))
            detail = f"{job.config.target.catalog}: reachable"
            if schema is not None:
                try:
                    plan = plan_table(catalog, job.config.target, schema, catalog_cfg.warehouse)
                    if reported is not None and plan.schema_changes is not None:
                        name = ".".join(plan.identifier)  # a required column the source lost: FAIL, like `run`
                        plan.schema_changes = source_columns(plan.schema_changes, plan.schema, *reported, name)
                except SchemaChangeError as exc:  # the catalog is fine: the source's schema is not
                    schema_check = {"name": "schema", "ok": False, "detail": describe_error(exc)}
                else:
                    detail += f"; table {'exists' if plan.exists else 'will be created'} at {plan.location}"
                    if plan.exists:
                        schema_check = {"name": "schema", "ok": True, "detail": describe_changes(plan.schema_changes)}
            checks.append({"name": "catalog", "ok": True, "detail": detail})
        except Exception as exc:
            checks.append({"name": "catalog", "ok": False, "detail": describe_error(exc)})
        if schema_check is not None:
            checks.append(schema_check)
    return {"job": str(job.path), "ok": all(c["ok"] for c in checks), "checks": checks}


def describe_changes(changes: dict[str, list[dict[str, str]]] | None) -> str:
    """One line for what a run would change in an existing table's schema."""
    if not changes:
        return "the table takes the source's schema as it is"
    parts = [f"adds {c['column']} ({c['type']})" for c in changes["added"]]
    parts += [f"widens {c['column']} {c['from']} -> {c['to']}" for c in changes["type_changed"]]
    parts += [f"casts {c['column']} {c['source_type']} -> {c['table_type']}" for c in changes["cast"]]
    parts += [f"{c['column']} no longer in the source (kept, null in new rows)" for c in changes["dropped"]]
    ignored = changes.get("ignored") or []
    parts += [f"ignores {c['column']} ({c['type']}): in the source, not in the asset" for c in ignored]
    return "; ".join(parts) or "the table takes the source's schema as it is"


def explain_tags(job_path: Path) -> dict[str, Any]:
    """`dativo tags explain`: every effective tag with the level it came from. Writes nothing.

    Columns are those of the source schema (the asset's, else the reader's); PII detection runs
    on the same small sample a run would take, unless the job switches it off.
    """
    from dativo_workers.governance.tags import column_tags, effective_tags, pii_detection_enabled
    from dativo_workers.pipeline import governance_inputs

    job = load_job(job_path)
    cfg = job.config
    asset = load_job_asset(job)
    reader = create_reader(job)
    try:
        schema = source_schema(asset, reader)
        columns = [f.name for f in schema.fields] if schema is not None else []
        detected, source_tags = governance_inputs(cfg, reader, reader.plan(), columns)
    finally:
        reader.close()
    props = effective_tags(cfg, asset, columns, detected, source_tags)
    labels = column_tags(cfg, asset, columns, detected, source_tags)
    return {
        "job": str(job.path),
        "pii_detection": pii_detection_enabled(cfg),
        "precedence": ["detected", "source", "asset", "job"],
        "properties": {k: t.to_dict() for k, t in sorted(props.items())},
        "columns": {c: labels[c].to_dict() for c in columns if c in labels},
        "detected": {c: f.to_dict() for c, f in detected.items()},
        "source_tags": source_tags,
    }
