"""Nothing lost, nothing crashes: the readers on inputs too big, too odd or too broken to commit
as fixtures (they are made here, in tmp_path), and every view on dates no real entry has.

Every failure is exit 2 with one ``Error:`` line naming the file (and column), never a
traceback, an "Exception ignored" message, exit 1 from an uncaught exception or a signal.
The committed ugly files and their expected outcomes are in test_ugly_inputs.py. Sections are
numbered as the items of the issue.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from entry import run_main
from test_cli import Run, run_entry
from test_ugly_inputs import BASE, FIXTURES, indicator_counts

from ccrqof.readers import read_extract
from ccrqof.readers.extract import BROKEN_ROW
from ccrqof.readers.tables import GZIP_FREE_BYTES, MAX_COLUMNS
from ccrqof.readers.values import IMPLAUSIBLE_DATE, UNREADABLE_DATE

CANCER, REVIEW, SUPPORT = "254837009", "720006006", "1239881000000109"
HEADER = "practice_code,patient_id,code,date"
GOOD = [
    ("PIDSECRET01", CANCER, "2023-06-01"),
    ("PIDSECRET01", REVIEW, "2023-09-01"),
    ("PIDSECRET01", SUPPORT, "2023-07-15"),
    ("PIDSECRET02", CANCER, "2023-05-10"),
    ("PIDSECRET03", CANCER, "2024-01-20"),
    ("PIDSECRET03", SUPPORT, "2024-02-01"),
]
YEAR = ("--year", "2023-24", "--format", "json")


def good_rows(extra: str = "") -> str:
    return "".join(f"A81001,{p},{c},{d}{extra}\n" for p, c, d in GOOD)


def hard_error(run: Run, *parts: str) -> str:
    """One plain `Error:` line holding `parts`, exit 2, nothing on stdout."""
    assert run.exit_code == 2, run.stderr
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), run.stderr
    for part in parts:
        assert part in lines[0], (part, lines[0])
    return lines[0]


# --- 1. dates outside pandas' nanosecond range, and placeholders, through every view ---------


def _parquet_sentinels(folder: Path) -> tuple[Path, Path]:
    """Events as microsecond timestamps (0001, 1601 and 9999 are outside the ns range) and
    registrations with a 0001 start and a 9999 end."""
    stamps = [dt.datetime.fromisoformat(d + "T09:30") for _, _, d in GOOD] + [
        dt.datetime(1, 1, 1),
        dt.datetime(1601, 1, 1),
        dt.datetime(9999, 12, 31, 23, 59),
    ]
    events = folder / "events.parquet"
    pq.write_table(
        pa.table(
            {
                "practice_code": ["A81001"] * 9,
                "patient_id": [p for p, _, _ in GOOD]
                + ["PIDSECRET04", "PIDSECRET05", "PIDSECRET08"],
                "code": [c for _, c, _ in GOOD] + [CANCER] * 3,
                "date": pa.array(stamps, pa.timestamp("us")),
            }
        ),
        events,
    )
    patients = folder / "patients.parquet"
    pq.write_table(
        pa.table(
            {
                "patient_id": [f"PIDSECRET0{i}" for i in (1, 2, 3, 6, 8)],
                "practice_code": ["A81001"] * 5,
                "registration_date": pa.array(
                    [dt.datetime(y, 1, 1) for y in (2010, 2011, 2012, 1)]
                    + [dt.datetime(9999, 12, 31)],
                    pa.timestamp("us"),
                ),
                "deregistration_date": pa.array(
                    [dt.date(9999, 12, 31), None, None, None, None], pa.date32()
                ),
            }
        ),
        patients,
    )
    return events, patients


INPUTS = {
    "csv-and-patients-file": lambda tmp: (
        [
            FIXTURES / "sentinel_dates_iso.csv",
            "--patients",
            FIXTURES / "patients_sentinel_dates.csv",
        ]
    ),
    "single-file-registrations": lambda tmp: [FIXTURES / "sentinel_registration_dates.csv"],
    "uk-dates": lambda tmp: [FIXTURES / "sentinel_dates_uk.csv"],
    "parquet-timestamps": lambda tmp: (lambda files: [files[0], "--patients", files[1]])(
        _parquet_sentinels(tmp)
    ),
}


@pytest.mark.parametrize("inputs", list(INPUTS))
def test_every_view_runs_on_sentinel_dates(tmp_path: Path, inputs: str) -> None:
    """calc (with its patient and rejects files), worklist, explain and trend convert dates to
    pandas' nanoseconds here and there: a date it cannot hold must never get that far, and a
    far-future one (9999-12-31) must pass through as a date after R."""
    given = INPUTS[inputs](tmp_path)
    runs = {
        "calc": run_main(
            "calc",
            *given,
            *YEAR,
            "--rejects",
            tmp_path / "rejects.csv",
            "--patients-out",
            tmp_path / "outcomes.parquet",
        ),
        "worklist": run_main("worklist", *given, *YEAR),
        "trend": run_main(
            "trend", *given, "--from", "2023-04", "--to", "2024-03", "--format", "json"
        ),
        **{
            f"explain {p}": run_main("explain", *given, "--patient", p, *YEAR)
            for p in ("PIDSECRET01", "PIDSECRET03", "PIDSECRET08")
        },
    }
    for name, (code, stdout, stderr) in runs.items():
        assert "Traceback" not in stderr, (name, stderr)
        assert code == 0, (name, stderr)
        json.loads(stdout)
    document = json.loads(runs["calc"][1])
    assert indicator_counts(document) == BASE  # PIDSECRET01, deregistered 9999-12-31, counts
    rejected = document["input"]["rejected"]
    assert any(IMPLAUSIBLE_DATE in reason for reason in rejected), rejected


def test_patients_file_sentinel_dates_are_rejected_with_their_lines(tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.csv"
    run = run_entry(
        FIXTURES / "semicolon_delimited.csv",
        "--patients",
        FIXTURES / "patients_sentinel_dates.csv",
        *YEAR,
        "--rejects",
        rejects,
    )
    assert run.exit_code == 0, run.stderr
    document = json.loads(run.stdout)
    # PIDSECRET01 (deregistered 9999-12-31) is still registered; PIDSECRET03's registration on
    # 1900-01-02 is plausible; PIDSECRET08 registers after R
    assert indicator_counts(document) == BASE
    table = pd.read_csv(rejects, dtype=str, keep_default_na=False)
    assert [(int(r.line), r.column, r.reason) for r in table.itertuples()] == [
        (5, "registration_date", "registration date: " + IMPLAUSIBLE_DATE),
        (6, "registration_date", "registration date: " + IMPLAUSIBLE_DATE),
        (7, "registration_date", "registration date: " + UNREADABLE_DATE),
        (8, "deregistration_date", "deregistration date: " + IMPLAUSIBLE_DATE),
    ]


def test_parquet_dates_beyond_the_calendar_are_unreadable_not_wrapped(tmp_path: Path) -> None:
    """A DATE of year 0 or 20000, or a timestamp of year 300,000 (or before year 1), cannot be
    written as a date; Arrow's timestamp-to-date cast wraps around silently out there."""
    path = tmp_path / "events.parquet"
    year_0, year_20000 = -719_528, 6_585_335  # days from 1970-01-01
    pq.write_table(
        pa.table(
            {
                "patient_id": ["PIDSECRET01", "PIDSECRET04", "PIDSECRET05"],
                "code": [CANCER] * 3,
                "date": pa.array([19_500, year_0, year_20000], pa.date32()),
                "when": pa.array(  # 2023-06-01, year 300,000, year -146 million
                    [1_685_577_600_000, 300_000 * 31_556_952_000, -(2**62)], pa.timestamp("ms")
                ),
            }
        ),
        path,
    )
    for column in ("date", "when"):
        extract = read_extract(path, columns={"date": column})
        assert extract.events["patient_id"].tolist() == ["PIDSECRET01"]
        assert dict(extract.report.rejected) == {UNREADABLE_DATE: 2}
        assert extract.report.rejects_table()["line"].tolist() == [2, 3]


