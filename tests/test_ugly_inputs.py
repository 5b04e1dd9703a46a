"""Real-world extracts and bad input, through the real `ccrqof calc` command (issue 3).

One test per file of ``tests/fixtures/ugly/`` (each named for what is wrong with it; see
``make_fixtures.py`` for how they were made) and per generated Parquet variant. Every run is
``ccrqof calc FILE --year 2023-24 --format json --rejects OUT/rejects.csv`` through the console
entry point, once as is and once with ``--strict``, and checks:

- the exit status: 0 when the file is readable (with or without rejected rows), 1 with
  ``--strict`` when any row is rejected, 2 for a hard error with one plain ``Error:`` line on
  stderr, nothing on stdout and nothing written;
- that no value of the file (patient id, code, date, description...) reaches stderr;
- the rejects file: file, physical source line (quoted line breaks and blank lines counted),
  column and reason of every rejected row, and nothing else;
- the JSON ``input`` counts (rows read, rejected and ignored by reason) and the indicator counts
  of the good rows;
- that the input file is byte for byte and mtime the same afterwards.

Every extract holds the same three good patients of practice A81001, hand-checked at
R = 31 March 2024 (R - 12 months = 31 Mar 2023, R - 3 months = 31 Dec 2023, R - 15 months =
31 Dec 2022), docs/reference-rules.md#cascades:

    PIDSECRET01  cancer 1 Jun 2023, review 1 Sep 2023, support 15 Jul 2023
                 CAN004 R3 numerator (review <= CAN + 12m); CAN005 R3 numerator (<= CAN + 3m)
    PIDSECRET02  cancer 10 May 2023 only
                 CAN004 R5 exclusion DIAGCRV12M (CAN > R - 12m); CAN005 R10 denominator
    PIDSECRET03  cancer 20 Jan 2024, support 1 Feb 2024
                 CAN004 R5 exclusion DIAGCRV12M; CAN005 R3 numerator (1 Feb <= 20 Apr)

so (register, numerator, denominator, pcas, exclusions) are CAN001 (3, 3, 3, 0, 0),
CAN004 (3, 1, 1, 0, 2) and CAN005 (3, 2, 3, 0, 0). Rows that must be rejected belong to
PIDSECRET04/05 with a cancer code: accepting one would change the register.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import importlib.util
import io
import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_cli import Run, run_entry, run_process

from ccrqof.readers.extract import (
    BROKEN_ROW,
    CONFLICT,
    DEREG_BEFORE_REG,
    DUPLICATE_REGISTRATIONS,
    EMPTY_ID,
    HIDDEN_CHARACTERS,
    INVALID_CODE,
    NO_CODE,
    TWO_OPEN_REGISTRATIONS,
)
from ccrqof.readers.values import (
    IMPLAUSIBLE_DATE,
    MISSING_DATE,
    MIXED_DATE,
    NON_INTEGRAL,
    UNREADABLE_DATE,
)
from ccrqof.snomed import BAD_CHECK_DIGIT, BAD_PARTITION, EXCEL_ROUNDED

FIXTURES = Path(__file__).parent / "fixtures" / "ugly"
INDICATORS = ("CAN001", "CAN004", "CAN005")
BASE = {"CAN001": (3, 3, 3, 0, 0), "CAN004": (3, 1, 1, 0, 2), "CAN005": (3, 2, 3, 0, 0)}
CANCER, REVIEW, SUPPORT = "254837009", "720006006", "1239881000000109"

BLANK = "blank lines"
PATIENT_ONLY = "rows without a coded entry (patient only)"
DUPLICATES = "duplicate rows"
NO_CLUSTER = "entries with codes in no cluster of interest"
AFTER_R = "entries dated after the reference date"
NOT_REGISTERED = "patients with entries of interest not registered at the reference date"
MISSING_PATIENTS = "patients with entries of interest missing from the patients file"


@dataclass(frozen=True)
class Case:
    """What `ccrqof calc FILE` must do with one ugly file."""

    file: str
    why: str
    rows_read: int | None = None  # events rows read (data rows, broken ones included)
    rejects: tuple[tuple[int, str, str], ...] = ()  # (line, column, reason), by line
    ignored: dict[str, int] = field(default_factory=dict)  # every non-zero "ignored" count
    counts: dict[str, tuple] | None = field(default_factory=lambda: BASE)
    error: tuple[str, ...] | None = None  # a hard error (exit 2) whose one line holds these
    args: tuple[str, ...] = ()  # extra options; FIXTURE/ names a file of the fixture folder
    events: str | None = None  # the events file, when `file` is given through `args`
    notice: str | None = None  # a notice stderr must carry


def reject(line: int, column: str, reason: str) -> tuple[int, str, str]:
    return (line, column, reason)


CSV_CASES = [
    Case("bom_utf8.csv", "UTF-8 with a byte-order mark, as Excel writes it", rows_read=6),
    Case(
        "windows1252_descriptions.csv",
        "cp1252 bytes (café, en dash, curly quotes, £) in a description: read with a notice",
        rows_read=7,
        rejects=(reject(8, "code", INVALID_CODE),),
        notice="Windows-1252",
    ),
    Case("semicolon_delimited.csv", "';' delimiter, commas inside values", rows_read=6),
    Case("tab_delimited.tsv", "tab delimiter, commas and semicolons inside values", rows_read=6),
    Case(
        "quoted_newline_in_description.csv",
        "quoted values spanning lines: rejects carry physical lines 9 and 12, not records 6, 8",
        rows_read=8,
        rejects=(reject(9, "code", INVALID_CODE), reject(12, "date", UNREADABLE_DATE)),
    ),
    Case(
        "trailing_blank_lines.csv",
        "an empty line, a ',,,' line and another empty line at the end: ignored, counted",
        rows_read=6,
        ignored={BLANK: 3},
    ),
    Case(
        "whitespace_only_lines.csv",
        "trailing lines of spaces / a tab are blank lines too, not broken rows",
        rows_read=6,
        ignored={BLANK: 2},
    ),
    Case(
        "blank_line_in_middle.csv",
        "blank lines at lines 3 and 9 are ignored, and the bad date after them is line 10",
        rows_read=7,
        rejects=(reject(10, "date", UNREADABLE_DATE),),
        ignored={BLANK: 2},
    ),
    Case(
        "crlf_line_endings.csv",
        "Windows CRLF line endings; 30 Feb rejected at line 8; the final empty line ignored",
        rows_read=7,
        rejects=(reject(8, "date", UNREADABLE_DATE),),
        ignored={BLANK: 1},
    ),
    Case(
        "broken_row_too_many_fields.csv",
        "a row with six fields under a four-column header: rejected, the rest read",
        rows_read=7,
        rejects=(reject(8, "", BROKEN_ROW),),
    ),
    Case(
        "broken_row_too_few_fields.csv",
        "a row with three fields under a four-column header",
        rows_read=7,
        rejects=(reject(8, "", BROKEN_ROW),),
    ),
    Case(
        "unterminated_quote_last_row.csv",
        "an opening quote never closed on the last row: only that row is lost",
        rows_read=7,
        rejects=(reject(8, "", BROKEN_ROW),),
    ),
    Case(
        "uk_dates.csv",
        "DD/MM/YYYY read day first (month first would move or reject every date)",
        rows_read=6,
    ),
    Case("text_month_dates_dash.csv", "05-MAR-2024 style, mostly upper case", rows_read=6),
    Case("text_month_dates_space.csv", "05 Mar 2024 style", rows_read=6),
    Case(
        "iso_with_time.csv",
        "time parts ignored: PIDSECRET04's cancer at 23:59:59 on R is on R, not after it",
        rows_read=7,
        # PIDSECRET04 (cancer on R): CAN004 R5 exclusion; CAN005 R4 exclusion (CAN > R - 3m)
        counts={"CAN001": (4, 4, 4, 0, 0), "CAN004": (4, 1, 1, 0, 3), "CAN005": (4, 2, 3, 0, 1)},
    ),
    Case(
        "mixed_date_formats.csv",
        "an ISO column with one DD/MM/YYYY and one DD-Mon-YYYY value: those two rejected",
        rows_read=8,
        rejects=(reject(8, "date", MIXED_DATE), reject(9, "date", MIXED_DATE)),
    ),
    Case(
        "impossible_date.csv",
        "31/02/2023 is unreadable (not rolled over to 3 March); a blank date is missing",
        rows_read=8,
        rejects=(reject(8, "date", UNREADABLE_DATE), reject(9, "date", MISSING_DATE)),
    ),
    Case(
        "us_month_first_date.csv",
        "03/13/2024 in a DD/MM/YYYY column is rejected, never swapped to 13 March",
        rows_read=7,
        rejects=(reject(8, "date", UNREADABLE_DATE),),
    ),
    Case(
        "empty_patient_id.csv",
        "an empty and a spaces-only patient id",
        rows_read=8,
        rejects=(reject(8, "patient_id", EMPTY_ID), reject(9, "patient_id", EMPTY_ID)),
    ),
    Case(
        "short_snomed_code.csv",
        "a five-digit code is not a SNOMED CT id",
        rows_read=7,
        rejects=(reject(8, "code", INVALID_CODE),),
    ),
    Case(
        "letters_in_code.csv",
        "a Read code (B34..) and a letter O typed for a zero",
        rows_read=8,
        rejects=(reject(8, "code", INVALID_CODE), reject(9, "code", INVALID_CODE)),
    ),
    Case(
        "excel_scientific_notation_codes.csv",
        "a code Excel turned into 2.54837E+08 is rejected, not read as a number",
        rows_read=7,
        rejects=(reject(8, "code", INVALID_CODE),),
    ),
    Case(
        "whitespace_padded_values.csv",
        "spaces around every value are trimmed",
        rows_read=6,
    ),
    Case(
        "emis_style_columns.csv",
        "EMIS names and DD-Mon-YYYY dates; an Episodicity 'Review' cancer entry does not "
        "move CAN_DAT (else CAN005 would lose PIDSECRET03); 31-Feb rejected in 'Effective date'",
        rows_read=8,
        rejects=(reject(9, "Effective date", UNREADABLE_DATE),),
    ),
    Case(
        "systmone_style_columns.csv",
        "SystmOne names in another order, DD/MM/YYYY dates; a local code rejected in ConceptId",
        rows_read=7,
        rejects=(reject(8, "ConceptId", INVALID_CODE),),
    ),
    Case(
        "gzipped.csv.gz",
        "gzip'd CSV",
        rows_read=6,
    ),
    Case(
        "single_file_with_registration.csv",
        "registration (DD/MM/YYYY), birth date and sex on every row, no deregistration column; "
        "PIDSECRET04 registers after R; PIDSECRET05 is a patient-only row. Sex and birth date "
        "bring cervical screening: the women born in 1950 (74 at R) are outside both bands; "
        "PIDSECRET05 (53) is in CS006's denominator, unscreened",
        rows_read=8,
        ignored={NOT_REGISTERED: 1, PATIENT_ONLY: 1},
        counts={**BASE, "CS005": (None, 0, 0, 0, 4), "CS006": (None, 0, 1, 0, 3)},
    ),
    Case(
        "single_file_conflicting_registration.csv",
        "PIDSECRET04's two rows give two registration dates: both rejected, nothing guessed",
        rows_read=8,
        rejects=(
            reject(8, "registration_date", CONFLICT),
            reject(9, "registration_date", CONFLICT),
        ),
    ),
    Case(
        "duplicate_rows.csv",
        "one row repeated once and another twice: three duplicates counted, not rejected",
        rows_read=9,
        ignored={DUPLICATES: 3},
    ),
    Case(
        "events_after_reference_date.csv",
        "a review of PIDSECRET02 and a cancer of PIDSECRET04 after R: counted, not used",
        rows_read=8,
        ignored={AFTER_R: 2},
    ),
    Case(
        "codes_in_no_cluster.csv",
        "an asthma code: counted, not rejected",
        rows_read=7,
        ignored={NO_CLUSTER: 1},
    ),
    Case(
        "patients_file_missing_a_patient.csv",
        "PIDSECRET03 is not in the patients file: not counted, and reported",
        events="semicolon_delimited.csv",
        args=("--patients", "FIXTURE/patients_file_missing_a_patient.csv"),
        rows_read=6,
        ignored={MISSING_PATIENTS: 1},
        # PIDSECRET01 numerator of both; PIDSECRET02 CAN004 R5 exclusion, CAN005 R10 denominator
        counts={"CAN001": (2, 2, 2, 0, 0), "CAN004": (2, 1, 1, 0, 1), "CAN005": (2, 1, 2, 0, 0)},
    ),
    Case(
        "unrecognised_column_names.csv",
        "no column has a recognised name: which one is missing, and what was found",
        error=("'patient_id'", "Pseudonym", "Concept", "Recorded", "--column"),
    ),
    Case(
        "ambiguous_date_columns.csv",
        "'Event date' and 'Effective date' could both be the date: never guess",
        error=("'Event date'", "'Effective date'", "--column date="),
    ),
    Case(
        "missing_code_column.csv",
        "no code (or cluster) column: names it and lists the columns found",
        error=("'code'", "practice_code, patient_id, Term, date"),
    ),
    Case(
        "duplicate_column_names.csv",
        "two columns named 'date'",
        error=("'date'",),
    ),
    Case("header_only.csv", "a header and no rows", error=("no rows",)),
    Case(
        "no_header_row.csv",
        "the first row is data, not names: say what is missing without echoing that row",
        error=("'patient_id'",),
    ),
    Case("empty_file.csv", "zero bytes", error=("empty",)),
    Case("not_a_csv.xlsx", "a spreadsheet: unsupported type, says which are", error=(".csv",)),
    Case("xlsx_renamed_to_csv.csv", "zip bytes under a .csv name", error=("CSV",)),
    Case("corrupt.parquet", "random bytes under a .parquet name", error=("Parquet",)),
    Case(
        "gzip_truncated.csv.gz",
        "a download cut short: the gzip stream ends early",
        error=("cannot be read",),
    ),
    Case(
        "codelist_wrong_columns.txt",
        "a code list without Cluster_ID: names the file and the columns found",
        events="semicolon_delimited.csv",
        args=("--codelists", "FIXTURE/codelist_wrong_columns.txt"),
        error=("Cluster_ID", "Cluster_Description, SNOMED_code, SNOMED_code_description"),
    ),
]


# Values that look right and are not (issue 11: no number changes silently).
VALUE_CHECK_CASES = [
    Case(
        "snomed_check_digit_and_partition.csv",
        "254837008 fails the Verhoeff check digit; 2548370114 is a description id (partition 11)",
        rows_read=8,
        rejects=(reject(8, "code", BAD_CHECK_DIGIT), reject(9, "code", BAD_PARTITION)),
    ),
    Case(
        "excel_rounded_16_digit_code.csv",
        "1239881000000100 is the support code Excel rounded: rejected as such, so PIDSECRET02 "
        "stays in the CAN005 denominator instead of gaining a discussion",
        rows_read=7,
        rejects=(reject(8, "code", EXCEL_ROUNDED),),
    ),
    Case(
        "hidden_characters_in_ids.csv",
        "a NUL and a zero-width space in patient ids, a soft hyphen in a practice code",
        rows_read=9,
        rejects=(
            reject(8, "patient_id", HIDDEN_CHARACTERS),
            reject(9, "patient_id", HIDDEN_CHARACTERS),
            reject(10, "practice_code", HIDDEN_CHARACTERS),
        ),
    ),
    Case(
        "lowercase_practice_code.csv",
        "a81001 and A81001 are one practice, and the input report says practice codes were "
        "upper-cased",
        rows_read=6,
        notice="upper case",
    ),
    Case(
        "patients_two_open_registrations.csv",
        "PIDSECRET01 has two open registrations at one practice: both rejected, so 01 is "
        "missing from the patients file; PIDSECRET02's exact copy is one registration",
        events="semicolon_delimited.csv",
        args=("--patients", "FIXTURE/patients_two_open_registrations.csv"),
        rows_read=6,
        rejects=(
            reject(2, "deregistration_date", TWO_OPEN_REGISTRATIONS),
            reject(3, "deregistration_date", TWO_OPEN_REGISTRATIONS),
        ),
        ignored={MISSING_PATIENTS: 1, DUPLICATE_REGISTRATIONS: 1},
        # 02: CAN004 R5 exclusion, CAN005 R10 denominator; 03: CAN004 R5, CAN005 R3 numerator
        counts={"CAN001": (2, 2, 2, 0, 0), "CAN004": (2, 0, 0, 0, 2), "CAN005": (2, 1, 2, 0, 0)},
    ),
    Case(
        "patients_deregistered_before_registered.csv",
        "PIDSECRET02 leaves before joining: that registration is rejected, not reordered",
        events="semicolon_delimited.csv",
        args=("--patients", "FIXTURE/patients_deregistered_before_registered.csv"),
        rows_read=6,
        rejects=(reject(3, "deregistration_date", DEREG_BEFORE_REG),),
        ignored={MISSING_PATIENTS: 1},
        counts={"CAN001": (2, 2, 2, 0, 0), "CAN004": (2, 1, 1, 0, 1), "CAN005": (2, 2, 2, 0, 0)},
    ),
    Case(
        "codelist_header_only.txt",
        "a code list with a header and no codes: every cluster is named, never a quiet zero",
        events="semicolon_delimited.csv",
        args=("--codelists", "FIXTURE/codelist_header_only.txt"),
        error=("CAN_COD", "MDRV_COD", "CANPCSUPP_COD", "--allow-missing-clusters"),
    ),
    Case(
        "codelist_without_mdrv_cod.txt",
        "a code list missing MDRV_COD: CAN004 would have no numerator",
        events="semicolon_delimited.csv",
        args=("--codelists", "FIXTURE/codelist_without_mdrv_cod.txt"),
        error=("1 cluster(s)", "MDRV_COD", "--allow-missing-clusters"),
    ),
    Case(
        "codelist_excel_mangled_codes.txt",
        "254837009.0 and 1.23988E+15 are not concept ids: CAN_COD and CANPCSUPP_COD are empty",
        events="semicolon_delimited.csv",
        args=("--codelists", "FIXTURE/codelist_excel_mangled_codes.txt"),
        error=("CAN_COD", "CANPCSUPP_COD", "2 entries", "Excel"),
    ),
    Case(
        "codelist_no_header_row.txt",
        "a headerless code list: says so without echoing its first row",
        events="semicolon_delimited.csv",
        args=("--codelists", "FIXTURE/codelist_no_header_row.txt"),
        error=("Cluster_ID", "header row missing"),
    ),
    Case(
        "org_map_no_header_row.csv",
        "a headerless org map: says so without echoing its first row",
        events="semicolon_delimited.csv",
        args=("--org-map", "FIXTURE/org_map_no_header_row.csv"),
        error=("practice_code", "header row missing"),
    ),
]


READ_REG = "registration date: "
DEREG = "deregistration date: "


def sentinel_case(name: str, why: str) -> Case:
    """Lines 8-13: 0001-01-01, 0000-01-01, 1601-01-01, 1900-01-01, 9999-12-31, 1900-01-02."""
    return Case(
        name,
        why,
        rows_read=12,
        rejects=(
            reject(8, "date", IMPLAUSIBLE_DATE),
            reject(9, "date", UNREADABLE_DATE),
            reject(10, "date", IMPLAUSIBLE_DATE),
            reject(11, "date", IMPLAUSIBLE_DATE),
        ),
        ignored={AFTER_R: 1},
    )


READER_HARDENING_CASES = [
    Case(
        "windows1252_with_broken_row.csv",
        "cp1252 text and a row one field short at physical line 8 (after a quoted line "
        "break): read as Windows-1252 with one notice, that row rejected, the rest scored",
        rows_read=7,
        rejects=(reject(8, "", BROKEN_ROW),),
        notice="Windows-1252",
    ),
    sentinel_case(
        "sentinel_dates_iso.csv",
        "placeholder dates up to 1900-01-01 rejected as implausible, year 0000 unreadable, "
        "9999-12-31 an entry after R, 1900-01-02 read (a pre-2003 cancer: not on the register)",
    ),
    sentinel_case("sentinel_dates_uk.csv", "the same dates as DD/MM/YYYY"),
    sentinel_case("sentinel_dates_mon_dash.csv", "the same dates as DD-Mon-YYYY"),
    sentinel_case("sentinel_dates_mon_space.csv", "the same dates as DD Mon YYYY"),
    Case(
        "sentinel_registration_dates.csv",
        "registration dates 0001-01-01, 1900-01-01 (implausible) and 0000-01-01 (unreadable) and "
        "a deregistration on 1601-01-01 reject their rows; a deregistration on 9999-12-31 is "
        "still registered (PIDSECRET01 counts); a registration on 9999-12-31 is after R",
        rows_read=11,
        rejects=(
            reject(8, "registration_date", READ_REG + IMPLAUSIBLE_DATE),
            reject(9, "registration_date", READ_REG + IMPLAUSIBLE_DATE),
            reject(10, "registration_date", READ_REG + UNREADABLE_DATE),
            reject(11, "deregistration_date", DEREG + IMPLAUSIBLE_DATE),
        ),
        ignored={NOT_REGISTERED: 1},
    ),
    Case(
        "month_first_dates.csv",
        "MM/DD/YYYY: two values can only be month first, none only day first: refused whole, "
        "with the counts, never read day first",
        error=("'date'", "month first", "2 value(s)", "0 only day first", "YYYY-MM-DD"),
    ),
    Case(
        "month_first_tie.csv",
        "two values only month first, two only day first: a tie is refused too",
        error=("'date'", "month first", "2 value(s)", "2 only day first", "YYYY-MM-DD"),
    ),
    Case(
        "patients_month_first_registration.csv",
        "a patients file whose registration dates are month first: names it and the column",
        events="semicolon_delimited.csv",
        args=("--patients", "FIXTURE/patients_month_first_registration.csv"),
        error=("'registration_date'", "month first", "2 value(s)"),
    ),
]
# fixture files tested by their own tests (test_reader_hardening.py)
READER_HARDENING_ELSEWHERE = {"patients_sentinel_dates.csv"}


# --- Parquet variants, written per session (small and typed, so kept out of the folder) ------

GOOD = [
    ("PIDSECRET01", CANCER, dt.date(2023, 6, 1)),
    ("PIDSECRET01", REVIEW, dt.date(2023, 9, 1)),
    ("PIDSECRET01", SUPPORT, dt.date(2023, 7, 15)),
    ("PIDSECRET02", CANCER, dt.date(2023, 5, 10)),
    ("PIDSECRET03", CANCER, dt.date(2024, 1, 20)),
    ("PIDSECRET03", SUPPORT, dt.date(2024, 2, 1)),
]


def _parquet_variants() -> dict[str, pa.Table]:
    ids = [p for p, _, _ in GOOD]
    codes = [c for _, c, _ in GOOD]
    days = [d for _, _, d in GOOD]
    number = {"PIDSECRET01": 900001, "PIDSECRET02": 900002, "PIDSECRET03": 900003}
    zeros = {"PIDSECRET01": "00098765", "PIDSECRET02": "0098765", "PIDSECRET03": "098765"}
    return {
        "integer_code_and_id_columns.parquet": pa.table(
            {
                "patient_id": pa.array([number[p] for p in ids], pa.int32()),
                "code": pa.array([int(c) for c in codes], pa.uint64()),
                "date": pa.array(days, pa.date32()),
            }
        ),
        "int64_code_timestamp_dates.parquet": pa.table(
            {
                "patient_id": pa.array([number[p] for p in ids], pa.int64()),
                "code": pa.array([int(c) for c in codes], pa.int64()),
                "date": pa.array(
                    [dt.datetime.combine(d, dt.time(9, 30)) for d in days], pa.timestamp("ms")
                ),
            }
        ),
        "string_ids_with_leading_zeros.parquet": pa.table(
            {
                "patient_id": [zeros[p] for p in ids],  # all 98765 if the zeros were lost
                "code": codes,
                "date": [d.isoformat() for d in days],
            }
        ),
        "dictionary_encoded_strings.parquet": pa.table(
            {
                "patient_id": pa.array(ids).dictionary_encode(),
                "code": pa.array(codes).dictionary_encode(),
                "date": pa.array([d.strftime("%d/%m/%Y") for d in days]).dictionary_encode(),
            }
        ),
        "float_code_all_integral.parquet": pa.table(
            {"patient_id": ids, "code": [float(c) for c in codes], "date": days}
        ),
        "float_code_non_integral_value.parquet": pa.table(
            {
                "patient_id": [*ids, "PIDSECRET04"],
                "code": [*(float(c) for c in codes), 254837009.5],
                "date": [*days, dt.date(2023, 8, 1)],
            }
        ),
        "float_code_with_nan.parquet": pa.table(
            {
                "patient_id": [*ids, "PIDSECRET04"],
                "code": pa.array([*(float(c) for c in codes), float("nan")], pa.float64()),
                "date": [*days, dt.date(2023, 8, 1)],
            }
        ),
        "null_patient_id.parquet": pa.table(
            {
                "patient_id": pa.array([None, *ids], pa.large_string()),
                "code": [CANCER, *codes],
                "date": [dt.date(2023, 8, 1), *days],
            }
        ),
        "zero_rows.parquet": pa.table(
            {
                "patient_id": pa.array([], pa.string()),
                "code": pa.array([], pa.string()),
                "date": pa.array([], pa.date32()),
            }
        ),
    }


PARQUET_CASES = [
    Case(
        "integer_code_and_id_columns.parquet",
        "int32 ids, uint64 codes, date32 dates",
        rows_read=6,
    ),
    Case(
        "int64_code_timestamp_dates.parquet",
        "int64 ids and codes, timestamp dates",
        rows_read=6,
    ),
    Case(
        "string_ids_with_leading_zeros.parquet",
        "00098765, 0098765 and 098765 are three patients",
        rows_read=6,
    ),
    Case(
        "dictionary_encoded_strings.parquet",
        "dictionary (categorical) text columns, DD/MM/YYYY text dates",
        rows_read=6,
    ),
    Case(
        "float_code_all_integral.parquet",
        "a float64 code column whose values are all whole is accepted",
        rows_read=6,
    ),
    Case(
        "float_code_non_integral_value.parquet",
        "254837009.5 is rejected with its reason (Parquet line = row number from 1)",
        rows_read=7,
        rejects=(reject(7, "code", NON_INTEGRAL),),
    ),
    Case(
        "float_code_with_nan.parquet",
        "a NaN in a float code column (a gap, as dataframe tools write it) is a rejected row",
        rows_read=7,
        rejects=(reject(7, "code", NO_CODE),),
    ),
    Case(
        "null_patient_id.parquet",
        "a null patient id in a large_string column",
        rows_read=7,
        rejects=(reject(1, "patient_id", EMPTY_ID),),
    ),
    Case("zero_rows.parquet", "a Parquet file with columns and no rows", error=("no rows",)),
]


def _reader_hardening_parquet() -> dict[str, tuple[pa.Table, dict]]:
    """Parquet dates out of the nanosecond range, and columns of types that hold no id, code
    or date: (table, pq.write_table options) by file name."""
    ids = [p for p, _, _ in GOOD]
    codes = [c for _, c, _ in GOOD]
    days = [d for _, _, d in GOOD]
    sentinels = [dt.date(1, 1, 1), dt.date(1601, 1, 1), dt.date(1900, 1, 1), dt.date(9999, 12, 31)]
    more_ids = [*ids, "PIDSECRET04", "PIDSECRET05", "PIDSECRET06", "PIDSECRET07"]
    stamps = [dt.datetime.combine(d, dt.time(9, 30)) for d in days + sentinels]

    def typed(**column) -> pa.Table:
        return pa.table({"patient_id": ids, "code": codes, "date": days, **column})

    return {
        "sentinel_dates_date32.parquet": (
            pa.table(
                {
                    "patient_id": more_ids,
                    "code": codes + [CANCER] * 4,
                    "date": pa.array(days + sentinels, pa.date32()),
                }
            ),
            {},
        ),
        "sentinel_dates_timestamp_us.parquet": (
            pa.table(
                {
                    "patient_id": more_ids,
                    "code": codes + [CANCER] * 4,
                    "date": pa.array(stamps, pa.timestamp("us")),
                }
            ),
            {},
        ),
        # INT96 (Spark, Impala): read as nanoseconds, 0001 and 9999 would wrap to 1754 and 1816
        "int96_timestamps_out_of_ns_range.parquet": (
            pa.table(
                {
                    "patient_id": more_ids,
                    "code": codes + [CANCER] * 4,
                    "date": pa.array(stamps, pa.timestamp("ms")),
                }
            ),
            {"use_deprecated_int96_timestamps": True},
        ),
        "list_patient_id.parquet": (typed(patient_id=pa.array([[i] for i in range(6)])), {}),
        "struct_code.parquet": (typed(code=pa.array([{"id": int(c)} for c in codes])), {}),
        "map_date.parquet": (
            typed(date=pa.array([[("on", 1)]] * 6, pa.map_(pa.string(), pa.int64()))),
            {},
        ),
        "binary_patient_id_not_utf8.parquet": (
            typed(patient_id=pa.array([p.encode() + b"\xff" for p in ids], pa.binary())),
            {},
        ),
        "binary_patient_id_utf8.parquet": (
            typed(patient_id=pa.array([p.encode() for p in ids], pa.binary())),
            {},
        ),
    }


def parquet_sentinel_case(name: str, why: str) -> Case:
    """Rows 7-10: 0001-01-01, 1601-01-01, 1900-01-01 (implausible), 9999-12-31 (after R)."""
    return Case(
        name,
        why,
        rows_read=10,
        rejects=tuple(reject(line, "date", IMPLAUSIBLE_DATE) for line in (7, 8, 9)),
        ignored={AFTER_R: 1},
    )


READER_HARDENING_PARQUET_CASES = [
    parquet_sentinel_case("sentinel_dates_date32.parquet", "sentinel dates as Parquet DATE"),
    parquet_sentinel_case(
        "sentinel_dates_timestamp_us.parquet",
        "sentinel dates as microsecond timestamps, 0001 and 9999 outside pandas' ns range",
    ),
    parquet_sentinel_case(
        "int96_timestamps_out_of_ns_range.parquet",
        "INT96 timestamps are read as they are, not wrapped around the nanosecond range",
    ),
    Case(
        "list_patient_id.parquet",
        "a list column as patient_id: names the file, the column and its type",
        error=("'patient_id'", "list"),
    ),
    Case("struct_code.parquet", "a struct column as code", error=("'code'", "struct")),
    Case("map_date.parquet", "a map column as date", error=("'date'", "map")),
    Case(
        "binary_patient_id_not_utf8.parquet",
        "a binary patient_id whose bytes are not UTF-8 text",
        error=("'patient_id'", "UTF-8"),
    ),
    Case(
        "binary_patient_id_utf8.parquet",
        "a binary patient_id holding UTF-8 text (as older writers store strings) is read",
        rows_read=6,
    ),
]


ALL_CASES = (
    CSV_CASES
    + VALUE_CHECK_CASES
    + PARQUET_CASES
    + READER_HARDENING_CASES
    + READER_HARDENING_PARQUET_CASES
)


@pytest.fixture(scope="session")
def parquet_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ugly_parquet")
    for name, table in _parquet_variants().items():
        pq.write_table(table, folder / name)
    for name, (table, options) in _reader_hardening_parquet().items():
        pq.write_table(table, folder / name, **options)
    return folder


# --- running and checking --------------------------------------------------------------------


def _fingerprint(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def _text_of(path: Path) -> str | None:
    """The file's text as a person would see it (None for files that are not text)."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(raw)  # truncated streams too
    if raw.startswith(codecs.BOM_UTF16_LE):
        return raw.decode("utf-16")
    if raw.startswith(b"PK") or path.suffix in (".parquet", ".xlsx"):
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def row_values(path: Path) -> set[str]:
    """The values of the file's data rows to look for in messages: ids, codes, dates and free
    text (cells with a digit, a space or a non-ASCII letter; lone words such as 'extra' or
    'First' are left out, as they occur in ordinary sentences)."""
    if path.suffix == ".parquet":
        try:
            table = pq.read_table(path)
        except pa.ArrowInvalid:
            return set()
        values = [v for col in table.columns for v in col.to_pylist() if v is not None]
        cells = {str(v) for v in values} | {v.isoformat() for v in values if hasattr(v, "day")}
        return {c for c in cells if _telling(c)}
    text = _text_of(path)
    if text is None:
        return set()
    header, _, body = text.partition("\n")
    delimiter = max((",", "\t", ";"), key=header.count)
    cells = {c.strip() for row in csv.reader(io.StringIO(body), delimiter=delimiter) for c in row}
    cells |= set(re.findall(r"PIDSECRET\w*|\d{6,}|\d{1,4}[-/ ][\w]{1,3}[-/ ]\d{2,4}", body))
    return {c for c in cells if _telling(c)}


