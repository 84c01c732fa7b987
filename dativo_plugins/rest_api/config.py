"""`source.options` of a `rest_api` job: base URL, auth, resources (path, params, records
selector, primary key, paginator, incremental filter, partitioning, parent), rate limit."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from dativo_plugins.rest_api.http import RateLimiter, RetrySettings, rate_limiter
from dativo_plugins.rest_api.records import parse_path
from dativo_workers.plugins import PluginSettings, parse_lookback

RESOURCE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
TYPES = ("string", "int", "float", "bool", "timestamp", "date", "json")

_AUTH_FIELDS: dict[str, tuple[str, ...]] = {
    "none": (),
    "bearer": ("token",),
    "api_key": ("name", "value"),
    "basic": ("username", "password"),
    "oauth2_client_credentials": ("token_url", "client_id", "client_secret"),
    "oauth2_refresh_token": ("token_url", "client_id", "client_secret", "refresh_token"),
}


class AuthSpec(PluginSettings):
    """`auth:` one of the kinds below; every credential a `${secret:...}` reference."""

    type: Literal["none", "bearer", "api_key", "basic", "oauth2_client_credentials", "oauth2_refresh_token"] = "bearer"
    token: SecretStr | None = None  # bearer
    name: str | None = None  # api_key: header or query parameter name
    value: SecretStr | None = None  # api_key
    location: Literal["header", "query"] = "header"  # api_key
    prefix: str = ""  # api_key: text before the value in the header ("Token ")
    username: SecretStr | None = None  # basic
    password: SecretStr | None = None  # basic
    token_url: str | None = None  # oauth2_*
    client_id: SecretStr | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    scope: str | None = None

    @model_validator(mode="after")
    def _fields_of_the_kind(self) -> AuthSpec:
        missing = [f for f in _AUTH_FIELDS[self.type] if getattr(self, f) in (None, "")]
        if missing:
            raise ValueError(f"auth type {self.type!r} needs {', '.join(missing)}")
        return self


def _check_path(value: str | None) -> str | None:
    if value is not None:
        parse_path(value)  # ValueError names what is wrong
    return value


class PaginatorSpec(PluginSettings):
    """How to get the next page. `none`: one request. `cursor`: a cursor from the body
    (`cursor_path`) or a header (`cursor_header`) sent back as `param`. `next_url`: the next page's
    URL from the body (`next_url_path`) or, without it, the `Link: <...>; rel="next"` header.
    `offset`: `offset_param`/`limit_param` by `limit`. `page_number`: `page_param` from `start_page`."""

    type: Literal["none", "cursor", "next_url", "link_header", "offset", "page_number"] = "none"
    cursor_path: str | None = None
    cursor_header: str | None = None
    param: str | None = None  # cursor: where it is sent (a query parameter, or a body path)
    location: Literal["query", "body"] = "query"
    next_url_path: str | None = None
    stop_path: str | None = None  # a true value there: the last page (`end_of_stream`)
    has_more_path: str | None = None  # a false value there: the last page (`has_more`, `meta.has_more`)
    limit: int = Field(100, ge=1)  # offset: page size
    offset_param: str = "offset"
    limit_param: str | None = "limit"
    page_param: str = "page"
    start_page: int = 1
    page_size: int | None = Field(None, ge=1)  # page_number: a page smaller than this is the last
    page_size_param: str | None = None
    total_path: str | None = None  # offset/page_number: total records (or pages with total_pages_path)
    total_pages_path: str | None = None
    stop_on_empty_page: bool = True
    # cursor: a scroll session whose cursor stays the same from page to page (Intercom's scroll
    # API); progress is then checked on the pages themselves (the same page twice is an error)
    scroll: bool = False

    _paths = field_validator("cursor_path", "next_url_path", "stop_path", "has_more_path", "total_path")(
        classmethod(lambda cls, v: _check_path(v))
    )

    @model_validator(mode="after")
    def _complete(self) -> PaginatorSpec:
        if self.type == "cursor":
            if (self.cursor_path is None) == (self.cursor_header is None):
                raise ValueError("a cursor paginator needs exactly one of cursor_path or cursor_header")
            if not self.param:
                raise ValueError("a cursor paginator needs `param`: where the next request sends the cursor")
        if self.type == "link_header" and self.next_url_path:
            raise ValueError("`link_header` reads the Link header; for a URL in the body use `type: next_url`")
        if self.location == "body" and self.param:
            parse_path(self.param)
        return self


class IncrementalSpec(PluginSettings):
    """The request filter that reads only records changed since the cursor."""

    cursor_field: str
    param: str | None = None  # where the lower bound is sent (None: filtered client-side, see client_side)
    location: Literal["query", "body"] = "query"
    end_param: str | None = None  # optional upper bound (the moment the run was planned)
    format: Literal["iso", "unix", "unix_ms", "date"] = "iso"
    lookback: str | None = None
    start: int | str | dt.date | None = None  # the first run's lower bound (default: none sent, everything)
    client_side: bool = False  # also drop records whose cursor_field is older than the bound
    operator: Literal[">=", ">"] = ">="  # how the API compares; with ">" the bound sent is one unit earlier
    # the API leaves out changes younger than this (Zendesk: a minute): the committed cursor is the
    # moment the run was planned less `lag`
    lag: str | None = None
    # `time`: the cursor is a moment (the committed value is the moment the run was planned);
    # `int`: an increasing integer (an id, a version sequence): the committed value is the highest
    # one the run loads, found at planning (`latest_params`, else by listing the new records once)
    type: Literal["time", "int"] = "time"
    # int: query parameters that make the first page hold the newest record (`{order: desc,
    # limit: 1}`): one request at planning instead of listing every new record twice
    latest_params: dict[str, Any] | None = None

    @field_validator("lookback", "lag")
    @classmethod
    def _lookback(cls, value: str | None) -> str | None:
        parse_lookback(value)
        return value

    @model_validator(mode="after")
    def _int_cursor(self) -> IncrementalSpec:
        if self.type == "int":
            if self.lookback is not None and not str(self.lookback).strip().isdigit():
                raise ValueError(f"an int cursor's lookback is a count of values, not {self.lookback!r}")
            if self.start is not None and not str(self.start).strip().lstrip("-").isdigit():
                raise ValueError(f"an int cursor's start is an integer, not {self.start!r}")
            if self.lag is not None:
                raise ValueError("`lag` is for time cursors")
        elif self.latest_params is not None:
            raise ValueError("`latest_params` is for `type: int` cursors")
        return self


class PartitionSpec(PluginSettings):
    """Partitions: `time` windows [start, end) by `window`, or `id_range` [start, end) by `step`,
    each sent as `start_param`/`end_param` (read in parallel, retried alone). An API with a start
    bound only (an export that runs to now): no `end_param`, and `end_field` names the record
    field it orders by; a window's chain stops at the first record at or past its end (left to
    the next window)."""

    type: Literal["time", "id_range"]
    start_param: str
    end_param: str | None = None
    end_field: str | None = None  # time: the field the API orders its records by (ascending)
    location: Literal["query", "body"] = "query"
    start: int | str | dt.date
    end: int | str | dt.date | None = None  # time: default the moment the run is planned
    window: str = "30d"  # time
    step: int = Field(100_000, ge=1)  # id_range
    format: Literal["iso", "unix", "unix_ms", "date"] = "iso"  # time
    end_inclusive: bool = False  # the API's end bound includes the value: send end - 1 unit
    start_exclusive: bool = False  # the API's start bound excludes the value: send start - 1 unit

    @model_validator(mode="after")
    def _an_end(self) -> PartitionSpec:
        if self.end_param is None and (self.type != "time" or self.end_field is None):
            raise ValueError("partitioning needs `end_param` (or, for time windows of an API without one, `end_field`)")
        if self.end_field is not None:
            parse_path(self.end_field)
        return self


class ResourceSpec(PluginSettings):
    name: str
    path: str
    method: Literal["GET", "POST"] = "GET"
    params: dict[str, Any] = Field(default_factory=dict)
    body: dict[str, Any] | None = None  # JSON body (POST search APIs)
    headers: dict[str, str] = Field(default_factory=dict)
    records: str = ""  # where the records sit in a page: `data`, `result.items`, `pages[0].rows`; "": the body
    primary_key: str | list[str] | None = None
    paginator: PaginatorSpec = Field(default_factory=PaginatorSpec)
    incremental: IncrementalSpec | None = None
    partitioning: PartitionSpec | None = None
    parent: str | None = None  # a child: one request (and its pages) per parent record
    parent_fields: dict[str, str] = Field(default_factory=dict)  # child column -> parent field path
    fields: dict[str, str] = Field(default_factory=dict)  # declared columns and types (without an asset)
    raw_json: bool | None = None  # default: the options' raw_json
    missing_ok: bool = False  # a child: HTTP 404 for a parent's request is no records (the parent is gone)
    # drop a record seen before in the same partition (same primary key and cursor value): for APIs
    # whose next page repeats the last page's boundary (Zendesk's time-based exports)
    dedupe: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not RESOURCE_NAME.match(value):
            raise ValueError("a resource name is letters, digits and '_' (it names the table)")
        return value

    @model_validator(mode="after")
    def _paths(self) -> ResourceSpec:
        paths = [("records", self.records), *((f"parent_fields.{k}", v) for k, v in self.parent_fields.items())]
        for option, path in paths:
            try:
                parse_path(path)
            except ValueError as exc:
                raise ValueError(f"resource {self.name!r}: {option}: {exc}") from None
        return self

    @field_validator("fields")
    @classmethod
    def _types(cls, value: dict[str, str]) -> dict[str, str]:
        for column, kind in value.items():
            if kind not in TYPES:
                raise ValueError(f"{column}: type {kind!r} is not one of {', '.join(TYPES)}")
        return value

    @property
    def keys(self) -> list[str]:
        if self.primary_key is None:
            return []
        return [self.primary_key] if isinstance(self.primary_key, str) else list(self.primary_key)


class RateLimitSpec(PluginSettings):
    requests_per_second: float = Field(gt=0)
    burst: float | None = Field(None, gt=0)
    redis_url: SecretStr | None = None  # shared by the fleet: every process using the same key
    key: str | None = None  # default: the base URL's host


class HttpRetryOptions(PluginSettings):
    """What every source on the shared HTTP layer takes: timeouts, retries, a rate limit."""

    rate_limit: RateLimitSpec | None = None
    timeout_seconds: float = Field(60.0, gt=0)
    max_retries: int = Field(6, ge=0, le=100)
    max_throttle_retries: int = Field(20, ge=0, le=1000)
    backoff_seconds: float = Field(0.5, ge=0)
    max_backoff_seconds: float = Field(30.0, ge=0)
    max_retry_after_seconds: float = Field(120.0, ge=0)

    def retry_settings(self) -> RetrySettings:
        return RetrySettings(
            max_retries=self.max_retries,
            max_throttle_retries=self.max_throttle_retries,
            backoff_seconds=self.backoff_seconds,
            max_backoff_seconds=self.max_backoff_seconds,
            max_retry_after_seconds=self.max_retry_after_seconds,
        )

    def rate_limiter(self, default_key: str) -> RateLimiter | None:
        """The `rate_limit` pacer (None without one); its bucket is `rate_limit.key` or ``default_key``."""
        limit = self.rate_limit
        if limit is None:
            return None
        redis_url = limit.redis_url.get_secret_value() if limit.redis_url is not None else None
        return rate_limiter(limit.requests_per_second, limit.burst, redis_url, limit.key or default_key)


class HttpOptions(HttpRetryOptions):
    """What every declarative HTTP source takes: batching, timeouts, retries, a rate limit."""

    batch_size: int = Field(1000, ge=1)
    max_pages: int | None = Field(None, ge=1)  # a safety stop per request chain


class RestApiOptions(HttpOptions):
    base_url: str
    auth: AuthSpec = Field(default_factory=lambda: AuthSpec(type="none"))
    headers: dict[str, str] = Field(default_factory=dict)
    resources: list[ResourceSpec] = Field(min_length=1)
    raw_json: bool = False
    # a schema without an asset or `fields` is inferred from the first `infer_records` records,
    # across at most `infer_pages` pages (of the run's first partition)
    infer_records: int = Field(200, ge=1)
    infer_pages: int = Field(5, ge=1)

    @model_validator(mode="after")
    def _resources(self) -> RestApiOptions:
        names = [r.name for r in self.resources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"resources: {', '.join(dupes)} declared twice")
        for resource in self.resources:
            if resource.parent is not None:
                if resource.parent not in names:
                    raise ValueError(f"resource {resource.name!r}: parent {resource.parent!r} is not a resource")
                if resource.parent == resource.name:
                    raise ValueError(f"resource {resource.name!r} cannot be its own parent")
                if resource.partitioning is not None:
                    raise ValueError(f"resource {resource.name!r}: a child is partitioned as its parent")
        return self

    def resource(self, name: str) -> ResourceSpec | None:
        return next((r for r in self.resources if r.name == name), None)
