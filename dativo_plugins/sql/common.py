"""What the PostgreSQL and MySQL readers share: the object to read (a table or a query),
key-range partition planning, incremental windows and the column map.

A partition ``spec`` is data, never SQL: bounds are typed values that the worker renders
into literals itself, and identifiers are quoted by the dialect. Nothing a job or the
database sends can change the shape of the statement.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

import pyarrow as pa
import structlog
from pydantic import BaseModel, Field, SecretStr

from dativo_workers.errors import ConfigError, SourceError, TransientError
from dativo_workers.plugins import (
    DataReader,
    DiscoveredObject,
    Partition,
    PluginSettings,
    ReaderConversionError,
    parse_lookback,
)
from dativo_workers.secrets import SecretValue

log = structlog.get_logger("dativo.sql")


class SqlConnection(BaseModel):
    """`source.connection` of a database source."""

    host: str = Field(default="localhost", description="database server host name or IP address")
    port: int = Field(default=5432, ge=1, le=65535, description="server port")
    database: str = Field(description="database to connect to")
    user: str = Field(description="user name")
    password: SecretStr | None = Field(default=None, description="password (a ${secret:...} reference)")
    connect_timeout_s: int = Field(default=10, ge=1, description="seconds before a connection attempt fails")


class SqlOptions(PluginSettings):
    """`source.options` of a database source."""

    batch_rows: int = Field(default=65536, ge=1024, description="rows per Arrow batch (bounds memory)")


@dataclass(frozen=True)
class Column:
    name: str
    native: str  # the database's own type name, e.g. numeric(20,4)
    arrow: pa.DataType  # what the table gets
    select: str  # the select-list expression that produces it (quoted, maybe cast)
    read_as: pa.DataType | None = None  # what the driver returns when it must be cast after reading
    nullable: bool = True
    dims: int = 0  # arrays: nesting depth of the list the table gets (0: not an array)
    extra: tuple[str, ...] = ()  # helper select-list expressions read after every column, then dropped
    fallback: str | None = None  # the select-list expression of the tolerant (slower) re-read, if not `select`


@dataclass
class SqlObject:
    """The one table (or query) a reader instance serves, with its columns."""

    name: str  # object name: state keys and defaults use it
    source: str  # quoted table name, or "(query) AS q"
    columns: list[Column]
    primary_key: list[str] = field(default_factory=list)
    row_estimate: int | None = None
    byte_estimate: int | None = None
    is_table: bool = True
    display: str = ""  # how errors name it: schema.table as configured, or "query"


def scrub(text: str, secrets: list[str]) -> str:
    """Remove every secret (and its URL-encoded form) from a driver's message."""
    from urllib.parse import quote

    for secret in secrets:
        if secret:
            text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
    return text


