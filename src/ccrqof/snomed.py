"""What makes a SNOMED CT concept id: 6 to 18 digits, a partition identifier that says
"concept", and a Verhoeff check digit (docs/reference-bad-input.md).

The checks run on the distinct codes of a column, not on every row: an extract has a few
thousand distinct codes and millions of rows.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# The Verhoeff scheme: multiplication in the dihedral group D5, and a permutation per position.
_D = np.array(
    [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
        [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
        [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
        [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ],
    np.int8,
)
_SIGMA = (1, 5, 7, 6, 2, 8, 3, 0, 9, 4)  # the permutation applied at each position


def _powers(sigma: tuple[int, ...]) -> np.ndarray:
    rows = [list(range(10))]
    for _ in range(7):
        rows.append([sigma[x] for x in rows[-1]])
    return np.array(rows, np.int8)


_P = _powers(_SIGMA)  # _P[k] = sigma applied k times

# Partition identifiers (the two digits before the check digit) of concept ids: 00 in the
# international release's short form, 10 for an extension concept (with a namespace).
CONCEPT_PARTITIONS = ("00", "10")
MIN_DIGITS, MAX_DIGITS = 6, 18
EXCEL_DIGITS = 15  # Excel keeps 15 significant digits of a number; longer ids lose the rest


def _digits(codes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Right-aligned digit matrix (n x 18, zero-padded on the left) and each code's length."""
    width = MAX_DIGITS
    lengths = np.array([len(c) for c in codes], np.int64)
    padded = "".join(c.rjust(width, "0") for c in codes).encode("ascii")
    matrix = np.frombuffer(padded, np.uint8).reshape(len(codes), width) - ord("0")
    return matrix.astype(np.int8), lengths


def verhoeff_ok(codes: list[str]) -> np.ndarray:
    """Whether each all-digit code's last digit is its Verhoeff check digit."""
    if not codes:
        return np.zeros(0, bool)
    matrix, lengths = _digits(codes)
    check = np.zeros(len(codes), np.int8)
    for position in range(MAX_DIGITS):  # from the rightmost digit leftwards
        digit = matrix[:, MAX_DIGITS - 1 - position]
        step = _D[check, _P[position % 8, digit]]
        check = np.where(position < lengths, step, check)  # the padding is not part of it
    return check == 0


def check_digit(body: str) -> str:
    """The Verhoeff check digit to append to `body` (all digits)."""
    for digit in "0123456789":
        if verhoeff_ok([body + digit])[0]:
            return digit
    raise AssertionError("unreachable: exactly one digit completes a Verhoeff checksum")


# Reasons a code is not a concept id, most basic first (a row is rejected for the first).
NOT_DIGITS = "invalid SNOMED CT id (not 6 to 18 digits)"
LEADING_ZERO = "invalid SNOMED CT id (starts with 0)"
EXCEL_ROUNDED = "SNOMED CT id rounded by Excel (15 significant digits)"
BAD_PARTITION = "not a SNOMED CT concept id (partition identifier is not 00 or 10)"
BAD_CHECK_DIGIT = "invalid SNOMED CT id (Verhoeff check digit does not match)"
REASONS = (NOT_DIGITS, LEADING_ZERO, EXCEL_ROUNDED, BAD_PARTITION, BAD_CHECK_DIGIT)


def concept_id_problems(
    codes: pa.ChunkedArray | pa.Array, known: frozenset[str] = frozenset()
) -> dict[str, np.ndarray]:
    """A mask per reason for every value of `codes` (blank values have no problem).

    Every check runs once per distinct code, then reaches the rows through the dictionary
    indices. `known` holds the code list's ids, to recognise one that Excel rounded.
    """
    if isinstance(codes, pa.ChunkedArray):
        codes = codes.combine_chunks()
    encoded = pc.dictionary_encode(codes)
    distinct = encoded.dictionary.to_pylist()
    reason = np.zeros(len(distinct), np.int8)  # 0: no problem; else 1 + index into REASONS
    shaped = np.array(
        [MIN_DIGITS <= len(c) <= MAX_DIGITS and c.isascii() and c.isdigit() for c in distinct],
        bool,
    )
    blank = np.array([c == "" for c in distinct], bool)
    reason[~shaped & ~blank] = 1 + REASONS.index(NOT_DIGITS)
    well_formed = np.flatnonzero(shaped)
    candidates = [distinct[i] for i in well_formed]
    rounded = excel_rounded(candidates, known)
    # partition 10 means a 7-digit namespace before it: at least 11 digits in all
    partition = np.array(
        [c[-3:-1] == "00" or (c[-3:-1] == "10" and len(c) >= 11) for c in candidates], bool
    )
    check = verhoeff_ok(candidates)
    # an id is a number: a leading zero was added (and would fail the check digit too)
    zero = np.array([c[0] == "0" for c in candidates], bool)
    later = np.select(
        [zero, rounded, ~partition, ~check],
        [
            1 + REASONS.index(r)
            for r in (LEADING_ZERO, EXCEL_ROUNDED, BAD_PARTITION, BAD_CHECK_DIGIT)
        ],
        0,
    )
    reason[well_formed] = later
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    if not reason.any():
        return {r: np.zeros(len(indices), bool) for r in REASONS}
    per_row = reason[indices]
    return {r: per_row == 1 + i for i, r in enumerate(REASONS)}


def valid_concept_ids(codes: list[str]) -> np.ndarray:
    """Whether each code (a Python list of strings) is a well-formed concept id."""
    if not codes:
        return np.zeros(0, bool)
    problems = concept_id_problems(pa.array(codes, pa.large_string()))
    blank = np.array([c == "" for c in codes], bool)
    return ~blank & ~np.logical_or.reduce(list(problems.values()))


def excel_rounded(codes: list[str], known: set[str]) -> np.ndarray:
    """Which codes look like a 16-18 digit id of `known` that Excel rounded to 15 significant
    digits: the digits after the 15th are all zero, and a known id shares the first 15."""
    candidates = [c for c in codes if len(c) > EXCEL_DIGITS and c.endswith("0")]
    if not candidates or not known:  # the usual case: no need to index the code list
        return np.zeros(len(codes), bool)
    prefixes = {k[:EXCEL_DIGITS]: len(k) for k in known if len(k) > EXCEL_DIGITS}
    return np.array(
        [
            len(c) > EXCEL_DIGITS
            and set(c[EXCEL_DIGITS:]) == {"0"}
            and c not in known
            and prefixes.get(c[:EXCEL_DIGITS]) == len(c)
            for c in codes
        ],
        bool,
    )
