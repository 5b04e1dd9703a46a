"""Monthly (or quarterly) series: the indicators evaluated at each month end from one extract
prepared once by an engine, which works out all the month ends together (`evaluate_series`).

Each point uses the rule pack of the QOF year containing its month end, and from April 2025
the 2024-25 rules as local monitoring (no points), exactly as `calc --as-of` would.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable

import pandas as pd

from ccrqof.engine import Engine, evaluate_each
from ccrqof.errors import UsageError
from ccrqof.organisations import summarise, with_org
from ccrqof.rules import load_ruleset

SERIES_COLUMNS = (
    "period",
    "reference_date",
    "ruleset",
    "year_status",
    "indicator",
    "register",
    "denominator",
    "numerator",
    "pcas",
    "exclusions",
    "achievement",
    "points",
    "status",
)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(text: str, option: str) -> tuple[int, int]:
    m = _MONTH.match(text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise UsageError(f"{option} expects a month as YYYY-MM, e.g. 2024-03")
    return int(m.group(1)), int(m.group(2))


MAX_MONTHS = 240  # twenty years of month ends: every QOF year there is, with room to spare


def month_ends(start: str, end: str, every: str = "month") -> list[dt.date]:
    """Last days of the months from `start` to `end` (YYYY-MM), every month or every quarter
    (quarters end in June, September, December and March, as QOF's year does)."""
    (y0, m0), (y1, m1) = parse_month(start, "--from"), parse_month(end, "--to")
    if (y0, m0) > (y1, m1):
        raise UsageError("--from is after --to: give the earlier month first")
    months = (y1 - y0) * 12 + (m1 - m0) + 1
    if months > MAX_MONTHS:
        raise UsageError(
            f"--from to --to spans {months:,} months; a series covers at most {MAX_MONTHS} "
            f"({MAX_MONTHS // 12} years): give a shorter range"
        )
    days = []
    y, m = y0, m0
    while (y, m) <= (y1, m1):
        if every == "month" or m in (3, 6, 9, 12):
            days.append(dt.date(y, m, calendar.monthrange(y, m)[1]))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    if not days:
        raise UsageError("that range has no quarter end (March, June, September, December)")
    return days


def series(
    engine: Engine,
    handle,
    days: list[dt.date],
    indicators=None,
    by: str = "practice",
    org_map: pd.DataFrame | None = None,
    rules_dir=None,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """One row per period, group and indicator: the run columns, the group's organisation
    columns (`with_org`: practice_code, practice_name, pcn_code... or pcn_code, pcn_name,
    icb_code, icb_name, or icb_code, icb_name), then SERIES_COLUMNS' counts. `handle` is the
    engine's extract prepared for every month's rule set; `progress` is told how many month
    ends are worked out. `attrs["notices"]` holds the practices the org map does not place."""
    frames, notices = [], []
    rulesets = [load_ruleset(reference_date=day, rules_dir=rules_dir) for day in days]
    if indicators:  # they and their registers run; only they are shown
        rulesets = [ruleset.only(indicators) for ruleset in rulesets]
    evaluations = _evaluate_series(engine, handle, rulesets, progress)
    for day, evaluation in zip(days, evaluations, strict=True):
        ruleset = evaluation.ruleset
        summary, missing = summarise(evaluation, by, org_map, breakdown=False)
        notices += [n for n in missing if n not in notices]
        if indicators:
            summary = summary[summary["indicator"].isin(indicators)]
        summary.insert(0, "period", day.strftime("%Y-%m"))
        summary.insert(1, "reference_date", day.isoformat())
        # each indicator's own year and status (retired packs run beside a year's own)
        statuses = {i: ruleset.status_of(i).value for i in ruleset.packs}
        summary.insert(2, "ruleset", summary["indicator"].map(ruleset.rule_years()))
        summary.insert(3, "year_status", summary["indicator"].map(statuses))
        frames.append(summary)
    frame = pd.concat(frames, ignore_index=True)
    keep = ["period", "reference_date", "ruleset", "year_status", f"{by}_code"]
    keep += [c for c in SERIES_COLUMNS if c not in keep]
    frame = with_org(frame[keep], org_map, by)
    frame.attrs["notices"] = notices
    return frame


def _evaluate_series(engine: Engine, handle, rulesets, progress) -> list:
    """The engine's `evaluate_series` (an engine written before it: one date at a time)."""
    if hasattr(engine, "evaluate_series"):
        return engine.evaluate_series(handle, rulesets, progress)
    return evaluate_each(engine, handle, rulesets, progress)


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values, low: float = 0.0, high: float = 1.0) -> str:
    """Achievement as block characters, ▁ at `low` and █ at `high` (0% and 100% unless a table
    scales its rows to the values it shows); a gap where there is no denominator."""
    span = high - low
    top = len(SPARK) - 1

    def block(value) -> str:
        if pd.isna(value):
            return " "
        if span <= 0:
            return SPARK[top // 2]
        return SPARK[min(max(round((value - low) / span * top), 0), top)]

    return "".join(block(v) for v in values)
