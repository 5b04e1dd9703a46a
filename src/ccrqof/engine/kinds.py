"""The closed set of rule kinds, each one vectorised over all patients at once.

Patient dates are ``datetime64[D]`` arrays indexed by patient key; NaT (no such date) makes
every comparison False, so a rule about a missing date never fires.
"""

from __future__ import annotations

import copy
import datetime as dt

import numpy as np

from ccrqof.dates import NaT, to_day
from ccrqof.engine.prepare import Prepared
from ccrqof.rules.model import (
    REFERENCE,
    DateDefinition,
    DateExpr,
    DateTest,
    EarliestEventFrom,
    EventCountTest,
    LatestEvent,
)

_MIN = np.iinfo(np.int64).min
_MAX = np.iinfo(np.int64).max


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


def _reduce(n: int, keys: np.ndarray, days: np.ndarray, latest: bool) -> np.ndarray:
    values = days.astype(np.int64)
    out = np.full(n, _MIN if latest else _MAX, dtype=np.int64)
    (np.maximum if latest else np.minimum).at(out, keys, values)
    result = out.astype("datetime64[D]")
    result[out == (_MIN if latest else _MAX)] = NaT
    return result


def patient_date(timeline: Timeline, definition: DateDefinition) -> np.ndarray:
    """CAN_DAT-style dates: latest / earliest event of a cluster, per patient."""
    if isinstance(definition, LatestEvent):
        mask = timeline.in_cluster(definition.latest)
        if definition.exclude_episodes:
            # a blank or unknown episode counts as first/new (docs/explanation-dates.md)
            excluded = timeline.prepared.episode_ids(definition.exclude_episodes)
            mask &= ~np.isin(timeline.episode, excluded)
        return _reduce(timeline.n, timeline.pkey[mask], timeline.day[mask], latest=True)
    if isinstance(definition, EarliestEventFrom):
        anchor = timeline.dates[definition.on_or_after][timeline.pkey]
        mask = timeline.in_cluster(definition.earliest) & (timeline.day >= anchor)
        return _reduce(timeline.n, timeline.pkey[mask], timeline.day[mask], latest=False)
    raise TypeError(f"unknown date definition {definition!r}")  # pragma: no cover


def matches(timeline: Timeline, condition) -> np.ndarray:
    """Boolean mask over patients: does the rule's condition hold?"""
    if condition == "always":
        return np.ones(timeline.n, bool)
    if isinstance(condition, DateTest):
        date = timeline.dates[condition.date]
        bound = timeline.resolve(condition.bound)
        compare = {
            "on_or_before": np.less_equal,
            "before": np.less,
            "after": np.greater,
            "on_or_after": np.greater_equal,
        }[condition.comparison]
        return compare(date, bound) & ~np.isnat(date)
    if isinstance(condition, EventCountTest):
        start = condition.in_last.apply(timeline.R)  # window (R - N, R]
        mask = timeline.in_cluster(condition.events) & (timeline.day > start)
        keys, days = timeline.pkey[mask], timeline.day[mask]
        count = np.bincount(keys, minlength=timeline.n)
        ok = count >= condition.at_least
        if condition.min_span_days:
            first = _reduce(timeline.n, keys, days, latest=False)
            last = _reduce(timeline.n, keys, days, latest=True)
            span = (last - first).astype("timedelta64[D]").astype(np.int64, copy=False)
            ok &= ~np.isnat(first) & (span >= condition.min_span_days)
        return ok
    raise TypeError(f"unknown condition {condition!r}")  # pragma: no cover
