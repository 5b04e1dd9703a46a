"""Reading events extracts (docs/reference-data.md#events-extract, #dates and #bad-input)."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ccrqof.errors import InputError
from ccrqof.readers import read_events, read_extract

EVENT_FIELDS = ["practice_code", "patient_id", "code", "cluster", "date", "episode"]


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


def events_of(path: Path) -> pd.DataFrame:
    extract = read_extract(path)
    frame = extract.events[EVENT_FIELDS].copy()
    frame["practice_code"] = frame["practice_code"].astype(object)
    return frame.astype({"date": "datetime64[s]"}).reset_index(drop=True)


def iso_dates(path: Path) -> list[str | None]:
    dates = read_extract(path).events["date"]
    return [None if pd.isna(d) else d.date().isoformat() for d in dates]


# --- file types ------------------------------------------------------------------------------

CSV_TEXT = """
practice_code,patient_id,code,date,episode
A81001,123,254837009,2023-06-01,
A81001,123,720006006,2023-09-01,
A81001,124,254837009,2022-10-01,review
B82002,125,1239881000000109,2023-12-15,First
"""


@pytest.fixture
def expected_events(tmp_path) -> pd.DataFrame:
    return events_of(write_csv(tmp_path / "events.csv", CSV_TEXT))


def test_csv_events(expected_events):
    frame = expected_events
    assert frame["patient_id"].tolist() == ["123", "123", "124", "125"]
    assert frame["code"].tolist() == ["254837009", "720006006", "254837009", "1239881000000109"]
    assert [d.date() for d in frame["date"]] == [
        dt.date(2023, 6, 1),
        dt.date(2023, 9, 1),
        dt.date(2022, 10, 1),
        dt.date(2023, 12, 15),
    ]
    # episodes are kept in lower case; the rule packs decide which count as new
    # (docs/reference-rules.md#patient-dates)
    assert frame["episode"].tolist() == ["", "", "review", "first"]
    assert frame["practice_code"].tolist() == ["A81001", "A81001", "A81001", "B82002"]


def test_csv_gz_same_as_csv(tmp_path, expected_events):
    path = tmp_path / "events.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(CSV_TEXT.lstrip("\n"))
    pd.testing.assert_frame_equal(events_of(path), expected_events)


def test_parquet_with_integer_columns_same_as_csv(tmp_path, expected_events):
    table = pa.table(
        {
            "practice_code": ["A81001", "A81001", "A81001", "B82002"],
            "patient_id": pa.array([123, 123, 124, 125], pa.int64()),
            "code": pa.array([254837009, 720006006, 254837009, 1239881000000109], pa.int64()),
            "date": pa.array(
                [dt.date(2023, 6, 1), dt.date(2023, 9, 1), dt.date(2022, 10, 1)]
                + [dt.date(2023, 12, 15)],
                pa.date32(),
            ),
            "episode": ["", None, "review", "First"],
        }
    )
    path = tmp_path / "events.parquet"
    pq.write_table(table, path)
    pd.testing.assert_frame_equal(events_of(path), expected_events)


def test_parquet_with_text_dates_and_float_codes_same_as_csv(tmp_path, expected_events):
    # pandas writes an integer column with gaps as float; the ids must still be digits
    table = pa.table(
        {
            "practice_code": ["A81001", "A81001", "A81001", "B82002"],
            "patient_id": ["123", "123", "124", "125"],
            "code": pa.array([254837009.0, 720006006.0, 254837009.0, 1239881000000109.0]),
            "date": ["2023-06-01", "2023-09-01T08:30:00", "2022-10-01", "2023-12-15"],
            "episode": ["", "", "review", "First"],
        }
    )
    path = tmp_path / "events.parquet"
    pq.write_table(table, path)
    pd.testing.assert_frame_equal(events_of(path), expected_events)


def test_parquet_timestamp_dates(tmp_path):
    table = pa.table(
        {
            "patient_id": ["1"],
            "code": ["254837009"],
            "date": pa.array([dt.datetime(2024, 3, 5, 23, 59)], pa.timestamp("ms")),
        }
    )
    pq.write_table(table, tmp_path / "events.parquet")
    assert iso_dates(tmp_path / "events.parquet") == ["2024-03-05"]


def test_text_ids_keep_leading_zeros_in_csv_and_parquet(tmp_path):
    csv = write_csv(
        tmp_path / "events.csv",
        """
