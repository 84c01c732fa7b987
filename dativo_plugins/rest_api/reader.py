"""The `rest_api` reader: one declared resource per table, read page by page into Arrow batches.

A job names its resources in `source.options.resources`; a job that lists no `source.tables`
loads every resource, one table and run each (`target.table: "{object}"`). Built-in SaaS
connectors (zendesk, intercom) are subclasses that build these options from their own settings.
"""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import hashlib
import itertools
import re
from collections.abc import Iterator
from functools import cached_property
from typing import Any
from urllib.parse import quote, urljoin

import httpx
import pyarrow as pa
import structlog

from dativo_plugins.rest_api.config import (
    IncrementalSpec,
    PaginatorSpec,
    PartitionSpec,
    ResourceSpec,
    RestApiOptions,
)
from dativo_plugins.rest_api.http import (
    ApiKeyAuth,
    Auth,
    BasicAuth,
    BearerAuth,
    HttpClient,
    HttpError,
    OAuth2ClientCredentials,
    OAuth2RefreshToken,
)
from dativo_plugins.rest_api.records import (
    MISSING,
    RAW_COLUMN,
    as_records,
    declared_schema,
    get_path,
    infer_schema,
    json_text,
    parse_path,
    set_path,
    to_batch,
)
from dativo_workers.errors import ConfigError, DativoError, SourceError
from dativo_workers.plugins import (
    DataReader,
    DeclaredObject,
    DiscoveredObject,
    Partition,
    PluginSettings,
    SourceContext,
    parse_lookback,
)

log = structlog.get_logger("dativo.rest_api")

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
Page = tuple[list[dict[str, Any]], dict[str, list[Any]]]  # records, extra columns (a parent's fields)


# -- time values -------------------------------------------------------------------------------