def _telling(cell: str) -> bool:
    return len(cell) >= 4 and (
        any(ch.isdigit() for ch in cell) or " " in cell or not cell.isascii()
    )


def resolve(name: str, parquet_dir: Path) -> Path:
    return FIXTURES / name if (FIXTURES / name).exists() else parquet_dir / name


def calc(case: Case, parquet_dir: Path, out: Path, *extra: str) -> tuple[Run, list[Path]]:
    """Run `ccrqof calc` on the case; check the privacy and read-only promises of every run."""
    main_file = resolve(case.events or case.file, parquet_dir)
    args = [a.replace("FIXTURE/", f"{FIXTURES}/") for a in case.args]
    inputs = [main_file] + [Path(a) for a in args if a.startswith(str(FIXTURES))]
    before = {p: _fingerprint(p) for p in inputs}
    run = run_entry(
        main_file,
        *args,
        "--year",
        "2023-24",
        "--format",
        "json",
        "--rejects",
        out / "rejects.csv",
        *extra,
    )
    assert "Traceback" not in run.stderr
    for value in sorted(set().union(*(row_values(p) for p in inputs))):
        assert value not in run.stderr, f"a row value reached stderr: {value!r}"
    assert {p: _fingerprint(p) for p in inputs} == before, "an input file was modified"
    return run, inputs


