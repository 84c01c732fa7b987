#!/usr/bin/env python
"""dlt's side of scripts/bench_sql.py: one database table loaded into Iceberg by dlt.

Runs in its own venv (dlt is not a dependency of dativo), started by bench_sql.py --dlt PYTHON:

    python -m venv /tmp/dltvenv
    /tmp/dltvenv/bin/pip install "dlt[pyiceberg]" psycopg2-binary connectorx pymysql
    /tmp/dltvenv/bin/python scripts/bench_sql_dlt.py --dsn URL --schema S --table T --work DIR

dlt's sql_table source with the connectorx backend (dlt's fastest, Arrow end to end) into the
filesystem destination with `table_format="iceberg"`, write disposition append, as dlt's docs
describe. Prints one JSON line: {"rows": N}.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import dlt
from dlt.sources.sql_database import sql_table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True, help="SQLAlchemy URL (postgresql://..., mysql+pymysql://...)")
    parser.add_argument("--schema", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--backend", default="connectorx", choices=["connectorx", "pyarrow"])
    args = parser.parse_args()
    items = sql_table(
        credentials=args.dsn,
        schema=args.schema,
        table=args.table,
        backend=args.backend,
        chunk_size=100_000,
        # connectorx reads with its own driver: the URL without SQLAlchemy's driver suffix
        backend_kwargs={"conn": args.dsn.replace("+pymysql", "").replace("+psycopg2", "")}
        if args.backend == "connectorx"
        else {},
    )
    items.apply_hints(write_disposition="append", table_format="iceberg")
    pipeline = dlt.pipeline(
        pipeline_name="bench_sql",
        destination=dlt.destinations.filesystem(bucket_url=(args.work / "bucket").as_uri()),
        dataset_name="bench",
        pipelines_dir=str(args.work / "pipelines"),
    )
    pipeline.run(items)
    rows = pipeline.last_trace.last_normalize_info.row_counts.get(args.table, 0)
    print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
