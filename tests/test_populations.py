"""Populations over the patients table (issue 12, item 2): a cascade may run over everyone
registered at R, optionally of one sex and an age band at R, so a registered patient with no
coded entry at all can be in a denominator (as cervical screening needs)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from engines import ENGINE_NAMES
from pydantic import ValidationError

import ccrqof
from ccrqof import schemas
from ccrqof.engine.python.handlers import NO_BIRTH_DATE, NO_SEX
from ccrqof.readers import Extract
from ccrqof.rules import load_ruleset
from ccrqof.rules.describe import pack_lines
from ccrqof.rules.loader import RuleSet
from ccrqof.rules.model import IndicatorPack, Registered, RegisterOf

R = dt.date(2025, 2, 28)
PACK = {
    "indicator": "TST001",
    "year": "2024-25",
    "title": "Screened women aged 25 to 49",
    "description": "A test pack over the registered population.",
    "population": {"sex": "female", "age": {"from": 25, "to": 49}},
    "max_points": 7,
    "thresholds": {"lower": 0.45, "upper": 0.80},
    "dates": {},
    "rules": [
        {
            "rule": "R1",
            "kind": "select_numerator",
            "when": {"events": "SMEAR_COD", "in_last": "42 months"},
            "says": "Screened in the window",
        },
        {"rule": "R2", "kind": "select_denominator", "when": "always", "says": "Everyone left"},
    ],
}
# patient: (sex, date of birth, a screening entry?)
PEOPLE = {
    "no_entry": ("F", "1990-06-01", False),
    "screened": ("female", "1990-06-01", True),
    "man": ("M", "1990-06-01", True),
    "too_young": ("F", "2000-03-01", False),  # 24 at R
    "birthday_at_R": ("2", "2000-02-28", False),  # 25 on R itself
    "leap_day": ("f", "2000-02-29", False),  # 25 on 28 Feb 2025 (clamped)
    "too_old": ("F", "1975-02-27", False),  # 50 the day before R
    "sex_blank": ("", "1990-06-01", False),
    "no_birth_date": ("F", None, False),
}


def _day(text: str | None) -> dt.date | None:
    return None if text is None else dt.date.fromisoformat(text)


def _extract() -> Extract:
    ids = list(PEOPLE)
    patients = {
        "patient_id": ids,
        "practice_code": ["P1"] * len(ids),
        "registration_date": [dt.date(2000, 1, 1)] * len(ids),
        "sex": [PEOPLE[p][0] for p in ids],
        "date_of_birth": [_day(PEOPLE[p][1]) for p in ids],
    }
    screened = [p for p in ids if PEOPLE[p][2]]
    events = {
        "patient_id": screened,
        "cluster": ["SMEAR_COD"] * len(screened),
        "date": [dt.date(2024, 1, 10)] * len(screened),
        "practice_code": ["P1"] * len(screened),
    }
    return schemas.extract(events, patients, has_practice=True)


def _ruleset(pack: dict = PACK) -> RuleSet:
    bundled = load_ruleset(reference_date=R)
    packs = {**bundled.packs, "TST001": IndicatorPack.model_validate(pack)}
    return RuleSet(bundled.year, R, bundled.status, packs)


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_a_population_of_the_patients_table_takes_patients_with_no_entries(engine):
    ruleset = _ruleset()
    assert ruleset.needs_every_patient()  # so the engine keys patients with no entry
    evaluation = ccrqof.evaluate(_extract(), ruleset, None, engine=engine)
    rows = evaluation.outcomes[evaluation.outcomes["indicator"] == "TST001"]
    got = dict(zip(rows["patient_id"], rows["outcome"], strict=True))
    assert got == {
        "no_entry": "denominator",
        "screened": "numerator",
        "birthday_at_R": "denominator",
        "leap_day": "denominator",
    }
    assert evaluation.ignored[NO_SEX] == 1
    assert evaluation.ignored[NO_BIRTH_DATE] == 1
    summary = ccrqof.score(evaluation)
    scored = summary[summary["indicator"] == "TST001"].iloc[0]
    assert (scored["numerator"], scored["denominator"]) == (1, 4)


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_without_the_population_pack_nothing_else_changes(engine):
    """Adding a pack over the registered population keys every patient; the cancer
    indicators' outcome rows stay exactly as without it."""
    with_pack = ccrqof.evaluate(_extract(), _ruleset(), None, engine=engine).outcomes
    bundled = load_ruleset(reference_date=R)
    without = ccrqof.evaluate(_extract(), bundled, None, engine=engine).outcomes
    cancer = with_pack[with_pack["indicator"] != "TST001"].reset_index(drop=True)
    pd.testing.assert_frame_equal(cancer, without.reset_index(drop=True))


def test_population_forms_in_a_pack():
    assert IndicatorPack.model_validate(PACK).population == Registered(
        sex="female", age={"from": 25, "to": 49}
    )
    assert _ruleset().packs["CAN004"].population == RegisterOf(indicator="CAN001")
    assert _ruleset().packs["CAN001"].population == Registered()
    lines = pack_lines(IndicatorPack.model_validate(PACK))
    assert "Population: the registered population, female, aged 25 to 49 at R" in lines


@pytest.mark.parametrize(
    ("population", "message"),
    [
        ({"sex": "woman"}, "sex"),
        ({"age": {"from": 50, "to": 25}}, "age from must not be above age to"),
        ({"age": {"from": 25}}, "to"),
        ("can001", "pattern"),
    ],
)
def test_a_bad_population_is_refused_naming_it(population, message):
    with pytest.raises(ValidationError, match=message):
        IndicatorPack.model_validate({**PACK, "population": population})


def test_a_register_cannot_have_a_register_as_population():
    register = load_ruleset(year="2024-25").packs["CAN001"].model_dump(by_alias=True)
    with pytest.raises(ValidationError, match="population is 'registered'"):
        IndicatorPack.model_validate({**register, "population": "CAN001"})


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_registrations_that_disagree_on_sex_or_birth_date_use_the_largest(engine):
    """A patient registered twice at a practice with different details: every engine takes
    the largest value (sex compared in lower case; the later date of birth)."""
    patients = {
        "patient_id": ["a", "a", "b", "b"],
        "practice_code": ["P1"] * 4,
        "registration_date": [dt.date(2000, 1, 1), dt.date(2010, 1, 1)] * 2,
        "deregistration_date": [dt.date(2009, 12, 31), None] * 2,
        "sex": ["M", "female", "F", "f"],  # a: 'm' beats 'female'; b: female either way
        "date_of_birth": [dt.date(1990, 6, 1), dt.date(1960, 6, 1)] * 2,  # 1990: aged 34
    }
    events = {"patient_id": ["a"], "cluster": ["SMEAR_COD"], "date": [dt.date(2024, 1, 10)]}
    extract = schemas.extract({**events, "practice_code": ["P1"]}, patients, has_practice=True)
    outcomes = ccrqof.evaluate(extract, _ruleset(), None, engine=engine).outcomes
    rows = outcomes[outcomes["indicator"] == "TST001"]
    assert dict(zip(rows["patient_id"], rows["outcome"], strict=True)) == {"b": "denominator"}
