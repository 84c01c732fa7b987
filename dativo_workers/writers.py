"""Writer targets, and writers used as an Iceberg table's row format.

`target.connector: <writer>` (or `target.writer: {plugin_path: ...}`) sends a run's batches to a
`DataWriter` instead of an Iceberg table, with the same run semantics: each partition attempt's
writer puts its files in the run's staging area, `<target.path>/_dativo_staging/<run_id>/`, every
name starting with the attempt's unique prefix (`<run_id>-p00003-a01`); the ledger records them as
the partition's fragments; the commit moves exactly the winning attempts' files into
`<target.path>/`, and a failed run publishes nothing. On an object store the writer writes to a
local temporary directory and its files are uploaded to the staging area when it closes.

`target.format: <writer>` on an Iceberg target makes a writer the table's row format: batches go
through `writer.to_table`, and the table takes `writer.table_schema(source schema)`.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs
import structlog
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC
from pyiceberg.schema import Schema, assign_fresh_schema_ids

from dativo_workers.config.job import LoadedJob
from dativo_workers.conform import to_record_batches
from dativo_workers.encryption import (
    EncryptionError,
    KmsUnavailable,
    ParquetEncryption,
    encrypted_columns,
    footer_is_encrypted,
)
from dativo_workers.errors import CommitError, ConfigError, PluginError
from dativo_workers.fragments import FragmentWriter, delete_files, staging_dir
from dativo_workers.iceberg import TablePlan
from dativo_workers.ledger import Fragment
from dativo_workers.plugins.base import DataWriter, PluginSettings, WriterContext
from dativo_workers.plugins.manager import plugin_call, plugin_iter, plugin_name, target_writer
from dativo_workers.schema import arrow_schema, arrow_to_iceberg
from dativo_workers.secrets.redact import sensitive_columns
from dativo_workers.storage import StorageProperties, filesystem, make_parent_dir, scheme_prefix

log = structlog.get_logger("dativo.writers")


@dataclass
class WriterPlan:
    """What every worker of a run needs to rebuild the job's writer (stored in the run's plan)."""

    name: str
    output: str | None  # writer target: the output directory; None: an Iceberg table format
    source_schema: Schema  # what the reader's batches are conformed to before the writer sees them
    # the columns the run's effective classification marks sensitive (from the run's plan, not stored
    # twice): `target.encryption.columns: auto` encrypts these
    sensitive: frozenset[str] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "output": self.output, "source_schema": self.source_schema.model_dump_json()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WriterPlan:
        return cls(data["name"], data["output"], Schema.model_validate_json(data["source_schema"]))

    def output_table(self) -> TablePlan:
        """A writer target's stand-in for a table plan: the output location and the schema batches
        take, so planning, ingest and the run summary work as for a table."""
        assert self.output is not None
        schema = assign_fresh_schema_ids(self.source_schema)
        return TablePlan(("", self.name), self.output, schema, UNPARTITIONED_PARTITION_SPEC, exists=False)


def writer_plan(plan: dict[str, Any]) -> WriterPlan | None:
    """The writer part of a run's stored plan (None for a plain Iceberg target)."""
    if not plan.get("writer"):
        return None
    found = WriterPlan.from_dict(plan["writer"])
    columns = [f.name for f in found.source_schema.fields]
    found.sensitive = sensitive_columns(plan.get("table_properties") or {}, columns)
    return found


def plan_writer(job: LoadedJob, source_schema: Schema) -> tuple[WriterPlan | None, Schema]:
    """Validate the job's writer (config errors name the plugin and key) and return its plan with
    the schema the target takes: the source's, or the table format's shape of it."""
    found = target_writer(job)
    if found is None:
        return None, source_schema
    cls, settings = found
    name = plugin_name(cls)
    if not job.config.target.is_iceberg:
        check_encryption(job, cls, [f.name for f in source_schema.fields])
        return WriterPlan(name, output_location(job), source_schema), source_schema
    source = plain_schema(arrow_schema(source_schema))
    with tempfile.TemporaryDirectory(prefix="dativo-format-") as scratch:  # a table format writes no files
        writer = plugin_call(name, cls, settings, _context(job, Path(scratch), "", source))
        shaped = plugin_call(name, writer.table_schema, source)
    if shaped is None:
        raise ConfigError(
            f"{job.path}: target.format: writer {name!r} is not a table format (its table_schema() returns None)"
        )
    return WriterPlan(name, None, source_schema), arrow_to_iceberg(shaped)


