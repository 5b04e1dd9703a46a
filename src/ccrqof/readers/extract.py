"""Events extracts and patients files as canonical tables; every row used, rejected or ignored.

Rejected rows keep their file, line, column and reason (and, for --rejects, their values);
counts reach the summary. No value ever reaches a message.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ccrqof import schemas
from ccrqof.columns import (
    EVENT_COLUMNS,
    PATIENT_COLUMNS,
    check_sources_exist,
    describe_columns,
    map_columns,
    practice_like_name,
    usage_summary,
)
from ccrqof.errors import InputError
from ccrqof.readers.inputs import InputFile, expand, read_dataset, with_partition
from ccrqof.readers.tables import SourceTable, read_table
from ccrqof.readers.values import (
    MISSING_DATE,
    NON_INTEGRAL,
    ColumnError,
    Text,
    code_column,
    mask,
    parse_dates,
    text_column,
)
from ccrqof.snomed import EXCEL_ROUNDED, NOT_DIGITS

BROKEN_ROW = "broken row (wrong number of fields)"
EMPTY_ID = "empty patient id"
EMPTY_PRACTICE = "empty practice code"
INVALID_CODE = NOT_DIGITS
HIDDEN_CHARACTERS = "control, invisible or look-alike characters in an identifier"
DEREG_BEFORE_REG = "deregistration date before registration date"
TWO_OPEN_REGISTRATIONS = "more than one open registration for the patient at the practice"
DUPLICATE_REGISTRATIONS = "duplicate registration rows"
NO_CODE = "no code or cluster"
CONFLICT = "conflicting patient attributes"
SINGLE_FILE_PATIENT_COLUMNS = ("registration_date", "deregistration_date", "date_of_birth", "sex")


REJECTS_COLUMNS = ("file", "line", "column", "reason", "row_text")


@dataclass
class _Rejected:
    source: SourceTable
    rows: np.ndarray  # row positions in source.table (empty for broken rows)
    lines: np.ndarray
    column: str
    reason: str
    texts: list[str] | None = None  # raw text of broken rows


def _as_text_table(table: pa.Table) -> pd.DataFrame:
    """Rows as the text a user would see in the file: dates as YYYY-MM-DD, blanks empty."""
    columns = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_date(kind):
            text = pc.fill_null(pc.cast(column, pa.large_string()), "")
            columns[name] = text.to_pandas(types_mapper=_PANDAS_TYPES)
        else:  # numbers, timestamps, lists ...: as pandas writes them
            columns[name] = column.to_pandas().astype(str)
    return pd.DataFrame(columns)


@dataclass
class InputReport:
    """What happened to every input row: read, rejected (by reason) or ignored (by reason)."""

    rows_read: dict[str, int] = field(default_factory=dict)
    rejected: Counter = field(default_factory=Counter)
    ignored: Counter = field(default_factory=Counter)
    notices: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # a number may be wrong: said loudly
    lowercase_practice_codes: Counter = field(default_factory=Counter)  # by file
    near_duplicate_columns: set = field(default_factory=set)
    patient_details: set = field(default_factory=set)  # sex, date_of_birth: the columns given
    sources: dict[str, SourceTable] = field(default_factory=dict, repr=False)
    column_names: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
    # by source key: ignored columns that hold ODS practice codes (a hint to map one)
    practice_like: dict[str, list[str]] = field(default_factory=dict, repr=False)
    # practices with registrations but no coded entry in the events files (their registers: 0)
    practices_without_entries: list[str] = field(default_factory=list)
    _rejects: list[_Rejected] = field(default_factory=list, repr=False)

    def reject(self, source: SourceTable, mask: np.ndarray, column: str, reason: str) -> None:
        rows = np.flatnonzero(mask)
        if len(rows):
            self.rejected[reason] += len(rows)
            self._rejects.append(_Rejected(source, rows, source.lines_of(rows), column, reason))

    def reject_broken(self, source: SourceTable) -> None:
        if source.broken:
            self.rejected[BROKEN_ROW] += len(source.broken)
            self._rejects.append(
                _Rejected(
                    source,
                    np.array([], np.int64),
                    np.array([b[0] for b in source.broken]),
                    "",
                    BROKEN_ROW,
                    [b[1] for b in source.broken],
                )
            )

    @property
    def total_rejected(self) -> int:
        return sum(self.rejected.values())

    def rejects_table(self) -> pd.DataFrame:
        """file, line, column, reason, then the row's own values (patient data: only written
        when the user asks for a rejects file)."""
        frames = []
        for r in self._rejects:
            head = pd.DataFrame(
                {"file": r.source.file, "line": r.lines, "column": r.column, "reason": r.reason}
            )
            if r.texts is not None:
                head["row_text"] = r.texts
            else:
                values = _as_text_table(r.source.table.take(r.rows))
                # a file's own column named like one of ours keeps its values, renamed
                values.columns = [
                    f"{c} (in file)" if c in REJECTS_COLUMNS else c for c in values.columns
                ]
                head = pd.concat([head, values.reset_index(drop=True)], axis=1)
            frames.append(head)
        if not frames:
            return pd.DataFrame(columns=["file", "line", "column", "reason"])
        return pd.concat(frames, ignore_index=True).sort_values(["file", "line"], ignore_index=True)

    def as_dict(self) -> dict:
        return {
            "rows_read": dict(self.rows_read),
            "rejected": dict(self.rejected),
            "ignored": {k: v for k, v in self.ignored.items()},
        }


@dataclass
class Extract:
    """Canonical events (and registrations, if any) ready for the engine."""

    events: pd.DataFrame
    patients: pd.DataFrame | None
    report: InputReport
    has_practice: bool

    @property
    def latest_event_date(self):
        dates = self.events["date"].dropna()
        return None if dates.empty else dates.max().date()


def _required(
    mapping: dict,
    names: tuple[str, ...],
    source: SourceTable,
    explicit: dict[str, str] | None = None,
) -> None:
    missing = [n for n in names if n not in mapping]
    if not missing:
        return
    found = describe_columns(source.table.column_names)
    for name in missing:
        if explicit and name in explicit:
            raise InputError(
                f"--column {name}={explicit[name]}: there is no column "
                f"{explicit[name]!r} ({found})",
                file=source.file,
            )
    raise InputError(
        f"has no {' or '.join(repr(m) for m in missing)} column ({found}); rename a "
        f"column or map one with --column {missing[0]}=NAME",
        file=source.file,
    )


def _reject_dates(
    report,
    source,
    problems: dict,
    keep: np.ndarray,
    column: str,
    label: str = "",
    allow_blank: bool = False,
) -> None:
    for reason, problem in problems.items():
        if allow_blank and reason == MISSING_DATE:
            continue
        hit = problem & keep
        report.reject(source, hit, column, f"{label}{reason}" if label else reason)
        keep &= ~hit


# Characters that make two ids look alike: control and format characters (NUL, zero-width
# spaces), separators other than the ASCII space (no-break, line separators), combining marks
# and variation selectors, the Hangul fillers, and full-width forms of ASCII letters and digits.
_HIDDEN = (
    r"[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Mn}\p{Me}\x{00A0}\x{1680}\x{2000}-\x{200A}\x{202F}\x{205F}"
    r"\x{3000}\x{115F}\x{1160}\x{3164}\x{FFA0}\x{FF01}-\x{FF5E}]"
)


def hidden_characters(found: Text) -> np.ndarray:
    """Ids holding characters a person cannot see (NUL, tabs, zero-width spaces...): two ids
    that look the same would be two patients. Letters-and-digits values are skipped."""
    if not (~found.blank & ~mask(found.clean)).any():
        return np.zeros(len(found.blank), bool)
    return mask(pc.match_substring_regex(found.text, _HIDDEN))


def practice_codes(found: Text, report: InputReport, file: str) -> pa.ChunkedArray:
    """Practice codes in upper case (ODS codes are), counting the values that were not."""
    upper = pc.utf8_upper(found.text)
    changed = int(pc.sum(pc.not_equal(upper, found.text)).as_py() or 0)
    if changed:
        report.lowercase_practice_codes[file] += changed
    return upper if changed else found.text


_TEXT = pd.StringDtype("pyarrow", na_value=np.nan)
# pandas keeps Arrow text as large_string: read it so, and the frame costs no copy
_PANDAS_TYPES = {pa.string(): _TEXT, pa.large_string(): _TEXT}.get


# clusters are matched in upper case, episodes in lower case
_CASES = {"cluster": pc.utf8_upper, "episode": pc.utf8_lower}


def _checked(convert: Callable, table: pa.Table, column: str, file: str):
    """`convert(the column)`, naming the file and column when the column cannot be used at all
    (its type, or dates written month first)."""
    try:
        return convert(table.column(column))
    except ColumnError as exc:
        raise exc.at(file, column) from None


def read_events(
    path: str | Path | SourceTable,
    report: InputReport | None = None,
    *,
    columns: dict[str, str] | None = None,
    encoding: str | None = None,
    key: str = "events",
    with_lines: bool | None = None,
    known: frozenset[str] = frozenset(),
    skip_rows: int | None = None,
) -> tuple[pd.DataFrame, bool]:
    """Canonical events: patient_id, code, cluster, date, episode (lower case), practice_code.

    Patient columns repeated on event rows (single-file extracts) are kept for the patients
    table, with each row's `line` and `source` (to reject a patient's rows that disagree);
    `with_lines` forces those two columns on or off. Rows with no code, cluster or date are
    patients without coded entries. `known` codes (the code list's) name ids Excel rounded.
    `skip_rows`: the lines above a CSV file's header row (by default a report's preamble is
    found and skipped).
    """
    report = report if report is not None else InputReport()
    source = (
        path
        if isinstance(path, SourceTable)
        else read_table(path, encoding, skip_rows=skip_rows, explicit=columns)
    )
    report.notices.extend(source.notices)
    report.sources[key] = source
    table, file = source.table, source.file
    mapping = map_columns(
        table.column_names, EVENT_COLUMNS + SINGLE_FILE_PATIENT_COLUMNS, columns or {}, file
    )
    _required(mapping, ("patient_id", "date"), source, columns)
    if "code" not in mapping and "cluster" not in mapping:
        _required(mapping, ("code",), source, columns)
    n = table.num_rows
    report.rows_read["events"] = report.rows_read.get("events", 0) + n + len(source.broken)
    report.column_names[key] = mapping
    report.practice_like[key] = _practice_like(table, mapping)
    report.ignored["blank lines"] += source.blank_lines
    report.reject_broken(source)
    absent = Text(
        pa.chunked_array([pa.repeat(pa.scalar("", pa.large_string()), n)]),
        np.zeros(n, bool),
        np.ones(n, bool),
        pa.chunked_array([pa.repeat(True, n)]),
    )

    def prepared(name: str):
        """One column, checked (and re-cased where the rules ask), on a worker thread. A column
        whose type holds no usable value, or whose dates are month first, stops the read."""
        if name not in mapping:
            return (absent, {}) if name == "code" else absent
        if name == "date":
            return _checked(parse_dates, table, mapping[name], file)
        if name == "code":
            return _checked(lambda c: code_column(c, known), table, mapping[name], file)
        found = _checked(text_column, table, mapping[name], file)
        if name in _CASES and not found.blank.all():
            found.text = _CASES[name](found.text)
        return found

    # Arrow kernels release the GIL: the columns are checked side by side on all cores
    names = ("code", "patient_id", "date", "practice_code", "episode", "cluster")
    with ThreadPoolExecutor() as pool:
        done = dict(zip(names, pool.map(prepared, names), strict=True))
    code, code_problems = done["code"]
    patient_id, practice = done["patient_id"], done["practice_code"]
    dates, problems, _ = done["date"]
    has_practice = "practice_code" in mapping
    keep = np.ones(n, bool)
    for bad, column, reason in (
        (patient_id.non_integral, "patient_id", NON_INTEGRAL),
        (patient_id.blank, "patient_id", EMPTY_ID),
        (hidden_characters(patient_id), "patient_id", HIDDEN_CHARACTERS),
        (code.non_integral, "code", NON_INTEGRAL),
        *((bad, "code", reason) for reason, bad in code_problems.items()),
        (practice.blank if has_practice else np.zeros(n, bool), "practice_code", EMPTY_PRACTICE),
        (
            hidden_characters(practice) if has_practice else np.zeros(n, bool),
            "practice_code",
            HIDDEN_CHARACTERS,
        ),
    ):
        hit = bad & keep
        report.reject(source, hit, mapping.get(column, column), reason)
        keep &= ~hit

    no_entry = code.blank & done["cluster"].blank
    patient_only = keep & no_entry & problems[MISSING_DATE]
    report.ignored["rows without a coded entry (patient only)"] += int(patient_only.sum())
    entry = keep & ~patient_only
    _reject_dates(report, source, problems, entry, mapping["date"])
    keep &= entry | patient_only
    no_code_or_cluster = keep & no_entry & ~patient_only
    report.reject(source, no_code_or_cluster, mapping.get("code", "code"), NO_CODE)
    keep &= ~no_code_or_cluster

    columns_out: dict[str, object] = {
        "patient_id": patient_id.text,
        "code": code.text,
        "cluster": done["cluster"].text,
        "date": dates,
        "episode": done["episode"].text,
        "practice_code": practice_codes(practice, report, file)
        if has_practice
        else pa.nulls(n, pa.large_string()),
    }
    if with_lines or (with_lines is None and "registration_date" in mapping):
        columns_out["line"] = source.lines
        columns_out["source"] = np.full(n, list(report.sources).index(key), np.int32)
    for extra in ("registration_date", "deregistration_date"):
        if extra in mapping:
            days, problems, _ = _checked(parse_dates, table, mapping[extra], file)
            label = extra.replace("_", " ") + ": "
            _reject_dates(
                report,
                source,
                problems,
                keep,
                mapping[extra],
                label,
                allow_blank=extra == "deregistration_date",
            )
            columns_out[extra] = days
    details, unusable = _patient_details(table, mapping, file, report)
    columns_out.update(details)
    _count_birth_dates(report, file, mapping, unusable, keep)
    frame = schemas.as_frame(schemas.EVENTS, columns_out, extras=schemas.EVENT_EXTRAS, keep=keep)
    return frame, has_practice


def _patient_details(
    table: pa.Table, mapping: dict, file: str, report: InputReport
) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    """The mapped `date_of_birth` (dates, read as every date column is) and `sex` (trimmed
    text, null when blank), and a mask per reason a date of birth cannot be used.

    No cancer rule reads either, so neither ever rejects a row or stops a read: an unusable
    date of birth becomes null (counted by `_count_birth_dates`), and a column that cannot be
    used at all (its type, or dates written month first) is read as empty, with a warning.
    """
    n = table.num_rows
    details: dict[str, object] = {}
    unusable: dict[str, np.ndarray] = {}
    report.patient_details.update(c for c in ("sex", "date_of_birth") if c in mapping)
    if "date_of_birth" in mapping:
        try:
            days, problems, _ = parse_dates(table.column(mapping["date_of_birth"]))
        except ColumnError as exc:
            _unusable_column(report, exc, file, mapping["date_of_birth"], "date of birth")
            days, problems = np.full(n, _NAT), {}
        # parse_dates gives NaT for every value with a problem: only the count is left to do
        unusable = {r: hit for r, hit in problems.items() if r != MISSING_DATE and hit.any()}
        details["date_of_birth"] = days
    if "sex" in mapping:
        try:
            found = text_column(table.column(mapping["sex"]))
        except ColumnError as exc:
            _unusable_column(report, exc, file, mapping["sex"], "sex")
            details["sex"] = pa.nulls(n, pa.large_string())
        else:
            nulls = pc.if_else(pa.array(found.blank), pa.scalar(None, found.text.type), found.text)
            details["sex"] = nulls if found.blank.any() else found.text
    return details, unusable


def _unusable_column(
    report: InputReport, exc: ColumnError, file: str, column: str, what: str
) -> None:
    report.warnings.append(f"{exc.at(file, column)}; the column is read as empty (no {what})")


_NAT = np.datetime64("NaT", "s")


def _count_birth_dates(
    report: InputReport, file: str, mapping: dict, unusable: dict[str, np.ndarray], keep
) -> None:
    """One warning for the kept rows whose date of birth could not be used: the count by
    reason and the column, never a value."""
    counts = {reason: int((hit & keep).sum()) for reason, hit in unusable.items()}
    counts = {reason: count for reason, count in counts.items() if count}
    if not counts:
        return
    reasons = ", ".join(f"{reason}: {count:,}" for reason, count in counts.items())
    report.warnings.append(
        f"{Path(file).name}: {sum(counts.values()):,} row(s) have a date of birth (column "
        f"'{mapping['date_of_birth']}') that cannot be used ({reasons}); the rows are kept, "
        "with no date of birth"
    )


def patients_from_events(
    events: pd.DataFrame, report: InputReport
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Registration repeated on event rows becomes the patients table (single-file extracts;
    date of birth and sex too, when given).

    A patient whose rows disagree is rejected, with every row of theirs, rather than guessed.
    """
    key = ["practice_code", "patient_id"]
    attributes = [c for c in SINGLE_FILE_PATIENT_COLUMNS if c in events]
    if "deregistration_date" not in events:
        events = events.assign(
            deregistration_date=pd.Series(pd.NaT, index=events.index, dtype="datetime64[s]")
        )
    distinct = events[key + attributes].drop_duplicates()
    conflicting = distinct.duplicated(key, keep=False)
    if conflicting.any():
        varying = distinct[conflicting].groupby(key, dropna=False)[attributes].nunique(dropna=False)
        disagree = [a for a in attributes if (varying[a] > 1).any()]
        events = _reject_patients(events, distinct[conflicting], disagree, CONFLICT, report)
        distinct = distinct[~conflicting]
    backwards = np.zeros(len(distinct), bool)
    if "deregistration_date" in distinct and "registration_date" in distinct:
        ends, starts = distinct["deregistration_date"], distinct["registration_date"]
        backwards = (ends < starts).to_numpy()
    if backwards.any():
        events = _reject_patients(
            events, distinct[backwards], ["deregistration_date"], DEREG_BEFORE_REG, report
        )
        distinct = distinct[~backwards]
    patients = distinct[distinct["registration_date"].notna()]
    return events, schemas.as_frame(schemas.PATIENTS, patients)