def test_int96_timestamps_in_a_parquet_dataset_are_not_wrapped(tmp_path: Path) -> None:
    """The folder-of-Parquet (dataset) reader coerces INT96 as the file reader does."""
    for practice in ("A81001", "B82002"):
        folder = tmp_path / f"practice_code={practice}"
        folder.mkdir()
        stamps = [dt.datetime(2023, 6, 1), dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31)]
        table = pa.table(
            {
                "patient_id": ["PIDSECRET01", "PIDSECRET02", "PIDSECRET03"],
                "code": [CANCER] * 3,
                "date": pa.array(stamps, pa.timestamp("ms")),
            }
        )
        pq.write_table(table, folder / "part-0.parquet", use_deprecated_int96_timestamps=True)
    extract = read_extract(tmp_path)
    assert dict(extract.report.rejected) == {IMPLAUSIBLE_DATE: 2}
    assert sorted(extract.events["date"].dt.year) == [2023, 2023, 9999, 9999]


# --- 2. an input error while other files are still being read --------------------------------


def _bad_byte_file(path: Path, at: float, rows: int = 400_000) -> Path:
    """A CSV that is neither UTF-8 nor Windows-1252 (byte 0x81 `at` that fraction of the way
    in): pyarrow is still reading the rest on its threads when the error comes."""
    line = b"A81001,PIDSECRET01,254837009,2023-06-01\n"
    bad_at = int(rows * at)
    path.write_bytes(
        (HEADER + "\n").encode()
        + line * bad_at
        + b"A81001,PID\x81,254837009,2023-06-01\n"
        + line * (rows - bad_at)
    )
    return path


