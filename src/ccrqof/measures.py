"""Measures that show change quickly, beside the QOF indicators (never instead of them).

QOF's CAN004 looks back 24 months and CAN005 12: when practices stop recording reviews, the
indicators fall over a year or two. Two measures, defined in the rule packs (`measures:`), show
the fall within months (docs/explanation-measures.md):

- a **cohort measure**: of the register patients whose diagnosis (the pack's `entry` date, as
  the indicator reads it at the reference date) falls in month M, the share whose `outcome`
  date is within the window (CAN004: a care review within 12 months). A month is `complete`
  once every window of its patients has closed by the reference date; before that its share is
  "so far". It is read from the indicator's outcome rows, so every engine gives the same.
- **activity**: entries recorded per practice and month in the pack's activity clusters
  (reviews, support discussions, invitations, PCA codes; one patient's entries on one day count
  once), and per 1,000 patients on the indicator's register at the month end.

One long table holds both (MEASURE_COLUMNS); a roll-up to PCN or ICB sums counts and bases.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from ccrqof.dates import add_months
from ccrqof.engine import Engine, Evaluation
from ccrqof.organisations import NOT_MAPPED
from ccrqof.reporters.documents import stamped
from ccrqof.rules import RuleSet
from ccrqof.rules.model import IndicatorPack
from ccrqof.scoring import _NO_PRACTICE, count_outcomes

MEASURE_COLUMNS = (
    "measure",
    "kind",  # cohort | activity
    "indicator",  # the QOF indicator the measure sits beside
    "title",
    "month",  # YYYY-MM: the diagnosis month (cohort) or the month recorded (activity)
    "count",  # cohort: achieved within the window; activity: entries
    "base",  # cohort: patients diagnosed that month; activity: the register at the month end
    "rate",  # cohort: count / base; activity: per 1,000 on the register
    "complete",  # cohort: every window closed; activity: the whole month is in
)
ACTIVITY_TITLES = {
    "reviews": "Care reviews recorded",
    "support_discussions": "Support discussions recorded",
    "invitations": "Review invitations recorded",
    "pca_codes": "PCA codes recorded",
}
PER = 1000  # activity per 1,000 patients on the register


def measured_packs(ruleset: RuleSet) -> list[IndicatorPack]:
    return [p for p in ruleset.ordered() if p.measures is not None]


def month_name(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def months_between(first: dt.date, last: dt.date) -> list[str]:
    """YYYY-MM of every month from `first`'s to `last`'s."""
    months = np.arange(np.datetime64(first, "M"), np.datetime64(last, "M") + 1)
    return [str(m) for m in months]


def _month_end(month: str) -> np.datetime64:
    return (np.datetime64(month, "M") + 1).astype("datetime64[D]") - 1


def cohorts(evaluation: Evaluation, months: list[str], engine=None, handle=None) -> pd.DataFrame:
    """Cohort rows per practice for the diagnosis `months` (YYYY-MM, consecutive), at the
    evaluation's reference date; a month nobody was diagnosed in is a row of 0 (its rate
    blank). An engine with `cohort_counts` counts them itself (given its `handle`); otherwise
    they are counted from the evaluation's outcome rows."""
    ruleset = evaluation.ruleset
    reference = np.datetime64(ruleset.reference_date, "D")
    first = dt.date.fromisoformat(f"{months[0]}-01")
    last = _month_end(months[-1]).item()
    if handle is not None and hasattr(engine, "cohort_counts"):
        counts = engine.cohort_counts(handle, ruleset, first, last)
    else:
        counts = counted_cohorts(evaluation, first, last)
    counts["practice_code"] = counts["practice_code"].astype(object).fillna(_NO_PRACTICE)
    practices = sorted(_NO_PRACTICE if p is None else p for p in evaluation.practices)
    grid = pd.MultiIndex.from_product([practices, months], names=["practice_code", "month"])
    frames = []
    for pack in measured_packs(ruleset):
        cohort = pack.measures.cohort
        if cohort is None:
            continue
        mine = counts[counts["measure"] == cohort.measure].set_index(["practice_code", "month"])
        counted = pd.DataFrame(
            {
                "count": mine["count"].reindex(grid, fill_value=0),
                "base": mine["base"].reindex(grid, fill_value=0),
            }
        ).reset_index()
        closed = {m: add_months(_month_end(m), cohort.within) <= reference for m in months}
        counted["complete"] = counted["month"].map(closed).astype(bool)
        counted["measure"] = cohort.measure
        counted["kind"] = "cohort"
        counted["indicator"] = pack.indicator
        counted["title"] = cohort.title
        frames.append(counted)
    return _finish(frames)


