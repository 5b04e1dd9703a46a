"""The in-memory reference engine: numpy arrays over integer patient keys.

`prepare` keys every event to a patient once (docs/explanation-prepare.md); `evaluate` runs the
cascades at any reference date with one handler per rule-model node (handlers.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ccrqof.codelists import Codelist
from ccrqof.dates import registered_on
from ccrqof.engine import (
    ACTIVITY_COLUMNS,
    STEP_COLUMNS,
    TIMELINE_COLUMNS,
    Evaluation,
    PatientTrace,
    evaluate_each,
)
from ccrqof.engine.python.cascade import evaluate, outcome_rows, trace_all
from ccrqof.engine.python.handlers import DISPATCHERS, measures
from ccrqof.engine.python.prepare import Prepared, prepare
from ccrqof.readers import Extract
from ccrqof.rules.loader import RuleSet


class PythonEngine:
    name = "python"
    dispatchers = DISPATCHERS

    def prepare(
        self,
        extract: Extract,
        codelist: Codelist | None,
        rulesets: Sequence[RuleSet],
        *,
        also_patients: tuple[str, ...] = (),
    ) -> Prepared:
        """Keyed once for every rule set given (a trend's months may use several years)."""
        return prepare(
            extract,
            codelist,
            set().union(*(r.clusters() for r in rulesets)),
            also_patients=also_patients,
            every_patient=any(r.needs_every_patient() for r in rulesets),
            details=any(r.reads_patient_details() for r in rulesets),
        )

    def evaluate(self, handle: Prepared, ruleset: RuleSet) -> Evaluation:
        return evaluate(handle, ruleset)

    def evaluate_series(
        self,
        handle: Prepared,
        rulesets: Sequence[RuleSet],
        progress: Callable[[int], None] | None = None,
    ) -> list[Evaluation]:
        """One evaluation per reference date: the reference every series is checked against."""
        return evaluate_each(self, handle, rulesets, progress)

    def trace(
        self,
        handle: Prepared,
        ruleset: RuleSet,
        patient_id: str,
        practice_code: str | None = None,
    ) -> PatientTrace:
        """The same cascades run on just this patient's rows, so a trace never disagrees with
        the counts."""
        people = handle.patients
        match = people["patient_id"] == patient_id
        if practice_code is not None:
            match &= people["practice_code"] == practice_code
        sub = handle.subset(np.flatnonzero(match.to_numpy()))
        _, _, traces = trace_all(sub, ruleset)
        dates = ruleset.outcome_dates()
        outcomes = pd.concat([outcome_rows(t, sub, dates) for t in traces.values()])
        steps = []
        for tr in traces.values():
            entered = np.flatnonzero(tr.entered)
            for j, rule in enumerate(tr.pack.rules):
                said = measures(rule.when, tr.timeline)
                for i in entered:
                    steps.append(
                        {
                            "practice_code": sub.patients["practice_code"].iloc[i],
                            "patient_id": sub.patients["patient_id"].iloc[i],
                            "indicator": tr.pack.indicator,
                            "rule": rule.rule,
                            "held": bool(tr.conditions[j][i]),
                            "decided": bool(tr.decided[i] == j),
                            **{name: values[i] for name, values in said.items()},
                        }
                    )
        return PatientTrace(
            ruleset,
            sub.patients[["practice_code", "patient_id"]].reset_index(drop=True),
            outcomes.reset_index(drop=True),
            pd.DataFrame(steps, columns=list(STEP_COLUMNS)),
            _timeline(sub),
        )

    def activity(
        self,
        handle: Prepared,
        measures: dict[str, tuple[str, ...]],
        first: dt.date,
        last: dt.date,
    ) -> pd.DataFrame:
        """Entries per practice, measure and month (the Engine protocol's `activity`)."""
        in_range = (handle.day >= np.datetime64(first, "D")) & (
            handle.day <= np.datetime64(last, "D")
        )
        practices = handle.patients["practice_code"].to_numpy(object)
        frames = []
        for measure, clusters in measures.items():
            keep = in_range & np.isin(handle.cluster, handle.cluster_ids(clusters))
            days = pd.DataFrame({"pkey": handle.pkey[keep], "day": handle.day[keep]})
            days = _while_registered(days.drop_duplicates(), handle.registrations)
            frames.append(
                pd.DataFrame(
                    {
                        "practice_code": practices[days["pkey"].to_numpy()],
                        "measure": measure,
                        "month": days["day"].to_numpy("datetime64[M]").astype(str),
                    }
                )
            )
        rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if rows.empty:
            return pd.DataFrame(columns=list(ACTIVITY_COLUMNS)).astype({"count": "int64"})
        counted = rows.groupby(["practice_code", "measure", "month"], dropna=False).size()
        return counted.reset_index(name="count").astype({"count": "int64"})


def _while_registered(days: pd.DataFrame, registrations: pd.DataFrame | None) -> pd.DataFrame:
    """The (pkey, day) rows dated while the patient was registered at the practice (all of
    them without a patients file): an entry brought from a former practice is not this one's."""
    if registrations is None:
        return days
    joined = days.merge(registrations, on="pkey")
    day = joined["day"].to_numpy("datetime64[D]")
    held = registered_on(
        joined["registration_date"].to_numpy("datetime64[D]"),
        joined["deregistration_date"].to_numpy("datetime64[D]"),
        day,
    )
    return joined.loc[held, ["pkey", "day"]].drop_duplicates()


def _timeline(sub: Prepared) -> pd.DataFrame:
    """Registrations and entries in the rules' clusters, per patient key of the subset."""
    rows = []
    ids = sub.patients[["practice_code", "patient_id"]].to_numpy()
    if sub.registrations is not None:
        for key, start, end in sub.registrations[
            ["pkey", "registration_date", "deregistration_date"]
        ].itertuples(index=False):
            rows.append((*ids[key], start, "registered", None, None, None))
            if not pd.isna(end):
                rows.append((*ids[key], end, "deregistered", None, None, None))
    for k in range(len(sub.pkey)):
        rows.append(
            (
                *ids[sub.pkey[k]],
                sub.day[k],
                "entry",
                sub.cluster_names[sub.cluster[k]],
                str(sub.code_names[sub.code[k]]) or None,
                sub.episode_names[sub.episode[k]] or None,
            )
        )
    frame = pd.DataFrame(rows, columns=list(TIMELINE_COLUMNS))
    frame["date"] = pd.to_datetime(frame["date"]).to_numpy("datetime64[D]")
    return frame


__all__ = ["Prepared", "PythonEngine", "prepare"]