def _process(*args: object) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return subprocess.run(
        [sys.executable, "-m", "ccrqof", "calc", *map(str, args), "--year", "2023-24"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_an_input_error_while_files_are_read_on_threads_is_always_a_clean_exit_2(
    tmp_path: Path,
) -> None:
    """Before the fix this died of SIGABRT (-6; 134 in a shell), sometimes SIGSEGV, in one
    run in three to ten: pyarrow decoded Windows-1252 by calling Python from its own threads,
    and was still at it when the error had the interpreter shut down. 30 runs, one at a time
    (two at a time hide it: the timing matters), catch a 1-in-10 failure 96% of the time; then
    3 of each case where another file's error comes while big files are read."""
    ats = (0.5, 0.5, 0.95, 0.95)
    bad = [_bad_byte_file(tmp_path / f"bad{i}.csv", at) for i, at in enumerate(ats)]
    big = tmp_path / "big.csv"
    big.write_text(HEADER + "\n" + good_rows() * 50_000)
    no_code = tmp_path / "no_code.csv"
    no_code.write_text("patient_id,date\nPIDSECRET01,2023-06-01\n")
    cases = [bad] * 30 + [[big, "--patients", no_code]] * 3 + [[big, no_code, big]] * 3
    for args in cases:
        result = _process(*args)
        assert result.returncode == 2, (args, result.returncode, result.stderr[-2000:])
        for sign in ("Traceback", "Exception ignored", "terminate", "Fatal"):
            assert sign not in result.stderr, result.stderr[-2000:]
        assert result.stderr.strip().startswith("Error: ")
        assert len(result.stderr.strip().splitlines()) == 1


# --- 3. gzip: damaged streams, and bombs --------------------------------------------------------


def test_corrupt_deflate_data_is_a_plain_error(tmp_path: Path) -> None:
    """Bad deflate data (not a stream cut short) raises zlib.error, which is not an OSError."""
    data = bytearray(gzip.compress((HEADER + "\n" + good_rows() * 1000).encode(), mtime=0))
    for i in range(30, 60):
        data[i] ^= 0xFF
    with pytest.raises(zlib.error):
        gzip.decompress(bytes(data))
    path = tmp_path / "events.csv.gz"
    path.write_bytes(bytes(data))
    hard_error(run_entry(path, *YEAR), "events.csv.gz", "damaged")


def test_a_gzip_bomb_stops_with_bounded_memory(tmp_path: Path) -> None:
    """1 GiB of zeros in a 1 MiB file (16 gzip members of 64 MiB each): refused once the text
    passes the limit (256 MiB here), with the process's peak memory far below 1 GiB. The peak is
    VmHWM, which starts afresh at exec; ru_maxrss would carry over the forking test process's own
    size (on CI, the whole suite's)."""
    member = gzip.compress(bytes(64 << 20), compresslevel=9, mtime=0)
    path = tmp_path / "bomb.csv.gz"
    path.write_bytes(member * 16)
    assert path.stat().st_size < 2 << 20
    peak = tmp_path / "peak.txt"
    script = (
        "from pathlib import Path\n"
        "from ccrqof.cli import main\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        "    status = Path('/proc/self/status').read_text().splitlines()\n"
        "    hwm = next(line.split()[1] for line in status if line.startswith('VmHWM:'))\n"
        f"    open({str(peak)!r}, 'w').write(hwm)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, "calc", str(path), "--year", "2023-24"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "bomb.csv.gz" in result.stderr and "unzips to more than" in result.stderr
    peak_bytes = int(peak.read_text()) * 1024  # Linux reports KiB
    assert peak_bytes < GZIP_FREE_BYTES + (400 << 20), peak_bytes


# --- 4. files that are empty, wide, long or of the wrong type ---------------------------------


@pytest.mark.parametrize("as_patients", [False, True], ids=["events", "patients"])
def test_dev_null_is_an_empty_file(as_patients: bool) -> None:
    if as_patients:
        run = run_entry(FIXTURES / "uk_dates.csv", "--patients", "/dev/null", *YEAR)
    else:
        run = run_entry("/dev/null", *YEAR)
    hard_error(run, "/dev/null", "is empty")


def test_blank_lines_above_an_unrecognised_header_are_a_plain_error(tmp_path: Path) -> None:
    """Above a header with the recognised names they are a preamble, skipped with a note
    (tests/test_inputs_arrive.py); above any other first line nothing is guessed."""
    path = tmp_path / "events.csv"
    path.write_text("\n \n" + HEADER.replace("patient_id", "person") + "\n" + good_rows())
    hard_error(run_entry(path, *YEAR), "events.csv", "blank line", "header row")


def test_a_header_longer_than_64_kib_is_read_whole(tmp_path: Path) -> None:
    extra = [f"extra_column_{i:05d}" for i in range(5000)]  # ~95 KB of header
    path = tmp_path / "events.csv"
    path.write_text(",".join([HEADER, *extra]) + "\n" + good_rows("," * len(extra)))
    run = run_entry(path, *YEAR)
    assert run.exit_code == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["input"]["rows_read"] == {"events": 6}
    assert document["input"]["rejected"] == {}
    assert indicator_counts(document) == BASE


def test_a_million_columns_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(HEADER + "," + ",".join(f"c{i}" for i in range(1_000_000)) + "\n")
    hard_error(run_entry(path, *YEAR), "events.csv", "1,000,004 columns", f"{MAX_COLUMNS:,}")


def test_a_column_name_longer_than_the_csv_field_limit_is_a_plain_error(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(HEADER + "," + "x" * 200_000 + "\n" + good_rows(",1"))
    hard_error(run_entry(path, *YEAR), "events.csv", "header row")


def test_a_100_mb_field_is_read(tmp_path: Path) -> None:
    """Longer than pyarrow's block (1 MiB): read again with a block that holds it."""
    path = tmp_path / "events.csv"
    with path.open("w") as fh:
        fh.write(HEADER + ",description\n" + good_rows(",short"))
        fh.write("A81001,PIDSECRET02,720006006,2023-05-11," + "y" * (100 << 20) + "\n")
    run = run_entry(path, *YEAR)
    assert run.exit_code == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["input"]["rows_read"] == {"events": 7}
    assert document["input"]["rejected"] == {}
    # PIDSECRET02's review: CAN004 numerator (review within 12 months of diagnosis)
    assert indicator_counts(document)["CAN004"] == (3, 2, 2, 0, 1)


def test_parquet_text_that_is_not_utf8_names_its_column(tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    codes = pa.array([CANCER.encode(), b"2548\xff37009"], pa.binary()).view(pa.string())
    pq.write_table(
        pa.table({"patient_id": ["PIDSECRET01"] * 2, "code": codes, "date": ["2023-06-01"] * 2}),
        path,
    )
    hard_error(run_entry(path, *YEAR), "events.parquet", "column 'code'", "UTF-8")


@pytest.mark.parametrize(
    ("column", "values", "kind"),
    [
        ("registration_date", pa.array([[1], [2]]), "list"),
        ("patient_id", pa.array([{"id": 1}, {"id": 2}]), "struct"),
        ("deregistration_date", pa.array([True, False]), "bool"),
    ],
)
def test_a_patients_parquet_column_of_unusable_type_is_named(
    tmp_path: Path, column: str, values: pa.Array, kind: str
) -> None:
    table = {
        "patient_id": ["PIDSECRET01", "PIDSECRET02"],
        "registration_date": pa.array([dt.date(2010, 1, 1)] * 2),
        "deregistration_date": pa.array([None, None], pa.date32()),
        column: values,
    }
    path = tmp_path / "registrations.parquet"
    pq.write_table(pa.table(table), path)
    run = run_entry(FIXTURES / "uk_dates.csv", "--patients", path, *YEAR)
    hard_error(run, "registrations.parquet", f"column '{column}'", kind)


@pytest.mark.parametrize("encoding", ["base64", "zlib_codec"])
def test_an_encoding_that_is_not_for_text_is_a_usage_error(encoding: str) -> None:
    hard_error(run_entry(FIXTURES / "uk_dates.csv", "--encoding", encoding, *YEAR), encoding)


# --- 5. Windows-1252 with a broken row -----------------------------------------------------------


def test_windows1252_with_a_broken_row_says_its_notice_once(tmp_path: Path) -> None:
    path = FIXTURES / "windows1252_with_broken_row.csv"
    run = run_entry(path, *YEAR, "--rejects", tmp_path / "rejects.csv")
    assert run.exit_code == 0, run.stderr
    assert run.warnings.count("Windows-1252") == 1
    assert json.loads(run.stdout)["input"]["rejected"] == {BROKEN_ROW: 1}
