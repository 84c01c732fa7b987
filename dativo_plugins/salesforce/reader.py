"""The `salesforce` reader: any queryable sObject, its schema from `describe`, split into
`SystemModstamp` windows; each window is one SOQL query, read through the REST query API
(`nextRecordsUrl` pages) or, for large objects, a Bulk API 2.0 query job (CSV result pages)."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import itertools
import json
import re
import time
from collections.abc import Iterator
from decimal import Decimal
from functools import cached_property
from typing import Any
from urllib.parse import urlparse

import httpx
import pyarrow as pa
import pyarrow.csv as pacsv
from pydantic import Field, SecretStr

from dativo_plugins.rest_api.config import HttpRetryOptions
from dativo_plugins.rest_api.http import Auth, HttpClient, HttpError
from dativo_plugins.salesforce.auth import SalesforceJwtBearer, SalesforceRefreshToken
from dativo_plugins.salesforce.types import PII_TYPES, SfField, arrow_type, convert, describe_fields, json_text
from dativo_workers.errors import ConfigError, DativoError, SourceError, TransientError
from dativo_workers.plugins import (
    DataReader,
    DiscoveredObject,
    Partition,
    PluginSettings,
    SourceContext,
    parse_lookback,
)

CURSOR_FIELD = "SystemModstamp"
CURSOR_FIELDS = ("SystemModstamp", "LastModifiedDate", "CreatedDate")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
BULK_DONE, BULK_FAILED = "JobComplete", ("Failed", "Aborted")


# error codes of a 403 that mean "the org's API request limit is used up", not a refusal
RATE_LIMIT_CODES = ("REQUEST_LIMIT_EXCEEDED",)


class SalesforceHttp(HttpClient):
    """REQUEST_LIMIT_EXCEEDED names two limits: the org's 24-hour request total (wait for the
    quota: the partition fails as transient) and concurrent long-running requests
    (`ConcurrentPerOrgLongTxn`, `ConcurrentRequests`: freed within seconds, backed off here)."""

    def short_limit(self, response: httpx.Response) -> bool:
        return "Concurrent" in response.text[:2000] or super().short_limit(response)


class SalesforceConnection(PluginSettings):
    """`source.connection` of a Salesforce job: a connected app, JWT bearer or refresh token flow."""

    login_url: str = Field(
        "https://login.salesforce.com",
        description="OAuth host: https://login.salesforce.com, https://test.salesforce.com (sandboxes) or My Domain",
    )
    client_id: str = Field(description="the connected app's consumer key")
    username: str | None = Field(None, description="JWT bearer flow: the user the app acts as")
    private_key: SecretStr | None = Field(
        None,
        description="JWT bearer flow: the PEM RSA private key of the app's certificate, as ${secret:NAME}",
        json_schema_extra={"secret": True},
    )
    refresh_token: SecretStr | None = Field(
        None, description="refresh token flow: the refresh token, as ${secret:NAME}", json_schema_extra={"secret": True}
    )
    client_secret: SecretStr | None = Field(
        None, description="refresh token flow: the consumer secret, if the app requires it",
        json_schema_extra={"secret": True},
    )  # fmt: skip
    audience: str | None = Field(
        None,
        description="JWT bearer flow: the assertion's `aud`; default: login_url, or for a My Domain login URL "
        "https://login.salesforce.com (https://test.salesforce.com for a sandbox)",
    )
    instance_url: str | None = Field(None, description="override the token response's instance_url (a proxy)")


class SalesforceOptions(HttpRetryOptions):
    """`source.options` of a Salesforce job."""

    api_version: str = Field("62.0", pattern=r"^\d+\.\d$")
    start: int | dt.datetime | dt.date | str | None = None  # first SystemModstamp; default: the object's oldest
    end: int | dt.datetime | dt.date | str | None = None  # exclusive; default: the moment the run is planned
    window: str = "30d"  # one partition per SystemModstamp window (s, m, h, d, w)
    fields: dict[str, list[str]] = Field(default_factory=dict)  # {object: [fields]}; default: every field
    bulk: bool | list[str] = False  # Bulk API 2.0 for every object (true) or these
    bulk_threshold: int | None = Field(None, ge=0)  # Bulk API 2.0 from this many records (recordCount)
    include_deleted: bool = False  # queryAll: records in the recycle bin too, with IsDeleted = true
    page_size: int = Field(2000, ge=200, le=2000)  # REST query batchSize
    bulk_page_size: int = Field(100_000, ge=1)  # Bulk API 2.0 maxRecords per result page
    bulk_poll_seconds: float = Field(2.0, ge=0)
    bulk_timeout_seconds: float = Field(3600.0, gt=0)
    batch_size: int = Field(10_000, ge=1)  # records per Arrow batch
    timeout_seconds: float = Field(120.0, gt=0)
    # rate_limit {requests_per_second, burst, redis_url, key}: pace each process, or with redis_url the
    # whole fleet (an org's API limits are the org's, whatever the number of workers); key default:
    # tenant and login host


def parse_time(value: int | dt.datetime | dt.date | str, key: str) -> int:
    """Unix seconds from an ISO date or datetime (naive means UTC) or unix seconds."""
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        return int(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, dt.datetime):
        text = str(value).strip()
        if re.search(r"[+-]\d{4}$", text):  # Salesforce's +0000
            text = text[:-2] + ":" + text[-2:]
        try:
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(f"{key}: {value!r} is not an ISO date or datetime") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp())


def soql_time(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _field_spec(fields: list[SfField]) -> list[list[Any]]:
    """Fields as they travel in a partition spec: [name, salesforce type, arrow type text]."""
    return [[f.name, f.sf_type, str(f.arrow_type)] for f in fields]


def _fields_of(spec: list[list[Any]]) -> list[SfField]:
    out = []
    for name, sf_type, arrow_text in spec:
        kind = _ARROW_TEXT.get(arrow_text)
        if kind is None:
            match = re.fullmatch(r"decimal128\((\d+), (\d+)\)", arrow_text)
            if not match:
                raise SourceError(f"salesforce: partition spec: unknown type {arrow_text!r} of {name}")
            kind = pa.decimal128(int(match.group(1)), int(match.group(2)))
        out.append(SfField(name, sf_type, kind))
    return out


_ARROW_TEXT = {
    str(t): t
    for t in (pa.string(), pa.bool_(), pa.int64(), pa.float64(), pa.date32(), pa.timestamp("us", tz="UTC"),
              pa.time64("us"))
}  # fmt: skip


class SalesforceReader(DataReader):
    """Any sObject by name: SOQL on SystemModstamp windows, REST query or Bulk API 2.0."""

    name = "salesforce"
    config_model = SalesforceOptions
    description = (
        "Salesforce sObjects (Account, Contact, custom objects...) by SystemModstamp windows, REST or Bulk 2.0"
    )
    source_list = "tables"
    connection_model = SalesforceConnection
    config: SalesforceOptions

    def __init__(self, config: PluginSettings, context: SourceContext) -> None:
        super().__init__(config, context)
        self.connection = self.validated_connection()
        conn = self.connection
        if (conn.private_key is None) == (conn.refresh_token is None):
            raise ConfigError(
                "source.connection: give `private_key` and `username` (JWT bearer flow) or `refresh_token` "
                "(refresh token flow), one of the two"
            )
        if conn.private_key is not None and not conn.username:
            raise ConfigError("source.connection.username: the JWT bearer flow needs the user the app acts as")
        incremental = context.incremental or {}
        self.cursor = incremental.get("cursor_field") or CURSOR_FIELD
        if self.cursor not in CURSOR_FIELDS:
            raise ConfigError(
                f"source.incremental.cursor_field: the salesforce source is incremental on {', '.join(CURSOR_FIELDS)} "
                f"(SystemModstamp sees every change, system ones too), not {self.cursor!r}"
            )
        self._client: HttpClient | None = None
        self._auth: Auth | None = None
        self._describe: dict[str, dict[str, Any]] = {}
        self._end: int | None = None
        self._summary: str | None = None

    # -- what to read ------------------------------------------------------------------

    def _names(self) -> list[str]:
        names = [str(t.get("name")) for t in self.context.tables]
        if not names:
            raise ConfigError("source.tables: name the sObjects to load, e.g. `tables: [{name: Account}]`")
        for name in names:
            if not _NAME.match(name):
                raise ConfigError(f"source.tables: {name!r} is not an sObject API name such as Account or Invoice__c")
        return names

    @cached_property
    def object(self) -> str:
        names = self._names()
        if len(names) != 1:
            raise ConfigError(
                "source.tables: the salesforce source reads one sObject per table; for several, list them and set "
                '`target.table: "{object}"` so each lands in its own table'
            )
        return names[0]

    def _path(self, path: str) -> str:
        return f"/services/data/v{self.config.api_version}{path}"

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            cfg, conn = self.config, self.connection
            if conn.private_key is not None:
                auth: Auth = SalesforceJwtBearer(
                    conn.login_url, conn.client_id, conn.username, conn.private_key, conn.instance_url, conn.audience
                )
            else:
                auth = SalesforceRefreshToken(
                    conn.login_url, conn.client_id, conn.client_secret, conn.refresh_token, conn.instance_url
                )
            self._auth = auth
            self._client = SalesforceHttp(
                conn.login_url,
                auth,
                retry=cfg.retry_settings(),
                rate_limiter=cfg.rate_limiter(
                    f"{self.context.tenant_id}:salesforce:{urlparse(conn.login_url).hostname or 'login'}"
                ),
                timeout=cfg.timeout_seconds,
                source_name="salesforce",
                # 403 REQUEST_LIMIT_EXCEEDED: the org's API request limit (24 h rolling), not the credential
                rate_limit_codes=RATE_LIMIT_CODES,
            )
        return self._client

    def _url(self, path: str) -> str:
        """An API path on the org's host (instance_url from the token response)."""
        client = self.client
        auth = self._auth
        if getattr(auth, "instance_url", None) is None:
            client.auth.prepare(client)
        return f"{auth.instance_url}{path}"  # type: ignore[union-attr]

    def _get(self, path: str, resource: str, params: dict[str, Any] | None = None) -> Any:
        response = self.client.request("GET", self._url(path), params=params, resource=resource)
        return _json(response.content, self.client.describe("GET", response.request.url, resource))

    def describe(self, name: str) -> dict[str, Any]:
        if name not in self._describe:
            try:
                body = self._get(self._path(f"/sobjects/{name}/describe"), name)
            except HttpError as exc:
                if exc.status_code == 404:
                    raise SourceError(
                        f"salesforce: no sObject {name!r} (or this user may not see it); `dativo discover` lists them"
                    ) from None
                raise
            if not body.get("queryable", True):
                raise SourceError(f"salesforce {name}: not queryable through SOQL")
            self._describe[name] = body
        return self._describe[name]

    def fields(self, name: str) -> list[SfField]:
        wanted = self.config.fields.get(name)
        fields = describe_fields(self.describe(name), wanted)
        names = {f.name for f in fields}
        if "Id" not in names:
            raise SourceError(f"salesforce {name}: source.options.fields must include Id")
        if self.cursor not in names:
            have = [c for c in CURSOR_FIELDS if c in {f["name"] for f in self.describe(name).get("fields") or []}]
            hint = (
                f"set `incremental.cursor_field` to {' or '.join(have)}" if have else "it has no datetime to window on"
            )
            raise SourceError(
                f"salesforce {name}: {self.cursor} (the windows' and the cursor's field) is not among the fields "
                f"read; list it in source.options.fields, or, if the object has none, {hint}"
            )
        return fields

    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(f.name, f.arrow_type) for f in self.fields(self.object)])

    def source_tags(self) -> dict[str, str]:
        """E-mail and phone fields are PII by their Salesforce type."""
        return {
            str(f["name"]): PII_TYPES[str(f.get("type"))]
            for f in self.describe(self.object).get("fields") or []
            if str(f.get("type")) in PII_TYPES
        }

    def lineage_inputs(self) -> list[tuple[str, str]]:
        host = getattr(self._auth, "instance_url", None) or self.connection.instance_url or self.connection.login_url
        return [(str(host).rstrip("/"), f"sobjects/{name}") for name in self._names()]

    def _window_seconds(self) -> int:
        try:
            window = parse_lookback(self.config.window)
        except ValueError:
            raise ConfigError(f"source.options.window: {self.config.window!r} is not a duration like 1h, 7d") from None
        seconds = int(window.total_seconds()) if isinstance(window, dt.timedelta) else int(window)
        if seconds < 1:
            raise ConfigError("source.options.window: must be at least 1s")
        return seconds

    def _use_bulk(self, name: str) -> bool:
        bulk = self.config.bulk
        if bulk is True or (isinstance(bulk, list) and name in bulk):
            return True
        if self.config.bulk_threshold is None:
            return False
        body = self._get(self._path("/limits/recordCount"), name, {"sObjects": name})
        counts = {str(o.get("name")): int(o.get("count") or 0) for o in body.get("sObjects") or []}
        return counts.get(name, 0) >= self.config.bulk_threshold

    def _oldest(self, name: str) -> int | None:
        """The oldest cursor value of the object (one REST query), None when it holds nothing."""
        soql = f"SELECT {self.cursor} FROM {name} ORDER BY {self.cursor} ASC LIMIT 1"
        endpoint = "/queryAll" if self.config.include_deleted else "/query"
        body = self._get(self._path(endpoint), name, {"q": soql})
        records = body.get("records") or []
        if not records or not records[0].get(self.cursor):
            return None
        return parse_time(records[0][self.cursor], f"salesforce {name}.{self.cursor}")

    def plan(self) -> list[Partition]:
        name = self.object
        fields = self.fields(name)
        end = int(time.time()) if self.config.end is None else parse_time(self.config.end, "source.options.end")
        self._end = end
        key = f"{name}.{self.cursor}"
        committed = self.context.state.get(key) if self.context.incremental else None
        if committed:
            lookback = parse_lookback((self.context.incremental or {}).get("lookback"))
            back = int(lookback.total_seconds()) if isinstance(lookback, dt.timedelta) else int(lookback)
            start = parse_time(committed, f"incremental state {key}") - back
            if self.config.start is not None:
                start = max(start, parse_time(self.config.start, "source.options.start"))
        elif self.config.start is not None:
            start = parse_time(self.config.start, "source.options.start")
        else:
            oldest = self._oldest(name)
            start = end if oldest is None else oldest
        bulk = self._use_bulk(name)
        step = self._window_seconds()
        bounds = [*range(start, end, step), end] if start < end else [end, end]
        if len(bounds) == 2 and start == end == bounds[0]:
            bounds = [end, end]
        api = "bulk" if bulk else "rest"
        windows = len(bounds) - 1
        how = "Bulk API 2.0 query jobs" if bulk else "REST queries"
        self._summary = f"{name}: {windows} {self.cursor} window(s) from {soql_time(start)}, as {how}"
        return [
            Partition(
                index=i,
                spec={"object": name, "gte": gte, "lt": lt, "bulk": bulk, "fields": _field_spec(fields)},
                label=f"salesforce {name} {api} {self.cursor} [{soql_time(gte)}, {soql_time(lt)})",
            )
            for i, (gte, lt) in enumerate(itertools.pairwise(bounds))
        ]

    def planned_state(self) -> dict[str, str]:
        if not self.context.incremental or self._end is None:
            return {}
        return {f"{self.object}.{self.cursor}": soql_time(self._end)}

    def discover(self) -> list[DiscoveredObject]:
        body = self._get(self._path("/sobjects"), "sobjects")
        named = {str(t.get("name")) for t in self.context.tables}
        found = []
        for obj in body.get("sobjects") or []:
            if not obj.get("queryable"):
                continue
            name = str(obj["name"])
            schema = None
            if name in named:
                schema = pa.schema([pa.field(f.name, f.arrow_type) for f in describe_fields(self.describe(name))])
            details = {"label": obj.get("label"), "custom": bool(obj.get("custom"))}
            found.append(DiscoveredObject(name=name, kind="object", schema=schema, primary_key=["Id"], details=details))
        return found

    def check(self) -> list[str]:
        problems = []
        for name in self._names():
            try:
                self.fields(name)
            except DativoError as exc:
                problems.append(str(exc))
        return problems

    def plan_summary(self) -> str | None:
        """What plan() found, for `dativo check`."""
        return self._summary

    # -- reading -----------------------------------------------------------------------

    def soql(self, name: str, fields: list[SfField], gte: int, lt: int) -> str:
        columns = ", ".join(f.name for f in fields)
        return (
            f"SELECT {columns} FROM {name} WHERE {self.cursor} >= {soql_time(gte)} AND {self.cursor} < {soql_time(lt)}"
        )

    def read(self, partition: Partition, schema: pa.Schema | None) -> Iterator[pa.RecordBatch]:
        spec = partition.spec
        name, gte, lt = spec["object"], int(spec["gte"]), int(spec["lt"])
        if gte >= lt:
            return
        fields = _fields_of(spec["fields"])
        soql = self.soql(name, fields, gte, lt)
        if spec.get("bulk"):
            yield from self._read_bulk(name, fields, soql, partition.label)
        else:
            yield from self._read_rest(name, fields, soql, partition.label)

    def _read_rest(self, name: str, fields: list[SfField], soql: str, where: str) -> Iterator[pa.RecordBatch]:
        """REST query: the first page from /query?q=..., the next ones from `nextRecordsUrl`."""
        endpoint = "/queryAll" if self.config.include_deleted else "/query"
        headers = {"Sforce-Query-Options": f"batchSize={self.config.page_size}"}
        url = self._url(self._path(endpoint))
        params: dict[str, Any] | None = {"q": soql}
        seen: set[str] = set()
        pending: list[dict[str, Any]] = []
        while True:
            response = self.client.request("GET", url, params=params, headers=headers, resource=name)
            page = _json(response.content, self.client.describe("GET", response.request.url, name))
            records = page.get("records")
            if not isinstance(records, list):
                raise SourceError(f"salesforce {name}: GET {endpoint}: no `records` in the answer")
            pending.extend(records)
            if len(pending) >= self.config.batch_size:
                yield self._json_batch(pending, fields, where)
                pending = []
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                break
            if next_url in seen:
                raise SourceError(f"salesforce {name}: nextRecordsUrl {next_url} came twice; stopping, not looping")
            seen.add(next_url)
            url, params = self._url(str(next_url)), None
        if pending:
            yield self._json_batch(pending, fields, where)

    def _json_batch(self, records: list[dict[str, Any]], fields: list[SfField], where: str) -> pa.RecordBatch:
        arrays = [convert(pa.array([json_text(r.get(f.name)) for r in records], pa.string()), f, where) for f in fields]
        return pa.RecordBatch.from_arrays(arrays, schema=pa.schema([pa.field(f.name, f.arrow_type) for f in fields]))

    def _read_bulk(self, name: str, fields: list[SfField], soql: str, where: str) -> Iterator[pa.RecordBatch]:
        """Bulk API 2.0: create a query job, poll it to JobComplete, then GET its CSV result pages,
        each naming the next with the Sforce-Locator header until it says `null`."""
        client = self.client
        jobs = self._path("/jobs/query")
        operation = "queryAll" if self.config.include_deleted else "query"
        body = {"operation": operation, "query": soql, "contentType": "CSV", "columnDelimiter": "COMMA",
                "lineEnding": "LF"}  # fmt: skip
        response = client.request("POST", self._url(jobs), json=body, resource=name)
        job = _json(response.content, f"salesforce {name}: POST {jobs}")
        job_id = str(job.get("id") or "")
        if not re.fullmatch(r"[A-Za-z0-9]+", job_id):
            raise SourceError(f"salesforce {name}: POST {jobs}: no job id in the answer")
        deadline = time.monotonic() + self.config.bulk_timeout_seconds
        delay = self.config.bulk_poll_seconds
        try:
            while True:
                state = self._get(f"{jobs}/{job_id}", name)
                if state.get("state") == BULK_DONE:
                    break
                if state.get("state") in BULK_FAILED:
                    raise SourceError(
                        f"salesforce {name}: Bulk API 2.0 query job {job_id} {state.get('state')}: "
                        f"{state.get('errorMessage') or 'no message'}"
                    )
                if time.monotonic() > deadline:
                    raise TransientError(
                        f"salesforce {name}: Bulk API 2.0 query job {job_id} still {state.get('state')} after "
                        f"{self.config.bulk_timeout_seconds:g}s (source.options.bulk_timeout_seconds)"
                    )
                time.sleep(delay)
                delay = min(max(delay * 1.5, 0.01), 30.0)
            locator: str | None = None
            schema = pa.schema([pa.field(f.name, f.arrow_type) for f in fields])
            seen: set[str] = set()
            while True:
                params: dict[str, Any] = {"maxRecords": self.config.bulk_page_size}
                if locator:
                    params["locator"] = locator
                response = client.request(
                    "GET", self._url(f"{jobs}/{job_id}/results"), params=params, headers={"Accept": "text/csv"},
                    resource=name,
                )  # fmt: skip
                table = _read_csv(response.content, fields, f"salesforce {name}: results of job {job_id}")
                if table.num_rows:
                    arrays = [convert(table.column(f.name).combine_chunks(), f, where) for f in fields]
                    yield from pa.Table.from_arrays(arrays, schema=schema).to_batches(self.config.batch_size)
                locator = response.headers.get("Sforce-Locator")
                if not locator or locator == "null":
                    break
                if locator in seen:
                    raise SourceError(f"salesforce {name}: job {job_id}: locator {locator} came twice; stopping")
                seen.add(locator)
        finally:
            # the job's results are read (or the read failed): free it; Salesforce also expires it
            with contextlib.suppress(DativoError):
                client.request("DELETE", self._url(f"{jobs}/{job_id}"), resource=name)

    def describe_position(self, partition: Partition, row_in_partition: int) -> str:
        return f"{partition.label or 'salesforce'}, record {row_in_partition + 1}"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _json(content: bytes, where: str) -> Any:
    """A JSON body with decimals kept exact (a currency's 1234.57 stays 1234.57, not a float)."""
    try:
        return json.loads(content, parse_float=Decimal)
    except ValueError:
        raise SourceError(f"{where}: the response is not JSON: {content[:80]!r}") from None


def _read_csv(content: bytes, fields: list[SfField], where: str) -> pa.Table:
    """A Bulk API 2.0 result page: RFC 4180 CSV with a header row, every value as text, an empty
    field a null (Salesforce stores no empty strings)."""
    if not content.strip():
        return pa.table({f.name: pa.array([], pa.string()) for f in fields})
    try:
        table = pacsv.read_csv(
            io.BytesIO(content),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={f.name: pa.string() for f in fields},
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                null_values=[""],
            ),
        )
    except pa.ArrowInvalid as exc:
        raise SourceError(f"{where}: not the CSV expected: {exc}") from None
    missing = [f.name for f in fields if f.name not in table.column_names]
    if missing:
        raise SourceError(f"{where}: columns missing from the CSV: {', '.join(missing)}")
    return table


__all__ = ["SalesforceConnection", "SalesforceOptions", "SalesforceReader", "arrow_type"]
