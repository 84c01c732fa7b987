"""MySQL and MariaDB source: connectorx streams the data into Arrow; PyMySQL answers the
small questions (columns, bounds, privileges) with bound parameters and clear error codes.

Types connectorx would carry inexactly are cast in the SELECT: decimals and unsigned
BIGINT as text (then exact Arrow decimals), BIT as an unsigned integer, TIME as text
(MySQL TIME spans -838..838 hours, not a time of day). Zero dates ('0000-00-00', or a
zero month/day) become NULL, as MySQL's own connectors do.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

import pyarrow as pa

from dativo_plugins.sql.common import Column, SqlObject, SqlReader, scrub
from dativo_workers.errors import ConfigError, SourceError
from dativo_workers.plugins import DiscoveredObject

_COLUMN_TYPE = re.compile(r"^(\w+)(?:\(([^)]*)\))?(.*)$")
_STRINGS = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set", "json"}
_AS_TEXT = {"time", "uuid", "inet4", "inet6"}
_BINARY = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}
_SIGNED = {"tinyint": pa.int8(), "smallint": pa.int16(), "mediumint": pa.int32(), "int": pa.int32(),
           "integer": pa.int32(), "bigint": pa.int64()}  # fmt: skip
_UNSIGNED = {"tinyint": pa.int16(), "smallint": pa.int32(), "mediumint": pa.int32(), "int": pa.int64(),
             "integer": pa.int64()}  # fmt: skip
# Error codes worth retrying: server gone or busy, lock waits, too many connections.
_TRANSIENT_CODES = {1040, 1205, 1213, 2002, 2003, 2006, 2013, 2055}
_SYSTEM_SCHEMAS = ("information_schema", "mysql", "performance_schema", "sys")


class MysqlReader(SqlReader):
    name = "mysql"
    description = "MySQL/MariaDB tables or queries, partitioned by key ranges, incremental"
    default_port = 3306

    # -- connection --------------------------------------------------------------------------

    def connect(self) -> Any:
        import pymysql

        c = self.connection
        try:
            return pymysql.connect(
                host=c.host,
                port=c.port,
                user=c.user,
                password=c.password.get_secret_value() if c.password else "",
                database=c.database,
                connect_timeout=c.connect_timeout_s,
                init_command="SET time_zone = '+00:00'",
                autocommit=True,
            )
        except Exception as exc:
            raise self.classify(exc, "cannot connect") from None

    def classify(self, exc: BaseException, what: str) -> Exception:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        text = scrub(str(exc.args[1] if code is not None and len(exc.args) > 1 else exc), self.secrets)
        c = self.connection
        where = f"{c.user}@{c.host}:{c.port}/{c.database}"
        if code in _TRANSIENT_CODES or "connection refused" in text.lower() or "timed out" in text.lower():
            return self.transient(exc, f"{what} ({where})")
        if code == 1045:
            return SourceError(f"mysql: {what}: access denied for {where}; check the user and password")
        if code in (1142, 1044):
            return SourceError(f"mysql: {what}: {text}; GRANT SELECT on the table to '{c.user}'")
        if code == 1049:
            return SourceError(f"mysql: {what}: database {c.database!r} does not exist on {c.host}:{c.port}")
        return SourceError(f"mysql: {what} ({where}): {text}")

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, params or None)
                return list(cur.fetchall())
        except SourceError:
            raise
        except Exception as exc:
            raise self.classify(exc, "query failed") from None

    def scalar_row(self, sql: str) -> tuple[Any, ...]:
        return self.rows(sql)[0]

    def stream(self, sql: str, snapshot: str | None = None) -> Iterator[pa.RecordBatch]:
        """``snapshot`` is never set: MySQL cannot share a consistent snapshot between sessions."""
        import connectorx

        # PyMySQL first: it fails in milliseconds with the server's error code, where the
        # connectorx pool would retry a wrong password for half a minute.
        self.conn  # noqa: B018 - connects
        c = self.connection
        auth = quote(c.user, safe="") + (":" + quote(c.password.get_secret_value(), safe="") if c.password else "")
        url = f"mysql://{auth}@{c.host}:{c.port}/{quote(c.database, safe='')}"
        try:
            reader = connectorx.read_sql(
                url,
                sql,
                return_type="arrow_stream",
                batch_size=self.config.batch_rows,
                pre_execution_query=["SET time_zone = '+00:00'"],
            )
            yield from reader
        except Exception as exc:
            raise self.classify(exc, f"reading {self.sql_object().name} failed") from None

    # -- dialect -----------------------------------------------------------------------------

    def quote(self, identifier: str) -> str:
        if "\x00" in identifier:
            raise ConfigError(f"identifier {identifier!r} contains a NUL character")
        return "`" + identifier.replace("`", "``") + "`"

    def literal(self, value: Any, column: Column) -> str:
        if isinstance(value, datetime):
            if value.tzinfo is not None:  # the session runs in UTC
                value = value.astimezone(UTC).replace(tzinfo=None)
            return f"TIMESTAMP'{value.strftime('%Y-%m-%d %H:%M:%S.%f')}'"
        if isinstance(value, date):
            return f"DATE'{value.strftime('%Y-%m-%d')}'"
        return str(int(value))

    def _schema_and_table(self, name: str) -> tuple[str, str]:
        schema, table = self.split_name(name)
        return schema or self.connection.database, table

    def describe(self, table: str | None, query: str | None) -> SqlObject:
        if query is not None:
            # A temporary table built from the query (no rows) has the query's exact column types.
            self.rows("DROP TEMPORARY TABLE IF EXISTS dativo_query")
            self.rows(f"CREATE TEMPORARY TABLE dativo_query AS SELECT * FROM ({query}) AS q LIMIT 0")
            listing = self.rows("SHOW COLUMNS FROM dativo_query")
            name, source, rows_estimate, size, primary_key = "query", f"({query}) AS q", None, None, []
        else:
            assert table is not None
            schema, bare = self._schema_and_table(table)
            found = self.rows(
                "SELECT table_rows, data_length FROM information_schema.tables"
                " WHERE table_schema = %s AND table_name = %s",
                (schema, bare),
            )
            if not found:
                raise SourceError(
                    f"mysql: table {schema}.{bare} does not exist (or user {self.connection.user} cannot see it); "
                    "`dativo discover` lists the tables"
                )
            rows_estimate, size = found[0]
            source = self.quote(schema) + "." + self.quote(bare)
            listing = self.rows(f"SHOW COLUMNS FROM {source}")
            name = bare
            primary_key = [row[0] for row in listing if row[3] == "PRI"]
        columns = [self.map_column(table or "query", row[0], row[1], nullable=row[2] == "YES") for row in listing]
        return SqlObject(
            name=name,
            source=source,
            columns=columns,
            primary_key=primary_key,
            row_estimate=int(rows_estimate) if rows_estimate is not None else None,
            byte_estimate=int(size) if size is not None else None,
            is_table=query is None,
        )

    def map_column(self, table: str, name: str, native: str, *, nullable: bool = True) -> Column:
        match = _COLUMN_TYPE.match(native.lower().strip())
        if not match:
            raise ConfigError(f"mysql: {table}.{name} has an unreadable type {native!r}")
        base, args, rest = match.group(1), match.group(2) or "", match.group(3)
        unsigned = "unsigned" in rest
        col = self.quote(name)
        as_text = f"CAST({col} AS CHAR) AS {col}"

        def column(arrow: pa.DataType, select: str = col, read_as: pa.DataType | None = None) -> Column:
            return Column(name, native, arrow, select, read_as=read_as, nullable=nullable)

        if base == "tinyint" and args == "1" and not unsigned:
            return column(pa.bool_(), read_as=pa.int8())  # MySQL's BOOLEAN
        if base in _SIGNED:
            if not unsigned:
                return column(_SIGNED[base])
            if base == "bigint":  # up to 2^64-1: exact only as a decimal
                return column(pa.decimal128(20, 0), as_text, read_as=pa.string())
            return column(_UNSIGNED[base], read_as=pa.int64())
        if base in ("decimal", "numeric", "dec", "fixed"):
            precision, _, scale = args.partition(",")
            p, s = int(precision or 10), int(scale or 0)
            if p <= 38:
                return column(pa.decimal128(p, s), as_text, read_as=pa.string())
            return column(pa.string(), as_text)
        if base == "float":
            return column(pa.float32())
        if base in ("double", "real"):
            return column(pa.float64())
        if base == "bit":
            bits = int(args or 1)
            if bits == 1:
                return column(pa.bool_(), f"CAST({col} AS UNSIGNED) AS {col}", read_as=pa.int64())
            if bits < 64:
                return column(pa.int64(), f"CAST({col} AS UNSIGNED) AS {col}", read_as=pa.int64())
            return column(pa.decimal128(20, 0), f"CAST(CAST({col} AS UNSIGNED) AS CHAR) AS {col}", read_as=pa.string())
        if base == "year":
            return column(pa.int16())
        if base in _STRINGS:
            return column(pa.string())
        if base in _AS_TEXT:
            return column(pa.string(), as_text)
        if base in _BINARY:
            return column(pa.binary(), read_as=pa.large_binary())
        if base in ("date", "datetime", "timestamp"):
            guarded = f"IF(MONTH({col}) = 0 OR DAYOFMONTH({col}) = 0, NULL, {col}) AS {col}"
            if base == "date":
                return column(pa.date32(), guarded)
            if base == "datetime":
                return column(pa.timestamp("us"), guarded)
            return column(pa.timestamp("us", tz="UTC"), guarded, read_as=pa.timestamp("us"))
        raise ConfigError(
            f"mysql: {table}.{name} has type {native}, which Dativo cannot map to Iceberg; "
            f"convert it in `source.query` (e.g. SELECT ..., CAST({col} AS CHAR) AS {col})"
        )

    # -- discover / check --------------------------------------------------------------------

    def discover(self) -> list[DiscoveredObject]:
        placeholders = ", ".join(["%s"] * len(_SYSTEM_SCHEMAS))
        listing = self.rows(
            "SELECT table_schema, table_name, table_type FROM information_schema.tables"
            f" WHERE table_schema NOT IN ({placeholders}) ORDER BY 1, 2",
            _SYSTEM_SCHEMAS,
        )
        return [self.discovered(f"{s}.{t}", "view" if kind == "VIEW" else "table") for s, t, kind in listing]

    def check(self) -> list[str]:
        try:
            self.conn  # noqa: B018 - connects
        except Exception as exc:
            return [str(exc)]
        problems: list[str] = []
        for entry in self.context.tables:
            try:
                obj = self.describe(entry["name"], None)
                self.rows(f"SELECT 1 FROM {obj.source} LIMIT 0")
            except (ConfigError, SourceError) as exc:
                problems.append(str(exc))
        if self.context.query and not problems:
            try:
                self.sql_object()
            except (ConfigError, SourceError) as exc:
                problems.append(str(exc))
        return problems
