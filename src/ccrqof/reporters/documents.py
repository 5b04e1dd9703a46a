"""Machine-readable outputs: the JSON document, flat summaries and patient-level outcomes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from ccrqof.engine import Evaluation, outcome_columns
from ccrqof.engine.python.cascade import NOT_REGISTERED
from ccrqof.engine.python.handlers import NO_BIRTH_DATE, NO_SEX
from ccrqof.readers import InputReport
from ccrqof.rules import RuleSet


def _clean(value):
    """JSON has no NaN: missing numbers are null; numpy scalars become Python numbers."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


_COUNTS = {
    "practices",
    "register",
    "denominator",
    "numerator",
    "pcas",
    "exclusions",
    "needed_for_lower",
    "needed_for_upper",
}


def json_records(summary: pd.DataFrame) -> list[dict]:
    records = [{k: _clean(v) for k, v in row.items()} for row in summary.to_dict("records")]
    for record in records:
        for key in _COUNTS & record.keys():
            if record[key] is not None:
                record[key] = int(record[key])
    return records


def input_counts(evaluation: Evaluation, report: InputReport) -> dict:
    """Rows read, rejected by reason, and ignored by reason (reading's and the engine's), and
    the practices with registrations but no coded entry (a missing events file, likely)."""
    counts = report.as_dict()
    engine = sorted(evaluation.ignored.items(), key=lambda item: _IGNORED_ORDER.get(item[0], 9))
    counts["ignored"] = {**counts["ignored"], **dict(engine)}
    counts["practices_without_coded_entries"] = len(report.practices_without_entries)
    return counts


# the engines' reasons in one order whichever engine counted them
_IGNORED_ORDER = {
    "entries dated after the reference date": 0,
    NO_SEX: 1,
    NO_BIRTH_DATE: 2,
    NOT_REGISTERED: 3,
}


def json_document(
    evaluation: Evaluation, summary: pd.DataFrame, report: InputReport, version: str
) -> dict:
    """The `calc --format json` document: version, rule set, reference date, results, input
    counts, notices and the rule pack's identity (docs/reference-outputs.md)."""
    ruleset = evaluation.ruleset
    return {
        "ccrqof_version": version,
        "ruleset": ruleset.year.year,
        "status": ruleset.status.value,
        "reference_date": ruleset.reference_date.isoformat(),
        "note": ruleset.note,
        "indicators": indicator_rules(ruleset),
        "results": json_records(summary),
        "input": input_counts(evaluation, report),
        "notices": [*report.notices, *evaluation.notices],
        "rule_pack": rule_pack_identity(ruleset),
    }


def indicator_rules(ruleset: RuleSet) -> dict:
    """Each indicator's rules' year, status and note: CS005 paid under 2025-26 rules beside
    CAN004 run under 2024-25 rules as local monitoring."""
    return {
        indicator: {"ruleset": year, "status": status.value, "note": note}
        for year, status, indicators, note in ruleset.groups()
        for indicator in indicators
    }


def rule_pack_identity(ruleset: RuleSet) -> dict:
    """Which pack produced a result: the folder name (or 'bundled'), year and a file hash;
    `others`, the same for the earlier years whose retired packs ran beside it."""
    from ccrqof.rules.check import folder_sha256
    from ccrqof.rules.loader import BUNDLED

    def identity(folder: Path, year: str) -> dict:
        bundled = folder.resolve().parent == Path(str(BUNDLED)).resolve()
        return {
            "name": "bundled" if bundled else folder.resolve().parent.name,
            "year": year,
            "sha256": folder_sha256(folder),
        }

    folder = ruleset.folder or Path(str(BUNDLED)) / ruleset.year.year
    found = identity(folder, ruleset.year.year)
    others = [identity(f, y) for y, f in sorted(ruleset.year_folders.items()) if y != found["year"]]
    return {**found, "others": others} if others else found


def dump_json(document: dict) -> str:
    return json.dumps(document, indent=2) + "\n"


def flat_summary(summary: pd.DataFrame, ruleset: RuleSet) -> pd.DataFrame:
    """One column per field: the breakdown object becomes `breakdown_<FIELD>` columns. The
    reference date and rule year lead every row, so files of different runs cannot be confused."""
    breakdown = pd.json_normalize(summary["breakdown"].tolist()).add_prefix("breakdown_")
    breakdown = breakdown.astype("Int64")
    flat = pd.concat([summary.drop(columns="breakdown").reset_index(drop=True), breakdown], axis=1)
    for col in ("needed_for_lower", "needed_for_upper", "register", "denominator", "numerator"):
        flat[col] = flat[col].astype("Int64")
    return stamped(flat, ruleset)


def stamped(frame: pd.DataFrame, ruleset: RuleSet) -> pd.DataFrame:
    """The reference date and each row's rule year (by its `indicator`) first: files of
    different runs cannot be confused, and monthly files append."""
    frame = frame.copy()
    frame.insert(0, "reference_date", ruleset.reference_date.isoformat())
    frame.insert(1, "ruleset", frame["indicator"].map(ruleset.rule_years()))
    return frame


def patient_outcomes(evaluation: Evaluation) -> pd.DataFrame:
    """The patient-level rows (docs/reference-data.md#outputs), dates as ISO text (blank when
    absent)."""
    frame = evaluation.outcomes[list(outcome_columns(evaluation.ruleset))].copy()
    for col in (*evaluation.ruleset.outcome_dates(), "due_by"):
        frame[col] = pd.to_datetime(frame[col]).dt.strftime("%Y-%m-%d")
    return frame.sort_values(
        ["practice_code", "indicator", "patient_id"], na_position="first", ignore_index=True
    )


# Columns whose type must not depend on the month's values (a month without points would
# otherwise write `points` as text, and the next month's file would not append to it).
COLUMN_TYPES = {
    **dict.fromkeys(
        (
            "achievement",
            "points",
            "lower_threshold",
            "upper_threshold",
            "gross_rate",
            "pca_rate",
            "cpi",
            "prevalence",
            "national_prevalence",
            "apdf",
            "pound_per_point",
            "value_gbp",
            "rate",
        ),
        "float64",
    ),
    **dict.fromkeys(
        (
            "register",
            "denominator",
            "numerator",
            "pcas",
            "exclusions",
            "max_points",
            "needed_for_lower",
            "needed_for_upper",
            "list_size",
            "practices",
            "count",
            "base",
            "days_left",
            "invitations",
        ),
        "int64",
    ),
    "complete": "bool",
}


def write_frame(frame: pd.DataFrame, path: str | Path, fmt: str | None = None, **options) -> None:
    """CSV, Parquet, xlsx or HTML, chosen by `fmt` or by the file extension; written
    atomically (`ccrqof.reporters.files.write_table`, whose `options` these are)."""
    from ccrqof.reporters.files import write_table

    options.setdefault("types", COLUMN_TYPES)
    write_table(frame, path, fmt, **options)
