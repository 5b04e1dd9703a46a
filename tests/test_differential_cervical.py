"""Differential test of CS005/CS006: ccrqof's engines against the oracle written from
docs/reference-rules.md.

Extracts of registered patients drawn around every boundary of
``docs/reference-rules.md#cs005-and-cs006`` (and #time, #who-is-counted): women and men, every
spelling of female (F, female, 2 in any case) and of not female (M, male, 1, 9, 0, X, fem...),
blank sex and missing dates of birth, birthdays on and beside the 25th, 50th and 65th (29 February
ones too, at reference dates around 28 February), screening, PCA and pregnancy codes on and beside
R − 42/66/12 months and R, no-cervix codes before and after R, registrations beginning on and
beside R − 3 months, deregistrations on and beside R, women who are only in the patients file,
patients only in the events, and extracts without a patients file. Entries come as a cluster
column or as codes of a small test code list (a folder of ``<cluster>.csv`` files, as
``--codelists`` reads), some scenarios mixing both.

Reference dates cover 2021-22 to 2026-27, where from 2025-26 CS is paid with that year's pack and
the cancer indicators run as 2024-25 local monitoring. Every engine of ``tests/engines.py`` must
give the oracle's patient outcomes (rule, outcome, field, REG_DAT), per-practice scores, rules'
years, paid status and counts of registered patients without a sex or a date of birth.

Two tests: small hypothesis-drawn scenarios (shrinkable), and a seeded batch of large practices
at several reference dates, whose achievement spreads across the 45–80% thresholds so that the
points are exercised on real populations. The same generator (``person``) draws both.
"""

from __future__ import annotations

import ast
import calendar
import datetime as dt
import random
import tempfile
from functools import lru_cache
from pathlib import Path

import oracle
import pandas as pd
import pytest
from engines import ENGINE_NAMES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import Event, Registration, add_months
from test_differential import (
    OLD_REGISTRATION,
    PRACTICES,
    Scenario,
    events_frame,
    month_end,
    oracle_for,
    ruleset_for,
    run_mismatches,
)

import ccrqof
from ccrqof import schemas

ONE = dt.timedelta(days=1)
CS_CLUSTERS = ("SMEAR_COD", "NOCX_COD", "CSPCAINVITE_COD", "CSDEC_COD", "CSPU_COD", "PREG_COD")
# the test's own code list (membership is this test's choice, not the PCD refset's)
TEST_CODES = {
    "SMEAR_COD": ("171149006", "243877001"),
    "NOCX_COD": ("116140006",),
    "CSPCAINVITE_COD": ("1109911000000100",),
    "CSDEC_COD": ("413127007",),
    "CSPU_COD": ("185903001",),
    "PREG_COD": ("77386006",),
}
FEMALE = ("F", "F", "F", "f", "female", "Female", "FEMALE", "2", "2")
NOT_FEMALE = ("M", "m", "male", "Male", "1", "9", "0", "X", "U", "I", "indeterminate", "fem")
BLANK = (None, "")
# around 28 February (29 February birthdays), the year ends and a mid-year date
SPECIAL_REFERENCES = (
    dt.date(2022, 2, 28),
    dt.date(2022, 3, 1),
    dt.date(2023, 2, 28),
    dt.date(2023, 3, 1),
    dt.date(2024, 2, 28),
    dt.date(2024, 2, 29),
    dt.date(2024, 3, 1),
    dt.date(2025, 2, 28),
    dt.date(2025, 4, 1),
    dt.date(2026, 2, 28),
    dt.date(2026, 3, 1),
    dt.date(2027, 2, 28),
    dt.date(2021, 4, 1),
)
YEAR_ENDS = tuple(dt.date(y, 3, 31) for y in range(2022, 2028))
AGE_EDGES = (25, 50, 65)  # CS005: 25..49, CS006: 50..64
CS_FIRST_MONTH = dt.date(2021, 4, 1)


# --- one generator for hypothesis and for a seeded batch ----------------------------------------


class Drawn:
    """Choices from hypothesis' ``draw`` (shrinkable)."""

    def __init__(self, draw) -> None:
        self.draw = draw

    def choice(self, options):
        return self.draw(st.sampled_from(tuple(options)))

    def integer(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))


