"""What the dashboard shows, read from the ledger and the catalog (never written)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from dativo_workers.config.runner import RunnerConfig
from dativo_workers.iceberg import RUN_ID_PROPERTY, TablePlan, load_table, open_catalog
from dativo_workers.ledger import Ledger
from dativo_workers.pipeline import run_summary
from dativo_workers.secrets import describe_error
from dativo_workers.storage import catalog_properties
from dativo_workers.writers import writer_plan

ACTIVE_STATES = ("pending", "running", "committing")
CLASSIFICATION = "dativo.classification."
TABLE_ROWS = 500  # partitions listed in a run page's table (the timeline has them all)


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts else None


def schema_rows(changes: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """The run's schema changes as (kind, column, detail) rows, whatever kinds the summary holds."""
    rows = []
    for kind, entries in (changes or {}).items():
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if isinstance(entry, dict):
                detail = ", ".join(f"{k} {v}" for k, v in entry.items() if k != "column")
                rows.append((kind, str(entry.get("column", "")), detail))
            else:
                rows.append((kind, str(entry), ""))
    return rows


class Dashboard:
    """Read-only views over one ledger and the runner's catalogs."""

    def __init__(self, runner: RunnerConfig, ledger: Ledger, tenant: str | None = None) -> None:
        self.runner = runner
        self.ledger = ledger
        self.tenant = tenant  # only this tenant's runs (dativo ui --tenant)

    def runs(self, tenant: str | None = None, job: str | None = None, state: str | None = None, limit: int = 100):
        """Run summaries, newest first, with a progress fraction for the live listing."""
        if self.tenant and tenant and tenant != self.tenant:
            return []
        rows = self.ledger.list_runs(self.tenant or tenant, limit if not (job or state) else max(limit, 500))
        found = []
        for row in rows:
            if (job and row["job_name"] != job) or (state and row["state"] != state):
                continue
            summary = run_summary(self.ledger, row["run_id"])
            summary["created_at"] = row["created_at"]
            total = summary["partitions_total"] or 0
            finished = summary["partitions_done"] + summary["partitions_failed"]
            summary["progress"] = round(finished / total, 4) if total else 1.0
            summary["progress_done"] = round(summary["partitions_done"] / total, 4) if total else 1.0
            summary["progress_failed"] = round(summary["partitions_failed"] / total, 4) if total else 0.0
            summary["active"] = summary["state"] in ACTIVE_STATES
            found.append(summary)
            if len(found) >= limit:
                break
        return found

    def run(self, run_id: str) -> dict[str, Any] | None:
        row = self.ledger.run(run_id)
        if row is None or (self.tenant and row["tenant"] != self.tenant):
            return None
        summary = run_summary(self.ledger, run_id)
        now = time.time()
        parts = []
        for p in self.ledger.partitions(run_id):
            end = p["finished_at"] or (now if p["state"] == "running" else None)
            parts.append(
                {
                    "idx": p["idx"],
                    "label": p["label"],
                    "state": p["state"],
                    "attempts": p["attempts"],
                    "rows": p["rows"],
                    "bytes": p["bytes"],
                    "bad_rows": p["bad_rows"],
                    "error": p["error"],
                    "worker": p["worker"],
                    "started_at": p["started_at"],
                    "finished_at": p["finished_at"],
                    "started": _iso(p["started_at"]),
                    "duration_s": round(end - p["started_at"], 3) if end and p["started_at"] else None,
                }
            )
        summary["partitions"] = parts
        # the table lists every failed or retried partition and the first ones up to TABLE_ROWS
        shown = [p for p in parts if p["idx"] < TABLE_ROWS or p["state"] == "failed" or p["attempts"] > 1]
        summary["partition_rows"] = shown[: TABLE_ROWS * 2]
        summary["schema_rows"] = schema_rows(summary["schema_changes"])
        summary["created_at"] = row["created_at"]
        summary["table_info"] = self.table_info(row)
        return summary

    def table_info(self, run: dict[str, Any]) -> dict[str, Any]:
        """The run's table: snapshots with their run tags, columns with their governance tags."""
        plan = json.loads(run["plan_json"])
        writer = writer_plan(plan)
        if writer is not None and writer.output is not None:
            return {"error": "a writer target: files, no Iceberg table"}
        try:
            storage = catalog_properties(self.runner.catalog(run["catalog"]), run["tenant"])
            identifier = TablePlan.from_dict(plan["table"]).identifier
            table = load_table(open_catalog(run["catalog"], storage), identifier)
        except Exception as exc:  # the catalog may be unreachable: the ledger's view still shows
            return {"error": f"catalog {run['catalog']}: {describe_error(exc)}"}
        if table is None:
            return {"error": "the table does not exist (yet)"}
        props = dict(table.properties)
        default = props.get(CLASSIFICATION + "default")
        columns = [
            {
                "name": field.name,
                "type": str(field.field_type),
                "required": field.required,
                "classification": props.get(CLASSIFICATION + field.name, default),
                "doc": field.doc,
            }
            for field in table.schema().fields
        ]
        snapshots = []
        for snap in reversed(table.snapshots()):
            summary = snap.summary
            extra = dict(summary.additional_properties) if summary is not None else {}
            snapshots.append(
                {
                    "snapshot_id": snap.snapshot_id,
                    "time": _iso(snap.timestamp_ms / 1000),
                    "operation": str(summary.operation.value) if summary is not None else "",
                    "run_id": extra.get(RUN_ID_PROPERTY),
                    "added_records": extra.get("added-records"),
                    "tags": {
                        k: v for k, v in sorted(extra.items()) if k.startswith("dativo.") and k != RUN_ID_PROPERTY
                    },
                }
            )
        governance = {
            k: v for k, v in sorted(props.items()) if k.startswith("dativo.") and not k.startswith(CLASSIFICATION)
        }
        return {"columns": columns, "snapshots": snapshots[:50], "governance": governance, "error": None}

    def job(self, tenant: str, job: str) -> list[dict[str, Any]]:
        """The job's runs, oldest first, with throughput (rows per second)."""
        runs = self.runs(tenant, job, limit=200)
        for r in runs:
            r["rows_per_s"] = round(r["rows"] / r["duration_s"], 1) if r["duration_s"] else 0.0
        return list(reversed(runs))
