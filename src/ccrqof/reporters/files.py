"""Tables as files for the next tool: CSV (plain, or for Excel), typed Parquet for Power BI and
DuckDB, an Excel workbook, a standalone accessible HTML page; and one such file per practice, PCN
or ICB (`write_split`), for sending each its own figures.

Every file goes through `write_atomically`: complete, or the old file left as it was.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import io
import math
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pandas.api import types as ptypes

from ccrqof.errors import OutputError, UsageError
from ccrqof.organisations import NOT_MAPPED
from ccrqof.output import all_at_once, check_folder, write_atomically

FORMATS = {"csv": ".csv", "parquet": ".parquet", "xlsx": ".xlsx", "html": ".html"}
SUFFIXES = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "xlsx",
    ".html": "html",
    ".htm": "html",
}
TYPES = {
    "string": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
}
NOT_IN_ORG_MAP = "not-in-org-map"

_NOT_A = {
    "int64": "a value that is not a whole number",
    "float64": "a value that is not a number",
    "bool": "a value that is not true or false",
    "date": "a value that is not a date (YYYY-MM-DD, or a date and time at midnight)",
}
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ID_NAMES = ("patient_id", "nhs_number", "code")
_ID_ENDINGS = ("_id", "_code")
_EXCEL_DIGITS = 15  # Excel keeps 15 significant digits: a longer code comes back changed
_EXCEL_TEXT_IN_FORMULA = 255  # the longest text constant an Excel formula takes
_XLSX_ROWS, _XLSX_COLUMNS = 1_048_576, 16_384
_XLSX_WIDEST = 60  # characters: a long free-text column must not push the rest off screen
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\\x00-\x1f]")
_FILE_NAME_FORBIDDEN = re.compile(r"[^A-Za-z0-9_-]")


def output_format(path: str | Path, fmt: str | None = None) -> str:
    """`fmt` when given, else the format the file name's suffix names."""
    if fmt is not None:
        return _named_format(fmt)
    found = SUFFIXES.get(Path(path).suffix.lower())
    if found is None:
        endings = ", ".join(list(SUFFIXES)[:-1]) + f" or {list(SUFFIXES)[-1]}"
        raise UsageError(
            f"cannot tell the format of {Path(path).name}: use a name ending in {endings}"
        )
    return found


def _named_format(fmt: str) -> str:
    if fmt.lower() not in FORMATS:
        raise UsageError(f"unknown file format '{fmt}': use one of {', '.join(FORMATS)}")
    return fmt.lower()


def write_table(
    frame: pd.DataFrame,
    path: str | Path,
    fmt: str | None = None,
    *,
    excel_friendly: bool = False,
    title: str | None = None,
    types: Mapping[str, str] | None = None,
) -> None:
    """One table as CSV, Parquet, xlsx or HTML (by `fmt`, else the suffix), written atomically.

    `types` maps columns to "string", "int64", "float64", "bool" or "date" where the frame's own
    dtypes are not enough (an all-empty column, counts held as floats, ISO date text); columns the
    frame lacks are skipped, so one mapping serves several tables. A value that does not fit its
    type is a UsageError naming the column. `title` heads the HTML page and the workbook's
    properties (the file name's stem when not given); CSV and Parquet have no place for it.

    - Parquet: every column typed, never Arrow's untyped null: text is `string`, nullable Int64
      stays int64, floats float64, bools bool, and an all-empty column is `string` unless
      `types` says otherwise, so monthly files append in Power BI without schema clashes.
    - CSV: plain UTF-8, exactly what pandas writes. `excel_friendly` is for a file opened by
      double-clicking in Excel, never for one loaded into Power BI, pandas or R (they would read
      the `=` literally): a UTF-8 byte order mark, without which Excel reads the file as
      Windows-1252 and mangles accented names; and identifier columns (patient_id, nhs_number,
      code, *_id, *_code, and text columns of digits where some value has a leading zero or more
      than 15 digits) written as `="00123"`. Excel types every field it opens from a CSV, quoted
      or not, so 00123 would become 123 and an 18-digit SNOMED code 7.2E+17, rounded to 15
      digits, and saved back that way; a leading apostrophe would stay visible. `="00123"` is a
      formula whose result is the text 00123, which Excel works out on opening. LibreOffice Calc
      asks how to import instead, with "Evaluate formulas" off for files by default: the cells
      then show `="00123"` as written, unless that box is ticked (or those columns set to Text
      on a plain file). Values too long for an Excel formula (over 255 characters) stay plain.
    - xlsx: one sheet named after the file (within Excel's rules for sheet names), bold frozen
      header with an autofilter, widths fitted to the content up to 60 characters; identifier
      columns as text cells, numbers as numbers, ISO dates in columns named *date*, *_dat or
      *_by as dates shown yyyy-mm-dd, achievement, rate and *_share as 0.0%. Text that starts
      with "=" stays text, never a formula.
    - html: a standalone page (no scripts, no external resources) with one captioned table,
      every value escaped, numbers right-aligned, achievement/rate/*_share as percentages.
    """
    path = Path(path)
    fmt = output_format(path, fmt)
    _Table(frame, types, fmt).write(path, fmt, excel_friendly=excel_friendly, title=title)