def _reject_patients(
    events: pd.DataFrame, patients: pd.DataFrame, columns: list[str], reason: str, report
) -> pd.DataFrame:
    """Reject every event row of these patients (single-file extracts), naming `columns`."""
    key = ["practice_code", "patient_id"]
    bad_patients = patients[key].drop_duplicates()
    flag = events[key].merge(bad_patients.assign(_bad=True), on=key, how="left")["_bad"]
    bad = flag.fillna(False).to_numpy(bool)
    for index, rows in events[bad].groupby("source"):
        name = list(report.sources)[index]
        source, names = report.sources[name], report.column_names.get(name, {})
        hit = np.zeros(source.table.num_rows, bool)
        hit[np.searchsorted(source.lines, rows["line"].to_numpy())] = True
        report.reject(source, hit, ", ".join(names.get(c, c) for c in columns), reason)
    return events[~bad].reset_index(drop=True)


def read_patients(
    path: str | Path | SourceTable,
    report: InputReport | None = None,
    *,
    columns: dict[str, str] | None = None,
    encoding: str | None = None,
    skip_rows: int | None = None,
) -> pd.DataFrame:
    """Registrations (`ccrqof.schemas.PATIENTS`): patient_id, practice_code,
    registration_date, deregistration_date, date_of_birth, sex. A date of birth that cannot
    be used is null, counted in a warning: the registration is kept."""
    report = report if report is not None else InputReport()
    source = (
        path
        if isinstance(path, SourceTable)
        else read_table(path, encoding, skip_rows=skip_rows, explicit=columns)
    )
    report.notices.extend(source.notices)
    report.sources["patients"] = source
    table, file = source.table, source.file
    mapping = map_columns(table.column_names, PATIENT_COLUMNS, columns or {}, file)
    _required(mapping, ("patient_id", "registration_date"), source, columns)
    report.column_names["patients"] = mapping
    report.practice_like["patients"] = _practice_like(table, mapping)
    n = table.num_rows
    report.rows_read["patients"] = n + len(source.broken)
    report.ignored["blank lines"] += source.blank_lines
    report.reject_broken(source)
    keep = np.ones(n, bool)
    patient_id = _checked(text_column, table, mapping["patient_id"], file)
    no_practice = np.zeros(n, bool)
    if "practice_code" in mapping:
        practice = _checked(text_column, table, mapping["practice_code"], file)
        practice_text, practice_blank = practice_codes(practice, report, file), practice.blank
        practice_hidden = hidden_characters(practice)
    else:
        practice_text, practice_blank = pa.nulls(n, pa.large_string()), no_practice
        practice_hidden = no_practice
    for bad, column, reason in (
        (patient_id.non_integral, "patient_id", NON_INTEGRAL),
        (patient_id.blank, "patient_id", EMPTY_ID),
        (hidden_characters(patient_id), "patient_id", HIDDEN_CHARACTERS),
        (practice_blank, "practice_code", EMPTY_PRACTICE),
        (practice_hidden, "practice_code", HIDDEN_CHARACTERS),
    ):
        report.reject(source, bad & keep, mapping.get(column, column), reason)
        keep &= ~bad
    reg, problems, _ = _checked(parse_dates, table, mapping["registration_date"], file)
    _reject_dates(
        report, source, problems, keep, mapping["registration_date"], "registration date: "
    )
    if "deregistration_date" in mapping:
        dereg, problems, _ = _checked(parse_dates, table, mapping["deregistration_date"], file)
        _reject_dates(
            report,
            source,
            problems,
            keep,
            mapping["deregistration_date"],
            "deregistration date: ",
            allow_blank=True,
        )
    else:
        dereg = np.full(n, "NaT", "datetime64[s]")
    details, unusable = _patient_details(table, mapping, file, report)
    columns_out = {
        "patient_id": patient_id.text,
        "practice_code": practice_text,
        "registration_date": reg,
        "deregistration_date": dereg,
        **details,
    }
    _reject_registrations(report, source, mapping, columns_out, keep)
    _count_birth_dates(report, file, mapping, unusable, keep)
    return schemas.as_frame(schemas.PATIENTS, columns_out, keep=keep)