def counted_cohorts(evaluation: Evaluation, first: dt.date, last: dt.date) -> pd.DataFrame:
    """Each cohort measure's counts per practice and month of entry from `first` to `last`
    (practice_code, measure, month, count, base), from the evaluation's outcome rows: the
    reference the engines' own `cohort_counts` are held to."""
    outcomes = evaluation.outcomes
    frames = []
    for pack in measured_packs(evaluation.ruleset):
        cohort = pack.measures.cohort
        if cohort is None:
            continue
        rows = outcomes[outcomes["indicator"] == pack.indicator]
        entry = rows[cohort.entry].to_numpy("datetime64[D]")
        outcome = rows[cohort.outcome].to_numpy("datetime64[D]")
        wanted = (entry >= np.datetime64(first, "D")) & (entry <= np.datetime64(last, "D"))
        achieved = ~np.isnat(outcome) & (outcome <= add_months(entry, cohort.within))
        found = pd.DataFrame(
            {
                "practice_code": rows["practice_code"].astype(object).to_numpy()[wanted],
                "month": entry[wanted].astype("datetime64[M]").astype(str),
                "count": achieved[wanted].astype(np.int64),
            }
        )
        grouped = found.groupby(["practice_code", "month"], dropna=False)["count"]
        counted = pd.DataFrame({"count": grouped.sum(), "base": grouped.size()}).reset_index()
        frames.append(counted.assign(measure=cohort.measure))
    if not frames:
        return pd.DataFrame(columns=["practice_code", "measure", "month", "count", "base"])
    return pd.concat(frames, ignore_index=True)[
        ["practice_code", "measure", "month", "count", "base"]
    ]


def activity(
    engine: Engine, handle, ruleset: RuleSet, months: list[str], practices: list
) -> pd.DataFrame:
    """Activity rows per practice for `months`, up to the ruleset's reference date: a month
    with no entries at a practice is a row of 0. The base (the register) is set by
    `with_registers`."""
    reference = ruleset.reference_date
    first = dt.date.fromisoformat(f"{months[0]}-01")
    practices = sorted(_NO_PRACTICE if p is None else p for p in practices)
    frames = []
    for pack in measured_packs(ruleset):
        measures = pack.measures.activity
        if not measures:
            continue
        found = engine.activity(handle, dict(measures), first, reference)
        found["practice_code"] = found["practice_code"].astype(object).fillna(_NO_PRACTICE)
        grid = pd.MultiIndex.from_product(
            [practices, list(measures), months], names=["practice_code", "measure", "month"]
        )
        counted = (
            found.groupby(["practice_code", "measure", "month"])["count"]
            .sum()
            .reindex(grid, fill_value=0)
            .reset_index()
        )
        counted["base"] = pd.NA
        whole = {m: _month_end(m) <= np.datetime64(reference, "D") for m in months}
        counted["complete"] = counted["month"].map(whole).astype(bool)
        counted["kind"] = "activity"
        counted["indicator"] = pack.indicator
        counted["title"] = counted["measure"].map({m: ACTIVITY_TITLES.get(m, m) for m in measures})
        frames.append(counted)
    return _finish(frames)


def with_registers(frame: pd.DataFrame, registers: pd.DataFrame) -> pd.DataFrame:
    """Activity rows' base: the register at their group (first column) and month end, from
    `registers` (that column, month, register); the rate recomputed."""
    code = frame.columns[0]
    base = registers.set_index([code, "month"])["register"]
    found = base.reindex(pd.MultiIndex.from_frame(frame[[code, "month"]])).to_numpy()
    frame = frame.copy()
    is_activity = (frame["kind"] == "activity").to_numpy()
    frame["base"] = pd.array(
        np.where(is_activity, found, frame["base"].astype("float64")), dtype="Int64"
    )
    return _rated(frame)


def registers_at(evaluation: Evaluation, indicator: str) -> pd.DataFrame:
    """practice_code, register: each practice's `indicator` register at the reference date."""
    counts = count_outcomes(evaluation).reset_index()
    counts = counts[counts["indicator"] == indicator]
    return pd.DataFrame(
        {"practice_code": counts["practice"].to_numpy(), "register": counts["register"]}
    ).reset_index(drop=True)


