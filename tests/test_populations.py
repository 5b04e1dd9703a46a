"""Populations over the patients table (issue 12, item 2): a cascade may run over everyone
registered at R, optionally of one sex and an age band at R, so a registered patient with no
coded entry at all can be in a denominator (as cervical screening needs)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

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


def _extract(cancer: bool = False) -> Extract:
    """PEOPLE's patients file and screening entries; `cancer`: two of them (a man and a
    woman outside the band) also diagnosed with cancer on 1 June 2024."""
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
    if cancer:
        for name, values in (
            ("patient_id", ["man", "too_old"]),
            ("cluster", ["CAN_COD", "CAN_COD"]),
            ("date", [dt.date(2024, 6, 1)] * 2),
            ("practice_code", ["P1", "P1"]),
        ):
            events[name] = events[name] + values
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
    extract = _extract(cancer=True)
    with_pack = ccrqof.evaluate(extract, _ruleset(), None, engine=engine).outcomes
    bundled = load_ruleset(reference_date=R).only(["CAN001", "CAN004", "CAN005"])
    assert not bundled.needs_every_patient()  # the cancer packs alone key entries only
    without = ccrqof.evaluate(extract, bundled, None, engine=engine).outcomes
    columns = list(without.columns)
    cancer = with_pack[with_pack["indicator"].str.startswith("CAN")][columns]
    assert len(cancer) == 6  # two patients, three indicators
    keys = ["indicator", "patient_id"]  # rows in any order; outputs sort them

    def ordered(frame):
        return frame.sort_values(keys, ignore_index=True)

    pd.testing.assert_frame_equal(ordered(cancer), ordered(without))


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


# --- age as a rule (CS005/CS006 R1): the population needs a date of birth ---------------------
# (docs/reference-rules.md#cs005-and-cs006)

AGED = {
    **PACK,
    "population": {"sex": "female", "date_of_birth": "recorded"},
    "rules": [
        {
            "rule": "R1",
            "kind": "reject_exclusion",
            "field": "P_AGE25_49",
            "when": {"age_outside": {"from": 25, "to": 49}},
            "says": "Aged under 25 or over 49 at the reference date",
        },
        {**PACK["rules"][0], "rule": "R2"},
        {**PACK["rules"][1], "rule": "R3"},
    ],
}
# R is 28 February 2025
AGED_PEOPLE = {
    "aged_24": ("F", "2000-03-01", False),  # 25 tomorrow
    "aged_25_at_R": ("F", "2000-02-28", False),  # 25 on R itself
    "leap_day": ("F", "2000-02-29", False),  # 25 on 28 Feb 2025 (clamped): in
    "aged_49": ("F", "1975-03-01", True),  # 50 tomorrow: screened, numerator
    "aged_50_at_R": ("F", "1975-02-28", True),  # 50 on R: excluded before the numerator
    "no_birth_date": ("F", None, True),  # not in the population, counted
    "man": ("M", "1990-06-01", False),
}


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_an_age_rule_decides_at_its_boundaries_and_a_missing_birth_date_stays_out(
    engine, monkeypatch
):
    monkeypatch.setattr(sys.modules[__name__], "PEOPLE", AGED_PEOPLE)
    ruleset = _ruleset(AGED)
    evaluation = ccrqof.evaluate(_extract(), ruleset, None, engine=engine)
    rows = evaluation.outcomes[evaluation.outcomes["indicator"] == "TST001"]
    got = {
        p: (o, r) for p, o, r in zip(rows["patient_id"], rows["outcome"], rows["rule"], strict=True)
    }
    assert got == {
        "aged_24": ("exclusion", "R1"),
        "aged_25_at_R": ("denominator", "R3"),
        "leap_day": ("denominator", "R3"),
        "aged_49": ("numerator", "R2"),
        "aged_50_at_R": ("exclusion", "R1"),
    }
    assert evaluation.ignored[NO_BIRTH_DATE] == 1
    explained = ccrqof.explain(_extract(), ruleset, None, "aged_24", engine=engine)
    (tst,) = [i for i in explained[0].indicators if i.indicator == "TST001"]
    step = tst.steps[0]
    assert step.why == "aged 24 at 28 Feb 2025 (born 1 Mar 2000): under 25 or over 49"


def test_an_age_rule_needs_a_population_with_a_birth_date():
    with pytest.raises(ValidationError, match="must need a date of birth"):
        IndicatorPack.model_validate({**AGED, "population": {"sex": "female"}})
    IndicatorPack.model_validate({**AGED, "population": {"age": {"from": 20, "to": 70}}})
    lines = pack_lines(IndicatorPack.model_validate(AGED))
    assert "Population: the registered population, female, with a date of birth recorded" in lines
    assert any("R1 exclusion P_AGE25_49: aged under 25 or over 49 at R" in line for line in lines)


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_age_rules_and_populations_in_a_series_are_each_month_ends(engine, monkeypatch):
    """Month ends around the boundary birthdays, worked out together, as each alone."""
    monkeypatch.setattr(sys.modules[__name__], "PEOPLE", {**PEOPLE, **AGED_PEOPLE})
    days = [dt.date(2025, 1, 31), dt.date(2025, 2, 28), dt.date(2025, 3, 31)]
    tested = [IndicatorPack.model_validate(AGED), IndicatorPack.model_validate(PACK)]
    rulesets = []
    for day in days:
        bundled = load_ruleset(reference_date=day)
        packs = {
            **bundled.packs,
            "TST001": tested[0],
            "TST002": tested[1].model_copy(update={"indicator": "TST002"}),
        }
        rulesets.append(RuleSet(bundled.year, day, bundled.status, packs))
    chosen = ccrqof.get_engine(engine)
    handle = chosen.prepare(_extract(), None, rulesets)
    series = chosen.evaluate_series(handle, rulesets)
    keys = ["practice_code", "indicator", "outcome", "field"]
    seen = set()
    for ruleset, together in zip(rulesets, series, strict=True):
        alone = chosen.evaluate(handle, ruleset)
        want = alone.tallies.sort_values(keys, ignore_index=True)
        pd.testing.assert_frame_equal(together.tallies.sort_values(keys, ignore_index=True), want)
        assert dict(together.ignored) == dict(alone.ignored)
        seen.add(tuple(want.itertuples(index=False)))
    assert len(seen) == 3  # the birthdays change the counts from month to month


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_a_rule_case_draws_sex_and_birth_date_and_women_with_no_entry(engine):
    """A case's registrations table may carry sex and date_of_birth (blank: not recorded), and
    a patient with no events row is still in a population of the registered."""
    from ccrqof.testing import Case, run_case

    case = Case.model_validate(
        {
            "name": "ages_and_no_entries",
            "reason": "the age rule at its boundaries, a woman never screened, a blank sex",
            "reference_date": R,
            "registrations": """
                patient | registration_date | sex    | date_of_birth
                young   | 2000-01-01        | F      | 2000-03-01
                never   | 2000-01-01        | female | 1990-06-01
                done    | 2000-01-01        | 2      | 1990-06-01
                blank   | 2000-01-01        |        | 1990-06-01
                undated | 2000-01-01        | F      |
            """,
            "events": """
                patient | code      | date
                done    | @SMEAR_COD | 2024-01-10
            """,
            "expect": {
                "young": {"rule": "R1", "outcome": "exclusion", "field": "P_AGE25_49"},
                "never": {"rule": "R3", "outcome": "denominator"},
                "done": {"rule": "R2", "outcome": "numerator"},
                "blank": "not on register",
                "undated": "not on register",
            },
        }
    )
    pack = IndicatorPack.model_validate(AGED)
    result = run_case(case, pack, _ruleset(AGED), Path("TST001.cases.yaml"), engine=engine)
    assert result.passed, result.mismatches
