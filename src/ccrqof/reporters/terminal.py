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


def header_lines(ruleset) -> list[Text]:
    """The rules that ran: one line when every indicator shares a year and a status, else a
    line per year and status (CS005/CS006 paid beside CAN004/CAN005 as local monitoring)."""
    day = (ruleset.reference_date.strftime("%d %b %Y"), "bold")
    groups = ruleset.groups()
    if len(groups) == 1:
        ((year, status, _, note),) = groups
        words = status.value.replace("_", " ")
        lines = [
            Text.assemble(("ccrqof ", "bold"), f"QOF {year} rules ({words}), reference date ", day)
        ]
        return lines + ([Text(note, style="italic")] if note else [])
    lines = [Text.assemble(("ccrqof ", "bold"), f"QOF {ruleset.year.year}, reference date ", day)]
    for year, status, indicators, note in groups:
        words = status.value.replace("_", " ")
        lines.append(Text.assemble(f"  {', '.join(indicators)}: {year} rules, ", (words, "bold")))
        if note:
            lines.append(Text(f"  {note}", style="italic"))
    return lines


def render_summary(
    console: Console, evaluation: Evaluation, summary: pd.DataFrame, input_lines: list[str]
) -> None:
    ruleset = evaluation.ruleset
    for line in header_lines(ruleset):
        console.print(line)
    if "practice_code" not in summary or summary["practice_code"].nunique() > COMPACT_AFTER:
        console.print(_compact_table(summary, ruleset))
        for line in input_lines:
            console.print(Text(line, style="dim"))
        return
    practices = summary["practice_code"].fillna("(no practice code)")
    for practice, rows in summary.groupby(practices, sort=True):
        registers = rows[rows["status"] == scoring.REGISTER]
        console.print()
        for register in registers.to_dict("records"):
            console.print(_heading(practice, register))
        if registers.empty:  # no register ran (--indicators CS005): the practice alone
            console.print(Text.assemble(("Practice ", "bold"), (practice, "bold cyan")))
        console.print(_practice_table(rows[rows["status"] != scoring.REGISTER]))
    for line in input_lines:
        console.print(Text(line, style="dim"))


COMPACT_AFTER = 5  # more practices than this: one compact table instead of blocks


def _compact_table(summary: pd.DataFrame, ruleset) -> Table:
    """One row per practice (or PCN, ICB), worst achievement first, with a totals row."""
    level = summary.columns[0].removesuffix("_code")
    code, name = summary.columns[0], f"{level}_name"
    rated = [p.indicator for p in ruleset.ordered() if not p.is_register]
    register = next((p.indicator for p in ruleset.ordered() if p.is_register), None)
    wide = summary.pivot_table(
        index=code,
        columns="indicator",
        values=["numerator", "denominator", "register"],
        aggfunc="sum",
        dropna=False,
    )
    points = (
        summary.pivot_table(
            index=code, columns="indicator", values="points", aggfunc="first", dropna=False
        )
        if summary["points"].notna().any()
        else None
    )
    named = name in summary and summary[name].notna().any()  # blank without an org map
    names = summary.groupby(code)[name].first() if named else None
    first = rated[0] if rated else None
    achievement = wide["numerator"][first] / wide["denominator"][first].replace(0, float("nan"))
    order = achievement.sort_values(na_position="first", kind="stable").index
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        title=f"{len(order)} {level.upper() if level != 'practice' else 'practices'}, "
        f"lowest {first} achievement first",
        title_justify="left",
    )
    table.add_column(level.upper() if level != "practice" else "Practice", no_wrap=True)
    if names is not None:
        table.add_column("Name")
    table.add_column("Register", justify="right")
    for indicator in rated:
        table.add_column(f"{indicator} num/den", justify="right")
        table.add_column("%", justify="right")
        if points is not None:
            table.add_column("points", justify="right")

    def cells(num, den, pts) -> list[str]:
        out = [f"{int(num)}/{int(den)}", _pct(num / den if den else None)]
        if points is not None:
            out.append("-" if pts is None or pd.isna(pts) else f"{pts:.2f}")
        return out

    for key in order:
        name_cell = names.get(key) if names is not None else None
        row = [str(key)] + ([_text(name_cell)] if names is not None else [])
        row.append(_int(wide["register"][register][key]) if register else "")
        for indicator in rated:
            row += cells(
                wide["numerator"][indicator][key],
                wide["denominator"][indicator][key],
                points[indicator][key] if points is not None else None,
            )
        table.add_row(*row)
    total = ["Total"] + ([""] if names is not None else [])
    total.append(_int(wide["register"][register].sum()) if register else "")
    for indicator in rated:
        total += cells(
            wide["numerator"][indicator].sum(),
            wide["denominator"][indicator].sum(),
            points[indicator].sum() if points is not None else None,
        )
    table.add_section()
    table.add_row(*total, style="bold")
    return table