class Seeded:
    """The same choices from a seeded ``random.Random`` (large batches, no shrinking)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def choice(self, options):
        return self.rng.choice(tuple(options))

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)


def reference_date(pick) -> dt.date:
    kind = pick.choice(("any", "special", "year_end", "month_end"))
    if kind == "special":
        return pick.choice(SPECIAL_REFERENCES)
    if kind == "year_end":
        return pick.choice(YEAR_ENDS)
    if kind == "month_end":
        return month_end(add_months(CS_FIRST_MONTH, pick.integer(0, 71)))
    return CS_FIRST_MONTH + dt.timedelta(days=pick.integer(0, 2190))  # .. 2027-03-31


def birth_date(pick, r: dt.date) -> dt.date | None:
    kind = pick.choice(("edge", "band", "edge", "leap", "band", "edge", "none"))
    if kind == "none":
        return None
    if kind == "edge":  # the day of the 25th/50th/65th birthday at R, and either side
        return add_months(r, -12 * pick.choice(AGE_EDGES)) + pick.choice((-1, 0, 0, 1)) * ONE
    if kind == "leap":  # born on 29 February near an age edge
        years = [
            y
            for y in range(r.year - 66, r.year - 23)
            if calendar.isleap(y) and (r.year - y) in (24, 25, 26, 49, 50, 51, 64, 65, 66)
        ]
        return dt.date(pick.choice(years), 2, 29)
    return r - dt.timedelta(days=pick.integer(18 * 365, 72 * 365))


def entry_date(pick, r: dt.date, cluster: str) -> dt.date:
    kind = pick.choice(("edge", "inside", "edge", "recent", "after", "old", "month_end"))
    edges = (12, 42, 0) if cluster == "PREG_COD" else (42, 66, 0)
    if kind == "edge":  # on a window's first day outside, its first day inside, or R, R + 1
        return add_months(r, -pick.choice(edges)) + pick.choice((-1, 0, 0, 1)) * ONE
    if kind == "inside":  # in the first half year of a window (where a shorter one ends)
        return add_months(r, -pick.choice(edges[:2])) + dt.timedelta(days=pick.integer(1, 200))
    if kind == "recent":
        return r - dt.timedelta(days=pick.integer(0, 2100))
    if kind == "after":  # ignored
        return r + dt.timedelta(days=pick.integer(1, 400))
    if kind == "old":
        return r - dt.timedelta(days=pick.integer(2000, 9000))
    return month_end(add_months(r, -pick.integer(0, 70)))


def registrations_of(pick, patient: str, practice: str, r: dt.date, sex, birth):
    kind = pick.choice(("old", "recent", "old", "deregistered", "old", "back", "future"))

    def reg(start, end=None):
        return Registration(patient, practice, start, end, sex, birth)

    if kind == "old":
        return [reg(OLD_REGISTRATION)]
    if kind == "recent":  # REG1_DAT3: REG_DAT in (R − 3 months, R]
        three = add_months(r, -3)
        start = pick.choice(
            (
                three - ONE,
                three,
                three + ONE,
                r,
                r - ONE,
                r - dt.timedelta(days=pick.integer(0, 400)),
            )
        )
        return [reg(start)]
    if kind == "future":  # registers after R: not in the population
        return [reg(r + ONE)]
    if kind == "deregistered":
        end = pick.choice((r, r - ONE, r + ONE, r + dt.timedelta(days=pick.integer(-400, 400))))
        return [reg(OLD_REGISTRATION, end)]
    left = r - dt.timedelta(days=pick.integer(0, 400))
    back = left + dt.timedelta(days=pick.choice((0, 1, 30, 91, 92)))
    return [reg(OLD_REGISTRATION, left), reg(back)]


def person(pick, patient: str, practice: str, r: dt.date, screening: int = 40):
    """One patient: (patients-file rows, entries, in the events table without an entry?).
    ``screening``: the percentage chance of a screening test somewhere in the last 70 months."""
    sex = pick.choice(pick.choice((FEMALE, FEMALE, FEMALE, NOT_FEMALE, BLANK)))
    birth = birth_date(pick, r)
    in_patients_file = pick.choice((True,) * 19 + (False,))
    registrations = (
        registrations_of(pick, patient, practice, r, sex, birth) if in_patients_file else []
    )
    entries = []
    if pick.integer(0, 99) < screening:
        entries.append(("SMEAR_COD", r - dt.timedelta(days=pick.integer(0, 2130))))
    if pick.choice((False, False, False, True)):  # a PCA code, or a pregnancy
        cluster = pick.choice(("CSPCAINVITE_COD", "CSDEC_COD", "CSPU_COD", "PREG_COD"))
        entries.append((cluster, entry_date(pick, r, cluster)))
    for _ in range(pick.choice((1, 2, 0, 3, 1, 0, 5))):
        cluster = pick.choice(CS_CLUSTERS[2:] + CS_CLUSTERS[:2] + ("SMEAR_COD", "PREG_COD"))
        entries.append((cluster, entry_date(pick, r, cluster)))
    events = [Event(patient, practice, cluster, day) for cluster, day in entries]
    # someone without entries is in the events table as a patient-only row, or only in the
    # patients file (whom CS must find all the same)
    listed = bool(events) or not registrations or pick.integer(0, 1) == 0
    return registrations, events, listed


def scenario_of(pick, max_patients: int) -> Scenario:
    """1–3 practices, up to ``max_patients`` patients; mostly a patients file, sometimes none."""
    r = reference_date(pick)
    year = pick.choice((None,) * 5 + oracle.YEARS)
    practices = PRACTICES[: pick.integer(1, len(PRACTICES))]
    screening = dict.fromkeys(practices, pick.choice((20, 50, 80)))
    return population(pick, r, year, practices, pick.integer(1, max_patients), screening)


def population(pick, r, year, practices, count, screening, with_registrations=None) -> Scenario:
    """``count`` patients at R, each at one of ``practices``, screened by each practice's
    ``screening`` percentage; with a patients file unless ``with_registrations`` is False (by
    default eleven times in twelve)."""
    if with_registrations is None:
        with_registrations = pick.choice((True,) * 11 + (False,))
    patients, events, registrations = [], [], []
    for i in range(count):
        practice = pick.choice(practices)
        patient = f"{i:04d}"
        chance = screening[practice]
        regs, evs, listed = person(pick, patient, practice, r, chance)
        if not with_registrations:
            listed = True
        if listed:
            patients.append((practice, patient))
        events += evs
        registrations += regs
    return Scenario(r, year, patients, events, registrations if with_registrations else None)


@st.composite
def cervical_scenarios(draw, max_patients: int = 20):
    """A scenario, and whether its entries come as codes (then some through the code list)."""
    pick = Drawn(draw)
    return scenario_of(pick, max_patients), pick.integer(0, 2) == 0


# --- running ccrqof --------------------------------------------------------------------------


@lru_cache
def cs_codelist() -> ccrqof.Codelist:
    """The test code list as a folder of ``<cluster>.csv`` files (the OpenCodelists shape)."""
    folder = Path(tempfile.mkdtemp(prefix="ccrqof-cs-codelist-"))
    for cluster, codes in TEST_CODES.items():
        (folder / f"{cluster}.csv").write_text("code,term\n" + "".join(f"{c},x\n" for c in codes))
    codelist = ccrqof.read_codelists(folder)
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    return codelist


def cs_events_frame(scenario: Scenario, coded: bool) -> pd.DataFrame:
    """The scenario's events table; with ``coded``, two entries in three carry a code of the
    test code list instead of a cluster (the third keeps its cluster column)."""
    if not scenario.events and not scenario.patients:  # everyone is only in the patients file
        return pd.DataFrame(
            {
                "patient_id": pd.Series([], dtype=object),
                "code": pd.Series([], dtype=object),
                "cluster": pd.Series([], dtype=object),
                "date": pd.Series([], dtype=object),
                "episode": pd.Series([], dtype=object),
                "practice_code": pd.Series([], dtype=object),
            }
        )
    frame = events_frame(scenario)
    if not coded:
        return frame
    codes, clusters = list(frame["code"]), list(frame["cluster"])
    for i, cluster in enumerate(clusters):
        if cluster in TEST_CODES and i % 3 != 2:
            options = TEST_CODES[cluster]
            codes[i], clusters[i] = options[i % len(options)], ""
    return frame.assign(code=codes, cluster=clusters)


def run(scenario: Scenario, coded: bool, engine: str):
    extract = schemas.extract(
        cs_events_frame(scenario, coded),
        _patients_frame(scenario),
        has_practice=True,
    )
    evaluation = ccrqof.evaluate(
        extract,
        ruleset_for(scenario.reference, scenario.year),
        cs_codelist() if coded else None,
        engine=engine,
    )
    return evaluation, ccrqof.score(evaluation)


def _patients_frame(scenario: Scenario):
    if scenario.registrations is None:
        return None
    regs = scenario.registrations
    return {
        "patient_id": [r.patient for r in regs],
        "practice_code": [r.practice for r in regs],
        "registration_date": [r.start for r in regs],
        "deregistration_date": [r.end for r in regs],
        "date_of_birth": pd.Series([r.date_of_birth for r in regs], dtype=object),
        "sex": [r.sex for r in regs],
    }


def describe(scenario: Scenario, coded: bool, problems: list[str], limit: int = 30) -> str:
    """The problems and the data of the patients they name."""
    lines = [f"R = {scenario.reference}, year = {scenario.year or 'by R'}, coded = {coded}"]
    named = set()
    for problem in problems[:limit]:
        lines.append(problem)
        if problem.startswith("("):  # (indicator, practice, patient): ...
            key = ast.literal_eval(problem[: problem.index(")") + 1])
            if len(key) == 3:
                named.add((key[1], key[2]))
    if len(problems) > limit:
        lines.append(f"... and {len(problems) - limit} more")
    small = len(scenario.events) + len(scenario.registrations or ()) <= 80
    for e in scenario.events:
        if small or (e.practice, e.patient) in named:
            lines.append(f"  {e}")
    if scenario.registrations is None:
        lines.append("  (no patients file)")
    for reg in scenario.registrations or ():
        if small or (reg.practice, reg.patient) in named:
            lines.append(f"  {reg}")
    return "\n".join(lines)


# --- the tests -------------------------------------------------------------------------------


@settings(
    max_examples=35,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@pytest.mark.parametrize("engine", ENGINE_NAMES)
@given(cervical_scenarios())
def test_cervical_engine_matches_oracle(engine, drawn):
    scenario, coded = drawn
    evaluation, summary = run(scenario, coded, engine)
    problems = run_mismatches(evaluation, summary, oracle_for(scenario))
    assert not problems, describe(scenario, coded, problems)


BATCH_REFERENCES = (
    dt.date(2021, 4, 30),
    dt.date(2021, 9, 30),
    dt.date(2022, 2, 28),
    dt.date(2022, 3, 31),
    dt.date(2022, 8, 31),
    dt.date(2023, 3, 1),
    dt.date(2023, 12, 31),
    dt.date(2024, 2, 29),
    dt.date(2024, 3, 31),
    dt.date(2024, 11, 30),
    dt.date(2025, 2, 28),
    dt.date(2025, 3, 31),
    dt.date(2025, 4, 30),
    dt.date(2025, 10, 31),
    dt.date(2026, 2, 28),
    dt.date(2026, 3, 31),
    dt.date(2026, 11, 30),
    dt.date(2027, 2, 28),
    dt.date(2027, 3, 31),
)
BATCH_PRACTICES = tuple(f"P{n:05d}" for n in range(12))


@lru_cache
def batch(reference: dt.date) -> tuple[Scenario, bool, oracle.Result]:
    """720 patients in 12 practices whose screening rates run from 20% to 86%, with a patients
    file; entries coded through the test code list at every other date."""
    pick = Seeded(reference.toordinal())
    screening = {p: 20 + 6 * i for i, p in enumerate(BATCH_PRACTICES)}
    scenario = population(pick, reference, None, BATCH_PRACTICES, 720, screening, True)
    return scenario, reference.day % 2 == 0, oracle_for(scenario)


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_cervical_batches_match_oracle(engine):
    """Large practices at reference dates across 2021-22 to 2026-27."""
    in_between = 0
    for reference in BATCH_REFERENCES:
        scenario, coded, expected = batch(reference)
        evaluation, summary = run(scenario, coded, engine)
        problems = run_mismatches(evaluation, summary, expected)
        assert not problems, describe(scenario, coded, problems)
        for (_, indicator), score in expected.practices.items():
            if indicator in oracle.CS_INDICATORS and score.points not in (None, 0, 7, 4):
                in_between += 1
    # the batches exercise the points between the thresholds, not only 0 and the maximum
    assert in_between >= 10


def test_oracle_cervical_examples():
    """The oracle's reading of docs/reference-rules.md#who-is-counted and #cs005-and-cs006 on
    hand-made cases, so that a disagreement is not the oracle's arithmetic."""
    age = oracle.age_at
    assert age(dt.date(2000, 2, 29), dt.date(2025, 2, 28)) == 25  # clamped: 28 Feb 2025
    assert age(dt.date(2000, 2, 29), dt.date(2025, 2, 27)) == 24
    assert age(dt.date(2000, 2, 29), dt.date(2024, 2, 28)) == 23
    assert age(dt.date(2000, 2, 29), dt.date(2024, 2, 29)) == 24
    assert age(dt.date(1975, 3, 31), dt.date(2025, 3, 31)) == 50
    assert age(dt.date(1975, 4, 1), dt.date(2025, 3, 31)) == 49
    assert [oracle.is_female(s) for s in ("F", "female", "FEMALE", "2", " f ")] == [True] * 5
    assert not any(oracle.is_female(s) for s in ("M", "1", "9", "0", "X", "fem", "", None))
    r = dt.date(2024, 3, 31)
    woman = [Registration("1", "A", OLD_REGISTRATION, None, "F", dt.date(1990, 6, 1))]

    def outcome(indicator, entries, regs=woman, reference=r):
        events = [Event("1", "A", c, d) for c, d in entries]
        result = oracle.evaluate(events, regs, reference)
        found = result.patients.get((indicator, "A", "1"))
        return found and (found.outcome, found.rule, found.field)

    window_start = add_months(r, -42)  # 30 September 2020: outside, the next day inside
    assert outcome("CS005", [("SMEAR_COD", window_start)]) == ("denominator", "R9", None)
    assert outcome("CS005", [("SMEAR_COD", window_start + ONE)]) == ("numerator", "R3", None)
    assert outcome("CS005", [("SMEAR_COD", r + ONE)]) == ("denominator", "R9", None)
    assert outcome("CS005", [("SMEAR_COD", r), ("NOCX_COD", r)]) == ("exclusion", "R2", "NOCX")
    assert outcome("CS005", [("NOCX_COD", r + ONE)]) == ("denominator", "R9", None)
    assert outcome("CS005", [("SMEAR_COD", r), ("CSDEC_COD", r)]) == ("numerator", "R3", None)
    assert outcome("CS005", [("PREG_COD", add_months(r, -12))]) == ("denominator", "R9", None)
    assert outcome("CS005", [("PREG_COD", add_months(r, -12) + ONE)]) == ("pca", "R7", "PREG_DAT")
    assert outcome("CS006", [("PREG_COD", r)]) == ("exclusion", "R1", "P_AGE50_64")
    older = [Registration("1", "A", r - ONE, None, "2", dt.date(1970, 1, 1))]
    assert outcome("CS006", [("PREG_COD", r)], older) == ("pca", "R7", "REG1_DAT3")
    assert outcome("CS006", [("CSPU_COD", add_months(r, -66) + ONE)], older) == (
        "pca",
        "R6",
        "CSPU",
    )
    assert outcome("CS005", [], older) == ("exclusion", "R1", "P_AGE25_49")
    man = [Registration("1", "A", OLD_REGISTRATION, None, "M", dt.date(1990, 6, 1))]
    assert outcome("CS005", [("SMEAR_COD", r)], man) is None
    late = oracle.evaluate([], woman, dt.date(2027, 4, 1))
    assert "CS005" not in late.rule_years and not late.left_out
    blank = [Registration("1", "A", OLD_REGISTRATION, None, "", None)]
    assert oracle.evaluate([], blank, r).left_out == {oracle.NO_SEX: 1, oracle.NO_BIRTH_DATE: 1}
