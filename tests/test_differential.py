"""Differential test: ccrqof's vectorised engine and scoring against the plain-Python oracle.

Hypothesis draws small extracts (1–3 practices, 1–25 patients, 0–8 events each from the six
cancer clusters) with dates concentrated around the reference date and aimed at every boundary
of docs/reference-rules.md#time (R − 3/12/15/24 months, CAN_DAT + 3/12 months, ± 1 day, month
ends, 29 February, 7-day invitation spans, 1 April 2003, 1 January 2021), awkward episodes and
registrations, and reference dates across all four years and after 31 March 2025. Every patient
outcome and every practice score must equal ``tests/oracle.py``'s, CS005/CS006 included (these
extracts' patients have no sex or date of birth, so the cervical populations are empty and
everyone registered is counted as left out; ``test_differential_cervical.py`` draws women).

The strategies here are also used by ``test_properties.py``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass
from functools import lru_cache

import oracle
import pandas as pd
import pytest
from engines import ENGINE_NAMES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import Event, Registration, add_months

import ccrqof
from ccrqof import schemas
from ccrqof.engine import Evaluation, outcome_columns
from ccrqof.readers import Extract
from ccrqof.rules.loader import BUNDLED, RuleSet, load_year_folder
from ccrqof.rules.model import YearStatus

CLUSTERS = (
    "CAN_COD",
    "MDRV_COD",
    "CANPCSUPP_COD",
    "CANINVITE_COD",
    "CANPCADEC_COD",
    "CANPCAPU_COD",
)
EPISODES = (
    "",
    "",
    "first",
    "new",
    "First",
    "NEW",
    "review",
    "Review",
    "ended",
    "changed",
    "evolved",
    "flare-up",
    "chronic",  # unknown: counts as first/new (docs/reference-rules.md#patient-dates)
)
# the episode values of docs/reference-data.md#events-extract that are not first/new
NOT_NEW = ("review", "ended", "changed", "evolved", "flare-up")
PRACTICES = ("A81001", "B82002", "C83003")
YEAR_ENDS = tuple(dt.date(y, 3, 31) for y in range(2022, 2026))
FIXED_DATES = (
    dt.date(2003, 3, 31),
    dt.date(2003, 4, 1),  # CAN001: on or after 1 April 2003
    dt.date(2020, 12, 31),
    dt.date(2021, 1, 1),  # CAN004 R4 (2021-22, 2022-23)
    dt.date(1999, 6, 15),
)
LEAP_DAYS = (dt.date(2020, 2, 29), dt.date(2024, 2, 29), dt.date(2028, 2, 29))
OLD_REGISTRATION = dt.date(2000, 1, 1)
ONE = dt.timedelta(days=1)


@dataclass
class Scenario:
    reference: dt.date
    year: str | None  # None: the rules load_ruleset picks for R
    patients: list[tuple[str, str]]  # (practice, patient), also those without events
    events: list[Event]
    registrations: list[Registration] | None  # None: no registration data at all

    def describe(self) -> str:
        lines = [f"R = {self.reference}, year = {self.year or 'by R'}"]
        lines += [f"  {e}" for e in self.events]
        if self.registrations is None:
            lines.append("  (no registrations)")
        else:
            lines += [f"  {r}" for r in self.registrations]
        return "\n".join(lines)


# --- strategies -------------------------------------------------------------------------------


def month_end(day: dt.date) -> dt.date:
    return add_months(dt.date(day.year, day.month, 1), 1) - ONE


@st.composite
def reference_dates(draw) -> dt.date:
    month = draw(st.integers(0, 12 * 7 - 1))  # April 2021 .. March 2028
    first = add_months(dt.date(2021, 4, 1), month)
    return draw(
        st.one_of(
            st.sampled_from(YEAR_ENDS),
            st.just(month_end(first)),
            st.sampled_from(
                (
                    dt.date(2024, 2, 29),
                    dt.date(2028, 2, 29),
                    dt.date(2025, 4, 1),
                    dt.date(2021, 4, 1),
                )
            ),
            st.dates(dt.date(2021, 4, 1), dt.date(2027, 12, 31)),
        )
    )


@st.composite
def near_reference(draw, reference: dt.date) -> dt.date:
    """A date at or around a boundary relative to R (mostly on or before R)."""
    kind = draw(st.sampled_from(("boundary", "boundary", "offset", "month_end", "leap", "fixed")))
    if kind == "boundary":
        months = draw(st.sampled_from((0, 3, 12, 15, 24)))
        return add_months(reference, -months) + draw(st.sampled_from((-1, 0, 0, 1))) * ONE
    if kind == "offset":
        return reference + dt.timedelta(days=draw(st.integers(-913, 40)))
    if kind == "month_end":
        return month_end(add_months(reference, draw(st.integers(-30, 1))))
    if kind == "leap":
        return draw(st.sampled_from(LEAP_DAYS)) + draw(st.sampled_from((-1, 0, 0, 1))) * ONE
    return draw(st.sampled_from(FIXED_DATES))


@st.composite
def event_date(draw, reference: dt.date, diagnosis: dt.date, previous: dt.date | None) -> dt.date:
    kind = draw(st.sampled_from(("reference", "diagnosis", "diagnosis", "previous", "after")))
    if kind == "diagnosis":  # CAN_DAT + 0/3/12 months ± 1 day
        months = draw(st.sampled_from((0, 3, 12)))
        return add_months(diagnosis, months) + draw(st.sampled_from((-1, 0, 0, 1))) * ONE
    if kind == "previous" and previous is not None:  # invitation spans of 6/7/8 days
        return previous + draw(st.sampled_from((0, 6, 7, 8, -7))) * ONE
    if kind == "after":  # after R: ignored
        return reference + dt.timedelta(days=draw(st.integers(1, 913)))
    return draw(near_reference(reference))


@st.composite
def typical_course(draw, reference: dt.date) -> tuple[dt.date, list[tuple[str, dt.date]]]:
    """A diagnosis in the last ~25 months, then maybe a review, a support discussion,
    invitations and a PCA code: enough numerator and denominator patients to score between
    the thresholds."""
    diagnosis = reference - dt.timedelta(days=draw(st.integers(0, 760)))
    entries = [("CAN_COD", diagnosis)]
    if draw(st.booleans()):
        entries.append(("MDRV_COD", diagnosis + dt.timedelta(days=draw(st.integers(0, 420)))))
    if draw(st.booleans()):
        entries.append(("CANPCSUPP_COD", diagnosis + dt.timedelta(days=draw(st.integers(0, 120)))))
    if draw(st.integers(0, 3)) == 0:
        first = reference - dt.timedelta(days=draw(st.integers(0, 380)))
        entries.append(("CANINVITE_COD", first))
        entries.append(("CANINVITE_COD", first + draw(st.sampled_from((0, 6, 7, 8, 30))) * ONE))
    if draw(st.integers(0, 5)) == 0:
        cluster = draw(st.sampled_from(("CANPCAPU_COD", "CANPCADEC_COD")))
        entries.append((cluster, reference - dt.timedelta(days=draw(st.integers(0, 400)))))
    return diagnosis, entries


@st.composite
def patient_events(draw, patient: str, practice: str, reference: dt.date) -> list[Event]:
    """0–8 events: aimed at boundaries, or a typical course plus a few boundary events."""
    n = draw(st.integers(0, 8))
    if n == 0:
        return []
    if draw(st.booleans()):
        diagnosis, entries = draw(typical_course(reference))
        entries = entries[:n]
    else:
        diagnosis = draw(near_reference(reference))
        entries = [("CAN_COD", diagnosis)] if draw(st.integers(0, 3)) else []
    invites = [d for c, d in entries if c == "CANINVITE_COD"]
    while len(entries) < n:
        cluster = draw(st.sampled_from(CLUSTERS + ("CANINVITE_COD",)))
        previous = entries[-1][1] if entries else None
        date = draw(event_date(reference, diagnosis, previous))
        if cluster == "CANINVITE_COD" and invites and draw(st.booleans()):
            date = invites[-1] + draw(st.sampled_from((0, 6, 7, 8, -6, -7))) * ONE
        if cluster == "CANINVITE_COD":
            invites.append(date)
        entries.append((cluster, date))
    return [
        Event(patient, practice, c, d, draw(st.sampled_from(EPISODES)) if c == "CAN_COD" else "")
        for c, d in entries
    ]


@st.composite
def patient_registrations(draw, patient: str, practice: str, reference: dt.date):
    kind = draw(st.sampled_from(("none", "old", "old", "recent", "deregistered", "re-registered")))
    r = reference

    def reg(start, end=None):
        return Registration(patient, practice, start, end)

    if kind == "none":
        return []
    if kind == "old":
        return [reg(OLD_REGISTRATION)]
    if kind == "recent":
        start = draw(
            st.one_of(
                st.sampled_from((r, r + ONE, r - ONE)),
                st.builds(lambda d: add_months(r, -3) + d * ONE, st.sampled_from((-1, 0, 1))),
                st.builds(lambda d: r - dt.timedelta(days=d), st.integers(0, 400)),
            )
        )
        return [reg(start)]
    if kind == "deregistered":
        end = draw(
            st.one_of(
                st.sampled_from((r, r - ONE, r + ONE)),
                st.builds(lambda d: r + dt.timedelta(days=d), st.integers(-400, 400)),
            )
        )
        return [reg(OLD_REGISTRATION, end)]
    # left and came back (non-overlapping registrations)
    left = draw(
        st.one_of(
            st.sampled_from((r - ONE, r, add_months(r, -3))),
            st.builds(lambda d: r - dt.timedelta(days=d), st.integers(0, 700)),
        )
    )
    back = left + dt.timedelta(days=draw(st.sampled_from((0, 1, 2, 30, 90, 91, 92))))
    second_end = draw(st.sampled_from((None, None, r, r + ONE)))
    if second_end is not None and second_end <= back:
        second_end = None
    return [reg(OLD_REGISTRATION, left), reg(back, second_end)]


@st.composite
def scenarios(draw, max_patients: int = 25, explicit_year: bool = True) -> Scenario:
    reference = draw(reference_dates())
    year = None
    if explicit_year and draw(st.integers(0, 3)) == 0:
        year = draw(st.sampled_from(oracle.YEARS))
    practices = PRACTICES[: draw(st.integers(1, 3))]
    with_registrations = draw(st.integers(0, 4)) > 0
    patients, events, registrations = [], [], []
    for i in range(draw(st.integers(1, max_patients))):
        practice = draw(st.sampled_from(practices))
        patient = f"{i:03d}"  # text ids with leading zeros
        patients.append((practice, patient))
        events += draw(patient_events(patient, practice, reference))
        if with_registrations:
            registrations += draw(patient_registrations(patient, practice, reference))
    return Scenario(
        reference, year, patients, events, registrations if with_registrations else None
    )


# --- building ccrqof's inputs -----------------------------------------------------------------


def events_frame(scenario: Scenario, extra: list[tuple] = ()) -> pd.DataFrame:
    """The scenario's events as plain columns of the canonical events table (`to_extract`
    types them through `ccrqof.schemas`); patients without events get a patient-only row.

    ``extra`` rows are (practice, patient, code, cluster, date, episode).
    """
    with_events = {(e.practice, e.patient) for e in scenario.events}
    rows = [(e.practice, e.patient, "", e.cluster, e.date, e.episode) for e in scenario.events]
    rows += [(p, q, "", "", None, "") for p, q in scenario.patients if (p, q) not in with_events]
    rows += list(extra)
    practice, patient, code, cluster, date, episode = (list(c) for c in zip(*rows, strict=True))
    return pd.DataFrame(
        {
            "patient_id": patient,
            "code": code,
            "cluster": cluster,
            "date": pd.Series(date, dtype=object),
            "episode": [e.strip().lower() for e in episode],
            "practice_code": practice,
            "line": range(2, len(rows) + 2),
        }
    )


def patients_frame(scenario: Scenario) -> dict[str, list] | None:
    """The scenario's registrations as columns of the canonical patients table (with sex and
    date of birth when a registration records either)."""
    if scenario.registrations is None:
        return None
    regs = scenario.registrations
    columns = {
        "patient_id": [r.patient for r in regs],
        "practice_code": [r.practice for r in regs],
        "registration_date": [r.start for r in regs],
        "deregistration_date": [r.end for r in regs],
    }
    if any(r.sex is not None or r.date_of_birth is not None for r in regs):
        columns["date_of_birth"] = pd.Series([r.date_of_birth for r in regs], dtype=object)
        columns["sex"] = [r.sex for r in regs]
    return columns


def to_extract(scenario: Scenario, events: pd.DataFrame | None = None) -> Extract:
    frame = events_frame(scenario) if events is None else events
    return schemas.extract(frame, patients_frame(scenario), has_practice=True)


@lru_cache
def _year_folder(year: str):
    return load_year_folder(BUNDLED / year)


@lru_cache
def ruleset_for(reference: dt.date, year: str | None = None) -> RuleSet:
    """The rules load_ruleset picks for R, or one year's packs run at R: its CAN indicators as
    local monitoring after 31 March 2025, CS005/CS006 with the year's own status (paid); both as
    docs/reference-rules.md#qof-years says."""
    if year is None:
        return ccrqof.load_ruleset(reference_date=reference)
    info, packs = _year_folder(year)
    statuses = {indicator: info.status_of(indicator) for indicator in packs}
    if reference > oracle.LAST_PAID_DAY:
        statuses.update(
            {i: YearStatus.local_monitoring for i in packs if i in oracle.CAN_INDICATORS}
        )
    shared = set(statuses.values())
    status = shared.pop() if len(shared) == 1 else info.status
    return RuleSet(info, reference, status, packs, statuses=statuses)


