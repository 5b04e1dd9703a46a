"""Read events extracts and patients files (CSV, CSV.gz, Parquet) into canonical tables.

Every row is either used or rejected with a reason and its source line; nothing is dropped
silently. Reading is vectorised with pyarrow; values never reach a message.
"""

from __future__ import annotations

import gzip
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ccrqof.columns import EVENT_COLUMNS, PATIENT_COLUMNS, recognise
from ccrqof.errors import InputError

# (name, regex whose first group is the date part, strptime format of that part)
# (name, regex with the date part as group `d` and its day of month as group `day`, format)
DATE_FORMATS = (
    ("YYYY-MM-DD", r"^\s*(?P<d>\d{4}-\d{2}-(?P<day>\d{2}))(?:[T ].*)?\s*$", "%Y-%m-%d"),
    ("DD/MM/YYYY", r"^\s*(?P<d>(?P<day>\d{1,2})/\d{1,2}/\d{4})(?:[T ].*)?\s*$", "%d/%m/%Y"),
    ("DD-Mon-YYYY", r"^\s*(?P<d>(?P<day>\d{1,2})-[A-Za-z]{3}-\d{4})(?:[T ].*)?\s*$", "%d-%b-%Y"),
    ("DD Mon YYYY", r"^\s*(?P<d>(?P<day>\d{1,2}) [A-Za-z]{3} \d{4})(?: .*)?\s*$", "%d %b %Y"),
)
EPISODES_NOT_NEW = ("review", "ended", "changed", "evolved", "flare-up")


@dataclass
class InputReport:
    """What happened to every input row: read, rejected (by reason) or ignored (by reason)."""

    rows_read: dict[str, int] = field(default_factory=dict)
    rejected: Counter = field(default_factory=Counter)
    ignored: Counter = field(default_factory=Counter)
    notices: list[str] = field(default_factory=list)
    rejects: list[pd.DataFrame] = field(default_factory=list, repr=False)

    def reject(self, file: str, lines: np.ndarray, column: str, reason: str) -> None:
        if len(lines):
            self.rejected[reason] += int(len(lines))
            self.rejects.append(
                pd.DataFrame({"file": file, "line": lines, "column": column, "reason": reason})
            )

    def rejects_table(self) -> pd.DataFrame:
        if not self.rejects:
            return pd.DataFrame(columns=["file", "line", "column", "reason"])
        return pd.concat(self.rejects, ignore_index=True).sort_values(["file", "line"])

    def as_dict(self) -> dict:
        return {
            "rows_read": dict(self.rows_read),
            "rejected": dict(self.rejected),
            "ignored": dict(self.ignored),
        }


@dataclass
class Extract:
    """Canonical events (and registrations, if given) ready for the engine."""

    events: pd.DataFrame
    patients: pd.DataFrame | None
    report: InputReport
    has_practice: bool

    @property
    def latest_event_date(self):
        dates = self.events["date"].dropna()
        return None if dates.empty else dates.max().date()


def _csv_header(path: Path) -> tuple[list[str], str]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
            first = fh.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot be read ({exc.__class__.__name__})", file=str(path)) from None
    if not first.strip():
        raise InputError("is empty: expected a header row and data rows", file=str(path))
    delimiter = max(",\t;", key=first.count)
    return [c.strip() for c in first.rstrip("\r\n").split(delimiter)], delimiter


