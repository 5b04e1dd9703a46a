"""Trend views: a terminal table with a sparkline per row, and charts (matplotlib) a cancer
board can put on a slide: one for the whole extract and, optionally, one per PCN or ICB."""

from __future__ import annotations

import datetime as dt
import html
import io
import math
import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table

from ccrqof.errors import UsageError
from ccrqof.output import write_atomically, write_text
from ccrqof.trend import SPARK, sparkline

TREND_SORTS = ("name", "change", "last")
_SORT_TITLES = {"change": ", largest fall first", "last": ", lowest last achievement first"}
_GROUP_CODES = ("practice_code", "pcn_code", "icb_code")
_LEVEL_LABELS = {"practice": "Practice", "pcn": "PCN", "icb": "ICB"}
MINUS = "\N{MINUS SIGN}"

# One colour per indicator, the same in every chart (NHS identity colours).
INDICATOR_COLOURS = {
    "CAN004": "#005EB8",  # NHS Blue
    "CAN005": "#ED8B00",  # NHS Orange
    "CS005": "#330072",  # NHS Purple
    "CS006": "#00A499",  # NHS Aqua Green
}
_OTHER_COLOURS = ("#425563", "#AE2573", "#006747", "#768692")  # NHS Dark Grey, Pink, Dark Green...
_MARKER_GREY = "#425563"  # NHS Dark Grey: the retirement line and the line-style key
# What each indicator measures, for legends; the title says which topic the chart is about.
INDICATOR_LABELS = {
    "CAN004": "cancer care review within 12 months of diagnosis",
    "CAN005": "support discussion within 3 months of diagnosis",
    "CS005": "cervical screening, women aged 25 to 49",
    "CS006": "cervical screening, women aged 50 to 64",
}
_TOPICS = (("CAN", "cancer care"), ("CS", "cervical screening"))
MEASURE_COLUMNS = ("measure", "kind", "indicator", "title", "month", "count", "base", "complete")

# A slide: 16:9 (16:10 with the cohort panel), at least 150 dpi, no text under 9 pt.
CHART_SIZE = (10.0, 5.625)
CHART_SIZE_WITH_MEASURES = (10.0, 7.5)
CHART_DPI = 150
SMALL_PT, TEXT_PT, TITLE_PT = 9, 10, 12
_SVG_SETTINGS = {"svg.hashsalt": "ccrqof", "svg.fonttype": "none"}  # same data, same bytes


def _pct(value) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{100 * value:.1f}%"


def _change(value) -> str:
    """Percentage points with a sign: "+3.2 pts", "−12.0 pts"."""
    if value is None or pd.isna(value):
        return "n/a"
    points = round(100 * value, 1)
    if points == 0:
        return "0.0 pts"
    return f"{'+' if points > 0 else MINUS}{abs(points):.1f} pts"


def group_column(frame: pd.DataFrame) -> str:
    """The series' group: the first organisation code column (with_org puts the level's
    code first: practice_code, then pcn_code and icb_code, for a practice-level series)."""
    return next(c for c in frame.columns if c in _GROUP_CODES)


def _every(periods: list[str]) -> str:
    """ "quarter" when the points are three months apart at quarter ends, else "month"."""
    months = [int(p[:4]) * 12 + int(p[5:7]) for p in periods]
    steps = {b - a for a, b in zip(months, months[1:], strict=False)}
    quarterly = steps == {3} and all(int(p[5:7]) % 3 == 0 for p in periods)
    return "quarter" if quarterly else "month"


def _ends(periods: list[str]) -> str:
    every = _every(periods)
    return f"{len(periods)} {every} end{'s' if len(periods) != 1 else ''}"


def _scale_caption(low: float, high: float) -> str:
    if pd.isna(low):
        return "Trend lines: no month end in the range had a denominator."
    if math.isclose(low, high):
        return (
            f"Trend lines: every value shown is {100 * low:.0f}% ({SPARK[(len(SPARK) - 1) // 2]})."
        )
    digits = 0 if round(100 * high) - round(100 * low) >= 10 else 1
    return (
        f"Trend lines run from {100 * low:.{digits}f}% ({SPARK[0]}) to "
        f"{100 * high:.{digits}f}% ({SPARK[-1]}), one scale for every row."
    )


