"""The reader of a compaction run: a group of the table's own data files, read as table rows.

`dativo maintain --compact` plans groups of small files (dativo_workers/maintenance.py) and
records them as a run whose source is this reader; every partition then goes through the
usual ingest (conform, fragment writer at `file_size_mb`) and the usual commit, which replaces
exactly these files. The files are read through pyiceberg with the table's schema as of
planning (renamed or added columns resolved by field id), from the manifest entries that list
them, so the reader needs no catalog: only the metadata file and the table's storage.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io import load_file_io
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.manifest import ManifestFile
from pyiceberg.serializers import FromInputFile
from pyiceberg.table import FileScanTask

from dativo_workers.plugins.base import DataReader, Partition

PLUGIN_PATH = "dativo_workers.compaction_reader.TableFilesReader"


class TableFilesReader(DataReader):
    """Settings: ``metadata_location`` (the table metadata the compaction was planned on).
    A partition's spec: ``files`` (data file paths) and ``manifests`` ([path, partition spec id] of the
    manifests listing them)."""

    name = "dativo_table_files"
    description = "an Iceberg table's own data files (the source of `dativo maintain --compact`)"

    def __init__(self, config: Any, context: Any) -> None:
        super().__init__(config, context)
        self.storage: dict[str, str] = {}

    def use_table_storage(self, storage: dict[str, str]) -> None:
        """The catalog's storage properties (credentials resolved on this worker, never stored)."""
        self.storage = dict(storage)

    def read(self, partition: Partition, schema: pa.Schema | None) -> Iterator[pa.RecordBatch]:
        location = self.config["metadata_location"]
        io = load_file_io(self.storage, location)
        metadata = FromInputFile.table_metadata(io.new_input(location))
        io = load_file_io({**self.storage, **metadata.properties}, metadata.location)
        wanted = set(partition.spec["files"])
        tasks: dict[str, FileScanTask] = {}
        for manifest_path, spec_id in partition.spec["manifests"]:
            manifest = ManifestFile.from_args(
                manifest_path=manifest_path, partition_spec_id=spec_id, sequence_number=0, added_snapshot_id=0
            )
            for entry in manifest.fetch_manifest_entry(io, discard_deleted=True):
                if entry.data_file.file_path in wanted:
                    tasks[entry.data_file.file_path] = FileScanTask(entry.data_file)
        missing = sorted(wanted - set(tasks))
        if missing:
            raise FileNotFoundError(f"{missing[0]}: not listed in the table's manifests any more")
        scan = ArrowScan(metadata, io, metadata.schema(), AlwaysTrue())
        for path in partition.spec["files"]:  # in plan order: the same rows in the same order every attempt
            yield from scan.to_record_batches([tasks[path]])

    def describe_position(self, partition: Partition, row_in_partition: int) -> str:
        return f"compaction group {partition.index} ({len(partition.spec['files'])} files), row {row_in_partition + 1}"
