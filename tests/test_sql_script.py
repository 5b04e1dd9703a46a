"""`ccrqof sql`: the warehouse script is the engine's own SQL. It is checked three ways: golden
files of every dialect, running it on DuckDB against the engines' results, and the probe."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest
from sql_golden import GOLDEN, expected

import ccrqof
from ccrqof.engine.sql.script import DIALECTS, parse_tables, probe, script
from ccrqof.errors import UsageError
from ccrqof.rules import available_years
from ccrqof.synthetic import make_extract


def test_golden_scripts_are_current():
    files = expected()
    assert len(files) == len(available_years()) * len(DIALECTS) * 2
    stale = [
        str(path.relative_to(GOLDEN))
        for path, text in files.items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    assert not stale, f"regenerate with python tests/sql_golden.py: {stale[:5]}"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    """A synthetic extract as typed tables in DuckDB (as a warehouse holds them: dates as
    DATE, blanks as NULL), and the same extract read by ccrqof from CSV files."""
    events, patients = make_extract(3, 700, seed=7)
    folder = tmp_path_factory.mktemp("warehouse")
    events.to_csv(folder / "events.csv", index=False)
    patients.to_csv(folder / "patients.csv", index=False)
    codelist = ccrqof.illustrative_codelist()
    con = duckdb.connect()
    for name, frame in (("events", events), ("patients", patients)):
        dates = [c for c in frame if c in ("date", "registration_date", "deregistration_date")]
        typed = frame.assign(**{c: pd.to_datetime(frame[c].replace("", None)) for c in dates})
        con.register(f"{name}_raw", typed)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_raw")
    con.register("codelist", codelist.members[["cluster", "code"]].astype(str))
    extract = ccrqof.read_extract(folder / "events.csv", patients=folder / "patients.csv")
    return con, extract, codelist


def _engine_rows(warehouse, ruleset, engine):
    _, extract, codelist = warehouse
    return ccrqof.evaluate(extract, ruleset, codelist, engine=engine)


@pytest.mark.parametrize("reference", [dt.date(2024, 3, 31), dt.date(2025, 8, 31)])
def test_the_duckdb_script_gives_the_engines_patient_rows(warehouse, reference):
    con = warehouse[0]
    ruleset = ccrqof.load_ruleset(reference_date=reference)
    got = con.execute(script(ruleset, "duckdb", "patients")).df()
    want = _engine_rows(warehouse, ruleset, "python").outcomes
    keys = ["practice_code", "indicator", "patient_id"]
    got = got.rename(columns={"rule_id": "rule", "field_name": "field"})
    got = got.rename(columns={n.lower(): n for n in ruleset.outcome_dates()})
    got = got.sort_values(keys, ignore_index=True)
    want = want.sort_values(keys, ignore_index=True)
    assert len(got) == len(want) > 100
    for column in ("outcome", "rule", "field"):
        assert got[column].fillna("").tolist() == want[column].fillna("").tolist(), column
    for column in (*ruleset.outcome_dates(), "due_by"):
        a = pd.to_datetime(got[column]).dt.strftime("%Y-%m-%d").fillna("")
        b = pd.to_datetime(want[column]).dt.strftime("%Y-%m-%d").fillna("")
        assert a.tolist() == b.tolist(), column


def test_the_duckdb_script_gives_the_summarys_counts(warehouse):
    con = warehouse[0]
    ruleset = ccrqof.load_ruleset(year="2023-24")
    got = con.execute(script(ruleset, "duckdb", "practices")).df()
    summary = ccrqof.score(_engine_rows(warehouse, ruleset, "duckdb"))
    columns = ["register", "denominator", "numerator", "pcas", "exclusions"]
    keys = ["practice_code", "indicator"]
    got = got.sort_values(keys, ignore_index=True)
    want = summary.sort_values(keys, ignore_index=True)
    assert got[keys].values.tolist() == want[keys].values.tolist()
    assert (
        got[columns].astype("Int64").values.tolist()
        == want[columns].astype("Int64").values.tolist()
    )
    assert got.loc[got["indicator"].str.startswith("CS"), "register"].isna().all()
    assert set(pd.to_datetime(got["reference_date"]).dt.date) == {dt.date(2024, 3, 31)}


def test_tables_can_be_renamed(warehouse):
    con = warehouse[0]
    con.execute("CREATE SCHEMA IF NOT EXISTS gp")
    con.execute("CREATE OR REPLACE TABLE gp.events_2024 AS SELECT * FROM events")
    ruleset = ccrqof.load_ruleset(year="2023-24")
    renamed = script(ruleset, "duckdb", "practices", parse_tables(("events=gp.events_2024",)))
    assert "gp.events_2024" in renamed
    plain = con.execute(script(ruleset, "duckdb", "practices")).df()
    assert con.execute(renamed).df().equals(plain)


@pytest.mark.parametrize("option", ["event=x", "events=", "events"])
def test_a_bad_table_option_says_what_is_expected(option):
    with pytest.raises(UsageError, match="NAME=TABLE"):
        parse_tables((option,))


def test_the_probe_passes_on_duckdb():
    rows = duckdb.connect().execute(probe("duckdb")).fetchall()
    assert len(rows) == 11
    assert {result for _, result in rows} == {"PASS"}


def test_the_probe_fails_where_month_ends_are_kept():
    """A warehouse that keeps month ends (ADD_MONTHS on Snowflake or Oracle) fails a row: the
    probe can fail."""
    text = probe("duckdb").replace(
        "CAST('2023-02-28' AS DATE) + INTERVAL 1 MONTH", "CAST('2023-03-31' AS DATE)"
    )
    rows = dict(duckdb.connect().execute(text).fetchall())
    assert rows["2023-02-28 + 1 month = 2023-03-28"] == "FAIL"


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_every_dialect_has_no_quoted_names_and_no_reserved_aliases(dialect):
    text = script(ccrqof.load_ruleset(year="2023-24"), dialect, "patients")
    assert '"' not in text and "`" not in text and "[" not in text
    for word in (" AS rule\n", " AS date\n", " AS rule,", " AS date,"):
        assert word not in text
    assert "R5 reject_exclusion DIAGCRV12M: Diagnosed in the 12 months" in text