def run_ccrqof(
    scenario: Scenario,
    events: pd.DataFrame | None = None,
    engine: str = "python",
    indicators: tuple[str, ...] | None = None,
):
    """ccrqof's evaluation and summary of the scenario; `indicators`: only those (and their
    registers), as `--indicators` runs them."""
    ruleset = ruleset_for(scenario.reference, scenario.year)
    evaluation = ccrqof.evaluate(
        to_extract(scenario, events),
        ruleset.only(indicators) if indicators else ruleset,
        None,
        engine=engine,
    )
    return evaluation, ccrqof.score(evaluation)


# --- comparing --------------------------------------------------------------------------------


def _day(value) -> dt.date | None:
    return None if pd.isna(value) else pd.Timestamp(value).date()


def _text(value) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def engine_outcomes(outcomes: pd.DataFrame) -> dict:
    """Outcome rows as the oracle's: for CS005/CS006 only what
    docs/reference-rules.md#cs005-and-cs006 defines (outcome, rule, field and REG_DAT; the cancer
    dates and due_by do not apply)."""
    found = {}
    for row in outcomes.itertuples(index=False):
        key = (row.indicator, row.practice_code, row.patient_id)
        assert key not in found, f"two outcome rows for {key}"
        if row.indicator in oracle.CS_INDICATORS:
            found[key] = oracle.Outcome(
                row.outcome, row.rule, _text(row.field), None, None, REG_DAT=_day(row.REG_DAT)
            )
            continue
        found[key] = oracle.Outcome(
            row.outcome,
            row.rule,
            _text(row.field),
            _day(row.due_by),
            _day(row.CAN_DAT),
            _day(row.MDRV_DAT),
            _day(row.SUPP_DAT),
            _day(row.REG_DAT),
        )
    return found