def render_trend(console: Console, frame: pd.DataFrame, sort: str = "name") -> None:
    """One row per group and rated indicator: a sparkline scaled to the values shown (one scale
    for all rows, so rows compare), first and last achievement and the change between them.
    `sort`: "name" (group, then indicator), "change" (largest fall first) or "last" (lowest
    last achievement first)."""
    if sort not in TREND_SORTS:
        raise UsageError(f"the trend table's sort must be one of {', '.join(TREND_SORTS)}")
    group = group_column(frame)
    level = group.removesuffix("_code")
    name_column = f"{level}_name"
    periods = list(dict.fromkeys(frame["period"]))
    rated = frame[frame["status"] != "register"]
    rows = []
    for (key, indicator), points in rated.groupby(
        [rated[group].astype(object).fillna("-"), "indicator"], sort=True
    ):
        names = points[name_column].dropna() if name_column in points else ()
        points = points.set_index("period").reindex(periods)
        achievement = points["achievement"].astype(float)
        last = points.iloc[-1]
        rows.append(
            {
                "key": str(key),
                "name": str(names.iloc[0]) if len(names) else "",
                "indicator": indicator,
                "achievement": achievement,
                "first": achievement.iloc[0],
                "last": achievement.iloc[-1],
                "change": achievement.iloc[-1] - achievement.iloc[0],
                "counts": f"{int(last['numerator'])}/{int(last['denominator'])}"
                if not pd.isna(last["numerator"])
                else "",
            }
        )
    if sort != "name":  # no value sorts last; ties keep the name order
        rows.sort(key=lambda r: (pd.isna(r[sort]), 0 if pd.isna(r[sort]) else r[sort]))
    values = rated["achievement"].astype(float)
    low, high = values.min(), values.max()
    with_names = any(r["name"] for r in rows)
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        title=f"Achievement {periods[0]} to {periods[-1]} ({_ends(periods)})"
        f"{_SORT_TITLES.get(sort, '')}",
        title_justify="left",
        caption=_scale_caption(low, high),
        caption_justify="left",
    )
    columns = [(_LEVEL_LABELS[level], "left")] + ([("Name", "left")] if with_names else [])
    columns += [
        ("Indicator", "left"),
        ("Trend", "left"),
        ("First", "right"),
        ("Last", "right"),
        ("Change", "right"),
        ("Last num/den", "right"),
    ]
    for title, justify in columns:
        table.add_column(title, justify=justify, no_wrap=title != "Name")
    for row in rows:
        cells = [row["key"]] + ([row["name"]] if with_names else [])
        cells += [
            row["indicator"],
            sparkline(row["achievement"], low, high),
            _pct(row["first"]),
            _pct(row["last"]),
            _change(row["change"]),
            row["counts"],
        ]
        table.add_row(*cells)
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


def cohorts(measures: pd.DataFrame) -> pd.DataFrame:
    """The cohort measures summed over the groups: one row per indicator, measure and month of
    diagnosis with count, base, rate (count / base) and complete (every group's window closed)."""
    missing = [c for c in MEASURE_COLUMNS if c not in measures]
    if missing:
        raise ValueError(f"measures lack the column(s) {', '.join(missing)}")
    rows = measures[measures["kind"] == "cohort"].astype({"count": float, "base": float})
    summed = (
        rows.groupby(["indicator", "measure", "month"], sort=True)
        .agg(
            title=("title", "first"),
            count=("count", "sum"),
            base=("base", "sum"),
            complete=("complete", "all"),
        )
        .reset_index()
    )
    summed["rate"] = summed["count"] / summed["base"].where(summed["base"] > 0)
    return summed.astype({"count": "Int64", "base": "Int64", "complete": bool})


def indicator_colour(indicator: str, shown: list[str] | None = None) -> str:
    """INDICATOR_COLOURS, or a grey/pink/green for an indicator outside it."""
    if indicator in INDICATOR_COLOURS:
        return INDICATOR_COLOURS[indicator]
    others = [i for i in (shown or [indicator]) if i not in INDICATOR_COLOURS]
    return _OTHER_COLOURS[others.index(indicator) % len(_OTHER_COLOURS)]


def default_title(indicators: list[str], every: str = "month") -> str:
    """What the chart shows, in the words of the indicators shown (no cancer wording on a
    cervical screening chart)."""
    parts = []
    for prefix, topic in _TOPICS:
        codes = [i for i in indicators if re.match(rf"{prefix}\d", i)]
        if codes:
            parts.append(f"{topic} ({', '.join(codes)})")
    others = [i for i in indicators if not re.match(r"(CAN|CS)\d", i)]
    if others:
        parts.append(", ".join(others))
    subject = " and ".join(parts)
    return f"{subject[:1].upper()}{subject[1:]}: achievement at each {every} end"


def _day(text: str) -> dt.date:
    return dt.date.fromisoformat(str(text)[:10])


def _human(day: dt.date) -> str:
    return f"{day.day} {day:%b %Y}"


