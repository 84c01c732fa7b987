"""The contract between the engine and every connector, built-in or third-party.

A reader plans partitions, may report its schema, and yields Arrow record batches for one
partition. A writer receives batches and reports what it wrote. Both receive their
validated settings as ``self.config``: an instance of the plugin's ``config_model``, or, for a
plugin that declares none, the settings as a plain dict. A plugin without a ``name`` is called
by its class name.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
import structlog
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from dativo_workers.encryption import ParquetEncryption
    from dativo_workers.storage import StoredFile

log = structlog.get_logger("dativo.plugins")

PLUGIN_API_VERSION = 1


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_lookback(text: str | None) -> timedelta | float:
    """`incremental.lookback`: "90s", "15m", "1h", "2d", "1w" -> timedelta; a bare number
    (for integer cursors) -> that number. None -> 0."""
    if text is None:
        return 0
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"incremental.lookback: {text!r} is not a duration like 90s, 15m, 1h, 2d or a number")
    amount, unit = float(match.group(1)), match.group(2)
    return timedelta(seconds=amount * _UNIT_SECONDS[unit]) if unit else amount


class PluginSettings(BaseModel):
    """Base for a plugin's settings model: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Partition:
    """One independently readable slice of a source, JSON-serialisable through ``spec``.

    ``spec`` is the reader's own description (a file and byte range, row groups, a key
    range...). It travels through the ledger and broker, so it must never hold secrets.
    """

    index: int
    spec: dict[str, Any]
    estimated_bytes: int = 0
    estimated_rows: int | None = None
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "spec": self.spec,
            "estimated_bytes": self.estimated_bytes,
            "estimated_rows": self.estimated_rows,
            "label": self.label,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Partition:
        return cls(**data)


@dataclass
class SourceContext:
    """What a reader knows about the job it serves."""

    base_dir: Path  # the job file's directory: relative paths resolve against it
    files: list[dict[str, Any]] = field(default_factory=list)  # source.files entries
    tables: list[dict[str, Any]] = field(default_factory=list)  # source.tables entries
    connection: dict[str, Any] = field(default_factory=dict)  # secret references resolved (SecretValue)
    # source.storage: object-store settings (pyiceberg FileIO names), secret references resolved;
    # open files through dativo_workers.storage with them
    storage: dict[str, Any] = field(default_factory=dict)
    target_partition_bytes: int = 128 * 1024 * 1024
    tenant_id: str = ""
    query: str | None = None  # source.query: a custom SELECT (database readers)
    partitioning: dict[str, Any] = field(default_factory=dict)  # source.partitioning: {column, partitions, target_rows}
    incremental: dict[str, Any] | None = None  # source.incremental: {cursor_field, lookback}
    # Cursor values this job's last committed run reached, {"<object>.<cursor_field>": value}:
    # an incremental reader plans only what lies past them (available in plan(), not in read()).
    state: dict[str, str] = field(default_factory=dict)
    # `incremental: {mode: new_files}`: the keys (paths, URIs) earlier committed runs loaded; a
    # reader that supports the mode plans only the others (available in plan(), not in read())
    loaded: pa.Array | None = None
    # True when the planning reader stays open until every partition of the run has been read
    # (embedded runs): what plan() opens (e.g. a database snapshot) lives until close().
    planner_lives_for_run: bool = False


@dataclass(frozen=True)
class DiscoveredObject:
    """One thing a source can load (a table, a file set, an API object), for `dativo discover`
    and the generator."""

    name: str
    kind: str = "table"  # table | view | file | object
    schema: pa.Schema | None = None  # columns and types when known
    row_estimate: int | None = None
    primary_key: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # source-specific extras (native column types...)


@dataclass(frozen=True)
class DeclaredObject:
    """An object a reader's own settings declare (a REST resource, a built-in API object), with
    the defaults its job takes unless the job sets them: ``cursor_field``/``lookback`` become
    ``source.incremental``; ``primary_key`` becomes ``target.merge_key`` of a `mode: merge` job
    without an asset."""

    name: str
    cursor_field: str | None = None
    lookback: str | None = None
    primary_key: tuple[str, ...] = ()


@dataclass(frozen=True)
class WriterContext:
    """Where and under which name a writer puts one partition's output.

    ``file_prefix`` is unique per (run, partition, attempt): a writer names every file it
    creates ``<file_prefix>...`` so a retried or duplicated partition never overwrites the
    output of another attempt, and the engine can keep exactly the winning attempt's files.
    """

    output_dir: Path
    file_prefix: str
    schema: pa.Schema | None = None
    base_dir: Path = Path(".")
    tenant_id: str = ""
    # `target.encryption` is set: pass it to RollingParquetWriter (``encryption=``), or call its
    # ``file_properties()`` for each Parquet file (pyarrow ``encryption_properties``)
    encryption: ParquetEncryption | None = None


