"""Practices grouped into PCNs and ICBs (an org map), and roll-ups of the counts to them.

Counts add up, so a PCN's register, numerator, denominator, PCAs, exclusions and breakdown are
sums of its practices' rows; achievement is recomputed from the sums. Points are a practice
concept, so a roll-up reports none.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ccrqof.codelists import read_text_table
from ccrqof.columns import describe_columns, normalise
from ccrqof.engine import Evaluation
from ccrqof.errors import InputError, UsageError
from ccrqof.rules import RuleSet
from ccrqof.scoring import _NO_PRACTICE, breakdowns, count_outcomes, finish, score

LEVELS = ("practice", "pcn", "icb")
ORG_COLUMNS = ("practice_code", "practice_name", "pcn_code", "pcn_name", "icb_code", "icb_name")
NOT_MAPPED = "(not in org map)"


def read_org_map(path: str | Path) -> pd.DataFrame:
    """CSV with practice_code and optional names, PCN and ICB codes (spelling-tolerant)."""
    path = Path(path)
    frame = read_text_table(path, ",", "an org map")
    found = {normalise(c): c for c in frame.columns}
    columns = {name: found[normalise(name)] for name in ORG_COLUMNS if normalise(name) in found}
    if "practice_code" not in columns:
        raise InputError(
            "needs a practice_code column (and optionally practice_name, pcn_code, "
            f"pcn_name, icb_code, icb_name); {describe_columns(list(frame.columns))}",
            file=str(path),
        )
    org = frame[list(columns.values())].rename(columns={v: k for k, v in columns.items()})
    org = org.apply(lambda s: s.str.strip())
    org["practice_code"] = org["practice_code"].str.upper()  # as the readers compare them
    org = org[org["practice_code"] != ""].reset_index(drop=True)  # Excel's trailing ",,," rows
    duplicated = org["practice_code"].duplicated()
    if duplicated.any():
        raise InputError(
            f"lists {int(duplicated.sum())} practice code(s) more than once", file=str(path)
        )
    return org


def check_level(by: str, org_map: pd.DataFrame | None) -> None:
    """A roll-up level the org map can serve (checked before a long read, and again here)."""
    if by not in LEVELS:
        raise UsageError(f"--by must be one of {', '.join(LEVELS)}")
    if by != "practice" and org_map is None:
        raise UsageError(f"--by {by} needs --org-map FILE")
    if by != "practice" and f"{by}_code" not in org_map:
        raise UsageError(f"--by {by}: the org map has no {by}_code column")


def summarise(
    evaluation: Evaluation,
    by: str = "practice",
    org_map: pd.DataFrame | None = None,
    breakdown: bool = True,
) -> tuple[pd.DataFrame, list[str]]:
    """The summary at the level asked for, and notices (practices missing from the map);
    `breakdown` as `score`'s."""
    check_level(by, org_map)
    notices = []
    if by == "practice":
        summary = score(evaluation, breakdown)
        if org_map is not None and "practice_name" in org_map:
            names = org_map.set_index("practice_code")["practice_name"]
            summary.insert(1, "practice_name", summary["practice_code"].map(names))
        return summary, notices
    counts = count_outcomes(evaluation)
    mapping = org_map.set_index("practice_code")
    code, name = f"{by}_code", f"{by}_name"
    counts[code] = counts["practice"].map(mapping[code]).fillna(NOT_MAPPED)
    counts[name] = counts["practice"].map(mapping[name]) if name in mapping else None
    missing = counts.loc[counts[code] == NOT_MAPPED, "practice"].unique()
    if len(missing):
        notices.append(
            f"{len(missing)} practice(s) are not in the org map; they are grouped as '{NOT_MAPPED}'"
        )
    numeric = [c for c in counts.columns if c not in ("practice", "indicator", code, name)]
    grouped = counts.groupby([code, "indicator"], sort=True)
    summed = grouped[numeric].sum()
    summed["practices"] = grouped["practice"].nunique()
    summed[name] = grouped[name].first()
    summed = summed.reset_index().rename(columns={code: "practice"})
    rolled = finish(summed, evaluation.ruleset, practice_level=False)
    rolled = rolled.rename(columns={"practice": code})
    rolled["breakdown"] = breakdowns(rolled, evaluation.ruleset) if breakdown else None
    order = [code, name, "practices", "indicator"] + [
        c for c in score_columns() if c not in ("practice_code", "indicator")
    ]
    return rolled[order], notices


def score_columns() -> tuple[str, ...]:
    from ccrqof.scoring import SUMMARY_COLUMNS

    return SUMMARY_COLUMNS


def published(summary: pd.DataFrame, ruleset: RuleSet) -> pd.DataFrame:
    """NHS Digital's long achievement shape: PRACTICE_CODE, INDICATOR_CODE, MEASURE, VALUE,
    then REFERENCE_DATE and RULESET so that files of different runs cannot be confused."""
    rows = []
    for record in summary.to_dict("records"):
        practice = record["practice_code"]
        measures = (
            (("REGISTER", record["register"]),)
            if record["status"] == "register"
            else (
                ("NUMERATOR", record["numerator"]),
                ("DENOMINATOR", record["denominator"]),
                ("PCAS", record["pcas"]),
            )
        )
        if record["points"] is not None and not pd.isna(record["points"]):
            measures += (("ACHIEVED_POINTS", record["points"]),)
        for measure, value in measures:
            rows.append(
                {
                    "PRACTICE_CODE": practice if practice != _NO_PRACTICE else None,
                    "INDICATOR_CODE": record["indicator"],
                    "MEASURE": measure,
                    "VALUE": int(value) if measure != "ACHIEVED_POINTS" else float(value),
                }
            )
    frame = pd.DataFrame(rows, columns=["PRACTICE_CODE", "INDICATOR_CODE", "MEASURE"])
    frame["VALUE"] = pd.Series([r["VALUE"] for r in rows], dtype=object)  # counts stay whole
    frame["REFERENCE_DATE"] = ruleset.reference_date.isoformat()
    frame["RULESET"] = frame["INDICATOR_CODE"].map(ruleset.rule_years())
    return frame