def write_split(
    frame: pd.DataFrame,
    column: str,
    folder: str | Path,
    fmt: str,
    *,
    excel_friendly: bool = False,
    title: str | None = None,
    types: Mapping[str, str] | None = None,
) -> list[Path]:
    """One file per value of `column` (a practice, PCN or ICB code) in `folder`, as `write_table`
    writes them, and the paths written, in order of name.

    Each file is `<code>.<ext>`, the code stripped of surrounding spaces and every character but
    A-Z a-z 0-9 _ - turned into _; rows with no code (or the roll-ups' "(not in org map)") go to
    `not-in-org-map.<ext>`. Two codes that would share a file name, even in a different case
    (Windows and macOS do not tell A1 from a1), are a UsageError before anything is written.
    Every file keeps all the columns in the same order, its rows in their order in `frame`, the
    title `title — code`; the identifier columns and the Parquet schema are decided on the whole
    table, so every file of the set has the same columns and types.

    The folder is made if missing (its parent must exist). Files of the same names are replaced;
    other files in it are left alone, so a practice that has gone since the last run keeps its
    old file: use a fresh folder to be sure of a set from one run. The files are published
    together, with the run's other outputs inside `together()`: a failure leaves the old set.
    """
    folder = check_folder(folder)
    fmt = _named_format(fmt)
    if column not in frame.columns:
        raise UsageError(f"cannot split the table by '{column}': it has no such column")
    table = _Table(frame, types, fmt)
    parts = _parts(frame[column], column, FORMATS[fmt])
    made = _make_folder(folder)
    written: list[Path] = []
    try:
        with all_at_once():
            for name, code, rows in parts:
                shown = f"{title} — {code}" if title else code
                table.write(folder / name, fmt, rows, excel_friendly=excel_friendly, title=shown)
                written.append(folder / name)
    except BaseException:
        if made:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty: a folder this call made, nothing published
        raise
    return written


def _make_folder(folder: Path) -> bool:
    """Make the split's folder (its parent was checked); True if this call made it."""
    if folder.is_dir():
        return False
    try:
        folder.mkdir()
    except FileExistsError:
        return False  # made meanwhile; writing into it checks it again
    except OSError as exc:
        raise OutputError(f"cannot make the folder {folder}: {exc.strerror or exc}") from None
    return True