def _month_ticks(ax, days: list[dt.date], at_most: int = 12) -> None:
    """A tick and "Jan 2025" label under the points themselves (a 31 January point is
    January's, however the date axis would round it), at most `at_most` of them."""
    import matplotlib.dates as mdates

    step = max(1, math.ceil(len(days) / at_most))
    ticks = days[::step]
    ax.set_xticks([mdates.date2num(d) for d in ticks])
    ax.set_xticklabels([f"{d:%b %Y}" for d in ticks], rotation=45, ha="right")
    ax.tick_params(axis="x", labelsize=SMALL_PT)
    for label in ax.get_xticklabels():
        label.set_rotation_mode("anchor")
    pad = dt.timedelta(days=16)
    ax.set_xlim(mdates.date2num(days[0] - pad), mdates.date2num(days[-1] + pad))


def _percent_axis(ax, label: str) -> None:
    from matplotlib.ticker import PercentFormatter

    ax.set_ylim(0, 100)
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=100, decimals=0))
    ax.set_ylabel(label, fontsize=TEXT_PT)
    ax.tick_params(axis="y", labelsize=SMALL_PT)
    ax.grid(axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)


def _legend_outside(ax, **kwargs) -> None:
    """The legend to the right of the plot area, never over a line."""
    ax.legend(
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0.0,
        frameon=False,
        fontsize=SMALL_PT,
        **kwargs,
    )


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def chart_figure(
    frame: pd.DataFrame,
    thresholds: dict[str, tuple[float, float]],
    retirement: dt.date | None = None,
    *,
    title: str | None = None,
    caveat: str | None = None,
    measures: pd.DataFrame | None = None,
):
    """The chart of `frame` summed over its groups, as a matplotlib Figure (see write_chart)."""
    return _chart(frame, thresholds, retirement, title, caveat, measures)[0]


def _matplotlib():
    """matplotlib, an optional dependency (the `chart` extra)."""
    try:
        import matplotlib
    except ImportError:
        raise UsageError("--chart needs matplotlib: pip install 'ccrqof[chart]'") from None
    return matplotlib


