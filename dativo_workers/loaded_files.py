"""`source.incremental: {mode: new_files}`: the set of files a job has loaded, kept with its table.

The set is one Parquet file (`key`, `size`, `mtime_ns`, `run_id`: every file any committed run of
the job loaded) written under the run's data directory, `<table>/data/<run_id>/`, and named in the
run's snapshot summary (`dativo.state.<tenant>.<job>.files.listing`, with `...files.count`). Each
run that loads files writes a new one: the previous set plus its own files. So the set commits
with the data and rolls back with it (the state lookup finds the listing of the snapshot it
stops at), a million keys cost a file of a few MB rather than a summary of a million entries,
and a file is "new" when its key is absent, whatever its timestamp.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from dativo_workers.errors import DativoError
from dativo_workers.fragments import run_data_dir
from dativo_workers.storage import StoredFile, filesystem, make_parent_dir

LISTING_KEY = "files.listing"  # state key (after the job's prefix): the listing file's URI
COUNT_KEY = "files.count"  # how many files the listing holds
LISTING_NAME = "_dativo_loaded_files.parquet"
SCHEMA = pa.schema([("key", pa.string()), ("size", pa.int64()), ("mtime_ns", pa.int64()), ("run_id", pa.string())])


def listing_uri(location: str, run_id: str) -> str:
    return f"{location.rstrip('/')}/{run_data_dir(run_id)}/{LISTING_NAME}"


def read_listing(state: Mapping[str, str], storage: Mapping[str, str]) -> pa.Table:
    """The files earlier committed runs loaded (empty when the job has no such state yet)."""
    uri = state.get(LISTING_KEY)
    if not uri:
        return SCHEMA.empty_table()
    fs, path = filesystem(uri, storage)
    try:
        return pq.read_table(path, filesystem=fs, schema=SCHEMA)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DativoError(
            f"the list of files loaded so far ({uri}, named by the table's state) cannot be read: {exc}; "
            "`dativo state reset JOB` forgets it (the next run loads every file)"
        ) from None


def write_listing(
    location: str, run_id: str, loaded: pa.Table, new: Sequence[StoredFile], storage: Mapping[str, str]
) -> dict[str, str]:
    """Write the files loaded so far plus ``new`` as this run's listing; the state keys naming it."""
    added = pa.table(
        {
            "key": [f.uri for f in new],
            "size": pa.array([f.size for f in new], pa.int64()),
            "mtime_ns": pa.array([f.mtime_ns for f in new], pa.int64()),
            "run_id": [run_id] * len(new),
        },
        schema=SCHEMA,
    )
    listing = pa.concat_tables([loaded.select(SCHEMA.names).cast(SCHEMA), added])
    uri = listing_uri(location, run_id)
    fs, path = filesystem(uri, storage)
    make_parent_dir(fs, path)
    pq.write_table(listing, path, filesystem=fs, compression="zstd")
    return {LISTING_KEY: uri, COUNT_KEY: str(listing.num_rows)}