def parse_time(value: Any, key: str) -> dt.datetime:
    """Unix seconds, an ISO date or datetime (naive means UTC) -> an aware datetime."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool):
        seconds = float(value)
        return dt.datetime.fromtimestamp(seconds / 1000 if seconds > 1e11 else seconds, dt.UTC)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return parse_time(int(text), key)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{key}: {value!r} is not unix seconds, an ISO date or an ISO datetime") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_time(moment: dt.datetime, fmt: str) -> Any:
    if fmt == "unix":
        return int(moment.timestamp())
    if fmt == "unix_ms":
        return int(moment.timestamp() * 1000)
    if fmt == "date":
        return moment.astimezone(dt.UTC).date().isoformat()
    return iso(moment)


def _seconds(text: str | None, key: str) -> float:
    try:
        value = parse_lookback(text)
    except ValueError:
        raise ConfigError(f"{key}: {text!r} is not a duration like 90s, 15m, 1h, 7d") from None
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


# -- the reader --------------------------------------------------------------------------------


class RestApiReader(DataReader):
    """Any JSON REST API, declared in the job: auth, resources, paginators, incremental filters."""

    name = "rest_api"
    config_model: Any = RestApiOptions
    description = "any JSON REST API, declared in the job (auth, resources, pagination, incremental)"
    schema_sampled = True

    def __init__(self, config: PluginSettings, context: SourceContext) -> None:
        super().__init__(config, context)
        self._client: HttpClient | None = None
        self._end: dt.datetime | None = None
        self._schema: pa.Schema | None = None
        self._high: tuple[int | None] | None = None  # an int cursor's highest value at planning (once)

    # -- what subclasses change --------------------------------------------------------

    @property
    def options(self) -> RestApiOptions:
        """The declarative options (a built-in connector builds them from its own settings)."""
        return self.config  # type: ignore[no-any-return]

    def transform(self, resource: ResourceSpec, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Hook for an API's quirks: records of one page as they go to the table."""
        return records

    @classmethod
    def declared_objects(cls, options: dict[str, Any]) -> list[DeclaredObject] | None:
        resources = options.get("resources")
        if not isinstance(resources, list):
            return None
        by_name = {r.get("name"): r for r in resources if isinstance(r, dict) and isinstance(r.get("name"), str)}
        found = []
        for name, resource in by_name.items():
            root, hops = resource, 0
            while isinstance(root.get("parent"), str) and root["parent"] in by_name and hops < len(by_name):
                root, hops = by_name[root["parent"]], hops + 1
            incremental = root.get("incremental") if isinstance(root.get("incremental"), dict) else {}
            key = resource.get("primary_key")
            keys = (key,) if isinstance(key, str) else tuple(k for k in key or () if isinstance(k, str))
            found.append(
                DeclaredObject(
                    name=name,
                    cursor_field=incremental.get("cursor_field") if isinstance(incremental, dict) else None,
                    lookback=incremental.get("lookback") if isinstance(incremental, dict) else None,
                    primary_key=keys,
                )
            )
        return found

    # -- the resource of this table ----------------------------------------------------

    @cached_property
    def resource(self) -> ResourceSpec:
        options = self.options
        names = [str(t.get("name")) for t in self.context.tables]
        known = ", ".join(r.name for r in options.resources)
        if not names:
            if len(options.resources) == 1:
                return options.resources[0]
            raise ConfigError(
                f"source.tables: the {self.name} source declares several objects ({known}); list one per table, "
                'or leave `tables` out and set `target.table: "{object}"` to load each into its own table'
            )
        if len(names) > 1:
            raise ConfigError(
                f'source.tables: the {self.name} source reads one object per table; set `target.table: "{{object}}"`'
            )
        found = options.resource(names[0])
        if found is None:
            raise ConfigError(f"source.tables: unknown object {names[0]!r}; the {self.name} source declares: {known}")
        return found

    def _resource(self, name: str) -> ResourceSpec:
        found = self.options.resource(name)
        if found is None:
            raise ConfigError(f"{self.name}: unknown object {name!r}")
        return found

    def _root(self, resource: ResourceSpec) -> ResourceSpec:
        seen = {resource.name}
        while resource.parent is not None:
            resource = self._resource(resource.parent)
            if resource.name in seen:
                raise ConfigError(f"{self.name}: resources {', '.join(sorted(seen))} are each other's parents")
            seen.add(resource.name)
        return resource

    def _raw_json(self, resource: ResourceSpec) -> bool:
        return self.options.raw_json if resource.raw_json is None else resource.raw_json

    # -- incremental -------------------------------------------------------------------

    def _incremental(self) -> IncrementalSpec | None:
        """The root resource's filter, checked against the job's `source.incremental`."""
        root = self._root(self.resource)
        spec = root.incremental
        job = self.context.incremental
        if job and job.get("cursor_field"):
            if spec is None:
                raise ConfigError(
                    f"source.incremental: {self.name} object {self.resource.name!r} declares no incremental filter "
                    f"(`incremental: {{cursor_field, param}}` on {root.name!r})"
                )
            if job["cursor_field"] != spec.cursor_field:
                raise ConfigError(
                    f"source.incremental.cursor_field: {self.name} object {self.resource.name!r} filters on "
                    f"{spec.cursor_field!r}, not {job['cursor_field']!r}"
                )
        return spec

    def _state_key(self) -> str | None:
        spec = self._incremental()
        if spec is None or not self.context.incremental:
            return None
        return f"{self.resource.name}.{spec.cursor_field}"

    def _committed(self) -> str | None:
        key = self._state_key()
        return self.context.state.get(key) if key else None

    def _since(self) -> dt.datetime | None:
        """The lower bound of this run: the committed cursor less the lookback, else `start`."""
        spec = self._incremental()
        if spec is None:
            return None
        key = self._state_key()
        committed = self._committed()
        if committed:
            lookback_text = (self.context.incremental or {}).get("lookback") or spec.lookback
            lookback = _seconds(lookback_text, "source.incremental.lookback")
            return parse_time(committed, f"incremental state {key}") - dt.timedelta(seconds=lookback)
        if spec.start is not None:
            return parse_time(spec.start, f"resources.{self._root(self.resource).name}.incremental.start")
        return None

    def _since_int(self) -> int | None:
        """An int cursor's lower bound (inclusive): one past the committed value, less the
        lookback (a count), else `start`."""
        spec = self._incremental()
        if spec is None:
            return None
        key = self._state_key()
        committed = self._committed()
        if committed:
            lookback = (self.context.incremental or {}).get("lookback") or spec.lookback or 0
            if not str(lookback).strip().isdigit():
                raise ConfigError(f"source.incremental.lookback: {spec.cursor_field} is an integer; give a count")
            try:
                return int(committed) + 1 - int(str(lookback).strip())
            except ValueError:
                raise ConfigError(f"incremental state {key}: {committed!r} is not an integer") from None
        return int(spec.start) if spec.start is not None else None

    def _highest(self, root: ResourceSpec, since: int | None) -> int | None:
        """An int cursor's highest value now: the run reads up to it and commits it. From one
        request with `latest_params`, else from listing the new records once."""
        if self._high is not None:
            return self._high[0]
        inc = root.incremental
        assert inc is not None
        probe = root
        if inc.latest_params is not None:
            probe = root.model_copy(update={"params": {**root.params, **inc.latest_params}, "paginator": _ONE_PAGE})
        spec: dict[str, Any] = {"resource": root.name, **({"since": since} if since is not None else {})}
        steps = parse_path(inc.cursor_field)
        high: int | None = None
        for records in self._request_pages(probe, probe.path, spec, root=True):
            for record in records:
                value = _integer(get_path(record, steps))
                if value is not None and (since is None or value >= since) and (high is None or value > high):
                    high = value
        self._high = (high,)
        return high

    def planned_state(self) -> dict[str, str]:
        key = self._state_key()
        spec = self._incremental()
        if key is None or spec is None or self._end is None:
            return {}
        if spec.type == "int":
            if self._high is None or self._high[0] is None:  # nothing new: keep what is committed
                committed = self._committed()
                return {key: committed} if committed else {}
            return {key: str(self._high[0])}
        lag = _seconds(spec.lag, "incremental.lag") if spec.lag else 0.0
        return {key: iso(self._end - dt.timedelta(seconds=lag))}

    # -- planning ----------------------------------------------------------------------

    def _specs(self) -> list[dict[str, Any]]:
        resource = self.resource
        root = self._root(resource)
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        self._end = now
        base: dict[str, Any] = {"resource": resource.name}
        since: dt.datetime | None = None
        if root.incremental is not None and root.incremental.type == "int":
            since_id = self._since_int()
            if since_id is not None:
                base["since"] = since_id
            if self.context.incremental:
                high = self._highest(root, since_id)
                if high is None:
                    base["empty"] = True  # nothing past the committed cursor: read nothing
                else:
                    base["until"] = high
        else:
            since = self._since()
            if since is not None:
                base["since"] = iso(since)
            if root.incremental is not None and root.incremental.end_param:
                base["until"] = iso(now)
        part = root.partitioning
        if part is None:
            return [base]
        where = f"resources.{root.name}.partitioning"
        if part.type == "time":
            start = parse_time(part.start, f"{where}.start")
            end = parse_time(part.end, f"{where}.end") if part.end is not None else now
            if since is not None and root.incremental is not None and part.start_param == root.incremental.param:
                start = max(start, since)  # the windows filter on the cursor: begin at the cursor
                base.pop("since", None)
            step = _seconds(part.window, f"{where}.window")
            if step < 1:
                raise ConfigError(f"{where}.window: at least 1s")
            bounds: list[dt.datetime] = []
            moment = start
            while moment < end:
                bounds.append(moment)
                moment += dt.timedelta(seconds=step)
            bounds.append(end)
            if len(bounds) < 2:
                bounds = [end, end]
            return [{**base, "lo": iso(lo), "hi": iso(hi)} for lo, hi in itertools.pairwise(bounds)]
        try:
            first = int(part.start)
            last = int(part.end) if part.end is not None else None
        except ValueError:
            raise ConfigError(f"{where}: id_range start and end are integers") from None
        if last is None:
            raise ConfigError(f"{where}.end: an id_range needs an end (exclusive)")
        edges = [*range(first, last, part.step), last] if first < last else [last, last]
        return [{**base, "lo": lo, "hi": hi} for lo, hi in itertools.pairwise(edges)]

    def plan(self) -> list[Partition]:
        specs = self._specs()
        return [
            Partition(index=i, spec=spec, label=f"{self.name} {spec['resource']}{_window_label(spec)}")
            for i, spec in enumerate(specs)
        ]

    # -- schema ------------------------------------------------------------------------

    def schema(self) -> pa.Schema:
        if self._schema is None:
            self._schema = self._schema_of(self.resource, planned=True)
        return self._schema

    def _schema_of(self, resource: ResourceSpec, planned: bool = False) -> pa.Schema:
        """Declared `fields`, else inferred from the first `infer_records` records across at most
        `infer_pages` pages (of the first partition, when ``planned``: the table's job; else, or
        when that partition has no records, e.g. nothing changed since the cursor, of the
        resource without bounds)."""
        raw = self._raw_json(resource)
        if resource.fields:
            return declared_schema(resource.fields, raw, list(resource.parent_fields))
        sample = self._sample(resource, self._specs()[0]) if planned else []
        if not sample:
            sample = self._sample(resource, self._bare_spec(resource))
        schema = infer_schema(sample, raw, {k: [] for k in resource.parent_fields})
        if not len(schema):  # nothing to learn from: keep the records whole
            schema = pa.schema([pa.field(RAW_COLUMN, pa.string())])
        return schema

    def _sample(self, resource: ResourceSpec, spec: dict[str, Any]) -> list[dict[str, Any]]:
        options = self.options
        sample: list[dict[str, Any]] = []
        for pages, (records, extra) in enumerate(self._pages(resource, spec), start=1):
            for i, record in enumerate(records[: options.infer_records - len(sample)]):
                sample.append({**record, **{k: v[i] for k, v in extra.items()}})
            if sample and (len(sample) >= options.infer_records or pages >= options.infer_pages):
                break
        return sample

    def discover(self) -> list[DiscoveredObject]:
        found = []
        for resource in self.options.resources:
            details: dict[str, Any] = {"path": resource.path}
            if resource.parent:
                details["parent"] = resource.parent
            schema = None
            try:
                schema = self._schema_of(resource)
            except DativoError as exc:
                details["error"] = str(exc)
            found.append(
                DiscoveredObject(
                    name=resource.name, kind="object", schema=schema, primary_key=resource.keys, details=details
                )
            )
        return found

    def check(self) -> list[str]:
        """One request (first page) per root resource of the job's objects."""
        problems = []
        names = [str(t.get("name")) for t in self.context.tables] or [r.name for r in self.options.resources]
        roots: dict[str, ResourceSpec] = {}
        for name in names:
            resource = self.options.resource(name)
            if resource is None:
                known = ", ".join(r.name for r in self.options.resources)
                problems.append(f"source.tables: unknown object {name!r}; the {self.name} source declares: {known}")
                continue
            root = self._root(resource)
            roots[root.name] = root
        for root in roots.values():
            try:
                next(iter(self._pages(root, self._bare_spec(root))), None)
            except DativoError as exc:
                problems.append(str(exc))
        return problems

    def _bare_spec(self, resource: ResourceSpec) -> dict[str, Any]:
        """A request of ``resource`` outside a run (check, discover): its root's `start` only."""
        spec: dict[str, Any] = {"resource": resource.name}
        inc = self._root(resource).incremental
        if inc is not None and inc.start is not None and inc.type == "int":
            spec["since"] = int(inc.start)
        elif inc is not None and inc.start is not None:
            spec["since"] = iso(parse_time(inc.start, f"resources.{resource.name}.incremental.start"))
        return spec

    def lineage_inputs(self) -> list[tuple[str, str]]:
        url = httpx.URL(self.options.base_url)
        namespace = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
        return [(namespace, (url.path.rstrip("/") + "/" + self.resource.path.lstrip("/")).lstrip("/"))]

    # -- reading -----------------------------------------------------------------------

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            options = self.options
            self._client = HttpClient(
                options.base_url,
                build_auth(options),
                retry=options.retry_settings(),
                rate_limiter=options.rate_limiter(
                    f"{self.context.tenant_id}:{self.name}:{httpx.URL(options.base_url).host}"
                ),
                timeout=options.timeout_seconds,
                source_name=self.name,
                headers=dict(options.headers),
            )
        return self._client

    def read(self, partition: Partition, schema: pa.Schema | None) -> Iterator[pa.RecordBatch]:
        yield from self._batches(partition, schema, untyped=False)

    def read_untyped(self, partition: Partition, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        yield from self._batches(partition, schema, untyped=True)

    def _batches(self, partition: Partition, schema: pa.Schema | None, untyped: bool) -> Iterator[pa.RecordBatch]:
        resource = self._resource(str(partition.spec["resource"]))
        schema = schema if schema is not None else self.schema()
        size = self.options.batch_size
        pending: list[dict[str, Any]] = []
        extras: dict[str, list[Any]] = {}
        seen: set[str] = set()
        # without raw_json, a key outside the schema (one that first appears after the sample) is
        # reported, not silently dropped: see _with_unknown
        known = None if RAW_COLUMN in schema.names else set(schema.names)
        for records, extra in self._pages(resource, partition.spec):
            if resource.dedupe:
                records, extra = _unseen(resource, records, extra, seen)
            pending.extend(records)
            for name in resource.parent_fields:
                extras.setdefault(name, []).extend(extra.get(name, [None] * len(records)))
            if len(pending) >= size:
                yield _with_unknown(to_batch(pending, schema, extras, untyped), pending, known)
                pending, extras = [], {}
        if pending:
            yield _with_unknown(to_batch(pending, schema, extras, untyped), pending, known)

    def _pages(self, resource: ResourceSpec, spec: dict[str, Any]) -> Iterator[Page]:
        """Every page of ``resource`` in the partition ``spec``: a root's requests, or, for a child,
        its requests for each record of its parent's pages."""
        if resource.parent is None:
            if spec.get("empty"):
                return
            for records in self._request_pages(resource, resource.path, spec, root=True):
                records, past = _before_window_end(resource, records, spec)
                yield self._filtered(resource, records, spec), {}
                if past:  # the chain went past this window: the rest is the next window's
                    return
            return
        parent = self._resource(resource.parent)
        for parents, _ in self._pages(parent, spec):
            for record in parents:
                path = self._child_path(resource, record)
                values = {name: get_path(record, parse_path(p)) for name, p in resource.parent_fields.items()}
                values = {k: (None if v is MISSING else v) for k, v in values.items()}
                for records in self._request_pages(resource, path, spec, root=False):
                    yield records, {k: [v] * len(records) for k, v in values.items()}

    def _child_path(self, resource: ResourceSpec, parent: dict[str, Any]) -> str:
        def value(match: re.Match[str]) -> str:
            found = get_path(parent, parse_path(match.group(1)))
            if found is MISSING or found is None or isinstance(found, dict | list):
                raise SourceError(
                    f"{self.name} {resource.name}: path {resource.path!r}: the {resource.parent} record "
                    f"{json_text(parent)[:120]} has no value for {{{match.group(1)}}}"
                )
            return quote(str(found), safe="")

        return _PLACEHOLDER.sub(value, resource.path)

    def _filtered(
        self, resource: ResourceSpec, records: list[dict[str, Any]], spec: dict[str, Any]
    ) -> list[dict[str, Any]]:
        inc = resource.incremental
        if inc is not None and inc.type == "int":
            return _int_filtered(inc, records, spec)
        if inc is None or not inc.client_side or not spec.get("since"):
            return records
        since = parse_time(spec["since"], "since")
        steps = parse_path(inc.cursor_field)
        kept = []
        for record in records:
            value = get_path(record, steps)
            if value is MISSING or value is None:
                kept.append(record)  # unknown: keep rather than lose it
                continue
            try:
                if parse_time(value, inc.cursor_field) >= since:
                    kept.append(record)
            except ConfigError:
                kept.append(record)
        return kept

    def _request_pages(
        self, resource: ResourceSpec, path: str, spec: dict[str, Any], root: bool
    ) -> Iterator[list[dict[str, Any]]]:
        params: dict[str, Any] = dict(resource.params)
        body = copy.deepcopy(resource.body) if resource.body is not None else None
        if root:
            self._bounds(resource, spec, params, body)
        try:
            yield from self._paginate(resource, path, params, body)
        except HttpError as exc:
            if not (resource.missing_ok and not root and exc.status_code == 404):
                raise
            log.info("child request found nothing, skipped", resource=resource.name, error=str(exc))

    def _bounds(
        self, resource: ResourceSpec, spec: dict[str, Any], params: dict[str, Any], body: dict[str, Any] | None
    ) -> None:
        """The partition's window and the incremental lower bound, as the API takes them."""
        inc, part = resource.incremental, resource.partitioning

        def put(location: str, name: str, value: Any) -> None:
            if location == "body":
                if body is None:
                    raise ConfigError(f"resources.{resource.name}: a parameter in the body needs `body:`")
                set_path(body, parse_path(name), value)
            else:
                params[name] = value

        if inc is not None and inc.type == "int":
            if inc.param and spec.get("since") is not None:
                put(inc.location, inc.param, int(spec["since"]) - (1 if inc.operator == ">" else 0))
            if inc.end_param and spec.get("until") is not None:
                put(inc.location, inc.end_param, int(spec["until"]))
        elif inc is not None and inc.param and spec.get("since"):
            since = parse_time(spec["since"], "since") - _unit(inc.format, inc.operator == ">")
            put(inc.location, inc.param, format_time(since, inc.format))
        if inc is not None and inc.type == "time" and inc.end_param and spec.get("until"):
            put(inc.location, inc.end_param, format_time(parse_time(spec["until"], "until"), inc.format))
        if part is not None and "lo" in spec:
            lo, hi = spec["lo"], spec["hi"]
            if part.type == "time":
                end = parse_time(hi, "hi") - (dt.timedelta(seconds=1) if part.end_inclusive else dt.timedelta())
                start = parse_time(lo, "lo") - _unit(part.format, part.start_exclusive)
                put(part.location, part.start_param, format_time(start, part.format))
                if part.end_param:
                    put(part.location, part.end_param, format_time(end, part.format))
            else:
                put(part.location, part.start_param, int(lo) - (1 if part.start_exclusive else 0))
                if part.end_param:
                    put(part.location, part.end_param, int(hi) - (1 if part.end_inclusive else 0))

    def _paginate(
        self, resource: ResourceSpec, path: str, params: dict[str, Any], body: dict[str, Any] | None
    ) -> Iterator[list[dict[str, Any]]]:
        pag = resource.paginator
        client = self.client
        url: str = path
        query: dict[str, Any] | None = params
        seen: set[str] = set()
        previous: str | None = None
        offset, page, pages = 0, pag.start_page, 0
        headers = dict(resource.headers) or None
        while True:
            if pag.type == "offset":
                query = {**params, pag.offset_param: offset}
                if pag.limit_param:
                    query[pag.limit_param] = pag.limit
            elif pag.type == "page_number":
                query = {**params, pag.page_param: page}
                if pag.page_size_param and pag.page_size:
                    query[pag.page_size_param] = pag.page_size
            response = client.request(
                resource.method, url, params=query or None, json=body, headers=headers, resource=resource.name
            )
            what = client.describe(resource.method, response.request.url, resource.name)
            data = client.json_of(response, resource.method, resource.name, decimals=True)
            records = self._records(resource, data, what)
            yield self.transform(resource, records)
            pages += 1
            if pag.type == "none" or (self.options.max_pages and pages >= self.options.max_pages):
                return
            if pag.stop_path and _truthy(get_path(data, parse_path(pag.stop_path))):
                return
            if pag.has_more_path:
                more = get_path(data, parse_path(pag.has_more_path))
                if more is not MISSING and not _truthy(more):
                    return
            if not records and pag.stop_on_empty_page:
                return
            if pag.type == "cursor":
                cursor = (
                    response.headers.get(pag.cursor_header)
                    if pag.cursor_header
                    else get_path(data, parse_path(pag.cursor_path or ""))
                )
                if cursor is MISSING or cursor is None or cursor == "":
                    return
                token = json_text(cursor)
                if pag.scroll:
                    digest = hashlib.sha256(json_text(records).encode()).hexdigest()
                    if digest == previous:
                        raise SourceError(
                            f"{what}: the paginator does not advance: the scroll returned the same page again; "
                            "stopping instead of looping"
                        )
                    previous = digest
                elif token in seen:
                    raise SourceError(
                        f"{what}: the paginator does not advance: the cursor {_short(token)} came back a second "
                        "time; stopping instead of reading the same pages again"
                    )
                seen.add(token)
                assert pag.param is not None
                if pag.location == "body":
                    if body is None:
                        body = {}
                    set_path(body, parse_path(pag.param), cursor)
                else:
                    params = {**params, pag.param: cursor}
                    query = params
            elif pag.type in ("next_url", "link_header"):
                following = get_path(data, parse_path(pag.next_url_path)) if pag.next_url_path else MISSING
                if following is MISSING or following is None:
                    following = response.links.get("next", {}).get("url") if not pag.next_url_path else None
                if not following:
                    return
                absolute = urljoin(str(response.request.url), str(following))
                if absolute in seen or absolute == str(response.request.url):
                    raise SourceError(
                        f"{what}: the paginator does not advance: the next page is the same URL again "
                        f"({client.describe(resource.method, absolute)}); stopping instead of looping"
                    )
                seen.add(absolute)
                url, query = absolute, None  # the next URL carries its own query
            else:  # offset, page_number
                digest = hashlib.sha256(json_text(records).encode()).hexdigest()
                if digest == previous:
                    raise SourceError(
                        f"{what}: the paginator does not advance: the API returned the same page again "
                        f"({pag.type}); stopping instead of looping"
                    )
                previous = digest
                if pag.total_pages_path:
                    total = get_path(data, parse_path(pag.total_pages_path))
                    if isinstance(total, int) and page - pag.start_page + 1 >= total:
                        return
                if pag.type == "offset":
                    offset += len(records)
                    total = get_path(data, parse_path(pag.total_path)) if pag.total_path else MISSING
                    if isinstance(total, int) and offset >= total:
                        return
                    if len(records) < pag.limit:
                        return
                else:
                    page += 1
                    if pag.page_size and len(records) < pag.page_size:
                        return

    def _records(self, resource: ResourceSpec, data: Any, what: str) -> list[dict[str, Any]]:
        found = get_path(data, parse_path(resource.records))
        if found is MISSING:
            keys = ", ".join(list(data)[:12]) if isinstance(data, dict) else type(data).__name__
            raise SourceError(f"{what}: records path {resource.records!r} is not in the response (it holds: {keys})")
        records = as_records(found)
        if records is None:
            raise SourceError(
                f"{what}: records path {resource.records!r} holds a {type(found).__name__}, not a list of records"
            )
        return records

    def describe_position(self, partition: Partition, row_in_partition: int) -> str:
        return f"{partition.label or self.name}, record {row_in_partition + 1}"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def build_auth(options: RestApiOptions) -> Auth:
    spec = options.auth

    def secret(value: Any) -> str:
        return value.get_secret_value() if value is not None else ""

    if spec.type == "bearer":
        return BearerAuth(secret(spec.token))
    if spec.type == "api_key":
        return ApiKeyAuth(spec.name or "", secret(spec.value), spec.location, spec.prefix)
    if spec.type == "basic":
        return BasicAuth(secret(spec.username), secret(spec.password))
    if spec.type == "oauth2_client_credentials":
        return OAuth2ClientCredentials(
            spec.token_url or "", secret(spec.client_id), secret(spec.client_secret), spec.scope
        )
    if spec.type == "oauth2_refresh_token":
        return OAuth2RefreshToken(
            spec.token_url or "",
            secret(spec.client_id),
            secret(spec.client_secret),
            secret(spec.refresh_token),
            spec.scope,
        )
    return Auth()


def _unseen(resource: ResourceSpec, records: list[dict[str, Any]], extra: dict[str, list[Any]], seen: set[str]) -> Page:
    """The records not seen before in this partition (by primary key and cursor value)."""
    fields = [*resource.keys, *([resource.incremental.cursor_field] if resource.incremental else [])]
    keep: list[int] = []
    for i, record in enumerate(records):
        key = json_text([record.get(f) for f in fields]) if fields else json_text(record)
        if key not in seen:
            seen.add(key)
            keep.append(i)
    if len(keep) == len(records):
        return records, extra
    return [records[i] for i in keep], {k: [v[i] for i in keep] for k, v in extra.items()}


_ONE_PAGE = PaginatorSpec(type="none")


def _before_window_end(
    resource: ResourceSpec, records: list[dict[str, Any]], spec: dict[str, Any]
) -> tuple[list[dict[str, Any]], bool]:
    """A time window of an API without an end bound (`end_field`): the records before the
    window's end, and whether the page went past it (then the chain stops there)."""
    part = resource.partitioning
    if part is None or part.end_field is None or "hi" not in spec:
        return records, False
    end = parse_time(spec["hi"], "hi")
    steps = parse_path(part.end_field)
    kept: list[dict[str, Any]] = []
    past = False
    for record in records:
        value = get_path(record, steps)
        if value is MISSING or value is None:
            raise SourceError(
                f"{resource.name}: a record has no {part.end_field!r} (partitioning.end_field) to place it in a window"
            )
        if parse_time(value, part.end_field) >= end:
            past = True
        else:
            kept.append(record)
    return kept, past


def _with_unknown(batch: pa.RecordBatch, records: list[dict[str, Any]], known: set[str] | None) -> pa.RecordBatch:
    """``batch`` plus an all-null column named after each record key the schema lacks: the
    engine leaves such columns out of the table and warns once per partition of the source
    columns it did not load. ``known`` None (raw_json keeps every key): the batch as is."""
    if known is None:
        return batch
    keys: set[str] = set()
    for record in records:
        keys.update(record)
    unknown = sorted(keys - known)
    if not unknown:
        return batch
    nulls = [pa.nulls(batch.num_rows) for _ in unknown]
    return pa.RecordBatch.from_arrays([*batch.columns, *nulls], names=[*batch.schema.names, *unknown])


def _integer(value: Any) -> int | None:
    """An int cursor's value (an integer, or its text); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, decimal.Decimal | float) and value == int(value):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _int_filtered(inc: IncrementalSpec, records: list[dict[str, Any]], spec: dict[str, Any]) -> list[dict[str, Any]]:
    """An int cursor's records within [since, until]: past `until` (created after planning) they
    belong to the next run, whose lower bound is the committed `until`; below `since` only with
    `client_side` (an API that ignores the parameter)."""
    high, low = spec.get("until"), spec.get("since") if inc.client_side else None
    if high is None and low is None:
        return records
    steps = parse_path(inc.cursor_field)
    kept = []
    for record in records:
        value = _integer(get_path(record, steps))
        if value is not None and ((high is not None and value > high) or (low is not None and value < low)):
            continue
        kept.append(record)
    return kept


def _unit(fmt: str, apply: bool) -> dt.timedelta:
    """One unit of a time format (to turn an exclusive bound into an inclusive one)."""
    if not apply:
        return dt.timedelta()
    if fmt == "unix_ms":
        return dt.timedelta(milliseconds=1)
    if fmt == "date":
        return dt.timedelta(days=1)
    return dt.timedelta(seconds=1)


def _truthy(value: Any) -> bool:
    if value is MISSING:
        return False
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _short(token: str) -> str:
    return token if len(token) <= 48 else token[:45] + "..."


def _window_label(spec: dict[str, Any]) -> str:
    if "lo" in spec:
        return f" [{spec['lo']}, {spec['hi']})"
    if spec.get("since"):
        return f" since {spec['since']}"
    return ""


__all__ = ["PartitionSpec", "RestApiReader", "build_auth", "format_time", "iso", "parse_time"]
