"""A real SQL catalog with injected faults, loaded through pyiceberg's `py-catalog-impl`.

Faults are queued in a JSON file named by the catalog property `fault-file`, so the producer,
pool processes and worker processes of one test all draw from the same queue:
`{"commit": ["land-then-raise", ...], "load": ["raise", ...]}`; each call takes the next entry
of its kind ("ok" or no entry: behave normally). `land-then-blackout:N` lands the commit, then
fails it and the next N table loads.
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path
from typing import Any

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitStateUnknownException
from sqlalchemy.exc import OperationalError


def queue_faults(path: Path, **faults: list[str]) -> None:
    path.write_text(json.dumps(faults))


def remaining_faults(path: Path) -> dict[str, list[str]]:
    return json.loads(path.read_text())


def _lost_acknowledgement() -> OperationalError:
    return OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))


class FaultyCatalog(SqlCatalog):
    def __init__(self, name: str, **properties: str) -> None:
        self._fault_file = Path(properties.pop("fault-file"))
        super().__init__(name, **properties)

    def _next(self, kind: str, push: list[str] | None = None) -> str:
        """Take the next fault of ``kind`` (or queue ``push`` in front of that kind's faults)."""
        with self._fault_file.open("r+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            faults = json.load(handle)
            queue = faults.setdefault(kind, [])
            if push is not None:
                queue[:0] = push
                fault = ""
            else:
                fault = queue.pop(0) if queue else "ok"
            handle.seek(0)
            handle.truncate()
            json.dump(faults, handle)
        return fault

    def load_table(self, identifier: Any) -> Any:
        if self._next("load") == "raise":
            raise _lost_acknowledgement()
        return super().load_table(identifier)

    def commit_table(self, table: Any, requirements: Any, updates: Any) -> Any:
        fault = self._next("commit")
        response = super().commit_table(table, requirements, updates)
        if fault.startswith("land-then-blackout:"):  # after landing, the catalog stops answering reads
            self._next("load", push=["raise"] * int(fault.split(":")[1]))
        if fault == "land-then-raise" or fault.startswith("land-then-blackout:"):
            # the catalog applied it; the client never hears so
            raise _lost_acknowledgement()
        if fault == "land-then-unknown":
            raise CommitStateUnknownException("read timeout after the commit was sent")
        return response