def _read_table(path: Path) -> pa.Table:
    """All columns as text (CSV) or as stored (Parquet); errors name the file only."""
    if not path.exists():
        raise InputError("does not exist", file=str(path))
    if path.is_dir():
        raise InputError("is a folder; give a CSV or Parquet file", file=str(path))
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if suffixes[-1:] == [".parquet"] or suffixes[-1:] == [".pq"]:
        try:
            return pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(
                f"is not a readable Parquet file ({exc.__class__.__name__})", file=str(path)
            ) from None
    if suffixes[-1:] in ([".csv"], [".txt"], [".tsv"]) or suffixes == [".csv", ".gz"]:
        header, delimiter = _csv_header(path)
        try:
            return pacsv.read_csv(
                path,
                read_options=pacsv.ReadOptions(encoding="utf8"),
                parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={c: pa.string() for c in header},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(
                f"is not a readable CSV file ({str(exc).split(':')[0]})", file=str(path)
            ) from None
    raise InputError(
        "has an unsupported file type: expected .csv, .csv.gz or .parquet", file=str(path)
    )


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Ids and codes as text; Parquet integers become digits, integral floats too."""
    if pa.types.is_floating(column.type):
        as_int = pc.cast(column, pa.int64(), safe=False)
        bad = pc.fill_null(pc.not_equal(pc.cast(as_int, column.type), column), False)
        column = pc.if_else(bad, pa.scalar("\x00bad", pa.string()), pc.cast(as_int, pa.string()))
    elif not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        column = pc.cast(column, pa.string())
    return pc.utf8_trim_whitespace(pc.fill_null(column, ""))


def parse_dates(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, str]:
    """Parse a date column, detecting its one format from all values (never month first).

    Returns (datetime64[D] array with NaT for blanks and failures, failure mask, format name).
    """
    if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
        days = pc.cast(column, pa.date32()).to_numpy(zero_copy_only=False)
        days = days.astype("datetime64[D]")
        return days, np.zeros(len(days), bool), "native"
    text = _as_text(column)
    blank = pc.equal(text, "").to_numpy(zero_copy_only=False)
    best, best_hits = DATE_FORMATS[0], -1
    for fmt in DATE_FORMATS:
        hits = pc.sum(pc.match_substring_regex(text, fmt[1])).as_py() or 0
        if hits > best_hits:
            best, best_hits = fmt, hits
    name, regex, strp = best
    parts = pc.extract_regex(text, regex)
    parsed = pc.strptime(pc.struct_field(parts, "d"), format=strp, unit="s", error_is_null=True)
    # strptime rolls 30 February over to 1 March; an impossible date must be rejected instead
    day = pc.cast(pc.struct_field(parts, "day"), pa.int64())
    parsed = pc.if_else(pc.fill_null(pc.equal(pc.day(parsed), day), False), parsed, None)
    days = pc.cast(parsed, pa.date32()).to_numpy(zero_copy_only=False).astype("datetime64[D]")
    failed = np.isnat(days) & ~blank
    return days, failed, name


def _lines(mask: np.ndarray) -> np.ndarray:
    return np.flatnonzero(mask) + 2  # header is line 1


def _required(mapping: dict, names: tuple[str, ...], found: list[str], file: str) -> None:
    missing = [n for n in names if n not in mapping]
    if missing:
        raise InputError(
            f"has no {' or '.join(repr(m) for m in missing)} column (found: "
            f"{', '.join(found) or 'none'}); rename a column or see docs for accepted spellings",
            file=file,
        )


def read_events(path: str | Path, report: InputReport | None = None) -> tuple[pd.DataFrame, bool]:
    """Canonical events: patient_id, code, cluster, date, episode_new, practice_code.

    Patient columns found on event rows are kept as well (single-file extracts).
    """
    path = Path(path)
    report = report if report is not None else InputReport()
    table = _read_table(path)
    file = str(path)
    mapping = recognise(table.column_names, EVENT_COLUMNS + PATIENT_COLUMNS[2:4], file)
    _required(mapping, ("patient_id", "date"), table.column_names, file)
    if "code" not in mapping and "cluster" not in mapping:
        _required(mapping, ("code",), table.column_names, file)
    n = table.num_rows
    if n == 0:
        raise InputError("has a header but no rows", file=file)
    report.rows_read["events"] = report.rows_read.get("events", 0) + n

    def text(name: str) -> np.ndarray:
        if name not in mapping:
            return np.full(n, "", dtype=object)
        return _as_text(table.column(mapping[name])).to_numpy(zero_copy_only=False)

    patient_id, code, cluster = text("patient_id"), text("code"), text("cluster")
    dates, bad_date, _ = parse_dates(table.column(mapping["date"]))
    keep = np.ones(n, bool)

    empty_id = patient_id == ""
    report.reject(file, _lines(empty_id), mapping["patient_id"], "empty patient id")
    keep &= ~empty_id

    has_code = code != ""
    code_ok = pc.match_substring_regex(pa.array(code, pa.string()), r"^\d{6,18}$")
    bad_code = keep & has_code & ~code_ok.to_numpy(zero_copy_only=False)
    report.reject(
        file,
        _lines(bad_code),
        mapping.get("code", "code"),
        "invalid SNOMED CT id (expected 6 to 18 digits)",
    )
    keep &= ~bad_code

    no_entry = ~has_code & (cluster == "")
    patient_only = keep & no_entry & np.isnat(dates) & ~bad_date
    report.ignored["rows without a coded entry (patient only)"] += int(patient_only.sum())
    undated = keep & ~no_entry & (np.isnat(dates) | bad_date)
    report.reject(file, _lines(undated), mapping["date"], "unreadable or missing date")
    keep &= ~undated
    no_code = keep & no_entry & ~patient_only
    report.reject(file, _lines(no_code), mapping.get("code", "code"), "no code or cluster")
    keep &= ~no_code

    episode = pd.Series(text("episode"), dtype=object).str.lower().to_numpy()
    frame = pd.DataFrame(
        {
            "patient_id": patient_id,
            "code": code,
            "cluster": cluster,
            "date": dates.astype("datetime64[s]"),
            "episode_new": ~np.isin(episode, EPISODES_NOT_NEW),
            "practice_code": text("practice_code") if "practice_code" in mapping else None,
            "line": np.arange(2, n + 2),
        }
    )
    for extra in ("registration_date", "deregistration_date"):
        if extra in mapping:
            days, bad, _ = parse_dates(table.column(mapping[extra]))
            bad &= keep
            report.reject(
                file, _lines(bad), mapping[extra], f"unreadable {extra.replace('_', ' ')}"
            )
            keep &= ~bad
            frame[extra] = days.astype("datetime64[s]")
    frame.attrs["file"] = file
    return frame[keep].reset_index(drop=True), "practice_code" in mapping


def patients_from_events(
    events: pd.DataFrame, report: InputReport
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Registration repeated on event rows becomes the patients table (single-file extracts).

    A patient whose rows disagree is rejected, with every row of theirs, rather than guessed.
    """
    key = ["practice_code", "patient_id"]
    cols = key + [c for c in ("registration_date", "deregistration_date") if c in events]
    distinct = events[cols].drop_duplicates()
    conflicting = distinct.duplicated(key, keep=False)
    if conflicting.any():
        bad_patients = distinct.loc[conflicting, key].drop_duplicates()
        bad_rows = events.merge(bad_patients, on=key, how="left", indicator=True)["_merge"]
        bad = (bad_rows == "both").to_numpy()
        report.reject(
            events.attrs.get("file", "events"),
            events["line"].to_numpy()[bad],
            "registration_date",
            "conflicting patient attributes on event rows",
        )
        events = events[~bad].reset_index(drop=True)
        distinct = distinct[~conflicting]
    patients = distinct[distinct["registration_date"].notna()].reset_index(drop=True)
    return events, patients


def read_patients(path: str | Path, report: InputReport | None = None) -> pd.DataFrame:
    """Registrations: patient_id, practice_code, registration_date, deregistration_date..."""
    path = Path(path)
    report = report if report is not None else InputReport()
    table = _read_table(path)
    file = str(path)
    mapping = recognise(table.column_names, PATIENT_COLUMNS, file)
    _required(mapping, ("patient_id", "registration_date"), table.column_names, file)
    n = table.num_rows
    if n == 0:
        raise InputError("has a header but no rows", file=file)
    report.rows_read["patients"] = n
    patient_id = _as_text(table.column(mapping["patient_id"])).to_numpy(zero_copy_only=False)
    reg, bad_reg, _ = parse_dates(table.column(mapping["registration_date"]))
    if "deregistration_date" in mapping:
        dereg, bad_dereg, _ = parse_dates(table.column(mapping["deregistration_date"]))
    else:
        dereg, bad_dereg = np.full(n, "NaT", "datetime64[D]"), np.zeros(n, bool)
    keep = np.ones(n, bool)
    for mask, column, reason in (
        (patient_id == "", mapping["patient_id"], "empty patient id"),
        (np.isnat(reg), mapping["registration_date"], "unreadable or missing registration date"),
        (bad_dereg, mapping.get("deregistration_date", ""), "unreadable deregistration date"),
    ):
        mask = mask & keep
        report.reject(file, _lines(mask), column, reason)
        keep &= ~mask
    frame = pd.DataFrame(
        {
            "patient_id": patient_id,
            "practice_code": (
                _as_text(table.column(mapping["practice_code"])).to_numpy(zero_copy_only=False)
                if "practice_code" in mapping
                else None
            ),
            "registration_date": reg.astype("datetime64[s]"),
            "deregistration_date": dereg.astype("datetime64[s]"),
        }
    )
    return frame[keep].reset_index(drop=True)


def read_extract(events: str | Path, patients: str | Path | None = None) -> Extract:
    """Read an events extract and, optionally, a patients (registrations) file."""
    report = InputReport()
    frame, has_practice = read_events(events, report)
    registrations = read_patients(patients, report) if patients else None
    if registrations is None and "registration_date" in frame:
        frame, registrations = patients_from_events(frame, report)
    return Extract(frame, registrations, report, has_practice)