patient_id,code,date
000123,254837009,2024-01-01
0042,720006006,2024-01-02
""",
    )
    pq.write_table(
        pa.table(
            {
                "patient_id": ["000123", "0042"],
                "code": ["254837009", "720006006"],
                "date": ["2024-01-01", "2024-01-02"],
            }
        ),
        tmp_path / "events.parquet",
    )
    for path in (csv, tmp_path / "events.parquet"):
        assert read_extract(path).events["patient_id"].tolist() == ["000123", "0042"], path


def test_unsupported_file_type(tmp_path):
    path = write_csv(tmp_path / "events.xlsx", "patient_id,code,date\n1,254837009,2024-01-01\n")
    with pytest.raises(InputError, match="unsupported file type") as info:
        read_extract(path)
    assert "events.xlsx" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_extract(tmp_path / "nope.csv")


# --- dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param(
            ["05/03/2024", "13/01/2024", "1/2/2023"],
            ["2024-03-05", "2024-01-13", "2023-02-01"],
            id="DD/MM/YYYY-day-first",
        ),
        pytest.param(
            ["05-Mar-2024", "13-JAN-2024", "1-feb-2023"],
            ["2024-03-05", "2024-01-13", "2023-02-01"],
            id="DD-Mon-YYYY",
        ),
        pytest.param(
            ["05 Mar 2024", "13 Jan 2024", "1 Feb 2023"],
            ["2024-03-05", "2024-01-13", "2023-02-01"],
            id="DD Mon YYYY",
        ),
        pytest.param(
            ["2024-03-05T10:11:12", "2024-01-13 00:00:00", "2023-02-01T23:59:59Z"],
            ["2024-03-05", "2024-01-13", "2023-02-01"],
            id="ISO-with-time",
        ),
        pytest.param(
            ["2024-03-05", "2024-01-13", "2023-02-01"],
            ["2024-03-05", "2024-01-13", "2023-02-01"],
            id="ISO",
        ),
        pytest.param(
            ["05/03/2024 10:30", "13/01/2024 00:00", "01/02/2023 09:00"],
            ["2024-03-05", "2024-01-13", "2023-02-01"],
            id="DD/MM/YYYY-with-time",
        ),
    ],
)
def test_date_formats(tmp_path, values, expected):
    rows = "".join(f"{i},254837009,{v}\n" for i, v in enumerate(values))
    path = write_csv(tmp_path / "events.csv", "patient_id,code,date\n" + rows)
    assert iso_dates(path) == expected


def test_slash_dates_are_never_month_first(tmp_path):
    # 05/03/2024 is 5 March; 03/13/2024 (US style) is not a UK date: rejected, not swapped.
    # (The two day-first-only dates outnumber it; else the column is refused as month first.)
    path = write_csv(
        tmp_path / "events.csv",
        """
