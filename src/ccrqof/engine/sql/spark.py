"""The Spark engine: the same compiled SQL, run by Spark when one machine is not enough.

Local by default (`local[*]`); `remote="sc://host:15002"` runs on a cluster through Spark
Connect (as Databricks offers), and under `spark-submit` the active session is used. The
extract's tables become temporary views; `prepare`'s keyed tables are cached once.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ccrqof.codelists import Codelist
from ccrqof.engine.sql import keying
from ccrqof.engine.sql.embedded import (
    _EVENT_COLUMNS,
    _MATERIALISED,
    _PATIENT_COLUMNS,
    DuckDBEngine,
    _arrow,
    _members,
    shape_of,
)
from ccrqof.engine.sql.rules import DISPATCHERS
from ccrqof.readers import Extract
from ccrqof.rules.loader import RuleSet

DIALECT = "spark"


class _SparkConnection:
    """The small part of a DB-API connection the shared SQL engine code uses."""

    def __init__(self, spark) -> None:
        self.spark = spark

    def execute(self, sql: str) -> _SparkConnection:
        self._result = self.spark.sql(sql)
        return self

    def df(self) -> pd.DataFrame:
        return self._result.toPandas()

    def fetchone(self):
        return tuple(self._result.first())

    def fetchall(self):
        return [tuple(r) for r in self._result.collect()]

    def view(self, name: str, table) -> None:
        """An Arrow table as a temporary view, its column types kept (Spark 4 reads Arrow)."""
        self.spark.createDataFrame(table).createOrReplaceTempView(name)


def session(remote: str | None = None):
    """The active Spark session (spark-submit), a Spark Connect one, or a local one."""
    from pyspark.sql import SparkSession

    if remote:
        return SparkSession.builder.remote(remote).getOrCreate()
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    return (
        SparkSession.builder.master("local[*]")
        .appName("ccrqof")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )


class SparkEngine(DuckDBEngine):
    """Runs the SQL engine's queries in Spark's dialect (the handlers are the SQL engine's)."""

    name = "spark"
    dialect = DIALECT
    dispatchers = DISPATCHERS

    def __init__(self, remote: str | None = None, spark=None) -> None:
        self.remote = remote
        self._spark = spark

    def _connect(self):
        return _SparkConnection(self._spark or session(self.remote))

    def prepare(
        self,
        extract: Extract,
        codelist: Codelist | None,
        rulesets: Sequence[RuleSet],
        *,
        also_patients: tuple[str, ...] = (),
    ):
        con = self._connect()
        con.view("events", _arrow(extract.events, _EVENT_COLUMNS, ("date",)))
        if extract.patients is not None:
            con.view(
                "patients",
                _arrow(
                    extract.patients,
                    _PATIENT_COLUMNS,
                    ("registration_date", "deregistration_date", "date_of_birth"),
                ),
            )
        if codelist is not None:
            con.view("codelist", _members(codelist))
        shape = shape_of(extract, codelist, rulesets, also_patients)
        clusters = sorted(set().union(*(r.clusters() for r in rulesets)))
        for name, query in keying.steps(shape, clusters):
            self._materialise(con, name, query, name in _MATERIALISED)
        return self._handle(con, shape, extract)

    def _materialise(self, con, name: str, query, as_table: bool) -> None:
        frame = con.spark.sql(query.sql(dialect=self.dialect))
        if as_table:
            frame = frame.cache()
        frame.createOrReplaceTempView(name)


__all__ = ["SparkEngine", "session"]
