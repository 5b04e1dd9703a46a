"""The SQL engine on PostgreSQL, for tests: the DuckDB engine's code with PostgreSQL's dialect
and a psycopg connection, so every rule case also runs on the warehouse most ICBs can start.
(Spark is a real engine, `ccrqof.engine.sql.spark.SparkEngine`; PostgreSQL users run the
`ccrqof sql` script instead.)"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
from sql_backends import PostgresBackend

from ccrqof.engine.sql.embedded import DuckDBEngine


class _PostgresConnection:
    """The part of a DB-API connection the SQL engine uses, over the test cluster."""

    def __init__(self, backend: PostgresBackend) -> None:
        self.backend = backend
        self._rows: pd.DataFrame | None = None

    def register(self, name: str, table: pa.Table) -> None:
        kinds = {
            field.name: "date" if pa.types.is_date(field.type) else "text" for field in table.schema
        }
        self.backend.load({name: table.to_pandas()}, types={name: kinds})

    def unregister(self, name: str) -> None:
        """The engine is done with an input table (and the views over it)."""
        self._statement(f"DROP TABLE IF EXISTS {name} CASCADE")

    def execute(self, sql: str) -> _PostgresConnection:
        self._rows = (
            self.backend.query(sql)
            if sql.lstrip().upper().startswith(("SELECT", "WITH"))
            else self._statement(sql)
        )
        return self

    def _statement(self, sql: str) -> None:
        with self.backend.connection.cursor() as cursor:
            cursor.execute(sql, prepare=False)
        return None

    def df(self) -> pd.DataFrame:
        return self._rows

    def fetchone(self):
        return tuple(self._rows.iloc[0]) if len(self._rows) else None

    def fetchall(self):
        return [tuple(r) for r in self._rows.itertuples(index=False)]


class PostgresEngine(DuckDBEngine):
    name = "postgres"
    dialect = "postgres"

    def __init__(self, backend: PostgresBackend) -> None:
        self.backend = backend

    def _connect(self):
        return _PostgresConnection(self.backend)

    def _drop(self, con, name: str, as_table: bool) -> None:
        con._statement(f"DROP {'TABLE' if as_table else 'VIEW'} IF EXISTS {name} CASCADE")

    def _materialise(self, con, name: str, query, as_table: bool) -> None:
        kind = "TABLE" if as_table else "VIEW"
        for existing in ("TABLE", "VIEW"):  # PostgreSQL has no CREATE OR REPLACE TABLE
            con._statement(
                f"DO $$ BEGIN EXECUTE 'DROP {existing} IF EXISTS {name} CASCADE'; "
                "EXCEPTION WHEN wrong_object_type THEN NULL; END $$"
            )
        con._statement(f"CREATE TEMP {kind} {name} AS {query.sql(dialect=self.dialect)}")
