"""The Spark engine: the SQL engine's queries in Spark's dialect, for extracts that outgrow one
machine's DuckDB.

Where it runs: a session given (`session=`), a Spark Connect server (`remote="sc://host:15002"`,
as Databricks offers; else `SPARK_REMOTE`, as pyspark reads it), the active session (under
`spark-submit`), or else a new local one. Data moves through Arrow both ways. Each
`prepare` works in its own `newSession()` of it, so its temporary views never clobber another
handle's or the caller's.

The tables DuckDB materialises (the keyed tables; a rule set's patient dates, counts, REG_DAT
and decided rows) are local checkpoints here: computed once, with the plan cut where they are
read. Spark inlines a temporary view's whole plan wherever it is read, and these are read many
times each; without the cut every query re-plans the lineage from the events up, and each
cascade's plan holds the ones before it. The earlier Spark engine cached (`.cache()`) instead,
which keeps the plan: its plan strings, which adaptive execution prints at every stage, filled
the 1 GB driver heap and the run hung (docs/howto-spark.md).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
import warnings
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pyarrow as pa

from ccrqof.engine.sql.embedded import DuckDBEngine
from ccrqof.errors import UsageError

DIALECT = "spark"
INSTALL = "pip install 'ccrqof[spark]'"
CONNECT_TIMEOUT = 20.0  # seconds for a Spark Connect server to answer before giving up


@contextlib.contextmanager
def _quiet():
    """pyspark 4.3 warns, as it imports its pandas and Connect modules, that it "does not yet
    fully support pandas >= 3.0.0"; this engine moves data through Arrow, not pandas, so on a
    user's terminal the warning is noise."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="PySpark does not yet fully support", category=FutureWarning
        )
        yield


def _pyspark():
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise UsageError(f"the Spark engine needs pyspark: {INSTALL}") from None


def _java_found() -> bool:
    return bool(shutil.which("java") or os.environ.get("JAVA_HOME"))


def _endpoint(remote: str) -> str:
    """host:port of a Spark Connect URL, for messages: the rest may hold a token."""
    parsed = urlparse(remote)
    try:
        port = parsed.port or 15002
    except ValueError:
        port = "?"
    return f"{parsed.hostname or '?'}:{port}"


def _check_remote(remote: str) -> None:
    """Refuse a malformed URL, and a server that is not there, within seconds: Spark Connect's
    own client retries a failed connection for about ten minutes before it says anything."""
    try:
        with _quiet():
            import grpc
            from pyspark.sql.connect.client import DefaultChannelBuilder
    except ImportError:
        raise UsageError(
            f"a Spark Connect server needs pyspark's connect libraries: {INSTALL}"
        ) from None
    from pyspark.errors import PySparkException

    try:
        channel = DefaultChannelBuilder(remote).toChannel()
    except (PySparkException, ValueError):
        raise UsageError(
            "--spark-remote must be a Spark Connect URL such as sc://host:15002 "
            "(sc://host:port/;token=...;use_ssl=true for a secured server)"
        ) from None
    state: list = []
    changed = threading.Event()

    def watch(now) -> None:
        state.append(now)
        changed.set()

    channel.subscribe(watch, try_to_connect=True)
    deadline = time.monotonic() + CONNECT_TIMEOUT
    try:
        while time.monotonic() < deadline:
            changed.wait(max(0.0, deadline - time.monotonic()))
            changed.clear()
            if grpc.ChannelConnectivity.READY in state:
                return
            if grpc.ChannelConnectivity.TRANSIENT_FAILURE in state:
                raise UsageError(
                    f"cannot reach the Spark Connect server at {_endpoint(remote)}: "
                    "is the address right and the server running?"
                )
        raise UsageError(
            f"no answer from the Spark Connect server at {_endpoint(remote)} within "
            f"{CONNECT_TIMEOUT:.0f} s: is the address right and the server running?"
        )
    finally:
        channel.unsubscribe(watch)
        channel.close()