def _parts(codes: pd.Series, column: str, suffix: str) -> list[tuple[str, str, np.ndarray]]:
    """(file name, code for the title, row positions) for each file of a split, by name."""
    text = codes.astype("string").str.strip()
    missing = (text.isna() | (text == "") | (text == NOT_MAPPED)).fillna(True)
    keys = text.mask(missing, "").to_numpy(dtype=object)
    groups = pd.Series(np.arange(len(keys))).groupby(keys).indices
    parts, seen = [], {}
    for key, rows in groups.items():
        name = _FILE_NAME_FORBIDDEN.sub("_", key) if key else NOT_IN_ORG_MAP
        file_name = name + suffix
        if name.lower() in seen:
            raise UsageError(
                f"two different {column} values would both be written to {file_name} (file "
                "names keep only A-Z, a-z, 0-9, _ and -, and some systems ignore case): make "
                "the codes differ in those characters"
            )
        if len(file_name.encode()) > 255:
            raise UsageError(f"a {column} value is too long to name a file ({name[:20]}...)")
        seen[name.lower()] = key
        parts.append((file_name, key or "not in the organisation map", rows))
    return sorted(parts, key=lambda part: part[0])


class _Table:
    """A frame ready to write: the declared types applied, and what depends on every row (the
    identifier columns, the Parquet schema) decided once, so that the files of a split agree."""

    def __init__(self, frame: pd.DataFrame, types: Mapping[str, str] | None, fmt: str) -> None:
        repeated = frame.columns[frame.columns.duplicated()]
        if len(repeated):
            raise UsageError(f"the table has more than one column named '{repeated[0]}'")
        declared = _declared(frame, types)
        self.frame = _apply_types(frame, declared)
        self.identifiers = _identifier_columns(self.frame, declared)
        self.arrow = _arrow_table(self.frame, declared) if fmt == "parquet" else None

    def write(
        self,
        path: Path,
        fmt: str,
        rows: np.ndarray | None = None,
        *,
        excel_friendly: bool,
        title: str | None,
    ) -> None:
        frame = self.frame if rows is None else self.frame.iloc[rows]
        if fmt == "parquet":
            table = self.arrow if rows is None else self.arrow.take(rows)
            write_atomically(path, lambda tmp: pq.write_table(table, tmp))
        elif fmt == "csv":
            out = _for_excel(frame, self.identifiers) if excel_friendly else frame
            encoding = "utf-8-sig" if excel_friendly else "utf-8"  # utf-8-sig: with the BOM
            write_atomically(path, lambda tmp: out.to_csv(tmp, index=False, encoding=encoding))
        elif fmt == "xlsx":
            save = _workbook(frame, _sheet_name(path.stem), title or path.stem, self.identifiers)
            write_atomically(path, save)
        else:
            page = _html_page(frame, title or path.stem, self.identifiers)
            write_atomically(path, lambda tmp: tmp.write_text(page, encoding="utf-8"))


# --- types ---------------------------------------------------------------------------------------


def _declared(frame: pd.DataFrame, types: Mapping[str, str] | None) -> dict[str, str]:
    declared = {}
    for column, kind in (types or {}).items():
        if kind not in TYPES:
            raise UsageError(
                f"column '{column}': unknown type '{kind}'; use one of {', '.join(TYPES)}"
            )
        if column in frame.columns:
            declared[column] = kind
    return declared


def _apply_types(frame: pd.DataFrame, declared: dict[str, str]) -> pd.DataFrame:
    if not declared:
        return frame
    frame = frame.copy()
    for column, kind in declared.items():
        try:
            frame[column] = _CONVERT[kind](frame[column])
        except (ValueError, TypeError, OverflowError):
            raise UsageError(
                f"column '{column}' cannot be written as {kind}: it holds {_NOT_A[kind]}"
            ) from None
    return frame


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or array held in a cell
        return False


def _blank_to_missing(series: pd.Series) -> pd.Series:
    """Empty text is a missing number, date or flag (as in a CSV), not a bad value."""
    if ptypes.is_object_dtype(series.dtype) or ptypes.is_string_dtype(series.dtype):
        blank = (series.astype("string").str.strip() == "").fillna(False)
        return series.astype(object).mask(blank.to_numpy(dtype=bool), None)
    return series


def _whole(value) -> int:
    if isinstance(value, str):
        if not re.fullmatch(r"[+-]?[0-9]+", value.strip()):
            raise ValueError(value)
        return int(value)
    if isinstance(value, float | np.floating) and not float(value).is_integer():
        raise ValueError(value)
    return int(value)