def rejects_rows(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def indicator_counts(document: dict) -> dict[str, tuple]:
    assert len({r["practice_code"] for r in document["results"]}) == 1  # one practice
    return {
        r["indicator"]: tuple(
            r[k] for k in ("register", "numerator", "denominator", "pcas", "exclusions")
        )
        for r in document["results"]
    }


def check_hard_error(case: Case, run: Run, out: Path) -> None:
    assert run.exit_code == 2, run.stderr
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr  # one plain sentence
    assert lines[0].startswith("Error: ")
    named = Path(case.args[-1]).name if case.args else case.file
    assert named in lines[0]
    for part in case.error:
        assert part in lines[0], (part, lines[0])
    assert list(out.iterdir()) == [], "a hard error must write nothing"


def reading_notes(stderr: str) -> list[str]:
    """The notes about reading: not the one line saying that cervical screening was not
    computed for want of sex and date of birth, which every cancer-only extract gets, nor the
    line per file saying which columns were used, which every file gets."""
    notes = [line for line in stderr.splitlines() if line.startswith("Note:")]
    return [
        line
        for line in notes
        if "CS005, CS006 not computed" not in line and not re.match(r"Note: .+?: used ", line)
    ]


def check_readable(case: Case, run: Run, out: Path, main_file: Path) -> None:
    assert run.exit_code == 0, run.stderr
    document = json.loads(run.stdout)
    counts = document["input"]
    reasons: dict[str, int] = {}
    for _, _, reason in case.rejects:
        reasons[reason] = reasons.get(reason, 0) + 1
    assert counts["rejected"] == reasons
    assert {k: v for k, v in counts["ignored"].items() if v} == case.ignored
    assert counts["rows_read"]["events"] == case.rows_read
    assert indicator_counts(document) == case.counts
    table = rejects_rows(out / "rejects.csv")
    assert list(table.columns[:4]) == ["file", "line", "column", "reason"]
    inputs = {str(main_file), *(a.replace("FIXTURE/", f"{FIXTURES}/") for a in case.args)}
    assert set(table["file"]) <= inputs
    found = [(int(r.line), r.column, r.reason) for r in table.itertuples()]
    assert found == list(case.rejects)
    if case.notice:
        assert case.notice in run.warnings and main_file.name in run.warnings
    else:
        assert not reading_notes(run.stderr)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.file) for c in ALL_CASES])
