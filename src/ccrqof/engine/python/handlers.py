"""One handler per kind of rule-model node, vectorised over all patients at once.

Patient dates are ``datetime64[D]`` arrays indexed by patient key; NaT (no such date) makes
every comparison False, so a rule about a missing date never fires. Each `singledispatch`
function below has a handler for every kind in `ccrqof.rules.model`'s *_KINDS tuples
(tests/test_registry.py checks it).
"""

from __future__ import annotations

import copy
import datetime as dt
from functools import singledispatch

import numpy as np

from ccrqof.dates import NaT, age_at, to_day
from ccrqof.engine.python.prepare import Prepared
from ccrqof.rules.model import (
    REFERENCE,
    SEX_WORDS,
    AgeOutside,
    Always,
    DateExpr,
    DateTest,
    EarliestEventFrom,
    EventCountTest,
    LatestEvent,
    Registered,
    RegisterOf,
)

_MIN = np.iinfo(np.int64).min
_MAX = np.iinfo(np.int64).max
NO_SEX = "registered patients with no sex recorded"
NO_BIRTH_DATE = "registered patients with no date of birth recorded"


class Timeline:
    """The events of a prepared extract seen at reference date R (later events ignored)."""

    def __init__(self, prepared: Prepared, reference_date: dt.date) -> None:
        self.R = to_day(reference_date)
        visible = prepared.day <= self.R
        self.n = prepared.n_patients
        self.pkey = prepared.pkey[visible]
        self.cluster = prepared.cluster[visible]
        self.day = prepared.day[visible]
        self.episode = prepared.episode[visible]
        self.prepared = prepared
        self.dates: dict[str, np.ndarray] = {}
        self.selected: dict[str, np.ndarray] = {}  # each register's patients, once it has run

    def scoped(self, dates: dict[str, np.ndarray]) -> Timeline:
        """The same events seen with one pack's own dates: a pack's names are its own, so two
        packs may define CAN_DAT differently without one silently using the other's."""
        view = copy.copy(self)
        view.dates = dates
        return view

    def in_cluster(self, cluster: str) -> np.ndarray:
        ids = self.prepared.cluster_ids([cluster])
        return self.cluster == ids[0] if ids else np.zeros(len(self.cluster), bool)

    def resolve(self, expr: DateExpr) -> np.ndarray | np.datetime64:
        """A date expression as a scalar (R or fixed based) or per-patient array."""
        if expr.fixed is not None:
            base = to_day(expr.fixed)
        elif expr.anchor == REFERENCE:
            base = self.R
        else:
            base = self.dates[expr.anchor]
        return expr.offset.apply(base) if expr.offset else base

    def window(self, in_last) -> tuple[np.datetime64, np.ndarray]:
        """The window ``(R - N, R]`` (docs/explanation-dates.md): its exclusive start, and which
        visible events fall in it. Every window of this engine is worked out here."""
        start = in_last.apply(self.R)
        return start, self.day > start

    def per_patient(self, value) -> np.ndarray:
        """A scalar or per-patient date as one date per patient."""
        return np.broadcast_to(np.asarray(value, "datetime64[D]"), (self.n,))


def reduce_days(n: int, keys: np.ndarray, days: np.ndarray, latest: bool) -> np.ndarray:
    """The latest (or earliest) day per patient key, NaT for a patient with none."""
    values = days.astype(np.int64)
    out = np.full(n, _MIN if latest else _MAX, dtype=np.int64)
    (np.maximum if latest else np.minimum).at(out, keys, values)
    result = out.astype("datetime64[D]")
    result[out == (_MIN if latest else _MAX)] = NaT
    return result


# --- patient dates ---------------------------------------------------------------------------


@singledispatch
def patient_date(definition, timeline: Timeline) -> np.ndarray:
    raise TypeError(f"no handler for date definition {type(definition).__name__}")


@patient_date.register
def _latest(definition: LatestEvent, timeline: Timeline) -> np.ndarray:
    mask = timeline.in_cluster(definition.latest)
    if definition.exclude_episodes:
        # a blank or unknown episode counts as first/new (docs/explanation-dates.md)
        excluded = timeline.prepared.episode_ids(definition.exclude_episodes)
        mask &= ~np.isin(timeline.episode, excluded)
    return reduce_days(timeline.n, timeline.pkey[mask], timeline.day[mask], latest=True)


@patient_date.register
def _earliest_from(definition: EarliestEventFrom, timeline: Timeline) -> np.ndarray:
    anchor = timeline.dates[definition.on_or_after][timeline.pkey]
    mask = timeline.in_cluster(definition.earliest) & (timeline.day >= anchor)
    return reduce_days(timeline.n, timeline.pkey[mask], timeline.day[mask], latest=False)


# --- conditions ------------------------------------------------------------------------------

_COMPARE = {
    "on_or_before": np.less_equal,
    "before": np.less,
    "after": np.greater,
    "on_or_after": np.greater_equal,
}


