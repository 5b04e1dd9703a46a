"""Vectorised cell parsing in Arrow: ids and codes as text, dates in one format per column."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ccrqof.errors import InputError
from ccrqof.snomed import concept_id_problems

# (name, regex with the date part as group `d` and its day of month as group `day`, format).
# Day first, always: 05/03/2024 is 5 March (its `month` group is there to check that the column
# is not month first). A time part after the date is ignored.
DATE_FORMATS = (
    ("YYYY-MM-DD", r"^\s*(?P<d>\d{4}-\d{2}-(?P<day>\d{2}))(?:[T ].*)?\s*$", "%Y-%m-%d"),
    (
        "DD/MM/YYYY",
        r"^\s*(?P<d>(?P<day>\d{1,2})/(?P<month>\d{1,2})/\d{4})(?:[T ].*)?\s*$",
        "%d/%m/%Y",
    ),
    ("DD-Mon-YYYY", r"^\s*(?P<d>(?P<day>\d{1,2})-[A-Za-z]{3}-\d{4})(?:[T ].*)?\s*$", "%d-%b-%Y"),
    ("DD Mon YYYY", r"^\s*(?P<d>(?P<day>\d{1,2}) [A-Za-z]{3} \d{4})(?: .*)?\s*$", "%d %b %Y"),
)
UNREADABLE_DATE = "unreadable date"
MIXED_DATE = "date in a different format from the rest of its column"
MISSING_DATE = "missing date"
NON_INTEGRAL = "code or id stored as a non-integral number"
IMPLAUSIBLE_DATE = "implausible date (on or before 1 January 1900)"

# The one plausibility rule for dates, whatever their column or format: a date on or before
# PLACEHOLDER_DATES_UNTIL is a placeholder (1900-01-01 is SQL Server's zero date, 0001-01-01
# and 1601-01-01 other systems' "no date") or a typing slip, never a real entry or registration
# of a living patient; its row is rejected (IMPLAUSIBLE_DATE). Far-future dates (9999-12-31)
# are real dates: an entry after the reference date is counted as such, and a deregistration
# after it means still registered. A date outside the calendar of four-digit years (year 0000,
# or a Parquet date or timestamp beyond 1-9999) cannot be read at all (UNREADABLE_DATE).
PLACEHOLDER_DATES_UNTIL = np.datetime64("1900-01-01", "s")
# as datetime64[s] counts: NaT, that date, and the calendar's first and last days
_NAT = np.iinfo(np.int64).min
_PLACEHOLDER_S = int(PLACEHOLDER_DATES_UNTIL.astype(np.int64))
_FIRST_S = int(np.datetime64("0001-01-01", "s").astype(np.int64))
_LAST_S = int(np.datetime64("9999-12-31", "s").astype(np.int64))


class ColumnError(InputError):
    """A column that cannot be used at all (its type, or dates written month first). Raised
    where the column's name is unknown; `at` gives it its file and column."""

    def at(self, file: str, column: str | None) -> InputError:
        return InputError(self.message, file=file, column=column)


def _kind(kind: pa.DataType) -> str:
    """A type's plain name (list, struct, map, bool...), without its fields."""
    return str(kind).split("<")[0].split("[")[0].split("(")[0]


def _unwrapped(kind: pa.DataType) -> pa.DataType:
    return kind.value_type if pa.types.is_dictionary(kind) else kind


def _as_text_type(kind: pa.DataType) -> bool:
    """Types whose values read as text: text, bytes (if UTF-8), numbers, all-null."""
    kind = _unwrapped(kind)
    return (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_null(kind)
    )


def mask(array) -> np.ndarray:
    """An Arrow boolean result as a numpy mask (null counts as False)."""
    return pc.fill_null(array, False).to_numpy(zero_copy_only=False)


@dataclass
class Text:
    """A column as trimmed text, with what its checks found."""

    text: pa.ChunkedArray  # trimmed, '' for null
    non_integral: np.ndarray  # a float that is not a whole number (Parquet)
    blank: np.ndarray  # '' once trimmed
    clean: pa.ChunkedArray  # the `clean` test of each value of `text`


def as_text(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, np.ndarray]:
    """Trimmed text ('' for null) and a mask of numbers that are not whole.

    Parquet integers become their digits; a float column is accepted only where integral.
    """
    found = text_column(column)
    return found.text, found.non_integral


