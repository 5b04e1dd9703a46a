"""`ccrqof trend`: a month-end series that must equal `calc --as-of` at every point.

The property test draws extracts from ``test_differential.py``'s scenarios and month ranges from
April 2021 to December 2026, and checks every point of `series(prepare(...), month_ends(...))`
against `summarise(evaluate(extract, load_ruleset(reference_date=month end)))`, which is what
`calc --as-of <month end>` computes from a fresh read. The CLI tests run the real command on a
small synthetic extract (ccrqof.synthetic) whose activity continues to mid-2025.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from engines import ENGINE_NAMES
from entry import run_main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_differential import PRACTICES, scenarios, to_extract

import ccrqof
import ccrqof.readers.extract
from ccrqof.errors import UsageError
from ccrqof.organisations import LEVEL_COLUMNS, ORG_COLUMNS, summarise
from ccrqof.synthetic import make_extract, write_extract
from ccrqof.trend import SERIES_COLUMNS, SPARK, month_ends, series

NO_WIDTH = {"COLUMNS": None, "LINES": None}
FIELDS = ("register", "denominator", "numerator", "pcas", "exclusions", "achievement", "points")
FIRST_MONTH = (2021, 4)  # the first month any rule pack covers
N_MONTHS = 5 * 12 + 9  # April 2021 .. December 2026


def _same(got, want) -> bool:
    """Equal counts, or equal floats to 12 significant digits; None and NaN are both 'none'."""
    missing = [v is None or (isinstance(v, float) and math.isnan(v)) for v in (got, want)]
    if any(missing):
        return all(missing)
    return math.isclose(float(got), float(want), rel_tol=1e-12, abs_tol=1e-12)


def _month(index: int) -> tuple[int, int]:
    y, m = divmod(FIRST_MONTH[0] * 12 + FIRST_MONTH[1] - 1 + index, 12)
    return y, m + 1


def _text(month: tuple[int, int]) -> str:
    return f"{month[0]:04d}-{month[1]:02d}"


def _last_day(year: int, month: int) -> dt.date:
    """Independently of ccrqof.trend: the day before the first of the next month."""
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


def _expected_days(start: int, end: int, every: str) -> list[dt.date]:
    months = [_month(i) for i in range(start, end + 1)]
    if every == "quarter":
        months = [(y, m) for y, m in months if m % 3 == 0]
    return [_last_day(y, m) for y, m in months]


# --- property: every point equals a fresh evaluation at its month end -------------------------

ORG_MAP = pd.DataFrame(
    {
        "practice_code": list(PRACTICES),
        "practice_name": ["Alpha", "Beta", "Gamma"],
        "pcn_code": ["P1", "P1", "P2"],
        "pcn_name": ["North", "North", "South"],
        "icb_code": ["Q1", "Q1", "Q1"],
        "icb_name": ["ICB", "ICB", "ICB"],
    }
)


@st.composite
def trend_cases(draw):
    scenario = draw(scenarios(max_patients=20, explicit_year=False))
    # Mostly a range ending at or just after the scenario's reference date (its events are
    # around it), sometimes anywhere from April 2021 to December 2026.
    anchor = (scenario.reference.year - FIRST_MONTH[0]) * 12 + scenario.reference.month - 4
    anchor = min(max(anchor, 0), N_MONTHS - 1)
    start = draw(
        st.one_of(
            st.integers(max(0, anchor - 7), anchor),
            st.integers(max(0, anchor - 7), anchor),
            st.integers(max(0, anchor - 7), anchor),
            st.integers(0, N_MONTHS - 1),
        )
    )
    end = min(start + draw(st.integers(1, 8)) - 1, N_MONTHS - 1)
    every = draw(st.sampled_from(("month", "month", "quarter")))
    by = draw(st.sampled_from(("practice", "practice", "pcn", "icb")))
    org_map = None
    if by != "practice" or draw(st.booleans()):
        org_map = ORG_MAP if draw(st.integers(0, 3)) else ORG_MAP.iloc[:2]  # C83003 unmapped
    return scenario, start, end, every, by, org_map


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
@given(trend_cases())
def test_every_point_equals_a_fresh_evaluation_at_its_month_end(engine_name, case):
    scenario, start, end, every, by, org_map = case
    first, last = _text(_month(start)), _text(_month(end))
    want_days = _expected_days(start, end, every)
    if not want_days:  # a quarter range shorter than a quarter, with no quarter end in it
        with pytest.raises(UsageError, match="no quarter end"):
            month_ends(first, last, every)
        return
    days = month_ends(first, last, every)
    assert days == want_days

    extract = to_extract(scenario)
    engine = ccrqof.get_engine(engine_name)
    # the cancer indicators: the scenarios' patients have no sex or date of birth, so CS005/
    # CS006 would only count them as left out (test_series runs their cases in series)
    cancer = ("CAN001", "CAN004", "CAN005")
    rulesets = [ccrqof.load_ruleset(year=y).only(cancer) for y in ("2021-22", "2024-25")]
    handle = engine.prepare(extract, None, rulesets)
    frame = series(engine, handle, days, cancer, by=by, org_map=org_map)
    group = f"{by}_code"
    org_columns = list(LEVEL_COLUMNS[by])
    leading = ["period", "reference_date", "ruleset", "year_status", *org_columns]
    assert list(frame.columns[: len(leading)]) == leading
    assert set(SERIES_COLUMNS) <= set(frame.columns)
    assert list(dict.fromkeys(frame["reference_date"])) == [d.isoformat() for d in days]

    problems = []
    for day in days:
        ruleset = ccrqof.load_ruleset(reference_date=day).only(cancer)
        alone = ccrqof.evaluate(extract, ruleset, None, engine="python")  # the reference
        expected, _ = summarise(alone, by, org_map)
        got = frame[frame["reference_date"] == day.isoformat()]
        assert set(got["period"]) == {day.strftime("%Y-%m")}
        labels = {(i, y, ruleset.status_of(i).value) for i, y in ruleset.rule_years().items()}
        rows = zip(got["indicator"], got["ruleset"], got["year_status"], strict=True)
        assert set(rows) <= labels
        want = {(r[group], r["indicator"]): r for r in expected.to_dict("records")}
        have = {(r[group], r["indicator"]): r for r in got.to_dict("records")}
        assert len(have) == len(got), f"{day}: duplicate rows"
        assert set(have) == set(want), f"{day}: groups {sorted(have)} vs {sorted(want)}"
        for key, row in want.items():
            for name in FIELDS:
                if not _same(have[key][name], row[name]):
                    problems.append(f"{day} {key} {name}: trend {have[key][name]!r}, {row[name]!r}")
            for name in org_columns[1:]:  # the names, and a PCN's ICB, as calc gives them
                if have[key][name] != row[name]:
                    problems.append(f"{day} {key} {name}: {have[key][name]!r}, {row[name]!r}")
            if have[key]["status"] != row["status"]:
                problems.append(f"{day} {key} status: {have[key]['status']!r}, {row['status']!r}")
    assert not problems, scenario.describe() + "\n" + "\n".join(problems)


# --- month ends ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "start, end, every, expected",
    [
        ("2024-02", "2024-02", "month", ["2024-02-29"]),  # leap year
        ("2023-02", "2023-02", "month", ["2023-02-28"]),
        ("2100-02", "2100-02", "month", ["2100-02-28"]),  # not a leap year (century)
        ("2000-02", "2000-02", "month", ["2000-02-29"]),  # leap year (400)
        ("2024-03", "2024-06", "month", ["2024-03-31", "2024-04-30", "2024-05-31", "2024-06-30"]),
        ("2024-11", "2025-02", "month", ["2024-11-30", "2024-12-31", "2025-01-31", "2025-02-28"]),
        (
            "2024-01",
            "2025-03",
            "quarter",
            ["2024-03-31", "2024-06-30", "2024-09-30", "2024-12-31", "2025-03-31"],
        ),
        ("2024-02", "2024-03", "quarter", ["2024-03-31"]),
        ("2024-03", "2024-03", "quarter", ["2024-03-31"]),
        ("2023-12", "2024-02", "quarter", ["2023-12-31"]),
    ],
)
def test_month_ends(start, end, every, expected):
    assert [d.isoformat() for d in month_ends(start, end, every)] == expected


def test_month_ends_over_years_are_every_last_day():
    days = month_ends("2021-04", "2026-12")
    assert len(days) == N_MONTHS
    for day in days:
        assert day.day == calendar.monthrange(day.year, day.month)[1]
        assert (day + dt.timedelta(days=1)).day == 1


@pytest.mark.parametrize(
    "start, end, every, message",
    [
        ("2024-05", "2024-03", "month", "--from is after --to"),
        ("2024-13", "2024-14", "month", "--from expects a month as YYYY-MM"),
        ("2024-01", "2024-13", "month", "--to expects a month as YYYY-MM"),
        ("24-03", "2024-05", "month", "--from expects a month as YYYY-MM"),
        ("2024-00", "2024-05", "month", "--from expects a month as YYYY-MM"),
        ("2024-04", "2024-05", "quarter", "no quarter end"),
    ],
)
def test_month_ends_usage_errors(start, end, every, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        month_ends(start, end, every)


# --- the command --------------------------------------------------------------------------------


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def message(self) -> str:
        return " ".join(self.stderr.split())


def run(*args) -> Run:
    """`ccrqof ...` through the console-script entry point, in-process (real exit codes)."""
    code, stdout, stderr = run_main(*args)
    assert "Traceback" not in stderr
    return Run(code, stdout, stderr)


@dataclass
class Inputs:
    events: Path
    patients: Path
    org_map: Path
    practices: list[str]

    def args(self) -> list:
        return [self.events, "--patients", self.patients]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Inputs:
    folder = tmp_path_factory.mktemp("extract")
    events, patients = make_extract(
        n_practices=3, patients_per_practice=1500, reference_date=dt.date(2025, 6, 30), seed=7
    )
    events_path, patients_path = write_extract(events, patients, folder)
    practices = sorted(events["practice_code"].unique())
    org_map = folder / "org.csv"
    pd.DataFrame(
        {
            "practice_code": practices,
            "pcn_code": ["P1", "P1", "P2"],
            "icb_code": ["Q1"] * 3,
        }
    ).to_csv(org_map, index=False)
    return Inputs(events_path, patients_path, org_map, practices)


def trend_json(inputs: Inputs, *args) -> list[dict]:
    done = run("trend", *inputs.args(), *args, "--format", "json", "-q")
    assert done.exit_code == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["ccrqof_version"] == ccrqof.__version__
    return document["series"]


@pytest.mark.parametrize("by", ["practice", "pcn"])
def test_trend_json_points_equal_calc_as_of_each_month_end(inputs, by):
    grouping = ["--by", by, "--org-map", inputs.org_map] if by != "practice" else []
    points = trend_json(inputs, "--from", "2024-02", "--to", "2024-04", *grouping)
    group = f"{by}_code"
    days = ["2024-02-29", "2024-03-31", "2024-04-30"]  # leap day; end of 2023-24; 2024-25
    assert list(dict.fromkeys(p["reference_date"] for p in points)) == days
    problems = []
    for day in days:
        done = run("calc", *inputs.args(), "--as-of", day, "--format", "json", *grouping)
        assert done.exit_code == 0, done.stderr
        document = json.loads(done.stdout)
        want = {(r[group], r["indicator"]): r for r in document["results"]}
        mine = [p for p in points if p["reference_date"] == day]
        have = {(p[group], p["indicator"]): p for p in mine}
        assert set(have) == set(want) and len(have) == len(mine)
        assert {(p["indicator"], p["ruleset"], p["year_status"]) for p in mine} == {
            (indicator, rules["ruleset"], rules["status"])
            for indicator, rules in document["indicators"].items()
        }
        assert {p["period"] for p in mine} == {day[:7]}
        for key, record in want.items():
            for name in FIELDS + ("status",):
                same = (
                    have[key][name] == record[name]
                    if name == "status"
                    else _same(have[key][name], record[name])
                )
                if not same:
                    problems.append(
                        f"{day} {key} {name}: trend {have[key][name]!r}, calc {record[name]!r}"
                    )
    assert not problems, "\n".join(problems)


def test_rules_follow_the_qof_year_and_retirement_switches_to_local_monitoring(inputs):
    points = trend_json(inputs, "--from", "2024-03", "--to", "2025-05")
    by_period = {}
    for p in points:
        by_period.setdefault(p["period"], []).append(p)
    assert list(by_period) == [_text((2024, m)) for m in range(3, 13)] + [
        _text((2025, m)) for m in range(1, 6)
    ]
    rules = {
        (period, group): {
            (p["ruleset"], p["year_status"]) for p in rows if p["indicator"].startswith(group)
        }
        for period, rows in by_period.items()
        for group in ("CAN", "CS")
    }
    assert rules["2024-03", "CAN"] == rules["2024-03", "CS"] == {("2023-24", "paid")}
    assert rules["2024-04", "CAN"] == {("2024-25", "income_protected")}
    assert rules["2025-03", "CAN"] == {("2024-25", "income_protected")}
    assert rules["2025-04", "CAN"] == {("2024-25", "local_monitoring")}
    assert rules["2025-05", "CAN"] == {("2024-25", "local_monitoring")}
    # cervical screening was paid throughout, each month end under its own year's rules
    assert rules["2024-04", "CS"] == rules["2025-03", "CS"] == {("2024-25", "paid")}
    assert rules["2025-04", "CS"] == rules["2025-05", "CS"] == {("2025-26", "paid")}
    for period, rows in by_period.items():
        assert len(rows) == 5 * len(inputs.practices)
        cancer = [p for p in rows if p["indicator"].startswith("CAN")]
        screening = [p for p in rows if p["indicator"].startswith("CS")]
        assert all(p["points"] is not None for p in screening), period
        if period >= "2025-04":
            assert all(p["points"] is None for p in cancer), period
            assert all(p["status"] in ("register", "no points this year") for p in cancer)
            # counts and achievement go on
            assert all(p["denominator"] > 0 and p["achievement"] is not None for p in cancer)
        else:
            assert all(p["points"] is not None for p in cancer), period


def test_table_notes_local_monitoring_from_april_2025(inputs):
    done = run("trend", *inputs.args(), "--from", "2025-02", "--to", "2025-05", "-q")
    assert done.exit_code == 0, done.stderr
    assert "From 2025-04 the 2024-25 rules run as local monitoring" in " ".join(done.stdout.split())


def test_csv_columns(inputs):
    done = run(
        "trend",
        *inputs.args(),
        "--from",
        "2024-11",
        "--to",
        "2025-04",
        "--every",
        "quarter",
        "--indicator",
        "CAN005",
        "--format",
        "csv",
        "-q",
    )
    assert done.exit_code == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    # the organisation columns are always there, blank without an org map
    assert header.split(",") == list(SERIES_COLUMNS[:4]) + list(ORG_COLUMNS) + list(
        SERIES_COLUMNS[4:]
    )
    assert {r.split(",")[1] for r in rows} == {"2024-12-31", "2025-03-31"}
    assert {tuple(r.split(",")[5:10]) for r in rows} == {("",) * 5}
    assert {r.split(",")[10] for r in rows} == {"CAN005"}
    assert len(rows) == 2 * len(inputs.practices)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--from", "2024-05", "--to", "2024-03"], "--from is after --to"),
        (["--from", "2024-13", "--to", "2024-14"], "--from expects a month as YYYY-MM"),
        (["--from", "2024-01", "--to", "2024-13"], "--to expects a month as YYYY-MM"),
        (["--from", "24-03", "--to", "2024-05"], "--from expects a month as YYYY-MM"),
        (["--from", "2024-01", "--to", "24-03"], "--to expects a month as YYYY-MM"),
        (["--from", "2024-04", "--to", "2024-05", "--every", "quarter"], "no quarter end"),
        (["--from", "2024-01", "--to", "2024-03", "--year", "2023-24"], "not --year"),
        (
            ["--from", "2024-01", "--to", "2024-03", "--as-of", "2024-03-31"],
            "not --year or --as-of",
        ),
        (["--from", "2020-01", "--to", "2020-06"], "no rule pack covers"),
        (["--from", "2021-01", "--to", "2021-06"], "no rule pack covers 2021-01-31"),
        (["--from", "2024-01", "--to", "2024-03", "--chart", "{out}/x.pdf"], "--chart must end in"),
        (["--from", "2024-01", "--to", "2024-03", "--by", "pcn"], "--by pcn needs --org-map"),
        (["--from", "2024-01", "--to", "2024-03", "--by", "icb"], "--by icb needs --org-map"),
    ],
)
def test_usage_errors_exit_2_with_a_clear_message(inputs, tmp_path, args, message):
    args = [a.format(out=tmp_path) for a in args]
    done = run("trend", *inputs.args(), *args, "-q")
    assert done.exit_code == 2, (done.exit_code, done.stderr)
    assert message in done.message, done.stderr
    assert done.stdout == ""
    assert list(tmp_path.iterdir()) == []  # no chart, nothing half-written


@pytest.mark.parametrize("suffix", [".svg", ".png", ".html"])
def test_chart_is_written_atomically(inputs, tmp_path, suffix):
    chart = tmp_path / f"trend{suffix}"
    done = run(
        "trend", *inputs.args(), "--from", "2024-10", "--to", "2025-06", "--chart", chart, "-q"
    )
    assert done.exit_code == 0, done.stderr
    assert "Practice" in done.stdout  # the table is still printed
    assert [p.name for p in tmp_path.iterdir()] == [chart.name]  # no temporary file left
    data = chart.read_bytes()
    assert len(data) > 1000
    if suffix == ".png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
    elif suffix == ".svg":
        root = ET.fromstring(data)
        assert root.tag.endswith("svg")
    else:
        text = data.decode("utf-8")
        assert "<svg" in text and "</svg>" in text
        assert "<table" in text and "CAN004" in text and "CAN005" in text


def test_chart_replaces_an_existing_file(inputs, tmp_path):
    chart = tmp_path / "trend.svg"
    chart.write_text("old", encoding="utf-8")
    done = run(
        "trend", *inputs.args(), "--from", "2024-01", "--to", "2024-03", "--chart", chart, "-q"
    )
    assert done.exit_code == 0, done.stderr
    assert ET.fromstring(chart.read_bytes()).tag.endswith("svg")
    assert [p.name for p in tmp_path.iterdir()] == ["trend.svg"]


def test_table_has_one_sparkline_row_per_practice_and_indicator(inputs):
    done = run("trend", *inputs.args(), "--from", "2024-01", "--to", "2024-06", "-q")
    assert done.exit_code == 0, done.stderr
    assert "Achievement 2024-01 to 2024-06 (6 month ends)" in done.stdout
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("Practice"))
    at = header.index("Trend")  # the sparkline column: one character per month end
    rows = [line for line in lines if line[:6] in inputs.practices]
    assert sorted(tuple(r.split()[:2]) for r in rows) == sorted(
        (p, i) for p in inputs.practices for i in ("CAN004", "CAN005", "CS005", "CS006")
    )
    for row in rows:
        spark = row[at : at + 6]
        # a block per month end; a blank where a month had no denominator
        assert set(spark) <= set(SPARK) | {" "} and spark.strip(), row
        assert row[at + 6] == " ", row


def test_input_is_read_once_for_six_month_ends(inputs, monkeypatch):
    reads: list[Path] = []
    original = ccrqof.readers.extract.read_table

    def spy(path, *args, **kwargs):
        reads.append(Path(path))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(ccrqof.readers.extract, "read_table", spy)
    prepared = []
    engine = type(ccrqof.get_engine())  # the default engine, which trend runs
    original_prepare = engine.prepare
    monkeypatch.setattr(
        engine, "prepare", lambda *a, **k: prepared.append(1) or original_prepare(*a, **k)
    )
    points = trend_json(inputs, "--from", "2024-01", "--to", "2024-06")
    assert len({p["period"] for p in points}) == 6
    assert sorted(reads) == sorted([inputs.events, inputs.patients])
    assert len(prepared) == 1
