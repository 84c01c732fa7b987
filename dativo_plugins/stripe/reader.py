"""The `stripe` reader: one Stripe list endpoint, split into `created` time windows; with
`cursor_field: updated`, later runs read the object's changes from the Events API instead."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import time
from collections.abc import Iterator
from functools import cached_property
from typing import Any

import pyarrow as pa
from pydantic import Field, SecretStr

from dativo_plugins.stripe.client import RetrySettings, StripeClient
from dativo_plugins.stripe.objects import EVENTS, LIST_PARAMS, OBJECT_FIELDS, object_schema, to_batch
from dativo_workers.errors import ConfigError, DativoError, SourceError
from dativo_workers.plugins import (
    DataReader,
    DiscoveredObject,
    Partition,
    PluginSettings,
    SourceContext,
    parse_lookback,
)

CURSOR_FIELD = "created"
UPDATED_CURSOR = "updated"  # changes through the Events API (objects in EVENTS)
# Stripe keeps events for 30 days; a cursor older than this (an hour's margin) cannot be continued
EVENT_RETENTION_SECONDS = 30 * 86_400 - 3600
DEFAULT_START = "2011-01-01T00:00:00Z"  # before any Stripe object existed
_OBJECT_NAME = re.compile(r"^[a-z][a-z_]*$")


class StripeConnection(PluginSettings):
    """`source.connection` of a Stripe job."""

    api_key: SecretStr = Field(
        description="secret API key (sk_...) or restricted key (rk_...) as a ${secret:NAME} reference",
        json_schema_extra={"secret": True},
    )
    base_url: str = Field("https://api.stripe.com", description="API root; override for a mock or proxy")
    api_version: str | None = Field(None, description="Stripe-Version header; default: the account's version")
    account: str | None = Field(None, description="Stripe-Account header (Connect): read a connected account")


class StripeOptions(PluginSettings):
    """`source.options` of a Stripe job."""

    start: int | dt.datetime | dt.date | str | None = None  # unix seconds or ISO date/datetime; default 2011-01-01
    end: int | dt.datetime | dt.date | str | None = None  # exclusive; default: the moment the run is planned
    window: str = "30d"  # one partition per object per `created` window (s, m, h, d, w)
    page_size: int = Field(100, ge=1, le=100)  # Stripe's `limit`
    batch_size: int = Field(1000, ge=1)  # objects per Arrow batch
    max_retries: int = Field(8, ge=0, le=100)
    backoff_seconds: float = Field(0.5, ge=0)
    max_backoff_seconds: float = Field(30.0, ge=0)
    max_retry_after_seconds: float = Field(120.0, ge=0)
    timeout_seconds: float = Field(60.0, gt=0)
    # Stripe allows about 100 read requests/s in live mode and 25 in test mode per account; each
    # worker process paces itself to this (None: no pacing, 429s are still honoured)
    requests_per_second: float | None = Field(None, gt=0)


def parse_time(value: int | dt.datetime | dt.date | str, key: str) -> int:
    """Unix seconds from unix seconds, an ISO date or an ISO datetime (naive means UTC)."""
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        return int(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, dt.datetime):
        try:
            value = dt.datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise ConfigError(f"{key}: {value!r} is not unix seconds, an ISO date or an ISO datetime") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp())


def iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StripeReader(DataReader):
    """Customers, charges, invoices, subscriptions (or any list endpoint with `created`)."""

    name = "stripe"
    config_model = StripeOptions
    description = "Stripe API objects (customers, charges, invoices, subscriptions, ...) by created-time windows"
    source_list = "tables"
    connection_model = StripeConnection
    config: StripeOptions

    def __init__(self, config: PluginSettings, context: SourceContext) -> None:
        super().__init__(config, context)
        self.connection = self.validated_connection()
        incremental = context.incremental or {}
        self.cursor = incremental.get("cursor_field") or CURSOR_FIELD
        if self.cursor not in (CURSOR_FIELD, UPDATED_CURSOR):
            raise ConfigError(
                f"source.incremental.cursor_field: the stripe source is incremental on {CURSOR_FIELD!r} "
                f"(new objects) or {UPDATED_CURSOR!r} (changes, through the Events API), not {self.cursor!r}"
            )
        self._client: StripeClient | None = None
        self._end: int | None = None

    # -- what to read ------------------------------------------------------------------

    @cached_property
    def object(self) -> str:
        names = self._names()
        if len(names) != 1:
            raise ConfigError(
                "source.tables: the stripe source reads one object per table, e.g. "
                "`tables: [{name: customers}]`; for several objects list them all and set "
                '`target.table: "{object}"` so each lands in its own table'
            )
        return names[0]

    def _names(self) -> list[str]:
        names = [str(t.get("name")) for t in self.context.tables]
        if not names:
            raise ConfigError(
                "source.tables: name the Stripe object to load, e.g. `tables: [{name: charges}]` "
                f"(known: {', '.join(OBJECT_FIELDS)}; other list endpoints load id, created and the raw object)"
            )
        for name in names:
            if not _OBJECT_NAME.match(name):
                raise ConfigError(f"source.tables: {name!r} is not a Stripe object name such as customers or charges")
        return names

    def _window_seconds(self) -> int:
        try:
            window = parse_lookback(self.config.window)
        except ValueError:
            raise ConfigError(
                f"source.options.window: {self.config.window!r} is not a duration like 1h, 7d, 30d"
            ) from None
        seconds = int(window.total_seconds()) if isinstance(window, dt.timedelta) else int(window)
        if seconds < 1:
            raise ConfigError("source.options.window: must be at least 1s")
        return seconds

    @property
    def changes(self) -> bool:
        """Incremental on `updated`: rows carry `updated`/`deleted`; runs after the first read events."""
        return bool(self.context.incremental) and self.cursor == UPDATED_CURSOR

    def _lookback(self) -> int:
        lookback = parse_lookback((self.context.incremental or {}).get("lookback"))
        return int(lookback.total_seconds()) if isinstance(lookback, dt.timedelta) else int(lookback)

    def _first_created(self) -> int:
        return parse_time(DEFAULT_START if self.config.start is None else self.config.start, "source.options.start")

    def _committed(self) -> int | None:
        """The committed cursor of this object (None: none yet, or not incremental)."""
        key = f"{self.object}.{self.cursor}"
        committed = self.context.state.get(key) if self.context.incremental else None
        return parse_time(committed, f"incremental state {key}") if committed else None

    def lineage_inputs(self) -> list[tuple[str, str]]:
        """OpenLineage: the API root as namespace, the list endpoint's path as name."""
        return [(str(self.connection.base_url).rstrip("/"), f"v1/{name}") for name in self._names()]

    def plan(self) -> list[Partition]:
        """One partition per window [gte, lt) from start to end: adjacent, no overlap. Windows of
        `created` (the object list), or, for `updated` past a committed cursor, of event time."""
        if self.changes and self.object not in EVENTS:
            raise ConfigError(
                f"source.incremental.cursor_field: `updated` reads changes through Stripe's Events API, "
                f"known for {', '.join(EVENTS)}, not {self.object!r}; use `created` (new objects only), or "
                "no incremental with `target.mode: overwrite`"
            )
        if self.changes and self.config.end is not None:
            raise ConfigError(
                "source.options.end: not with `cursor_field: updated`: each run reads the changes up to "
                "the moment it is planned"
            )
        end = int(time.time()) if self.config.end is None else parse_time(self.config.end, "source.options.end")
        self._end = end
        start, committed = self._first_created(), self._committed()
        events = False
        if self.changes and committed is not None:
            events = True
            oldest = end - EVENT_RETENTION_SECONDS
            if committed < oldest:
                raise SourceError(
                    f"stripe {self.object}: the committed cursor {self.object}.{UPDATED_CURSOR} = {iso(committed)} "
                    "is older than Stripe's 30-day event retention (less an hour's margin), so the changes since "
                    "then cannot be read; reload the object with `dativo run JOB --full-refresh` "
                    "(it also removes deleted objects)"
                )
            # the lookback re-reads events that reached the list late; none older than retention
            start = max(committed - self._lookback(), oldest)
        elif committed is not None:  # `created`: everything created before the cursor is loaded
            start = max(start, committed - self._lookback())
        step = self._window_seconds()
        bounds = [*range(start, end, step), end] if start < end else [end, end]
        kind = "events" if events else "created"
        return [
            Partition(
                index=i,
                spec={"object": self.object, "gte": gte, "lt": lt, **({"events": True} if events else {})},
                label=f"stripe {self.object} {kind} [{iso(gte)}, {iso(lt)})",
            )
            for i, (gte, lt) in enumerate(itertools.pairwise(bounds))
        ]

    def planned_state(self) -> dict[str, str]:
        """The planned end: every object created (or changed, for `updated`) before it is read by this run."""
        if not self.context.incremental or self._end is None:
            return {}
        return {f"{self.object}.{self.cursor}": iso(self._end)}

    def schema(self) -> pa.Schema:
        return object_schema(self.object, self.changes)

    def discover(self) -> list[DiscoveredObject]:
        return [
            DiscoveredObject(name=name, kind="object", schema=object_schema(name), primary_key=["id"])
            for name in OBJECT_FIELDS
        ]

    def check(self) -> list[str]:
        """One page of one object per listed table: the key works and may read each of them (and
        the events, for `updated`: a restricted key needs that permission too)."""
        problems = []
        requests = [(f"/v1/{name}", {"limit": 1, **LIST_PARAMS.get(name, {})}) for name in self._names()]
        if self.changes:  # `dativo check` asks before the job is split per object
            requests.append(("/v1/events", {"limit": 1}))
        for path, params in requests:
            try:
                self.client.get(path, params)
            except DativoError as exc:
                problems.append(str(exc))
        return problems

    # -- reading -----------------------------------------------------------------------

    @property
    def client(self) -> StripeClient:
        if self._client is None:
            cfg = self.config
            self._client = StripeClient(
                self.connection.api_key.get_secret_value(),
                self.connection.base_url,
                api_version=self.connection.api_version,
                account=self.connection.account,
                timeout=cfg.timeout_seconds,
                retry=RetrySettings(
                    cfg.max_retries,
                    cfg.backoff_seconds,
                    cfg.max_backoff_seconds,
                    cfg.max_retry_after_seconds,
                    cfg.requests_per_second,
                ),
            )
        return self._client

    def read(self, partition: Partition, schema: pa.Schema | None) -> Iterator[pa.RecordBatch]:
        spec = partition.spec
        obj, gte, lt = spec["object"], int(spec["gte"]), int(spec["lt"])
        if gte >= lt:
            return
        if spec.get("events"):
            yield from self._read_events(obj, gte, lt)
            return
        params: dict[str, Any] = {"created[gte]": gte, "created[lt]": lt, **LIST_PARAMS.get(obj, {})}
        changes = self.changes
        pending: list[dict[str, Any]] = []
        for page in self._pages(f"/v1/{obj}", params):
            pending.extend(page)
            if len(pending) >= self.config.batch_size:
                yield to_batch(obj, pending, _as_listed(pending) if changes else None)
                pending = []
        if pending:
            yield to_batch(obj, pending, _as_listed(pending) if changes else None)

    def _read_events(self, obj: str, gte: int, lt: int) -> Iterator[pa.RecordBatch]:
        """The newest version of each object changed in [gte, lt), from its events.

        Stripe lists events newest first, so the first event of an object in this window is its
        newest here; older ones are skipped (only their ids are kept). Windows of one run do
        not overlap, and `updated` (the event's time) orders the versions of different windows."""
        kind, types, deleting = EVENTS[obj]
        params: dict[str, Any] = {"created[gte]": gte, "created[lt]": lt, "types[]": list(types)}
        first_created = self._first_created()
        seen: set[str] = set()
        items: list[dict[str, Any]] = []
        changes: list[tuple[int, bool]] = []
        for page in self._pages("/v1/events", params):
            for event in page:
                data = event.get("data") if isinstance(event, dict) else None
                item = data.get("object") if isinstance(data, dict) else None
                if not isinstance(item, dict) or item.get("object") != kind or event.get("type") not in types:
                    continue
                object_id, created = item.get("id"), item.get("created")
                if not object_id or object_id in seen:
                    continue
                seen.add(object_id)
                if isinstance(created, int) and created < first_created:
                    continue  # created before `start`: not one of this table's objects
                items.append(item)
                when = event.get("created")
                if not isinstance(when, int):
                    raise SourceError(f"stripe: GET /v1/events: event {event.get('id')!r} has no `created` time")
                changes.append((when, event["type"] in deleting or item.get("deleted") is True))
            if len(items) >= self.config.batch_size:
                yield to_batch(obj, items, changes)
                items, changes = [], []
        if items:
            yield to_batch(obj, items, changes)

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """Every page of a list endpoint, through `starting_after` cursor pagination."""
        params = {"limit": self.config.page_size, **params}
        while True:
            page = self.client.get(path, params)
            items = page.get("data")
            if page.get("object") != "list" or not isinstance(items, list):
                raise SourceError(f"stripe: GET {path}: expected a list object with `data`, got {str(page)[:120]}")
            yield items
            if not page.get("has_more") or not items:
                return
            last = items[-1].get("id") if isinstance(items[-1], dict) else None
            if not last:
                raise SourceError(f"stripe: GET {path}: a list item has no `id` to continue after")
            params["starting_after"] = last  # cursor pagination: the next page starts after this object

    def describe_position(self, partition: Partition, row_in_partition: int) -> str:
        return f"{partition.label or 'stripe'}, object {row_in_partition + 1}"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _as_listed(items: list[dict[str, Any]]) -> list[tuple[int, bool]]:
    """Objects from the list endpoint: `updated` is unknown there, so their `created` stands in
    (any later change comes from the events with its own time); a listed object is not deleted."""
    return [(int(item.get("created") or 0), item.get("deleted") is True) for item in items]
