"""Month arithmetic, offsets and QOF-year helpers (docs/reference-rules.md#time and #qof-years)."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pytest

from ccrqof.dates import (
    NaT,
    Offset,
    add_days,
    add_months,
    parse_offset,
    parse_qof_year,
    pped,
    ppsd,
    qof_year_containing,
    qof_year_name,
)
from ccrqof.errors import UsageError
from ccrqof.rules.loader import load_ruleset
from ccrqof.rules.model import YearStatus


def day(text: str) -> np.datetime64:
    return np.datetime64(text, "D")


# --- add_months: calendar arithmetic clamped to the end of the month -------------------------

MONTH_CASES = [
    pytest.param("2024-05-31", 3, "2024-08-31", id="31-May+3m=31-Aug"),
    pytest.param("2023-11-30", 3, "2024-02-29", id="30-Nov-2023+3m=29-Feb-2024-leap"),
    pytest.param("2022-11-30", 3, "2023-02-28", id="30-Nov-2022+3m=28-Feb-2023"),
    pytest.param("2024-02-29", -12, "2023-02-28", id="29-Feb-2024-12m=28-Feb-2023"),
    pytest.param("2024-03-31", -24, "2022-03-31", id="31-Mar-2024-24m=31-Mar-2022"),
    # docs/reference-rules.md#time: with R = 31 Mar 2024 the N-month windows start the
    # day after these
    pytest.param("2024-03-31", -3, "2023-12-31", id="R-3m"),
    pytest.param("2024-03-31", -12, "2023-03-31", id="R-12m"),
    pytest.param("2024-03-31", -15, "2022-12-31", id="R-15m"),
    pytest.param("2023-12-31", 3, "2024-03-31", id="31-Dec+3m=31-Mar"),
    pytest.param("2024-01-31", 1, "2024-02-29", id="31-Jan+1m=29-Feb-leap"),
    pytest.param("2023-01-31", 1, "2023-02-28", id="31-Jan+1m=28-Feb"),
    pytest.param("2024-03-31", -1, "2024-02-29", id="31-Mar-1m=29-Feb"),
    pytest.param("2023-06-01", 12, "2024-06-01", id="1-Jun+12m"),
    pytest.param("2024-02-29", 48, "2028-02-29", id="29-Feb+48m-stays-29"),
    pytest.param("2024-03-15", 0, "2024-03-15", id="zero-months"),
]


@pytest.mark.parametrize(("start", "months", "expected"), MONTH_CASES)
def test_add_months(start, months, expected):
    assert add_months(day(start), months) == day(expected)


@pytest.mark.parametrize(("start", "months", "expected"), MONTH_CASES)
def test_add_months_accepts_python_dates(start, months, expected):
    assert add_months(dt.date.fromisoformat(start), months) == day(expected)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        pytest.param("2024-03-31", -3, "2024-01-01", id="3m-window-from-1-Jan-2024"),
        pytest.param("2024-03-31", -12, "2023-04-01", id="12m-window-from-1-Apr-2023"),
        pytest.param("2024-03-31", -15, "2023-01-01", id="15m-window-from-1-Jan-2023"),
        pytest.param("2024-03-31", -24, "2022-04-01", id="24m-window-from-1-Apr-2022"),
    ],
)
def test_window_first_day_is_day_after_offset(start, months, expected):
    # docs/reference-rules.md#time: "(R - N months, R]" so the first day inside is
    # R - N months + 1 day
    assert add_days(add_months(day(start), months), 1) == day(expected)


def test_add_months_nat_scalar_propagates_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NaT is an ordinary value here, not an overflow
        result = add_months(NaT, 3)
    assert np.isnat(result)


def test_add_months_nat_in_array_propagates():
    days = np.array(["2023-11-30", "NaT", "2024-02-29"], dtype="datetime64[D]")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = add_months(days, 3)
    assert result[0] == day("2024-02-29")
    assert np.isnat(result[1])
    assert result[2] == day("2024-05-29")


def test_add_months_is_vectorised():
    starts = [row.values[0] for row in MONTH_CASES]
    for months in (-24, -15, -12, -3, 3, 12):
        got = add_months(np.array(starts, dtype="datetime64[D]"), months)
        assert got.dtype == np.dtype("datetime64[D]")
        assert got.shape == (len(starts),)
        assert list(got) == [add_months(day(s), months) for s in starts]


def test_add_months_all_nat_array():
    result = add_months(np.array(["NaT", "NaT"], dtype="datetime64[D]"), -12)
    assert np.isnat(result).all()


def test_add_days():
    assert add_days(day("2024-02-28"), 1) == day("2024-02-29")
    assert add_days(day("2024-03-31"), -93) == day("2023-12-29")
    assert np.isnat(add_days(NaT, 5))


# --- offsets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("- 12 months", Offset(-12, "months"), id="minus-12-months"),
        pytest.param("+ 12 months", Offset(12, "months"), id="plus-12-months"),
        pytest.param("-93 days", Offset(-93, "days"), id="no-space-days"),
        pytest.param("+ 1 month", Offset(1, "months"), id="singular-month"),
        pytest.param("- 1 day", Offset(-1, "days"), id="singular-day"),
        pytest.param("  + 3 months  ", Offset(3, "months"), id="padded"),
        pytest.param("+ 0 days", Offset(0, "days"), id="zero"),
    ],
)
def test_parse_offset_accepts(text, expected):
    assert parse_offset(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("12 months", id="no-sign"),
        pytest.param("+ 12 weeks", id="weeks"),
        pytest.param("+ 1 year", id="years"),
        pytest.param("", id="empty"),
        pytest.param("+ -3 months", id="double-sign"),
        pytest.param("- 1.5 months", id="fraction"),
        pytest.param("- twelve months", id="words"),
        pytest.param("R - 12 months", id="with-anchor"),
    ],
)
def test_parse_offset_rejects(text):
    with pytest.raises(ValueError, match="expected an offset"):
        parse_offset(text)


@pytest.mark.parametrize(
    ("text", "start", "expected"),
    [
        pytest.param("- 12 months", "2024-02-29", "2023-02-28", id="months-clamped"),
        pytest.param("+ 3 months", "2023-11-30", "2024-02-29", id="months-leap"),
        pytest.param("+ 93 days", "2023-11-30", "2024-03-02", id="days"),
    ],
)
def test_offset_apply(text, start, expected):
    assert parse_offset(text).apply(day(start)) == day(expected)


def test_offset_str_round_trips():
    for text in ("- 12 months", "+ 93 days", "+ 1 month", "- 1 day"):
        assert str(parse_offset(text)) == text
        assert parse_offset(str(parse_offset(text))) == parse_offset(text)


# --- QOF years -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        pytest.param(dt.date(2024, 3, 31), 2023, id="31-Mar-2024-is-2023-24"),
        pytest.param(dt.date(2024, 4, 1), 2024, id="1-Apr-2024-is-2024-25"),
        pytest.param(dt.date(2023, 4, 1), 2023, id="1-Apr-2023-is-2023-24"),
        pytest.param(dt.date(2023, 3, 31), 2022, id="31-Mar-2023-is-2022-23"),
        pytest.param(dt.date(2024, 1, 1), 2023, id="1-Jan-2024-is-2023-24"),
        pytest.param(dt.date(2023, 12, 31), 2023, id="31-Dec-2023-is-2023-24"),
    ],
)
def test_qof_year_containing(when, expected):
    assert qof_year_containing(when) == expected


@pytest.mark.parametrize(
    ("start", "name", "start_date", "end_date"),
    [
        pytest.param(2021, "2021-22", dt.date(2021, 4, 1), dt.date(2022, 3, 31), id="2021-22"),
        pytest.param(2023, "2023-24", dt.date(2023, 4, 1), dt.date(2024, 3, 31), id="2023-24"),
        pytest.param(2024, "2024-25", dt.date(2024, 4, 1), dt.date(2025, 3, 31), id="2024-25"),
        pytest.param(1999, "1999-00", dt.date(1999, 4, 1), dt.date(2000, 3, 31), id="century"),
    ],
)
def test_ppsd_pped_and_names(start, name, start_date, end_date):
    assert ppsd(start) == start_date
    assert pped(start) == end_date
    assert qof_year_name(start) == name
    assert parse_qof_year(name) == start
    assert qof_year_containing(ppsd(start)) == start
    assert qof_year_containing(pped(start)) == start


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("2023-25", id="not-consecutive"),
        pytest.param("2023-23", id="same-year"),
        pytest.param("2023-2024", id="four-digit-end"),
        pytest.param("23-24", id="two-digit-start"),
        pytest.param("2023/24", id="slash"),
        pytest.param("2023", id="single-year"),
        pytest.param("", id="empty"),
    ],
)
def test_parse_qof_year_rejects(name):
    with pytest.raises(ValueError, match="2023-24"):
        parse_qof_year(name)


# --- choosing the rule set (docs/reference-rules.md#qof-years) -------------------------------


@pytest.mark.parametrize(
    ("year", "reference"),
    [
        pytest.param("2021-22", dt.date(2022, 3, 31), id="2021-22"),
        pytest.param("2022-23", dt.date(2023, 3, 31), id="2022-23"),
        pytest.param("2023-24", dt.date(2024, 3, 31), id="2023-24"),
        pytest.param("2024-25", dt.date(2025, 3, 31), id="2024-25"),
    ],
)
def test_load_ruleset_year_uses_pped(year, reference):
    ruleset = load_ruleset(year=year)
    assert ruleset.year.year == year
    assert ruleset.reference_date == reference
    assert ruleset.pays_points
    assert set(ruleset.packs) == {"CAN001", "CAN004", "CAN005", "CS005", "CS006"}


@pytest.mark.parametrize(
    ("reference", "year", "status", "pays"),
    [
        pytest.param(dt.date(2023, 4, 1), "2023-24", YearStatus.paid, True, id="2023-04-01"),
        pytest.param(dt.date(2023, 10, 31), "2023-24", YearStatus.paid, True, id="2023-10-31"),
        pytest.param(dt.date(2024, 3, 31), "2023-24", YearStatus.paid, True, id="2024-03-31"),
        pytest.param(
            dt.date(2024, 4, 1), "2024-25", YearStatus.income_protected, True, id="2024-04-01"
        ),
        pytest.param(
            dt.date(2025, 3, 31), "2024-25", YearStatus.income_protected, True, id="2025-03-31"
        ),
        pytest.param(
            dt.date(2025, 4, 1), "2024-25", YearStatus.local_monitoring, False, id="2025-04-01"
        ),
        pytest.param(
            dt.date(2027, 1, 15), "2024-25", YearStatus.local_monitoring, False, id="2027-01-15"
        ),
        pytest.param(dt.date(2021, 4, 1), "2021-22", YearStatus.paid, True, id="2021-04-01"),
    ],
)
def test_load_ruleset_for_a_date(reference, year, status, pays):
    """The cancer indicators' rules and status at R; cervical screening, beside them, is
    paid at every date under the rules of the year containing R."""
    ruleset = load_ruleset(reference_date=reference)
    assert ruleset.rule_years()["CAN004"] == year
    assert ruleset.reference_date == reference  # in-year runs keep R, not the PPED
    assert ruleset.status_of("CAN004") == status
    assert ruleset.pays_points_for("CAN004") is pays
    assert ruleset.pays_points_for("CS005")
    assert ruleset.rule_years()["CS005"] == ruleset.year.year


def test_local_monitoring_has_a_note():
    ruleset = load_ruleset(reference_date=dt.date(2025, 4, 1))
    assert ruleset.note
    assert "monitoring" in ruleset.note.lower()


@pytest.mark.parametrize(
    "reference",
    [
        pytest.param(dt.date(2021, 3, 31), id="2021-03-31"),
        pytest.param(dt.date(2019, 6, 1), id="2019-06-01"),
    ],
)
def test_load_ruleset_before_first_year_is_usage_error(reference):
    with pytest.raises(UsageError, match="2021-04-01"):
        load_ruleset(reference_date=reference)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"year": "2023-25"}, id="bad-year-name"),
        pytest.param({"year": "2020-21"}, id="year-before-packs"),
        pytest.param({}, id="neither"),
        pytest.param({"year": "2023-24", "reference_date": dt.date(2024, 3, 31)}, id="both"),
    ],
)
def test_load_ruleset_usage_errors(kwargs):
    with pytest.raises(UsageError):
        load_ruleset(**kwargs)
