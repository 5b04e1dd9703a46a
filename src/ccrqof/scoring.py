"""From outcome rows to per-practice counts, achievement, points and thresholds (rules.md §6)."""

from __future__ import annotations

import math
from fractions import Fraction

import pandas as pd

from ccrqof.engine import Evaluation
from ccrqof.rules.model import IndicatorPack, RuleKind

BELOW, BETWEEN, ABOVE, NO_POINTS, REGISTER, NO_DENOMINATOR = (
    "below lower",
    "between",
    "at or above upper",
    "no points this year",
    "register",
    "no denominator",
)


_NO_PRACTICE = "<no practice code>"  # cannot be an ODS code


def points_for(
    achievement: float | None, pack: IndicatorPack, register: int, pays_points: bool
) -> float | None:
    """max × clamp((achievement − lower)/(upper − lower), 0, 1) on the unrounded achievement."""
    if not pays_points:
        return None
    if pack.is_register:
        return float(pack.max_points) if register > 0 else 0.0
    if achievement is None:
        return 0.0
    lower, upper = pack.thresholds.lower, pack.thresholds.upper
    share = min(max((achievement - lower) / (upper - lower), 0.0), 1.0)
    return pack.max_points * share


def needed_for(threshold: float, numerator: int, denominator: int) -> int | None:
    """Smallest extra numerator patients (from the denominator) to reach a threshold."""
    if denominator == 0:
        return None
    target = Fraction(str(threshold)) * denominator  # exact: 0.7 × 10 is 7, not 7.000...1
    return max(0, math.ceil(target - numerator))


def status_of(achievement: float | None, pack: IndicatorPack, pays_points: bool) -> str:
    if pack.is_register:
        return REGISTER
    if not pays_points:
        return NO_POINTS
    if achievement is None:
        return NO_DENOMINATOR
    if achievement < pack.thresholds.lower:
        return BELOW
    return ABOVE if achievement >= pack.thresholds.upper else BETWEEN


def breakdown_fields(pack: IndicatorPack) -> list[str]:
    return [r.field for r in pack.rules if r.field]


def score(evaluation: Evaluation) -> pd.DataFrame:
    """One row per practice and indicator, with every count data.md lists.

    Grouped counts are computed for all practices at once (vectorised), so scoring practices
    separately or together gives the same rows.
    """
    ruleset = evaluation.ruleset
    out = evaluation.outcomes
    key = out["practice_code"].astype(object).where(out["practice_code"].notna(), _NO_PRACTICE)
    counts = out.assign(practice=key).groupby(["practice", "indicator", "outcome"]).size()
    fields = (
        out[out["field"].notna()]
        .assign(practice=key)
        .groupby(["practice", "indicator", "field"])
        .size()
    )
    registers = {}
    rows = []
    for practice in evaluation.practices:
        p = _NO_PRACTICE if practice is None else practice
        for pack in ruleset.ordered():

            def n(outcome: str, p=p, pack=pack) -> int:
                return int(counts.get((p, pack.indicator, outcome), 0))

            numerator, denominator_only = n("numerator"), n("denominator")
            pcas, exclusions = n("pca"), n("exclusion")
            if pack.is_register:
                registers[(p, pack.indicator)] = numerator
                register = numerator
            else:
                register = registers.get((p, pack.population), 0)
            denominator = numerator + denominator_only
            achievement = numerator / denominator if denominator else None  # CAN001: 1.0
            thresholds = pack.thresholds
            rows.append(
                {
                    "practice_code": practice,
                    "indicator": pack.indicator,
                    "register": register,
                    "denominator": denominator,
                    "numerator": numerator,
                    "pcas": pcas,
                    "exclusions": exclusions,
                    "breakdown": {
                        f: int(fields.get((p, pack.indicator, f), 0))
                        for f in breakdown_fields(pack)
                    },
                    "achievement": achievement,
                    "points": points_for(achievement, pack, register, ruleset.pays_points),
                    "max_points": pack.max_points,
                    "lower_threshold": thresholds.lower if thresholds else None,
                    "upper_threshold": thresholds.upper if thresholds else None,
                    "status": status_of(achievement, pack, ruleset.pays_points),
                    "gross_rate": (
                        numerator / (denominator + pcas)
                        if not pack.is_register and denominator + pcas
                        else None
                    ),
                    "pca_rate": (
                        pcas / (denominator + pcas)
                        if not pack.is_register and denominator + pcas
                        else None
                    ),
                    "needed_for_lower": (
                        needed_for(thresholds.lower, numerator, denominator) if thresholds else None
                    ),
                    "needed_for_upper": (
                        needed_for(thresholds.upper, numerator, denominator) if thresholds else None
                    ),
                }
            )
    return pd.DataFrame(rows)


__all__ = ["score", "points_for", "needed_for", "status_of", "RuleKind"]