def test_ugly_file(case: Case, parquet_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    main_file = resolve(case.events or case.file, parquet_dir)
    run, _ = calc(case, parquet_dir, out)
    if case.error is not None:
        check_hard_error(case, run, out)
    else:
        check_readable(case, run, out, main_file)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.file) for c in ALL_CASES])
def test_ugly_file_strict(case: Case, parquet_dir: Path, tmp_path: Path) -> None:
    """--strict: exit 1 after writing the rejects file when anything was rejected; a file with
    only ignored rows still passes; hard errors stay 2."""
    out = tmp_path / "out"
    out.mkdir()
    run, _ = calc(case, parquet_dir, out, "--strict")
    if case.error is not None:
        check_hard_error(case, run, out)
    elif case.rejects:
        assert run.exit_code == 1, run.stderr
        assert run.stdout == ""
        assert "--strict" in run.warnings and str(out / "rejects.csv") in run.warnings
        found = [
            (int(r.line), r.column, r.reason)
            for r in rejects_rows(out / "rejects.csv").itertuples()
        ]
        assert found == list(case.rejects)
    else:
        assert run.exit_code == 0, run.stderr
        assert indicator_counts(json.loads(run.stdout)) == case.counts


EITHER_WAY = {"utf16_excel_unicode_text.txt", "cp1252_undefined_byte.csv"}  # tests below


