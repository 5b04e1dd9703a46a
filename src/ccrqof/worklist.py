"""Worklists: who can still achieve an indicator before their deadline, and who will count as a
failure if nothing changes. Views of the same outcome rows the counts come from."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import pandas as pd

from ccrqof.dates import pped, qof_year_containing, to_day
from ccrqof.engine import Evaluation
from ccrqof.rules.model import IndicatorPack


def to_contact_columns(dates: tuple[str, ...], recall: bool = False) -> tuple[str, ...]:
    """The to-contact list's columns; `dates` are the deadlines' anchors (CAN_DAT) and the
    screening tests (SMEAR_DAT); `recall`: a screening indicator is listed, so the day a
    numerator patient's test leaves the window is shown."""
    return (
        "practice_code",
        "patient_id",
        "indicator",
        "outcome",
        "rule",
        "field",
        *dates,
        "due_by",
        "days_left",
        *(("leaves_window",) if recall else ()),
        "invitations",
        "last_invitation",
        "pca_codes",
    )


def will_fail_columns(dates: tuple[str, ...]) -> tuple[str, ...]:
    return ("practice_code", "patient_id", "indicator", "rule", *dates, "why")


@dataclass
class Worklist:
    to_contact: pd.DataFrame  # achievable: no qualifying event yet and due_by >= R
    will_fail: pd.DataFrame  # in the denominator, not the numerator, no longer achievable
    targets: pd.DataFrame  # per practice and indicator: listed patients needed for thresholds
    dates: dict[str, str] = field(default_factory=dict)  # deadline anchors and their words
    recall: bool = False  # a screening indicator is listed (leaves_window shown)

    @property
    def to_contact_columns(self) -> tuple[str, ...]:
        return to_contact_columns(tuple(self.dates), self.recall)

    @property
    def will_fail_columns(self) -> tuple[str, ...]:
        return will_fail_columns(tuple(self.dates))


def needed_from_list(
    threshold: float, numerator: int, denominator: int, in_denominator: int, outside: int
) -> int | None:
    """Fewest listed patients to achieve to reach `threshold`, or None if the list cannot.

    Achieving a listed patient already in the denominator adds to the numerator only; one
    outside it (excluded, PCA) joins both, because the numerator rule comes first. The first
    kind lifts achievement more, so they are counted first.
    """
    t = Fraction(str(threshold))
    short = t * denominator - numerator
    if denominator == 0:
        return 1 if outside else None
    if short <= 0:
        return 0
    if short <= in_denominator:
        return math.ceil(short)
    if t == 1:
        return None
    extra = math.ceil((short - in_denominator) / (1 - t))
    return in_denominator + extra if extra <= outside else None


def build_worklist(
    evaluation: Evaluation, summary: pd.DataFrame, indicators=None, within_days: int | None = None
) -> Worklist:
    """The worklist at the evaluation's reference date, sorted by due_by: read from the outcome
    and evidence tables alone, so it is the same on every engine."""
    ruleset = evaluation.ruleset
    R = to_day(ruleset.reference_date)
    packs = [
        p
        for p in ruleset.ordered()
        if listable(p) and (not indicators or p.indicator in indicators)
    ]
    out, evidence = evaluation.outcomes, evaluation.evidence
    contact_parts, fail_parts = [], []
    for pack in packs:
        rows = out[out["indicator"] == pack.indicator]
        if pack.recall is not None:
            achievable = _recall(pack, rows, R, to_day(pped(qof_year_containing(R.item()))))
        else:
            achievable = rows[rows["due_by"].notna()].copy()
        found = evidence[evidence["indicator"] == pack.indicator]
        invites = found[found["role"] == "invitation"]
        count = _per_patient(achievable, invites, "count", "sum")
        achievable["invitations"] = count.fillna(0).astype("int64")
        achievable["last_invitation"] = pd.to_datetime(
            _per_patient(achievable, invites, "latest", "max")
        )
        labels = pd.Series("", index=achievable.index, dtype=object)
        for item in pack.evidence():
            if item.role != "pca":
                continue
            pca = found[(found["role"] == "pca") & (found["cluster"] == item.cluster)]
            latest = pd.to_datetime(_per_patient(achievable, pca, "latest", "max"))
            text = item.cluster + " " + latest.dt.strftime("%Y-%m-%d")
            labels = labels.where(
                latest.isna(), labels.where(labels == "", labels + "; ") + text.fillna("")
            )
        achievable["pca_codes"] = labels
        achievable["days_left"] = (achievable["due_by"].to_numpy("datetime64[D]") - R).astype(int)
        contact_parts.append(achievable)
        if pack.recall is not None:
            continue  # anyone in the denominator can still be screened by the year end
        failing = rows[(rows["outcome"] == "denominator") & rows["due_by"].isna()].copy()
        failing["why"] = _why_failing(pack, failing)
        fail_parts.append(failing)

    dates = {
        p.due_by.deadline.anchor: p.word(p.due_by.deadline.anchor)
        for p in packs
        if p.due_by is not None and p.due_by.deadline.anchor in p.outcome_dates
    }
    dates.update({p.recall.date: p.word(p.recall.date) for p in packs if p.recall is not None})
    recall = any(p.recall is not None for p in packs)
    to_contact = _concat(contact_parts, to_contact_columns(tuple(dates), recall))
    targets = _targets(summary, to_contact, packs)
    if within_days is not None:
        horizon = R + np.timedelta64(within_days, "D")
        to_contact = to_contact[to_contact["due_by"].to_numpy("datetime64[D]") <= horizon]
    to_contact = to_contact.sort_values(
        ["due_by", "practice_code", "indicator", "patient_id"], ignore_index=True
    )
    will_fail = _concat(fail_parts, will_fail_columns(tuple(dates))).sort_values(
        ["practice_code", "indicator", *dates, "patient_id"], ignore_index=True
    )
    return Worklist(to_contact, will_fail, targets, dates, recall)


