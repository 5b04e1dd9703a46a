"""One generic runner for the golden worklist cases in ``worklist_cases.yaml``.

The cases are data: drawn event tables (the rule packs' ``*.cases.yaml`` format, built into an
in-memory extract by ``ccrqof.testing``) and the expected worklist as drawn tables.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import ccrqof
from ccrqof.codelists import illustrative_codelist
from ccrqof.loading import choose_indicators
from ccrqof.testing import Case, _extract, parse_drawn_table
from ccrqof.worklist import Worklist, build_worklist, needed_from_list

HERE = Path(__file__).parent
DOCUMENT = yaml.safe_load((HERE / "worklist_cases.yaml").read_text(encoding="utf-8"))
CASES = DOCUMENT["cases"]
DEFAULT_R = dt.date(2024, 3, 31)
CASE_KEYS = {
    "name",
    "reason",
    "reference_date",
    "registrations",
    "events",
    "within",
    "indicators",
    "expect",
}
EXPECT_KEYS = {"to_contact", "will_fail", "not_listed", "targets"}
RENAMED = {"patient": "patient_id", "practice": "practice_code"}


# --- building inputs (shared with test_explain_cases.py) ---------------------------------------


def extract_for(case: dict):
    """The case's drawn tables as an Extract; ``registrations: none`` means no registration
    data at all (everyone registered, REG_DAT unknown)."""
    no_registrations = case.get("registrations") == "none"
    model = Case(
        name=case["name"],
        reason=case["reason"],
        reference_date=case.get("reference_date"),
        registrations=None if no_registrations else case.get("registrations"),
        events=case["events"],
        expect={},
    )
    extract = _extract(model)
    return dataclasses.replace(extract, patients=None) if no_registrations else extract


def ruleset_for(case: dict):
    return ccrqof.load_ruleset(reference_date=case.get("reference_date") or DEFAULT_R)


def worklist_for(case: dict) -> Worklist:
    extract = extract_for(case)
    ruleset = ruleset_for(case)
    run, _ = choose_indicators([ruleset], extract)  # as the command: the inputs present
    evaluation = ccrqof.evaluate(extract, ruleset.only(run), illustrative_codelist())
    return build_worklist(
        evaluation, ccrqof.score(evaluation), case.get("indicators"), case.get("within")
    )


# --- comparing --------------------------------------------------------------------------------


def cell(value) -> str:
    """A worklist value as the text a drawn table holds: dates ISO, whole numbers without
    '.0', nothing (None, NaN, NaT, '') as ''."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp | dt.date | np.datetime64):
        return pd.Timestamp(value).date().isoformat()
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def expected_rows(text: str | None) -> list[dict]:
    if not text:
        return []
    table = parse_drawn_table(text).rename(columns=RENAMED)
    return table.to_dict("records")


def actual_rows(frame: pd.DataFrame, columns) -> list[dict]:
    return [{c: cell(row[c]) for c in columns} for row in frame.to_dict("records")]


def check_list(name: str, frame: pd.DataFrame, text: str | None, ordered: bool) -> list[str]:
    want = expected_rows(text)
    columns = list(want[0]) if want else ["patient_id", "indicator"]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        return [f"{name}: no column(s) {missing}"]
    got = actual_rows(frame, columns)
    if not ordered:
        got, want = sorted(got, key=str), sorted(want, key=str)
    if got == want:
        return []
    expected = "\n    ".join(map(str, want))
    actual = "\n    ".join(map(str, got))
    return [f"{name}: expected\n    {expected}\n  got\n    {actual}"]


def check_case(case: dict, worklist: Worklist) -> list[str]:
    expect = case["expect"]
    problems = check_list("to_contact", worklist.to_contact, expect.get("to_contact"), True)
    problems += check_list("will_fail", worklist.will_fail, expect.get("will_fail"), False)
    listed = set(worklist.to_contact["patient_id"]) | set(worklist.will_fail["patient_id"])
    for patient in expect.get("not_listed", []):
        if patient in listed:
            problems.append(f"{patient} is listed but should not be")
    if "targets" in expect:
        problems += check_list("targets", worklist.targets, expect["targets"], False)
    return problems


# --- the tests --------------------------------------------------------------------------------


