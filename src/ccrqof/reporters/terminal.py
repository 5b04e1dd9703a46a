"""The terminal view: one block per practice, readable at a glance."""

from __future__ import annotations

import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ccrqof import scoring
from ccrqof.engine import Evaluation

STATUS_STYLE = {
    scoring.BELOW: "bold red",
    scoring.BETWEEN: "yellow",
    scoring.ABOVE: "bold green",
    scoring.NO_POINTS: "cyan",
    scoring.REGISTER: "dim",
    scoring.NO_DENOMINATOR: "dim",
}


def _pct(value) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{100 * value:.1f}%"


def _int(value) -> str:
    return "" if value is None or pd.isna(value) else str(int(value))


def _practice_table(rows: pd.DataFrame) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name, justify in (
        ("Indicator", "left"),
        ("Num", "right"),
        ("Den", "right"),
        ("PCAs", "right"),
        ("Excl", "right"),
        ("Achieved", "right"),
        ("Thresholds", "right"),
        ("Points", "right"),
        ("Status", "left"),
        ("To upper", "right"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)
    for row in rows.to_dict("records"):
        needed = _int(row["needed_for_upper"])
        table.add_row(
            row["indicator"],
            _int(row["numerator"]),
            _int(row["denominator"]),
            _int(row["pcas"]),
            _int(row["exclusions"]),
            _pct(row["achievement"]),
            f"{row['lower_threshold']:.0%}-{row['upper_threshold']:.0%}",
            _points(row),
            Text(row["status"], style=STATUS_STYLE.get(row["status"], "")),
            f"+{needed}" if needed not in ("", "0") else needed,
        )
    return table


def _points(row: dict) -> str:
    if row["points"] is None or pd.isna(row["points"]):
        return "-"
    return f"{row['points']:.2f} / {row['max_points']}"


def _heading(practice: str, register: dict) -> Text:
    return Text.assemble(
        ("Practice ", "bold"),
        (practice, "bold cyan"),
        "  cancer register ",
        (f"{register['register']:,}", "bold"),
        f" patients ({register['indicator']}, points ",
        _points(register),
        ")",
    )


def render_summary(
    console: Console, evaluation: Evaluation, summary: pd.DataFrame, input_lines: list[str]
) -> None:
    ruleset = evaluation.ruleset
    status = ruleset.status.value.replace("_", " ")
    console.print(
        Text.assemble(
            ("ccrqof ", "bold"),
            f"QOF {ruleset.year.year} rules ({status}), reference date ",
            (ruleset.reference_date.strftime("%d %b %Y"), "bold"),
        )
    )
    if ruleset.note:
        console.print(Text(ruleset.note, style="italic"))
    practices = summary["practice_code"].fillna("(no practice code)")
    for practice, rows in summary.groupby(practices, sort=True):
        registers = rows[rows["status"] == scoring.REGISTER]
        console.print()
        for register in registers.to_dict("records"):
            console.print(_heading(practice, register))
        console.print(_practice_table(rows[rows["status"] != scoring.REGISTER]))
    for line in input_lines:
        console.print(Text(line, style="dim"))
