"""The `google_sheets` reader: a sheet range to a table through the Sheets API v4 values endpoint,
or a Drive file exported as CSV; service-account auth. One partition per range or file."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from functools import cached_property
from urllib.parse import quote

import pyarrow as pa
import pyarrow.csv as pacsv
from pydantic import Field, SecretStr

from dativo_plugins.google_sheets.auth import DRIVE_SCOPE, SHEETS_SCOPE, GoogleServiceAccount
from dativo_plugins.google_sheets.values import cast_to, header_names, json_column, text_column
from dativo_plugins.rest_api.config import HttpRetryOptions
from dativo_plugins.rest_api.http import HttpClient, HttpError
from dativo_workers.errors import ConfigError, DativoError, SourceError
from dativo_workers.plugins import (
    DataReader,
    DiscoveredObject,
    Partition,
    PluginSettings,
    ReaderConversionError,
    SourceContext,
)

VALUE_PARAMS = {
    "valueRenderOption": "UNFORMATTED_VALUE",  # numbers as numbers, not as the cell's display
    "dateTimeRenderOption": "FORMATTED_STRING",  # dates as text (a serial number would pass for a number)
    "majorDimension": "ROWS",
}


class GoogleSheetsConnection(PluginSettings):
    """`source.connection` of a Google Sheets job."""

    service_account_key: SecretStr = Field(
        description="the service account's key JSON, as ${secret:NAME}; share the sheet with its e-mail",
        json_schema_extra={"secret": True},
    )
    spreadsheet_id: str | None = Field(
        None, description="the spreadsheet's id (in its URL, /d/<id>/); tables name its sheets or A1 ranges"
    )
    token_url: str | None = Field(None, description="override the key's token_uri")
    sheets_url: str = Field("https://sheets.googleapis.com", description="Sheets API root")
    drive_url: str = Field("https://www.googleapis.com", description="Drive API root")


class GoogleSheetsOptions(HttpRetryOptions):
    """`source.options` of a Google Sheets job."""

    drive: bool = False  # tables name Drive file ids, exported as CSV
    header_row: int = Field(1, ge=0)  # the row of the range holding the names (0: none, column_1...)
    batch_size: int = Field(50_000, ge=1)
    timeout_seconds: float = Field(120.0, gt=0)
    # rate_limit {requests_per_second, burst, redis_url, key}: pace each process, or with redis_url the
    # whole fleet (the Sheets quota is per project and per service account); key default: tenant and account


class GoogleSheetsReader(DataReader):
    name = "google_sheets"
    config_model = GoogleSheetsOptions
    description = "Google Sheets ranges (Sheets API v4 values) or Drive files exported as CSV"
    source_list = "tables"
    connection_model = GoogleSheetsConnection
    config: GoogleSheetsOptions

    def __init__(self, config: PluginSettings, context: SourceContext) -> None:
        super().__init__(config, context)
        self.connection = self.validated_connection()
        if context.incremental:
            raise ConfigError(
                "source.incremental: a sheet has no change cursor; load it whole with `target.mode: overwrite`, "
                "or `mode: merge` on a key column"
            )
        self._client: HttpClient | None = None
        self._cache: dict[str, pa.Table] = {}

    @property
    def spreadsheet_id(self) -> str:
        sid = self.connection.spreadsheet_id
        if self.config.drive == bool(sid):
            raise ConfigError(
                "source: set `connection.spreadsheet_id` (tables name its sheets or ranges such as `Orders` or "
                "`Orders!A1:F`) or `options.drive: true` (tables name Drive file ids, exported as CSV), one of the two"
            )
        return str(sid or "")

    @cached_property
    def item(self) -> str:
        names = [str(t.get("name")) for t in self.context.tables]
        if len(names) != 1:
            raise ConfigError(
                "source.tables: name one range (or Drive file id) per table, e.g. `tables: [{name: Orders}]`; "
                'for several, list them and set `target.table: "{object}"`'
                if names
                else "source.tables: name the range to load, e.g. `tables: [{name: Orders}]` (a sheet) or "
                "`[{name: Orders!A1:F, object: orders}]`"
            )
        return names[0]

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            cfg, conn = self.config, self.connection
            scope = DRIVE_SCOPE if cfg.drive else SHEETS_SCOPE
            auth = GoogleServiceAccount(conn.service_account_key, scope, conn.token_url)
            self._client = HttpClient(
                conn.drive_url if cfg.drive else conn.sheets_url,
                auth,
                retry=cfg.retry_settings(),
                rate_limiter=cfg.rate_limiter(f"{self.context.tenant_id}:google_sheets:{auth.account}"),
                timeout=cfg.timeout_seconds,
                source_name="google_sheets",
                # Drive (and older Google APIs) answer a per-minute quota with 403, not 429
                throttle_codes=("rateLimitExceeded", "userRateLimitExceeded"),
                rate_limit_codes=("dailyLimitExceeded",),
            )
        return self._client

    def lineage_inputs(self) -> list[tuple[str, str]]:
        if self.config.drive:
            return [
                (self.connection.drive_url.rstrip("/"), f"drive/v3/files/{t.get('name')}") for t in self.context.tables
            ]
        sid = self.spreadsheet_id
        return [
            (self.connection.sheets_url.rstrip("/"), f"spreadsheets/{sid}/{t.get('name')}") for t in self.context.tables
        ]

    # -- fetching ----------------------------------------------------------------------

    def _table(self, item: str) -> pa.Table:
        """The range (or file) as a typed table, types inferred from every value."""
        self.spreadsheet_id  # noqa: B018 - one of the two is set
        if item not in self._cache:
            self._cache[item] = self._drive_csv(item) if self.config.drive else self._values(item)
        return self._cache[item]

    def _values(self, rng: str) -> pa.Table:
        path = f"/v4/spreadsheets/{quote(str(self.spreadsheet_id), safe='')}/values/{quote(rng, safe='')}"
        try:
            body = self.client.request_json("GET", path, params=VALUE_PARAMS, resource=rng)
        except HttpError as exc:
            if exc.status_code in (400, 404):
                raise SourceError(f"{exc} (is {rng!r} a sheet name or A1 range of the spreadsheet?)") from None
            raise
        rows = body.get("values") if isinstance(body, dict) else None
        if rows is None:
            rows = []
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise SourceError(f"google_sheets {rng}: GET values: `values` is not a list of rows")
        header_row = self.config.header_row
        header = rows[header_row - 1] if header_row and len(rows) >= header_row else []
        data = rows[header_row:] if header_row else rows
        width = max([len(header), *(len(r) for r in data)]) if (header or data) else 0
        names = header_names(header, width)
        columns = []
        for i in range(width):  # ragged rows: the cells a row lacks are null
            columns.append(json_column([r[i] if i < len(r) else None for r in data]))
        if not width:
            raise SourceError(f"google_sheets {rng}: the range is empty (not even a header row)")
        return pa.Table.from_arrays(columns, names=names)

    def _drive_csv(self, file_id: str) -> pa.Table:
        path = f"/drive/v3/files/{quote(file_id, safe='')}/export"
        response = self.client.request("GET", path, params={"mimeType": "text/csv"}, resource=file_id)
        content = response.content
        header_row = self.config.header_row
        lines = io.StringIO(content.decode("utf-8-sig", errors="strict"))
        first: list[str] = []
        for number, row in enumerate(csv.reader(lines), start=1):
            if number == max(header_row, 1):
                first = row
                break
        if not first:
            raise SourceError(f"google_sheets {file_id}: the CSV export is empty (not even a header row)")
        names = header_names(first if header_row else [], len(first))
        try:
            table = pacsv.read_csv(
                io.BytesIO(content),
                read_options=pacsv.ReadOptions(column_names=names, skip_rows=header_row, encoding="utf8"),
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.string() for n in names}, strings_can_be_null=False
                ),
            )
        except pa.ArrowInvalid as exc:
            raise SourceError(f"google_sheets {file_id}: the CSV export cannot be read: {exc}") from None
        return pa.Table.from_arrays([text_column(table.column(n).combine_chunks()) for n in names], names=names)

    # -- the contract --------------------------------------------------------------------

    def plan(self) -> list[Partition]:
        kind = "drive file" if self.config.drive else "range"
        return [Partition(index=0, spec={"item": self.item}, label=f"google_sheets {kind} {self.item}")]

    def schema(self) -> pa.Schema:
        return self._table(self.item).schema

    def read(self, partition: Partition, schema: pa.Schema | None) -> Iterator[pa.RecordBatch]:
        table = self._table(str(partition.spec["item"]))
        if schema is not None:  # the asset's (or table's) types win over the inferred ones
            arrays = []
            for name in table.column_names:
                column = table.column(name).combine_chunks()
                index = schema.get_field_index(name)
                if index >= 0:
                    try:
                        column = cast_to(column, schema.field(index).type)
                    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                        # the engine re-reads the range as text (read_untyped) and applies `bad_rows`
                        raise ReaderConversionError(
                            f"column {name!r} does not fit {schema.field(index).type}: {exc}"
                        ) from None
                arrays.append(column)
            table = pa.Table.from_arrays(arrays, names=table.column_names)
        yield from table.to_batches(self.config.batch_size)

    def read_untyped(self, partition: Partition, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        """Every column as the text of its values, for the engine to find the rows that do not convert."""
        table = self._table(str(partition.spec["item"]))
        arrays = [cast_to(table.column(n).combine_chunks(), pa.string()) for n in table.column_names]
        yield from pa.Table.from_arrays(arrays, names=table.column_names).to_batches(self.config.batch_size)

    def discover(self) -> list[DiscoveredObject]:
        if self.config.drive:
            return [DiscoveredObject(name=str(t.get("name")), kind="file") for t in self.context.tables]
        path = f"/v4/spreadsheets/{quote(str(self.spreadsheet_id), safe='')}"
        body = self.client.request_json("GET", path, params={"fields": "sheets.properties"}, resource="spreadsheet")
        found = []
        for sheet in body.get("sheets") or []:
            props = sheet.get("properties") or {}
            grid = props.get("gridProperties") or {}
            found.append(
                DiscoveredObject(
                    name=str(props.get("title")),
                    kind="object",
                    row_estimate=grid.get("rowCount"),
                    details={"sheet_id": props.get("sheetId"), "columns": grid.get("columnCount")},
                )
            )
        return found

    def check(self) -> list[str]:
        try:
            self._table(self.item)
        except DativoError as exc:
            return [str(exc)]
        return []

    def describe_position(self, partition: Partition, row_in_partition: int) -> str:
        offset = self.config.header_row + 1 if self.config.header_row else 1
        return f"{partition.label}, row {row_in_partition + offset}"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


__all__ = ["GoogleSheetsConnection", "GoogleSheetsOptions", "GoogleSheetsReader"]