patient_id,code,date
1,254837009,05/03/2024
2,254837009,03/13/2024
3,254837009,25/03/2024
4,254837009,14/02/2024
""",
    )
    extract = read_extract(path)
    assert extract.events["patient_id"].tolist() == ["1", "3", "4"]
    assert extract.events["date"].iloc[0].date() == dt.date(2024, 3, 5)
    assert sum(extract.report.rejected.values()) == 1
    assert extract.report.rejects_table()["line"].tolist() == [3]


@pytest.mark.parametrize(
    ("good", "impossible"),
    [
        pytest.param("2024-01-10", "2024-02-30", id="ISO-30-Feb"),
        pytest.param("2024-01-10", "2023-02-29", id="ISO-29-Feb-non-leap"),
        pytest.param("2024-01-10", "2024-04-31", id="ISO-31-Apr"),
        pytest.param("2024-01-10", "2024-13-01", id="ISO-month-13"),
        pytest.param("10/01/2024", "31/04/2024", id="slash-31-Apr"),
        pytest.param("10/01/2024", "29/02/2023", id="slash-29-Feb-non-leap"),
        pytest.param("10/01/2024", "32/01/2024", id="slash-day-32"),
        pytest.param("10-Jan-2024", "30-Feb-2024", id="Mon-30-Feb"),
        pytest.param("10 Jan 2024", "31 Sep 2023", id="space-31-Sep"),
    ],
)
def test_impossible_dates_are_rejected_not_rolled_over(tmp_path, good, impossible):
    # docs/reference-data.md#dates: a value that is not a real date is a rejected row, never a
    # guess: 30 February is not 1 March. The good first row fixes the column's format.
    path = write_csv(
        tmp_path / "events.csv",
        f"patient_id,code,date\n1,254837009,{good}\n2,254837009,{impossible}\n",
    )
    extract = read_extract(path)
    assert extract.events["patient_id"].tolist() == ["1"], iso_dates(path)
    assert dict(extract.report.rejected) == {"unreadable date": 1}


def test_unreadable_date_rejected_with_line(tmp_path):
    path = write_csv(
        tmp_path / "events.csv",
        """
patient_id,code,date
1,254837009,2024-01-10
2,254837009,yesterday
3,254837009,
""",
    )
    extract = read_extract(path)
    assert extract.events["patient_id"].tolist() == ["1"]
    table = extract.report.rejects_table()
    assert table["line"].tolist() == [3, 4]
    assert set(table["column"]) == {"date"}
    assert sum(extract.report.rejected.values()) == 2


# A column whose first 100 rows are ISO dates is parsed by pyarrow as it reads; any later value
# it cannot read must send the file back to the text path and end as the same reject.
LATE_SURPRISES = [
    pytest.param("05/03/2024", "date in a different format from the rest of its column", id="uk"),
    pytest.param("2023-02-30", "unreadable date", id="impossible"),
    pytest.param("NA", "unreadable date", id="NA-is-not-blank"),
    pytest.param("2024-3-5", "unreadable date", id="unpadded"),
    pytest.param("2024-03-05T10:00", None, id="time-part-is-accepted"),
]


@pytest.mark.parametrize("late, reason", LATE_SURPRISES)
def test_a_late_odd_date_after_100_iso_rows_is_judged_as_text(tmp_path, late, reason):
    rows = [f"{i},254837009,2024-01-{1 + i % 28:02d}" for i in range(150)]
    rows.insert(140, f"odd,254837009,{late}")  # line 142 of the file
    path = write_csv(tmp_path / "events.csv", "patient_id,code,date\n" + "\n".join(rows) + "\n")
    extract = read_extract(path)
    date_type = extract.report.sources["events:0"].table.column("date").type
    if reason is None:
        assert date_type == pa.large_string()  # pyarrow's parse failed: the text path ran
        assert extract.report.total_rejected == 0
        assert "2024-03-05" in iso_dates(path)
        return
    assert dict(extract.report.rejected) == {reason: 1}
    assert extract.report.rejects_table()["line"].tolist() == [142]
    assert len(extract.events) == 150


def test_iso_dates_read_by_pyarrow_keep_blanks_lines_and_rejects(tmp_path):
    # blank dates stay "missing", a row of empty cells is a blank line, and a rejected row's
    # date is written as the file has it (blank, not "None")
    path = write_csv(
        tmp_path / "events.csv",
        """
