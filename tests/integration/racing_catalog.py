"""A real SQL catalog whose next commit loses a race against another writer.

Loaded through pyiceberg's `py-catalog-impl`. When the file named by the catalog property
`race-file` exists, the next `commit_table` takes it (deletes it) and, before committing,
appends the Parquet file it names to the same table through a second catalog instance: a
concurrent writer that commits first, so the commit in hand meets a newer table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pyiceberg.catalog.sql import SqlCatalog


class RacingCatalog(SqlCatalog):
    def __init__(self, name: str, **properties: str) -> None:
        self._race_file = Path(properties.pop("race-file"))
        super().__init__(name, **properties)

    def commit_table(self, table: Any, requirements: Any, updates: Any) -> Any:
        try:
            rows = self._race_file.read_text()
            self._race_file.unlink()
        except FileNotFoundError:
            rows = ""
        if rows:
            other = SqlCatalog(self.name, **{k: v for k, v in self.properties.items() if k != "py-catalog-impl"})
            other.load_table(table.name()).append(pq.read_table(rows))
        return super().commit_table(table, requirements, updates)
