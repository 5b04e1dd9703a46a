"""Practices grouped into PCNs and ICBs (an org map), and roll-ups of the counts to them.

Counts add up, so a PCN's register, numerator, denominator, PCAs, exclusions and breakdown are
sums of its practices' rows; achievement is recomputed from the sums. Points are a practice
concept, so a roll-up reports none.

The org map may be our own CSV (practice_code, practice_name, pcn_code, pcn_name, icb_code,
icb_name), NHS England's ePCN workbook or its core partner CSV, NHS England's practice mapping
file (gp-reg-pat-prac-map.csv) or an ODS download: the headers are recognised, and
`--org-column NAME=HEADER` names any other.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
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
# The organisation columns every output at a level carries, in this order.
LEVEL_COLUMNS = {
    "practice": ORG_COLUMNS,
    "pcn": ("pcn_code", "pcn_name", "icb_code", "icb_name"),
    "icb": ("icb_code", "icb_name"),
}
# Columns that say which run a row is from; they stay first, before the organisation columns.
RUN_COLUMNS = ("period", "reference_date", "ruleset", "year_status")
NOT_MAPPED = "(not in org map)"
NO_PRACTICE_CODE = "(no practice code)"
NAMED_AT_MOST = 5  # practice codes a warning names before "and N more"

# Header spellings, compared after `normalise` (lower case, letters and digits only): ours, NHS
# England's practice mapping file (PRACTICE_CODE, PCN_NAME, ICB_CODE...), the ePCN core partner
# details (Partner Organisation Code, Partner Name, PCN Code, PCN Name) and ODS downloads
# (Organisation Code, Organisation Name).
HEADER_SPELLINGS: dict[str, tuple[str, ...]] = {
    "practice_code": (
        "practicecode",
        "partnerorganisationcode",
        "organisationcode",
        "practiceodscode",
        "gppracticecode",
    ),
    "practice_name": ("practicename", "partnername", "organisationname", "gppracticename"),
    "pcn_code": ("pcncode", "pcnodscode"),
    "pcn_name": ("pcnname",),
    "icb_code": ("icbcode", "icbodscode"),
    "icb_name": ("icbname",),
}
# The ePCN workbook's sheet of practice memberships; any other workbook: its first sheet.
EPCN_SHEET = "PCN Core Partner Details"
# A membership's end (ePCN: "Practice to PCN Relationship End Date"): a row that has ended is
# not today's membership.
_END_DATE = re.compile(r"(relationship|membership)enddate$")
# Commissioner columns that are not ICBs (the ePCN gives the practice's Sub ICB Location, which
# was its CCG): named in the --by icb error, never used as an ICB without being asked.
_NOT_AN_ICB = re.compile(r"(subicb|ccg)")
_DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%d/%m/%Y", "%Y-%m-%d %H:%M:%S")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")


def parse_org_columns(options: tuple[str, ...]) -> dict[str, str]:
    """``('practice_code=Partner Organisation Code', ...)`` -> {name: header}; names checked
    (the headers are checked against the file by `read_org_map`)."""
    mapping: dict[str, str] = {}
    for option in options:
        name, sep, header = option.partition("=")
        name, header = name.strip(), header.strip()
        if not sep or not header:
            raise UsageError(
                "--org-column expects NAME=HEADER, e.g. "
                f"--org-column practice_code='Partner Organisation Code' (got {option!r})"
            )
        _check_name(name)
        mapping[name] = header
    return mapping


def _check_name(name: str) -> None:
    if name not in ORG_COLUMNS:
        raise UsageError(
            f"--org-column: unknown name {name!r}; the names are {', '.join(ORG_COLUMNS)}"
        )


def read_org_map(path: str | Path, columns: dict[str, str] | None = None) -> pd.DataFrame:
    """The org map: one row per practice, with practice_code and whichever of practice_name,
    pcn_code, pcn_name, icb_code and icb_name the file has (blanks are None).

    A CSV or an Excel workbook (.xlsx: the ePCN's "PCN Core Partner Details" sheet, else the
    first sheet). Headers are recognised in the spellings of HEADER_SPELLINGS; `columns` maps
    our names to any other headers ({"practice_code": "Partner Organisation Code"}). Rows whose
    membership has ended (an end date before today) are left out and counted. `attrs`
    carries `notices` (what was left out) and `headers` (the file's, for later messages).
    """
    path = Path(path)
    frame = _read_table(path)
    headers = [str(h) for h in frame.columns]
    chosen = _choose_columns(headers, columns or {}, path)
    if "practice_code" not in chosen:
        raise InputError(
            "needs a practice_code column (or a header such as 'Partner Organisation Code' or "
            "'Organisation Code', or one named with --org-column practice_code=HEADER); "
            f"{describe_columns(headers)}",
            file=str(path),
        )
    notices = []
    ended = _ended(frame, headers, path)
    if ended is not None and ended.any():
        end_header = next(h for h in headers if _END_DATE.search(normalise(h)))
        notices.append(
            f"{path.name}: left out {int(ended.sum())} ended membership(s) (rows whose "
            f"'{end_header}' is before today); the map is today's membership"
        )
        frame = frame[~ended]
    org = frame[list(chosen.values())].set_axis(list(chosen), axis=1)
    org = org.apply(lambda s: s.astype(str).str.strip()).astype(object)
    org["practice_code"] = org["practice_code"].str.upper()  # as the readers compare them
    blank_code = org["practice_code"] == ""
    other_content = (org.drop(columns="practice_code") != "").any(axis=1)
    if (blank_code & other_content).any():
        notices.append(
            f"{path.name}: left out {int((blank_code & other_content).sum())} row(s) with no "
            "practice code"
        )
    org = org[~blank_code].reset_index(drop=True)  # and Excel's trailing ",,," rows
    duplicated = org["practice_code"][org["practice_code"].duplicated()].unique()
    if len(duplicated):
        raise InputError(
            f"lists {len(duplicated)} practice code(s) more than once ({_named(duplicated)}); "
            "give each practice one row",
            file=str(path),
        )
    org = org.where(org != "", None)  # a blank name or code is none, not the text ""
    org.attrs["notices"] = notices
    org.attrs["headers"] = headers
    return org


def _read_table(path: Path) -> pd.DataFrame:
    """The file's rows as text ("" for a blank cell)."""
    if path.suffix.lower() not in EXCEL_SUFFIXES:
        return read_text_table(path, ",", "an org map")
    if not path.exists():
        raise InputError("does not exist", file=str(path))
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
        sheets = book.sheet_names
        sheet = next((s for s in sheets if normalise(s) == normalise(EPCN_SHEET)), sheets[0])
        frame = pd.read_excel(book, sheet_name=sheet, dtype=object)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, IndexError) as exc:
        raise InputError(
            f"cannot be read as an Excel workbook ({exc.__class__.__name__}); save it as .xlsx "
            "or as a CSV file",
            file=str(path),
        ) from None
    frame.columns = [str(c) for c in frame.columns]  # a header cell may hold a number
    if frame.columns.empty:
        raise InputError(
            f"sheet '{sheet}' is empty: expected an org map with a header row", file=str(path)
        )
    return frame.apply(lambda column: column.map(_cell_text)).astype(object)


