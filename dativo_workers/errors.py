"""Error types the CLI maps to exit codes and clear messages."""

from __future__ import annotations

from typing import Any


class DativoError(Exception):
    """Base for errors reported to the user without a traceback."""

    exit_code = 2


class ConfigError(DativoError):
    """A job, asset or runner file is wrong. Names the file, the key path and the line."""

    def __init__(self, message: str, *, file: str | None = None, problems: list[str] | None = None) -> None:
        self.file = file
        self.problems = problems or []
        text = message if not problems else message + "\n" + "\n".join(f"  - {p}" for p in problems)
        super().__init__(text)


class SourceError(DativoError):
    """The source cannot be read as configured (missing file, unreadable, bad option)."""


class BadDataError(DativoError):
    """Rows that do not fit the schema under `bad_rows: fail`, or more than `bad_rows.max`."""


class SchemaChangeError(DativoError):
    """The source changed a column's type in a way the table cannot take; found while planning,
    so nothing was written. ``run_id``: the failed run recorded in the ledger, once it is."""

    def __init__(self, message: str, columns: list[dict[str, str]]) -> None:
        self.columns = columns  # [{"column", "table_type", "source_type"}]
        self.run_id: str | None = None
        self.changes: dict[str, Any] | None = None  # the refused run's schema_changes, when not only `rejected`
        super().__init__(message)


class CommitError(DativoError):
    """The run could not be committed to the catalog."""


class CommitOutcomeUnknown(CommitError):
    """The commit failed and the table could not be read back to tell whether it landed anyway.

    The run stays `committing`: the reconciler (or `dativo retry`) looks again later."""

    exit_code = 3


class TransientError(DativoError):
    """Worth retrying: the same input may succeed later (a plugin may raise it explicitly)."""


class PluginError(DativoError):
    """An exception raised inside a reader or writer plugin, reported with the plugin's name.

    Retried like the original would be: ``cause`` is the plugin's own exception."""

    def __init__(self, plugin: str, cause: BaseException) -> None:
        self.plugin = plugin
        self.cause = cause
        detail = str(cause) if isinstance(cause, DativoError) else f"{type(cause).__name__}: {cause}"
        super().__init__(f"plugin {plugin}: {detail}")