def check_encryption(job: LoadedJob, cls: type[DataWriter], columns: list[str]) -> None:
    """`target.encryption` can be honoured: a writer that encrypts, the listed columns exist, no
    plain-text quarantine, and the KMS wraps and unwraps with both master keys (before anything
    is written: a wrong key name fails the run here)."""
    config = job.config.target.encryption
    if config is None:
        return
    where = f"{job.path}: target.encryption"
    if not cls.supports_encryption:
        raise ConfigError(f"{where}: writer {plugin_name(cls)!r} does not write encrypted Parquet")
    if isinstance(config.columns, list) and (unknown := [c for c in config.columns if c not in columns]):
        raise ConfigError(f"{where}.columns: no column {', '.join(map(repr, unknown))} in the schema")
    if job.config.bad_rows.action == "quarantine":
        raise ConfigError(
            f"{job.path}: bad_rows.action: quarantine keeps rejected rows in plain Parquet, which an encrypted "
            "target must not; use `skip` or `fail`"
        )
    try:
        ParquetEncryption(config, [], job.base_dir).check_keys()
    except ConfigError as exc:
        raise ConfigError(f"{job.path}: {exc}") from None
    except EncryptionError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except KmsUnavailable as exc:
        raise KmsUnavailable(f"{where}: {exc}") from None


def sink_encryption(job: LoadedJob, columns: list[str], sensitive: frozenset[str]) -> ParquetEncryption | None:
    """One attempt's encryption: the listed columns, or those the run's classification marks sensitive."""
    config = job.config.target.encryption
    if config is None:
        return None
    encrypted = encrypted_columns(config, columns, sensitive)
    if not encrypted:
        log.warning("target.encryption: no column to encrypt (none is classified sensitive); the footer is encrypted")
    try:
        return ParquetEncryption(config, encrypted, job.base_dir)
    except ConfigError as exc:
        raise ConfigError(f"{job.path}: {exc}") from None


def output_location(job: LoadedJob) -> str:
    """`target.path` as a URI or an absolute local path (relative paths: against the job file)."""
    path = job.config.target.path or ""
    if "://" in path:
        return path.rstrip("/")
    return str(job.resolve(path))


def plain_schema(schema: pa.Schema) -> pa.Schema:
    """The schema a plugin sees: no Iceberg field-id metadata."""
    return pa.schema([f.remove_metadata() for f in schema])


def _context(
    job: LoadedJob, output_dir: Path, prefix: str, schema: pa.Schema, encryption: ParquetEncryption | None = None
) -> WriterContext:
    return WriterContext(
        output_dir=output_dir,
        file_prefix=prefix,
        schema=schema,
        base_dir=job.base_dir,
        tenant_id=job.config.tenant_id,
        encryption=encryption,
    )