def _same_number(got, want) -> bool:
    if want is None:
        return got is None or (isinstance(got, float) and math.isnan(got))
    if got is None or (isinstance(got, float) and math.isnan(got)):
        return False
    return math.isclose(float(got), float(want), rel_tol=1e-12, abs_tol=1e-12)


SCORE_FIELDS = (
    "register",
    "denominator",
    "numerator",
    "pcas",
    "exclusions",
    "achievement",
    "points",
    "max_points",
    "lower_threshold",
    "upper_threshold",
    "gross_rate",
    "pca_rate",
    "needed_for_lower",
    "needed_for_upper",
)


def score_mismatches(summary: pd.DataFrame, expected: oracle.Result) -> list[str]:
    got = {(r["practice_code"], r["indicator"]): r for r in summary.to_dict("records")}
    problems = []
    for key in sorted(set(got) | set(expected.practices), key=str):
        indicator = key[1]
        if indicator not in expected.rule_years:
            problems.append(f"{key}: ccrqof scores {indicator}, which has no rules at R")
            continue
        want = expected.practices.get(key) or oracle.empty_score(
            indicator, expected.rule_years[indicator], expected.paid[indicator]
        )
        if key not in got:
            # a practice ccrqof does not list must at least have nothing to report
            if want.register or want.denominator or want.pcas or want.exclusions:
                problems.append(f"{key}: missing from ccrqof's summary")
            continue
        row = got[key]
        for name in SCORE_FIELDS:
            if not _same_number(row[name], getattr(want, name)):
                problems.append(f"{key} {name}: ccrqof {row[name]!r}, oracle {getattr(want, name)}")
        if row["breakdown"] != want.breakdown:
            problems.append(f"{key} breakdown: ccrqof {row['breakdown']}, oracle {want.breakdown}")
    return problems


