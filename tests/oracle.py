"""A slow, deliberately simple reference implementation of docs/reference-rules.md for
differential tests.

This module is used ONLY by the test suite (``tests/test_differential.py``,
``tests/test_differential_cervical.py``) as an oracle: it walks one patient at a time through the
CAN001/CAN004/CAN005 and CS005/CS006 cascades written out as plain ``if`` statements, straight
from ``docs/reference-rules.md``. It is slow on purpose and must stay independent of ccrqof: it
does not import the engine, ``ccrqof.dates`` or the YAML rule packs, and it does its own month
arithmetic with ``datetime``/``calendar``. Where it and ccrqof disagree, one of them misreads the
contract.

Input: a list of :class:`Event` (patient, practice, cluster, date, episode) and either ``None``
(no registration data) or a list of :class:`Registration` (which may carry the patient's sex and
date of birth, as the patients file does). Output (:class:`Result`): per patient and indicator an
:class:`Outcome` (outcome, rule, field, due_by and the patient dates), per practice and indicator
a :class:`PracticeScore` (counts, breakdown by field, achievement, points), each indicator's rules'
year and whether it pays points, and the registered patients left out of CS005/CS006 for want of
a sex or a date of birth.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from fractions import Fraction

# --- years: docs/reference-rules.md#qof-years -------------------------------------------------

YEARS = ("2021-22", "2022-23", "2023-24", "2024-25")
LAST_PAID_DAY = dt.date(2025, 3, 31)  # points are computed up to and including this date
REGISTER_FROM = dt.date(2003, 4, 1)  # CAN001: CAN_DAT on or after 1 April 2003
CAN004_R4_BEFORE = dt.date(2021, 1, 1)  # CAN004 R4 (2021-22 and 2022-23 only)

# CS005/CS006: docs/reference-rules.md#qof-years, the same in every year from 2021-22 to 2026-27
MAX_POINTS = {"CAN001": 5, "CAN004": 6, "CAN005": 2, "CS005": 7, "CS006": 4}
THRESHOLDS = {
    "CAN004": (Fraction(1, 2), Fraction(9, 10)),
    "CAN005": (Fraction(7, 10), Fraction(9, 10)),
    "CS005": (Fraction(45, 100), Fraction(80, 100)),
    "CS006": (Fraction(45, 100), Fraction(80, 100)),
}

NOT_NEW_EPISODES = {"review", "ended", "changed", "evolved", "flare-up"}

# --- screening: docs/reference-rules.md#cs005-and-cs006, #qof-years ---------------------------

CAN_INDICATORS = ("CAN001", "CAN004", "CAN005")
CS_INDICATORS = ("CS005", "CS006")
CS_FIRST_DAY, CS_LAST_DAY = dt.date(2021, 4, 1), dt.date(2027, 3, 31)
FEMALE = {"f", "female", "2"}  # docs/reference-rules.md#who-is-counted, case-insensitive
CS_WINDOW_MONTHS = {"CS005": 42, "CS006": 66}  # W: (R − W months, R]
CS_AGES = {"CS005": (25, 49, "P_AGE25_49"), "CS006": (50, 64, "P_AGE50_64")}
# what the counts of registered patients left out of CS005/CS006 are called in ccrqof's
# Evaluation.ignored (docs/reference-rules.md#who-is-counted asks only that they are counted and
# reported)
NO_SEX = "registered patients with no sex recorded"
NO_BIRTH_DATE = "registered patients with no date of birth recorded"

NUMERATOR, DENOMINATOR, PCA, EXCLUSION = "numerator", "denominator", "pca", "exclusion"


def year_of(reference: dt.date) -> str:
    """The QOF year whose rules apply at R; after 2024-25, the 2024-25 rules
    (docs/reference-rules.md#time, #qof-years)."""
    start = reference.year if reference.month >= 4 else reference.year - 1
    if start < 2021:
        raise ValueError(f"no QOF cancer rules before 2021-22 (R = {reference})")
    start = min(start, 2024)
    return f"{start}-{(start + 1) % 100:02d}"


def cs_year_of(reference: dt.date) -> str | None:
    """docs/reference-rules.md#qof-years: CS005/CS006 run with the pack of the QOF year containing
    R, for every year from 2021-22 to 2026-27; for R outside those years there are no CS rules."""
    if not CS_FIRST_DAY <= reference <= CS_LAST_DAY:
        return None
    start = reference.year if reference.month >= 4 else reference.year - 1
    return f"{start}-{(start + 1) % 100:02d}"


def pays_points(reference: dt.date) -> bool:
    """Points for every reference date up to 31 March 2025; none afterwards
    (docs/reference-rules.md#qof-years)."""
    return reference <= LAST_PAID_DAY


def early_year(year: str) -> bool:
    """2021-22 and 2022-23: CAN004 has R4, CAN005 R1 is reported as CAN_DAT15M."""
    return year in ("2021-22", "2022-23")


def fields_of(indicator: str, year: str) -> list[str]:
    """The reported fields of every reject rule, in cascade order
    (docs/reference-rules.md#cascades)."""
    if indicator == "CAN004":
        return [
            "CAN_DAT24M",
            "MDRV_DAT",
            *(["CAN_DAT1J"] if early_year(year) else []),
            "DIAGCRV12M",
            "CANPCAPU",
            "CANPCADEC",
            "CANINVITE",
            "DIAG1_DAT",
            "REG1_DAT3",
        ]
    if indicator == "CAN005":
        return [
            "CAN_DAT15M" if early_year(year) else "CANDAT15M",
            "CANSUP12M",
            "DIAGCSUP3M",
            "CANPCAPU",
            "CANPCADEC",
            "CANINVITE",
            "DIAG1_DAT",
            "REG1_DAT3",
        ]
    if indicator == "CS005":
        return ["P_AGE25_49", "NOCX", "CSPCAINV", "CSDEC", "CSPU", "PREG_DAT", "REG1_DAT3"]
    if indicator == "CS006":
        return ["P_AGE50_64", "NOCX", "CSPCAINV", "CSDEC", "CSPU", "REG1_DAT3"]
    return []


# --- time: docs/reference-rules.md#time -------------------------------------------------------


def add_months(day: dt.date, months: int) -> dt.date:
    """Calendar month arithmetic clamped to the end of the month (docs/reference-rules.md#time)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return dt.date(year, month0 + 1, min(day.day, last))


def in_last_months(day: dt.date, reference: dt.date, months: int) -> bool:
    """'In the N months up to and including R': R − N months < day ≤ R."""
    return add_months(reference, -months) < day <= reference


def more_than_months_before(day: dt.date, reference: dt.date, months: int) -> bool:
    """'More than N months before R': day ≤ R − N months."""
    return day <= add_months(reference, -months)


# --- inputs and outputs -----------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    patient: str
    practice: str | None
    cluster: str
    date: dt.date
    episode: str = ""


@dataclass(frozen=True)
class Registration:
    patient: str
    practice: str | None
    start: dt.date
    end: dt.date | None = None  # deregistration date; None = still registered
    sex: str | None = None  # as written in the patients file; None or "" = not recorded
    date_of_birth: dt.date | None = None  # None = not recorded


@dataclass(frozen=True)
class Outcome:
    outcome: str  # numerator / denominator / pca / exclusion
    rule: str
    field: str | None
    due_by: dt.date | None
    CAN_DAT: dt.date | None
    MDRV_DAT: dt.date | None = None
    SUPP_DAT: dt.date | None = None
    REG_DAT: dt.date | None = None


@dataclass
class PracticeScore:
    register: int | None = 0  # None: the indicator has no register
    denominator: int = 0
    numerator: int = 0
    pcas: int = 0
    exclusions: int = 0
    breakdown: dict[str, int] = field(default_factory=dict)
    achievement: Fraction | None = None
    points: Fraction | None = None
    max_points: int = 0
    lower_threshold: Fraction | None = None
    upper_threshold: Fraction | None = None
    gross_rate: Fraction | None = None
    pca_rate: Fraction | None = None
    needed_for_lower: int | None = None
    needed_for_upper: int | None = None


@dataclass
class Result:
    year: str  # the CAN indicators' rules' year
    pays_points: bool  # whether the CAN indicators pay points
    # (indicator, practice, patient) -> Outcome, for every register (or CS population) patient
    patients: dict[tuple[str, str | None, str], Outcome]
    # (practice, indicator) -> PracticeScore, for every practice given
    practices: dict[tuple[str | None, str], PracticeScore]
    # indicator -> its rules' QOF year, and whether it pays points at R
    rule_years: dict[str, str] = field(default_factory=dict)
    paid: dict[str, bool] = field(default_factory=dict)
    # NO_SEX / NO_BIRTH_DATE -> registered patients left out of CS005/CS006 (only when CS runs)
    left_out: dict[str, int] = field(default_factory=dict)


# --- one patient's dates: docs/reference-rules.md#who-is-counted, #patient-dates --------------


def _registered(regs: list[Registration] | None, reference: dt.date) -> tuple[bool, dt.date | None]:
    """(in the specified population, REG_DAT) at R."""
    if regs is None:  # no registration data at all: registered throughout, REG_DAT unknown
        return True, None
    current = [
        r.start for r in regs if r.start <= reference and (r.end is None or r.end > reference)
    ]
    if not current:
        return False, None
    return True, max(current)


def _is_new_episode(episode: str | None) -> bool:
    return (episode or "").strip().lower() not in NOT_NEW_EPISODES


def _patient_dates(events: list[Event], reference: dt.date) -> dict:
    seen = [e for e in events if e.date <= reference]  # events after R are ignored
    can = [e.date for e in seen if e.cluster == "CAN_COD" and _is_new_episode(e.episode)]
    can_dat = max(can) if can else None

    def earliest_from(cluster: str) -> dt.date | None:
        if can_dat is None:
            return None
        found = [e.date for e in seen if e.cluster == cluster and e.date >= can_dat]
        return min(found) if found else None

    def in_12(cluster: str) -> list[dt.date]:
        return [
            e.date for e in seen if e.cluster == cluster and in_last_months(e.date, reference, 12)
        ]

    return {
        "CAN_DAT": can_dat,
        "MDRV_DAT": earliest_from("MDRV_COD"),
        "SUPP_DAT": earliest_from("CANPCSUPP_COD"),
        "PCAPU": bool(in_12("CANPCAPU_COD")),
        "PCADEC": bool(in_12("CANPCADEC_COD")),
        "INVITES": in_12("CANINVITE_COD"),
    }


def _invited_twice(invites: list[dt.date]) -> bool:
    return len(invites) >= 2 and (max(invites) - min(invites)).days >= 7


# --- cascades: docs/reference-rules.md#cascades -----------------------------------------------


def _can004(d: dict, reg_dat: dt.date | None, reference: dt.date, year: str) -> tuple:
    can_dat, mdrv = d["CAN_DAT"], d["MDRV_DAT"]
    if more_than_months_before(can_dat, reference, 24):
        return EXCLUSION, "R1", "CAN_DAT24M"
    if mdrv is not None and more_than_months_before(mdrv, reference, 12):
        return EXCLUSION, "R2", "MDRV_DAT"
    if mdrv is not None and mdrv <= add_months(can_dat, 12):
        return NUMERATOR, "R3", None
    if early_year(year) and can_dat < CAN004_R4_BEFORE:
        return EXCLUSION, "R4", "CAN_DAT1J"
    if in_last_months(can_dat, reference, 12):
        return EXCLUSION, "R5", "DIAGCRV12M"
    if d["PCAPU"]:
        return PCA, "R6", "CANPCAPU"
    if d["PCADEC"]:
        return PCA, "R7", "CANPCADEC"
    if _invited_twice(d["INVITES"]):
        return PCA, "R8", "CANINVITE"
    if in_last_months(can_dat, reference, 3):
        return PCA, "R9", "DIAG1_DAT"
    if reg_dat is not None and in_last_months(reg_dat, reference, 3):
        return PCA, "R10", "REG1_DAT3"
    return DENOMINATOR, "R11", None


def _can005(d: dict, reg_dat: dt.date | None, reference: dt.date, year: str) -> tuple:
    can_dat, supp = d["CAN_DAT"], d["SUPP_DAT"]
    if more_than_months_before(can_dat, reference, 15):
        return EXCLUSION, "R1", "CAN_DAT15M" if early_year(year) else "CANDAT15M"
    if supp is not None and more_than_months_before(supp, reference, 12):
        return EXCLUSION, "R2", "CANSUP12M"
    if supp is not None and supp <= add_months(can_dat, 3):
        return NUMERATOR, "R3", None
    if in_last_months(can_dat, reference, 3):
        return EXCLUSION, "R4", "DIAGCSUP3M"
    if d["PCAPU"]:
        return PCA, "R5", "CANPCAPU"
    if d["PCADEC"]:
        return PCA, "R6", "CANPCADEC"
    if _invited_twice(d["INVITES"]):
        return PCA, "R7", "CANINVITE"
    if in_last_months(can_dat, reference, 3):
        return PCA, "R8", "DIAG1_DAT"
    if reg_dat is not None and in_last_months(reg_dat, reference, 3):
        return PCA, "R9", "REG1_DAT3"
    return DENOMINATOR, "R10", None


def _due_by(outcome: str, missing: dt.date | None, deadline: dt.date, reference: dt.date):
    """The last date on which the missing review/discussion would still count (`due_by`,
    docs/explanation-dates.md#due_by)."""
    if outcome == NUMERATOR or missing is not None:
        return None
    return deadline if deadline >= reference else None


# --- CS005 and CS006: docs/reference-rules.md#who-is-counted, #cs005-and-cs006 --------------


def is_female(sex: str | None) -> bool:
    """F, female or 2 in any case; anything else (M, male, 1, 9, 0, X) is not
    (docs/reference-rules.md#who-is-counted)."""
    return (sex or "").strip().lower() in FEMALE


def sex_recorded(sex: str | None) -> bool:
    return bool((sex or "").strip())


def age_at(birth: dt.date, reference: dt.date) -> int:
    """Whole years at R: the largest n with date_of_birth + 12n months ≤ R (clamped months, so a
    29 February birthday falls on 28 February in other years)."""
    n = reference.year - birth.year + 1
    while add_months(birth, 12 * n) > reference:
        n -= 1
    return n


def _cs_cascade(
    indicator: str,
    events: list[Event],
    birth: dt.date,
    reg_dat: dt.date | None,
    reference: dt.date,
) -> tuple:
    """One registered woman with a date of birth through CS005 or CS006
    (docs/reference-rules.md#cs005-and-cs006)."""
    seen = [e for e in events if e.date <= reference]  # events after R are ignored
    window = CS_WINDOW_MONTHS[indicator]

    def in_window(cluster: str, months: int = window) -> bool:
        return any(e.cluster == cluster and in_last_months(e.date, reference, months) for e in seen)

    youngest, oldest, age_field = CS_AGES[indicator]
    age = age_at(birth, reference)
    if age < youngest or age > oldest:
        return EXCLUSION, "R1", age_field
    if any(e.cluster == "NOCX_COD" for e in seen):  # any NOCX_COD dated ≤ R
        return EXCLUSION, "R2", "NOCX"
    if in_window("SMEAR_COD"):
        return NUMERATOR, "R3", None
    if in_window("CSPCAINVITE_COD"):
        return PCA, "R4", "CSPCAINV"
    if in_window("CSDEC_COD"):
        return PCA, "R5", "CSDEC"
    if in_window("CSPU_COD"):
        return PCA, "R6", "CSPU"
    rule = 7
    if indicator == "CS005":
        if in_window("PREG_COD", 12):
            return PCA, "R7", "PREG_DAT"
        rule = 8
    if reg_dat is not None and in_last_months(reg_dat, reference, 3):
        return PCA, f"R{rule}", "REG1_DAT3"
    return DENOMINATOR, f"R{rule + 1}", None


def _details(regs: list[Registration]) -> tuple[str | None, dt.date | None]:
    """A patient's sex and date of birth from their patients-file rows (which must agree)."""
    sexes = {(r.sex or "").strip() for r in regs}
    births = {r.date_of_birth for r in regs}
    assert len(sexes) <= 1 and len(births) <= 1, f"patients-file rows disagree: {regs}"
    sex = next(iter(sexes), "")
    return (sex or None), next(iter(births), None)


# --- scoring: docs/reference-rules.md#achievement-and-points ----------------------------------


def needed_for(threshold: Fraction, numerator: int, denominator: int) -> int | None:
    """Smallest k with (numerator + k) / denominator ≥ threshold, counted one by one."""
    if denominator == 0:
        return None
    k = 0
    while Fraction(numerator + k, denominator) < threshold:
        k += 1
    return k


def score_practice(indicator: str, year: str, paid: bool, rows: list[Outcome], register: int):
    """Achievement and points (docs/reference-rules.md#achievement-and-points) for one practice
    and indicator, from its register patients' outcomes."""
    s = PracticeScore(max_points=MAX_POINTS[indicator], register=register)
    if indicator in CS_INDICATORS:
        # CS005/CS006 have no register (docs/reference-rules.md#the-pound-estimate)
        s.register = None
    if indicator == "CAN001":
        s.denominator = s.numerator = register
        # numerator / denominator (docs/reference-rules.md#achievement-and-points)
        s.achievement = Fraction(1) if register else None
        s.points = (Fraction(5) if register > 0 else Fraction(0)) if paid else None
        return s
    s.breakdown = {f: 0 for f in fields_of(indicator, year)}
    for row in rows:
        if row.outcome == NUMERATOR:
            s.numerator += 1
        elif row.outcome == DENOMINATOR:
            s.denominator += 1
        elif row.outcome == PCA:
            s.pcas += 1
        else:
            s.exclusions += 1
        if row.field is not None:
            s.breakdown[row.field] += 1
    s.denominator += s.numerator
    lower, upper = THRESHOLDS[indicator]
    s.lower_threshold, s.upper_threshold = lower, upper
    if s.denominator:
        s.achievement = Fraction(s.numerator, s.denominator)
    if paid:
        if s.achievement is None:
            s.points = Fraction(0)
        else:
            share = (s.achievement - lower) / (upper - lower)
            s.points = s.max_points * min(max(share, Fraction(0)), Fraction(1))
    if s.denominator + s.pcas:
        s.gross_rate = Fraction(s.numerator, s.denominator + s.pcas)
        s.pca_rate = Fraction(s.pcas, s.denominator + s.pcas)
    s.needed_for_lower = needed_for(lower, s.numerator, s.denominator)
    s.needed_for_upper = needed_for(upper, s.numerator, s.denominator)
    return s


# --- the whole run ----------------------------------------------------------------------------


def evaluate(
    events: list[Event],
    registrations: list[Registration] | None,
    reference: dt.date,
    year: str | None = None,
    extract_patients: list[tuple[str | None, str]] = (),
) -> Result:
    """Every indicator for every patient of ``events`` at reference date R.

    ``year`` picks a year's rules explicitly (for CAN and CS alike); by default the QOF year
    containing R: for CAN the 2024-25 rules after 31 March 2025, for CS005/CS006 that year's own
    rules from 2021-22 to 2026-27 and none outside them. CAN points are awarded only for R on or
    before 31 March 2025; CS points whenever CS runs (docs/reference-rules.md#qof-years).
    Patients are identified by (practice, patient); with registration data, a patient without a
    registration row for that practice is not in the specified population, and CS005/CS006 take
    every registered patient of the patients file, with or without events. Without registration
    data every patient of the extract (``events`` and ``extract_patients``: those given without
    an entry) is registered with no sex or date of birth recorded.
    """
    cs_year = year if year is not None else cs_year_of(reference)
    year = year or year_of(reference)
    paid = pays_points(reference)
    by_patient: dict[tuple[str | None, str], list[Event]] = {}
    for e in events:
        by_patient.setdefault((e.practice, e.patient), []).append(e)
    regs_of: dict[tuple[str | None, str], list[Registration]] = {}
    for r in registrations or []:
        regs_of.setdefault((r.practice, r.patient), []).append(r)

    patients: dict[tuple[str, str | None, str], Outcome] = {}
    for (practice, patient), evs in by_patient.items():
        regs = None if registrations is None else regs_of.get((practice, patient), [])
        registered, reg_dat = _registered(regs, reference)
        if not registered:
            continue
        d = _patient_dates(evs, reference)
        can_dat = d["CAN_DAT"]
        if can_dat is None or can_dat < REGISTER_FROM:
            continue
        patients[("CAN001", practice, patient)] = Outcome(NUMERATOR, "R1", None, None, can_dat)
        outcome, rule, fld = _can004(d, reg_dat, reference, year)
        patients[("CAN004", practice, patient)] = Outcome(
            outcome,
            rule,
            fld,
            _due_by(outcome, d["MDRV_DAT"], add_months(can_dat, 12), reference),
            can_dat,
            MDRV_DAT=d["MDRV_DAT"],
            REG_DAT=reg_dat,
        )
        outcome, rule, fld = _can005(d, reg_dat, reference, year)
        patients[("CAN005", practice, patient)] = Outcome(
            outcome,
            rule,
            fld,
            _due_by(outcome, d["SUPP_DAT"], add_months(can_dat, 3), reference),
            can_dat,
            SUPP_DAT=d["SUPP_DAT"],
            REG_DAT=reg_dat,
        )

    indicators = list(CAN_INDICATORS)
    rule_years = dict.fromkeys(CAN_INDICATORS, year)
    paid_of = dict.fromkeys(CAN_INDICATORS, paid)
    left_out: dict[str, int] = {}
    if cs_year is not None:
        indicators += CS_INDICATORS
        rule_years.update(dict.fromkeys(CS_INDICATORS, cs_year))
        paid_of.update(dict.fromkeys(CS_INDICATORS, True))
        left_out = {NO_SEX: 0, NO_BIRTH_DATE: 0}
        if registrations is None:  # registered throughout, nothing about the person known
            everyone = set(by_patient) | set(extract_patients)
            left_out = dict.fromkeys(left_out, len(everyone))
        for key, regs in regs_of.items() if registrations is not None else ():
            registered, reg_dat = _registered(regs, reference)
            if not registered:
                continue
            sex, birth = _details(regs)
            left_out[NO_SEX] += not sex_recorded(sex)
            left_out[NO_BIRTH_DATE] += birth is None
            if not (sex_recorded(sex) and birth is not None and is_female(sex)):
                continue
            practice, patient = key
            for indicator in CS_INDICATORS:
                outcome, rule, fld = _cs_cascade(
                    indicator, by_patient.get(key, []), birth, reg_dat, reference
                )
                patients[(indicator, practice, patient)] = Outcome(
                    outcome, rule, fld, None, None, REG_DAT=reg_dat
                )

    practice_list = (
        {e.practice for e in events}
        | {r.practice for r in registrations or ()}
        | {p for p, _ in extract_patients}
    )
    practices: dict[tuple[str | None, str], PracticeScore] = {}
    for practice in practice_list:
        register = sum(1 for (ind, p, _) in patients if ind == "CAN001" and p == practice)
        for indicator in indicators:
            rows = [o for (ind, p, _), o in patients.items() if ind == indicator and p == practice]
            practices[(practice, indicator)] = score_practice(
                indicator, rule_years[indicator], paid_of[indicator], rows, register
            )
    return Result(year, paid, patients, practices, rule_years, paid_of, left_out)


def empty_score(indicator: str, year: str, paid: bool) -> PracticeScore:
    """The score of a practice with nobody on the register."""
    return score_practice(indicator, year, paid, [], 0)