# Spark's start-up chatter (its default log profile, a host name that resolves to loopback, and
# "Setting default log level", which the gateway prints unless its logger has the root's level)
# is noise on a user's terminal; errors still show
_LOG4J = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = Spark %p %c{1}: %m%n
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = error
"""


def _local_session():
    """A new local session: every core, no web UI, progress bars or warnings on the user's
    terminal."""
    from pyspark.errors import PySparkException
    from pyspark.sql import SparkSession

    with tempfile.TemporaryDirectory(prefix="ccrqof-spark-") as folder:
        log4j = Path(folder) / "log4j2.properties"  # read once, as Java starts
        log4j.write_text(_LOG4J, encoding="utf-8")
        builder = (
            SparkSession.builder.master("local[*]")
            .appName("ccrqof")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.driver.extraJavaOptions", f"-Dlog4j.configurationFile=file:{log4j}")
        )
        try:
            session = builder.getOrCreate()
        except PySparkException as error:
            reason = str(error).strip().splitlines()[0].rstrip(".")
            raise UsageError(
                f"Spark could not start ({reason}); it needs Java 17 or later (java on PATH or "
                "JAVA_HOME)"
            ) from None
    session.sparkContext.setLogLevel("ERROR")
    return session


class _SparkConnection:
    """The part of a DB-API connection the SQL engine's code uses, over one Spark session, and
    the checkpoints it made (released when a table of the same name replaces them)."""

    def __init__(self, spark) -> None:
        self.spark = spark
        self.checkpoints: dict[str, object] = {}
        self._result = None

    def register(self, name: str, table: pa.Table) -> None:
        """An Arrow table as a temporary view (Spark reads Arrow: dates stay dates)."""
        with _quiet():
            self.spark.createDataFrame(table).createOrReplaceTempView(name)

    def unregister(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)

    def execute(self, sql: str) -> _SparkConnection:
        self._result = self.spark.sql(sql)
        return self

    def df(self) -> pd.DataFrame:
        """The result through Arrow, as DuckDB's `.df()` gives it."""
        with _quiet():
            return self._result.toArrow().to_pandas()

    def fetchone(self):
        row = self._result.first()
        return None if row is None else tuple(row)

    def fetchall(self):
        return [tuple(row) for row in self._result.collect()]

    def checkpoint(self, name: str, frame) -> None:
        """`frame` computed now and kept as `name`, its plan cut; the one it replaces released."""
        kept = frame.localCheckpoint(eager=True)
        kept.createOrReplaceTempView(name)
        self.release(name)
        self.checkpoints[name] = kept

    def release(self, name: str) -> None:
        old = self.checkpoints.pop(name, None)
        if old is None:
            return
        # classic Spark: the checkpointed blocks are the plan's RDD; Spark Connect releases the
        # server's copy when the DataFrame is collected, and classic would at the JVM's next GC
        with contextlib.suppress(Exception):  # Connect has no _jdf: dropping `old` is enough
            old._jdf.queryExecution().logical().rdd().unpersist(False)


class SparkEngine(DuckDBEngine):
    """The SQL engine's handlers and queries, run by Spark (see the module's docstring)."""

    name = "spark"
    dialect = DIALECT

    def __init__(self, session=None, remote: str | None = None) -> None:
        _pyspark()
        remote = remote or (None if session is not None else os.environ.get("SPARK_REMOTE"))
        if session is not None and remote:
            raise UsageError("give the Spark engine a session or a remote URL, not both")
        if remote:
            _check_remote(remote)
        elif session is None and not _java_found() and not _active():
            raise UsageError(
                "the Spark engine needs Java 17 or later to run Spark locally: no java on PATH "
                "and no JAVA_HOME (or give a Spark Connect server with --spark-remote)"
            )
        self.session = session
        self.remote = remote

    def _base(self):
        if self.session is not None:
            return self.session
        if self.remote:
            from pyspark.sql import SparkSession

            return SparkSession.builder.remote(self.remote).getOrCreate()
        return _active() or _local_session()

    def _connect(self) -> _SparkConnection:
        with _quiet():
            return _SparkConnection(_own_session(self._base()))

    def _materialise(self, con: _SparkConnection, name: str, query, as_table: bool) -> None:
        frame = con.spark.sql(query.sql(dialect=self.dialect))
        if as_table:
            con.checkpoint(name, frame)
        else:
            frame.createOrReplaceTempView(name)

    def _drop(self, con: _SparkConnection, name: str, as_table: bool) -> None:
        self._discard(con, name)  # a view or a checkpoint: both are temporary views

    def _discard(self, con: _SparkConnection, name: str) -> None:
        """The view gone and its checkpoint released (DuckDB drops the table)."""
        con.spark.catalog.dropTempView(name)
        con.release(name)


def _own_session(base):
    """A new session of `base`, for one prepared extract: its own temporary views (never the
    caller's `events`, say), the caller's runtime settings copied (newSession starts without)."""
    try:
        session = base.newSession()
    except Exception:  # noqa: BLE001 - a server that allows one session: share it
        return base
    for key, value in base.conf.getAll.items():
        if base.conf.isModifiable(key):
            session.conf.set(key, value)
    return session


def _active():
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


__all__ = ["SparkEngine"]