def outcome_mismatches(outcomes: pd.DataFrame, expected: oracle.Result) -> list[str]:
    got = engine_outcomes(outcomes)
    problems = []
    for key in sorted(set(got) | set(expected.patients), key=str):
        if got.get(key) != expected.patients.get(key):
            problems.append(f"{key}: ccrqof {got.get(key)}, oracle {expected.patients.get(key)}")
    return problems


def oracle_for(scenario: Scenario) -> oracle.Result:
    return oracle.evaluate(
        scenario.events,
        scenario.registrations,
        scenario.reference,
        scenario.year,
        extract_patients=scenario.patients,
    )


def chosen(scenario: Scenario) -> tuple[str, ...] | None:
    """None (every indicator) when the patients file would have sex or date of birth columns,
    else the cancer indicators, as `choose_indicators` picks for the command."""
    regs = scenario.registrations or []
    if any(r.sex is not None or r.date_of_birth is not None for r in regs):
        return None
    return oracle.CAN_INDICATORS


def only(expected: oracle.Result, indicators: set[str]) -> oracle.Result:
    """The oracle's result for these indicators alone."""
    return dataclasses.replace(
        expected,
        patients={k: v for k, v in expected.patients.items() if k[0] in indicators},
        practices={k: v for k, v in expected.practices.items() if k[1] in indicators},
        rule_years={k: v for k, v in expected.rule_years.items() if k in indicators},
        paid={k: v for k, v in expected.paid.items() if k in indicators},
        left_out=expected.left_out if indicators & set(oracle.CS_INDICATORS) else {},
    )


