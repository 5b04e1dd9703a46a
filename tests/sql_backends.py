"""Real SQL engines for tests: DuckDB, PostgreSQL and Spark, each behind one small interface.

A backend has:

- ``dialect``: the sqlglot dialect name (``duckdb``, ``postgres``, ``spark``), so a test builds
  its SQL once as a sqlglot tree and writes it with ``.sql(dialect=backend.dialect)``;
- ``load(tables, types=None)``: creates or replaces every table of ``{name: DataFrame}`` in one
  batch. Column types come from the frames: text, ``DATE`` (datetime64 columns and
  ``datetime.date`` values; a time of day other than midnight is refused), integer (``BIGINT``),
  boolean and double; ``types={"t": {"col": "date"}}`` names a column's type where the frame
  cannot say it (a column of nothing but NULLs) or asks for ``timestamp``. NaN, NaT, None and
  pd.NA load as NULL. Names must be lower-case identifiers (PostgreSQL folds unquoted names);
- ``query(sql)``: runs one statement, or a script whose statements are split at top-level
  semicolons and run in order, and returns the last statement's rows as a DataFrame: ``DATE``
  columns as ``datetime64[s]`` and timestamps as ``datetime64[us]`` (NULL as NaT), every other
  column as ``object`` holding plain Python values (str, int, bool, float; NULL as None;
  decimals as int when whole, float otherwise). ``frame.attrs["types"]`` gives each column's
  kind (``date``, ``timestamp``, ``text``, ``integer``, ``boolean``, ``float``, ``decimal``, or
  the engine's own name for anything else), so a test can check that a date stayed a DATE.

The fixtures in ``conftest.py`` (session scope) start each engine once per test run:

- ``duckdb_backend``: in-process, in memory;
- ``postgres_backend``: a throwaway cluster made by ``initdb`` in a temporary folder, run as an
  unprivileged user when the tests run as root (``CCRQOF_PG_USER``, else ``postgres``, else
  ``nobody``), listening on a unix socket only, with fsync, synchronous commit and full-page
  writes off; stopped and deleted at the end. ``.ci/run`` installs Debian's ``postgresql``
  package when ``initdb`` is missing;
- ``spark_backend``: pyspark in local mode (``local[2]``, two shuffle partitions, no UI, errors
  only in the log, session time zone UTC, the JVM's quick-start compiler, 2 GB of heap); tables
  are temporary views. Start-up is the slow part (about 15-30 s on 2 cores), so use
  ``spark_backend`` through one batch of tables rather than many small sessions;
- ``sql_backend``: each of the three in turn (a parametrised fixture).

An engine that cannot start fails its tests with the reason; it never skips them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import glob
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

KINDS = ("text", "date", "timestamp", "integer", "boolean", "float")
_ARROW = {
    "text": pa.string(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "integer": pa.int64(),
    "boolean": pa.bool_(),
    "float": pa.float64(),
}
_SQL = {
    "text": "TEXT",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "integer": "BIGINT",
    "boolean": "BOOLEAN",
    "float": "DOUBLE PRECISION",
}
_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")


class BackendUnavailable(RuntimeError):
    """An engine could not be started; the message says why and what to install."""


# ---------------------------------------------------------------------------------------------
# Loading: DataFrame -> typed columns of Python values -> an Arrow table every engine can take


def _missing(value: Any) -> bool:
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    return isinstance(value, float | np.floating) and np.isnan(value)


def _kind_of_values(values: list[Any], where: str) -> str:
    kinds = set()
    for value in values:
        if _missing(value):
            continue
        if isinstance(value, bool | np.bool_):
            kinds.add("boolean")
        elif isinstance(value, int | np.integer):
            kinds.add("integer")
        elif isinstance(value, float | np.floating):
            kinds.add("float")
        elif isinstance(value, str):
            kinds.add("text")
        elif isinstance(value, dt.date | np.datetime64):  # datetime and Timestamp too
            kinds.add("date")
        else:
            raise TypeError(f"{where}: cannot load a {type(value).__name__} value ({value!r})")
    if kinds == {"integer", "float"}:
        kinds = {"float"}
    if len(kinds) > 1:
        raise TypeError(f"{where}: mixed value types {sorted(kinds)}; name the type in types=")
    return kinds.pop() if kinds else "text"


def _kind(series: pd.Series, where: str) -> str:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "date"
    if isinstance(dtype, pd.StringDtype) or pd.api.types.is_object_dtype(dtype):
        return _kind_of_values(series.tolist(), where)
    raise TypeError(f"{where}: cannot load a column of dtype {dtype}")


def _value(value: Any, kind: str, where: str) -> Any:
    if _missing(value):
        return None
    if kind == "text":
        if not isinstance(value, str):
            raise TypeError(f"{where}: {value!r} is not text")
        return value
    if kind in ("date", "timestamp"):
        if isinstance(value, np.datetime64):
            value = pd.Timestamp(value)
        if isinstance(value, str):
            value = pd.Timestamp(value)
        if isinstance(value, dt.datetime):  # pd.Timestamp too
            if value.tzinfo is not None:
                value = value.astimezone(dt.UTC).replace(tzinfo=None)
            if kind == "timestamp":
                return pd.Timestamp(value).to_pydatetime()
            if value.time() != dt.time(0):
                raise ValueError(
                    f"{where}: {value} has a time of day; a DATE column takes dates only "
                    "(name the column 'timestamp' in types= to load times)"
                )
            return value.date()
        if isinstance(value, dt.date):
            return value if kind == "date" else dt.datetime.combine(value, dt.time(0))
        raise TypeError(f"{where}: {value!r} is not a date")
    if kind == "integer":
        if isinstance(value, float | np.floating) and not float(value).is_integer():
            raise ValueError(f"{where}: {value!r} is not a whole number")
        return int(value)
    if kind == "boolean":
        if not isinstance(value, bool | np.bool_):
            raise TypeError(f"{where}: {value!r} is not a boolean")
        return bool(value)
    if kind == "float":
        return float(value)
    raise ValueError(f"{where}: unknown column type {kind!r}; one of {KINDS}")


def _check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{what} {name!r} must be a lower-case identifier ([a-z_][a-z0-9_]*)")
    return name


def typed_table(
    name: str, frame: pd.DataFrame, types: Mapping[str, str] | None = None
) -> tuple[pa.Table, dict[str, str]]:
    """The frame as an Arrow table of the column types it will have in every engine."""
    _check_name(name, "table name")
    types = dict(types or {})
    unknown = set(types) - set(frame.columns)
    if unknown:
        raise ValueError(f"table {name}: types= names columns it does not have: {sorted(unknown)}")
    if len(set(frame.columns)) != len(frame.columns):
        raise ValueError(f"table {name}: duplicate column names")
    arrays, kinds = [], {}
    for column in frame.columns:
        _check_name(column, f"table {name}: column name")
        where = f"table {name}, column {column}"
        kind = types.get(column) or _kind(frame[column], where)
        if kind not in KINDS:
            raise ValueError(f"{where}: unknown column type {kind!r}; one of {KINDS}")
        values = [_value(v, kind, where) for v in frame[column].tolist()]
        arrays.append(pa.array(values, type=_ARROW[kind]))
        kinds[column] = kind
    return pa.Table.from_arrays(arrays, names=list(frame.columns)), kinds


# ---------------------------------------------------------------------------------------------
# Querying: split a script, run its statements, normalise the last one's rows


def split_statements(sql: str, dialect: str) -> list[str]:
    """The script's statements, cut at top-level semicolons (strings and comments respected)."""
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.tokens import TokenType

    statements, start, seen = [], 0, False
    for token in Dialect.get_or_raise(dialect).tokenize(sql):
        if token.token_type == TokenType.SEMICOLON:
            if seen:
                statements.append(sql[start : token.start].strip())
            start, seen = token.end + 1, False
        else:
            seen = True
    if seen:
        statements.append(sql[start:].strip())
    if not statements:
        raise ValueError("no SQL statement to run")
    return statements


