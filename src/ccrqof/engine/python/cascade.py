"""Run every indicator's cascade at one reference date: one outcome row per patient."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ccrqof.dates import NaT, registered_on
from ccrqof.engine import EVIDENCE_COLUMNS, Evaluation
from ccrqof.engine.python.handlers import Timeline, holds, patient_date, population
from ccrqof.engine.python.prepare import Prepared
from ccrqof.rules.loader import RuleSet
from ccrqof.rules.model import REFERENCE, IndicatorPack, RuleKind

NOT_REGISTERED = "patients with entries of interest not registered at the reference date"
OUTCOME_OF_KIND = {
    RuleKind.select_register: "numerator",
    RuleKind.select_numerator: "numerator",
    RuleKind.select_denominator: "denominator",
    RuleKind.reject_exclusion: "exclusion",
    RuleKind.reject_pca: "pca",
}


def registered_at(prepared: Prepared, timeline: Timeline) -> tuple[np.ndarray, np.ndarray]:
    """Specified population at R and REG_DAT, the current registration's start (REG_DAT in
    docs/explanation-dates.md)."""
    n = prepared.n_patients
    if prepared.registrations is None:
        return np.ones(n, bool), np.full(n, NaT)
    regs = prepared.registrations
    start = regs["registration_date"].to_numpy("datetime64[D]")
    end = regs["deregistration_date"].to_numpy("datetime64[D]")
    current = registered_on(start, end, timeline.R)
    keys = regs["pkey"].to_numpy()[current]
    reg_dat = np.full(n, NaT)
    if len(keys):
        latest = np.full(n, np.iinfo(np.int64).min)
        np.maximum.at(latest, keys, start[current].astype(np.int64))
        has = latest != np.iinfo(np.int64).min
        reg_dat[has] = latest[has].astype("datetime64[D]")
    return ~np.isnat(reg_dat), reg_dat


@dataclass
class Trace:
    """One indicator's cascade over all patients: who entered, what each rule's condition
    said (before earlier rules took anyone), and which rule decided (-1: not in it)."""

    pack: IndicatorPack
    entered: np.ndarray
    conditions: list[np.ndarray]
    decided: np.ndarray
    timeline: Timeline  # with this pack's own dates

    @property
    def selected(self) -> np.ndarray:
        chosen = [i for i, r in enumerate(self.pack.rules) if r.kind.value.startswith("select")]
        return np.isin(self.decided, chosen)


def run_cascade(pack: IndicatorPack, timeline: Timeline, entered: np.ndarray) -> Trace:
    """Each patient leaves at the first rule whose condition holds."""
    decided = np.full(timeline.n, -1, dtype=np.int16)
    still_in = entered.copy()
    conditions = []
    for i, rule in enumerate(pack.rules):
        condition = holds(rule.when, timeline)
        conditions.append(condition)
        hit = still_in & condition
        decided[hit] = i
        still_in &= ~hit
    return Trace(pack, entered, conditions, decided, timeline)


def trace_all(
    prepared: Prepared, ruleset: RuleSet, ignored: Counter | None = None
) -> tuple[Timeline, np.ndarray, dict[str, Trace]]:
    """Every indicator's cascade at the rule set's reference date (registers first)."""
    ignored = Counter() if ignored is None else ignored
    timeline = Timeline(prepared, ruleset.reference_date)
    registered, reg_dat = registered_at(prepared, timeline)
    traces: dict[str, Trace] = {}
    computed: dict[tuple, np.ndarray] = {}  # packs that define a date alike share the work
    for pack in ruleset.ordered():
        view = timeline.scoped({"REG_DAT": reg_dat})
        keys: dict[str, tuple] = {"REG_DAT": ("REG_DAT",)}
        for name, definition in pack.dates.items():
            anchor = getattr(definition, "on_or_after", None)
            keys[name] = (definition, keys[anchor] if anchor else ())
            if keys[name] not in computed:
                computed[keys[name]] = patient_date(definition, view)
            view.dates[name] = computed[keys[name]]
        entrants = population(pack.population, view, registered, ignored)
        traces[pack.indicator] = run_cascade(pack, view, entrants)
        timeline.selected[pack.indicator] = traces[pack.indicator].selected
    return timeline, registered, traces


def evaluate(prepared: Prepared, ruleset: RuleSet) -> Evaluation:
    """Apply the rule set at its reference date to every patient at once."""
    ignored = Counter(prepared.counts)
    timeline, registered, traces = trace_all(prepared, ruleset, ignored)
    ignored["entries dated after the reference date"] = int(
        (prepared.entry_days > timeline.R).sum()
    )
    if prepared.registrations is not None:
        ignored[NOT_REGISTERED] = int((~registered).sum())
    dates = ruleset.outcome_dates()
    outcomes = pd.concat(
        [outcome_rows(t, prepared, dates) for t in traces.values()], ignore_index=True
    )
    evidence = pd.concat([evidence_rows(t, prepared) for t in traces.values()], ignore_index=True)
    return Evaluation(
        ruleset, outcomes, list(prepared.practices), ignored, list(prepared.notices), evidence
    )


def deadline_of(trace: Trace) -> np.ndarray:
    """The due_by deadline per patient (NaT without one): due_by arithmetic, once."""
    pack, timeline = trace.pack, trace.timeline
    if pack.due_by is None:
        return np.full(timeline.n, NaT)
    return timeline.per_patient(timeline.resolve(pack.due_by.deadline))


def outcome_rows(trace: Trace, prepared: Prepared, dates: tuple[str, ...]) -> pd.DataFrame:
    """One row per patient the cascade decided: outcome, rule, field, dates, due_by."""
    pack, timeline = trace.pack, trace.timeline
    keys = np.flatnonzero(trace.decided >= 0)
    rule_index = trace.decided[keys]
    rules = pack.rules
    outcome = np.array([OUTCOME_OF_KIND[r.kind] for r in rules], dtype=object)[rule_index]
    frame = pd.DataFrame(
        {
            "practice_code": prepared.patients["practice_code"].take(keys).to_numpy(),
            "patient_id": prepared.patients["patient_id"].take(keys).to_numpy(),
            "indicator": pack.indicator,
            "outcome": outcome,
            "rule": np.array([r.rule for r in rules], dtype=object)[rule_index],
            "field": np.array([r.field for r in rules], dtype=object)[rule_index],
        }
    )
    for name in dates:
        shown = name in pack.outcome_dates
        frame[name] = timeline.dates[name][keys] if shown else np.full(len(keys), NaT)
    deadline = deadline_of(trace)[keys]
    missing = pack.due_by.missing if pack.due_by else None
    still = (
        np.isnat(timeline.dates[missing][keys])
        & (outcome != "numerator")
        & (deadline >= timeline.R)
        if missing
        else np.zeros(len(keys), bool)
    )
    frame["due_by"] = np.where(still, deadline, NaT)
    frame["deadline"] = deadline
    return frame


def evidence_rows(trace: Trace, prepared: Prepared) -> pd.DataFrame:
    """Per decided patient, the count and latest date of each `Evidence` cluster's events."""
    pack, timeline = trace.pack, trace.timeline
    decided = trace.decided >= 0
    frames = []
    for item in pack.evidence():
        mask = timeline.in_cluster(item.cluster)
        if item.since.anchor == REFERENCE:  # (R - N, R]
            mask &= timeline.day > timeline.resolve(item.since)
        else:  # on or after the patient's date, up to R
            mask &= timeline.day >= timeline.resolve(item.since)[timeline.pkey]
        mask &= decided[timeline.pkey]
        keys, days = timeline.pkey[mask], timeline.day[mask]
        if not len(keys):
            continue
        people, count = np.unique(keys, return_counts=True)
        latest = pd.Series(days).groupby(keys).max().to_numpy("datetime64[D]")
        frames.append(
            pd.DataFrame(
                {
                    "practice_code": prepared.patients["practice_code"].take(people).to_numpy(),
                    "patient_id": prepared.patients["patient_id"].take(people).to_numpy(),
                    "indicator": pack.indicator,
                    "role": item.role,
                    "cluster": item.cluster,
                    "count": count,
                    "latest": latest,
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=list(EVIDENCE_COLUMNS))
    return pd.concat(frames, ignore_index=True)
