"""What QOF points are worth in pounds, estimated (docs/explanation-value.md).

For each practice and indicator: points × £ per point × CPI × APDF, where CPI (contractor
population index) is the practice's list size over the national average list size, and APDF
(adjusted practice disease factor) is the practice's prevalence of the indicator group's
register over the national prevalence (1 for CS005/CS006, which have no register). Every
figure is shown with where it came from; a figure nobody knows leaves the value blank and says
which, never a guess. It is an estimate, never a payment.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ccrqof.dates import registered_on
from ccrqof.errors import InputError, UsageError
from ccrqof.organisations import NOT_MAPPED
from ccrqof.rules import RuleSet
from ccrqof.rules.model import YearStatus

LABEL = "estimate: points × £ per point × CPI × APDF; not a payment"
VALUE_COLUMNS = (
    "list_size",
    "cpi",
    "prevalence",
    "national_prevalence",
    "apdf",
    "pound_per_point",
    "value_gbp",
    "value_missing",
)
NATIONAL_NAMES = ("pound_per_point", "average_list_size", "prevalence.<REGISTER>")


@dataclass(frozen=True)
class Figure:
    value: float | None
    source: str


@dataclass(frozen=True)
class NationalFigures:
    """One year's figures, the user's in place of the pack's where given."""

    year: str
    pound_per_point: Figure
    average_list_size: Figure
    prevalence: dict[str, Figure] = field(default_factory=dict)

    def as_dict(self) -> dict:
        def one(f: Figure) -> dict:
            return {"value": f.value, "source": f.source}

        return {
            "year": self.year,
            "pound_per_point": one(self.pound_per_point),
            "average_list_size": one(self.average_list_size),
            "prevalence": {k: one(v) for k, v in sorted(self.prevalence.items())},
        }


def parse_national(values: tuple[str, ...]) -> dict[str, float]:
    """--national NAME=VALUE options: a national figure the packs lack or the user knows
    better (prevalence as a fraction, such as prevalence.CAN001=0.034)."""
    out: dict[str, float] = {}
    for text in values:
        name, sep, raw = text.partition("=")
        name = name.strip()
        if not sep or not (
            name in ("pound_per_point", "average_list_size")
            or (name.startswith("prevalence.") and len(name) > len("prevalence."))
        ):
            raise UsageError(
                f"--national {text}: expected NAME=VALUE with NAME one of "
                f"{', '.join(NATIONAL_NAMES)}"
            )
        try:
            number = float(raw)
        except ValueError:
            raise UsageError(f"--national {text}: {raw.strip()!r} is not a number") from None
        if not np.isfinite(number) or number <= 0:
            raise UsageError(f"--national {text}: the value must be a positive number")
        if name.startswith("prevalence.") and number >= 1:
            raise UsageError(
                f"--national {text}: prevalence is a fraction of the list (0.034 for 3.4%)"
            )
        if name.startswith("prevalence."):
            name = "prevalence." + name.removeprefix("prevalence.").upper()
        out[name] = number
    return out


def check_national(given: dict[str, float], ruleset: RuleSet | None) -> None:
    """A prevalence given for a register no indicator has (a typo such as CAN01) is an
    error, not a figure silently unused."""
    if ruleset is None:
        return
    registers = {p.indicator for p in ruleset.packs.values() if p.is_register}
    for name in given:
        register = name.removeprefix("prevalence.")
        if name.startswith("prevalence.") and register not in registers:
            raise UsageError(
                f"--national {name}: {register} is not a register of these rules; registers: "
                f"{', '.join(sorted(registers)) or 'none'}"
            )


def national_figures(ruleset: RuleSet, year: str, given: dict[str, float]) -> NationalFigures:
    """The figures for the year whose rules scored an indicator: the pack's year.yaml, with
    the user's `--national` values in their place."""
    info = ruleset.years.get(year, ruleset.year)
    yours = "given with --national"

    def pick(name: str, figure) -> Figure:
        if name in given:
            return Figure(given[name], yours)
        if figure is None:
            return Figure(None, f"not in the {year} rule pack")
        return Figure(figure.value, figure.source)

    per_point = Figure(info.pound_per_point, info.pound_per_point_source or f"{year} rule pack")
    if "pound_per_point" in given:
        per_point = Figure(given["pound_per_point"], yours)
    prevalence = {k: pick(f"prevalence.{k}", v) for k, v in info.national.prevalence.items()}
    for name, number in given.items():
        if name.startswith("prevalence."):
            prevalence[name.removeprefix("prevalence.")] = Figure(number, yours)
    return NationalFigures(
        year, per_point, pick("average_list_size", info.national.average_list_size), prevalence
    )


