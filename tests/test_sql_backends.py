"""The real SQL engines the SQL engine will be verified on (DuckDB, PostgreSQL, Spark) start, load
typed tables and answer queries written once as sqlglot trees (issue 13's test infrastructure)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sql_backends
from sqlglot import exp

PEOPLE = pd.DataFrame(
    {
        "patient_id": ["p1", "p2", "p3", "p4"],
        "diagnosed": [dt.date(2024, 2, 29), None, dt.date(2023, 1, 31), None],
        "reviews": pd.array([2, None, 0, 1], dtype="Int64"),
        "deceased": [False, None, True, False],
    }
)


def _date(text: str) -> exp.Expression:
    return exp.cast(exp.Literal.string(text), exp.DataType.Type.DATE)


def add_months(this: exp.Expression, months: int) -> exp.Expression:
    """Month arithmetic as the SQL engine will build it: DateAdd(unit=MONTH), cast back to DATE."""
    shifted = exp.DateAdd(
        this=this, expression=exp.Literal.number(months), unit=exp.Var(this="MONTH")
    )
    return exp.cast(shifted, exp.DataType.Type.DATE)


@pytest.fixture(scope="module")
def people(sql_backend):
    sql_backend.load({"people": PEOPLE})
    return sql_backend


def test_each_backend_speaks_its_sqlglot_dialect(sql_backend):
    assert sql_backend.dialect in ("duckdb", "postgres", "spark")
    frame = sql_backend.query(exp.select(exp.Literal.number(1).as_("one")).sql(sql_backend.dialect))
    assert frame.to_dict("records") == [{"one": 1}]


def test_date_column_round_trips_as_date_with_nulls(people):
    frame = people.query("SELECT * FROM people ORDER BY patient_id")
    assert list(frame.columns) == ["patient_id", "diagnosed", "reviews", "deceased"]
    assert frame.attrs["types"] == {
        "patient_id": "text",
        "diagnosed": "date",
        "reviews": "integer",
        "deceased": "boolean",
    }
    assert str(frame["diagnosed"].dtype) == "datetime64[s]"
    assert frame["diagnosed"].tolist()[0] == pd.Timestamp("2024-02-29")
    assert frame["diagnosed"].isna().tolist() == [False, True, False, True]
    assert frame["reviews"].tolist() == [2, None, 0, 1]
    assert frame["deceased"].tolist() == [False, None, True, False]


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        ("2024-02-29", -12, "2023-02-28"),  # the trap: clamps to the month's end
        ("2023-01-31", 1, "2023-02-28"),
        ("2024-04-30", -3, "2024-01-30"),
    ],
)
def test_month_interval_clamps_to_month_end(sql_backend, start, months, expected):
    query = exp.select(add_months(_date(start), months).as_("shifted"))
    frame = sql_backend.query(query.sql(dialect=sql_backend.dialect))
    assert frame.attrs["types"] == {"shifted": "date"}
    assert frame["shifted"].tolist() == [pd.Timestamp(expected)]


def test_month_interval_on_a_table_column_keeps_nulls(people):
    query = (
        exp.select(
            exp.column("patient_id"), add_months(exp.column("diagnosed"), -12).as_("year_before")
        )
        .from_("people")
        .order_by("patient_id")
    )
    frame = people.query(query.sql(dialect=people.dialect))
    assert frame.attrs["types"]["year_before"] == "date"
    expected = [pd.Timestamp("2023-02-28"), pd.NaT, pd.Timestamp("2022-01-31"), pd.NaT]
    assert frame["year_before"].tolist() == expected


def test_case_over_a_null_date(people):
    # a missing date is neither before nor on/after the cut-off: it must reach ELSE, and NOT of
    # the comparison is NULL too (the trap the SQL engine must handle explicitly)
    diagnosed = exp.column("diagnosed")
    cutoff = _date("2023-04-01")
    on_or_after = exp.GTE(this=diagnosed, expression=cutoff)
    case = (
        exp.Case()
        .when(exp.Is(this=diagnosed, expression=exp.Null()), exp.Literal.string("none"))
        .when(on_or_after, exp.Literal.string("recent"))
        .else_(exp.Literal.string("older"))
    )
    flipped = exp.Case().when(exp.Not(this=exp.paren(on_or_after)), exp.Literal.string("not"))
    query = (
        exp.select(
            exp.column("patient_id"),
            case.as_("status"),
            flipped.else_(exp.Literal.string("else")).as_("negated"),
        )
        .from_("people")
        .order_by("patient_id")
    )
    frame = people.query(query.sql(dialect=people.dialect))
    assert frame.to_dict("records") == [
        {"patient_id": "p1", "status": "recent", "negated": "else"},
        {"patient_id": "p2", "status": "none", "negated": "else"},
        {"patient_id": "p3", "status": "older", "negated": "not"},
        {"patient_id": "p4", "status": "none", "negated": "else"},
    ]


def test_thousand_row_table_round_trips(sql_backend):
    n = 1000
    first = dt.date(2020, 1, 1)
    columns = {
        "patient_id": [f"P{i:04d}" for i in range(n)],
        "code": [None if i % 7 == 0 else str(254837009 + i) for i in range(n)],
        "date": [None if i % 11 == 0 else first + dt.timedelta(days=i) for i in range(n)],
        "count": [None if i % 13 == 0 else i for i in range(n)],
        "flag": [None if i % 17 == 0 else i % 2 == 0 for i in range(n)],
    }
    table = pd.DataFrame(columns).astype({"count": "Int64"})
    sql_backend.load({"events_1000": table})
    frame = sql_backend.query("SELECT * FROM events_1000 ORDER BY patient_id")
    assert frame.attrs["types"] == {
        "patient_id": "text",
        "code": "text",
        "date": "date",
        "count": "integer",
        "flag": "boolean",
    }
    assert len(frame) == n
    for name in ("patient_id", "code", "count", "flag"):
        assert frame[name].tolist() == columns[name], name
    expected_dates = [pd.NaT if d is None else pd.Timestamp(d) for d in columns["date"]]
    assert frame["date"].tolist() == expected_dates
    totals = sql_backend.query(
        "SELECT COUNT(*) AS n_rows, COUNT(date) AS n_dates, SUM(count) AS total,"
        " MAX(date) AS last_date FROM events_1000"
    )
    assert totals.to_dict("records") == [
        {
            "n_rows": n,
            "n_dates": n - len(range(0, n, 11)),
            "total": sum(i for i in range(n) if i % 13),
            "last_date": pd.Timestamp(max(d for d in columns["date"] if d)),
        }
    ]


def test_a_script_returns_its_last_statement(sql_backend):
    view = exp.select("patient_id").from_("people").where(exp.column("deceased").is_(exp.true()))
    script = (
        "-- a script: a view, then the query; semicolons in strings and comments are not cuts\n"
        f"CREATE OR REPLACE TEMPORARY VIEW dead_people AS {view.sql(sql_backend.dialect)};\n"
        "SELECT patient_id, 'a;b' AS text FROM dead_people;  -- done; really\n"
    )
    sql_backend.load({"people": PEOPLE})
    assert sql_backend.query(script).to_dict("records") == [{"patient_id": "p3", "text": "a;b"}]
    with pytest.raises(ValueError, match="no rows"):
        sql_backend.query("CREATE OR REPLACE TEMPORARY VIEW again AS SELECT 1 AS one")


def test_all_null_date_column_is_loaded_as_date_when_named(sql_backend):
    table = pd.DataFrame({"patient_id": ["a", "b"], "died": [None, None]})
    sql_backend.load({"nobody_died": table}, types={"nobody_died": {"died": "date"}})
    query = exp.select(add_months(exp.column("died"), 1).as_("later")).from_("nobody_died")
    frame = sql_backend.query(query.sql(dialect=sql_backend.dialect))
    assert frame.attrs["types"] == {"later": "date"}
    assert frame["later"].isna().all()


def test_loading_refuses_what_it_cannot_type_faithfully():
    with pytest.raises(ValueError, match="time of day"):
        sql_backends.typed_table("t", pd.DataFrame({"d": pd.to_datetime(["2024-01-01 10:00"])}))
    with pytest.raises(ValueError, match="lower-case identifier"):
        sql_backends.typed_table("t", pd.DataFrame({"PatientId": ["a"]}))
    with pytest.raises(TypeError, match="mixed value types"):
        sql_backends.typed_table("t", pd.DataFrame({"x": ["a", 1]}))


def test_script_splitting_respects_strings_and_comments():
    script = "SELECT ';' AS a; -- ; not a cut\nSELECT $$x;y$$ AS b;;"
    assert sql_backends.split_statements(script, "postgres") == [
        "SELECT ';' AS a",
        "-- ; not a cut\nSELECT $$x;y$$ AS b",
    ]


def test_an_engine_that_cannot_start_fails_its_tests_instead_of_skipping(monkeypatch):
    class Broken(sql_backends.Backend):
        def __init__(self):
            raise sql_backends.BackendUnavailable("PostgreSQL cannot start: initdb not found")

    monkeypatch.setitem(sql_backends.BACKENDS, "postgres", Broken)
    with pytest.raises(pytest.fail.Exception, match="initdb not found"):
        sql_backends.start("postgres")


def test_a_timestamp_column_loads_when_named_and_casts_to_its_day(sql_backend):
    # an event late on day R must count on day R once cast to DATE at the source
    late = pd.DataFrame({"patient_id": ["a", "b"], "at": ["2024-03-31 23:30:00", None]})
    sql_backend.load({"late_events": late}, types={"late_events": {"at": "timestamp"}})
    day = exp.cast(exp.column("at"), exp.DataType.Type.DATE).as_("day")
    query = exp.select("patient_id", "at", day).from_("late_events").order_by("patient_id")
    frame = sql_backend.query(query.sql(dialect=sql_backend.dialect))
    assert frame.attrs["types"] == {"patient_id": "text", "at": "timestamp", "day": "date"}
    assert frame["at"].tolist() == [pd.Timestamp("2024-03-31 23:30:00"), pd.NaT]
    assert frame["day"].tolist() == [pd.Timestamp("2024-03-31"), pd.NaT]