def _chart(frame, thresholds, retirement, title, caveat, measures):
    """The figure, its title and its source line."""
    _matplotlib()
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure

    import ccrqof

    data = totals(frame)
    if data.empty:
        raise UsageError("--chart: the series has no indicator with an achievement to draw")
    shown = sorted(data["indicator"].unique())
    days = sorted({_day(d) for d in data["reference_date"]})
    periods = [f"{d:%Y-%m}" for d in days]
    every = _every(periods)
    panel = cohorts(measures) if measures is not None else None
    if panel is not None and panel.empty:
        panel = None

    figure = Figure(
        figsize=CHART_SIZE if panel is None else CHART_SIZE_WITH_MEASURES,
        dpi=CHART_DPI,
        layout="constrained",
    )
    if panel is None:
        ax = figure.add_subplot()
        lower = None
    else:
        ax, lower = figure.subplots(2, 1, height_ratios=(3, 2))
    title = title or default_title(shown, every)
    figure.suptitle(_wrap(title, 90), fontsize=TITLE_PT)

    for indicator, rows in data.groupby("indicator", sort=True):
        colour = indicator_colour(indicator, shown)
        label = f"{indicator} {INDICATOR_LABELS.get(indicator, '')}".strip()
        if indicator in thresholds:
            lo, hi = thresholds[indicator]
            label += f" (QOF band {100 * lo:.0f}–{100 * hi:.0f}%)"
            ax.axhspan(100 * lo, 100 * hi, color=colour, alpha=0.08, linewidth=0)
            for level in (lo, hi):
                ax.axhline(100 * level, color=colour, linewidth=0.8, linestyle=":", alpha=0.7)
        ax.plot(
            [mdates.date2num(_day(d)) for d in rows["reference_date"]],
            100 * rows["achievement"].astype(float),
            marker="o",
            markersize=4,
            color=colour,
            linewidth=2,
            label=_wrap(label, 34),
        )
    _percent_axis(ax, f"{', '.join(shown)} achievement")
    ax.set_xlabel(f"{every.capitalize()} end", fontsize=TEXT_PT)
    _month_ticks(ax, days)
    retired = sorted(
        set(frame.loc[frame["year_status"] == "local_monitoring", "indicator"]) & set(shown)
    )
    if retirement and retired and days[0] < retirement <= days[-1]:
        # between the last point under QOF and the first under local monitoring, so that the
        # line crosses neither
        before = max(d for d in days if d < retirement)
        after = min(d for d in days if d >= retirement)
        x = (mdates.date2num(before) + mdates.date2num(after)) / 2
        ax.axvline(x, color=_MARKER_GREY, linestyle="--", linewidth=1)
        left, right = ax.get_xlim()
        on_right = (x - left) > 0.6 * (right - left)
        ax.annotate(  # above the plot area: over no line, no point and no legend
            f"{'/'.join(retired)} retired from QOF ({_human(retirement)})",
            xy=(x, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(-3 if on_right else 3, 3),
            textcoords="offset points",
            ha="right" if on_right else "left",
            va="bottom",
            fontsize=SMALL_PT,
            color=_MARKER_GREY,
        )
    _legend_outside(ax)

    if panel is not None:
        _cohort_panel(lower, panel, shown)

    source = (
        f"Source: ccrqof {ccrqof.__version__}, {every} ends {_human(days[0])} to "
        f"{_human(days[-1])}."
    )
    lines = [source] + (textwrap.wrap(caveat, 150) if caveat else [])
    figure.text(0.01, 0.01, "\n".join(lines), fontsize=SMALL_PT, color="#425563", va="bottom")
    height = figure.get_size_inches()[1] * 72
    reserved = (len(lines) * SMALL_PT * 1.3 + 10) / height
    figure.get_layout_engine().set(rect=(0, reserved, 1, 1 - reserved))
    return figure, title, source


def _cohort_panel(ax, panel: pd.DataFrame, shown: list[str]) -> None:
    """Share achieved by month of diagnosis, one line per cohort measure in its indicator's
    colour: solid where the window has closed, dashed with open markers where it is still
    open (so far)."""
    import matplotlib.dates as mdates
    from matplotlib.lines import Line2D

    months = sorted({str(m) for m in panel["month"]})
    days = [dt.date(int(m[:4]), int(m[5:7]), 15) for m in months]
    indicators = sorted(panel["indicator"].unique())
    handles = []
    for (indicator, _measure), rows in panel.groupby(["indicator", "measure"], sort=True):
        colour = indicator_colour(indicator, shown + indicators)
        rows = rows.sort_values("month")
        x = [mdates.date2num(dt.date(int(m[:4]), int(m[5:7]), 15)) for m in rows["month"]]
        y = 100 * rows["rate"].astype(float).to_numpy()
        closed = rows["complete"].astype(bool).to_numpy()
        open_ = ~closed
        near_open = open_ | np.r_[open_[1:], False] | np.r_[False, open_[:-1]]
        ax.plot(x, np.where(closed, y, np.nan), color=colour, linewidth=2, marker="o",
                markersize=4, linestyle="-")  # fmt: skip
        ax.plot(
            x,
            np.where(near_open, y, np.nan),
            color=colour,
            linewidth=1.5,
            linestyle="--",
            marker="o",
            markersize=5,
            markerfacecolor="white",
            markevery=[int(i) for i in np.flatnonzero(open_)],
        )
        title = rows["title"].iloc[0]
        handles.append(
            Line2D([], [], color=colour, linewidth=2, label=_wrap(f"{title} ({indicator})", 34))
        )
    handles += [
        Line2D([], [], color=_MARKER_GREY, marker="o", markersize=4, label="window closed"),
        Line2D(
            [],
            [],
            color=_MARKER_GREY,
            linestyle="--",
            marker="o",
            markersize=5,
            markerfacecolor="white",
            label=_wrap("so far (window still open)", 34),
        ),
    ]
    cancer = all(i.startswith("CAN") for i in indicators)
    month = "month of diagnosis" if cancer else "month the cohort started"
    ax.set_title(f"Cohorts: share achieved by {month}", fontsize=TEXT_PT, loc="left")
    _percent_axis(ax, "achieved (% of cohort)")
    ax.set_xlabel(month.capitalize(), fontsize=TEXT_PT)
    _month_ticks(ax, days)
    _legend_outside(ax, handles=handles)


def _check_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in (".svg", ".png", ".html"):
        raise UsageError("--chart must end in .svg, .png or .html")
    return suffix


def write_chart(
    frame: pd.DataFrame,
    thresholds: dict[str, tuple[float, float]],
    path: Path,
    retirement: dt.date | None = None,
    *,
    title: str | None = None,
    caveat: str | None = None,
    measures: pd.DataFrame | None = None,
) -> None:
    """Achievement of the whole extract over time (numerators and denominators summed over the
    groups): one line per indicator in its INDICATOR_COLOURS colour, QOF threshold bands, the
    date the indicators left QOF (year.yaml `local_monitoring_from`) when in range, the legend
    outside the plot, and a source line (ccrqof version, the range, `caveat`). With `measures`
    (one row per group, measure and month: see MEASURE_COLUMNS) a second panel shows the cohort
    measures by month of diagnosis. SVG, PNG (150 dpi) or an HTML page with the SVG and the
    plotted numbers; the same data gives the same SVG bytes."""
    path = Path(path)
    suffix = _check_suffix(path)
    with _matplotlib().rc_context(_SVG_SETTINGS):
        figure, title, source = _chart(frame, thresholds, retirement, title, caveat, measures)
        if suffix == ".html":
            buffer = io.StringIO()
            figure.savefig(buffer, format="svg", metadata={"Date": None})
            page = _page(title, source, caveat, buffer.getvalue(), frame, measures)
            write_text(path, page)
        elif suffix == ".svg":
            write_atomically(
                path, lambda tmp: figure.savefig(tmp, format="svg", metadata={"Date": None})
            )
        else:
            write_atomically(path, lambda tmp: figure.savefig(tmp, format="png", dpi=CHART_DPI))


def _page(
    title: str,
    source: str,
    caveat: str | None,
    svg: str,
    frame: pd.DataFrame,
    measures: pd.DataFrame | None,
) -> str:
    """The HTML page: the title, the chart, its source line, the caveat and the numbers it
    plots."""
    table = totals(frame).assign(achievement=lambda d: (100 * d["achievement"]).round(1))
    parts = [
        "<!doctype html><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<body style='font-family:sans-serif'>",
        f"<h1 style='font-size:1.2em'>{html.escape(title)}</h1>",
        svg[svg.index("<svg") :],  # without the XML declaration a page cannot hold
        f"<p>{html.escape(source)}</p>",
        f"<p><strong>{html.escape(caveat)}</strong></p>" if caveat else "",
        "<h2 style='font-size:1em'>Achievement (%) plotted</h2>",
        table.to_html(index=False),
    ]
    if measures is not None:
        plotted = cohorts(measures).assign(rate=lambda d: (100 * d["rate"]).round(1))
        parts += [
            "<h2 style='font-size:1em'>Cohort measures plotted (rate: %)</h2>",
            plotted.to_html(index=False),
        ]
    parts.append("</body>")
    return "".join(parts)


def chart_path(path: Path, code: str) -> Path:
    """The chart of one group: `<stem>-<code><suffix>` beside `path` (characters a file name
    should not hold become "-")."""
    path = Path(path)
    slug = re.sub(r"[^A-Za-z0-9_]+", "-", str(code)).strip("-") or "group"
    return path.with_name(f"{path.stem}-{slug}{path.suffix}")


def write_charts_by(
    frame: pd.DataFrame,
    thresholds: dict[str, tuple[float, float]],
    path: Path,
    retirement: dt.date | None = None,
    *,
    by: str,
    title: str | None = None,
    caveat: str | None = None,
    measures: pd.DataFrame | None = None,
) -> list[Path]:
    """The whole-extract chart at `path`, then one chart per group of `by` (practice, pcn or
    icb: the series must be at that level) at `chart_path(path, code)`, titled with the group's
    code and name. `measures` is split by the same code column. Returns the files written."""
    path = Path(path)
    _check_suffix(path)
    if by not in _LEVEL_LABELS:
        raise UsageError(f"--by must be one of {', '.join(_LEVEL_LABELS)}")
    code = f"{by}_code"
    if group_column(frame) != code:  # a series by practice carries pcn_code too: not its level
        raise UsageError(f"charts by {by} need a series by {by} (--by {by})")
    if measures is not None and code not in measures:
        raise ValueError(f"measures for charts by {by} need a {code} column")
    write_chart(frame, thresholds, path, retirement, title=title, caveat=caveat, measures=measures)
    written = [path]
    name_column = f"{by}_name"
    keys = frame[code].astype(object).fillna("-")
    for key, rows in frame.groupby(keys, sort=True):
        names = rows[name_column].dropna() if name_column in rows else ()
        heading = " ".join(
            [_LEVEL_LABELS[by], str(key)] + ([str(names.iloc[0])] if len(names) else [])
        )
        indicators = sorted(rows.loc[rows["status"] != "register", "indicator"].unique())
        group_title = (
            f"{heading}: {title or default_title(indicators, _every(sorted(set(rows['period']))))}"
        )
        target = chart_path(path, key)
        if target in written:
            raise UsageError(f"two {by} codes give the same chart file name {target.name}")
        group_measures = None
        if measures is not None:
            group_measures = measures[measures[code].astype(object).fillna("-") == key]
        write_chart(
            rows,
            thresholds,
            target,
            retirement,
            title=group_title,
            caveat=caveat,
            measures=group_measures,
        )
        written.append(target)
    return written
