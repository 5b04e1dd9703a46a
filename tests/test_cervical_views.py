"""Cervical screening beside the cancer indicators, end to end: which indicators run by default
(those whose inputs are present), --indicators, headers per indicator, and the screening
worklist. Worked by hand from docs/reference-rules.md#cs005-and-cs006 at R = 31 October 2024
(QOF 2024-25, PPED 31 March 2025; CS005 window 42 months)."""

from __future__ import annotations

import json

import pytest
from entry import run_main

R = ("--as-of", "2024-10-31")

# Events carry their cluster, so the test needs no code list.
EVENTS = """patient_id,practice_code,code,date,cluster
w_lapse,A81001,171149006,2021-06-15,SMEAR_COD
w_edge,A81001,171149006,2021-09-30,SMEAR_COD
w_clamp,A81001,171149006,2021-08-31,SMEAR_COD
w_after,A81001,171149006,2021-10-01,SMEAR_COD
c1,A81001,254837009,2024-06-01,CAN_COD
"""
# w_lapse: test 2021-06-15 leaves the window on 2024-12-15 (+42 months), before the year end:
#   listed, due 2024-12-14 (the last day it counts), 44 days left
# w_edge: test 2021-09-30 leaves it on 2025-03-30 (clamped from 31 March): listed
# w_clamp: test 2021-08-31: 42 months on is 28 February 2025 (clamped), when R - 42 months is
#   28 August 2021 and the test still counts; it leaves the window on 1 March 2025
# w_after: test 2021-10-01 leaves it on 2025-04-01, after the year end: not listed
# w_none: aged 30, no test: in the denominator, due by the year end 2025-03-31 (151 days)
# w_young: aged 24 at R: excluded (R1), not listed; m1: not female: not in the population
PATIENTS = """patient_id,practice_code,registration_date,sex,date_of_birth
w_lapse,A81001,2000-01-01,F,1990-01-01
w_edge,A81001,2000-01-01,female,1990-01-01
w_clamp,A81001,2000-01-01,f,1990-01-01
w_after,A81001,2000-01-01,2,1990-01-01
w_none,A81001,2000-01-01,F,1994-06-01
w_young,A81001,2000-01-01,F,2000-06-01
m1,A81001,2000-01-01,M,1990-01-01
c1,A81001,2000-01-01,M,1950-01-01
"""


@pytest.fixture
def files(tmp_path):
    events, patients = tmp_path / "events.csv", tmp_path / "patients.csv"
    events.write_text(EVENTS)
    patients.write_text(PATIENTS)
    bare = tmp_path / "registrations.csv"  # the same patients, no sex or date of birth
    bare.write_text("\n".join(",".join(line.split(",")[:3]) for line in PATIENTS.splitlines()))
    return events, patients, bare


def calc_json(*args) -> tuple[dict, str]:
    code, out, err = run_main("calc", *args, "--format", "json")
    assert code == 0, err
    return json.loads(out), err


def test_without_sex_and_date_of_birth_cervical_screening_is_left_out_in_one_line(files):
    events, _, bare = files
    document, err = calc_json(events, "--patients", bare, *R)
    assert {r["indicator"] for r in document["results"]} == {"CAN001", "CAN004", "CAN005"}
    said = " ".join(err.split())
    assert said.count("not computed") == 1
    assert (
        "CS005, CS006 not computed: they need each patient's sex and date of birth, and the "
        "patients file has no sex or date_of_birth column" in said
    )
    assert "no sex recorded" not in said  # not a count of patients: the column is absent


def test_with_them_both_run_side_by_side(files):
    events, patients, _ = files
    document, err = calc_json(events, "--patients", patients, *R)
    assert "not computed" not in err
    rows = {r["indicator"]: r for r in document["results"]}
    assert set(rows) == {"CAN001", "CAN004", "CAN005", "CS005", "CS006"}
    # w_lapse, w_edge, w_clamp and w_after screened in the window; w_none not: 4 of 5
    assert (rows["CS005"]["numerator"], rows["CS005"]["denominator"]) == (4, 5)
    assert rows["CS005"]["breakdown"]["P_AGE25_49"] == 1  # w_young
    assert rows["CS005"]["register"] is None  # no register: not applicable
    assert set(rows["CS005"]) == set(rows["CAN004"])  # the same fields as CAN004


def test_chosen_indicators_and_the_registers_they_need(files):
    events, patients, bare = files
    document, _ = calc_json(events, "--patients", patients, *R, "--indicators", "cs005")
    assert {r["indicator"] for r in document["results"]} == {"CS005"}
    document, _ = calc_json(events, "--patients", patients, *R, "--indicator", "CAN004")
    assert {r["indicator"] for r in document["results"]} == {"CAN001", "CAN004"}
    code, _, err = run_main("calc", events, "--patients", bare, *R, "--indicators", "CS006")
    assert code == 2
    assert "CS006 needs each patient's sex and date of birth" in " ".join(err.split())
    code, _, err = run_main("calc", events, "--patients", patients, *R, "--indicators", "XX001")
    assert code == 2 and "XX001" in err and "CS005" in err