def run_mismatches(evaluation: Evaluation, summary: pd.DataFrame, expected: oracle.Result):
    """Everything of one run that must equal the oracle's: each indicator's rules' year and
    whether it pays points, the patients left out of CS005/CS006 for want of a sex or a date
    of birth, every patient outcome and every practice score."""
    ruleset = evaluation.ruleset
    problems = []
    if ruleset.rule_years() != expected.rule_years:
        problems.append(
            f"rules' years: ccrqof {ruleset.rule_years()}, oracle {expected.rule_years}"
        )
    paid = {indicator: ruleset.pays_points_for(indicator) for indicator in ruleset.packs}
    if paid != expected.paid:
        problems.append(f"pays points: ccrqof {paid}, oracle {expected.paid}")
    for name in (oracle.NO_SEX, oracle.NO_BIRTH_DATE):
        got, want = evaluation.ignored.get(name, 0), expected.left_out.get(name, 0)
        if got != want:
            problems.append(f"{name}: ccrqof {got}, oracle {want}")
    problems += outcome_mismatches(evaluation.outcomes, expected)
    problems += score_mismatches(summary, expected)
    return problems


# --- the tests --------------------------------------------------------------------------------


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@pytest.mark.parametrize("engine", ENGINE_NAMES)
@given(scenarios())
def test_engine_matches_oracle(engine, scenario):
    """The indicators the command would run: CS005/CS006 only when a registration records a
    sex or a date of birth (without them they would only count every woman as left out)."""
    evaluation, summary = run_ccrqof(scenario, engine=engine, indicators=chosen(scenario))
    expected = only(oracle_for(scenario), set(evaluation.ruleset.packs))
    problems = run_mismatches(evaluation, summary, expected)
    assert not problems, scenario.describe() + "\n" + "\n".join(problems)


