"""Date arithmetic of the QOF business rules, in one place (docs/reference-rules.md#time).

Dates are numpy ``datetime64[D]`` arrays; ``NaT`` means "no such date" and every comparison
with it is False, which is exactly how a business rule on a missing date behaves (it does not fire).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np

NaT = np.datetime64("NaT", "D")
_FIRST_PAID_YEAR = 2021  # CAN004/CAN005 exist from 2021-22


def to_day(value: dt.date | str | np.datetime64) -> np.datetime64:
    return np.datetime64(value, "D")


def add_months(days: np.ndarray | np.datetime64, months: int | np.ndarray) -> np.ndarray:
    """Calendar month arithmetic clamped to month end.

    31 May + 3 months = 31 Aug; 30 Nov + 3 months = 28/29 Feb;
    29 Feb 2024 - 12 months = 28 Feb 2023. This is how QOF counts "N months", so
    "exactly 12 months later" is a calendar date, not 365 days.
    """
    days = np.asarray(days, dtype="datetime64[D]")
    with np.errstate(over="ignore"):  # NaT is the int64 minimum; its result is masked below
        return _add_months(days, months)


def _add_months(days: np.ndarray, months: int) -> np.ndarray:
    month_index = days.astype("datetime64[M]")
    day_of_month = (days - month_index.astype("datetime64[D]")).astype(np.int64)
    target_month = month_index + np.asarray(months, np.int64).astype("timedelta64[M]")
    month_length = (
        (target_month + np.timedelta64(1, "M")).astype("datetime64[D]")
        - target_month.astype("datetime64[D]")
    ).astype(np.int64)
    clamped = np.minimum(day_of_month, month_length - 1)
    result = target_month.astype("datetime64[D]") + clamped.astype("timedelta64[D]")
    return np.where(np.isnat(days), NaT, result)


def age_at(birth: np.ndarray, day: np.datetime64) -> np.ndarray:
    """Age in whole years at `day`: the largest n with birth + 12n months <= day, in the
    clamped month arithmetic above, so a 29 February birthday falls on 28 February in other
    years (docs/reference-rules.md#s5-age). -1 where the birth date is missing."""
    birth = np.asarray(birth, "datetime64[D]")
    years = day.astype("datetime64[Y]").astype(np.int64) - birth.astype("datetime64[Y]").astype(
        np.int64
    )
    years = np.where(np.isnat(birth), 0, years)
    years -= add_months(birth, 12 * years) > day
    return np.where(np.isnat(birth), -1, years)


def registered_on(start: np.ndarray, end: np.ndarray, day: np.datetime64) -> np.ndarray:
    """Registrations open on `day` (docs/reference-rules.md#who-is-counted): started on or before
    it and not ended on or before it (a deregistration dated `day` means not registered)."""
    return (start <= day) & (np.isnat(end) | (end > day))


def add_days(days: np.ndarray | np.datetime64, n: int) -> np.ndarray:
    return np.asarray(days, dtype="datetime64[D]") + np.timedelta64(n, "D")


@dataclass(frozen=True)
class Offset:
    """A signed calendar offset: ``12 months``, ``-93 days``."""

    amount: int
    unit: str  # "months" | "days"

    def apply(self, days: np.ndarray | np.datetime64) -> np.ndarray:
        if self.unit == "months":
            return add_months(days, self.amount)
        return add_days(days, self.amount)

    def __str__(self) -> str:
        sign = "+" if self.amount >= 0 else "-"
        n = abs(self.amount)
        unit = self.unit if n != 1 else self.unit[:-1]
        return f"{sign} {n} {unit}"


_OFFSET = re.compile(r"^\s*([+-])\s*(\d+)\s*(months?|days?)\s*$")


def parse_offset(text: str) -> Offset:
    """Parse ``+ 12 months`` / ``- 93 days``; raises ValueError with the expected shape."""
    m = _OFFSET.match(text)
    if not m:
        raise ValueError(f"expected an offset like '- 12 months' or '+ 93 days', got {text!r}")
    sign, n, unit = m.groups()
    amount = int(n) * (-1 if sign == "-" else 1)
    return Offset(amount, "months" if unit.startswith("month") else "days")


# --- QOF years -------------------------------------------------------------------------------

_YEAR = re.compile(r"^(\d{4})-(\d{2})$")


def parse_qof_year(name: str) -> int:
    """``'2023-24'`` -> 2023 (the calendar year in which the QOF year starts)."""
    m = _YEAR.match(name.strip())
    if not m or (int(m.group(1)) + 1) % 100 != int(m.group(2)):
        raise ValueError(f"a QOF year is written like '2023-24', got {name!r}")
    return int(m.group(1))


def qof_year_name(start: int) -> str:
    return f"{start}-{(start + 1) % 100:02d}"


def ppsd(start: int) -> dt.date:
    """Payment period start date: 1 April of the year's first calendar year."""
    return dt.date(start, 4, 1)


def pped(start: int) -> dt.date:
    """Payment period end date: 31 March of the following calendar year."""
    return dt.date(start + 1, 3, 31)


def qof_year_containing(day: dt.date) -> int:
    return day.year if day.month >= 4 else day.year - 1


def iso(day: np.datetime64 | dt.date | None) -> str | None:
    if day is None:
        return None
    if isinstance(day, np.datetime64):
        return None if np.isnat(day) else str(day.astype("datetime64[D]"))
    return day.isoformat()


def human(day: dt.date) -> str:
    """'31 Mar 2024': the form a practice manager reads without thinking about day/month order."""
    return f"{day.day} {day.strftime('%b %Y')}"


def last_complete_month(today: dt.date) -> str:
    """YYYY-MM of the month before `today`'s: the latest month that has ended."""
    first = today.replace(day=1) - dt.timedelta(days=1)
    return f"{first.year:04d}-{first.month:02d}"
