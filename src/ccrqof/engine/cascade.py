"""Run every indicator's cascade at one reference date: one outcome row per patient."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ccrqof.dates import NaT
from ccrqof.engine.kinds import Timeline, matches, patient_date
from ccrqof.engine.prepare import Prepared
from ccrqof.rules.loader import RuleSet
from ccrqof.rules.model import IndicatorPack, RuleKind

OUTCOME_DATES = ("CAN_DAT", "MDRV_DAT", "SUPP_DAT", "REG_DAT")
OUTCOME_COLUMNS = (
    "practice_code",
    "patient_id",
    "indicator",
    "outcome",
    "rule",
    "field",
    *OUTCOME_DATES,
    "due_by",
)
NOT_REGISTERED = "patients with entries of interest not registered at the reference date"
_OUTCOME = {
    RuleKind.select_register: "numerator",
    RuleKind.select_numerator: "numerator",
    RuleKind.select_denominator: "denominator",
    RuleKind.reject_exclusion: "exclusion",
    RuleKind.reject_pca: "pca",
}


@dataclass
class Evaluation:
    """Patient-level outcomes at one reference date, and what was ignored on the way."""

    ruleset: RuleSet
    outcomes: pd.DataFrame  # OUTCOME_COLUMNS, one row per register patient per indicator
    practices: list  # every practice in the extract, also those with an empty register
    ignored: Counter = field(default_factory=Counter)
    notices: list[str] = field(default_factory=list)
    prepared: Prepared | None = field(default=None, repr=False)  # for views that need events


def registered_at(prepared: Prepared, timeline: Timeline) -> tuple[np.ndarray, np.ndarray]:
    """Specified population at R and REG_DAT, the current registration's start (REG_DAT in
    docs/explanation-dates.md)."""
    n = prepared.n_patients
    if prepared.registrations is None:
        return np.ones(n, bool), np.full(n, NaT)
    regs = prepared.registrations
    start = regs["registration_date"].to_numpy("datetime64[D]")
    end = regs["deregistration_date"].to_numpy("datetime64[D]")
    current = (start <= timeline.R) & (np.isnat(end) | (end > timeline.R))
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
        holds = matches(timeline, rule.when)
        conditions.append(holds)
        hit = still_in & holds
        decided[hit] = i
        still_in &= ~hit
    return Trace(pack, entered, conditions, decided, timeline)


def trace(prepared: Prepared, ruleset: RuleSet) -> tuple[Timeline, np.ndarray, dict[str, Trace]]:
    """Every indicator's cascade at the rule set's reference date (registers first)."""
    timeline = Timeline(prepared, ruleset.reference_date)
    population, reg_dat = registered_at(prepared, timeline)
    timeline.dates["REG_DAT"] = reg_dat
    traces: dict[str, Trace] = {}
    computed: dict[tuple, np.ndarray] = {}  # packs that define a date alike share the work
    for pack in ruleset.ordered():
        view = timeline.scoped({"REG_DAT": reg_dat})
        keys: dict[str, tuple] = {"REG_DAT": ("REG_DAT",)}
        for name, definition in pack.dates.items():
            anchor = getattr(definition, "on_or_after", None)
            keys[name] = (definition, keys[anchor] if anchor else ())
            if keys[name] not in computed:
                computed[keys[name]] = patient_date(view, definition)
            view.dates[name] = computed[keys[name]]
        entrants = population if pack.is_register else traces[pack.population].selected
        traces[pack.indicator] = run_cascade(pack, view, entrants)
    return timeline, population, traces


def evaluate(prepared: Prepared, ruleset: RuleSet) -> Evaluation:
    """Apply the rule set at its reference date to every patient at once."""
    timeline, population, traces = trace(prepared, ruleset)
    ignored = Counter(prepared.counts)
    ignored["entries dated after the reference date"] = int(
        (prepared.entry_days > timeline.R).sum()
    )
    if prepared.registrations is not None:
        ignored[NOT_REGISTERED] = int((~population).sum())
    frames = [
        _outcome_rows(t.pack, t.timeline, prepared, t.decided, t.decided >= 0)
        for t in traces.values()
    ]
    outcomes = pd.concat(frames, ignore_index=True)
    return Evaluation(
        ruleset, outcomes, list(prepared.practices), ignored, list(prepared.notices), prepared
    )


def _outcome_rows(
    pack: IndicatorPack,
    timeline: Timeline,
    prepared: Prepared,
    decided: np.ndarray,
    in_pack: np.ndarray,
) -> pd.DataFrame:
    keys = np.flatnonzero(in_pack)
    rule_index = decided[keys]
    rules = pack.rules
    outcome = np.array([_OUTCOME[r.kind] for r in rules], dtype=object)[rule_index]
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
    for name in OUTCOME_DATES:
        used = name in pack.dates or (name == "REG_DAT" and not pack.is_register)
        frame[name] = timeline.dates[name][keys] if used else NaT
    due = np.full(len(keys), NaT)
    if pack.due_by is not None:
        deadline = timeline.resolve(pack.due_by.deadline)
        deadline = np.broadcast_to(deadline, (timeline.n,))[keys]
        still = (
            np.isnat(timeline.dates[pack.due_by.missing][keys])
            & (outcome != "numerator")
            & (deadline >= timeline.R)
        )
        due[still] = deadline[still]
    frame["due_by"] = due
    return frame
