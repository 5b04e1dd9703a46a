"""Invariants of ccrqof's evaluation and scoring, checked on random extracts (hypothesis).

These are properties any correct implementation has, not a second implementation of the rules:
set inclusions, one deciding rule per patient, indifference to row order and to irrelevant or
future entries, practices scored independently, and the shape of the points and "patients
still needed" figures. The extracts come from the strategies of ``test_differential.py``.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from engines import ENGINE_NAMES
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from oracle import Event, Registration
from test_differential import (
    CLUSTERS,
    EPISODES,
    PRACTICES,
    Scenario,
    events_frame,
    ruleset_for,
    scenarios,
)
from test_differential import (
    run_ccrqof as run_all,
)

import ccrqof
from ccrqof.engine import Evaluation, outcome_columns

CANCER = ("CAN001", "CAN004", "CAN005")


def run_ccrqof(scenario, events=None, engine="python"):
    """The cancer indicators of the scenario: these properties are theirs (CS005/CS006 are
    held to the oracle in test_differential_cervical.py)."""
    return run_all(scenario, events, engine, indicators=CANCER)


# the invariants hold on every engine (tests/engines.py)
ON_EVERY_ENGINE = pytest.mark.parametrize("engine", ENGINE_NAMES)

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SMALL = scenarios(max_patients=15)
RATES = ("CAN004", "CAN005")
UNRELATED_CLUSTERS = ("DM_COD", "AST_COD", "HYP_COD", "CAN_COD_X", "MDRV", "CANCER_COD")


def _sorted_outcomes(outcomes: pd.DataFrame) -> pd.DataFrame:
    return outcomes.sort_values(["indicator", "practice_code", "patient_id"]).reset_index(drop=True)


def _sorted_summary(summary: pd.DataFrame) -> pd.DataFrame:
    return summary.sort_values(["indicator", "practice_code"]).reset_index(drop=True)


def _assert_same(a, b) -> None:
    (ev_a, sum_a), (ev_b, sum_b) = a, b
    pd.testing.assert_frame_equal(_sorted_outcomes(ev_a.outcomes), _sorted_outcomes(ev_b.outcomes))
    pd.testing.assert_frame_equal(_sorted_summary(sum_a), _sorted_summary(sum_b))


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts, with every missing value (None, NaN, NaT) as None."""
    return [
        {k: None if not isinstance(v, dict) and pd.isna(v) else v for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def _patients(outcomes: pd.DataFrame, indicator: str, *kinds: str) -> set:
    rows = outcomes[outcomes["indicator"] == indicator]
    if kinds:
        rows = rows[rows["outcome"].isin(kinds)]
    return set(zip(rows["practice_code"], rows["patient_id"], strict=True))


# --- inclusions and the cascade ---------------------------------------------------------------


@SETTINGS
@ON_EVERY_ENGINE
@given(SMALL)
def test_numerator_within_denominator_within_register(engine, scenario):
    evaluation, summary = run_ccrqof(scenario, engine=engine)
    out = evaluation.outcomes
    register = _patients(out, "CAN001")
    for indicator in RATES:
        numerator = _patients(out, indicator, "numerator")
        denominator = _patients(out, indicator, "numerator", "denominator")
        assert numerator <= denominator <= register
    for row in summary.to_dict("records"):
        assert 0 <= row["numerator"] <= row["denominator"]
        if pd.notna(row["register"]):  # CS005/CS006 have no register
            assert row["denominator"] <= row["register"]
        if row["indicator"] in RATES:
            assert row["denominator"] + row["pcas"] + row["exclusions"] == row["register"]
            assert sum(row["breakdown"].values()) == row["pcas"] + row["exclusions"]
        elif row["indicator"] == "CAN001":
            assert row["numerator"] == row["denominator"] == row["register"]
        else:  # CS005/CS006: no register; every woman of the population leaves somewhere
            assert sum(row["breakdown"].values()) == row["pcas"] + row["exclusions"]


@SETTINGS
@ON_EVERY_ENGINE
@given(SMALL)
def test_every_register_patient_leaves_each_cascade_at_exactly_one_rule(engine, scenario):
    evaluation, _ = run_ccrqof(scenario, engine=engine)
    out = evaluation.outcomes
    packs = evaluation.ruleset.packs
    assert not out.duplicated(["indicator", "practice_code", "patient_id"]).any()
    register = _patients(out, "CAN001")
    for indicator in RATES:
        assert _patients(out, indicator) == register
        rules = {r.rule: r for r in packs[indicator].rules}
        for row in out[out["indicator"] == indicator].itertuples():
            rule = rules[row.rule]  # a rule of this indicator's pack
            assert (
                row.outcome
                == {
                    "select_numerator": "numerator",
                    "select_denominator": "denominator",
                    "reject_exclusion": "exclusion",
                    "reject_pca": "pca",
                }[rule.kind.value]
            )
            assert (row.field if isinstance(row.field, str) else None) == rule.field
            assert rule.shadowed_by is None  # a shadowed rule never decides


# --- things that must not matter --------------------------------------------------------------


@SETTINGS
@ON_EVERY_ENGINE
@given(SMALL, st.randoms(use_true_random=False))
def test_shuffling_event_rows_changes_nothing(engine, scenario, random):
    frame = events_frame(scenario)
    order = list(range(len(frame)))
    random.shuffle(order)
    shuffled = frame.iloc[order].reset_index(drop=True)
    shuffled["line"] = np.arange(2, len(shuffled) + 2)
    _assert_same(run_ccrqof(scenario, engine=engine), run_ccrqof(scenario, shuffled, engine))


@st.composite
def with_extra_rows(draw, kind: str):
    """A scenario, plus rows for its own patients that the rules must ignore."""
    scenario = draw(SMALL)
    r = scenario.reference
    extra = []
    for _ in range(draw(st.integers(1, 12))):
        practice, patient = draw(st.sampled_from(scenario.patients))
        if kind == "unrelated":
            date = r + dt.timedelta(days=draw(st.integers(-900, 30)))
            code, cluster = draw(
                st.one_of(
                    st.tuples(st.just(""), st.sampled_from(UNRELATED_CLUSTERS)),
                    st.tuples(st.from_regex(r"\A[1-9][0-9]{5,17}\Z"), st.just("")),
                )
            )
        else:  # after R: any cancer cluster, any episode
            date = r + dt.timedelta(days=draw(st.integers(1, 1000)))
            code, cluster = "", draw(st.sampled_from(CLUSTERS))
        episode = draw(st.sampled_from(EPISODES))
        extra.append((practice, patient, code, cluster, date, episode))
    return scenario, extra


@SETTINGS
@ON_EVERY_ENGINE
@given(with_extra_rows("unrelated"))
def test_unrelated_codes_and_clusters_change_nothing(engine, drawn):
    scenario, extra = drawn
    _assert_same(
        run_ccrqof(scenario, engine=engine),
        run_ccrqof(scenario, events_frame(scenario, extra), engine),
    )


@SETTINGS
@ON_EVERY_ENGINE
@given(with_extra_rows("after R"))
def test_events_after_the_reference_date_change_nothing(engine, drawn):
    scenario, extra = drawn
    _assert_same(
        run_ccrqof(scenario, engine=engine),
        run_ccrqof(scenario, events_frame(scenario, extra), engine),
    )


# Two practices; the only patient of A81001 is missing from the patients file.
PRACTICE_WITHOUT_KNOWN_PATIENTS = Scenario(
    dt.date(2023, 3, 31),
    None,
    [("A81001", "000"), ("B82002", "001")],
    [
        Event("000", "A81001", "CAN_COD", dt.date(2022, 6, 1)),
        Event("001", "B82002", "CAN_COD", dt.date(2022, 6, 1)),
    ],
    [Registration("001", "B82002", dt.date(2000, 1, 1))],
)


@SETTINGS
@example(PRACTICE_WITHOUT_KNOWN_PATIENTS)
@given(scenarios(max_patients=15))
def test_every_practice_of_the_extract_is_reported_under_its_own_code(scenario):
    """Evaluation.practices: 'every practice in the extract, also those with an empty
    register'; practice_code is null only for an extract without the column (one practice:
    docs/reference-data.md#events-extract)."""
    evaluation, summary = run_ccrqof(scenario)
    practices = {p for p, _ in scenario.patients}
    assert set(evaluation.practices) == practices
    assert set(summary["practice_code"]) == practices
    assert len(summary) == len(evaluation.ruleset.packs) * len(practices)


@SETTINGS
@example(PRACTICE_WITHOUT_KNOWN_PATIENTS)
@given(scenarios(max_patients=15))
def test_scoring_practices_separately_equals_scoring_them_together(scenario):
    together = run_ccrqof(scenario)
    parts = []
    for practice in sorted({p for p, _ in scenario.patients}):
        alone = Scenario(
            scenario.reference,
            scenario.year,
            [(p, q) for p, q in scenario.patients if p == practice],
            [e for e in scenario.events if e.practice == practice],
            None
            if scenario.registrations is None
            else [r for r in scenario.registrations if r.practice == practice],
        )
        parts.append(run_ccrqof(alone))

    # compared as values: concatenating per-practice frames need not keep column dtypes
    def rows(frames, *key):
        found = [r for frame in frames for r in _records(frame)]
        return sorted(found, key=lambda r: tuple(str(r[k]) for k in key))

    outcome_key = ("indicator", "practice_code", "patient_id")
    assert rows([together[0].outcomes], *outcome_key) == rows(
        [ev.outcomes for ev, _ in parts], *outcome_key
    )
    assert rows([together[1]], "indicator", "practice_code") == rows(
        [s for _, s in parts], "indicator", "practice_code"
    )


# --- points and patients still needed ---------------------------------------------------------


@SETTINGS
@given(SMALL)
def test_points_within_zero_and_max(scenario):
    evaluation, summary = run_ccrqof(scenario)
    for row in summary.to_dict("records"):
        if not evaluation.ruleset.pays_points_for(row["indicator"]):
            assert row["points"] is None
        else:
            assert 0 <= row["points"] <= row["max_points"]


def _counts_evaluation(ruleset, counts: dict[str, dict[str, int]]) -> Evaluation:
    """An evaluation with, per indicator, the given number of patients per outcome."""
    rows = []
    size = max(sum(c.values()) for c in counts.values())
    for i in range(size):
        rows.append((f"{i}", "CAN001", "numerator", "R1", None))
    for indicator, by_outcome in counts.items():
        i = 0
        for outcome, n in by_outcome.items():
            field = {"pca": "CANPCAPU", "exclusion": "DIAGCRV12M"}.get(outcome)
            if indicator == "CAN005" and outcome == "exclusion":
                field = "DIAGCSUP3M"
            for _ in range(n):
                rows.append((f"{i}", indicator, outcome, "R2", field))
                i += 1
    frame = pd.DataFrame(rows, columns=["patient_id", "indicator", "outcome", "rule", "field"])
    frame.insert(0, "practice_code", PRACTICES[0])
    columns = outcome_columns(ruleset)
    for name in columns[6:]:
        frame[name] = pd.NaT
    return Evaluation(ruleset, frame[list(columns)], [PRACTICES[0]])


@st.composite
def practice_counts(draw):
    denominator = draw(st.integers(0, 60))
    numerator = draw(st.integers(0, max(denominator - 1, 0)))
    pcas, exclusions = draw(st.integers(0, 5)), draw(st.integers(0, 5))
    reference = draw(
        st.sampled_from((dt.date(2022, 3, 31), dt.date(2024, 3, 31), dt.date(2025, 3, 31)))
    )
    return reference, numerator, denominator, pcas, exclusions


def _score_counts(reference, numerator, denominator, pcas, exclusions) -> dict:
    counts = {
        "numerator": numerator,
        "denominator": denominator - numerator,
        "pca": pcas,
        "exclusion": exclusions,
    }
    evaluation = _counts_evaluation(ruleset_for(reference), {i: counts for i in RATES})
    summary = ccrqof.score(evaluation)
    return {r["indicator"]: r for r in summary.to_dict("records")}


@settings(max_examples=120, deadline=None)
@given(practice_counts())
def test_points_monotone_in_numerator(drawn):
    reference, numerator, denominator, pcas, exclusions = drawn
    before = _score_counts(reference, numerator, denominator, pcas, exclusions)
    if denominator == 0:
        for indicator in RATES:
            assert pd.isna(before[indicator]["achievement"])  # n/a: no denominator
            assert before[indicator]["points"] == 0
        return
    # one denominator-only patient becomes a numerator patient
    after = _score_counts(reference, numerator + 1, denominator, pcas, exclusions)
    for indicator in RATES:
        a, b = before[indicator], after[indicator]
        assert (a["denominator"], a["numerator"] + 1) == (b["denominator"], b["numerator"])
        assert 0 <= a["points"] <= b["points"] <= a["max_points"]


@settings(max_examples=120, deadline=None)
@given(practice_counts())
def test_needed_for_upper_is_the_smallest_sufficient_number(drawn):
    reference, numerator, denominator, pcas, exclusions = drawn
    rows = _score_counts(reference, numerator, denominator, pcas, exclusions)
    for indicator in RATES:
        row = rows[indicator]
        for which in ("upper", "lower"):
            needed = row[f"needed_for_{which}"]
            if denominator == 0:
                assert needed is None or pd.isna(needed)
                continue
            threshold = Fraction(str(row[f"{which}_threshold"]))
            k = int(needed)
            assert k == needed and k >= 0
            assert Fraction(numerator + k, denominator) >= threshold
            if k > 0:
                assert Fraction(numerator + k - 1, denominator) < threshold
            assert numerator + k <= denominator