def test_case_file_is_well_formed():
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    for case in CASES:
        assert set(case) <= CASE_KEYS, (case["name"], set(case) - CASE_KEYS)
        assert {"name", "reason", "events", "expect"} <= set(case), case["name"]
        assert "\n" not in case["reason"].strip(), f"{case['name']}: reason is one line"
        assert set(case["expect"]) <= EXPECT_KEYS, (case["name"], set(case["expect"]))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_worklist_case(case):
    problems = check_case(case, worklist_for(case))
    assert not problems, f"{case['name']} ({case['reason']})\n" + "\n".join(problems)


def test_cases_cover_every_kind_of_entry():
    """Meta-test: the golden cases between them list every kind of entry."""
    seen = set()
    for case in CASES:
        for row in expected_rows(case["expect"].get("to_contact")):
            seen.add(("to_contact", row.get("indicator"), row.get("rule"), row.get("outcome")))
            if row.get("days_left") == "0":
                seen.add(("due today", row.get("indicator")))
            if row.get("pca_codes"):
                seen.add(("pca codes",))
            if row.get("invitations", "0") not in ("", "0"):
                seen.add(("invited",))
        for row in expected_rows(case["expect"].get("will_fail")):
            seen.add(("will_fail", row.get("indicator")))
        if "within" in case:
            seen.add(("within",))
        if "targets" in case["expect"]:
            seen.add(("targets",))
    for kind in [
        ("to_contact", "CAN004", "R5", "exclusion"),
        ("to_contact", "CAN005", "R4", "exclusion"),
        ("to_contact", "CAN004", "R11", "denominator"),
        ("to_contact", "CAN005", "R10", "denominator"),
        ("to_contact", "CAN005", "R5", "pca"),
        ("to_contact", "CAN004", "R7", "pca"),
        ("due today", "CAN004"),
        ("due today", "CAN005"),
        ("pca codes",),
        ("invited",),
        ("will_fail", "CAN004"),
        ("will_fail", "CAN005"),
        ("within",),
        ("targets",),
    ]:
        assert kind in seen, f"no golden case for {kind}"


# --- needed_from_list against a brute-force search -------------------------------------------

NEEDED = parse_drawn_table(DOCUMENT["needed_from_list"]).to_dict("records")


def brute_force(
    threshold: float, numerator: int, denominator: int, inside: int, outside: int
) -> int | None:
    """Smallest k such that achieving SOME k of the listed patients reaches the threshold.

    Listed patients are labelled 'in' (in the denominator: achieving adds to the numerator)
    or 'out' (excluded or PCA: achieving adds to both). Patients with the same label are
    interchangeable, so each subset of size k is one split k = a + b, all of which are tried.
    With no denominator, achievement is undefined and no threshold is reached.
    """
    target = Fraction(str(threshold))
    for k in range(inside + outside + 1):
        for a in range(max(0, k - outside), min(k, inside) + 1):
            b = k - a
            if denominator + b and Fraction(numerator + a + b, denominator + b) >= target:
                return k
    return None


def test_brute_force_agrees_with_literal_subsets():
    """The split enumeration equals trying every subset (itertools) on a small list."""
    for inside, outside in [(0, 0), (1, 2), (2, 3), (3, 1)]:
        labels = ["in"] * inside + ["out"] * outside
        for threshold, numerator, denominator in [(0.5, 1, 3), (0.9, 1, 4), (0.7, 0, 0)]:
            if inside > denominator - numerator:
                continue
            found = None
            for k in range(len(labels) + 1):
                for subset in itertools.combinations(labels, k):
                    b = subset.count("out")
                    a = k - b
                    if denominator + b and Fraction(numerator + a + b, denominator + b) >= (
                        Fraction(str(threshold))
                    ):
                        found = k
                        break
                if found is not None:
                    break
            assert found == brute_force(threshold, numerator, denominator, inside, outside)


@pytest.mark.parametrize(
    "row",
    NEEDED,
    ids=[
        f"{r['threshold']}:{r['numerator']}/{r['denominator']}"
        f"+in{r['in_denominator']}+out{r['outside']}"
        for r in NEEDED
    ],
)
def test_needed_from_list(row):
    args = (
        float(row["threshold"]),
        int(row["numerator"]),
        int(row["denominator"]),
        int(row["in_denominator"]),
        int(row["outside"]),
    )
    want = int(row["needed"]) if row["needed"] else None
    assert brute_force(*args) == want, f"the hand-worked table is wrong: {row}"
    got = needed_from_list(*args)
    assert got == want, f"needed_from_list{args} = {got}, expected {want} ({row['by hand']})"
    if got is not None:
        assert isinstance(got, int) and not isinstance(got, bool)
