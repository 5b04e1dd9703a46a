"""Session fixtures that start the real SQL engines once per test run (see sql_backends.py)."""

from __future__ import annotations

import pytest
import sql_backends

ENGINES = tuple(sql_backends.BACKENDS)


def _start(name: str):
    try:
        backend, seconds = sql_backends.start(name)
    except sql_backends.BackendUnavailable as error:
        # fail, never skip: a test that could not run is not a test that passed
        pytest.fail(str(error), pytrace=False)
    backend.startup_seconds = seconds
    return backend


@pytest.fixture(scope="session")
def duckdb_backend():
    backend = _start("duckdb")
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def postgres_backend():
    backend = _start("postgres")
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def spark_backend():
    backend = _start("spark")
    yield backend
    backend.close()


@pytest.fixture(scope="session", params=ENGINES)
def sql_backend(request):
    """Each real SQL engine in turn: DuckDB, PostgreSQL, Spark."""
    return request.getfixturevalue(f"{request.param}_backend")