def _reject_registrations(
    report: InputReport, source: SourceTable, mapping: dict, columns: dict, keep: np.ndarray
) -> None:
    """Registrations that cannot both be true are rejected, never resolved by a guess: one
    that ends before it starts, and a patient's open registrations at one practice when there
    are two or more (exact copies of one row are one registration, counted as duplicates)."""
    reg, dereg = columns["registration_date"], columns["deregistration_date"]
    backwards = keep & ~np.isnat(dereg) & (dereg < reg)
    report.reject(source, backwards, mapping.get("deregistration_date", ""), DEREG_BEFORE_REG)
    keep &= ~backwards
    open_rows = np.flatnonzero(keep & np.isnat(dereg))
    if not len(open_rows):
        return
    # only an id open more than once can be either problem: most are open once
    numbers = _as_numbers(columns["patient_id"])
    if numbers is not None:  # digits only (most pseudonyms): no string hashing
        repeated = _repeated(numbers[open_rows])
    else:
        ids = _dense(columns["patient_id"])[open_rows]
        repeated = np.bincount(ids)[ids] > 1
    if not repeated.any():
        return
    open_rows = open_rows[repeated]
    ids = _dense(columns["patient_id"].take(pa.array(open_rows)))
    practice = _dense(columns["practice_code"].take(pa.array(open_rows)))
    key = ids * (int(practice.max()) + 1) + practice
    starts = reg[open_rows].astype(np.int64)
    starts -= starts.min()
    row_key = key * (int(starts.max()) + 1) + starts
    copies = pd.Series(row_key).duplicated().to_numpy()
    if copies.any():
        _forget_disagreeing_details(report, source, columns, open_rows, row_key)
        report.ignored[DUPLICATE_REGISTRATIONS] += int(copies.sum())
        keep[open_rows[copies]] = False
        key, open_rows = key[~copies], open_rows[~copies]
    several = pd.Series(key).duplicated(keep=False).to_numpy()
    if several.any():
        hit = np.zeros(len(keep), bool)
        hit[open_rows[several]] = True
        column = mapping.get("deregistration_date", mapping["registration_date"])
        report.reject(source, hit, column, TWO_OPEN_REGISTRATIONS)
        keep &= ~hit