class SqlReader(DataReader):
    """Base of the database readers; subclasses speak their dialect and driver."""

    config_model = SqlOptions
    connection_model: ClassVar[type[BaseModel] | None] = SqlConnection
    source_list = "tables"
    default_port: ClassVar[int] = 5432
    # Partitions can read one exported snapshot while the planner holds it (PostgreSQL).
    supports_snapshots: ClassVar[bool] = False

    def __init__(self, config: SqlOptions, context: Any) -> None:  # type: ignore[override]
        super().__init__(config, context)
        self.config: SqlOptions = config
        settings = dict(context.connection)
        settings.setdefault("port", self.default_port)
        try:
            self.connection = SqlConnection.model_validate(settings)
        except Exception as exc:
            raise ConfigError(f"source.connection: {self.name}: {exc}") from None
        self._object: SqlObject | None = None
        self._state: dict[str, str] = {}
        self._conn: Any = None
        self._shape: dict[str, Any] | None = None

    @property
    def conn(self) -> Any:
        """The metadata connection (catalog queries, bounds), opened on first use."""
        if self._conn is None:
            self._conn = self.connect()
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- dialect -----------------------------------------------------------------------------

    @abstractmethod
    def connect(self) -> Any:
        """A DB-API connection; raises SourceError/TransientError saying what to fix."""

    @abstractmethod
    def quote(self, identifier: str) -> str:
        """Quote one identifier so no name can break out of it."""

    @abstractmethod
    def literal(self, value: Any, column: Column) -> str:
        """Render a typed bound (int, datetime, date) as a SQL literal of the column's type."""

    @abstractmethod
    def describe(self, table: str | None, query: str | None) -> SqlObject:
        """Columns, keys and size estimates; raises naming the table and column for an
        unmappable type, before any data is read."""

    @abstractmethod
    def scalar_row(self, sql: str) -> tuple[Any, ...]:
        """Run a small query and return its first row."""

    @abstractmethod
    def stream(self, sql: str, snapshot: str | None = None) -> Iterator[pa.RecordBatch]:
        """Stream a SELECT's result as Arrow batches of about ``batch_rows`` rows, inside the
        exported ``snapshot`` when one is given."""

    def export_snapshot(self) -> str:
        """Open a transaction on the metadata connection and export its snapshot; it stays
        readable by other sessions until ``close()``."""
        raise NotImplementedError

    def probe_shape(self, obj: SqlObject) -> dict[str, Any]:
        """What the columns' shape depends on that the catalog does not say (PostgreSQL: array
        depths), looked up in the data; JSON-serialisable."""
        return {}

    def apply_shape(self, obj: SqlObject, shape: dict[str, Any]) -> None:
        """Fit ``obj``'s columns to a ``probe_shape()`` answer."""

    def settle(self) -> dict[str, Any]:
        """Probe the shape once, at planning; every partition then reads with the same answer."""
        if self._shape is None:
            self.adopt(self.probe_shape(self.sql_object()))
        return self._shape or {}

    def adopt(self, shape: dict[str, Any]) -> None:
        """Take the planner's answer (from the partition spec) on a worker."""
        if self._shape is None:
            self._shape = shape
            self.apply_shape(self.sql_object(), shape)

    def page_ranges(self, obj: SqlObject, parts: int) -> list[dict[str, Any]] | None:
        """Physical slices for tables without a usable key (PostgreSQL: ctid pages)."""
        return None

    def page_filter(self, spec: dict[str, Any]) -> str:
        raise NotImplementedError

    # -- the object --------------------------------------------------------------------------

    @property
    def secrets(self) -> list[str]:
        return [self.connection.password.get_secret_value()] if self.connection.password else []

    def sql_object(self) -> SqlObject:
        if self._object is None:
            tables = self.context.tables
            query = self.context.query
            if query is None and len(tables) != 1:
                raise ConfigError(
                    f"source.tables: the {self.name} reader serves one table per run (got {len(tables)}); "
                    "the engine splits multi-table jobs, or set `source.query`"
                )
            self._object = self.describe(None if query else tables[0]["name"], query)
            if query is None and tables[0].get("object"):
                self._object.name = tables[0]["object"]
        return self._object

    def split_name(self, name: str) -> tuple[str | None, str]:
        schema, _, table = name.rpartition(".")
        if not table:
            raise ConfigError(f"source.tables: {name!r} is not a table name (use schema.table or table)")
        return schema or None, table

    def quoted_table(self, name: str) -> str:
        schema, table = self.split_name(name)
        return (self.quote(schema) + "." if schema else "") + self.quote(table)

    def lineage_inputs(self) -> list[tuple[str, str]] | None:
        """OpenLineage naming: `postgres://host:port` with `database.schema.table`, `mysql://host:port`
        with `database.table`. A host given as a secret is not named (the engine's default applies)."""
        if self.context.query is not None or not self.context.tables:
            return None
        host = self.context.connection.get("host", self.connection.host)
        if isinstance(host, SecretValue):
            return None
        db = self.connection.database
        names = []
        for entry in self.context.tables:
            schema, table = self.split_name(str(entry["name"]))
            if self.name == "postgres":
                names.append(f"{db}.{schema or 'public'}.{table}")
            else:  # MySQL: a schema is a database
                names.append(f"{schema or db}.{table}")
        return [(f"{self.name}://{host}:{self.connection.port}", name) for name in names]

    def schema(self) -> pa.Schema:
        self.settle()
        obj = self.sql_object()
        return pa.schema([pa.field(c.name, c.arrow, nullable=c.nullable) for c in obj.columns])

    def column(self, name: str, key: str) -> Column:
        for col in self.sql_object().columns:
            if col.name == name:
                return col
        known = ", ".join(c.name for c in self.sql_object().columns)
        raise ConfigError(f"{key}: {self.sql_object().name} has no column {name!r} (columns: {known})")

    # -- planning ----------------------------------------------------------------------------

    def plan(self) -> list[Partition]:
        shape = self.settle()
        obj = self.sql_object()
        window = self._incremental_window(obj)
        where = self._window_sql(window)
        parts = self._partition_count(obj)
        key = self._partition_key(obj)
        # One snapshot for every partition needs a planner that outlives the reads (embedded runs).
        consistent = self.supports_snapshots and self.context.planner_lives_for_run
        relaxed = self._partitioning().get("consistency") == "relaxed"
        specs: list[dict[str, Any]]
        # Inside one snapshot, a table's own key needs no ranges: physical slices are read
        # sequentially (PostgreSQL: TID range scans), where each key range is an index scan that
        # costs the server 2-7x the CPU (1.1 M rows: 31-37 ms against 77-257 ms), and the MIN/MAX
        # query is saved. An explicit partitioning column or an incremental window keeps key ranges.
        chosen = bool(self._partitioning().get("column")) or window is not None
        slices = None
        if parts > 1 and key is not None and consistent and obj.is_table and not chosen:
            slices = self.page_ranges(obj, parts)
        if slices:
            specs = slices
        elif parts > 1 and key is not None:
            low, high = self.scalar_row(
                f"SELECT MIN({self.quote(key.name)}), MAX({self.quote(key.name)}) FROM {obj.source}"
                + (f" WHERE {where}" if where else "")
            )
            specs = [{"key": key.name, **bounds} for bounds in split_range(low, high, parts, key.arrow)]
        elif parts > 1 and obj.is_table and (consistent or relaxed) and (pages := self.page_ranges(obj, parts)):
            # Physical ranges read at different times lose or repeat rows an UPDATE moves between
            # them: only inside one snapshot, or when the job accepts that.
            specs = pages
        else:
            if parts > 1 and obj.is_table and key is None and self.page_ranges(obj, parts):
                log.info(
                    "keyless table read as one partition: this run cannot hold one snapshot for all of them",
                    table=obj.display or obj.name,
                    hint="set source.partitioning.column, or partitioning.consistency: relaxed",
                )
            specs = [{}]
        # Bounds may come from before the snapshot: they are predicates the snapshot's rows are
        # filtered by, and the outer ranges are open.
        snapshot = self.export_snapshot() if consistent and len(specs) > 1 else None
        estimate = (obj.row_estimate or 0) // len(specs)
        size = (obj.byte_estimate or 0) // len(specs)
        partitions = []
        for index, spec in enumerate(specs):
            spec = {**spec, "window": window}
            if shape:
                spec["shape"] = shape
            if snapshot:
                spec["snapshot"] = snapshot
            partitions.append(
                Partition(index, spec, estimated_bytes=size, estimated_rows=estimate, label=self._label(obj, spec))
            )
        return partitions

    def planned_state(self) -> dict[str, str]:
        return dict(self._state)

    def _partition_count(self, obj: SqlObject) -> int:
        cfg = self._partitioning()
        if cfg.get("partitions"):
            return int(cfg["partitions"])
        if cfg.get("target_rows") and obj.row_estimate:
            return max(1, math.ceil(obj.row_estimate / int(cfg["target_rows"])))
        if obj.byte_estimate:
            return max(1, math.ceil(obj.byte_estimate / self.context.target_partition_bytes))
        return 1

    def _partitioning(self) -> dict[str, Any]:
        return self.context.partitioning

    def _partition_key(self, obj: SqlObject) -> Column | None:
        name = self._partitioning().get("column")
        if name:
            col = self.column(name, "source.partitioning.column")
            if not is_rangeable(col.arrow):
                raise ConfigError(
                    f"source.partitioning.column: {obj.name}.{name} is {col.native}; "
                    "partition on an integer, date or timestamp column"
                )
            return col
        if len(obj.primary_key) == 1:
            col = self.column(obj.primary_key[0], "primary key")
            if is_rangeable(col.arrow):
                return col
        return None

    def _incremental_window(self, obj: SqlObject) -> dict[str, Any] | None:
        """The cursor range this run reads: (last committed - lookback, current max]."""
        inc = self.context.incremental
        if not inc:
            return None
        cursor = self.column(inc["cursor_field"], "source.incremental.cursor_field")
        if not is_rangeable(cursor.arrow):
            raise ConfigError(
                f"source.incremental.cursor_field: {obj.name}.{cursor.name} is {cursor.native}; "
                "use an integer, date or timestamp column"
            )
        state_key = f"{obj.name}.{cursor.name}"
        previous = self.context.state.get(state_key)
        low = from_state(previous, cursor.arrow) if previous is not None else None
        try:
            lookback = parse_lookback(inc.get("lookback"))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if low is not None and lookback:
            if isinstance(low, int) and isinstance(lookback, timedelta):
                raise ConfigError(f"source.incremental.lookback: {cursor.name} is an integer; give a number")
            low = low - (int(lookback) if isinstance(low, int) else lookback)  # type: ignore[operator]
        (high,) = self.scalar_row(
            f"SELECT MAX({self.quote(cursor.name)}) FROM {obj.source}"
            + (f" WHERE {self.quote(cursor.name)} > {self.literal(low, cursor)}" if low is not None else "")
        )
        if high is None:  # nothing new: read nothing, keep the committed state
            if previous is not None:
                self._state[state_key] = previous
            return {"cursor": cursor.name, "gt": to_json(low), "le": to_json(low), "empty": True}
        self._state[state_key] = to_state(high)
        return {"cursor": cursor.name, "gt": to_json(low), "le": to_json(high), "nulls": low is None}

    def _window_sql(self, window: dict[str, Any] | None) -> str:
        if not window:
            return ""
        if window.get("empty"):
            return "1 = 0"
        cursor = self.column(window["cursor"], "source.incremental.cursor_field")
        col = self.quote(cursor.name)
        high = self.literal(from_json(window["le"], cursor.arrow), cursor)
        if window["gt"] is None:
            # first load: every row up to the planned maximum, rows without a cursor included
            return f"({col} <= {high}" + (f" OR {col} IS NULL)" if window.get("nulls") else ")")
        return f"{col} > {self.literal(from_json(window['gt'], cursor.arrow), cursor)} AND {col} <= {high}"

    def _label(self, obj: SqlObject, spec: dict[str, Any]) -> str:
        if "key" in spec:
            return f"{obj.name} {spec['key']} [{spec.get('lo')}, {spec.get('hi')})"
        if "pages" in spec:
            return f"{obj.name} pages [{spec['pages'][0]}, {spec['pages'][1]})"
        return obj.name

    # -- reading -----------------------------------------------------------------------------

    def partition_sql(self, spec: dict[str, Any], *, typed: bool = True) -> str:
        """The partition's SELECT; ``typed=False``: the re-read after a typed read failed."""
        obj = self.sql_object()
        chosen = [c.select if typed or c.fallback is None else c.fallback for c in obj.columns]
        select = ", ".join(chosen + [e for c in obj.columns for e in c.extra])
        filters = []
        if window := self._window_sql(spec.get("window")):
            filters.append(window)
        if "key" in spec:
            key = self.column(spec["key"], "partition key")
            col = self.quote(key.name)
            range_filters = []
            if spec.get("lo") is not None:
                range_filters.append(f"{col} >= {self.literal(from_json(spec['lo'], key.arrow), key)}")
            if spec.get("hi") is not None:
                range_filters.append(f"{col} < {self.literal(from_json(spec['hi'], key.arrow), key)}")
            condition = " AND ".join(range_filters) or "1 = 1"
            # the first range also takes rows whose key is NULL: the union is the whole table
            filters.append(f"({condition} OR {col} IS NULL)" if spec.get("lo") is None else condition)
        if "pages" in spec:
            filters.append(self.page_filter(spec))
        return f"SELECT {select} FROM {obj.source}" + (" WHERE " + " AND ".join(filters) if filters else "")

    def read(self, partition: Partition, schema: pa.Schema | None) -> Iterator[pa.RecordBatch]:
        self.adopt(partition.spec.get("shape") or {})
        return self._read_sql(self.partition_sql(partition.spec), partition.spec.get("snapshot"))

    def read_untyped(self, partition: Partition, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        """After a value did not convert: the same rows with the converted columns as the
        server's text, so the engine finds the bad rows and applies `bad_rows`."""
        self.adopt(partition.spec.get("shape") or {})
        sql = self.partition_sql(partition.spec, typed=False)
        return self._read_sql(sql, partition.spec.get("snapshot"), typed=False)

    def sample(self, partition: Partition, rows: int = 1000) -> pa.Table | None:
        """A LIMIT on the partition's query: the server stops after ``rows`` rows."""
        snapshot = partition.spec.get("snapshot")
        try:
            try:
                batches = list(self._read_sql(f"{self.partition_sql(partition.spec)} LIMIT {int(rows)}", snapshot))
            except (pa.ArrowInvalid, ReaderConversionError):  # a bad value: its text still shows PII
                sql = f"{self.partition_sql(partition.spec, typed=False)} LIMIT {int(rows)}"
                batches = list(self._read_sql(sql, snapshot, typed=False))
            return pa.Table.from_batches(batches) if batches else None
        except Exception:
            return super().sample(partition, rows)

    def describe_position(self, partition: Partition, row_in_partition: int) -> str:
        obj = self.sql_object()
        where = f" ({partition.label})" if partition.label and partition.label != obj.name else ""
        return f"{obj.display or obj.name}{where}, row {row_in_partition + 1} of the partition"

    def _read_sql(self, sql: str, snapshot: str | None = None, *, typed: bool = True) -> Iterator[pa.RecordBatch]:
        for batch in self.stream(sql, snapshot):
            yield self.convert(batch, typed=typed)

    def convert(self, batch: pa.RecordBatch, *, typed: bool = True) -> pa.RecordBatch:
        """The driver's batch as the table's columns: helper columns dropped, text-read columns
        converted (``typed``) or left as text for the engine's bad-row search."""
        columns = self.sql_object().columns
        arrays = batch.columns[: len(columns)]
        if typed:
            arrays = [a.cast(c.arrow) if c.read_as is not None else a for a, c in zip(arrays, columns, strict=True)]
        return pa.RecordBatch.from_arrays(arrays, names=[c.name for c in columns])

    def discovered(self, name: str, kind: str) -> DiscoveredObject:
        """One table or view for `dativo discover`; one whose columns do not map is listed with its error."""
        try:
            obj = self.describe(name, None)
            self.apply_shape(obj, self.probe_shape(obj))
        except (ConfigError, SourceError) as exc:
            return DiscoveredObject(name=name, kind=kind, details={"error": str(exc)})
        return DiscoveredObject(
            name=name,
            kind=kind,
            schema=pa.schema([pa.field(c.name, c.arrow) for c in obj.columns]),
            row_estimate=obj.row_estimate,
            primary_key=obj.primary_key,
            details={"columns": {c.name: c.native for c in obj.columns}},
        )

    # -- errors ------------------------------------------------------------------------------

    def transient(self, exc: BaseException, what: str) -> TransientError:
        return TransientError(f"{self.name}: {what}: {scrub(str(exc), self.secrets)}")


def is_rangeable(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_timestamp(kind) or pa.types.is_date(kind)


def split_range(low: Any, high: Any, parts: int, kind: pa.DataType) -> list[dict[str, Any]]:
    """Balanced half-open ranges over [low, high]; the first is open below (and takes NULL
    keys), the last open above, so rows outside the planned bounds are never lost."""
    if low is None or high is None:
        return [{"lo": None, "hi": None}]
    if isinstance(low, date):  # datetime is a date too
        span = high - low
        if not span:
            return [{"lo": None, "hi": None}]
        cuts = [low + span * i / parts for i in range(1, parts)]
        if pa.types.is_date(kind):
            cuts = sorted({c for c in cuts if c > low})
    else:
        low, high = int(low), int(high)
        width = (high - low + 1) / parts
        cuts = sorted({low + math.ceil(width * i) for i in range(1, parts)} - {low})
    bounds = [None, *(to_json(c) for c in cuts), None]
    return [{"lo": bounds[i], "hi": bounds[i + 1]} for i in range(len(bounds) - 1)]


def to_json(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def from_json(value: Any, kind: pa.DataType) -> Any:
    """A bound back from a partition spec, typed strictly: nothing else reaches the SQL."""
    if value is None:
        return None
    if pa.types.is_integer(kind):
        return int(value)
    if pa.types.is_date(kind):
        return date.fromisoformat(str(value))
    parsed = datetime.fromisoformat(str(value))
    if getattr(kind, "tz", None) and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def to_state(value: Any) -> str:
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(UTC)
    return str(to_json(value))


def from_state(value: str, kind: pa.DataType) -> Any:
    try:
        return from_json(value, kind)
    except ValueError:
        raise ConfigError(f"incremental state {value!r} does not match the cursor's type {kind}") from None