class ReaderConversionError(ValueError):
    """A value could not be converted to the requested type while reading.

    Raised (or let through as ``pyarrow.ArrowInvalid``) by a typed read; the engine then
    re-reads the partition with ``read_untyped`` and sorts the bad rows out itself.
    """


@dataclass(frozen=True)
class RejectedRecords:
    """Records of a partition that a reader could not make rows of (a CSV line with more or fewer
    fields than the header), yielded between its batches. The engine applies the job's
    ``bad_rows`` policy to them as to rows whose values do not convert: ``text`` is each record as
    the source holds it (kept in the quarantine file), ``reasons`` says what is wrong with it, and
    ``positions`` names its place (file and line), in the order of the records."""

    text: list[str]
    reasons: list[str]
    positions: list[str]

    def __len__(self) -> int:
        return len(self.text)


def _default_name(cls: type) -> None:
    """A plugin class without its own ``name`` is called by its class name (never missing)."""
    if "name" not in vars(cls) and not isinstance(getattr(cls, "name", None), str):
        cls.name = cls.__name__  # type: ignore[attr-defined]


class DataReader(ABC):
    """Base class for sources. Subclasses may set ``name`` (default: the class name) and
    ``config_model`` (default: none, ``self.config`` is the settings dict)."""

    name: ClassVar[str]
    config_model: ClassVar[type[BaseModel] | None] = None
    description: ClassVar[str] = ""
    api_version: ClassVar[int] = PLUGIN_API_VERSION  # the plugin API the class is written for
    # Optional declarations read by tools that write jobs (`dativo generate`); the engine ignores them.
    source_list: ClassVar[str | None] = None
    """The job key that lists what to load: "files" (``source.files`` paths or globs), "tables"
    (``source.tables`` names), "objects" (``source.objects``), or None when the reader needs no list."""
    schema_sampled: ClassVar[bool] = False
    """True when ``schema()`` is inferred from a sample of the source: a column it lacks may still
    come later, so the engine does not report an asset's column missing from it as dropped."""
    connection_model: ClassVar[type[BaseModel] | None] = None
    """The settings under ``source.connection`` (host, port, user, ...) as a pydantic model: field
    defaults, descriptions and constraints become the generator's questions and checks. Fields typed
    ``pydantic.SecretStr`` or declared with ``json_schema_extra={"secret": True}`` are asked for as
    secret references (``${secret:NAME}``) and never written as values."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _default_name(cls)

    def __init__(self, config: Any, context: SourceContext) -> None:
        self.config = config
        self.context = context

    def validated_connection(self) -> Any:
        """``source.connection`` validated against ``connection_model``: a ConfigError naming each
        wrong or unknown key (the settings as a dict when the reader declares no model)."""
        from pydantic import ValidationError

        from dativo_workers.errors import ConfigError

        model = self.connection_model
        if model is None:
            return dict(self.context.connection)
        try:
            return model.model_validate(self.context.connection)
        except ValidationError as exc:
            problems = [
                "source.connection."
                + ".".join(str(p) for p in err["loc"])
                + ": "
                + ("unknown setting" if err["type"] == "extra_forbidden" else err["msg"])
                for err in exc.errors()
            ]
            raise ConfigError(f"invalid connection for the {self.name!r} source", problems=problems) from None

    @classmethod
    def declared_objects(cls, options: dict[str, Any]) -> list[DeclaredObject] | None:
        """The objects ``source.options`` declare (None: the reader declares none). A job that
        lists no ``source.tables`` loads each of them (one table and run per object with
        `target.table: "{object}"`), and each object's job takes its defaults (see
        ``DeclaredObject``). Called on the job as written: references unresolved, nothing read."""
        return None

    def plan(self) -> list[Partition]:
        """Split the source into partitions. Default: one partition for everything."""
        return [Partition(index=0, spec={})]

    def schema(self) -> pa.Schema | None:
        """The source's schema when it can tell without reading everything (None if unknown)."""
        return None

    def planned_state(self) -> dict[str, str]:
        """Incremental state this run reaches if it commits, {"<object>.<cursor_field>": value}.

        Called after ``plan()``; the engine stores it in the same snapshot as the data
        (summary keys ``dativo.state.<tenant>.<job>.<object>.<cursor_field>``). Default: no state.
        """
        return {}

    def planned_files(self) -> list[StoredFile] | None:
        """`incremental: {mode: new_files}`: the files (objects) this run loads, called after
        ``plan()``, which left out those in ``context.loaded``. The engine commits them, with the
        ones loaded before, in the same snapshot as the data. Default None: the mode is not supported."""
        return None

    def read(self, partition: Partition, schema: pa.Schema | None) -> Iterable[Any]:
        """Yield batches for one partition.

        ``schema`` is the table's Arrow schema when known: a reader that converts while
        parsing (CSV, JSON) should produce these types directly; the engine casts whatever
        comes out anyway. Batches may be ``pa.RecordBatch``, ``pa.Table``, any object with
        ``__arrow_c_stream__``/``__arrow_c_array__``, or a list of dicts.
        """
        yield from self.read_batch(65536)

    def read_untyped(self, partition: Partition, schema: pa.Schema) -> Iterable[Any]:
        """Re-read a partition without converting values (text formats: all strings).

        Called after a typed read hit a value it could not convert, so the engine can
        find the offending rows and apply the job's ``bad_rows`` policy. Readers of typed
        formats need not override it.
        """
        raise NotImplementedError

    def read_batch(self, batch_size: int) -> Iterator[Any]:
        """Simplest contract for a single-partition reader: yield batches of ``batch_size``."""
        raise NotImplementedError(f"reader {self.name!r} implements neither read() nor read_batch()")

    def sample(self, partition: Partition, rows: int = 1000) -> pa.Table | None:
        """Up to ``rows`` rows of ``partition`` for PII detection at planning time (None if unavailable).

        Default: the partition's first batches, read through ``read`` without a target schema;
        stops as soon as ``rows`` rows are in hand. Any reader error gives None.
        """
        from dativo_workers.conform import to_record_batches

        try:
            batches: list[pa.RecordBatch] = []
            have = 0
            iterator = iter(self.read(partition, None))
            try:
                for obj in iterator:
                    if isinstance(obj, RejectedRecords):
                        continue
                    for batch in to_record_batches(obj):
                        batches.append(batch.slice(0, rows - have))
                        have += batches[-1].num_rows
                        if have >= rows:
                            break
                    if have >= rows:
                        break
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
            if not batches:
                return None
            return pa.Table.from_batches(batches).combine_chunks()
        except Exception as exc:
            log.warning("sample read failed; PII detection uses column names only", reader=self.name, error=str(exc))
            return None

    def source_tags(self) -> dict[str, str]:
        """Classification labels the source system itself reports, {column: label}. Default: none."""
        return {}

    def lineage_inputs(self) -> list[tuple[str, str]] | None:
        """The datasets this source reads, as OpenLineage (namespace, name) pairs per the naming
        spec (https://openlineage.io/docs/spec/naming): ``("postgres://db:5432", "shop.public.orders")``,
        ``("s3://bucket", "raw/orders")``, ``("file", "/data/orders")``. Called once at planning, after
        ``plan()``; never put a secret in a name. Default None: the engine names the job's
        ``source.files`` (paths, object-store prefixes), else its tables in ``<reader name>://``."""
        return None

    def discover(self) -> list[DiscoveredObject]:
        """What this source holds (tables, files, API objects) with columns when known. Default:
        one object described by ``schema()``."""
        return [DiscoveredObject(name=self.name, kind="object", schema=self.schema())]

    def plan_summary(self) -> str | None:
        """A few words on what ``plan()`` found ("1024 file(s) matched"), for `dativo check`."""
        return None

    def check(self) -> list[str]:
        """Connect and verify access (privileges, objects exist) without reading data.

        Returns problems as messages that say what to fix; an empty list means ready."""
        return []

    def describe_position(self, partition: Partition, row_in_partition: int) -> str:
        """Human-readable location of a row for error messages (file and line when known)."""
        return f"partition {partition.index}, row {row_in_partition + 1}"

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections or files; called once the partition is done."""


class DataWriter(ABC):
    """Base class for targets other than the engine's own Iceberg commit.

    One instance serves one partition attempt: ``write`` receives its batches, ``close``
    returns the files it wrote. A writer that can also shape rows for an Iceberg table
    (a "table format") overrides ``table_schema`` and ``to_table``.
    """

    name: ClassVar[str]
    config_model: ClassVar[type[BaseModel] | None] = None  # none: ``self.config`` is the settings dict
    description: ClassVar[str] = ""
    api_version: ClassVar[int] = PLUGIN_API_VERSION  # the plugin API the class is written for
    # True: writes Parquet encrypted as ``context.encryption`` says (`target.encryption` refuses others)
    supports_encryption: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _default_name(cls)

    def __init__(self, config: Any, context: WriterContext) -> None:
        self.config = config
        self.context = context

    def table_schema(self, schema: pa.Schema) -> pa.Schema | None:
        """The Iceberg row shape this writer turns ``schema`` into; None: not a table format."""
        return None

    def to_table(self, batch: pa.RecordBatch) -> pa.Table | pa.RecordBatch:
        """Shape one batch into rows of ``table_schema`` (only called when that is not None)."""
        raise NotImplementedError(f"writer {self.name!r} is not a table format")

    @abstractmethod
    def write(self, batch: pa.RecordBatch) -> None:
        """Receive one batch."""

    @abstractmethod
    def close(self) -> list[dict[str, Any]]:
        """Finish and return what was written: [{"path", "rows", "bytes"}, ...]."""

    def abort(self) -> None:  # noqa: B027 - optional hook
        """The attempt failed: release open files instead of finishing them (the engine deletes
        every file named with this attempt's prefix)."""