def test_every_fixture_file_has_a_case() -> None:
    text_cases = CSV_CASES + VALUE_CHECK_CASES + READER_HARDENING_CASES
    named = {c.file for c in text_cases} | {c.events for c in text_cases if c.events}
    named |= EITHER_WAY | READER_HARDENING_ELSEWHERE
    on_disk = {p.name for p in FIXTURES.iterdir() if p.suffix != ".py" and p.is_file()}
    assert on_disk - named == set()
    assert named - on_disk == set()
    assert {c.file for c in PARQUET_CASES} == set(_parquet_variants())
    assert {c.file for c in READER_HARDENING_PARQUET_CASES} == set(_reader_hardening_parquet())


def test_fixture_files_are_what_the_recipe_makes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for path in module.write(tmp_path):
        assert path.read_bytes() == (FIXTURES / path.name).read_bytes(), path.name


# --- files whose right outcome is one of two, never a traceback or a silent wrong answer ------


def test_utf16_excel_unicode_text_is_read_or_refused_never_garbled(tmp_path: Path) -> None:
    """Excel's "Unicode Text" export is UTF-16 with a BOM. Reading it as UTF-8 turns every
    value into letters separated by NULs; ccrqof must read it or refuse it, not report an
    empty register with every row rejected."""
    out = tmp_path / "out"
    out.mkdir()
    case = Case("utf16_excel_unicode_text.txt", "UTF-16 LE with BOM, tab-separated")
    run, _ = calc(case, tmp_path, out)
    if run.exit_code == 2:
        assert case.file in run.stderr and "--encoding" in run.stderr
        assert list(out.iterdir()) == []
    else:
        assert run.exit_code == 0, run.stderr
        document = json.loads(run.stdout)
        assert document["input"]["rejected"] == {}
        assert indicator_counts(document) == BASE