def text_column(column: pa.ChunkedArray, clean=pc.ascii_is_alnum) -> Text:
    """`as_text` with the blanks. Values that pass `clean` (letters and digits only, say) have
    no surrounding spaces, and a column of them is kept as it is: no copy."""
    if not _as_text_type(column.type):
        raise ColumnError(
            f"is of type {_kind(_unwrapped(column.type))}: expected text or whole numbers"
        )
    bad = np.zeros(len(column), bool)
    if pa.types.is_floating(column.type):
        # NaN is a missing value; beyond 2**53 a float cannot hold an 18-digit id exactly
        usable = mask(pc.and_(pc.is_finite(column), pc.less(pc.abs(column), 2.0**53)))
        safe = pc.if_else(pa.array(usable), column, 0.0)
        whole = pc.cast(safe, pa.int64(), safe=False)
        bad = (usable & ~mask(pc.equal(pc.cast(whole, column.type), safe))) | (
            ~usable & ~mask(pc.is_nan(pc.fill_null(column, float("nan"))))
        )
        column = pc.if_else(pa.array(usable & ~bad), pc.cast(whole, pa.large_string()), "")
    elif not pa.types.is_large_string(column.type):  # the text type pandas keeps
        try:
            column = pc.cast(column, pa.large_string())
        except pa.ArrowInvalid:  # bytes that are not UTF-8
            raise ColumnError("holds bytes that are not UTF-8 text") from None
    if column.null_count:
        column = pc.fill_null(column, "")
    blank, passed = _blank(column), clean(column)
    # `clean` is false for '', so every value is clean or blank when the counts add up
    if _count(passed) + _count(blank) < len(column):
        column = pc.utf8_trim_whitespace(column)
        blank, passed = _blank(column), clean(column)
    return Text(column, bad, mask(blank), passed)


def _blank(text: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.equal(pc.binary_length(text), 0)  # from the offsets alone: no string compares


def _count(flags: pa.ChunkedArray) -> int:
    return pc.sum(flags).as_py() or 0


def code_column(
    column: pa.ChunkedArray, known: frozenset[str] = frozenset()
) -> tuple[Text, dict[str, np.ndarray]]:
    """Codes as text, and a mask per reason a code is not a SNOMED CT concept id (see
    `ccrqof.snomed`); `known` codes (the code list's) let an id Excel rounded be named as such.
    Digits alone need no trimming, so one test serves both."""
    found = text_column(column, clean=pc.ascii_is_decimal)
    return found, concept_id_problems(found.text, known)


def _iso_fast(text: pa.ChunkedArray, blank: np.ndarray) -> np.ndarray | None:
    """Plain YYYY-MM-DD everywhere (the common case): Arrow's strict cast, no regex."""
    try:
        values = (
            pc.if_else(pa.array(blank), pa.scalar(None, text.type), text) if blank.any() else text
        )
        return _days(pc.cast(values, pa.date32()))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _days(dates: pa.ChunkedArray) -> np.ndarray:
    """Arrow dates as datetime64[s] at midnight, the unit pandas keeps (one conversion)."""
    return pc.cast(dates, pa.timestamp("s")).to_numpy(zero_copy_only=False)


def parse_dates(column: pa.ChunkedArray) -> tuple[np.ndarray, dict[str, np.ndarray], str]:
    """Dates as datetime64[s] at midnight (NaT when blank or bad) and a mask per problem.

    The format is the one most of the column's values fit; values in another accepted format
    are reported as mixed, values in none as unreadable; impossible dates (30 February) too.
    Then one rule for every column: `_screen`.
    """
    n = len(column)
    none = np.zeros(n, bool)
    kind = _unwrapped(column.type)
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        days, outside = _native_days(column)
        problems = {
            MISSING_DATE: np.isnat(days) & ~outside,
            MIXED_DATE: none,
            UNREADABLE_DATE: outside,
        }
        return (*_screen(days, problems), "native")
    if not _as_text_type(column.type):
        raise ColumnError(f"is of type {_kind(kind)}: expected dates or text")
    days = None
    text = column
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        # the untrimmed text first: a clean ISO column then needs no copy
        blank = mask(_blank(text)) if not column.null_count else None
        days = _iso_fast(text, blank) if blank is not None else None
    if days is None:
        text, _ = as_text(column)
        blank = mask(_blank(text))
        days = _iso_fast(text, blank)
    if days is not None:
        problems = {MISSING_DATE: blank, MIXED_DATE: none, UNREADABLE_DATE: none}
        return (*_screen(days, problems), "YYYY-MM-DD")
    filled = n - int(blank.sum())
    fits = []
    for fmt in DATE_FORMATS:
        hits = pc.sum(pc.match_substring_regex(text, fmt[1])).as_py() or 0
        fits.append((hits, fmt))
        if hits == filled:  # the whole column fits: no need to try the others
            break
    _, (name, regex, strp) = max(fits, key=lambda f: f[0])
    parts = pc.extract_regex(text, regex)
    day = pc.cast(pc.struct_field(parts, "day"), pa.int64())
    if name == "DD/MM/YYYY":
        _refuse_month_first(day, pc.cast(pc.struct_field(parts, "month"), pa.int64()))
    parsed = pc.strptime(pc.struct_field(parts, "d"), format=strp, unit="s", error_is_null=True)
    # strptime rolls 30 February over to 1 March; an impossible date is unreadable instead
    parsed = pc.if_else(pc.fill_null(pc.equal(pc.day(parsed), day), False), parsed, None)
    days = _days(pc.cast(parsed, pa.date32()))
    failed = np.isnat(days) & ~blank
    other_format = np.zeros(n, bool)
    if failed.any():
        for fmt in DATE_FORMATS:
            if fmt[0] != name:
                other_format |= mask(pc.match_substring_regex(text, fmt[1]))
        other_format &= failed
    problems = {
        MISSING_DATE: blank,
        MIXED_DATE: other_format,
        UNREADABLE_DATE: failed & ~other_format,
    }
    return (*_screen(days, problems), name)


def _refuse_month_first(first: pa.ChunkedArray, second: pa.ChunkedArray) -> None:
    """Day first, always; but a column whose values show it is month first at least as often
    as day first (a tie included) is refused whole rather than read day first, which would
    silently move every ambiguous date (03/05/2024) by months. The evidence is a count of
    values: second part over 12 (only month first) against first part over 12 (only day
    first)."""
    only_month_first = _count(pc.and_(pc.greater(second, 12), pc.less_equal(first, 12)))
    if not only_month_first:
        return
    only_day_first = _count(pc.and_(pc.greater(first, 12), pc.less_equal(second, 12)))
    if only_month_first >= only_day_first:
        raise ColumnError(
            f"looks month first (MM/DD/YYYY): {only_month_first:,} value(s) can only be read "
            f"month first and {only_day_first:,} only day first. ccrqof reads DD/MM/YYYY and "
            "will not guess which the other dates are: convert the column to YYYY-MM-DD"
        )


# per-unit bounds of the calendar (0001-01-01 to the end of 9999) as raw int64 counts
_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}
_FIRST, _END = -719_162, 2_932_897  # days from 1970-01-01 to 0001-01-01 and to 10000-01-01
_INT64 = (-(2**63), 2**63 - 1)