@singledispatch
def holds(condition, timeline: Timeline) -> np.ndarray:
    """Boolean mask over patients: does the rule's condition hold?"""
    raise TypeError(f"no handler for condition {type(condition).__name__}")


@holds.register
def _always(condition: Always, timeline: Timeline) -> np.ndarray:
    return np.ones(timeline.n, bool)


@holds.register
def _date_test(condition: DateTest, timeline: Timeline) -> np.ndarray:
    date = timeline.dates[condition.date]
    bound = timeline.resolve(condition.bound)
    return _COMPARE[condition.comparison](date, bound) & ~np.isnat(date)


def _window_events(condition: EventCountTest, timeline: Timeline):
    start, in_window = timeline.window(condition.in_last)
    mask = timeline.in_cluster(condition.events) & in_window
    return start, timeline.pkey[mask], timeline.day[mask]


@holds.register
def _event_count(condition: EventCountTest, timeline: Timeline) -> np.ndarray:
    _, keys, days = _window_events(condition, timeline)
    ok = np.bincount(keys, minlength=timeline.n) >= condition.at_least
    if condition.min_span_days:
        first = reduce_days(timeline.n, keys, days, latest=False)
        last = reduce_days(timeline.n, keys, days, latest=True)
        span = (last - first).astype("timedelta64[D]").astype(np.int64, copy=False)
        ok &= ~np.isnat(first) & (span >= condition.min_span_days)
    return ok


def birth_dates(timeline: Timeline) -> np.ndarray:
    """Each patient's date of birth (NaT where none is recorded)."""
    people = timeline.prepared.patients
    return _attribute(people, "date_of_birth").to_numpy("datetime64[D]")


@holds.register
def _age_outside(condition: AgeOutside, timeline: Timeline) -> np.ndarray:
    birth = birth_dates(timeline)
    age = age_at(birth, timeline.R)
    band = condition.age_outside
    return ~np.isnat(birth) & ((age < band.lowest) | (age > band.highest))


@singledispatch
def measures(condition, timeline: Timeline) -> dict[str, np.ndarray]:
    """What an explanation says about a condition, per patient (STEP_COLUMNS' measures)."""
    raise TypeError(f"no handler for condition {type(condition).__name__}")


@measures.register
def _always_measures(condition: Always, timeline: Timeline) -> dict[str, np.ndarray]:
    return {}


@measures.register
def _date_test_measures(condition: DateTest, timeline: Timeline) -> dict[str, np.ndarray]:
    return {
        "value": timeline.dates[condition.date],
        "bound": timeline.per_patient(timeline.resolve(condition.bound)),
    }


@measures.register
def _event_count_measures(condition: EventCountTest, timeline: Timeline) -> dict[str, np.ndarray]:
    start, keys, days = _window_events(condition, timeline)
    return {
        "bound": timeline.per_patient(start),
        "count": np.bincount(keys, minlength=timeline.n),
        "first": reduce_days(timeline.n, keys, days, latest=False),
        "last": reduce_days(timeline.n, keys, days, latest=True),
    }


@measures.register
def _age_outside_measures(condition: AgeOutside, timeline: Timeline) -> dict[str, np.ndarray]:
    return {"value": birth_dates(timeline), "bound": timeline.per_patient(timeline.R)}


# --- populations -----------------------------------------------------------------------------


@singledispatch
def population(definition, timeline: Timeline, registered: np.ndarray, ignored) -> np.ndarray:
    """Who enters a cascade: a mask over patients."""
    raise TypeError(f"no handler for population {type(definition).__name__}")


@population.register
def _registered(
    definition: Registered, timeline: Timeline, registered: np.ndarray, ignored
) -> np.ndarray:
    people = timeline.prepared.patients
    entered = registered.copy()
    if definition.sex is not None:
        sex = _attribute(people, "sex")
        known = registered & sex.notna().to_numpy() & (sex.str.strip() != "").to_numpy()
        ignored[NO_SEX] = int((registered & ~known).sum())
        words = SEX_WORDS[definition.sex]
        entered &= known & sex.str.strip().str.lower().isin(words).to_numpy()
    if definition.needs_birth_date:
        birth = birth_dates(timeline)
        ignored[NO_BIRTH_DATE] = int((registered & np.isnat(birth)).sum())
        entered &= ~np.isnat(birth)
    if definition.age is not None:
        age = age_at(birth, timeline.R)
        entered &= (age >= definition.age.lowest) & (age <= definition.age.highest)
    return entered


def _attribute(people, name: str):
    import pandas as pd

    if name in people:
        return people[name]
    kind = "datetime64[s]" if name == "date_of_birth" else object
    return pd.Series(None, index=people.index, dtype=kind)


@population.register
def _register_of(
    definition: RegisterOf, timeline: Timeline, registered: np.ndarray, ignored
) -> np.ndarray:
    return timeline.selected[definition.indicator]


DISPATCHERS = {
    "condition": holds,
    "condition measures": measures,
    "date": patient_date,
    "population": population,
}
