"""Date of birth and sex kept through reading (issue 12 item 2):
docs/reference-data.md#patients-file.

No cancer rule reads either, so neither may change a cancer result: a date of birth that
cannot be used is counted in a warning and left out (null), and its registration is kept.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from entry import run_main

from ccrqof.readers import InputReport, read_extract, read_patients
from ccrqof.readers.values import IMPLAUSIBLE_DATE, MIXED_DATE, UNREADABLE_DATE

ROOT = Path(__file__).resolve().parents[1]
EVENTS = """practice_code,patient_id,code,date
A81001,P01,254837009,2023-06-01
A81001,P02,254837009,2023-06-01
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


def by_id(patients: pd.DataFrame) -> pd.DataFrame:
    return patients.sort_values("patient_id", ignore_index=True)


def days(column: pd.Series) -> list[dt.date | None]:
    return [None if pd.isna(d) else d.date() for d in column]


def texts(column: pd.Series) -> list[str | None]:
    return [None if pd.isna(v) else v for v in column]


def assert_typed(patients: pd.DataFrame) -> None:
    assert patients["date_of_birth"].dtype == "datetime64[s]"
    assert patients["sex"].dtype == pd.StringDtype("pyarrow", na_value=np.nan)


# --- kept, from CSV and Parquet ---------------------------------------------------------------


def test_csv_patients_file_keeps_date_of_birth_and_sex(tmp_path):
    path = write(
        tmp_path / "patients.csv",
        """
practice_code,patient_id,registration_date,date_of_birth,sex
A81001,P01,2010-01-01,18/10/1926, F
A81001,P02,2010-01-01,01/02/1990,male
A81001,P03,2010-01-01,,
""",
    )
    patients = by_id(read_patients(path))
    assert_typed(patients)
    assert days(patients["date_of_birth"]) == [dt.date(1926, 10, 18), dt.date(1990, 2, 1), None]
    assert texts(patients["sex"]) == ["F", "male", None]  # trimmed, as written; blank is null


def test_parquet_patients_file_keeps_date_of_birth_and_sex(tmp_path):
    path = tmp_path / "patients.parquet"
    table = pa.table(
        {
            "patient_id": ["P01", "P02", "P03"],
            "registration_date": pa.array([dt.date(2010, 1, 1)] * 3),
            "date_of_birth": pa.array([dt.date(1980, 5, 17), None, dt.date(2001, 2, 28)]),
            "sex": ["2", None, "M"],
        }
    )
    pq.write_table(table, path)
    patients = by_id(read_patients(path))
    assert_typed(patients)
    assert days(patients["date_of_birth"]) == [dt.date(1980, 5, 17), None, dt.date(2001, 2, 28)]
    assert texts(patients["sex"]) == ["2", None, "M"]


def test_parquet_timestamps_and_integer_codes(tmp_path):
    path = tmp_path / "patients.parquet"
    birth = pa.array([dt.datetime(1980, 5, 17, 13, 30)], pa.timestamp("ms"))
    table = pa.table(
        {
            "patient_id": ["P01"],
            "registration_date": pa.array([dt.date(2010, 1, 1)]),
            "date_of_birth": birth,
            "sex": pa.array([2], pa.int64()),  # the NHS Data Dictionary code, as a number
        }
    )
    pq.write_table(table, path)
    patients = read_patients(path)
    assert days(patients["date_of_birth"]) == [dt.date(1980, 5, 17)]
    assert texts(patients["sex"]) == ["2"]


def test_read_extract_keeps_them_with_a_patients_file(tmp_path):
    events = write(tmp_path / "events.csv", EVENTS)
    patients = write(
        tmp_path / "patients.csv",
        """
practice_code,patient_id,registration_date,date_of_birth,sex
A81001,P01,2010-01-01,1950-03-04,F
A81001,P02,2010-01-01,1960-07-08,M
""",
    )
    extract = read_extract(events, patients)
    got = by_id(extract.patients)
    assert days(got["date_of_birth"]) == [dt.date(1950, 3, 4), dt.date(1960, 7, 8)]
    assert texts(got["sex"]) == ["F", "M"]
    assert not extract.report.warnings and not extract.report.rejected


# --- mapped ------------------------------------------------------------------------------------


def test_recognised_spellings_dob_and_gender(tmp_path):
    path = write(
        tmp_path / "patients.csv",
        """
Patient ID,Registration date,DOB,Gender
P01,2010-01-01,05-Mar-1971,Female
""",
    )
    patients = read_patients(path)
    assert days(patients["date_of_birth"]) == [dt.date(1971, 3, 5)]
    assert texts(patients["sex"]) == ["Female"]