patient_id,code,date
1,254837009,2024-01-10
,254837009,
,,
3,12,2024-01-11
4,254837009, 2024-01-12
""",
    )
    extract = read_extract(path)
    assert extract.report.sources["events:0"].table.column("date").type == pa.date32()
    assert extract.events["patient_id"].tolist() == ["1", "4"]
    assert iso_dates(path) == ["2024-01-10", "2024-01-12"]
    assert extract.report.ignored["blank lines"] == 1
    table = extract.report.rejects_table()
    assert table["line"].tolist() == [3, 5]
    assert table["reason"].tolist() == [
        "empty patient id",
        "invalid SNOMED CT id (not 6 to 18 digits)",
    ]
    assert table["date"].tolist() == ["", "2024-01-11"]


# --- column spellings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Patient ID,SNOMED code,Effective date,Practice code", id="spaces"),
        pytest.param("PATIENT_ID,CODE,DATE,PRACTICE_CODE", id="upper"),
        pytest.param("PatientId,ConceptId,Event date,ODS code", id="emis-like"),
        pytest.param("patient,SnomedCTConceptId,EntryDate,practice", id="other"),
        pytest.param("Patient Pseudo ID,SNOMED CT code,Code date,Org code", id="pseudo"),
    ],
)
def test_column_spellings(tmp_path, header):
    path = write_csv(tmp_path / "events.csv", f"{header}\nPX1,254837009,2024-01-10,A81001\n")
    extract = read_extract(path)
    row = extract.events.iloc[0]
    assert (row["patient_id"], row["code"], row["practice_code"]) == (
        "PX1",
        "254837009",
        "A81001",
    )
    assert row["date"].date() == dt.date(2024, 1, 10)
    assert extract.has_practice


@pytest.mark.parametrize(
    ("header", "first", "second"),
    [
        pytest.param(
            "patient_id,code,Effective date,Event date",
            "Effective date",
            "Event date",
            id="two-dates",
        ),
        pytest.param("Patient ID,PatientId,code,date", "Patient ID", "PatientId", id="two-ids"),
        pytest.param(
            "patient_id,SNOMED code,Concept ID,date", "SNOMED code", "Concept ID", id="codes"
        ),
    ],
)
def test_ambiguous_columns_are_an_error_naming_both(tmp_path, header, first, second):
    path = write_csv(tmp_path / "events.csv", f"{header}\n1,2,254837009,2024-01-10\n")
    with pytest.raises(InputError) as info:
        read_extract(path)
    message = str(info.value)
    assert f"'{first}'" in message and f"'{second}'" in message
    assert "events.csv" in message


def test_missing_required_column_named(tmp_path):
    path = write_csv(tmp_path / "events.csv", "patient_id,code\nPIDSECRET01,254837009\n")
    with pytest.raises(InputError, match="'date'") as info:
        read_extract(path)
    assert "PIDSECRET01" not in str(info.value)


def test_cluster_column_instead_of_code(tmp_path):
    path = write_csv(
        tmp_path / "events.csv",
        "patient_id,cluster,date\n1,CAN_COD,2024-01-10\n1,MDRV_COD,2024-02-10\n",
    )
    events = read_extract(path).events
    assert events["cluster"].tolist() == ["CAN_COD", "MDRV_COD"]
    assert events["code"].tolist() == ["", ""]


# --- rejected rows ---------------------------------------------------------------------------


def test_rows_rejected_by_reason_with_lines(tmp_path):
    path = write_csv(
        tmp_path / "events.csv",
        """
patient_id,code,date
PIDSECRET01,254837009,2024-01-10
,254837009,2024-01-10
PIDSECRET02,25483,2024-01-10
PIDSECRET03,254837009,31/31/2024
PIDSECRET04,,2024-01-10
PIDSECRET05,,
""",
    )
    extract = read_extract(path)
    # line 2 good; 3 empty id; 4 five-digit code; 5 bad date; 6 date but neither code nor
    # cluster; 7 patient-only row (ignored, not rejected)
    assert extract.events["patient_id"].tolist() == ["PIDSECRET01", "PIDSECRET05"]
    assert sum(extract.report.rejected.values()) == 4
    assert sorted(extract.report.rejects_table()["line"]) == [3, 4, 5, 6]
    assert extract.report.rows_read == {"events": 6}
    assert extract.report.ignored["rows without a coded entry (patient only)"] == 1
    reasons = " | ".join(extract.report.rejected)
    assert "patient id" in reasons and "SNOMED" in reasons and "date" in reasons


# --- single-file extracts: registration on event rows ----------------------------------------


def test_registration_on_event_rows_builds_patients(tmp_path):
    path = write_csv(
        tmp_path / "events.csv",
        """