def _forget_disagreeing_details(
    report: InputReport, source: SourceTable, columns: dict, rows: np.ndarray, key: np.ndarray
) -> None:
    """Copies of one registration (`rows`, equal `key`) are kept once: if they disagree on
    date of birth or sex, the one kept records neither, rather than whichever came first."""
    present = [c for c in ("date_of_birth", "sex") if c in columns]
    if not present:
        return
    values = {
        c: columns[c][rows] if c == "date_of_birth" else columns[c].take(pa.array(rows))
        for c in present
    }
    frame = pd.DataFrame({"key": key, **values})
    varying = frame.groupby("key")[present].nunique(dropna=False).gt(1).any(axis=1)
    if not varying.any():
        return
    hit = np.zeros(len(columns["patient_id"]), bool)
    hit[rows[np.isin(key, varying.index[varying].to_numpy())]] = True
    if "date_of_birth" in columns:
        columns["date_of_birth"] = np.where(hit, _NAT, columns["date_of_birth"])
    if "sex" in columns:
        sex = columns["sex"]
        columns["sex"] = pc.if_else(pa.array(hit), pa.scalar(None, sex.type), sex)
    report.warnings.append(
        f"{Path(source.file).name}: {int(varying.sum()):,} registration(s) are repeated with "
        "different dates of birth or sex; each is kept once, with neither recorded"
    )


