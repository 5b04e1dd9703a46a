"""Session fixtures that start the real SQL engines once per test run (see sql_backends.py)."""

from __future__ import annotations

import pytest
import sql_backends

ENGINES = tuple(sql_backends.BACKENDS)


@pytest.fixture(scope="session")
def duckdb_backend():
    backend = sql_backends.start("duckdb")
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def postgres_backend():
    backend = sql_backends.start("postgres")
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def spark_backend():
    backend = sql_backends.start("spark")
    yield backend
    backend.close()


@pytest.fixture(scope="session", params=ENGINES)
def sql_backend(request):
    """Each real SQL engine in turn: DuckDB, PostgreSQL, Spark."""
    return request.getfixturevalue(f"{request.param}_backend")
