"""Google Sheets source: a sheet range to a table (Sheets API v4 values endpoint) with header
detection and typed columns, or a Drive file exported as CSV; service-account auth. See docs/saas.md.

Registered through the ``dativo`` entry point group like any third-party plugin.
"""

from __future__ import annotations

from dativo_plugins.google_sheets.reader import GoogleSheetsConnection, GoogleSheetsOptions, GoogleSheetsReader
from dativo_workers.plugins import DataReader, hookimpl

__all__ = ["GoogleSheetsConnection", "GoogleSheetsOptions", "GoogleSheetsReader", "dativo_readers"]


@hookimpl
def dativo_readers() -> list[type[DataReader]]:
    return [GoogleSheetsReader]