def _repeated(values: np.ndarray) -> np.ndarray:
    """Which values occur more than once (a sort: faster than hashing numbers)."""
    ordered = np.sort(values)
    same = ordered[1:] == ordered[:-1]
    if not same.any():
        return np.zeros(len(values), bool)
    return np.isin(values, ordered[1:][same])


def _as_numbers(column: pa.ChunkedArray) -> np.ndarray | None:
    """A number per id when every id is digits (most pseudonyms): equal ids give equal numbers
    (unequal ones rarely may: callers confirm), else None."""
    try:
        values = pc.cast(column, pa.uint64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    lengths = pc.binary_length(column).to_numpy(zero_copy_only=False).astype(np.uint64)
    return values * np.uint64(32) + lengths  # 007 and 7 differ; wrapping is only a collision


def _dense(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Dense int64 ids (nulls one id of their own) of a text column, from an Arrow dictionary:
    no Python strings."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    codes = pc.dictionary_encode(column, null_encoding="encode")
    return codes.indices.to_numpy(zero_copy_only=False).astype(np.int64)


@contextmanager
def _reader_threads():
    """Threads to read files side by side. On an error, reads not yet started are cancelled
    and running ones finish (a pyarrow read cannot be interrupted) before it is raised: no
    reader outlives the call."""
    pool = ThreadPoolExecutor()
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def read_extract(
    events: str | Path | list[str | Path],
    patients: str | Path | None = None,
    *,
    columns: dict[str, str] | None = None,
    encoding: str | None = None,
    on_file: Callable[[Path], None] | None = None,
    known_codes: frozenset[str] = frozenset(),
    skip_rows: int | None = None,
) -> Extract:
    """Read an events extract (one or more files, globs or folders) and, optionally, a
    patients (registrations) file.

    `columns` maps canonical names to source columns (``{"code": "SnomedCTConceptId"}``);
    `on_file` is called after each file is read (for a progress bar); `known_codes` (the code
    list's) let a SNOMED CT id that Excel rounded be named as such. `skip_rows` is the number of
    lines above the header row of every CSV file; by default a report's preamble (a search's
    title and run date above the header) is found and skipped, with a notice.
    """
    report = InputReport()
    found = expand(events if isinstance(events, list | tuple) else [events])
    # pyarrow reads release the GIL: the patients file is read while the events are
    with _reader_threads() as pool:
        csv_options = {"skip_rows": skip_rows, "explicit": columns}
        patients_source = (
            pool.submit(read_table, patients, encoding, **csv_options) if patients else None
        )
        if isinstance(found, Path):  # one Parquet dataset
            dataset = read_dataset(found)
            frames = [read_events(dataset, report, columns=columns, known=known_codes)]
            if on_file:
                on_file(found)
        else:

            def read(item: tuple[int, InputFile]):
                i, file = item
                source = read_table(file.path, encoding, **csv_options)
                source = with_partition(source, file.partition)
                if on_file:
                    on_file(file.path)
                return i, source

            sources = dict(pool.map(read, enumerate(found)))
            # line numbers on every file's rows if any file carries registrations
            with_lines = any(
                "registration_date"
                in map_columns(
                    source.table.column_names,
                    EVENT_COLUMNS + SINGLE_FILE_PATIENT_COLUMNS,
                    columns or {},
                    source.file,
                )
                for source in sources.values()
            )
            frames = [
                read_events(
                    sources[i],
                    report,
                    columns=columns,
                    key=f"events:{i}",
                    with_lines=with_lines,
                    known=known_codes,
                )
                for i in range(len(found))
            ]
        patients_source = patients_source.result() if patients_source else None
    has_practice = {has for _, has in frames}
    if len(has_practice) > 1:
        raise InputError(
            "some events files have a practice code column and others do not; "
            "give every file one (or a practice_code=... folder)"
        )
    frame = _combine_exports([f for f, _ in frames], report) if len(frames) > 1 else frames[0][0]
    registrations = (
        read_patients(patients_source, report, columns=columns) if patients_source else None
    )
    check_sources_exist(
        columns or {}, {s.file: s.table.column_names for s in report.sources.values()}
    )
    if registrations is None and "registration_date" in frame:
        frame, registrations = patients_from_events(frame, report)
    _say_which_columns(report)
    if registrations is not None:
        _find_practices_without_entries(frame, registrations, report)
    _say_what_changed(report)
    return schemas.extract(frame, registrations, has_practice=has_practice.pop(), report=report)


ODS_PRACTICE = r"^[A-Za-z][0-9]{5}$"  # a GP practice's ODS code: A81001
_SAMPLE_ROWS = 10_000


def _practice_like(table: pa.Table, mapping: dict[str, str]) -> list[str]:
    """Ignored columns, in a file with no practice column, whose header names an organisation
    and whose first rows' values are all ODS practice codes: the practice, under a name we do
    not recognise. Only the headers are ever said."""
    if "practice_code" in mapping:
        return []
    used = set(mapping.values())
    found = []
    for name in table.column_names:
        if name in used or not practice_like_name(name):
            continue
        try:
            values = pc.cast(table.column(name).slice(0, _SAMPLE_ROWS), pa.large_string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue  # not text: no code
        values = pc.drop_null(pc.utf8_trim_whitespace(values))
        values = values.filter(pc.not_equal(values, ""))
        if len(values) and pc.all(pc.match_substring_regex(values, ODS_PRACTICE)).as_py():
            found.append(name)
    return found


def _say_which_columns(report: InputReport) -> None:
    """One notice per input file: the columns used, as what, and those ignored. Files with the
    same columns (monthly exports, a partitioned folder) share one."""
    groups: dict[tuple, list[str]] = {}
    for key, source in report.sources.items():
        if key not in report.column_names:
            continue
        found = tuple(source.table.column_names)
        mapping = tuple(report.column_names[key].items())
        hints = tuple(report.practice_like.get(key, ()))
        groups.setdefault((mapping, found, hints), []).append(Path(source.file).name)
    for (mapping, found, hints), files in groups.items():
        name = files[0]
        if len(files) > 1:
            name += f" (and {len(files) - 1:,} other file(s) with the same columns)"
        report.notices.append(usage_summary(name, dict(mapping), list(found), list(hints)))


SHOWN_PRACTICES = 5


def _find_practices_without_entries(
    events: pd.DataFrame, registrations: pd.DataFrame, report: InputReport
) -> None:
    """Practices with registrations but no coded entry in the events files: their registers
    would be 0 with nothing said, the mark of an events file left out. Each is counted and the
    first few named (practice codes, never a patient)."""
    practices = registrations["practice_code"]
    if not practices.notna().any():  # a patients file without a practice column
        return
    coded = ((events["code"] != "") | (events["cluster"] != "")).to_numpy(bool)
    if events["practice_code"].notna().any():  # the entries carry their practice
        with_entries = events.loc[coded, "practice_code"]
    else:  # an entry belongs to the practice its patient is registered at
        coded_patients = pd.unique(events.loc[coded, "patient_id"])
        with_entries = practices[registrations["patient_id"].isin(coded_patients)]
    missing = sorted(set(pd.unique(practices.dropna())) - set(pd.unique(with_entries.dropna())))
    report.practices_without_entries = missing
    if not missing:
        return
    named = ", ".join(missing[:SHOWN_PRACTICES])
    if len(missing) > SHOWN_PRACTICES:
        named += f" and {len(missing) - SHOWN_PRACTICES:,} more"
    report.notices.append(
        f"{len(missing):,} practice(s) have registrations but no coded entry in the events "
        f"files: {named}. Every count that needs an entry (a register, a screening test) is 0 "
        "for them: is an events file missing?"
    )


def _say_what_changed(report: InputReport) -> None:
    """Notices and warnings for what the reader did to values (never the values)."""
    for file, n in report.lowercase_practice_codes.items():
        report.notices.append(
            f"{Path(file).name}: {n:,} practice code value(s) are not in upper case; practice "
            "codes are compared in upper case, as ODS codes are written, so a lower-case and "
            "an upper-case spelling are one practice"
        )
    rounded = report.rejected.get(EXCEL_ROUNDED, 0)
    if rounded:
        report.warnings.append(
            f"{rounded:,} row(s) have a 16-18 digit code that Excel rounded to 15 significant "
            "digits (its last digits are zeros and a code-list id shares the first 15); they "
            "are rejected. Export the extract again with the code column as text."
        )
    near = report.ignored.get(NEAR_DUPLICATES, 0)
    if near:
        report.notices.append(
            f"{near:,} row(s) repeat an entry of another events file that has more columns "
            f"({', '.join(sorted(report.near_duplicate_columns))}); each was counted once, "
            "with the other file's values (see docs/reference-bad-input.md)"
        )


# Entry columns that some exports leave out: a row from a file without one may be the same
# entry as a row from a file with it.
OPTIONAL_ENTRY_COLUMNS = ("episode", "cluster")
NEAR_DUPLICATES = "near-duplicate rows (the same entry in an export with fewer columns)"


def _combine_exports(frames: list[pd.DataFrame], report: InputReport) -> pd.DataFrame:
    """Several events files as one frame. When one file lacks an optional entry column that
    another has (two overlapping exports, one without `episode`, or with it left blank), a row
    of the narrower file that matches a row of the wider one on every column both have is the
    same entry: it is dropped and counted, so the result does not depend on which export carried
    the column. Files that each lack a column the other has cannot be merged so: their matching
    rows are counted and warned about, and kept."""
    combined = pd.concat(frames, ignore_index=True)
    # a column counts as present only where a file gives it a value on some row
    has = [
        {c for c in OPTIONAL_ENTRY_COLUMNS if c in f and (f[c].fillna("") != "").any()}
        for f in frames
    ]
    everywhere = set.intersection(*has)
    if all(h == everywhere for h in has):
        return combined
    sizes = [len(f) for f in frames]
    origin = np.repeat(np.arange(len(frames)), sizes)
    drop = np.zeros(len(combined), bool)
    base = ["practice_code", "patient_id", "code", "date"]
    crossed = 0
    for i, narrow in enumerate(has):
        for j, wide in enumerate(has):
            if i == j or wide <= narrow:
                continue
            key, extra = base + sorted(narrow & wide), sorted(wide - narrow)
            rows_i = np.flatnonzero((origin == i) & ~drop)
            rows_j = np.flatnonzero(origin == j)
            left = combined.iloc[rows_i][key].astype(object).fillna("")
            wider = combined.iloc[rows_j][key + extra].astype(object).fillna("")
            # a copy whose wider row is blank in the extra columns too is an ordinary
            # duplicate row (counted later as such); only rows that lack a value are "near"
            informative = wider[(wider[extra] != "").any(axis=1)][key].drop_duplicates()
            found = left.merge(informative.assign(_hit=True), on=key, how="left")["_hit"]
            hit = found.fillna(False).to_numpy(bool)
            if not narrow < wide:  # each lacks a column the other has: say so, keep both
                crossed += int(hit.sum()) if i < j else 0
                continue
            near = rows_i[hit]
            if len(near):
                drop[near] = True
                report.ignored[NEAR_DUPLICATES] += len(near)
                report.near_duplicate_columns.update(extra)
    if crossed:
        report.warnings.append(
            f"{crossed:,} row(s) of one events file match rows of another on every column both "
            "have, but each file has a column the other lacks (episode, cluster): they may be "
            "the same entries exported twice, and were counted separately. Give one export."
        )
    return combined[~drop].reset_index(drop=True) if drop.any() else combined
