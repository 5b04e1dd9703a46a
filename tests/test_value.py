"""The £ estimate (docs/reference-rules.md#the-pound-estimate) on hand-worked examples: points ×
£ per point × CPI × APDF, every figure shown with its source, nothing invented where a figure is
unknown."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from entry import run_main

import ccrqof
from ccrqof.errors import InputError, UsageError
from ccrqof.value import (
    VALUE_COLUMNS,
    estimate,
    parse_national,
    read_list_sizes,
    registered_list_sizes,
    with_values,
)


def _summary(rows) -> pd.DataFrame:
    """Practice-level summary rows: (practice, indicator, register, points, status)."""
    return pd.DataFrame(
        [
            {"practice_code": p, "indicator": i, "register": r, "points": pts, "status": s}
            for p, i, r, pts, s in rows
        ]
    )


def test_cervical_screening_is_points_times_pound_times_cpi():
    """2024-25: £220.62 a point, national average list 9,964. A list of 4,982 is CPI 0.5;
    CS has no register, so APDF 1: 7 points are 7 × 220.62 × 0.5 = £772.17."""
    ruleset = ccrqof.load_ruleset(year="2024-25")
    summary = _summary([("A1", "CS005", 0, 7.0, "at or above upper")])
    values, document = estimate(summary, ruleset, pd.Series({"A1": 4982}))
    row = values.iloc[0]
    assert row["cpi"] == pytest.approx(0.5)
    assert row["apdf"] == 1.0
    assert row["value_gbp"] == pytest.approx(772.17)
    assert row["value_missing"] is None
    national = document["national"][0]
    assert national["average_list_size"]["value"] == 9964
    assert "1 January 2024" in national["average_list_size"]["source"]


def test_cancer_is_weighted_by_prevalence_against_the_national_figure():
    """The cancer group's APDF is the CAN001 register over the list, over the national
    prevalence, for CAN001, CAN004 and CAN005 alike. List 10,000 against a national average
    given as 10,000 (CPI 1), register 200 (2%), national prevalence 4% given: APDF 0.5, so
    CAN004's 6 points are 6 × 220.62 × 0.5 = £661.86 and CAN001's 5 points £551.55."""
    ruleset = ccrqof.load_ruleset(year="2024-25")
    summary = _summary(
        [
            ("A1", "CAN001", 200, 5.0, "register"),
            ("A1", "CAN004", 200, 6.0, "at or above upper"),
        ]
    )
    given = parse_national(("prevalence.can001=0.04", "average_list_size=10000"))
    values, document = estimate(summary, ruleset, pd.Series({"A1": 10000}), given)
    assert list(values["cpi"]) == [1.0, 1.0]
    assert list(values["apdf"]) == [pytest.approx(0.5), pytest.approx(0.5)]
    assert list(values["value_gbp"]) == [pytest.approx(551.55), pytest.approx(661.86)]
    source = document["national"][0]["prevalence"]["CAN001"]
    assert source == {"value": 0.04, "source": "given with --national"}
    assert any("income protected" in note for note in document["notes"])  # 2024-25 cancer


def test_an_unknown_figure_leaves_the_value_blank_and_says_which():
    """The 2025-26 national average list size is not known: points but no £, and the row
    and the notes say which figure is missing; given with --national, the value appears."""
    ruleset = ccrqof.load_ruleset(year="2025-26")
    summary = _summary([("A1", "CS006", 0, 4.0, "at or above upper")])
    values, document = estimate(summary, ruleset, pd.Series({"A1": 5000}))
    assert values.iloc[0]["value_gbp"] is None
    assert values.iloc[0]["value_missing"] == "national average list size 2025-26"
    assert any("national average list size 2025-26" in n for n in document["notes"])
    given = parse_national(("average_list_size=10000",))
    values, _ = estimate(summary, ruleset, pd.Series({"A1": 5000}), given)
    assert values.iloc[0]["value_gbp"] == pytest.approx(4 * 225.49 * 0.5)


def test_no_list_size_and_no_points_give_no_value():
    ruleset = ccrqof.load_ruleset(reference_date=dt.date(2025, 6, 30))
    summary = _summary(
        [("A1", "CAN004", 10, None, "no points this year"), ("B2", "CS005", 0, 7.0, "between")]
    )
    values, _ = estimate(summary, ruleset, pd.Series({"A1": 5000}))
    assert values.iloc[0]["value_missing"] == "no points (local monitoring)"
    assert values.iloc[1]["value_missing"] == "practice list size"
    assert values["value_gbp"].isna().all()


def test_list_size_counts_patients_registered_at_r():
    """Started on or before R and not ended on or before R (docs/reference-rules.md#who-is-counted);
    a patient with two rows at one practice is one patient."""
    r = dt.date(2025, 3, 31)
    patients = pd.DataFrame(
        {
            "patient_id": ["a", "b", "c", "d", "e", "e"],
            "practice_code": ["P1", "P1", "P1", "P1", "P2", "P2"],
            "registration_date": pd.to_datetime(
                ["2025-03-31", "2025-04-01", "2000-01-01", "2000-01-01", "2000-01-01", "2010-01-01"]
            ),
            "deregistration_date": pd.to_datetime(
                [None, None, "2025-03-31", "2025-04-01", None, None]
            ),
        }
    )
    sizes = registered_list_sizes(patients, r)
    assert sizes.to_dict() == {"P1": 2, "P2": 1}  # a (starts on R) and d (ends after R)


def test_list_sizes_file_errors_name_the_line(tmp_path):
    path = tmp_path / "sizes.csv"
    path.write_text('practice_code,list_size\nA81001,"5,012"\nB82002,none\n')
    with pytest.raises(InputError, match=r"line 3, column 'list_size'.*whole number"):
        read_list_sizes(path)
    path.write_text("Practice_Code,List_Size\na81001,5012\n")
    assert read_list_sizes(path).to_dict() == {"A81001": 5012}
    path.write_text("practice_code,list_size\nA81001,1\nA81001,2\n")
    with pytest.raises(InputError, match="line 3.*twice"):
        read_list_sizes(path)
    path.write_text("practice,size\nA81001,1\n")
    with pytest.raises(InputError, match="no 'practice_code' column"):
        read_list_sizes(path)


@pytest.mark.parametrize(
    "given, message",
    [
        ("average_list_size", "expected NAME=VALUE"),
        ("list=3", "expected NAME=VALUE"),
        ("average_list_size=lots", "not a number"),
        ("pound_per_point=-1", "positive"),
        ("prevalence.CAN001=3.4", "fraction"),
    ],
)
def test_national_figures_are_checked(given, message):
    with pytest.raises(UsageError, match=message):
        parse_national((given,))


def test_roll_up_sums_its_practices_values():
    ruleset = ccrqof.load_ruleset(year="2024-25")
    practices = _summary([("A1", "CS005", 0, 7.0, "between"), ("B2", "CS005", 0, 3.5, "between")])
    org = pd.DataFrame({"practice_code": ["A1", "B2"], "pcn_code": ["U1", "U1"]})
    rolled = pd.DataFrame({"pcn_code": ["U1"], "indicator": ["CS005"], "points": [None]})
    sizes = pd.Series({"A1": 9964, "B2": 9964})
    out, document = with_values(rolled, practices, ruleset, sizes, "test", None, "pcn", org)
    assert out.iloc[0]["value_gbp"] == pytest.approx(10.5 * 220.62)
    assert document["totals"] == [
        {"pcn_code": "U1", "value_gbp": pytest.approx(10.5 * 220.62), "indicators_without_value": 0}
    ]


def test_calc_value_in_json_with_a_list_sizes_file(tmp_path):
    events = tmp_path / "events.csv"
    events.write_text("patient_id,practice_code,code,date\n1,A81001,254837009,2023-01-10\n")
    patients = tmp_path / "patients.csv"
    patients.write_text(
        "patient_id,practice_code,registration_date,sex,date_of_birth\n"
        "1,A81001,2000-01-01,F,1980-05-01\n"
        "2,A81001,2000-01-01,F,1990-05-01\n"
    )
    sizes = tmp_path / "sizes.csv"
    sizes.write_text("practice_code,list_size\nA81001,4982\n")
    code, out, err = run_main(
        "calc", events, "--patients", patients, "--year", "2024-25", "--format", "json",
        "--list-sizes", sizes,
    )  # fmt: skip
    assert code == 0, err
    document = json.loads(out)
    rows = {r["indicator"]: r for r in document["results"]}
    assert rows["CS005"]["list_size"] == 4982 and rows["CS005"]["cpi"] == pytest.approx(0.5)
    assert rows["CS005"]["value_gbp"] == pytest.approx(rows["CS005"]["points"] * 220.62 * 0.5)
    assert rows["CAN004"]["value_gbp"] is None  # no national cancer prevalence in the pack
    assert document["value"]["list_sizes"] == "--list-sizes sizes.csv"
    assert document["value"]["label"].startswith("estimate")
    code, out, err = run_main("calc", events, "--year", "2024-25", "--value")
    assert code == 0, err
    assert "Estimated value" in out and "practice list size" in out  # no patients file


def test_value_refuses_the_published_shape(tmp_path):
    events = tmp_path / "events.csv"
    events.write_text("patient_id,practice_code,code,date\n1,A81001,254837009,2023-01-10\n")
    code, _, err = run_main("calc", events, "--format", "published", "--value")
    assert code == 2 and "--value" in err


def test_a_group_with_an_unvalued_practice_has_no_value_and_says_why():
    """A sum that left a practice out would read as the whole PCN's: none, and the reason."""
    ruleset = ccrqof.load_ruleset(year="2024-25")
    practices = _summary([("A1", "CS005", 0, 7.0, "between"), ("B2", "CS005", 0, 3.5, "between")])
    org = pd.DataFrame({"practice_code": ["A1", "B2"], "pcn_code": ["U1", "U1"]})
    rolled = pd.DataFrame({"pcn_code": ["U1"], "indicator": ["CS005"], "points": [None]})
    out, document = with_values(
        rolled, practices, ruleset, pd.Series({"A1": 9964}), "test", None, "pcn", org
    )
    row = out.iloc[0]
    assert pd.isna(row["value_gbp"]) and pd.isna(row["list_size"])
    assert row["value_missing"] == "1 of 2 practices have points but no value (practice list size)"
    assert document["totals"] == [
        {"pcn_code": "U1", "value_gbp": None, "indicators_without_value": 1}
    ]
    assert list(out.columns[-len(VALUE_COLUMNS) :]) == list(VALUE_COLUMNS)


def test_value_json_is_strict_json_when_no_figure_is_known(tmp_path):
    """2025-26's national average list size is unknown: totals are null, never NaN."""
    events = tmp_path / "events.csv"
    events.write_text("patient_id,practice_code,code,date\n1,A81001,254837009,2023-01-10\n")
    patients = tmp_path / "patients.csv"
    patients.write_text(
        "patient_id,practice_code,registration_date,sex,date_of_birth\n"
        "1,A81001,2000-01-01,F,1980-05-01\n"
    )
    code, out, err = run_main(
        "calc", events, "--patients", patients, "--as-of", "2026-03-31", "--value",
        "--format", "json",
    )  # fmt: skip

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    assert code == 0, err
    document = json.loads(out, parse_constant=refuse)
    assert document["value"]["totals"] == [
        {"practice_code": "A81001", "value_gbp": None, "indicators_without_value": 2}
    ]


def test_list_sizes_file_edge_cases(tmp_path):
    path = tmp_path / "sizes.csv"
    path.write_text("")
    with pytest.raises(InputError, match="is empty"):
        read_list_sizes(path)
    path.write_text("practice_code,list_size\nA81001,\u00b2\n")  # a digit, but not 0-9
    with pytest.raises(InputError, match="line 2, column 'list_size'"):
        read_list_sizes(path)
    path.write_text("practice_code,list_size\nA81001,5012\n,\n,\n")  # a spreadsheet's tail
    assert read_list_sizes(path).to_dict() == {"A81001": 5012}


def test_a_prevalence_for_no_register_is_refused(tmp_path):
    events = tmp_path / "events.csv"
    events.write_text("patient_id,practice_code,code,date\n1,A81001,254837009,2023-01-10\n")
    code, _, err = run_main(
        "calc", events, "--year", "2024-25", "--value", "--national", "prevalence.CAN01=0.03"
    )
    assert code == 2 and "CAN01 is not a register of these rules" in err
