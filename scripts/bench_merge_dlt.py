#!/usr/bin/env python
"""dlt's side of scripts/bench_merge.py: the same PostgreSQL table merged into Iceberg by dlt.

Runs in its own venv (dlt is not a dependency of dativo), started by bench_merge.py --dlt:

    python -m venv /tmp/dltvenv && /tmp/dltvenv/bin/pip install "dlt[pyiceberg]" psycopg2-binary
    /tmp/dltvenv/bin/python scripts/bench_merge_dlt.py --dsn ... --schema ... --work DIR [--initial]

One call is one `pipeline.run`: dlt's sql_table source (pyarrow backend, incremental on
updated_at, primary key id) into the filesystem destination with `table_format="iceberg"`,
write disposition merge (strategy upsert), as dlt's docs describe. ``--initial`` loads with
`append` instead: dlt's Iceberg merge upserts in batches of 1,000 rows, which for a whole table
would take far longer than the merges measured here (the table is empty either way).
Prints one JSON line: rows loaded, snapshots added, data files deleted/added by the run (over
all its snapshots: a file may be rewritten several times), the table's files before it, and its
record and file totals after it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import dlt
from dlt.sources.sql_database import sql_table
from pyiceberg.table import StaticTable


def table_state(bucket: Path) -> tuple[list[Any], dict[str, str]]:
    metadata = sorted(
        (bucket / "bench" / "items" / "metadata").glob("*.metadata.json"), key=lambda p: p.stat().st_mtime
    )
    if not metadata:
        return [], {}
    table = StaticTable.from_metadata(metadata[-1].as_uri())
    snapshot = table.current_snapshot()
    return table.snapshots(), (snapshot.summary.additional_properties if snapshot and snapshot.summary else {})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--initial", action="store_true")
    args = parser.parse_args()
    bucket = args.work / "bucket"
    before, before_summary = table_state(bucket)
    known = {s.snapshot_id for s in before}

    items = sql_table(
        credentials=args.dsn,
        schema=args.schema,
        table="items",
        backend="pyarrow",
        chunk_size=100_000,
        incremental=dlt.sources.incremental("updated_at"),
    )
    disposition: Any = "append" if args.initial else {"disposition": "merge", "strategy": "upsert"}
    items.apply_hints(primary_key="id", write_disposition=disposition, table_format="iceberg")
    pipeline = dlt.pipeline(
        pipeline_name="bench_merge",
        destination=dlt.destinations.filesystem(bucket_url=bucket.as_uri()),
        dataset_name="bench",
        pipelines_dir=str(args.work / "pipelines"),
    )
    pipeline.run(items)
    rows = sum(pipeline.last_trace.last_normalize_info.row_counts.get(t, 0) for t in ("items",))

    after, summary = table_state(bucket)
    new = [s for s in after if s.snapshot_id not in known]
    props = [s.summary.additional_properties if s.summary else {} for s in new]
    print(
        json.dumps(
            {
                "rows": rows,
                "snapshots": len(new),
                "files_deleted": sum(int(p.get("deleted-data-files", 0)) for p in props),
                "files_added": sum(int(p.get("added-data-files", 0)) for p in props),
                "records": int(summary.get("total-records", 0)),
                "files": int(summary.get("total-data-files", 0)),
                "files_before": int(before_summary.get("total-data-files", 0)),
            }
        )
    )


if __name__ == "__main__":
    main()