def _truth(value) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(value)


def _day(value) -> dt.date:
    if isinstance(value, str):
        if not _ISO_DATE.fullmatch(value.strip()):
            raise ValueError(value)
        return dt.date.fromisoformat(value.strip())
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if isinstance(value, dt.datetime):  # pandas' Timestamp too
        clock = (value.hour, value.minute, value.second, value.microsecond)
        if any(clock) or getattr(value, "nanosecond", 0):
            raise ValueError(value)
        return value.date()
    if isinstance(value, dt.date):
        return value
    raise TypeError(value)


def _each(series: pd.Series, convert, dtype) -> pd.Series:
    values = [None if _missing(v) else convert(v) for v in _blank_to_missing(series)]
    return pd.Series(pd.array(values, dtype=dtype) if dtype else values, index=series.index)


def _as_int(series: pd.Series) -> pd.Series:
    if ptypes.is_integer_dtype(series.dtype) or ptypes.is_bool_dtype(series.dtype):
        return series.astype("Int64")
    return _each(series, _whole, "Int64")  # not through floats: an 18-digit code stays exact


def _as_bool(series: pd.Series) -> pd.Series:
    if ptypes.is_bool_dtype(series.dtype):
        return series.astype("boolean")
    return _each(series, _truth, "boolean")


_CONVERT = {
    "string": lambda series: series.astype("string"),
    "int64": _as_int,
    "float64": lambda series: pd.to_numeric(_blank_to_missing(series)).astype("float64"),
    "bool": _as_bool,
    "date": lambda series: _each(series, _day, None).astype(object),
}


def _arrow_table(frame: pd.DataFrame, declared: dict[str, str]) -> pa.Table:
    """Every column typed: Arrow's inference, then text as `string` (not pandas' large_string),
    floats as float64, and an all-empty column (Arrow's untyped null) as `string`."""
    arrays = []
    for column in frame.columns:
        kind = declared.get(column)
        try:
            array = pa.array(frame[column], type=TYPES[kind] if kind else None, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            raise UsageError(
                f"column '{column}' mixes kinds of values (text and numbers, say), which one "
                "Parquet column cannot hold: give its type"
            ) from None
        if pa.types.is_null(array.type) or pa.types.is_large_string(array.type):
            array = array.cast(pa.string())
        elif pa.types.is_floating(array.type):
            array = array.cast(pa.float64())
        arrays.append(array)
    return pa.Table.from_arrays(arrays, names=[str(c) for c in frame.columns])


# --- identifiers ---------------------------------------------------------------------------------


def _is_text(series: pd.Series) -> bool:
    if ptypes.is_object_dtype(series.dtype):
        return all(isinstance(v, str) for v in series.dropna())
    return ptypes.is_string_dtype(series.dtype)


def _identifier_columns(frame: pd.DataFrame, declared: dict[str, str]) -> frozenset:
    """Columns a spreadsheet must keep as text: identifiers by name (when they hold text or
    whole numbers), and text columns of digits where one value would change as a number (a
    leading zero, or more digits than Excel keeps)."""
    found = set()
    for column in frame.columns:
        series = frame[column]
        if declared.get(column, "string") not in ("string", "int64"):
            continue
        named = str(column).lower() in _ID_NAMES or str(column).lower().endswith(_ID_ENDINGS)
        if named and (_is_text(series) or ptypes.is_integer_dtype(series.dtype)):
            found.add(column)
        elif _is_text(series):
            values = series.dropna().astype("string")
            values = values[values.str.strip() != ""]
            if len(values) and values.str.fullmatch(r"[0-9]+").all():
                long = values.str.len() > _EXCEL_DIGITS
                zero = values.str.startswith("0") & (values.str.len() > 1)
                if (long | zero).any():
                    found.add(column)
    return frozenset(found)


def _for_excel(frame: pd.DataFrame, identifiers: frozenset) -> pd.DataFrame:
    """Identifier values as `="..."` (quotes inside doubled, as Excel's formulas want)."""
    out = frame.copy()
    for column in identifiers:
        text = frame[column].astype("string")
        formula = '="' + text.str.replace('"', '""', regex=False) + '"'
        plain = text.isna() | (text.str.strip() == "") | (text.str.len() > _EXCEL_TEXT_IN_FORMULA)
        out[column] = formula.mask(plain.fillna(True), text)
    return out


# --- xlsx ----------------------------------------------------------------------------------------


def _sheet_name(stem: str) -> str:
    """Excel's rules: at most 31 characters, none of []:*?/\\, no apostrophe at either end, not
    blank, not "History" (Excel keeps that name for itself)."""
    name = _SHEET_FORBIDDEN.sub("_", stem).strip("'")[:31].strip("'")
    if not name.strip():
        return "Sheet1"
    return f"{name[:30]}_" if name.lower() == "history" else name


def _column_role(column, identifiers: frozenset) -> str:
    lowered = str(column).lower()
    if column in identifiers:
        return "text"
    if lowered in ("achievement", "rate") or lowered.endswith("_share"):
        return "percent"
    if "date" in lowered or lowered.endswith(("_dat", "_by")):
        return "date"
    return "plain"


def _cell_value(value, role: str):
    """A value as openpyxl should store it: numbers as numbers, dates as dates, text as text."""
    if _missing(value):
        return None
    if role == "text":
        return str(value)
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | str) or type(value) is dt.date:
        if role == "date" and isinstance(value, str) and _ISO_DATE.fullmatch(value):
            with contextlib.suppress(ValueError):  # 2024-02-30 stays the text it was
                return dt.date.fromisoformat(value)
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # Excel has no infinity
    if isinstance(value, dt.datetime):
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is not None:
            return stamp.isoformat()  # Excel has no time zones: the full text, not a guess
        if role == "date" and stamp == stamp.normalize():
            return stamp.date()
        return stamp.to_pydatetime()
    return str(value)