def registered_list_sizes(patients: pd.DataFrame | None, reference_date: dt.date) -> pd.Series:
    """Patients registered at R per practice in the patients file (started on or before R, not
    ended on or before R: docs/reference-rules.md#who-is-counted), each patient once per
    practice."""
    if patients is None or patients.empty:
        return pd.Series(dtype="int64", name="list_size")
    day = np.datetime64(reference_date, "s")
    start = patients["registration_date"].to_numpy("datetime64[s]")
    end = patients["deregistration_date"].to_numpy("datetime64[s]")
    on = registered_on(start, end, day)
    registered = patients.loc[on, ["practice_code", "patient_id"]].drop_duplicates()
    return registered.groupby("practice_code")["patient_id"].size().rename("list_size")


def read_list_sizes(path: Path) -> pd.Series:
    """A CSV of practice_code, list_size (the registered list, for an extract that holds only
    the patients the rules need). A bad row stops the run with its line and column."""
    try:
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, encoding="utf-8-sig", skip_blank_lines=True
        )
    except pd.errors.EmptyDataError:
        raise InputError("is empty: it needs practice_code and list_size", file=str(path)) from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InputError(
            f"cannot read it as CSV ({exc.__class__.__name__})", file=str(path)
        ) from None
    columns = {c.strip().lower(): c for c in frame.columns}
    for name in ("practice_code", "list_size"):
        if name not in columns:
            raise InputError(
                f"has no {name!r} column (it needs practice_code and list_size)", file=str(path)
            )
    codes = frame[columns["practice_code"]].str.strip().str.upper()
    sizes = frame[columns["list_size"]].str.strip().str.replace(",", "", regex=False)
    blank = (codes == "") & (sizes == "")  # empty rows a spreadsheet leaves at the end
    codes, sizes = codes[~blank], sizes[~blank]
    for row, code, size in zip(codes.index + 2, codes, sizes, strict=True):
        if not code:
            raise InputError("practice_code is blank", file=str(path), line=row)
        if not (size.isascii() and size.isdigit()) or int(size) == 0:
            raise InputError(
                "list_size must be a whole number of patients above 0",
                file=str(path),
                line=row,
                column=columns["list_size"],
            )
    if codes.duplicated().any():
        row = int(codes.index[codes.duplicated()][0]) + 2
        raise InputError("a practice_code appears twice", file=str(path), line=row)
    return pd.Series(sizes.astype("int64").to_numpy(), index=codes.to_numpy(), name="list_size")


