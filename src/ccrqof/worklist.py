"""Worklists: who can still achieve an indicator before their deadline, and who will count as a
failure if nothing changes. Views of the same outcome rows the counts come from."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pandas as pd

from ccrqof.dates import to_day
from ccrqof.engine import Evaluation
from ccrqof.rules.model import DateTest, EventCountTest, IndicatorPack, LatestEvent, RuleKind

TO_CONTACT_COLUMNS = (
    "practice_code",
    "patient_id",
    "indicator",
    "outcome",
    "rule",
    "field",
    "CAN_DAT",
    "due_by",
    "days_left",
    "invitations",
    "last_invitation",
    "pca_codes",
)
WILL_FAIL_COLUMNS = ("practice_code", "patient_id", "indicator", "rule", "CAN_DAT", "why")


@dataclass
class Worklist:
    to_contact: pd.DataFrame  # achievable: no qualifying event yet and due_by >= R
    will_fail: pd.DataFrame  # in the denominator, not the numerator, no longer achievable
    targets: pd.DataFrame  # per practice and indicator: listed patients needed for thresholds


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


def _latest_per_patient(evaluation: Evaluation, clusters: set[str], start=None, on_or_after=None):
    """The clusters' events up to R (after `start`, on or after a per-patient bound) as
    (pkey, day) rows, for the callers to count or take the latest of."""
    prepared = evaluation.prepared
    R = to_day(evaluation.ruleset.reference_date)
    mask = np.isin(prepared.cluster, prepared.cluster_ids(clusters)) & (prepared.day <= R)
    if start is not None:
        mask &= prepared.day > start
    frame = pd.DataFrame({"pkey": prepared.pkey[mask], "day": prepared.day[mask]})
    if on_or_after is not None:  # per-patient lower bound, e.g. CAN_DAT
        frame = frame[frame["day"].to_numpy() >= on_or_after[frame["pkey"].to_numpy()]]
    return frame


def _invitation_clusters(pack: IndicatorPack) -> set[str]:
    return {r.when.events for r in pack.rules if isinstance(r.when, EventCountTest)}


def _pca_windows(pack: IndicatorPack) -> list[tuple[str, object]]:
    """(cluster, window start) of PCA rules that test a coded PCA date against R (not rules
    about the diagnosis date itself, such as DIAG1_DAT)."""
    found = []
    diagnosis = pack.due_by.deadline.anchor if pack.due_by else None
    for rule in pack.rules:
        when = rule.when
        if (
            rule.kind == RuleKind.reject_pca
            and isinstance(when, DateTest)
            and when.date != diagnosis
            and isinstance(pack.dates.get(when.date), LatestEvent)
            and when.comparison == "after"
            and when.bound.anchor == "R"
        ):
            found.append((pack.dates[when.date].latest, when.bound))
    return found


def build_worklist(
    evaluation: Evaluation, summary: pd.DataFrame, indicators=None, within_days: int | None = None
) -> Worklist:
    """The worklist at the evaluation's reference date, sorted by due_by."""
    ruleset = evaluation.ruleset
    R = to_day(ruleset.reference_date)
    packs = [
        p
        for p in ruleset.ordered()
        if p.due_by is not None and (not indicators or p.indicator in indicators)
    ]
    people = evaluation.prepared.patients.assign(pkey=np.arange(evaluation.prepared.n_patients))
    out = evaluation.outcomes.merge(people, on=["practice_code", "patient_id"], how="left")
    contact_parts, fail_parts = [], []
    for pack in packs:
        rows = out[out["indicator"] == pack.indicator]
        achievable = rows[rows["due_by"].notna()].copy()
        can_dat = np.full(evaluation.prepared.n_patients, np.datetime64("NaT"), "datetime64[D]")
        can_dat[rows["pkey"].to_numpy()] = rows["CAN_DAT"].to_numpy("datetime64[D]")
        invites = _latest_per_patient(evaluation, _invitation_clusters(pack), on_or_after=can_dat)
        grouped = invites.groupby("pkey")["day"].agg(["count", "max"])
        keys = achievable["pkey"].to_numpy()
        achievable["invitations"] = grouped["count"].reindex(keys, fill_value=0).to_numpy()
        achievable["last_invitation"] = grouped["max"].reindex(keys).to_numpy()
        labels = pd.Series("", index=achievable.index, dtype=object)
        for cluster, bound in _pca_windows(pack):
            start = bound.offset.apply(R) if bound.offset else R
            pca = _latest_per_patient(evaluation, {cluster}, start=start)
            latest = pd.Series(
                pca.groupby("pkey")["day"].max().reindex(keys).to_numpy(), index=achievable.index
            )
            text = cluster + " " + latest.dt.strftime("%Y-%m-%d")
            labels = labels.where(
                latest.isna(), labels.where(labels == "", labels + "; ") + text.fillna("")
            )
        achievable["pca_codes"] = labels
        achievable["days_left"] = (achievable["due_by"].to_numpy("datetime64[D]") - R).astype(int)
        contact_parts.append(achievable)
        failing = rows[(rows["outcome"] == "denominator") & rows["due_by"].isna()].copy()
        failing["why"] = _why_failing(pack, failing)
        fail_parts.append(failing)

    to_contact = _concat(contact_parts, TO_CONTACT_COLUMNS)
    targets = _targets(summary, to_contact, packs)
    if within_days is not None:
        horizon = R + np.timedelta64(within_days, "D")
        to_contact = to_contact[to_contact["due_by"].to_numpy("datetime64[D]") <= horizon]
    to_contact = to_contact.sort_values(
        ["due_by", "practice_code", "indicator", "patient_id"], ignore_index=True
    )
    will_fail = _concat(fail_parts, WILL_FAIL_COLUMNS).sort_values(
        ["practice_code", "indicator", "CAN_DAT", "patient_id"], ignore_index=True
    )
    return Worklist(to_contact, will_fail, targets)


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
    missing, deadline = pack.due_by.missing, pack.due_by.deadline
    definition = pack.dates.get(missing)
    earliest = getattr(definition, "earliest", None)
    what = pack.word(earliest) if earliest in pack.words else missing
    anchor = rows[deadline.anchor].to_numpy("datetime64[D]")
    due = deadline.offset.apply(anchor) if deadline.offset else anchor
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