def test_utf16_with_encoding_option(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    case = Case("utf16_excel_unicode_text.txt", "", args=("--encoding", "utf-16"))
    run, _ = calc(case, tmp_path, out)
    assert run.exit_code == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["input"]["rejected"] == {}
    assert indicator_counts(document) == BASE


def test_bytes_neither_utf8_nor_cp1252_are_read_or_refused_without_traceback(
    tmp_path: Path,
) -> None:
    """Byte 0x81 is undefined in Windows-1252: the fallback cannot decode it strictly. Either
    a plain error naming the file and --encoding, or a read with a notice; never a crash."""
    out = tmp_path / "out"
    out.mkdir()
    case = Case("cp1252_undefined_byte.csv", "")
    run, _ = calc(case, tmp_path, out)
    if run.exit_code == 2:
        line = run.stderr.strip()
        assert case.file in line and "--encoding" in line and "\n" not in line
        assert list(out.iterdir()) == []
    else:
        assert run.exit_code == 0, run.stderr
        assert case.file in run.warnings
        document = json.loads(run.stdout)
        assert indicator_counts(document) == BASE
        # PIDSECRET04's five-digit code is the only bad value
        assert document["input"]["rejected"] == {INVALID_CODE: 1}


# --- options ---------------------------------------------------------------------------------


def _run(tmp_path: Path, *args) -> Run:
    run = run_entry(*args, "--year", "2023-24", "--format", "json")
    assert list(tmp_path.iterdir()) == []  # nothing asked for, nothing written
    return run


UNRECOGNISED = FIXTURES / "unrecognised_column_names.csv"


def test_column_option_maps_every_column(tmp_path: Path) -> None:
    run = _run(
        tmp_path,
        UNRECOGNISED,
        "--column",
        "patient_id=Pseudonym",
        "--column",
        "code=Concept",
        "--column",
        "date=Recorded",
        "--column",
        "practice_code=Surgery",
    )
    assert run.exit_code == 0, run.stderr
    document = json.loads(run.stdout)
    assert indicator_counts(document) == BASE
    assert {r["practice_code"] for r in document["results"]} == {"A81001"}


def test_column_option_resolves_an_ambiguity(tmp_path: Path) -> None:
    path = FIXTURES / "ambiguous_date_columns.csv"
    for choice in ("Event date", "Effective date"):  # both hold the same dates
        run = _run(tmp_path, path, "--column", f"date={choice}")
        assert run.exit_code == 0, run.stderr
        assert indicator_counts(json.loads(run.stdout)) == BASE


def test_column_option_unknown_name_lists_the_valid_names(tmp_path: Path) -> None:
    run = _run(tmp_path, UNRECOGNISED, "--column", "snomed=Concept")
    assert run.exit_code == 2
    assert run.stdout == ""
    line = run.warnings
    assert "'snomed'" in line
    for name in ("patient_id", "code", "date", "practice_code", "registration_date", "sex"):
        assert name in line


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(FIXTURES / "semicolon_delimited.csv", id="file-otherwise-complete"),
        pytest.param(UNRECOGNISED, id="file-missing-that-column"),
    ],
)
def test_column_option_source_not_in_the_file_lists_the_columns_found(
    tmp_path: Path, path: Path
) -> None:
    """docs/reference-bad-input.md#options: a missing SOURCE is a usage error naming it and
    listing the columns found, whether or not the file happens to have another column of that
    name."""
    mapping = ("--column", "code=Concept", "--column", "date=Recorded") * (path == UNRECOGNISED)
    run = _run(tmp_path, path, "--column", "patient_id=NoSuchColumn", *mapping)
    assert run.exit_code == 2
    assert run.stdout == ""
    assert "NoSuchColumn" in run.warnings
    header = _text_of(path).splitlines()[0]
    for column in re.split("[,;]", header):
        assert column in run.warnings