def listable(pack: IndicatorPack) -> bool:
    """Has the indicator a worklist: a deadline per patient, or a screening recall."""
    return pack.due_by is not None or pack.recall is not None


def _recall(pack: IndicatorPack, rows: pd.DataFrame, R, year_end) -> pd.DataFrame:
    """A screening indicator's list: everyone in the denominator (screened by the year end,
    they count), due by the year end; and everyone in the numerator whose test leaves the
    window by the year end, due the last day it still counts (`leaves_window` the day after)."""
    test = rows[pack.recall.date].to_numpy("datetime64[D]")
    lapses = pack.recall.leaves(test)
    lapsing = (rows["outcome"] == "numerator").to_numpy() & (lapses <= year_end)
    waiting = (rows["outcome"] == "denominator").to_numpy()
    listed = rows[lapsing | waiting].copy()
    chosen = lapses[lapsing | waiting]
    is_lapsing = lapsing[lapsing | waiting]
    listed["leaves_window"] = np.where(is_lapsing, chosen, np.datetime64("NaT"))
    listed["due_by"] = np.where(is_lapsing, chosen - np.timedelta64(1, "D"), year_end)
    listed["due_by"] = pd.to_datetime(listed["due_by"])
    listed["leaves_window"] = pd.to_datetime(listed["leaves_window"])
    return listed


def _per_patient(rows: pd.DataFrame, found: pd.DataFrame, column: str, how: str) -> pd.Series:
    """Each outcome row's evidence (summed, or the latest): NaN where the patient has none."""

    def key(frame: pd.DataFrame) -> list:
        practice = frame["practice_code"].astype(object).fillna(_NO_PRACTICE)
        return [practice.to_numpy(), frame["patient_id"].to_numpy()]

    if found.empty or rows.empty:
        return pd.Series(np.nan, index=rows.index)
    per = found[column].groupby(key(found)).agg(how)
    return pd.Series(per.reindex(pd.MultiIndex.from_arrays(key(rows))).to_numpy(), index=rows.index)


_NO_PRACTICE = "\0"  # stands in for a missing practice code while rows are matched


def _concat(parts: list[pd.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(parts, ignore_index=True)[list(columns)]


def _targets(summary: pd.DataFrame, to_contact: pd.DataFrame, packs) -> pd.DataFrame:
    """Per practice and indicator: how many listed patients reach each threshold."""
    rows = []
    for pack in packs:
        scored = summary[summary["indicator"] == pack.indicator]
        for record in scored.to_dict("records"):
            listed = to_contact[
                (to_contact["indicator"] == pack.indicator)
                & (
                    to_contact["practice_code"].fillna("")
                    == ("" if pd.isna(record["practice_code"]) else record["practice_code"])
                )
            ]
            listed = listed[listed["outcome"] != "numerator"]  # lapsing: counted already
            inside = int((listed["outcome"] == "denominator").sum())
            outside = len(listed) - inside
            rows.append(
                {
                    "practice_code": record["practice_code"],
                    "indicator": pack.indicator,
                    "numerator": record["numerator"],
                    "denominator": record["denominator"],
                    "achievement": record["achievement"],
                    "listed": len(listed),
                    "needed_for_lower": needed_from_list(
                        pack.thresholds.lower,
                        record["numerator"],
                        record["denominator"],
                        inside,
                        outside,
                    ),
                    "needed_for_upper": needed_from_list(
                        pack.thresholds.upper,
                        record["numerator"],
                        record["denominator"],
                        inside,
                        outside,
                    ),
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "practice_code",
            "indicator",
            "numerator",
            "denominator",
            "achievement",
            "listed",
            "needed_for_lower",
            "needed_for_upper",
        ],
    )


def _why_failing(pack: IndicatorPack, rows: pd.DataFrame) -> pd.Series:
    """'no cancer care review by the deadline 2024-01-15' or 'cancer care review on 2024-03-02,
    after the deadline 2024-01-15', from the pack's due_by (the missing date and its deadline)."""
    missing = pack.due_by.missing
    definition = pack.dates.get(missing)
    named = sorted(c for c in (definition.clusters() if definition else ()) if c in pack.words)
    what = pack.word(named[0]) if named else missing
    due = rows["deadline"].to_numpy("datetime64[D]")
    done = (
        rows[missing].to_numpy("datetime64[D]")
        if missing in rows
        else np.full(len(rows), "NaT", "datetime64[D]")
    )
    text = [
        f"no {what} by the deadline {d}"
        if np.isnat(x)
        else f"{what} on {x}, after the deadline {d}"
        for x, d in zip(done, due, strict=True)
    ]
    return pd.Series(text, index=rows.index, dtype=object)
