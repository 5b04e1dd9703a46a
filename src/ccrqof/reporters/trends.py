"""Trend views: a terminal table with a sparkline per row, and a line chart (matplotlib)."""

from __future__ import annotations

import datetime as dt
import html
import io
from pathlib import Path

import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table

from ccrqof.errors import UsageError
from ccrqof.output import write_atomically, write_text
from ccrqof.trend import sparkline


def _pct(value) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{100 * value:.1f}%"


def render_trend(console: Console, frame: pd.DataFrame) -> None:
    group = frame.columns[4]
    periods = list(dict.fromkeys(frame["period"]))
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        title=f"Achievement {periods[0]} to {periods[-1]} ({len(periods)} points)",
        title_justify="left",
    )
    for name, justify in (
        (group.removesuffix("_code").upper() if group != "practice_code" else "Practice", "left"),
        ("Indicator", "left"),
        ("Trend", "left"),
        ("First", "right"),
        ("Last", "right"),
        ("Last num/den", "right"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)
    rated = frame[frame["status"] != "register"]
    for (key, indicator), rows in rated.groupby(
        [rated[group].astype(object).fillna("-"), "indicator"], sort=True
    ):
        rows = rows.set_index("period").reindex(periods)
        last = rows.iloc[-1]
        table.add_row(
            str(key),
            indicator,
            sparkline(rows["achievement"]),
            _pct(rows["achievement"].iloc[0]),
            _pct(last["achievement"]),
            f"{int(last['numerator'])}/{int(last['denominator'])}"
            if not pd.isna(last["numerator"])
            else "",
        )
    console.print(table)
    monitoring = frame[frame["year_status"] == "local_monitoring"]
    if len(monitoring):
        first = monitoring.iloc[0]
        retired = "/".join(
            sorted(set(monitoring.loc[monitoring["status"] != "register", "indicator"]))
        )
        console.print(
            f"From {first['period']} the {first['ruleset']} rules run as local monitoring "
            f"({retired} retired from QOF): no points.",
            style="dim",
        )


def totals(frame: pd.DataFrame) -> pd.DataFrame:
    """Achievement of the whole extract per period and indicator (sums over the groups)."""
    rated = frame[frame["status"] != "register"]
    summed = (
        rated.groupby(["reference_date", "indicator"], sort=True)[["numerator", "denominator"]]
        .sum()
        .reset_index()
    )
    summed["achievement"] = summed["numerator"] / summed["denominator"].where(
        summed["denominator"] > 0
    )
    return summed


def write_chart(
    frame: pd.DataFrame,
    thresholds: dict[str, tuple[float, float]],
    path: Path,
    retirement: dt.date | None = None,
) -> None:
    """Achievement over time, one line per indicator, threshold bands, and the date the
    indicators left QOF (the year.yaml `local_monitoring_from`) marked when in range."""
    suffix = path.suffix.lower()
    if suffix not in (".svg", ".png", ".html"):
        raise UsageError("--chart must end in .svg, .png or .html")
    try:
        import matplotlib

        matplotlib.use("Agg")
        matplotlib.rcParams["svg.hashsalt"] = "ccrqof"  # same data, same SVG bytes
        import matplotlib.dates as mdates
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--chart needs matplotlib: pip install 'ccrqof[chart]'") from None
    data = totals(frame)
    fig, ax = plt.subplots(figsize=(9, 4.8), dpi=120)
    colours = ["#005EB8", "#DA291C", "#009639", "#ED8B00"]  # NHS blue, red, green, orange
    for colour, (indicator, rows) in zip(colours, data.groupby("indicator"), strict=False):
        days = pd.to_datetime(rows["reference_date"])
        ax.plot(
            days,
            100 * rows["achievement"],
            marker="o",
            markersize=3,
            color=colour,
            linewidth=2,
            label=indicator,
        )
        if indicator in thresholds:
            lower, upper = thresholds[indicator]
            ax.axhspan(100 * lower, 100 * upper, color=colour, alpha=0.08)
            ax.axhline(100 * upper, color=colour, linewidth=0.8, linestyle=":", alpha=0.7)
            ax.axhline(100 * lower, color=colour, linewidth=0.8, linestyle=":", alpha=0.7)
    first, last = (
        pd.to_datetime(data["reference_date"]).min(),
        pd.to_datetime(data["reference_date"]).max(),
    )
    if retirement and first <= pd.Timestamp(retirement) <= last + pd.Timedelta(days=31):
        ax.axvline(pd.Timestamp(retirement), color="#425563", linestyle="--", linewidth=1)
        ax.annotate(
            f"retired from QOF\n({retirement.day} {retirement:%b %Y})",
            xy=(pd.Timestamp(retirement), 4),
            xytext=(6, 0),
            textcoords="offset points",
            fontsize=8,
            color="#425563",
        )
    ax.set_ylim(0, 100)
    ax.set_ylabel("achievement (%)")
    shown = " / ".join(sorted(data["indicator"].unique()))
    ax.set_title(f"{shown} achievement by month end (bands: QOF thresholds)", fontsize=11)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y"))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower left", frameon=False)
    fig.autofmt_xdate()
    fig.tight_layout()
    if suffix == ".html":
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None})
        table = data.assign(achievement=lambda d: (100 * d["achievement"]).round(1)).to_html(
            index=False
        )
        page = (
            f"<!doctype html><meta charset='utf-8'><title>ccrqof trend</title>"
            f"<body style='font-family:sans-serif'>{buffer.getvalue()}{table}"
            f"<p>{html.escape('Made by ccrqof from the given extract.')}</p></body>"
        )
        write_text(path, page)
    else:
        metadata = {"Date": None} if suffix == ".svg" else None
        write_atomically(path, lambda tmp: fig.savefig(tmp, format=suffix[1:], metadata=metadata))
    plt.close(fig)