def test_column_option_maps_them(tmp_path):
    events = write(tmp_path / "events.csv", EVENTS)
    patients = write(
        tmp_path / "patients.csv",
        """
practice_code,patient_id,registration_date,Born on,Stated gender
A81001,P01,2010-01-01,1950-03-04,F
A81001,P02,2010-01-01,1960-07-08,M
""",
    )
    columns = {"date_of_birth": "Born on", "sex": "Stated gender"}
    got = by_id(read_extract(events, patients, columns=columns).patients)
    assert days(got["date_of_birth"]) == [dt.date(1950, 3, 4), dt.date(1960, 7, 8)]
    assert texts(got["sex"]) == ["F", "M"]


def test_column_option_on_the_command_line(tmp_path):
    events = write(tmp_path / "events.csv", EVENTS)
    patients = write(
        tmp_path / "patients.csv",
        """
practice_code,patient_id,registration_date,Born on
A81001,P01,2010-01-01,someday
A81001,P02,2010-01-01,1960-07-08
""",
    )
    code, _, stderr = run_main(
        "calc", events, "--patients", patients, "--column", "date_of_birth=Born on", "--strict"
    )
    assert code == 0, stderr  # not a rejected row: --strict passes
    assert "1 row(s) have a date of birth (column 'Born on')" in stderr
    assert "someday" not in stderr


# --- a date of birth that cannot be used: counted, the registration kept -----------------------


BAD_BIRTH_DATES = """
practice_code,patient_id,registration_date,date_of_birth,sex
A81001,P01,2010-01-01,1950-03-04,F
A81001,P02,2010-01-01,someday,F
A81001,P03,2010-01-01,1900-01-01,M
A81001,P04,2010-01-01,04/03/1950,F
A81001,P05,2010-01-01,1950-02-30,
A81001,P06,2010-01-01,,F
"""


def test_a_bad_date_of_birth_is_counted_not_rejected(tmp_path):
    path = write(tmp_path / "patients.csv", BAD_BIRTH_DATES)
    extract = read_extract(write(tmp_path / "events.csv", EVENTS), path)
    patients = by_id(extract.patients)
    assert patients["patient_id"].tolist() == ["P01", "P02", "P03", "P04", "P05", "P06"]
    assert days(patients["date_of_birth"]) == [dt.date(1950, 3, 4), *[None] * 5]
    assert texts(patients["sex"]) == ["F", "F", "M", "F", None, "F"]
    assert not extract.report.rejected  # no registration is rejected for it
    assert not extract.report.ignored.get("duplicate registration rows")
    (warning,) = extract.report.warnings
    assert warning.startswith("patients.csv: 4 row(s) have a date of birth (column ")
    for reason, count in ((UNREADABLE_DATE, 2), (IMPLAUSIBLE_DATE, 1), (MIXED_DATE, 1)):
        assert f"{reason}: {count}" in warning
    for value in ("someday", "1900-01-01", "04/03/1950", "1950-02-30", "P02"):
        assert value not in warning  # counts and the column, never a value


def test_a_bad_date_of_birth_changes_no_cancer_result(tmp_path):
    """The bundled sample with every fifth date of birth spoilt scores exactly as before."""
    patients = pd.read_csv(ROOT / "sample_data/patients.csv", dtype=str, keep_default_na=False)
    spoilt = patients.copy()
    spoilt.loc[::5, "date_of_birth"] = "not a date"
    spoilt.loc[1::5, "date_of_birth"] = "1800-01-01"
    spoilt.to_csv(tmp_path / "patients.csv", index=False)

    def scores(path: Path) -> tuple[dict, str]:
        code, stdout, stderr = run_main(
            "calc",
            ROOT / "sample_data/events.csv",
            "--patients",
            path,
            "--year",
            "2023-24",
            "--format",
            "json",
        )
        assert code == 0, stderr
        return json.loads(stdout), stderr

    def cancer(document: dict) -> list[dict]:
        return [r for r in document["results"] if r["indicator"].startswith("CAN")]

    before, _ = scores(ROOT / "sample_data/patients.csv")
    after, stderr = scores(tmp_path / "patients.csv")
    assert cancer(after) == cancer(before)
    # cervical screening reads the date of birth: the spoilt ones leave the population
    screening = {r["indicator"]: r for r in after["results"] if r["indicator"] == "CS005"}
    assert screening["CS005"]["denominator"] < next(
        r["denominator"] for r in before["results"] if r["indicator"] == "CS005"
    )
    spoilt_rows = len(patients.loc[::5]) + len(patients.loc[1::5])
    assert f"{spoilt_rows:,} row(s) have a date of birth" in stderr


def test_a_date_of_birth_column_that_cannot_be_used_is_read_as_empty(tmp_path):
    # month first throughout: every other date column stops the read; this one is not needed
    # by the cancer rules, so it is said once and left out
    path = write(
        tmp_path / "patients.csv",
        """
patient_id,registration_date,date_of_birth,sex
P01,2010-01-01,03/13/1950,F
P02,2010-01-01,12/31/1960,M
""",
    )
    extract = read_extract(write(tmp_path / "e.csv", EVENTS), path)
    patients = by_id(extract.patients)
    assert patients["patient_id"].tolist() == ["P01", "P02"]
    assert patients["date_of_birth"].isna().all()
    assert texts(patients["sex"]) == ["F", "M"]
    (warning,) = extract.report.warnings
    assert "column 'date_of_birth'" in warning and "month first" in warning
    assert "read as empty (no date of birth)" in warning and "03/13" not in warning


