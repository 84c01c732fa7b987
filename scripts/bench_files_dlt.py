#!/usr/bin/env python
"""dlt's side of `scripts/bench.py --all` for files: one CSV, JSON lines or Parquet file loaded
into Iceberg by dlt.

Runs in its own venv (dlt is not a dependency of dativo), started by bench.py --all --dlt PYTHON:

    python -m venv /tmp/dltvenv
    /tmp/dltvenv/bin/pip install "dlt[pyiceberg]" psycopg2-binary connectorx pymysql
    /tmp/dltvenv/bin/python scripts/bench_files_dlt.py --format csv --file F --schema S.arrow --work DIR

dlt's Arrow path: the file is read with pyarrow in streaming batches, exactly as the raw loop of
bench.py reads it (``pyarrow.csv.open_csv`` / ``pyarrow.json.open_json`` with the table's column
types, the JSON dates read as text and cast / ``ParquetFile.iter_batches``), and the Arrow
batches are yielded from a dlt resource with ``write_disposition="append"`` and
``table_format="iceberg"``, into the filesystem destination on a local bucket directory, set up
like scripts/bench_sql_dlt.py. This rather than dlt's ``filesystem`` source readers: its
``read_jsonl`` yields Python dicts and its ``read_csv`` goes through pandas (or DuckDB), so only
``read_parquet`` would stay in Arrow; the same pyarrow readers for every format keep the three
paths comparable with each other and with the raw loop.

The column types come from ``--schema``, an Arrow IPC schema written by bench.py (its table's
types), so both sides parse the same types without this script importing bench.py (which needs
the dativo venv). Prints one JSON line: {"rows": N}.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import dlt
import pyarrow as pa

TABLE = "events"


def batches(fmt: str, path: Path, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The file as Arrow record batches with ``schema``'s types, streamed."""
    if fmt == "csv":
        import pyarrow.csv as pacsv

        yield from pacsv.open_csv(str(path), convert_options=pacsv.ConvertOptions(column_types=schema))
    elif fmt == "jsonl":
        import pyarrow.compute as pc
        import pyarrow.json as pajson

        # pyarrow's JSON parser takes dates only as numbers: read them as text and cast (as the raw loop)
        dates = {f.name for f in schema if pa.types.is_date(f.type)}
        parse = pa.schema([pa.field(f.name, pa.string() if f.name in dates else f.type) for f in schema])
        for batch in pajson.open_json(str(path), parse_options=pajson.ParseOptions(explicit_schema=parse)):
            columns = [pc.cast(batch[f.name], f.type) if f.name in dates else batch[f.name] for f in schema]
            yield pa.RecordBatch.from_arrays(columns, schema=schema)
    else:
        import pyarrow.parquet as pq

        yield from pq.ParquetFile(str(path)).iter_batches()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--format", required=True, choices=["csv", "jsonl", "parquet"])
    parser.add_argument("--file", required=True, type=Path)
    parser.add_argument("--schema", required=True, type=Path, help="an Arrow IPC schema file (the column types)")
    parser.add_argument("--work", required=True, type=Path)
    args = parser.parse_args()
    schema = pa.ipc.read_schema(pa.OSFile(str(args.schema)))

    @dlt.resource(name=TABLE, write_disposition="append", table_format="iceberg")
    def events() -> Iterator[pa.RecordBatch]:
        yield from batches(args.format, args.file, schema)

    pipeline = dlt.pipeline(
        pipeline_name=f"bench_files_{args.format}",
        destination=dlt.destinations.filesystem(bucket_url=(args.work / "bucket").as_uri()),
        dataset_name="bench",
        pipelines_dir=str(args.work / "pipelines"),
    )
    pipeline.run(events())
    rows = pipeline.last_trace.last_normalize_info.row_counts.get(TABLE, 0)
    print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
