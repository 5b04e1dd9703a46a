"""What a cancer board sees (issue 17): org maps in NHS England's and ODS's own headers, the
practices a map leaves out, organisation columns that are always there, the trend table and
the charts.

The org maps are written here in the real files' headers: NHS England's ePCN core partner
details ("Partner Organisation Code", ..., "Practice to PCN Relationship End Date"), NHS
England's practice mapping file (PRACTICE_CODE, ..., ICB_NAME) and ODS downloads
("Organisation Code", "Organisation Name"). Series frames for the table and charts are built by
hand, so every expected value below is worked out from the numbers given, not from the code.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib
import matplotlib.dates as mdates
import openpyxl
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.text import Text
from rich.console import Console

import ccrqof
from ccrqof.errors import InputError, UsageError
from ccrqof.organisations import (
    LEVEL_COLUMNS,
    ORG_COLUMNS,
    check_level,
    missing_from_map,
    parse_org_columns,
    read_org_map,
    summarise,
    with_org,
)
from ccrqof.reporters import trends
from ccrqof.reporters.trends import (
    INDICATOR_COLOURS,
    chart_figure,
    chart_path,
    render_trend,
    write_chart,
    write_charts_by,
)
from ccrqof.synthetic import make_extract, write_extract
from ccrqof.trend import series

matplotlib.use("Agg")

EPCN_HEADER = [
    "Partner Organisation Code",
    "Partner Name",
    "Practice Parent Sub ICB Location Code",
    "Practice Parent Sub ICB Location Name",
    "PCN Code",
    "PCN Name",
    "PCN Parent Sub ICB Location Code",
    "PCN Parent Sub ICB Location Name",
    "Practice to PCN Relationship Start Date",
    "Practice to PCN Relationship End Date",
    "Practice Sub ICB and PCN Sub ICB Match?",
]


def epcn_row(practice, name, pcn, pcn_name, start="20190701", end=""):
    return [practice, name, "00L", "NHS North East", pcn, pcn_name, "00L", "NHS North East"] + [
        start,
        end,
        "MATCH",
    ]


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    pd.DataFrame(rows, columns=header).to_csv(path, index=False)
    return path


# --- reading org maps ---------------------------------------------------------------------------


def test_epcn_core_partner_csv_keeps_current_memberships_and_says_how_many_ended(tmp_path):
    path = write_csv(
        tmp_path / "epcncorepartnerdetails.csv",
        EPCN_HEADER,
        [
            epcn_row("A81001", "NORTH SURGERY", "U00001", "NORTH PCN"),
            epcn_row("a81002", "SOUTH SURGERY", "U00001", "NORTH PCN", end="20991231"),  # not yet
            epcn_row("A81003", "EAST SURGERY", "U00009", "OLD PCN", end="20210331"),  # ended
            epcn_row("A81003", "EAST SURGERY", "U00002", "SOUTH PCN", start="20210401"),
            epcn_row("A81004", "WEST SURGERY", "U00008", "GONE PCN", end="2020-06-30"),  # ended
        ],
    )
    org = read_org_map(path)
    assert list(org.columns) == ["practice_code", "practice_name", "pcn_code", "pcn_name"]
    assert org.to_dict("records") == [
        {"practice_code": "A81001", "practice_name": "NORTH SURGERY", "pcn_code": "U00001",
         "pcn_name": "NORTH PCN"},
        {"practice_code": "A81002", "practice_name": "SOUTH SURGERY", "pcn_code": "U00001",
         "pcn_name": "NORTH PCN"},
        {"practice_code": "A81003", "practice_name": "EAST SURGERY", "pcn_code": "U00002",
         "pcn_name": "SOUTH PCN"},
    ]  # fmt: skip
    [notice] = org.attrs["notices"]
    assert "left out 2 ended membership(s)" in notice
    assert "'Practice to PCN Relationship End Date' is before today" in notice
    check_level("pcn", org)


def test_epcn_sub_icb_location_is_not_taken_for_an_icb(tmp_path):
    path = write_csv(
        tmp_path / "epcn.csv", EPCN_HEADER, [epcn_row("A81001", "N", "U00001", "NORTH PCN")]
    )
    with pytest.raises(UsageError) as caught:
        check_level("icb", read_org_map(path))
    message = str(caught.value)
    assert "no icb_code column" in message
    assert "'Practice Parent Sub ICB Location Code' is a Sub ICB Location" in message
    assert "--org-column icb_code='Practice Parent Sub ICB Location Code'" in message
    # asked for, it is used
    org = read_org_map(path, {"icb_code": "Practice Parent Sub ICB Location Code"})
    assert org.loc[0, "icb_code"] == "00L"
    check_level("icb", org)


def _workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def test_epcn_workbook_reads_the_core_partner_sheet(tmp_path):
    ended = dt.datetime(2022, 3, 31)  # an Excel date cell, not text
    path = _workbook(
        tmp_path / "ePCN.xlsx",
        {
            "PCNDetails": [["PCN Code", "PCN Name"], ["U00001", "NORTH PCN"]],
            "PCN Core Partner Details": [
                EPCN_HEADER,
                epcn_row("A81001", "NORTH SURGERY", "U00001", "NORTH PCN", start=None),
                epcn_row("A81002", "SOUTH SURGERY", "U00007", "OLD PCN", end=ended),
                epcn_row("A81002", "SOUTH SURGERY", "U00001", "NORTH PCN"),
            ],
        },
    )
    org = read_org_map(path)
    assert org[["practice_code", "pcn_code"]].values.tolist() == [
        ["A81001", "U00001"],
        ["A81002", "U00001"],
    ]
    assert "left out 1 ended membership(s)" in org.attrs["notices"][0]


def test_other_workbooks_use_the_first_sheet_and_ods_headers(tmp_path):
    path = _workbook(
        tmp_path / "practices.xlsx",
        {
            "Practices": [
                ["Organisation Code", "Organisation Name", "Postcode"],
                ["A81001", "THE SURGERY", "TS1 1AA"],
                [None, None, None],  # a formatted but empty row
            ],
            "Notes": [["practice_code"], ["B99999"]],
        },
    )
    org = read_org_map(path)
    assert org.to_dict("records") == [{"practice_code": "A81001", "practice_name": "THE SURGERY"}]
    assert org.attrs["notices"] == []


def test_nhs_england_practice_mapping_headers(tmp_path):
    header = ["PUBLICATION", "EXTRACT_DATE", "PRACTICE_CODE", "PRACTICE_NAME"]
    header += ["SUB_ICB_LOCATION_CODE", "SUB_ICB_LOCATION_NAME", "ICB_CODE", "ICB_NAME"]
    header += ["PCN_CODE", "PCN_NAME"]
    path = write_csv(
        tmp_path / "gp-reg-pat-prac-map.csv",
        header,
        [["GP_PRAC_PAT_LIST", "01NOV2025", "A81001", "THE SURGERY", "16C", "TEES", "QHM",
          "NHS NORTH EAST ICB", "U00001", "NORTH PCN"]],
    )  # fmt: skip
    org = read_org_map(path)
    assert list(org.columns) == list(ORG_COLUMNS)
    assert org.iloc[0].tolist() == [
        "A81001",
        "THE SURGERY",
        "U00001",
        "NORTH PCN",
        "QHM",
        "NHS NORTH EAST ICB",
    ]


def test_org_columns_name_any_header(tmp_path):
    path = write_csv(
        tmp_path / "local.csv",
        ["Surgery", "Network", "Board"],
        [["a81001", "U00001", "QHM"], ["A81002", "U00002", ""]],
    )
    chosen = parse_org_columns(("practice_code=Surgery", "pcn_code = Network", "icb_code=board"))
    assert chosen == {"practice_code": "Surgery", "pcn_code": "Network", "icb_code": "board"}
    org = read_org_map(path, chosen)  # "board": the header matched as spellings are
    assert org.to_dict("records") == [
        {"practice_code": "A81001", "pcn_code": "U00001", "icb_code": "QHM"},
        {"practice_code": "A81002", "pcn_code": "U00002", "icb_code": None},  # blank is none
    ]


@pytest.mark.parametrize(
    "options, message",
    [
        (("practice_code",), "--org-column expects NAME=HEADER"),
        (("practice_code=",), "--org-column expects NAME=HEADER"),
        (("ccg_code=CCG",), "unknown name 'ccg_code'; the names are practice_code, practice_name"),
    ],
)
def test_org_column_option_errors(options, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        parse_org_columns(options)


def test_org_column_naming_a_missing_header_lists_the_file_headers(tmp_path):
    path = write_csv(tmp_path / "org.csv", ["Code", "PCN"], [["A81001", "U00001"]])
    with pytest.raises(UsageError) as caught:
        read_org_map(path, {"practice_code": "Practice"})
    assert str(caught.value) == (
        f"{path}: --org-column practice_code=Practice: the org map has no column 'Practice' "
        "(found: Code, PCN)"
    )
    with pytest.raises(UsageError, match="unknown name 'practice'"):
        read_org_map(path, {"practice": "Code"})


def test_two_headers_for_one_column_is_an_error_not_a_guess(tmp_path):
    path = write_csv(
        tmp_path / "org.csv",
        ["practice_code", "Organisation Code"],
        [["A81001", "A81002"]],
    )
    with pytest.raises(InputError, match="could each be practice_code: name the one to use"):
        read_org_map(path)
    org = read_org_map(path, {"practice_code": "Organisation Code"})
    assert org["practice_code"].tolist() == ["A81002"]


def test_an_end_date_that_is_not_a_date_names_its_line_and_column(tmp_path):
    path = write_csv(
        tmp_path / "epcn.csv",
        EPCN_HEADER,
        [epcn_row("A81001", "N", "U1", "P"), epcn_row("A81002", "S", "U1", "P", end="soon")],
    )
    with pytest.raises(InputError) as caught:
        read_org_map(path)
    assert str(caught.value).startswith(
        f"{path}, line 3, column 'Practice to PCN Relationship End Date': is not a date"
    )


def test_a_file_that_is_not_a_workbook_is_one_clear_error(tmp_path):
    path = tmp_path / "org.xlsx"
    path.write_text("practice_code\nA81001\n")
    with pytest.raises(InputError, match=r"cannot be read as an Excel workbook .*save it as"):
        read_org_map(path)


def test_duplicate_practices_are_named(tmp_path):
    path = write_csv(tmp_path / "org.csv", ["practice_code"], [["A81001"], ["a81001"], ["A81002"]])
    with pytest.raises(InputError, match=r"lists 1 practice code\(s\) more than once \(A81001\)"):
        read_org_map(path)


# --- practices the map leaves out, and the columns every output carries -------------------------


def test_missing_practices_are_named_up_to_five_then_counted():
    org = pd.DataFrame({"practice_code": ["A81001", "A81002"], "pcn_code": ["P1", None]})
    practices = ["A81001", "A81002", *(f"B8200{i}" for i in range(7, 0, -1)), None]
    assert missing_from_map(practices, org, "practice") == [
        "8 practice(s) are not in the org map: (no practice code), B82001, B82002, B82003, "
        "B82004 and 3 more; their name, PCN and ICB columns are blank"
    ]
    assert missing_from_map(practices, org, "pcn") == [
        "8 practice(s) are not in the org map: (no practice code), B82001, B82002, B82003, "
        "B82004 and 3 more; they are grouped as '(not in org map)'",
        "1 practice(s) have no pcn_code in the org map: A81002; they are grouped as "
        "'(not in org map)'",
    ]
    assert missing_from_map(practices, None) == []
    assert missing_from_map(["A81001"], org, "practice") == []


@pytest.fixture(scope="module")
def extract(tmp_path_factory):
    """Four synthetic practices, A81001 to A81004 (reference date 31 March 2024)."""
    folder = tmp_path_factory.mktemp("board")
    events, patients = make_extract(n_practices=4, patients_per_practice=150, seed=3)
    paths = write_extract(events, patients, folder)
    return ccrqof.read_extract(paths[0], patients=paths[1])


@pytest.fixture(scope="module")
def scored(extract):
    ruleset = ccrqof.load_ruleset(year="2023-24")
    return ccrqof.evaluate(extract, ruleset, ccrqof.illustrative_codelist(), engine="python")


ORG = pd.DataFrame(
    {
        "practice_code": ["A81001", "A81002", "A81003"],
        "practice_name": ["North", "South", "East"],
        "pcn_code": ["P1", "P1", "P2"],
        "pcn_name": ["North PCN", "North PCN", None],
        "icb_code": ["Q1", "Q2", "Q2"],  # P1's practices are in two ICBs: P1 has none
        "icb_name": ["ICB one", "ICB two", "ICB two"],
    }
)


def test_practice_summary_always_carries_the_organisation_columns(scored):
    bare, notices = summarise(scored)
    assert list(bare.columns[:7]) == [*ORG_COLUMNS, "indicator"]
    assert bare[list(ORG_COLUMNS[1:])].isna().all().all() and notices == []
    names_only = ORG[["practice_code", "practice_name"]]
    named, notices = summarise(scored, "practice", names_only)
    assert list(named.columns[:7]) == [*ORG_COLUMNS, "indicator"]
    by_practice = named.groupby("practice_code").first()
    assert by_practice["practice_name"].to_dict() == {
        "A81001": "North",
        "A81002": "South",
        "A81003": "East",
        "A81004": None,
    }
    assert by_practice["pcn_code"].isna().all()
    assert notices == [
        "1 practice(s) are not in the org map: A81004; their name, PCN and ICB columns are blank"
    ]
    # the counts are the practice's own, map or not
    assert named.drop(columns=list(ORG_COLUMNS[1:])).equals(
        bare.drop(columns=list(ORG_COLUMNS[1:]))
    )


def test_pcn_rollup_carries_its_icb_only_when_the_map_gives_one(scored):
    rolled, notices = summarise(scored, "pcn", ORG)
    assert list(rolled.columns[:6]) == [*LEVEL_COLUMNS["pcn"], "practices", "indicator"]
    first = rolled.groupby("pcn_code").first()
    assert first[["pcn_name", "icb_code", "icb_name"]].to_dict("index") == {
        "P1": {"pcn_name": "North PCN", "icb_code": None, "icb_name": None},  # two ICBs
        "P2": {"pcn_name": None, "icb_code": "Q2", "icb_name": "ICB two"},
        "(not in org map)": {"pcn_name": None, "icb_code": None, "icb_name": None},
    }
    assert notices == [
        "1 practice(s) are not in the org map: A81004; they are grouped as '(not in org map)'"
    ]
    icb, _ = summarise(scored, "icb", ORG)
    assert list(icb.columns[:4]) == ["icb_code", "icb_name", "practices", "indicator"]
    assert "pcn_code" not in icb and "practice_code" not in icb


def test_with_org_puts_the_columns_after_the_run_columns():
    worklist = pd.DataFrame(
        {
            "reference_date": ["2024-03-31"] * 2,
            "ruleset": ["2023-24"] * 2,
            "patient_id": ["1", "2"],
            "practice_code": ["A81003", "Z99999"],
            "pcn_name": ["stale", "stale"],  # the map's names replace a frame's own
        }
    )
    out = with_org(worklist, ORG)
    assert list(out.columns) == ["reference_date", "ruleset", *ORG_COLUMNS, "patient_id"]
    assert out.iloc[0][list(ORG_COLUMNS)].tolist() == [
        "A81003",
        "East",
        "P2",
        None,
        "Q2",
        "ICB two",
    ]
    assert out.iloc[1][list(ORG_COLUMNS[1:])].tolist() == [None] * 5
    kept = with_org(worklist, None)
    assert kept["pcn_name"].tolist() == ["stale", "stale"]  # no map: nothing to replace it
    icb = with_org(pd.DataFrame({"icb_code": ["Q2"], "n": [1]}), ORG, "icb")
    assert icb.to_dict("records") == [{"icb_code": "Q2", "icb_name": "ICB two", "n": 1}]
    with pytest.raises(ValueError, match="needs a pcn_code column"):
        with_org(worklist, ORG, "pcn")


def test_series_says_which_practices_the_map_leaves_out(extract):
    engine = ccrqof.get_engine("python")
    days = [dt.date(2024, 2, 29), dt.date(2024, 3, 31)]
    rulesets = [ccrqof.load_ruleset(reference_date=d) for d in days]
    handle = engine.prepare(extract, ccrqof.illustrative_codelist(), rulesets)
    frame = series(engine, handle, days, by="pcn", org_map=ORG)
    assert frame.attrs["notices"] == [  # once, not once a month end
        "1 practice(s) are not in the org map: A81004; they are grouped as '(not in org map)'"
    ]
    leading = ["period", "reference_date", "ruleset", "year_status", *LEVEL_COLUMNS["pcn"]]
    assert list(frame.columns[: len(leading)]) == leading


# --- the trend table ----------------------------------------------------------------------------

PCN_ORG = pd.DataFrame(
    {
        "practice_code": ["A81001", "A81002"],
        "pcn_code": ["P1", "P2"],
        "pcn_name": ["North PCN", "South PCN"],
        "icb_code": ["Q1", "Q1"],
        "icb_name": ["ICB one", "ICB one"],
    }
)


def _month_end(period: str) -> dt.date:
    year, month = int(period[:4]), int(period[5:7])
    return dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)


def series_frame(achievement: dict, periods: list[str], retired_from: str | None = None):
    """A hand-made series by PCN: achievement per (pcn, indicator) per period (None: no
    denominator), as numerator / 1000; a CAN001 register row per PCN and period."""
    rows = []
    for (pcn, indicator), values in achievement.items():
        for period, value in zip(periods, values, strict=True):
            retired = retired_from is not None and period >= retired_from
            status = "local_monitoring" if retired and indicator.startswith("CAN") else "paid"
            rows.append(
                {
                    "period": period,
                    "reference_date": _month_end(period).isoformat(),
                    "ruleset": "2024-25",
                    "year_status": status,
                    "pcn_code": pcn,
                    "indicator": indicator,
                    "denominator": 0 if value is None else 1000,
                    "numerator": 0 if value is None else round(1000 * value),
                    "achievement": value,
                    "status": "between",
                }
            )
    registers = [
        {**row, "indicator": "CAN001", "status": "register", "achievement": 1.0}
        for row in rows
        if row["indicator"] == rows[0]["indicator"]
    ]
    frame = pd.DataFrame(rows + registers)
    return with_org(frame, PCN_ORG, "pcn")


TABLE = {
    ("P1", "CAN004"): [0.80, 0.812, 0.832],
    ("P1", "CAN005"): [0.70, 0.65, 0.58],
    ("P2", "CAN004"): [0.41, None, 0.93],
    ("P2", "CAN005"): [0.50, 0.50, 0.50],
}
MONTHS = ["2025-01", "2025-02", "2025-03"]


def table_text(frame: pd.DataFrame, **kwargs) -> list[str]:
    console = Console(file=io.StringIO(), width=200)
    render_trend(console, frame, **kwargs)
    return [line.rstrip() for line in console.file.getvalue().splitlines()]


def table_rows(lines: list[str]) -> list[list[str]]:
    """(PCN, name, indicator, trend, first, last, change) of each data row."""
    header = next(line for line in lines if line.startswith("PCN"))
    at = header.index("Trend")
    rows = []
    for line in lines:
        if line[:2] in ("P1", "P2"):
            cells = line[:at].split(maxsplit=1)
            name, indicator = cells[1].rsplit(maxsplit=1)
            first, last, change, unit, _counts = line[at + 3 :].split()
            trend = line[at : at + 3]
            rows.append([cells[0], name, indicator, trend, first, last, f"{change} {unit}"])
    return rows


def test_trend_table_scales_sparklines_to_the_values_shown_and_gives_the_change():
    lines = table_text(series_frame(TABLE, MONTHS))
    assert lines[0].strip() == "Achievement 2025-01 to 2025-03 (3 month ends)"
    # 41% is the lowest value shown and 93% the highest: the scale's ▁ and █, for every row
    assert "Trend lines run from 41% (▁) to 93% (█), one scale for every row." in lines
    assert table_rows(lines) == [
        ["P1", "North PCN", "CAN004", "▆▆▇", "80.0%", "83.2%", "+3.2 pts"],
        ["P1", "North PCN", "CAN005", "▅▄▃", "70.0%", "58.0%", "−12.0 pts"],
        ["P2", "South PCN", "CAN004", "▁ █", "41.0%", "93.0%", "+52.0 pts"],
        ["P2", "South PCN", "CAN005", "▂▂▂", "50.0%", "50.0%", "0.0 pts"],
    ]
    assert not any("CAN001" in line for line in lines)  # a register has no rate


@pytest.mark.parametrize(
    "sort, title, order",
    [
        ("name", "", [("P1", "CAN004"), ("P1", "CAN005"), ("P2", "CAN004"), ("P2", "CAN005")]),
        (
            "change",
            ", largest fall first",
            [("P1", "CAN005"), ("P2", "CAN005"), ("P1", "CAN004"), ("P2", "CAN004")],
        ),
        (
            "last",
            ", lowest last achievement first",
            [("P2", "CAN005"), ("P1", "CAN005"), ("P1", "CAN004"), ("P2", "CAN004")],
        ),
    ],
)
def test_trend_table_sorts(sort, title, order):
    lines = table_text(series_frame(TABLE, MONTHS), sort=sort)
    assert lines[0].strip() == f"Achievement 2025-01 to 2025-03 (3 month ends){title}"
    assert [(r[0], r[2]) for r in table_rows(lines)] == order


def test_trend_table_counts_quarter_ends_and_rejects_an_unknown_sort():
    quarters = ["2024-06", "2024-09", "2024-12"]
    lines = table_text(series_frame({("P1", "CS005"): [0.5, 0.6, 0.7]}, quarters))
    assert lines[0].strip() == "Achievement 2024-06 to 2024-12 (3 quarter ends)"
    with pytest.raises(UsageError, match="sort must be one of name, change, last"):
        table_text(series_frame(TABLE, MONTHS), sort="worst")


# --- charts -------------------------------------------------------------------------------------

HALF_YEAR = ["2025-01", "2025-02", "2025-03", "2025-04", "2025-05", "2025-06"]
CANCER = {
    ("P1", "CAN004"): [0.80, 0.82, 0.84, 0.70, 0.66, 0.62],
    ("P1", "CAN005"): [0.70, 0.72, 0.71, 0.60, 0.55, 0.50],
    ("P2", "CAN004"): [0.60, 0.62, 0.64, 0.60, 0.58, 0.56],
    ("P2", "CAN005"): [0.50, 0.52, 0.51, 0.40, 0.35, 0.30],
}
SCREENING = {
    ("P1", "CS005"): [0.71, 0.72, 0.73, 0.74, 0.75, 0.76],
    ("P1", "CS006"): [0.61, 0.62, 0.63, 0.64, 0.65, 0.66],
}
THRESHOLDS = {"CAN004": (0.5, 0.9), "CAN005": (0.7, 0.9), "CS005": (0.45, 0.8)}
RETIRED = dt.date(2025, 4, 1)


def all_text(figure) -> list[str]:
    return [t.get_text() for t in figure.findobj(Text) if t.get_visible() and t.get_text()]


def drawn(figure):
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return canvas.get_renderer()


def test_chart_title_and_labels_follow_the_indicators_shown():
    screening = series_frame(SCREENING, HALF_YEAR)
    figure = chart_figure(screening, THRESHOLDS, RETIRED)
    texts = all_text(figure)
    assert figure._suptitle.get_text() == (
        "Cervical screening (CS005, CS006): achievement at each month end"
    )
    assert figure.axes[0].get_ylabel() == "CS005, CS006 achievement"
    assert not [t for t in texts if "CAN" in t or "ancer" in t or "retired" in t], texts
    cancer = series_frame(CANCER, HALF_YEAR, retired_from="2025-04")
    figure = chart_figure(cancer, THRESHOLDS, RETIRED)
    assert figure._suptitle.get_text() == (
        "Cancer care (CAN004, CAN005): achievement at each month end"
    )
    assert figure.axes[0].get_ylabel() == "CAN004, CAN005 achievement"
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert legend[0].replace("\n", " ") == (
        "CAN004 cancer care review within 12 months of diagnosis (QOF band 50–90%)"
    )
    mine = chart_figure(cancer, THRESHOLDS, RETIRED, title="North ICB cancer board, July 2025")
    assert mine._suptitle.get_text() == "North ICB cancer board, July 2025"


def test_month_ends_are_labelled_as_their_own_month():
    months = ["2024-11", "2024-12", "2025-01", "2025-02"]
    figure = chart_figure(series_frame({("P1", "CS005"): [0.5] * 4}, months), {})
    ax = figure.axes[0]
    drawn(figure)
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "Nov 2024",
        "Dec 2024",
        "Jan 2025",  # the 31 January 2025 point, not February's
        "Feb 2025",
    ]
    [line] = ax.get_lines()[-1:]
    assert list(ax.get_xticks()) == list(line.get_xdata())
    assert list(line.get_xdata()) == [
        mdates.date2num(dt.date(y, m, d))
        for y, m, d in ((2024, 11, 30), (2024, 12, 31), (2025, 1, 31), (2025, 2, 28))
    ]


def test_legend_is_outside_the_plot_and_the_retirement_label_overlaps_nothing():
    figure = chart_figure(series_frame(CANCER, HALF_YEAR, retired_from="2025-04"), {}, RETIRED)
    renderer = drawn(figure)
    ax = figure.axes[0]
    plot = ax.get_window_extent(renderer)
    legend = ax.get_legend().get_window_extent(renderer)
    assert legend.x0 >= plot.x1  # right of the plot area: over no line
    [label] = ax.texts
    assert label.get_text() == "CAN004/CAN005 retired from QOF (1 Apr 2025)"
    box = label.get_window_extent(renderer)
    assert box.y0 >= plot.y1  # above the plot area: over no line or point
    assert not box.overlaps(legend)
    assert not box.overlaps(figure._suptitle.get_window_extent(renderer))
    # the dashed line falls between the last paid point (31 March) and the first after
    [marker] = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    x = marker.get_xdata()[0]
    assert mdates.date2num(dt.date(2025, 3, 31)) < x < mdates.date2num(dt.date(2025, 4, 30))


def test_each_indicator_has_its_own_colour_in_every_chart():
    for frame in (series_frame(CANCER, HALF_YEAR), series_frame(SCREENING, HALF_YEAR)):
        figure = chart_figure(frame, {})
        lines = [line for line in figure.axes[0].get_lines() if line.get_marker() == "o"]
        for line in lines:
            indicator = line.get_label().split()[0]
            assert to_hex(line.get_color()) == INDICATOR_COLOURS[indicator].lower()
        assert len(lines) == 2
    assert set(INDICATOR_COLOURS) == {"CAN004", "CAN005", "CS005", "CS006"}
    assert len(set(INDICATOR_COLOURS.values())) == 4  # four indicators, four colours


def test_no_text_is_smaller_than_9_points():
    frame = series_frame(CANCER, HALF_YEAR, retired_from="2025-04")
    figure = chart_figure(frame, THRESHOLDS, RETIRED, caveat="A caveat.", measures=MEASURES)
    drawn(figure)
    sizes = {t.get_text(): t.get_fontsize() for t in figure.findobj(Text) if t.get_text()}
    assert min(sizes.values()) >= 9, {t: s for t, s in sizes.items() if s < 9}


def test_svg_has_the_title_source_and_caveat_as_text_and_the_same_bytes_each_time(tmp_path):
    frame = series_frame(CANCER, HALF_YEAR, retired_from="2025-04")
    caveat = "Made with the illustrative code list: not for reporting."
    first, second = tmp_path / "a.svg", tmp_path / "b.svg"
    for path in (first, second):
        write_chart(frame, THRESHOLDS, path, RETIRED, caveat=caveat)
    assert first.read_bytes() == second.read_bytes()
    root = ET.fromstring(first.read_bytes())
    texts = [" ".join(e.itertext()) for e in root.iter() if e.tag.endswith("text")]
    assert "Cancer care (CAN004, CAN005): achievement at each month end" in texts
    source = f"Source: ccrqof {ccrqof.__version__}, month ends 31 Jan 2025 to 30 Jun 2025."
    assert source in texts and caveat in texts
    svg = first.read_text()
    assert INDICATOR_COLOURS["CAN004"].lower() in svg and INDICATOR_COLOURS["CAN005"].lower() in svg


def test_png_is_fit_for_a_slide(tmp_path):
    path = tmp_path / "trend.png"
    write_chart(series_frame(CANCER, HALF_YEAR), THRESHOLDS, path)
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", data[16:24])
    at = data.index(b"pHYs") + 4
    per_metre = struct.unpack(">I", data[at : at + 4])[0]
    assert round(per_metre * 0.0254) == 150  # dots per inch
    assert (width, height) == (1500, 843)  # 10 x 5.625 inches (16:9) at 150 dpi


def test_quarter_ends_are_called_so():
    quarters = ["2024-06", "2024-09", "2024-12", "2025-03"]
    figure = chart_figure(series_frame({("P1", "CS006"): [0.5, 0.6, 0.6, 0.7]}, quarters), {})
    assert figure._suptitle.get_text().endswith("achievement at each quarter end")
    assert "quarter ends 30 Jun 2024 to 31 Mar 2025." in " ".join(all_text(figure))


def test_html_page_holds_the_chart_caveat_and_numbers(tmp_path):
    path = tmp_path / "trend.html"
    frame = series_frame(CANCER, HALF_YEAR)
    write_chart(frame, THRESHOLDS, path, caveat="Illustrative <codes>.", measures=MEASURES)
    page = path.read_text()
    assert page.startswith("<!doctype html>") and "<?xml" not in page
    assert "<svg" in page and "</svg>" in page
    assert "Illustrative &lt;codes&gt;." in page
    assert "<h1" in page and "Cancer care (CAN004, CAN005)" in page
    assert "Cohort measures plotted" in page and "CAN004_COHORT" in page


@pytest.mark.parametrize("name", ["trend.pdf", "trend"])
def test_a_chart_name_with_another_ending_is_a_usage_error(tmp_path, name):
    with pytest.raises(UsageError, match="must end in .svg, .png or .html"):
        write_chart(series_frame(CANCER, HALF_YEAR), {}, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


# --- the cohort panel ---------------------------------------------------------------------------


def _measures() -> pd.DataFrame:
    """CAN004_COHORT for two PCNs, January to June 2024: P1 count i of 10, P2 count 2i of 10 in
    month i, so the whole extract's rate is 3i/20. Windows closed up to April; May closed for P1
    only (so, summed, not yet); June open for both. One activity row, not to be drawn."""
    rows = []
    for i in range(1, 7):
        for pcn, count in (("P1", i), ("P2", 2 * i)):
            closed = i <= 4 or (i == 5 and pcn == "P1")
            rows.append(
                {"reference_date": "2025-06-30", "ruleset": "2024-25", "pcn_code": pcn,
                 "measure": "CAN004_COHORT", "kind": "cohort", "indicator": "CAN004",
                 "title": "Care review within 12 months of diagnosis", "month": f"2024-{i:02d}",
                 "count": count, "base": 10, "rate": count / 10, "complete": closed}
            )  # fmt: skip
    rows.append(
        {**rows[0], "measure": "CAN004_REVIEWS", "kind": "activity", "rate": 12.5, "count": 5}
    )
    return pd.DataFrame(rows)


MEASURES = _measures()


def test_cohort_panel_is_solid_where_the_window_closed_and_dashed_so_far():
    figure = chart_figure(series_frame(CANCER, HALF_YEAR), {}, measures=MEASURES)
    assert len(figure.axes) == 2
    panel = figure.axes[1]
    assert panel.get_title(loc="left") == "Cohorts: share achieved by month of diagnosis"
    assert panel.get_ylabel() == "achieved (% of cohort)"
    lines = panel.get_lines()
    assert len(lines) == 2  # one cohort measure; the activity measure is not drawn
    solid, dashed = lines
    expected = [100 * 3 * i / 20 for i in range(1, 7)]  # 15%, 30%, ... 90%
    assert solid.get_linestyle() == "-" and dashed.get_linestyle() == "--"
    assert list(pd.Series(solid.get_ydata()).round(6)) == pytest.approx(
        expected[:4] + [float("nan")] * 2, nan_ok=True
    )  # closed: January to April
    assert list(pd.Series(dashed.get_ydata()).round(6)) == pytest.approx(
        [float("nan")] * 3 + expected[3:], nan_ok=True
    )  # April joins the line to May and June
    assert list(dashed.get_markevery()) == [4, 5]  # open markers on May and June only
    assert dashed.get_markerfacecolor() == "white"
    for line in lines:
        assert to_hex(line.get_color()) == INDICATOR_COLOURS["CAN004"].lower()
    texts = [t.get_text() for t in panel.get_legend().get_texts()]
    assert "Care review within 12 months of diagnosis (CAN004)" in [
        t.replace("\n", " ") for t in texts
    ]
    assert "window closed" in texts


def test_charts_by_pcn_one_file_per_group_with_its_own_rows(tmp_path, monkeypatch):
    frame = series_frame(CANCER, HALF_YEAR, retired_from="2025-04")
    calls = []
    original = trends.write_chart

    def spy(rows, thresholds, path, retirement=None, **kwargs):
        measures = kwargs["measures"]
        calls.append((Path(path).name, sorted(set(rows["pcn_code"])), kwargs["title"]))
        calls[-1] += (sorted(set(measures["pcn_code"])),)
        original(rows, thresholds, path, retirement, **kwargs)

    monkeypatch.setattr(trends, "write_chart", spy)
    path = tmp_path / "trend.svg"
    written = write_charts_by(
        frame, THRESHOLDS, path, RETIRED, by="pcn", caveat="c", measures=MEASURES
    )
    assert written == [path, tmp_path / "trend-P1.svg", tmp_path / "trend-P2.svg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)
    assert calls == [
        ("trend.svg", ["P1", "P2"], None, ["P1", "P2"]),
        ("trend-P1.svg", ["P1"], "PCN P1 North PCN: " + CANCER_TITLE, ["P1"]),
        ("trend-P2.svg", ["P2"], "PCN P2 South PCN: " + CANCER_TITLE, ["P2"]),
    ]
    svg = (tmp_path / "trend-P1.svg").read_text()
    assert "PCN P1 North PCN" in svg


CANCER_TITLE = "Cancer care (CAN004, CAN005): achievement at each month end"


def test_charts_by_need_the_series_at_that_level(tmp_path):
    with pytest.raises(UsageError, match=r"charts by icb need a series by icb \(--by icb\)"):
        write_charts_by(series_frame(CANCER, HALF_YEAR), {}, tmp_path / "t.svg", by="icb")


def test_chart_file_names_of_groups():
    assert chart_path(Path("out/trend.svg"), "U00001") == Path("out/trend-U00001.svg")
    assert chart_path(Path("trend.png"), "(not in org map)") == Path("trend-not-in-org-map.png")


def test_the_how_to_lists_the_chart_colours():
    text = (Path(__file__).parent.parent / "docs" / "howto-trend.md").read_text(encoding="utf-8")
    listed = dict(re.findall(r"^\| (C\w+\d) \| NHS [\w ]+ \| `(#[0-9A-F]{6})` \|$", text, re.M))
    assert listed == INDICATOR_COLOURS