def test_a_sex_column_of_an_unusable_type_is_read_as_empty(tmp_path):
    path = tmp_path / "patients.parquet"
    table = pa.table(
        {
            "patient_id": ["P01"],
            "registration_date": pa.array([dt.date(2010, 1, 1)]),
            "sex": pa.array([True]),
        }
    )
    pq.write_table(table, path)
    report = InputReport()
    patients = read_patients(path, report)
    assert patients["patient_id"].tolist() == ["P01"]
    assert patients["sex"].isna().all()
    (warning,) = report.warnings
    assert "column 'sex'" in warning and "read as empty" in warning


def test_copies_of_a_registration_that_disagree_record_neither(tmp_path):
    path = write(
        tmp_path / "patients.csv",
        """
patient_id,registration_date,date_of_birth,sex
P01,2010-01-01,1950-03-04,F
P01,2010-01-01,1950-03-04,F
P02,2010-01-01,1960-07-08,M
P02,2010-01-01,1961-07-08,M
""",
    )
    report = InputReport()
    patients = by_id(read_patients(path, report))
    # each is one registration, as before; P02's copies disagree, so no date of birth is chosen
    assert patients["patient_id"].tolist() == ["P01", "P02"]
    assert report.ignored["duplicate registration rows"] == 2
    assert days(patients["date_of_birth"]) == [dt.date(1950, 3, 4), None]
    assert texts(patients["sex"]) == ["F", None]
    (warning,) = report.warnings
    assert "1 registration(s) are repeated with different dates of birth or sex" in warning


# --- absent columns ----------------------------------------------------------------------------


def test_absent_columns_are_typed_null_columns(tmp_path):
    path = write(
        tmp_path / "patients.csv",
        """
patient_id,registration_date
P01,2010-01-01
""",
    )
    patients = read_patients(path)
    assert_typed(patients)
    assert patients["date_of_birth"].isna().all() and patients["sex"].isna().all()
    assert list(patients.columns) == [
        "patient_id",
        "practice_code",
        "registration_date",
        "deregistration_date",
        "date_of_birth",
        "sex",
    ]


# --- single-file extracts ----------------------------------------------------------------------


def test_single_file_extract_carries_them_into_the_patients_table(tmp_path):
    path = write(
        tmp_path / "events.csv",
        """
practice_code,patient_id,code,date,registration_date,date_of_birth,sex
A81001,P01,254837009,2023-06-01,2010-01-01,04/03/1950,F
A81001,P01,720006006,2023-07-01,2010-01-01,04/03/1950,F
A81001,P02,,,2015-05-05,31/02/1960,M
A81001,P03,254837009,2023-06-01,2012-01-01,, f
""",
    )
    extract = read_extract(path)
    patients = by_id(extract.patients)
    assert_typed(patients)
    assert patients["patient_id"].tolist() == ["P01", "P02", "P03"]
    assert days(patients["date_of_birth"]) == [dt.date(1950, 3, 4), None, None]
    assert texts(patients["sex"]) == ["F", "M", "f"]
    assert not extract.report.rejected  # P02's impossible date of birth is counted, not rejected
    (warning,) = extract.report.warnings
    assert "1 row(s) have a date of birth" in warning


def test_single_file_rows_that_disagree_on_date_of_birth_are_still_a_conflict(tmp_path):
    path = write(
        tmp_path / "events.csv",
        """
patient_id,code,date,registration_date,date_of_birth
P01,254837009,2023-06-01,2010-01-01,1950-03-04
P01,720006006,2023-07-01,2010-01-01,1950-03-05
P02,254837009,2023-06-01,2010-01-01,1950-03-04
""",
    )
    extract = read_extract(path)
    assert extract.patients["patient_id"].tolist() == ["P02"]
    assert sum(extract.report.rejected.values()) == 2


@pytest.mark.parametrize("name", ["events.csv", "events.parquet"])
def test_single_file_extract_without_them_has_typed_null_columns(tmp_path, name):
    frame = pd.DataFrame(
        {
            "patient_id": ["P01"],
            "code": ["254837009"],
            "date": ["2023-06-01"],
            "registration_date": ["2010-01-01"],
        }
    )
    path = tmp_path / name
    frame.to_csv(path, index=False) if name.endswith(".csv") else frame.to_parquet(path)
    patients = read_extract(path).patients
    assert_typed(patients)
    assert patients["date_of_birth"].isna().all() and patients["sex"].isna().all()
