"""The measures that show change quickly (ccrqof.measures) on the terminal: the whole
extract's figures, summed over practices (files hold every practice's rows)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ccrqof.measures import totals

NOTE = (
    "Measures beside the QOF indicators, not part of them (docs/explanation-measures.md): "
    "cohorts by month of diagnosis, 'so far' until every window has closed; activity per 1,000 "
    "on the register at the month end."
)


def month_label(month: str) -> str:
    return dt.date.fromisoformat(f"{month}-01").strftime("%b %Y")


def rate_text(row) -> str:
    if pd.isna(row["rate"]):
        return "n/a"
    if row["kind"] == "cohort":
        return f"{100 * row['rate']:.1f}%"
    return f"{row['rate']:.1f}"


def counts_text(row) -> str:
    if row["kind"] == "cohort":
        return f"{int(row['count'])}/{int(row['base'])}"
    return f"{int(row['count'])}"


def label(indicator: str, title: str, kind: str) -> str:
    """`CAN004 Care reviews recorded, per 1,000`: the indicator the measure sits beside."""
    return f"{indicator} {title}" + (", per 1,000" if kind == "activity" else "")


def _table(title: str) -> Table:
    table = Table(
        box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, title=title, title_justify="left"
    )
    return table


def render_month(console: Console, frame: pd.DataFrame) -> None:
    """calc: per cohort measure its latest closed month and the newest month so far; per
    activity measure the reference date's month."""
    if frame.empty:
        return
    whole = totals(frame)
    table = _table("Measures that show change quickly (all practices in the extract)")
    table.add_column("Measure", min_width=30, ratio=1)
    for name, justify in (("Month", "left"), ("Count", "right"), ("Rate", "right"), ("", "left")):
        table.add_column(name, justify=justify, no_wrap=True)
    for (_, indicator, _measure), rows in _in_order(whole):
        rows = rows.sort_values("month")
        if rows.iloc[0]["kind"] == "cohort":
            chosen = [rows[rows["complete"]].tail(1), rows[~rows["complete"]].tail(1)]
        else:
            chosen = [rows.tail(1)]
        for part in chosen:
            for _, row in part.iterrows():
                table.add_row(
                    label(indicator, row["title"], row["kind"]),
                    month_label(row["month"]),
                    counts_text(row),
                    rate_text(row),
                    _state(row),
                )
    console.print()
    console.print(table)
    console.print(NOTE, style="dim")


def render_series(console: Console, frame: pd.DataFrame) -> None:
    """trend: one row per measure, its months as a line, the first and last closed month."""
    from ccrqof.trend import sparkline

    if frame.empty:
        return
    whole = totals(frame)
    months = sorted(whole["month"].unique())
    table = _table(
        f"Measures that show change quickly, {month_label(months[0])} to "
        f"{month_label(months[-1])} (all practices in the extract)"
    )
    table.add_column("Measure", min_width=30, ratio=1)
    for name, justify in (
        ("By month", "left"),
        ("First", "right"),
        ("Last closed", "right"),
        ("So far", "right"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)
    for (kind, indicator, _measure), rows in _in_order(whole):
        rows = rows.set_index("month").reindex(months)
        rates = rows["rate"].astype("float64")
        top = rates.max() if kind == "activity" else 1.0
        done = rows["complete"].fillna(False).astype(bool).to_numpy()
        line = Text()
        for char, closed_month in zip(
            sparkline(rates / top if top and top > 0 else rates), done, strict=True
        ):
            line.append(char, style=None if closed_month else "dim")
        closed = rows[rows["complete"].fillna(False).astype(bool)]
        open_ = rows[~rows["complete"].fillna(True).astype(bool)]
        table.add_row(
            label(indicator, rows["title"].dropna().iloc[0], kind),
            line,
            _cell(rows.reset_index().iloc[0]),
            _cell(closed.reset_index().iloc[-1]) if len(closed) else "",
            _cell(open_.reset_index().iloc[-1]) if len(open_) else "",
        )
    console.print()
    console.print(table)
    console.print(
        NOTE + " Cohort lines run from 0% to 100% (dim: months so far); activity lines from 0 "
        "to their highest month.",
        style="dim",
    )


def _in_order(whole: pd.DataFrame):
    """Cohorts first, then activity; by indicator and measure within each."""
    ordered = whole.assign(_order=(whole["kind"] != "cohort").astype(int))
    for (_, kind, indicator, measure), rows in ordered.groupby(
        ["_order", "kind", "indicator", "measure"], sort=True
    ):
        yield (kind, indicator, measure), rows.drop(columns="_order")


def _state(row) -> str:
    if row["kind"] == "cohort":
        return "closed" if row["complete"] else "so far"
    return "whole month" if row["complete"] else "month so far"


def _cell(row) -> str:
    """`Oct 25 46.4%`: a short month, so the row fits a terminal."""
    month = dt.date.fromisoformat(f"{row['month']}-01").strftime("%b %y")
    return f"{month} {rate_text(row)}"