def _local_dir(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(parsed.path)
    return Path(uri) if not parsed.scheme else None


class WriterSink:
    """One partition attempt's writer target: the plugin writes files, they become fragments."""

    def __init__(
        self,
        cls: type[DataWriter],
        settings: PluginSettings,
        job: LoadedJob,
        *,
        staging: str,
        storage: StorageProperties,
        prefix: str,
        schema: pa.Schema,
        encryption: ParquetEncryption | None = None,
    ) -> None:
        self.name = plugin_name(cls)
        self.encryption = encryption
        self.prefix = prefix
        self.storage = storage
        self.staging = staging
        local = _local_dir(self.staging)
        self.remote = local is None
        self.dir = local or Path(tempfile.mkdtemp(prefix=f"dativo-{prefix}-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.uploaded: list[str] = []
        self.schema = plain_schema(schema)
        try:
            context = _context(job, self.dir, prefix, self.schema, encryption)
            self.writer = plugin_call(self.name, cls, settings, context)
        except BaseException:
            self._remove_local()
            raise

    @property
    def bytes_written(self) -> int:
        return 0  # a plugin reports its files only when it closes

    def write(self, batch: pa.RecordBatch) -> None:
        # the same columns under the schema the plugin was given (no Iceberg field ids): no copy
        plugin_call(self.name, self.writer.write, pa.RecordBatch.from_arrays(batch.columns, schema=self.schema))

    def close(self) -> list[Fragment]:
        written = plugin_call(self.name, self.writer.close)
        if not isinstance(written, list):
            raise PluginError(
                self.name, TypeError(f"close() must return a list of files, got {type(written).__name__}")
            )
        fragments = [self._fragment(item) for item in written]
        if self.remote:
            fs, _ = filesystem(self.staging, self.storage)
            for fragment, item in zip(fragments, written, strict=True):
                _, dest = filesystem(fragment.path, self.storage)
                self.uploaded.append(dest)
                pafs.copy_files(str(self._local_file(item)), dest, pafs.LocalFileSystem(), fs)
            self._remove_local()
        return fragments

    def _local_file(self, item: dict[str, Any]) -> Path:
        path = Path(item["path"])
        return (path if path.is_absolute() else self.dir / path).resolve()

    def _fragment(self, item: Any) -> Fragment:
        """Check one file a plugin reports and turn it into the fragment the ledger records."""
        if not isinstance(item, dict) or "path" not in item or not isinstance(item.get("rows"), int):
            raise PluginError(
                self.name, ValueError(f"close() must return dicts with path, rows (an int), bytes; got {item!r}")
            )
        path = self._local_file(item)
        try:
            relative = path.relative_to(self.dir.resolve()).as_posix()
        except ValueError:
            raise PluginError(self.name, ValueError(f"wrote {path} outside its output_dir {self.dir}")) from None
        if not path.name.startswith(self.prefix):
            raise PluginError(
                self.name, ValueError(f"file {path.name} does not start with the attempt's file_prefix {self.prefix}")
            )
        if not path.is_file():
            raise PluginError(self.name, ValueError(f"reported {path}, which does not exist"))
        encryption = self.encryption
        if encryption is not None and not encryption.config.plaintext_footer and not footer_is_encrypted(path):
            raise PluginError(
                self.name, ValueError(f"wrote {path.name} without encryption although target.encryption is set")
            )
        return Fragment("data", f"{self.staging}/{relative}", item["rows"], path.stat().st_size)

    def abort(self) -> None:
        with contextlib.suppress(Exception):  # the attempt already failed; its files go anyway
            self.writer.abort()
        if self.remote:
            fs, _ = filesystem(self.staging, self.storage)
            delete_files(fs, self.uploaded)
            self._remove_local()
        else:
            for path in self.dir.rglob(f"{self.prefix}*"):
                if path.is_file():
                    path.unlink(missing_ok=True)

    def _remove_local(self) -> None:
        if self.remote:
            shutil.rmtree(self.dir, ignore_errors=True)


class TableFormatSink:
    """An Iceberg table whose rows a writer shapes: each batch goes through ``to_table`` and on
    to the table's fragment files. The writer's ``output_dir`` is a scratch directory, removed
    when the attempt ends: its own files are not part of the table."""

    def __init__(self, writer: DataWriter, name: str, fragments: FragmentWriter) -> None:
        self.writer = writer
        self.name = name
        self.fragments = fragments

    @property
    def bytes_written(self) -> int:
        return self.fragments.bytes_written

    def write(self, batch: pa.RecordBatch) -> None:
        shaped = plugin_call(self.name, self.writer.to_table, batch)
        for part in plugin_iter(self.name, to_record_batches(shaped)):
            self.fragments.write(self._aligned(part))

    def _aligned(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        schema = self.fragments.schema
        missing = [f.name for f in schema if f.name not in batch.schema.names]
        if missing:
            raise PluginError(self.name, ValueError(f"to_table() returned no column {missing[0]!r} of table_schema()"))
        columns = [plugin_call(self.name, batch.column(f.name).cast, f.type) for f in schema]
        return pa.RecordBatch.from_arrays(columns, schema=schema)

    def close(self) -> list[Fragment]:
        shutil.rmtree(self.writer.context.output_dir, ignore_errors=True)
        return self.fragments.close()

    def abort(self) -> None:
        shutil.rmtree(self.writer.context.output_dir, ignore_errors=True)
        self.fragments.abort()


def open_sink(
    plan: WriterPlan,
    job: LoadedJob,
    fragments: FragmentWriter,
    *,
    location: str,
    storage: StorageProperties,
    run_id: str,
    partition_index: int,
    attempt: int,
) -> tuple[pa.Schema, WriterSink | TableFormatSink]:
    """Where one attempt's batches go, and the schema they are conformed to first."""
    prefix = f"{run_id}-p{partition_index:05d}-a{attempt:02d}"
    found = target_writer(job)
    if found is None:
        raise ConfigError(f"{job.path}: target: the run was planned with writer {plan.name!r}; the job has none")
    cls, settings = found
    if plan.output is not None:
        staging = f"{location}/{staging_dir(run_id)}"
        encryption = sink_encryption(job, fragments.schema.names, plan.sensitive)
        return fragments.schema, WriterSink(
            cls,
            settings,
            job,
            staging=staging,
            storage=storage,
            prefix=prefix,
            schema=fragments.schema,
            encryption=encryption,
        )
    source = arrow_schema(plan.source_schema)
    scratch = Path(tempfile.mkdtemp(prefix=f"dativo-{prefix}-"))
    try:
        writer = plugin_call(plan.name, cls, settings, _context(job, scratch, prefix, plain_schema(source)))
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return source, TableFormatSink(writer, plan.name, fragments)


def publish_run(location: str, run_id: str, data: list[Fragment], storage: StorageProperties) -> None:
    """Move the winning attempts' files from the staging area into the output directory, then drop
    the staging area (losing attempts' files with it).

    Idempotent: a commit that died half-way is re-run, and files already moved count as published.
    If a winning file is missing, the files this call moved go back and nothing is published.
    """
    fs, root = filesystem(location, storage)
    staging = f"{root}/{staging_dir(run_id)}"
    prefix = scheme_prefix(location)
    moved: list[tuple[str, str]] = []
    try:
        for fragment in data:
            source = fragment.path.removeprefix(prefix)
            target = f"{root}/{source.removeprefix(staging + '/')}"
            if fs.get_file_info(source).type == pafs.FileType.File:
                make_parent_dir(fs, target)
                fs.move(source, target)
                moved.append((source, target))
            elif fs.get_file_info(target).type != pafs.FileType.File:
                raise CommitError(f"staged file {fragment.path} is missing; nothing was published")
    except BaseException:
        for source, target in reversed(moved):
            with contextlib.suppress(OSError):
                fs.move(target, source)
        raise
    with contextlib.suppress(FileNotFoundError):
        fs.delete_dir(staging)