def _text(value) -> str:
    return "" if value is None or pd.isna(value) else str(value)


def input_lines(counts: dict) -> list[str]:
    """The input counts under the summary table: rows read, rejected and not counted."""
    read = ", ".join(f"{n:,} {what} rows" for what, n in counts["rows_read"].items())
    lines = [f"Read {read}."]
    rejected = counts["rejected"]
    if rejected:
        lines.append(
            "Rejected: "
            + "; ".join(f"{n:,} {why}" for why, n in rejected.items())
            + " (nothing else was dropped)."
        )
    else:
        lines.append("Rejected: none.")
    ignored = {k: v for k, v in counts["ignored"].items() if v}
    if ignored:
        lines.append(
            "Not counted: " + "; ".join(f"{n:,} {why}" for why, n in ignored.items()) + "."
        )
    if without := counts.get("practices_without_coded_entries"):
        lines.append(f"Practices with registrations but no coded entries: {without:,}.")
    return lines


def _money(value) -> str:
    return "-" if value is None or pd.isna(value) else f"£{value:,.2f}"


def _ratio(value) -> str:
    return "-" if value is None or pd.isna(value) else f"{value:.3f}"


def render_value(console: Console, summary: pd.DataFrame, document: dict) -> None:
    """The £ estimate: per practice and indicator with CPI and APDF (a few practices), else
    a total per practice or group; then the national figures with their sources and notes."""
    group = summary.columns[0]
    console.print()
    console.print(Text.assemble(("Estimated value ", "bold"), f"({document['label']})"))
    detailed = group == "practice_code" and summary[group].nunique() <= COMPACT_AFTER
    if detailed:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for name in ("Practice", "Indicator", "Points", "List", "CPI", "APDF", "£/point"):
            table.add_column(name, justify="left" if name in ("Practice", "Indicator") else "right")
        table.add_column("Estimate", justify="right", style="bold")
        table.add_column("Why no estimate")
        for row in summary.to_dict("records"):
            points = (
                "-" if row["points"] is None or pd.isna(row["points"]) else f"{row['points']:.2f}"
            )
            table.add_row(
                str(row[group] or "(no practice code)"),
                row["indicator"],
                points,
                _int(row["list_size"]),
                _ratio(row["cpi"]),
                _ratio(row["apdf"]),
                _money(row["pound_per_point"]),
                _money(row["value_gbp"]),
                row["value_missing"] or "",
            )
        console.print(table)
    totals = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    totals.add_column(
        group.removesuffix("_code").upper() if group != "practice_code" else "Practice"
    )
    totals.add_column("Estimate", justify="right", style="bold")
    totals.add_column("Indicators with points but no estimate", justify="right")
    for row in document["totals"]:
        totals.add_row(
            str(row[group] or "(no practice code)"),
            _money(row["value_gbp"]),
            str(int(row["indicators_without_value"])),
        )
    console.print(totals)
    for figures in document["national"]:
        year = figures["year"]
        for name, figure in (
            ("£ per point", figures["pound_per_point"]),
            ("national average list size", figures["average_list_size"]),
            *((f"national prevalence {k}", v) for k, v in figures["prevalence"].items()),
        ):
            shown = "unknown" if figure["value"] is None else f"{figure['value']:,g}"
            console.print(Text(f"{year} {name}: {shown} ({figure['source']})", style="dim"))
    console.print(Text(f"List sizes: {document['list_sizes']}", style="dim"))
    for note in document["notes"]:
        console.print(Text(note, style="italic"))