def _number_format(value, role: str) -> str | None:
    if value is None:
        return None
    if role == "text":
        return "@"
    if isinstance(value, dt.datetime):
        return "yyyy-mm-dd hh:mm:ss"
    if isinstance(value, dt.date):
        return "yyyy-mm-dd"
    if role == "percent" and isinstance(value, int | float) and not isinstance(value, bool):
        return "0.0%"
    return None


def _shown_width(value, role: str) -> int:
    if value is None:
        return 0
    if isinstance(value, dt.datetime):
        return 19
    if isinstance(value, dt.date):
        return 10
    if isinstance(value, int | float) and not isinstance(value, bool):
        if role == "percent":
            return len(f"{value * 100:.1f}%")
        return min(len(str(value)), 12)  # Excel's General format shows about 11 digits
    return max(len(line) for line in str(value).splitlines() or [""])


def _workbook(frame: pd.DataFrame, sheet: str, title: str, identifiers: frozenset):
    """Check and convert every value first (a bad one is a UsageError, before any file), and
    return the function that writes the workbook to a file."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if len(frame) >= _XLSX_ROWS or len(frame.columns) > _XLSX_COLUMNS:
        raise UsageError(
            f"an Excel sheet holds {_XLSX_ROWS - 1:,} rows and {_XLSX_COLUMNS:,} columns under "
            f"its header; this table has {len(frame):,} rows and {len(frame.columns):,} "
            "columns: write csv or parquet, or split it"
        )
    headers = [str(c) for c in frame.columns]
    roles = [_column_role(c, identifiers) for c in frame.columns]
    columns, widths = [], []
    for header, role, column in zip(headers, roles, frame.columns, strict=True):
        values = [_cell_value(v, role) for v in frame[column]]
        for text in (header, *(v for v in values if isinstance(v, str))):
            if ILLEGAL_CHARACTERS_RE.search(text):
                raise UsageError(
                    f"column '{column}' holds control characters, which an Excel file cannot "
                    "store: write csv or parquet instead"
                )
        columns.append(values)
        shown = max((_shown_width(v, role) for v in values), default=0)
        widths.append(min(max(len(header) + 4, shown + 2), _XLSX_WIDEST))  # 4: the filter button

    def save(tmp: Path) -> None:
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font
        from openpyxl.utils import get_column_letter

        def cell(value, role: str, bold: bool = False):
            number_format = _number_format(value, role)
            if not (bold or number_format or (isinstance(value, str) and value.startswith("="))):
                return value
            made = WriteOnlyCell(sheet_, value=value)
            if isinstance(value, str):
                made.data_type = "s"  # "=cmd" is text here, never a formula
            if number_format:
                made.number_format = number_format
            if bold:
                made.font = Font(bold=True)
            return made

        book = Workbook(write_only=True)
        book.properties.title = title
        sheet_ = book.create_sheet(sheet)
        for index, width in enumerate(widths, start=1):
            sheet_.column_dimensions[get_column_letter(index)].width = width
        sheet_.freeze_panes = "A2"
        if headers:
            sheet_.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{len(frame) + 1}"
        sheet_.append([cell(h, "plain", bold=True) for h in headers])
        for row in zip(*columns, strict=True):
            sheet_.append([cell(v, r) for v, r in zip(row, roles, strict=True)])
        # in memory first: openpyxl leaves its zip open when a save to a file fails (a full
        # disk), and its clean-up at exit then prints "Exception ignored" tracebacks
        packed = io.BytesIO()
        book.save(packed)
        tmp.write_bytes(packed.getvalue())

    return save


# --- html ----------------------------------------------------------------------------------------

_CSS = """\
body{font-family:system-ui,-apple-system,"Segoe UI",Arial,sans-serif;margin:1.5rem;color:#0b0c0c}
h1{font-size:1.5rem}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:.9rem}
caption{text-align:left;font-weight:600;padding:.5rem 0}
th,td{border:1px solid #b1b4b6;padding:.3rem .6rem;text-align:left;vertical-align:top}
thead th{background:#f3f2f1}
.num{text-align:right;font-variant-numeric:tabular-nums}
.scroll:focus{outline:3px solid #fd0}"""
_NUM = ' class="num"'


def _html_text(value, percent: bool) -> str:
    if _missing(value):
        return ""
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    elif isinstance(value, np.generic):
        value = value.item()
    if percent and isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value * 100:.1f}%"
    if isinstance(value, pd.Timestamp):
        value = value.date() if value == value.normalize() else value.isoformat(sep=" ")
    return html.escape(str(value))


def _html_page(frame: pd.DataFrame, title: str, identifiers: frozenset) -> str:
    roles = [_column_role(c, identifiers) for c in frame.columns]
    numeric = [
        role == "percent"
        or (
            role != "text"
            and ptypes.is_numeric_dtype(frame[c].dtype)
            and not ptypes.is_bool_dtype(frame[c].dtype)
        )
        for c, role in zip(frame.columns, roles, strict=True)
    ]
    percent = [role == "percent" for role in roles]

    heads = "".join(
        f'<th scope="col"{_NUM if right else ""}>{html.escape(str(c))}</th>'
        for c, right in zip(frame.columns, numeric, strict=True)
    )
    body = "\n".join(
        "<tr>"
        + "".join(
            f"<td{_NUM if right else ''}>{_html_text(v, pct)}</td>"
            for v, right, pct in zip(row, numeric, percent, strict=True)
        )
        + "</tr>"
        for row in frame.itertuples(index=False, name=None)
    )
    heading = html.escape(title)
    rows = f"{len(frame):,} row{'' if len(frame) == 1 else 's'}"
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{heading}</title>
<style>
{_CSS}
</style>
</head>
<body>
<main>
<h1>{heading}</h1>
<div class="scroll" role="region" aria-labelledby="table-caption" tabindex="0">
<table>
<caption id="table-caption">{heading}: {rows}</caption>
<thead>
<tr>{heads}</tr>
</thead>
<tbody>
{body}
</tbody>
</table>
</div>
</main>
</body>
</html>
"""
