"""A real SQL catalog whose next commit waits, so a test can kill the process committing it.

Loaded through pyiceberg's `py-catalog-impl` by every process of a test (producer, workers).
When the file named by the catalog property `pause-file` exists, the next `commit_table` takes
it (deletes it), writes its process id to `<pause-file>.pid` and sleeps the seconds the file
held before committing. Everything the commit prepared (a merge's rewritten files, manifests)
is on storage by then: a kill lands mid-commit.

`pause-rewrite-file` does the same in the `load_table` of a merge's rewrite partition (a worker
about to rewrite a touched file), so a test can kill a worker in the middle of one.
"""

from __future__ import annotations

import inspect
import os
import time
from pathlib import Path
from typing import Any

from pyiceberg.catalog.sql import SqlCatalog


class PausingCatalog(SqlCatalog):
    def __init__(self, name: str, **properties: str) -> None:
        self._pause_file = Path(properties.pop("pause-file"))
        rewrite = properties.pop("pause-rewrite-file", None)
        self._pause_rewrite = Path(rewrite) if rewrite else None
        super().__init__(name, **properties)

    def load_table(self, identifier: Any) -> Any:
        if self._pause_rewrite is not None and any(f.function == "_merge_rewrite" for f in inspect.stack()):
            _pause(self._pause_rewrite)
        return super().load_table(identifier)

    def commit_table(self, table: Any, requirements: Any, updates: Any) -> Any:
        _pause(self._pause_file)
        return super().commit_table(table, requirements, updates)


def _pause(file: Path) -> None:
    try:
        seconds = float(file.read_text() or 0)
        file.unlink()
    except FileNotFoundError:
        seconds = 0.0  # no pause asked for (or another process took it)
    if seconds:
        Path(f"{file}.pid").write_text(str(os.getpid()))
        time.sleep(seconds)