def _finish(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if not frames:
        frame = pd.DataFrame(columns=["practice_code", *MEASURE_COLUMNS])
    else:
        frame = pd.concat(frames, ignore_index=True)
    frame = frame.astype({"count": "int64", "complete": "bool"})
    frame["base"] = frame["base"].astype("Int64")
    frame["rate"] = np.nan
    return _rated(frame[["practice_code", *MEASURE_COLUMNS]].reset_index(drop=True))


def _rated(frame: pd.DataFrame) -> pd.DataFrame:
    """The rate from the count and base: a share for a cohort, per 1,000 for activity; blank
    without a base (nobody diagnosed, an empty register)."""
    base = frame["base"].astype("float64")
    scale = np.where(frame["kind"] == "activity", PER, 1)
    frame["rate"] = (frame["count"] * scale / base.where(base > 0)).astype("float64")
    return frame


def roll_up(frame: pd.DataFrame, by: str, org_map: pd.DataFrame | None) -> pd.DataFrame:
    """The rows summed to PCN or ICB (`by`), as the indicator roll-ups: practices missing from
    the map under NOT_MAPPED; the rate recomputed from the sums."""
    if by == "practice":
        return frame
    code = f"{by}_code"
    mapping = org_map.set_index("practice_code")[code]
    grouped = frame.assign(**{code: frame["practice_code"].map(mapping).fillna(NOT_MAPPED)})
    return _summed(grouped, [code], sort=True)


def totals(frame: pd.DataFrame) -> pd.DataFrame:
    """The whole extract: counts and bases summed over the groups, per measure and month."""
    return _summed(frame, [], sort=False)


def _summed(frame: pd.DataFrame, by: list[str], sort: bool) -> pd.DataFrame:
    """Counts and bases added up per `by`, measure and month (a base is blank only where all
    are), complete where every part is; the rate recomputed from the sums."""
    keys = [*by, "measure", "kind", "indicator", "title", "month"]
    summed = frame.groupby(keys, sort=sort).agg(
        count=("count", "sum"),
        base=("base", lambda s: s.sum(min_count=1)),
        complete=("complete", "all"),
    )
    summed = summed.reset_index()
    summed["base"] = summed["base"].astype("Int64")
    summed["rate"] = np.nan
    return _rated(summed[[*by, *MEASURE_COLUMNS]])


def for_month(
    engine: Engine, handle, evaluation: Evaluation, by="practice", org_map=None
) -> pd.DataFrame:
    """`calc`'s measures at its reference date R: each cohort from the latest month whose
    window has closed by R to R's month (the later ones "so far"), and R's month's activity
    per 1,000 on the register at R."""
    ruleset = evaluation.ruleset
    packs = measured_packs(ruleset)
    if not packs:
        return stamp(_finish([]), ruleset)
    reference = ruleset.reference_date
    longest = max((p.measures.cohort.within for p in packs if p.measures.cohort), default=0)
    first = add_months(np.datetime64(reference, "D"), -longest - 1)
    months = months_between(first.item(), reference)
    found = cohorts(evaluation, months, engine, handle)
    found = found[_closing_or_later(found, reference, packs)]
    this_month = [month_name(reference)]
    recorded = activity(engine, handle, ruleset, this_month, evaluation.practices)
    registers = registers_at(evaluation, _register_of(packs)).assign(month=this_month[0])
    recorded = with_registers(recorded, registers)
    both = pd.concat([found, recorded], ignore_index=True)
    return stamp(roll_up(both, by, org_map), ruleset)


def _register_of(packs: list[IndicatorPack]) -> str:
    """The register the activity rates are per 1,000 of (every measured pack reads one)."""
    registers = {p.register for p in packs if p.measures.activity}
    return sorted(registers)[0] if registers else packs[0].register


def _closing_or_later(found: pd.DataFrame, reference: dt.date, packs) -> pd.Series:
    """Rows of the latest complete month of each cohort measure and every month after it."""
    keep = pd.Series(False, index=found.index)
    for pack in packs:
        cohort = pack.measures.cohort
        if cohort is None:
            continue
        of = found["measure"] == cohort.measure
        closed = found.loc[of & found["complete"], "month"]
        latest = closed.max() if len(closed) else None
        keep |= of & (found["month"] >= latest if latest else True)
    return keep


def stamp(frame: pd.DataFrame, ruleset: RuleSet) -> pd.DataFrame:
    """reference_date and the rule year lead every row, as in every other table; an extract
    without practice codes has a blank practice_code, as the summary has."""
    if "practice_code" in frame:
        code = frame["practice_code"].astype(object)
        frame = frame.assign(practice_code=code.where(code != _NO_PRACTICE, None))
    return stamped(frame, ruleset)


def for_series(
    engine: Engine,
    handle,
    last: Evaluation,
    months: list[str],
    series: pd.DataFrame,
    by="practice",
    org_map=None,
) -> pd.DataFrame:
    """`trend`'s measures: the cohorts of the diagnosis `months` as the last month end sees
    them, and activity in the months of the series' points (each a month end: the base is the
    register there, from the `series`' register rows, at the same `by` level)."""
    ruleset = last.ruleset
    packs = measured_packs(ruleset)
    if not packs:
        return stamp(_finish([]), ruleset)
    found = cohorts(last, months, engine, handle)
    points = sorted(set(series["period"]))
    recorded = activity(engine, handle, ruleset, points, last.practices)
    recorded = recorded[recorded["month"].isin(points)]
    both = roll_up(pd.concat([found, recorded], ignore_index=True), by, org_map)
    code = both.columns[0]
    register = series[series["indicator"] == _register_of(packs)]
    registers = pd.DataFrame(
        {
            code: register[code].astype(object).fillna(_NO_PRACTICE).to_numpy(),
            "month": register["period"].to_numpy(),
            "register": register["register"].to_numpy(),
        }
    )
    return stamp(with_registers(both, registers), ruleset)
