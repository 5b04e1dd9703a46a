"""Properties of worklists and explanations on drawn extracts (the differential test's boundary
scenarios, plus scenarios of recent diagnoses so that the lists are rarely empty): the worklist
is a view of the outcome rows the counts come from, and an explanation never disagrees with
them."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import Event, Registration, add_months
from test_differential import (
    OLD_REGISTRATION,
    PRACTICES,
    Scenario,
    chosen,
    reference_dates,
    run_ccrqof,
    scenarios,
    to_extract,
)
from test_explain_cases import structural_problems
from test_worklist_cases import brute_force

import ccrqof
from ccrqof.explanation import explain_patient
from ccrqof.worklist import build_worklist

LISTED = ("CAN004", "CAN005")
PCA_CLUSTERS = ("CANPCAPU_COD", "CANPCADEC_COD")  # the order of their rules (R6/R7, R5/R6)
ONE = dt.timedelta(days=1)


@st.composite
def listable_scenarios(draw, max_patients: int = 12) -> Scenario:
    """Patients diagnosed in the last ~16 months (many still achievable), some at R - 3 or
    R - 12 months exactly (deadline on R), with reviews, support, invitations around the
    diagnosis date and PCA codes; mostly old registrations, some recent, some none at all."""
    reference = draw(reference_dates())
    practices = PRACTICES[: draw(st.integers(1, 3))]
    with_registrations = draw(st.booleans())
    patients, events, registrations = [], [], []
    for i in range(draw(st.integers(1, max_patients))):
        practice, patient = draw(st.sampled_from(practices)), f"{i:03d}"
        patients.append((practice, patient))
        diagnosis = draw(
            st.one_of(
                st.builds(lambda d: reference - d * ONE, st.integers(0, 480)),
                st.builds(
                    lambda m, d: add_months(reference, -m) + d * ONE,
                    st.sampled_from((3, 12)),
                    st.sampled_from((-1, 0, 0, 1)),
                ),
            )
        )

        def event(cluster, day, patient=patient, practice=practice):
            return Event(patient, practice, cluster, day)

        events.append(event("CAN_COD", diagnosis))
        if draw(st.integers(0, 2)) == 0:
            events.append(event("MDRV_COD", diagnosis + draw(st.integers(0, 420)) * ONE))
        if draw(st.integers(0, 2)) == 0:
            events.append(event("CANPCSUPP_COD", diagnosis + draw(st.integers(0, 120)) * ONE))
        for _ in range(draw(st.integers(0, 3))):
            events.append(event("CANINVITE_COD", diagnosis + draw(st.integers(-30, 400)) * ONE))
        if draw(st.integers(0, 2)) == 0:
            cluster = draw(st.sampled_from(PCA_CLUSTERS))
            events.append(event(cluster, reference - draw(st.integers(-10, 400)) * ONE))
        if with_registrations:
            start = draw(
                st.one_of(
                    st.just(OLD_REGISTRATION),
                    st.builds(lambda d: reference - d * ONE, st.integers(-5, 200)),
                )
            )
            registrations.append(Registration(patient, practice, start))
    return Scenario(
        reference, None, patients, events, registrations if with_registrations else None
    )


def any_scenario(max_patients: int):
    return st.one_of(scenarios(max_patients=max_patients), listable_scenarios(max_patients))


def _day(value) -> dt.date | None:
    return None if pd.isna(value) else pd.Timestamp(value).date()


def _keys(frame: pd.DataFrame) -> list[tuple]:
    return list(zip(frame["indicator"], frame["practice_code"], frame["patient_id"], strict=True))


def _events_by_patient(scenario) -> dict[tuple, list]:
    found: dict[tuple, list] = {}
    for e in scenario.events:
        found.setdefault((e.practice, e.patient), []).append(e)
    return found


@settings(
    max_examples=70,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(any_scenario(12), st.integers(0, 400))
def test_worklist_is_the_register_patients_with_a_due_by(scenario, within):
    evaluation, summary = run_ccrqof(scenario, indicators=chosen(scenario))
    R = evaluation.ruleset.reference_date
    outcomes = evaluation.outcomes
    rows = {
        (r["indicator"], r["practice_code"], r["patient_id"]): r
        for r in outcomes.to_dict("records")
    }
    worklist = build_worklist(evaluation, summary)
    contact, failing = worklist.to_contact, worklist.will_fail

    listed = outcomes[outcomes["indicator"].isin(LISTED)]
    want_contact = set(_keys(listed[listed["due_by"].notna()]))
    want_failing = set(
        _keys(listed[(listed["outcome"] == "denominator") & listed["due_by"].isna()])
    )
    assert len(_keys(contact)) == len(set(_keys(contact))), "a patient listed twice"
    assert set(_keys(contact)) == want_contact, scenario.describe()
    assert len(_keys(failing)) == len(set(_keys(failing)))
    assert set(_keys(failing)) == want_failing, scenario.describe()
    assert not want_contact & want_failing

    due = [_day(d) for d in contact["due_by"]]
    assert due == sorted(due), "to_contact is sorted by due_by"
    events = _events_by_patient(scenario)
    window_start = add_months(R, -12)
    for row in contact.to_dict("records"):
        key = (row["indicator"], row["practice_code"], row["patient_id"])
        source = rows[key]
        assert (row["outcome"], row["rule"]) == (source["outcome"], source["rule"])
        assert _day(row["due_by"]) == _day(source["due_by"])
        assert _day(row["CAN_DAT"]) == _day(source["CAN_DAT"])
        assert row["days_left"] == (_day(row["due_by"]) - R).days >= 0
        # invitations on or after CAN_DAT and up to R (exact duplicate rows count once)
        mine = events.get((row["practice_code"], row["patient_id"]), [])
        can_dat = _day(row["CAN_DAT"])
        invited = sorted(
            {e.date for e in mine if e.cluster == "CANINVITE_COD" and can_dat <= e.date <= R}
        )
        assert row["invitations"] == len(invited), scenario.describe()
        assert _day(row["last_invitation"]) == (invited[-1] if invited else None)
        # PCA codes: the latest of each kind in the 12 months up to R
        parts = []
        for cluster in PCA_CLUSTERS:
            days = [e.date for e in mine if e.cluster == cluster and window_start < e.date <= R]
            if days:
                parts.append(f"{cluster} {max(days).isoformat()}")
        assert row["pca_codes"] == "; ".join(parts), scenario.describe()
    for row in failing.to_dict("records"):
        assert (
            rows[(row["indicator"], row["practice_code"], row["patient_id"])]["rule"]
            == (row["rule"])
        )

    # targets: one row per practice and indicator scored, counting the listed patients
    for target in worklist.targets.to_dict("records"):
        mine = contact[
            (contact["indicator"] == target["indicator"])
            & (contact["practice_code"] == target["practice_code"])
        ]
        assert target["listed"] == len(mine)
        inside = int((mine["outcome"] == "denominator").sum())
        pack = evaluation.ruleset.packs[target["indicator"]]
        for name, threshold in (
            ("needed_for_lower", pack.thresholds.lower),
            ("needed_for_upper", pack.thresholds.upper),
        ):
            needed = None if pd.isna(target[name]) else int(target[name])
            want = brute_force(
                threshold, target["numerator"], target["denominator"], inside, len(mine) - inside
            )
            assert needed == want, (target, scenario.describe())

    # --within only ever removes rows: exactly those due after R + within days
    narrowed = build_worklist(evaluation, summary, within_days=within)
    horizon = R + dt.timedelta(days=within)
    kept = {k for k, d in zip(_keys(contact), due, strict=True) if d <= horizon}
    assert set(_keys(narrowed.to_contact)) == kept
    assert _keys(narrowed.will_fail) == _keys(failing)
    # one indicator only: that indicator's rows, unchanged
    for indicator in LISTED:
        alone = build_worklist(evaluation, summary, [indicator])
        assert set(_keys(alone.to_contact)) == {k for k in want_contact if k[0] == indicator}
        assert set(_keys(alone.will_fail)) == {k for k in want_failing if k[0] == indicator}


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(any_scenario(8))
def test_explanations_never_disagree_with_counts(scenario):
    evaluation, _ = run_ccrqof(scenario, indicators=chosen(scenario))
    rows = {
        (r["indicator"], r["practice_code"], r["patient_id"]): r
        for r in evaluation.outcomes.to_dict("records")
    }
    engine = ccrqof.get_engine("python")  # run_ccrqof's engine; its handle lists the patients
    handle = engine.prepare(to_extract(scenario), None, [evaluation.ruleset])
    for practice, patient in handle.patients[["practice_code", "patient_id"]].itertuples(
        index=False
    ):
        explanations = explain_patient(engine, handle, evaluation.ruleset, patient, practice)
        assert len(explanations) == 1
        assert not structural_problems(evaluation.ruleset, explanations[0])
        for ind in explanations[0].indicators:
            row = rows.get((ind.indicator, practice, patient))
            want_rule = None if row is None else row["rule"]
            assert ind.rule == want_rule, (ind, scenario.describe())
            want_due = None if row is None else _day(row["due_by"])
            got_due = None if ind.due_by is None else dt.date.fromisoformat(ind.due_by)
            assert got_due == want_due, (ind, scenario.describe())
            if row is not None:
                decided = [s for s in ind.steps if s.decided]
                assert [s.rule for s in decided] == [row["rule"]]
                assert bool(np.all([s.matched for s in decided]))
