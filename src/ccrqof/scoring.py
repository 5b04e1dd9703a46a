"""From outcome rows to per-practice counts, achievement, points and thresholds (the summary
records of docs/reference-outputs.md)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd

from ccrqof.engine import Evaluation
from ccrqof.rules.model import IndicatorPack

BELOW, BETWEEN, ABOVE, NO_POINTS, REGISTER, NO_DENOMINATOR = (
    "below lower",
    "between",
    "at or above upper",
    "no points this year",
    "register",
    "no denominator",
)


_NO_PRACTICE = "<no practice code>"  # cannot be an ODS code


def breakdown_fields(pack: IndicatorPack) -> list[str]:
    return [r.field for r in pack.rules if r.field]


COUNT_COLUMNS = ("register", "denominator", "numerator", "pcas", "exclusions")


def count_outcomes(evaluation: Evaluation) -> pd.DataFrame:
    """Integer counts per practice and indicator (all practices at once): register,
    denominator, numerator, pcas, exclusions and one `breakdown_<FIELD>` column per field.

    Counts add up, so a roll-up to PCN or ICB is a sum of these rows.
    """
    ruleset = evaluation.ruleset
    out = evaluation.tallies
    practice = out["practice_code"].astype(object).where(out["practice_code"].notna(), _NO_PRACTICE)
    packs = ruleset.ordered()
    practices = [_NO_PRACTICE if p is None else p for p in evaluation.practices]
    index = pd.MultiIndex.from_product(
        [practices, [p.indicator for p in packs]], names=["practice", "indicator"]
    )
    by_outcome = (
        out.groupby([practice, out["indicator"], out["outcome"]])["n"]
        .sum()
        .unstack(fill_value=0)
        .reindex(index, fill_value=0)
    )
    counts = pd.DataFrame(index=index)
    for name, outcome in (("numerator", "numerator"), ("pcas", "pca"), ("exclusions", "exclusion")):
        counts[name] = by_outcome.get(outcome, 0)
    only = by_outcome.get("denominator", 0)
    counts["denominator"] = counts["numerator"] + only
    registers = {}
    for pack in packs:
        if pack.is_register:
            registers[pack.indicator] = counts.xs(pack.indicator, level="indicator")["numerator"]
    counts["register"] = 0
    for pack in packs:
        register = registers.get(pack.indicator if pack.is_register else pack.register)
        if register is not None:
            counts.loc[(slice(None), pack.indicator), "register"] = register.to_numpy()
    with_field = out["field"].notna()
    by_field = (
        out[with_field]
        .groupby([practice[with_field], out["indicator"][with_field], out["field"][with_field]])[
            "n"
        ]
        .sum()
        .unstack(fill_value=0)
    )
    fields = list(dict.fromkeys(f for pack in packs for f in breakdown_fields(pack)))
    by_field = by_field.reindex(index=index, columns=fields, fill_value=0)
    counts = pd.concat([counts[list(COUNT_COLUMNS)], by_field.add_prefix("breakdown_")], axis=1)
    return counts.astype("int64").reset_index()


def finish(counts: pd.DataFrame, ruleset, practice_level: bool = True) -> pd.DataFrame:
    """Achievement, points, thresholds, status, rates and patients still needed, vectorised.

    Points are a practice concept: a roll-up (`practice_level=False`) reports none.
    """
    frames = []
    for pack in ruleset.ordered():
        rows = counts[counts["indicator"] == pack.indicator].copy()
        num, den = rows["numerator"].to_numpy(), rows["denominator"].to_numpy()
        pcas = rows["pcas"].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            achievement = np.where(den > 0, num / np.maximum(den, 1), np.nan)
            eligible = den + pcas
            gross = np.where(eligible > 0, num / np.maximum(eligible, 1), np.nan)
            pca_rate = np.where(eligible > 0, pcas / np.maximum(eligible, 1), np.nan)
        pays = ruleset.pays_points_for(pack.indicator) and practice_level
        if pack.is_register:
            points = np.where(rows["register"].to_numpy() > 0, float(pack.max_points), 0.0)
            gross[:], pca_rate[:] = np.nan, np.nan
        else:
            points = _points(pack, num, den)
        if not pack.is_register and not pack.register:  # CS005: no register to count
            rows["register"] = pd.Series(None, index=rows.index, dtype=object)
        rows["achievement"] = achievement
        rows["points"] = pd.Series(points, index=rows.index, dtype=object) if pays else None
        rows["max_points"] = pack.max_points
        rows["lower_threshold"] = pack.thresholds.lower if pack.thresholds else None
        rows["upper_threshold"] = pack.thresholds.upper if pack.thresholds else None
        rows["status"] = _statuses(achievement, den, pack, ruleset.pays_points_for(pack.indicator))
        rows["gross_rate"], rows["pca_rate"] = gross, pca_rate
        for name, threshold in (("needed_for_lower", "lower"), ("needed_for_upper", "upper")):
            if pack.thresholds is None:
                rows[name] = None
            else:
                rows[name] = _needed(getattr(pack.thresholds, threshold), num, den)
        frames.append(rows)
    return pd.concat(frames).sort_index(kind="stable").reset_index(drop=True)


def _points(pack, num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """max × clamp((num/den − lower)/(upper − lower), 0, 1), as one exact ratio of integers
    divided once (so 2/3 between 50% and 90% of 6 points is 2.5, not 2.4999999999999996)."""
    lower = Fraction(str(pack.thresholds.lower))
    upper = Fraction(str(pack.thresholds.upper))
    span = upper - lower
    num, den = num.astype(np.int64), den.astype(np.int64)
    top = (num * lower.denominator - lower.numerator * den) * span.denominator * pack.max_points
    bottom = den * lower.denominator * span.numerator
    with np.errstate(divide="ignore", invalid="ignore"):
        points = np.where(den > 0, top / np.where(bottom == 0, 1, bottom), 0.0)
    return np.clip(points, 0.0, float(pack.max_points))


def _statuses(achievement, den, pack, pays_points) -> np.ndarray:
    if pack.is_register:
        return np.full(len(den), REGISTER, dtype=object)
    if not pays_points:
        return np.full(len(den), NO_POINTS, dtype=object)
    return np.select(
        [den == 0, achievement < pack.thresholds.lower, achievement >= pack.thresholds.upper],
        [NO_DENOMINATOR, BELOW, ABOVE],
        BETWEEN,
    ).astype(object)


def _needed(threshold: float, num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """needed_for, exactly, for many practices: threshold p/q, so ceil((p·den − q·num)/q)."""
    fraction = Fraction(str(threshold))
    p, q = fraction.numerator, fraction.denominator
    short = p * den.astype(np.int64) - q * num.astype(np.int64)
    needed = np.maximum(0, -(-short // q))
    return np.array(
        [int(n) if d > 0 else None for n, d in zip(needed, den, strict=True)], dtype=object
    )


def breakdowns(summary: pd.DataFrame, ruleset) -> list[dict]:
    """Each row's `breakdown_<FIELD>` counts as {field: count}, its indicator's fields only."""
    columns = [c for c in summary.columns if c.startswith("breakdown_")]
    fields_of = {p.indicator: breakdown_fields(p) for p in ruleset.ordered()}
    values = summary[columns].to_numpy()
    position = {c.removeprefix("breakdown_"): i for i, c in enumerate(columns)}
    return [
        {f: int(row[position[f]]) for f in fields_of[indicator]}
        for indicator, row in zip(summary["indicator"], values, strict=True)
    ]


def score(evaluation: Evaluation, breakdown: bool = True) -> pd.DataFrame:
    """One row per practice and indicator, with every column of a summary record in
    docs/reference-outputs.md (`breakdown` as an object per row; None without `breakdown`,
    which a series does not show). Computed for all practices at once, so scoring practices
    separately or together gives the same rows."""
    counts = count_outcomes(evaluation)
    summary = finish(counts, evaluation.ruleset)
    breakdown_cols = [c for c in summary.columns if c.startswith("breakdown_")]
    summary["breakdown"] = breakdowns(summary, evaluation.ruleset) if breakdown else None
    practice = summary.pop("practice")
    summary.insert(0, "practice_code", practice.where(practice != _NO_PRACTICE, None))
    return summary.drop(columns=breakdown_cols)[list(SUMMARY_COLUMNS)]


SUMMARY_COLUMNS = (
    "practice_code",
    "indicator",
    "register",
    "denominator",
    "numerator",
    "pcas",
    "exclusions",
    "breakdown",
    "achievement",
    "points",
    "max_points",
    "lower_threshold",
    "upper_threshold",
    "status",
    "gross_rate",
    "pca_rate",
    "needed_for_lower",
    "needed_for_upper",
)


__all__ = ["score"]