def _cell_text(value) -> str:
    """An Excel cell as the text a CSV would hold: dates as YYYY-MM-DD, whole numbers without
    a decimal point."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _choose_columns(headers: list[str], explicit: dict[str, str], path: Path) -> dict[str, str]:
    """Our name -> the file's header: `explicit` first, then the recognised spellings. Two
    headers that could both be one of ours is an error, never a guess."""
    chosen: dict[str, str] = {}
    for name, header in explicit.items():
        _check_name(name)
        if header not in headers:
            matches = [h for h in headers if normalise(h) == normalise(header)]
            if len(matches) != 1:
                raise UsageError(
                    f"--org-column {name}={header}: the org map has no column {header!r} "
                    f"({describe_columns(headers)})",
                    file=str(path),
                )
            header = matches[0]
        chosen[name] = header
    taken = set(chosen.values())
    for name in ORG_COLUMNS:
        if name in chosen:
            continue
        found = [h for h in headers if h not in taken and normalise(h) in HEADER_SPELLINGS[name]]
        if len(found) > 1:
            raise InputError(
                f"columns {', '.join(repr(h) for h in found)} could each be {name}: name the "
                f"one to use with --org-column {name}=HEADER",
                file=str(path),
            )
        if found:
            chosen[name] = found[0]
            taken.add(found[0])
    return {name: chosen[name] for name in ORG_COLUMNS if name in chosen}


def _ended(frame: pd.DataFrame, headers: list[str], path: Path) -> pd.Series | None:
    """Rows whose membership end date is before today (None: the file has no end date)."""
    end_header = next((h for h in headers if _END_DATE.search(normalise(h))), None)
    if end_header is None:
        return None
    today = dt.date.today()
    ended = []
    for row, text in enumerate(frame[end_header].astype(str).str.strip(), start=2):
        if not text:
            ended.append(False)
            continue
        day = _parse_day(text)
        if day is None:
            raise InputError(
                "is not a date: write it as YYYY-MM-DD or YYYYMMDD, or leave it blank for a "
                "current membership",
                file=str(path),
                line=row,
                column=end_header,
            )
        ended.append(day < today)
    return pd.Series(ended, index=frame.index, dtype=bool)


def _parse_day(text: str) -> dt.date | None:
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _named(codes) -> str:
    """Up to NAMED_AT_MOST codes, then "and N more"."""
    codes = list(codes)
    shown = ", ".join(codes[:NAMED_AT_MOST])
    more = len(codes) - NAMED_AT_MOST
    return f"{shown} and {more} more" if more > 0 else shown


def check_level(by: str, org_map: pd.DataFrame | None) -> None:
    """A roll-up level the org map can serve (checked before a long read, and again here)."""
    if by not in LEVELS:
        raise UsageError(f"--by must be one of {', '.join(LEVELS)}")
    if by != "practice" and org_map is None:
        raise UsageError(f"--by {by} needs --org-map FILE")
    code = f"{by}_code"
    if by != "practice" and code not in org_map:
        headers = org_map.attrs.get("headers", [])
        others = [h for h in headers if by == "icb" and _NOT_AN_ICB.search(normalise(h))]
        if others:
            raise UsageError(
                f"--by {by}: the org map has no {code} column; '{others[0]}' is a Sub ICB "
                "Location (formerly a CCG), not an ICB: to group by it anyway, give "
                f"--org-column {code}='{others[0]}'"
            )
        found = f" ({describe_columns(headers)})" if headers else ""
        raise UsageError(
            f"--by {by}: the org map has no {code} column{found}; name one with "
            f"--org-column {code}=HEADER"
        )


def with_org(frame: pd.DataFrame, org_map: pd.DataFrame | None, by: str = "practice"):
    """`frame` (which has the level's code column: practice_code, pcn_code or icb_code) with
    the level's organisation columns (LEVEL_COLUMNS[by]) in that order, right after any leading
    period/reference_date/ruleset/year_status columns: always present, from the org map, blank
    (None) where there is no map or it gives none. A PCN's ICB is the one ICB its practices
    have in the map (blank if none or several)."""
    if by not in LEVELS:
        raise UsageError(f"--by must be one of {', '.join(LEVELS)}")
    wanted = LEVEL_COLUMNS[by]
    code = wanted[0]
    if code not in frame:
        raise ValueError(f"with_org(by={by!r}) needs a {code} column")
    lookup = _lookup(org_map, by)
    out = frame.copy(deep=False)  # new columns only: the frame's own data is not copied
    keys = out[code].astype(object)
    for name in wanted[1:]:
        if lookup is not None and name in lookup:
            values = keys.map(lookup[name])
        elif name in out:
            values = out[name]
        else:
            values = pd.Series(None, index=out.index, dtype=object)
        out[name] = _blank_is_none(values)
    leading = []
    for name in out.columns:
        if name not in RUN_COLUMNS:
            break
        leading.append(name)
    rest = [c for c in out.columns if c not in leading and c not in wanted]
    return out[leading + list(wanted) + rest]


def _blank_is_none(values: pd.Series) -> pd.Series:
    values = values.astype(object)
    return values.where(values.notna() & (values != ""), None)


def _lookup(org_map: pd.DataFrame | None, by: str) -> pd.DataFrame | None:
    """The org map's columns for a level, indexed by the level's code."""
    if org_map is None:
        return None
    code = f"{by}_code"
    if code not in org_map:
        return None
    wanted = [c for c in LEVEL_COLUMNS[by][1:] if c in org_map]
    org = org_map[[code, *wanted]].apply(_blank_is_none)
    org = org[org[code].notna()]
    if by == "practice":
        return org.drop_duplicates(code).set_index(code)
    if by == "icb":
        return org.groupby(code, sort=True).first()  # first non-blank name
    lookup = org.groupby(code, sort=True)[[c for c in wanted if c == "pcn_name"]].first()
    if "icb_code" in org:
        icbs = org.groupby(code)["icb_code"].agg(lambda s: set(s.dropna()))
        lookup["icb_code"] = icbs.map(lambda found: next(iter(found)) if len(found) == 1 else None)
        if "icb_name" in org:
            names = org.dropna(subset=["icb_code"]).groupby("icb_code")["icb_name"].first()
            lookup["icb_name"] = lookup["icb_code"].map(names)
    return lookup


def missing_from_map(practices, org_map: pd.DataFrame | None, by: str = "practice") -> list[str]:
    """Warnings for the practices the org map does not place at the level: not in it at all,
    or (for a roll-up) in it without a code for the level. Up to five codes are named."""
    if org_map is None:
        return []
    shown = sorted({NO_PRACTICE_CODE if p in (None, _NO_PRACTICE) else p for p in practices})
    known = set(org_map["practice_code"])
    missing = [p for p in shown if p not in known]
    notices = []
    grouped = f"they are grouped as '{NOT_MAPPED}'"
    if missing:
        then = grouped if by != "practice" else "their name, PCN and ICB columns are blank"
        notices.append(
            f"{len(missing)} practice(s) are not in the org map: {_named(missing)}; {then}"
        )
    code = f"{by}_code"
    if by != "practice" and code in org_map:
        codes = _blank_is_none(org_map[code])
        without = set(org_map.loc[codes.isna().to_numpy(), "practice_code"])
        blank = [p for p in shown if p in without]
        if blank:
            notices.append(
                f"{len(blank)} practice(s) have no {code} in the org map: {_named(blank)}; "
                f"{grouped}"
            )
    return notices


def summarise(
    evaluation: Evaluation,
    by: str = "practice",
    org_map: pd.DataFrame | None = None,
    breakdown: bool = True,
) -> tuple[pd.DataFrame, list[str]]:
    """The summary at the level asked for, with the level's organisation columns (`with_org`),
    and notices (practices the map does not place); `breakdown` as `score`'s."""
    check_level(by, org_map)
    if by == "practice":
        summary = score(evaluation, breakdown)
        notices = missing_from_map(summary["practice_code"].unique(), org_map, by)
        return with_org(summary, org_map, by), notices
    counts = count_outcomes(evaluation)
    code = f"{by}_code"
    groups = _blank_is_none(org_map.set_index("practice_code")[code])
    counts[code] = counts["practice"].map(groups).fillna(NOT_MAPPED)
    notices = missing_from_map(counts["practice"].unique(), org_map, by)
    numeric = [c for c in counts.columns if c not in ("practice", "indicator", code)]
    grouped = counts.groupby([code, "indicator"], sort=True)
    summed = grouped[numeric].sum()
    summed["practices"] = grouped["practice"].nunique()
    summed = summed.reset_index().rename(columns={code: "practice"})
    rolled = finish(summed, evaluation.ruleset, practice_level=False)
    rolled = rolled.rename(columns={"practice": code})
    rolled["breakdown"] = breakdowns(rolled, evaluation.ruleset) if breakdown else None
    order = [code, "practices", "indicator"] + [
        c for c in score_columns() if c not in ("practice_code", "indicator")
    ]
    return with_org(rolled[order], org_map, by), notices


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