def _result_kind(type_name: str) -> str:
    name = type_name.lower()
    if name == "date":
        return "date"
    if name.startswith(("timestamp", "datetime")):
        return "timestamp"
    if name in ("text", "string", "name", "bpchar", "char") or name.startswith(
        ("varchar", "char(", "character")
    ):
        return "text"
    if name in ("bool", "boolean"):
        return "boolean"
    if name in ("double", "float", "real", "float4", "float8", "double precision"):
        return "float"
    if name.startswith(("decimal", "numeric")):
        return "decimal"
    if name.rstrip("0123456789") in (
        "int",
        "integer",
        "bigint",
        "smallint",
        "tinyint",
        "hugeint",
        "uhugeint",
        "ubigint",
        "uinteger",
        "usmallint",
        "utinyint",
        "long",
        "short",
        "byte",
    ):
        return "integer"
    return name


def _timestamp(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    return dt.datetime.combine(value, dt.time(0))


def _plain(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def result_frame(names: list[str], types: list[str], rows: list[tuple]) -> pd.DataFrame:
    """Rows of Python values as the frame every backend's `query` returns."""
    kinds = [_result_kind(t) for t in types]
    columns = {}
    for i, kind in enumerate(kinds):
        values = [row[i] for row in rows]
        if kind == "date":
            stamps = [None if v is None else dt.datetime.combine(v, dt.time(0)) for v in values]
            series = pd.Series(stamps, dtype="datetime64[s]")
        elif kind == "timestamp":
            series = pd.Series([_timestamp(v) for v in values], dtype="datetime64[us]")
        else:
            series = pd.Series([_plain(v) for v in values], dtype=object)
        columns[i] = series
    frame = pd.DataFrame(columns)
    frame.columns = names
    frame.attrs["types"] = dict(zip(names, kinds, strict=True))
    return frame


class Backend:
    """One engine: `load` tables, `query` them, `dialect` to write SQL for it."""

    name: str
    dialect: str

    def load(
        self,
        tables: Mapping[str, pd.DataFrame],
        types: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        types = types or {}
        unknown = set(types) - set(tables)
        if unknown:
            raise ValueError(f"types= names tables not being loaded: {sorted(unknown)}")
        typed = {name: typed_table(name, frame, types.get(name)) for name, frame in tables.items()}
        self._load(typed)

    def query(self, sql: str) -> pd.DataFrame:
        statements = split_statements(sql, self.dialect)
        names, types, rows = self._run(statements)
        return result_frame(names, types, rows)

    def close(self) -> None:  # pragma: no cover - overridden
        pass

    def _load(self, typed: dict[str, tuple[pa.Table, dict[str, str]]]) -> None:
        raise NotImplementedError

    def _run(self, statements: list[str]) -> tuple[list[str], list[str], list[tuple]]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{self.name} backend>"


def _no_rows(statement: str) -> ValueError:
    return ValueError(f"the last statement returns no rows (it must be a query): {statement[:200]}")


# ---------------------------------------------------------------------------------------------
# DuckDB


class DuckDBBackend(Backend):
    name = dialect = "duckdb"

    def __init__(self) -> None:
        try:
            import duckdb
        except ImportError as error:
            raise BackendUnavailable(
                f"DuckDB cannot start: {error}; install ccrqof itself (duckdb is a core dependency)"
            ) from error
        self.version = duckdb.__version__
        self.connection = duckdb.connect(":memory:", config={"threads": 2})

    def _load(self, typed):
        con = self.connection
        con.execute("BEGIN")
        try:
            for name, (table, _kinds) in typed.items():
                con.register("ccrqof_load", table)
                con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM ccrqof_load')
                con.unregister("ccrqof_load")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _run(self, statements):
        import duckdb

        # DuckDB answers DDL and DML with a pseudo-result (a Count column), so ask its parser
        last = self.connection.extract_statements(statements[-1])
        if [s.type for s in last] != [duckdb.StatementType.SELECT]:
            raise _no_rows(statements[-1])
        cursor = self.connection
        for statement in statements:
            cursor = self.connection.execute(statement)
        names = [d[0] for d in cursor.description]
        types = [str(d[1]) for d in cursor.description]
        return names, types, cursor.fetchall()

    def close(self) -> None:
        self.connection.close()


# ---------------------------------------------------------------------------------------------
# PostgreSQL: a throwaway cluster


def find_postgres_bin() -> Path:
    """The folder holding initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/*/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: [int(x) for x in re.findall(r"\d+", Path(p).parent.parent.name)],
    )
    if candidates:
        return Path(candidates[-1]).parent
    raise BackendUnavailable(
        "PostgreSQL cannot start: initdb not found on PATH or in /usr/lib/postgresql/*/bin; "
        "install it (Debian: apt-get install postgresql; .ci/run does this)"
    )


def _postgres_user() -> pwd.struct_passwd | None:
    """Whom to run the server as: None when not root, else an unprivileged account."""
    if os.geteuid() != 0:
        return None
    wanted = [os.environ.get("CCRQOF_PG_USER"), "postgres", "nobody"]
    for name in filter(None, wanted):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise BackendUnavailable(
        "PostgreSQL cannot start: running as root and no unprivileged user to run it as "
        "(tried CCRQOF_PG_USER, postgres, nobody); create one with useradd"
    )


class PostgresCluster:
    """initdb + pg_ctl in a temporary folder; unix socket only; durability off for speed."""

    SUPERUSER = "ccrqof"

    def __init__(self) -> None:
        self.bin = find_postgres_bin()
        self.user = _postgres_user()
        # the server's user must reach its folder, and a socket's path must stay under ~107
        # bytes: /tmp when running as another user or when TMPDIR is long
        folder = None if self.user is None and len(tempfile.gettempdir()) < 60 else "/tmp"
        self.base = Path(tempfile.mkdtemp(prefix="ccrqof-pg-", dir=folder))
        self.data = self.base / "data"
        self.socket_dir = self.base / "socket"
        self.log = self.base / "server.log"
        self.port = 5432
        self.started = False

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        kwargs: dict[str, Any] = {}
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "TZ": "UTC",
        }
        if self.user is not None:
            kwargs.update(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
            env["HOME"] = str(self.base)
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            cwd=self.base,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
            **kwargs,
        )

    def _fail(self, what: str, result: subprocess.CompletedProcess | None) -> BackendUnavailable:
        detail = ""
        if result is not None:
            detail = (result.stdout + result.stderr).strip()[-2000:]
        if self.log.exists():
            detail += "\nserver log:\n" + self.log.read_text(errors="replace")[-2000:]
        who = f" as user {self.user.pw_name}" if self.user else ""
        return BackendUnavailable(f"PostgreSQL cannot start: {what}{who} failed:\n{detail}")

    def start(self) -> None:
        self.socket_dir.mkdir()
        if self.user is not None:
            for path in (self.base, self.socket_dir):
                os.chown(path, self.user.pw_uid, self.user.pw_gid)
        os.chmod(self.base, 0o700)
        result = self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            self.SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        if result.returncode != 0:
            raise self._fail("initdb", result)
        settings = {
            "listen_addresses": "''",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "port": str(self.port),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "timezone": "'UTC'",
            "max_connections": "20",
            "shared_buffers": "64MB",
            "logging_collector": "off",
        }
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# ccrqof tests: throwaway cluster\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        result = self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start"
        )
        if result.returncode != 0:
            raise self._fail("pg_ctl start", result)
        self.started = True

    def stop(self) -> None:
        try:
            if self.started:
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", timeout=60)
                self.started = False
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def connect(self):
        import psycopg

        return psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user=self.SUPERUSER,
            dbname="postgres",
            autocommit=True,
        )


class PostgresBackend(Backend):
    name = dialect = "postgres"

    def __init__(self) -> None:
        try:
            import psycopg
        except ImportError as error:
            raise BackendUnavailable(
                f"PostgreSQL tests need psycopg: {error}; pip install '.[test]'"
            ) from error
        self.cluster = PostgresCluster()
        try:
            self.cluster.start()
            try:
                self.connection = self.cluster.connect()
            except psycopg.Error as error:
                raise self.cluster._fail(f"connecting ({error})", None) from error
        except BaseException:
            self.cluster.stop()
            raise
        self.version = self.connection.execute("SHOW server_version").fetchone()[0]

    def _load(self, typed):
        with self.connection.transaction(), self.connection.cursor() as cursor:
            for name, (table, kinds) in typed.items():
                columns = ", ".join(f'"{c}" {_SQL[kinds[c]]}' for c in table.column_names)
                cursor.execute(f'DROP TABLE IF EXISTS "{name}" CASCADE')
                cursor.execute(f'CREATE TABLE "{name}" ({columns})')
                names = ", ".join(f'"{c}"' for c in table.column_names)
                with cursor.copy(f'COPY "{name}" ({names}) FROM STDIN') as copy:
                    for row in zip(*(col.to_pylist() for col in table.columns), strict=True):
                        copy.write_row(row)
                cursor.execute(f'ANALYZE "{name}"')

    def _run(self, statements):
        from psycopg import postgres

        with self.connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement, prepare=False)  # no parameters: % is not a placeholder
            if cursor.description is None:
                raise _no_rows(statements[-1])
            names = [c.name for c in cursor.description]
            types = []
            for column in cursor.description:
                info = postgres.types.get(column.type_code)
                types.append(info.name if info else str(column.type_code))
            return names, types, cursor.fetchall()

    def close(self) -> None:
        try:
            self.connection.close()
        finally:
            self.cluster.stop()


# ---------------------------------------------------------------------------------------------
# Spark: local mode, one session per test run

_LOG4J = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
"""


class SparkBackend(Backend):
    name = dialect = "spark"

    def __init__(self) -> None:
        try:
            import pyspark
            from pyspark.sql import SparkSession
        except ImportError as error:
            raise BackendUnavailable(
                f"Spark tests need pyspark: {error}; pip install '.[test]' (or '.[spark]')"
            ) from error
        if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
            raise BackendUnavailable("Spark cannot start: no java on PATH and no JAVA_HOME")
        self.version = pyspark.__version__
        self.scratch = Path(tempfile.mkdtemp(prefix="ccrqof-spark-"))
        log4j = self.scratch / "log4j2.properties"
        log4j.write_text(_LOG4J, encoding="utf-8")
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        # a short-lived JVM on small data: the C1 compiler alone and the serial collector start
        # and warm up in about half the time (measured on 2 cores); C1's default 48 MB of code
        # cache fills within one test run (the JVM then stops compiling), so it gets more
        java_options = (
            f"-Dlog4j.configurationFile=file:{log4j} -Duser.timezone=UTC"
            " -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:ReservedCodeCacheSize=256m"
        )
        builder = (
            SparkSession.builder.master("local[2]")
            .appName("ccrqof-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.default.parallelism", "2")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.driver.extraJavaOptions", java_options)
            # one session runs every Spark test, the warehouse script among them, whose plan
            # (each CTE inlined where it is read) ran the default 1 GB out at its practices
            # level: the old Spark tests hung there
            .config("spark.driver.memory", "2g")
            .config("spark.sql.warehouse.dir", str(self.scratch / "warehouse"))
            .config("spark.local.dir", str(self.scratch / "local"))
        )
        try:
            with warnings.catch_warnings():
                # pyspark 4.3 warns that it "does not yet fully support pandas >= 3.0.0"; these
                # tests move data through Arrow and Python rows, not through pandas
                warnings.filterwarnings("ignore", message="PySpark does not yet fully support")
                self.session = builder.getOrCreate()
        except BaseException as error:
            shutil.rmtree(self.scratch, ignore_errors=True)
            raise BackendUnavailable(f"Spark cannot start: {error}") from error
        self.session.sparkContext.setLogLevel("ERROR")

    def _load(self, typed):
        for name, (table, _kinds) in typed.items():
            self.session.createDataFrame(table).createOrReplaceTempView(name)

    def _run(self, statements):
        frame = None
        for statement in statements:
            frame = self.session.sql(statement)
        fields = frame.schema.fields
        if not fields:
            raise _no_rows(statements[-1])
        names = [f.name for f in fields]
        types = [f.dataType.typeName() for f in fields]
        rows = [tuple(row) for row in frame.collect()]
        # pyspark hands a TIMESTAMP back as a naive datetime in this process's local time; the
        # session's time zone is UTC, so give the UTC wall time as DuckDB and PostgreSQL do
        local = [i for i, t in enumerate(types) if t == "timestamp"]
        if local and rows:
            rows = [
                tuple(
                    v.astimezone(dt.UTC).replace(tzinfo=None) if i in local and v else v
                    for i, v in enumerate(row)
                )
                for row in rows
            ]
        return names, types, rows

    def close(self) -> None:
        try:
            self.session.stop()
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)


BACKENDS = {"duckdb": DuckDBBackend, "postgres": PostgresBackend, "spark": SparkBackend}


def start(name: str) -> Backend:
    """Start one backend for a fixture; `startup_seconds` says how long its start took.

    An engine that cannot start fails the test that needs it, with the reason: it is never
    skipped, since a skipped test would be counted among the passing ones.
    """
    import pytest

    began = time.perf_counter()
    try:
        backend = BACKENDS[name]()
    except BackendUnavailable as error:
        reason = str(error)
    else:
        backend.startup_seconds = time.perf_counter() - began
        return backend
    pytest.fail(reason, pytrace=False)  # outside the except: no chained traceback to read