practice_code,patient_id,code,date,registration_date,deregistration_date
A81001,P01,254837009,2023-06-01,01/01/2010,
A81001,P01,720006006,2023-07-01,01/01/2010,
A81001,P02,254837009,2023-06-01,01/02/2024,
A81001,P03,,,05/05/2015,
B82002,P01,254837009,2023-06-01,01/01/2012,01/03/2024
""",
    )
    extract = read_extract(path)
    patients = extract.patients.sort_values(["practice_code", "patient_id"], ignore_index=True)
    assert patients[["practice_code", "patient_id"]].values.tolist() == [
        ["A81001", "P01"],
        ["A81001", "P02"],
        ["A81001", "P03"],  # a patient with no coded entries is still a registration
        ["B82002", "P01"],  # same id at another practice is another patient
    ]
    assert [d.date() for d in patients["registration_date"]] == [
        dt.date(2010, 1, 1),
        dt.date(2024, 2, 1),
        dt.date(2015, 5, 5),
        dt.date(2012, 1, 1),
    ]
    dereg = patients["deregistration_date"]
    assert dereg.isna().tolist() == [True, True, True, False]
    assert dereg.iloc[3].date() == dt.date(2024, 3, 1)
    assert not extract.report.rejected


def test_registration_without_practice_column(tmp_path):
    path = write_csv(
        tmp_path / "events.csv",
        """
patient_id,code,date,registration_date
P01,254837009,2023-06-01,2010-01-01
P01,720006006,2023-07-01,2010-01-01
P02,,,2015-05-05
""",
    )
    extract = read_extract(path)
    assert not extract.has_practice
    assert sorted(extract.patients["patient_id"]) == ["P01", "P02"]
    assert not extract.report.rejected


def test_conflicting_registration_rows_rejected_with_reason(tmp_path):
    path = write_csv(
        tmp_path / "events.csv",
        """
practice_code,patient_id,code,date,registration_date
A81001,P01,254837009,2023-06-01,2010-01-01
A81001,P04,254837009,2023-06-01,2010-01-01
A81001,P04,720006006,2023-07-01,2011-01-01
A81001,P05,254837009,2023-06-01,2009-09-09
""",
    )
    extract = read_extract(path)
    # P04's two rows disagree on registration_date: both rejected, nothing guessed
    assert sorted(extract.patients["patient_id"]) == ["P01", "P05"]
    assert sorted(extract.events["patient_id"]) == ["P01", "P05"]
    assert sum(extract.report.rejected.values()) == 2
    (reason,) = extract.report.rejected
    assert "conflicting" in reason
    assert sorted(extract.report.rejects_table()["line"]) == [3, 4]


def test_unreadable_registration_date_rejected(tmp_path):
    path = write_csv(
        tmp_path / "events.csv",
        """
patient_id,code,date,registration_date
P01,254837009,2023-06-01,2010-01-01
P02,254837009,2023-06-01,someday
""",
    )
    extract = read_extract(path)
    assert extract.events["patient_id"].tolist() == ["P01"]
    assert sum(extract.report.rejected.values()) == 1
    assert extract.report.rejects_table()["line"].tolist() == [3]


def test_read_events_counts_every_row(tmp_path):
    path = write_csv(
        tmp_path / "events.csv", "patient_id,code,date\n1,254837009,2024-01-01\n2,1,2024-01-01\n"
    )
    frame, has_practice = read_events(path)
    assert not has_practice
    assert frame["patient_id"].tolist() == ["1"]