def _native_days(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Parquet dates and timestamps as days, and which lie outside years 1-9999. Arrow's cast
    of a timestamp to a date wraps around silently out there, so those are set aside first."""
    kind = _unwrapped(column.type)
    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, kind)
    outside = np.zeros(len(column), bool)
    if pa.types.is_timestamp(kind) or pa.types.is_date64(kind):
        per_day = _PER_DAY[kind.unit if pa.types.is_timestamp(kind) else "ms"]
        low = max(_FIRST * per_day, _INT64[0])
        high = min(_END * per_day, _INT64[1])
        raw = pc.cast(column, pa.int64())
        outside = mask(pc.or_(pc.less(raw, low), pc.greater_equal(raw, high)))
        if outside.any():
            column = pc.if_else(pa.array(~outside), column, pa.scalar(None, kind))
    return _days(pc.cast(column, pa.date32())), outside


def _screen(days: np.ndarray, problems: dict[str, np.ndarray]) -> tuple[np.ndarray, dict]:
    """The plausibility rule (see PLACEHOLDER_DATES_UNTIL), the same for every date column and
    format: such dates are rejected, and never reach the engine or a view. (Compared as
    seconds: numpy's date compares are several times slower.)"""
    seconds = days.view(np.int64)
    early = seconds <= _PLACEHOLDER_S  # NaT, the int64 minimum, too: taken out below
    if early.any():
        early &= seconds != _NAT
    late = seconds > _LAST_S if len(days) and seconds.max() > _LAST_S else None
    if late is None and not early.any():
        return days, {**problems, IMPLAUSIBLE_DATE: early}
    outside = early & (seconds < _FIRST_S)
    if late is not None:
        early, outside = early | late, outside | late
    problems = {
        **problems,
        UNREADABLE_DATE: problems[UNREADABLE_DATE] | outside,
        IMPLAUSIBLE_DATE: early & ~outside,
    }
    return np.where(early, np.datetime64("NaT", "s"), days), problems
