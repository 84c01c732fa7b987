"""A real SQL catalog whose next commit waits, so a test can kill the process committing it.

Loaded through pyiceberg's `py-catalog-impl` by every process of a test (producer, workers).
When the file named by the catalog property `pause-file` exists, the next `commit_table` takes
it (deletes it), writes its process id to `<pause-file>.pid` and sleeps the seconds the file
held before committing. Everything the commit prepared (a merge's rewritten files, manifests)
is on storage by then: a kill lands mid-commit.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from pyiceberg.catalog.sql import SqlCatalog


class PausingCatalog(SqlCatalog):
    def __init__(self, name: str, **properties: str) -> None:
        self._pause_file = Path(properties.pop("pause-file"))
        super().__init__(name, **properties)

    def commit_table(self, table: Any, requirements: Any, updates: Any) -> Any:
        try:
            seconds = float(self._pause_file.read_text() or 0)
            self._pause_file.unlink()
        except FileNotFoundError:
            seconds = 0.0  # no pause asked for (or another process took it)
        if seconds:
            Path(f"{self._pause_file}.pid").write_text(str(os.getpid()))
            time.sleep(seconds)
        return super().commit_table(table, requirements, updates)