def test_column_option_without_equals_is_a_usage_error(tmp_path: Path) -> None:
    run = _run(tmp_path, UNRECOGNISED, "--column", "patient_id")
    assert run.exit_code == 2
    assert "NAME=SOURCE" in run.warnings


def test_encoding_option_reads_cp1252_without_a_notice(tmp_path: Path) -> None:
    path = FIXTURES / "windows1252_descriptions.csv"
    run = _run(tmp_path, path, "--encoding", "cp1252")
    assert run.exit_code == 0, run.stderr
    assert not reading_notes(run.stderr)  # the user chose; nothing to announce
    document = json.loads(run.stdout)
    assert indicator_counts(document) == BASE
    assert document["input"]["rejected"] == {INVALID_CODE: 1}


@pytest.mark.parametrize("encoding", ["ascii", "utf-8"])
def test_encoding_option_that_does_not_fit_the_file_is_a_plain_error(
    tmp_path: Path, encoding: str
) -> None:
    path = FIXTURES / "windows1252_descriptions.csv"
    run = _run(tmp_path, path, "--encoding", encoding)
    assert run.exit_code == 2
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert path.name in lines[0]
    for value in row_values(path):
        assert value not in run.stderr


def test_unknown_encoding_is_a_usage_error(tmp_path: Path) -> None:
    run = _run(tmp_path, FIXTURES / "uk_dates.csv", "--encoding", "klingon")
    assert run.exit_code == 2
    assert "klingon" in run.warnings