PCA_FIELDS = {
    "CANPCAPU",
    "CANPCADEC",
    "CANINVITE",
    "DIAG1_DAT",
    "REG1_DAT3",
    "CSPCAINV",
    "CSDEC",
    "CSPU",
    "PREG_DAT",
}
INDICATORS = oracle.CAN_INDICATORS + oracle.CS_INDICATORS


@st.composite
def scored_outcomes(draw):
    """Outcome rows drawn directly (register sizes up to 40), so that achievement lands
    between the thresholds far more often than with drawn extracts."""
    year = draw(st.sampled_from(oracle.YEARS))
    reference = draw(st.sampled_from((oracle.LAST_PAID_DAY, dt.date(2026, 3, 31), None)))
    reference = reference or draw(st.sampled_from(YEAR_ENDS))
    practices = list(PRACTICES[: draw(st.integers(1, 3))])
    rows = []
    for practice in practices:
        for i in range(draw(st.integers(0, 40))):
            patient = f"{practice}-{i}"
            rows.append((practice, patient, "CAN001", "numerator", None))
            for indicator in ("CAN004", "CAN005", *oracle.CS_INDICATORS):
                choice = draw(
                    st.sampled_from(
                        ["numerator"] * 6 + ["denominator"] * 3 + oracle.fields_of(indicator, year)
                    )
                )
                if choice in ("numerator", "denominator"):
                    rows.append((practice, patient, indicator, choice, None))
                else:
                    kind = "pca" if choice in PCA_FIELDS else "exclusion"
                    rows.append((practice, patient, indicator, kind, choice))
    return year, reference, practices, rows


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scored_outcomes())
def test_scoring_matches_oracle(drawn):
    year, reference, practices, rows = drawn
    ruleset = ruleset_for(reference, year)
    outcomes = pd.DataFrame(
        {
            "practice_code": [r[0] for r in rows],
            "patient_id": [r[1] for r in rows],
            "indicator": [r[2] for r in rows],
            "outcome": [r[3] for r in rows],
            "rule": "R1",
            "field": [r[4] for r in rows],
            **{
                name: pd.Series(pd.NaT, index=range(len(rows)))
                for name in (*ruleset.outcome_dates(), "due_by")
            },
        },
        columns=list(outcome_columns(ruleset)),
    )
    summary = ccrqof.score(Evaluation(ruleset, outcomes, practices))
    # CS005/CS006 are paid in every year (docs/reference-rules.md#qof-years)
    paid = dict.fromkeys(INDICATORS, True)
    paid.update(dict.fromkeys(oracle.CAN_INDICATORS, oracle.pays_points(reference)))
    expected = {}
    for practice in practices:
        mine = [r for r in rows if r[0] == practice]
        register = sum(1 for r in mine if r[2] == "CAN001")
        for indicator in INDICATORS:
            outs = [oracle.Outcome(r[3], "R1", r[4], None, None) for r in mine if r[2] == indicator]
            expected[(practice, indicator)] = oracle.score_practice(
                indicator, year, paid[indicator], outs, register
            )
    result = oracle.Result(
        year, paid["CAN001"], {}, expected, dict.fromkeys(INDICATORS, year), paid
    )
    problems = score_mismatches(summary, result)
    assert len(summary) == len(INDICATORS) * len(practices)
    assert not problems, "\n".join(problems)


def test_oracle_month_arithmetic_examples():
    """The oracle's own examples of docs/reference-rules.md#time, so a disagreement is not the
    oracle's arithmetic."""
    assert add_months(dt.date(2024, 5, 31), 3) == dt.date(2024, 8, 31)
    assert add_months(dt.date(2023, 11, 30), 3) == dt.date(2024, 2, 29)
    assert add_months(dt.date(2022, 11, 30), 3) == dt.date(2023, 2, 28)
    assert add_months(dt.date(2024, 2, 29), -12) == dt.date(2023, 2, 28)
    assert add_months(dt.date(2024, 3, 31), -24) == dt.date(2022, 3, 31)
    r = dt.date(2024, 3, 31)
    assert [add_months(r, -n) + ONE for n in (3, 12, 15, 24)] == [
        dt.date(2024, 1, 1),
        dt.date(2023, 4, 1),
        dt.date(2023, 1, 1),
        dt.date(2022, 4, 1),
    ]