def estimate(
    summary: pd.DataFrame,
    ruleset: RuleSet,
    list_sizes: pd.Series,
    national: dict[str, float] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """The value columns (VALUE_COLUMNS) for each practice-level summary row, and the
    document that explains them: label, national figures with sources, list size source and
    notes. `list_sizes` is indexed by practice code."""
    national = national or {}
    years = ruleset.rule_years()
    figures = {y: national_figures(ruleset, y, national) for y in dict.fromkeys(years.values())}
    out = pd.DataFrame(index=summary.index, columns=list(VALUE_COLUMNS), dtype=object)
    registers = summary[summary["status"] == "register"].set_index(["practice_code", "indicator"])[
        "register"
    ]
    notes: list[str] = []
    missing_anywhere: set[str] = set()
    for i, row in summary.iterrows():
        indicator, practice = row["indicator"], row["practice_code"]
        pack = ruleset.packs[indicator]
        figure = figures[years[indicator]]
        size = list_sizes.get(practice) if practice is not None else None
        missing: list[str] = []
        cpi = None
        if size is None or pd.isna(size):
            missing.append("practice list size")
        elif figure.average_list_size.value is None:
            missing.append(f"national average list size {figure.year}")
        else:
            cpi = float(size) / figure.average_list_size.value
        register = pack.indicator if pack.is_register else pack.register
        prevalence = national_prevalence = None
        apdf = 1.0 if register is None else None
        if register is not None:
            national_prevalence = figure.prevalence.get(register, Figure(None, "")).value
            count = registers.get((practice, register))
            if size is not None and not pd.isna(size) and count is not None:
                prevalence = float(count) / float(size)
            if national_prevalence is None:
                missing.append(f"national {register} prevalence {figure.year}")
            elif prevalence is not None:
                apdf = prevalence / national_prevalence
        points = row["points"]
        value = None
        if points is None or pd.isna(points):
            missing = ["no points (local monitoring)"]  # no points: nothing to value
        elif not missing and cpi is not None and apdf is not None:
            value = float(points) * figure.pound_per_point.value * cpi * apdf
        missing_anywhere.update(m for m in missing if not m.startswith("no points"))
        out.loc[i] = [
            None if size is None or pd.isna(size) else int(size),
            cpi,
            prevalence,
            national_prevalence,
            apdf,
            figure.pound_per_point.value,
            value,
            "; ".join(missing) or None,
        ]
    protected = [i for i in ruleset.packs if ruleset.status_of(i) == YearStatus.income_protected]
    if protected:
        notes.append(
            f"{', '.join(protected)}: income protected that year; the estimate is what this "
            "achievement would have earned, not how payment was made (it was made on the "
            "previous year's achievement)"
        )
    if missing_anywhere:
        notes.append(
            "no £ value where a figure is missing: "
            + ", ".join(sorted(missing_anywhere))
            + " (give it with --national NAME=VALUE or --list-sizes FILE)"
        )
    document = {
        "label": LABEL,
        "national": [f.as_dict() for f in figures.values()],
        "notes": notes,
    }
    return out, document


def totals(frame: pd.DataFrame, group: str) -> pd.DataFrame:
    """£ per practice (or group) over its indicators with a value, and how many indicators
    had points but no value (a total that leaves some out says so)."""
    value = pd.to_numeric(frame["value_gbp"], errors="coerce")
    parts = pd.DataFrame(
        {
            group: frame[group],
            "value_gbp": value,
            "unvalued": value.isna() & frame["points"].notna(),
        }
    )
    summed = parts.groupby(group, dropna=False).agg(
        value_gbp=("value_gbp", lambda v: v.sum(min_count=1)),
        indicators_without_value=("unvalued", "sum"),
    )
    summed["indicators_without_value"] = summed["indicators_without_value"].astype(int)
    summed = summed.reset_index().astype(object)
    return summed.where(summed.notna(), None)  # JSON has no NaN: no value is null


def with_values(
    summary: pd.DataFrame,
    practice_summary: pd.DataFrame,
    ruleset: RuleSet,
    list_sizes: pd.Series,
    list_size_source: str,
    national: dict[str, float] | None = None,
    by: str = "practice",
    org_map: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict]:
    """`summary` (at the --by level) with the value columns, and the value document (label,
    national figures and sources, where list sizes came from, notes, totals per practice or
    group). Values are worked out per practice; a PCN's or ICB's is the sum of its practices'
    (a roll-up has no points of its own)."""
    values, document = estimate(practice_summary, ruleset, list_sizes, national)
    document["list_sizes"] = list_size_source
    per_practice = pd.concat(
        [practice_summary[["practice_code", "indicator", "points"]], values], axis=1
    )
    if by == "practice":
        out = pd.concat([summary.reset_index(drop=True), values.reset_index(drop=True)], axis=1)
        group = "practice_code"
    else:
        group = f"{by}_code"
        codes = org_map.set_index("practice_code")[group]
        per_practice[group] = per_practice["practice_code"].map(codes).fillna(NOT_MAPPED)
        per_practice["value_gbp"] = pd.to_numeric(per_practice["value_gbp"], errors="coerce")
        per_practice["list_size"] = pd.to_numeric(per_practice["list_size"], errors="coerce")
        per_practice["unvalued"] = per_practice["value_gbp"].isna() & per_practice["points"].notna()
        per_practice["unsized"] = per_practice["list_size"].isna()
        summed = per_practice.groupby([group, "indicator"]).agg(
            list_size=("list_size", "sum"),
            value_gbp=("value_gbp", lambda v: v.sum(min_count=1)),
            unvalued=("unvalued", "sum"),
            unsized=("unsized", "sum"),
            practices=("practice_code", "size"),
            reasons=("value_missing", lambda v: "; ".join(sorted({x for x in v if x}))),
        )
        # a group's value is whole or none: a sum leaving practices out would read as theirs
        partial = summed["unvalued"] > 0
        summed["value_missing"] = [
            f"{k} of {n} practices have points but no value ({why})" if k else None
            for k, n, why in zip(
                summed["unvalued"], summed["practices"], summed["reasons"], strict=True
            )
        ]
        summed["value_gbp"] = summed["value_gbp"].where(~partial)
        summed["list_size"] = summed["list_size"].astype("Int64").where(summed["unsized"] == 0)
        out = summary.join(
            summed[["list_size", "value_gbp", "value_missing"]], on=[group, "indicator"]
        )
        for name in VALUE_COLUMNS:
            if name not in out:
                out[name] = None
        out = out[[c for c in out.columns if c not in VALUE_COLUMNS] + list(VALUE_COLUMNS)]
    document["totals"] = totals(per_practice, group).to_dict("records")
    if by != "practice":  # totals per group, whole or none, as its rows
        for total in document["totals"]:
            if total["indicators_without_value"]:
                total["value_gbp"] = None
    return out, document