def test_strict_without_rejects_file(tmp_path: Path) -> None:
    before = sorted(tmp_path.iterdir())
    run = run_entry(FIXTURES / "short_snomed_code.csv", "--year", "2023-24", "--strict")
    assert run.exit_code == 1
    assert run.stdout == ""
    assert "1 row" in run.warnings and "--rejects" in run.warnings
    assert sorted(tmp_path.iterdir()) == before


def test_rejected_rows_counted_by_reason_in_the_terminal_summary() -> None:
    run = run_entry(FIXTURES / "quoted_newline_in_description.csv", "--year", "2023-24")
    assert run.exit_code == 0, run.stderr
    text = " ".join(run.stdout.split())
    assert INVALID_CODE in text and UNREADABLE_DATE in text


# --- outputs: atomic, never half-written, never over an input ---------------------------------


def test_output_folder_missing_writes_nothing(tmp_path: Path) -> None:
    run = run_entry(
        FIXTURES / "short_snomed_code.csv",
        "--year",
        "2023-24",
        "--format",
        "json",
        "--rejects",
        tmp_path / "rejects.csv",
        "--output",
        tmp_path / "no_such_folder" / "summary.json",
    )
    assert run.exit_code == 2
    assert run.stdout == ""
    assert "no_such_folder" in run.warnings
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option", ["--rejects", "--patients-out"])
def test_other_outputs_in_a_missing_folder_write_nothing(tmp_path: Path, option: str) -> None:
    run = run_entry(
        FIXTURES / "short_snomed_code.csv",
        "--year",
        "2023-24",
        "--format",
        "json",
        "--output",
        tmp_path / "summary.json",
        option,
        tmp_path / "missing" / "file.csv",
    )
    assert run.exit_code == 2
    assert list(tmp_path.iterdir()) == []


OLD = "previous summary, must survive a failed run\n"


@pytest.fixture
def old_output(tmp_path: Path) -> Path:
    folder = tmp_path / "results"
    folder.mkdir()
    path = folder / "summary.json"
    path.write_text(OLD)
    return path


def test_failed_strict_run_leaves_the_old_output(old_output: Path) -> None:
    run = run_entry(
        FIXTURES / "short_snomed_code.csv",
        "--year",
        "2023-24",
        "--format",
        "json",
        "--strict",
        "--output",
        old_output,
    )
    assert run.exit_code == 1
    assert old_output.read_text() == OLD
    assert [p.name for p in old_output.parent.iterdir()] == ["summary.json"]


def test_hard_error_after_start_leaves_old_outputs(old_output: Path) -> None:
    """The code list is read after the extract: its error must still leave every output as it
    was (the old summary, the old rejects file) and create none."""
    old_rejects = old_output.parent / "rejects.csv"
    old_rejects.write_text("old rejects\n")
    run = run_entry(
        FIXTURES / "short_snomed_code.csv",
        "--year",
        "2023-24",
        "--format",
        "json",
        "--codelists",
        FIXTURES / "codelist_wrong_columns.txt",
        "--rejects",
        old_rejects,
        "--patients-out",
        old_output.parent / "patients.csv",
        "--output",
        old_output,
    )
    assert run.exit_code == 2
    assert old_output.read_text() == OLD
    assert old_rejects.read_text() == "old rejects\n"
    assert sorted(p.name for p in old_output.parent.iterdir()) == ["rejects.csv", "summary.json"]


def test_crash_while_writing_leaves_the_old_output(old_output: Path, monkeypatch) -> None:
    """A write that dies half way (disk full) leaves the previous file whole and no temporary
    file behind."""
    import ccrqof.output

    def half_then_fail(path, text):
        def write(tmp: Path) -> None:
            tmp.write_text(text[: len(text) // 2])
            raise OSError(28, "No space left on device")

        ccrqof.output.write_atomically(path, write)

    monkeypatch.setattr("ccrqof.reporters.console.write_text", half_then_fail)
    run = run_entry(
        FIXTURES / "uk_dates.csv",
        "--year",
        "2023-24",
        "--format",
        "json",
        "--output",
        old_output,
    )
    assert run.exit_code == 2
    assert f"Error: cannot write {old_output}: No space left on device" in run.warnings
    assert old_output.read_text() == OLD
    assert [p.name for p in old_output.parent.iterdir()] == ["summary.json"]


def test_successful_run_replaces_the_old_output_whole(old_output: Path) -> None:
    run = run_entry(
        FIXTURES / "uk_dates.csv", "--year", "2023-24", "--format", "json", "--output", old_output
    )
    assert run.exit_code == 0, run.stderr
    assert run.stdout == ""
    assert indicator_counts(json.loads(old_output.read_text())) == BASE
    assert [p.name for p in old_output.parent.iterdir()] == ["summary.json"]


@pytest.mark.parametrize("option", ["--output", "--rejects", "--patients-out"])
def test_an_output_naming_the_input_is_refused(tmp_path: Path, option: str) -> None:
    """docs/reference-data.md#bad-input: inputs are never modified, also when an output option
    names the input file (a slip of the shell history)."""
    events = tmp_path / "events.csv"
    events.write_bytes((FIXTURES / "short_snomed_code.csv").read_bytes())
    before = _fingerprint(events)
    run = run_entry(events, "--year", "2023-24", "--format", "csv", option, events)
    assert run.exit_code == 2
    assert _fingerprint(events) == before
    assert events.name in run.warnings


# --- the installed command in its own process ------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("quoted_newline_in_description.csv", 0),
        ("ambiguous_date_columns.csv", 2),
        ("windows1252_descriptions.csv", 0),
    ],
)
def test_process_exit_status_and_streams(tmp_path: Path, name: str, code: int) -> None:
    path = FIXTURES / name
    run = run_process(
        path, "--year", "2023-24", "--format", "json", "--rejects", "rejects.csv", cwd=tmp_path
    )
    assert run.exit_code == code, run.stderr
    for value in row_values(path):
        assert value not in run.stderr
    if code:
        assert run.stdout == "" and list(tmp_path.iterdir()) == []
    else:
        assert indicator_counts(json.loads(run.stdout)) == BASE
        assert (tmp_path / "rejects.csv").exists()
    strict = run_process(
        path, "--year", "2023-24", "--strict", "--rejects", "strict.csv", cwd=tmp_path
    )
    assert strict.exit_code == (2 if code else 1)