def test_headers_say_each_indicators_rules_and_status(files):
    events, patients, _ = files
    document, _ = calc_json(events, "--patients", patients, "--as-of", "2026-03-31")
    assert document["ruleset"] == "2025-26"
    assert document["indicators"]["CS005"] == {
        "ruleset": "2025-26",
        "status": "paid",
        "note": document["indicators"]["CS005"]["note"],
    }
    assert document["indicators"]["CAN004"]["ruleset"] == "2024-25"
    assert document["indicators"]["CAN004"]["status"] == "local_monitoring"
    assert [o["year"] for o in document["rule_pack"]["others"]] == ["2024-25"]
    code, out, err = run_main("calc", events, "--patients", patients, "--as-of", "2026-03-31")
    assert code == 0, err
    lines = out.splitlines()
    assert "  CAN001, CAN004, CAN005: 2024-25 rules, local monitoring" in lines
    assert "  CS005, CS006: 2025-26 rules, paid" in lines
    # without sex and date of birth only the cancer indicators run: one line, as before
    document, _ = calc_json(events, "--as-of", "2026-03-31")
    assert document["ruleset"] == "2024-25" and document["status"] == "local_monitoring"


def test_screening_worklist_lists_the_unscreened_and_the_lapsing(files):
    events, patients, _ = files
    code, out, err = run_main(
        "worklist", events, "--patients", patients, *R, "--indicators", "CS005",
        "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    document = json.loads(out)
    listed = {r["patient_id"]: r for r in document["to_contact"]}
    assert set(listed) == {"w_lapse", "w_edge", "w_clamp", "w_none"}
    assert (listed["w_lapse"]["due_by"], listed["w_lapse"]["leaves_window"]) == (
        "2024-12-14",
        "2024-12-15",
    )
    assert listed["w_lapse"]["days_left"] == 44 and listed["w_lapse"]["outcome"] == "numerator"
    assert listed["w_edge"]["leaves_window"] == "2025-03-30"
    assert (listed["w_clamp"]["due_by"], listed["w_clamp"]["leaves_window"]) == (
        "2025-02-28",
        "2025-03-01",
    )
    assert listed["w_none"]["due_by"] == "2025-03-31" and listed["w_none"]["days_left"] == 151
    assert listed["w_none"]["leaves_window"] is None
    assert listed["w_none"]["SMEAR_DAT"] is None
    assert document["will_fail"] == []
    (target,) = document["targets"]
    assert target["listed"] == 1  # only w_none can add to the numerator
    code, out, _ = run_main(
        "worklist", events, "--patients", patients, *R, "--indicators", "CS005", "--within", "60"
    )
    assert code == 0
    assert "w_lapse" in out and "w_none" not in out  # due in 44 days; the other in 151
    assert "Leaves window" in out


def test_worklist_choices_are_the_listable_indicators(files):
    events, patients, _ = files
    code, _, err = run_main("worklist", events, "--patients", patients, *R, "--indicator", "CAN001")
    assert code == 2 and "CAN004, CAN005, CS005, CS006" in err


def test_sql_script_for_chosen_indicators():
    code, out, err = run_main("sql", "--dialect", "postgres", "--year", "2024-25", "--indicators",
                              "CAN004")  # fmt: skip
    assert code == 0, err
    assert "SMEAR_COD" not in out and "MDRV_COD" in out
    code, out, err = run_main("sql", "--dialect", "postgres", "--as-of", "2025-06-30")
    assert code == 0, err
    assert "-- CS005, CS006: 2025-26 rules, paid" in out.splitlines()


@pytest.mark.parametrize("months", [42, 66])
def test_a_test_leaves_the_window_the_first_day_it_no_longer_counts(months):
    """For every test date of two years (every month end among them): the day before the
    day it leaves, the test is in the window (R - W, R]; on that day it is not."""
    import numpy as np

    from ccrqof.dates import add_months
    from ccrqof.rules.model import Recall

    tests = np.arange(np.datetime64("2020-01-01"), np.datetime64("2022-01-01"))
    leaves = Recall(date="SMEAR_DAT", window=f"{months} months").leaves(tests)

    def counts_at(r):
        return add_months(r, -months) < tests

    assert counts_at(leaves - np.timedelta64(1, "D")).all()
    assert not counts_at(leaves).any()


def test_an_extract_built_without_the_readers_is_judged_by_what_it_holds():
    """choose_indicators on an Extract made by ccrqof.schemas (a library user's): sex and
    date of birth count as present when they hold a value."""
    import datetime as dt

    import ccrqof
    from ccrqof import schemas
    from ccrqof.loading import choose_indicators

    events = {"patient_id": ["a"], "cluster": ["SMEAR_COD"], "date": [dt.date(2024, 1, 10)]}
    ruleset = ccrqof.load_ruleset(year="2024-25")
    bare = {"patient_id": ["a"], "registration_date": [dt.date(2000, 1, 1)]}
    with_details = {**bare, "sex": ["F"], "date_of_birth": [dt.date(1990, 1, 1)]}
    run, said = choose_indicators(
        [ruleset], schemas.extract(events, with_details, has_practice=False)
    )
    assert "CS005" in run and said == ""
    run, said = choose_indicators([ruleset], schemas.extract(events, bare, has_practice=False))
    assert "CS005" not in run and said.startswith("CS005, CS006 not computed")
