"""Inputs as they arrive from clinical systems and OpenCodelists (issue 17): code-list folders of
versioned downloads, report preambles above the header row, which columns were used, and
practices that have registrations but no coded entry.

Every run is `ccrqof calc` at R = 31 March 2024 (--year 2023-24). A cancer diagnosis from
1 April 2003 puts a registered patient on the CAN001 register, so each patient below with a
CAN_COD entry dated 2023 is one register patient; every expected count is worked out by hand
from the rows written here. Patient identifiers start with PIDSECRET so that every run can
check that none reaches stderr.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from entry import run_main

import ccrqof
from ccrqof.cli import cli
from ccrqof.codelists import cluster_file, newest_files, read_codelists
from ccrqof.errors import InputError
from ccrqof.readers.extract import EMPTY_ID

SECRET = "PIDSECRET"
YEAR = ("--year", "2023-24")
NO_WIDTH = {"COLUMNS": None, "LINES": None}

# Codes of the bundled illustrative list (src/ccrqof/data/illustrative_codelist.csv).
BREAST = "254837009"  # CAN_COD
PROSTATE = "399068003"  # CAN_COD
REVIEW = "720006006"  # MDRV_COD
SUPPORT = "1239881000000109"  # CANPCSUPP_COD
# The clusters the cancer indicators read, each with one code (placeholders of the list).
OTHER_CLUSTERS = {
    "mdrv_cod": REVIEW,
    "canpcsupp_cod": SUPPORT,
    "caninvite_cod": "999000000001007",
    "canpcadec_cod": "999000000002000",
    "canpcapu_cod": "999000000003005",
}
OPENCODELISTS = "nhsd-primary-care-domain-refsets"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def calc(*args) -> tuple[dict | str, str]:
    """`ccrqof calc ... --year 2023-24` through click's runner: (JSON document, or the table
    when --format is not json; stderr). Fails on an error and on a patient id on stderr."""
    result = CliRunner().invoke(cli, ["calc", *map(str, args), *YEAR], env=NO_WIDTH)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.stderr
    assert SECRET not in result.stderr
    out = json.loads(result.stdout) if "json" in args else result.stdout
    return out, result.stderr


def calc_error(*args) -> str:
    """The one `Error:` line of a `ccrqof calc` that stops (exit 2, nothing on stdout)."""
    code, stdout, stderr = run_main("calc", *args, *YEAR)
    assert code == 2, stderr
    assert stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    assert SECRET not in stderr and "Traceback" not in stderr
    return lines[0]


def notes(stderr: str) -> list[str]:
    return [line.removeprefix("Note: ") for line in stderr.splitlines() if line.startswith("Note:")]


def register(document: dict) -> dict[str, int]:
    """CAN001 register size by practice."""
    return {
        r["practice_code"]: r["register"] for r in document["results"] if r["indicator"] == "CAN001"
    }


# --- 1. code-list folders of OpenCodelists downloads ------------------------------------------


def opencodelists_folder(folder: Path, can_cod_versions: dict[str, list[str]]) -> Path:
    """A folder as OpenCodelists downloads fill it: `code,term` files named
    `<organisation>-<slug>-<version>.csv`; CAN_COD in the versions given (version -> codes)."""
    for slug, code in OTHER_CLUSTERS.items():
        write(folder / f"{OPENCODELISTS}-{slug}-20241205.csv", f"code,term\n{code},A term\n")
    for version, codes in can_cod_versions.items():
        rows = "".join(f'{code},"Malignant, of some site"\n' for code in codes)
        write(folder / f"{OPENCODELISTS}-can_cod-{version}.csv", "code,term\n" + rows)
    return folder


@pytest.mark.parametrize(
    "name, cluster, version, date",
    [
        ("CAN_COD.csv", "CAN_COD", None, None),
        ("can_cod.csv", "CAN_COD", None, None),
        ("CAN_COD-20241205.csv", "CAN_COD", "20241205", "2024-12-05"),
        ("CAN_COD-2024-12-05.csv", "CAN_COD", "2024-12-05", "2024-12-05"),
        (f"{OPENCODELISTS}-can_cod-20241205.csv", "CAN_COD", "20241205", "2024-12-05"),
        (f"{OPENCODELISTS}-canpcsupp_cod-20200812.csv", "CANPCSUPP_COD", "20200812", "2020-08-12"),
        (f"{OPENCODELISTS}-can_cod-3e5e6c1c.csv", "CAN_COD", "3e5e6c1c", None),  # a hash
        ("SMEAR_DAT-20240101.csv", "SMEAR_DAT", "20240101", "2024-01-01"),
        ("my_clusters.csv", "MY_CLUSTERS", None, None),  # as before: the name is the cluster
        ("CAN_COD-20241399.csv", "CAN_COD", "20241399", None),  # no 13th month: not a date
    ],
)
def test_a_file_name_gives_its_cluster_and_version(name, cluster, version, date):
    named = cluster_file(Path(name))
    assert (named.cluster, named.version) == (cluster, version)
    assert (named.date.isoformat() if named.date else None) == date


def test_an_opencodelists_folder_is_read_with_code_and_term_columns(tmp_path):
    folder = opencodelists_folder(tmp_path / "codelists", {"20241205": [BREAST, PROSTATE]})
    codelist = read_codelists(folder)
    members = set(codelist.members.itertuples(index=False, name=None))
    assert members == {
        (BREAST, "CAN_COD"),
        (PROSTATE, "CAN_COD"),
        *((code, slug.upper()) for slug, code in OTHER_CLUSTERS.items()),
    }
    assert dict(codelist.files)["CAN_COD"] == f"{OPENCODELISTS}-can_cod-20241205.csv"
    assert codelist.superseded == ()


def test_the_newest_version_of_a_cluster_is_read_and_the_older_named(tmp_path):
    # the older CAN_COD has the prostate code too: read, it would be in the list
    folder = opencodelists_folder(
        tmp_path / "codelists",
        {"20231105": [BREAST, PROSTATE], "20241205": [BREAST], "20240601": [PROSTATE]},
    )
    codelist = read_codelists(folder)
    assert set(codelist.members.loc[codelist.members["cluster"] == "CAN_COD", "code"]) == {BREAST}
    assert dict(codelist.files)["CAN_COD"] == f"{OPENCODELISTS}-can_cod-20241205.csv"
    assert sorted(name for _, name in codelist.superseded) == [
        f"{OPENCODELISTS}-can_cod-20231105.csv",
        f"{OPENCODELISTS}-can_cod-20240601.csv",
    ]


def test_cluster_and_cluster_version_names_are_read_beside_each_other(tmp_path):
    folder = tmp_path / "codelists"
    write(folder / "CAN_COD-20240101.csv", f"code\n{PROSTATE}\n")
    write(folder / "CAN_COD-2024-06-01.csv", f"code\n{BREAST}\n")  # newer: 1 June 2024
    write(folder / "MDRV_COD.csv", f"code\n{REVIEW}\n")
    codelist = read_codelists(folder)
    assert sorted(codelist.members.itertuples(index=False, name=None)) == [
        (BREAST, "CAN_COD"),
        (REVIEW, "MDRV_COD"),
    ]
    assert dict(codelist.superseded) == {"CAN_COD": "CAN_COD-20240101.csv"}


@pytest.mark.parametrize(
    "names",
    [
        ("CAN_COD.csv", f"{OPENCODELISTS}-can_cod-20241205.csv"),  # one has no version
        ("CAN_COD-20241205.csv", f"{OPENCODELISTS}-can_cod-20241205.csv"),  # the same date
        (f"{OPENCODELISTS}-can_cod-3e5e6c1c.csv", f"{OPENCODELISTS}-can_cod-20241205.csv"),
        ("can_cod.csv", "CAN_COD.csv"),  # one cluster, two spellings
    ],
)
def test_versions_that_cannot_be_ordered_are_an_error_naming_both(tmp_path, names):
    folder = tmp_path / "codelists"
    for name in names:
        write(folder / name, f"code\n{BREAST}\n")
    with pytest.raises(InputError) as caught:
        read_codelists(folder)
    message = str(caught.value)
    assert "CAN_COD" in message and "cannot be ordered" in message
    for name in names:
        assert name in message


def test_newest_files_keeps_one_file_per_cluster():
    files = [Path("CAN_COD-20200101.csv"), Path("CAN_COD-20210101.csv"), Path("MDRV_COD.csv")]
    chosen, older = newest_files(files)
    assert [f.path.name for f in chosen] == ["CAN_COD-20210101.csv", "MDRV_COD.csv"]
    assert [f.path.name for f in older] == ["CAN_COD-20200101.csv"]


def test_calc_uses_the_newest_download_and_says_which_file_it_used(tmp_path):
    folder = opencodelists_folder(
        tmp_path / "codelists", {"20231105": [BREAST, PROSTATE], "20241205": [BREAST]}
    )
    events = write(
        tmp_path / "events.csv",
        f"practice_code,patient_id,code,date\n"
        f"A81001,PIDSECRET01,{BREAST},2023-06-01\n"
        f"A81001,PIDSECRET02,{PROSTATE},2023-06-01\n",
    )
    document, stderr = calc(events, "--codelists", folder, "--format", "json")
    # PIDSECRET02's prostate code is only in the older CAN_COD: not on the register
    assert register(document) == {"A81001": 1}
    [line] = [n for n in notes(stderr) if n.startswith("code list folder")]
    assert f"CAN_COD ← {OPENCODELISTS}-can_cod-20241205.csv" in line
    assert f"MDRV_COD ← {OPENCODELISTS}-mdrv_cod-20241205.csv" in line
    assert f"not used, as older versions: {OPENCODELISTS}-can_cod-20231105.csv" in line
    assert line in document["notices"]  # the JSON document records which files were read


def test_calc_stops_on_two_unordered_versions(tmp_path):
    folder = opencodelists_folder(tmp_path / "codelists", {"20241205": [BREAST]})
    write(folder / "CAN_COD.csv", f"code\n{BREAST}\n")
    events = write(
        tmp_path / "events.csv", f"patient_id,code,date\nPIDSECRET01,{BREAST},2023-06-01\n"
    )
    line = calc_error(events, "--codelists", folder)
    assert "CAN_COD.csv" in line and f"{OPENCODELISTS}-can_cod-20241205.csv" in line


# --- 2. report preambles above the header row --------------------------------------------------

PREAMBLE = "Search: Cancer register\nRun date: 01/11/2026\n\n"  # lines 1-3; the header is line 4
EMIS_HEADER = "Patient ID,SNOMED CT Concept ID,Date,Organisation,Term\n"
# lines 5, 6 and 7: line 6 has no patient id (rejected at line 6, as the file numbers it)
EMIS_ROWS = (
    f"PIDSECRET01,{BREAST},2023-06-01,A81001,Breast\n"
    f",{BREAST},2023-06-01,A81001,Breast\n"
    f"PIDSECRET02,{PROSTATE},2023-07-01,A81001,Café\n"
)
SKIPPED = (
    "the header row is line 4; the 3 line(s) above it (a report's title, run date or blank "
    "lines) were skipped. Use --skip-rows to choose how many lines to skip"
)


def write_export(path: Path, text: str, encoding: str = "utf-8") -> Path:
    data = text.encode(encoding)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


@pytest.mark.parametrize(
    "name, encoding, body",
    [
        ("events.csv", "utf-8", EMIS_HEADER + EMIS_ROWS),
        ("events.csv.gz", "utf-8", EMIS_HEADER + EMIS_ROWS),
        ("events.csv", "cp1252", EMIS_HEADER + EMIS_ROWS),  # the Windows-1252 path
        # a blank line in the rows (line 6): the rejected row moves to line 7
        ("events.csv", "utf-8", EMIS_HEADER + EMIS_ROWS.replace("\n,", "\n\n,")),
    ],
    ids=["csv", "gzip", "cp1252", "blank-line-in-rows"],
)
def test_a_preamble_is_skipped_with_a_notice_and_lines_keep_their_numbers(
    tmp_path, name, encoding, body
):
    path = write_export(tmp_path / name, PREAMBLE + body, encoding)
    extract = ccrqof.read_extract(path)
    report = extract.report
    assert report.rows_read == {"events": 3}
    assert report.ignored["blank lines"] == body.count("\n\n")
    assert sorted(extract.events["patient_id"]) == ["PIDSECRET01", "PIDSECRET02"]
    assert f"{name}: {SKIPPED}" in report.notices
    rejects = report.rejects_table()
    assert rejects["reason"].tolist() == [EMPTY_ID]
    assert rejects["line"].tolist() == [6 + body.count("\n\n")]


def test_a_preamble_in_the_patients_file_too(tmp_path):
    events = write(tmp_path / "events.csv", PREAMBLE + EMIS_HEADER + EMIS_ROWS)
    patients = write(
        tmp_path / "patients.csv",
        "Practice list\n\nPatient ID,Registration date\n"
        "PIDSECRET01,2001-01-01\nPIDSECRET02,2001-01-01\n",
    )
    document, stderr = calc(events, "--patients", patients, "--format", "json")
    assert f"events.csv: {SKIPPED}" in notes(stderr)
    assert (
        "patients.csv: the header row is line 3; the 2 line(s) above it (a report's title, run "
        "date or blank lines) were skipped. Use --skip-rows to choose how many lines to skip"
    ) in notes(stderr)
    assert document["input"]["rows_read"] == {"events": 3, "patients": 2}
    assert register(document) == {None: 2}


def test_skip_rows_skips_exactly_that_many_lines_without_a_notice(tmp_path):
    events = write(tmp_path / "events.csv", PREAMBLE + EMIS_HEADER + EMIS_ROWS)
    rejects = tmp_path / "out" / "rejects.csv"
    rejects.parent.mkdir()
    document, stderr = calc(events, "--skip-rows", "3", "--rejects", rejects, "--format", "json")
    assert not [n for n in notes(stderr) if "header row is line" in n]  # the user chose
    assert document["input"]["rows_read"] == {"events": 3}
    assert pd.read_csv(rejects)["line"].tolist() == [6]
    assert register(document) == {None: 2}


def test_skip_rows_zero_turns_the_search_off(tmp_path):
    events = write(tmp_path / "events.csv", PREAMBLE + EMIS_HEADER + EMIS_ROWS)
    line = calc_error(events, "--skip-rows", "0")
    assert "events.csv" in line and "'patient_id'" in line  # the first line is the header


@pytest.mark.parametrize(
    "skip, expected",
    [
        ("2", "line 3, below the 2 line(s) that --skip-rows skips, is blank"),
        ("50", "has no header row below the 50 line(s) that --skip-rows skips"),
    ],
)
def test_skip_rows_that_miss_the_header_are_a_plain_error(tmp_path, skip, expected):
    events = write(tmp_path / "events.csv", PREAMBLE + EMIS_HEADER + EMIS_ROWS)
    line = calc_error(events, "--skip-rows", skip)
    assert "events.csv" in line and expected in line


def test_skip_rows_must_be_a_count(tmp_path):
    events = write(tmp_path / "events.csv", EMIS_HEADER + EMIS_ROWS)
    result = CliRunner().invoke(cli, ["calc", str(events), "--skip-rows", "-1", *YEAR])
    assert result.exit_code == 2 and "--skip-rows" in result.stderr


def test_without_a_recognisable_header_nothing_is_guessed(tmp_path):
    # no line names a patient id: the first line stays the header, and the usual error says so
    events = write(
        tmp_path / "events.csv",
        PREAMBLE + f"Pseudonym,Concept,Recorded\nPIDSECRET01,{BREAST},2023-06-01\n",
    )
    line = calc_error(events)
    assert "has no 'patient_id'" in line and "--column patient_id=NAME" in line


def test_column_choices_name_the_header_below_a_preamble(tmp_path):
    events = write(
        tmp_path / "events.csv",
        PREAMBLE + f"Pseudonym,Concept,Recorded\nPIDSECRET01,{BREAST},2023-06-01\n",
    )
    columns = ("--column", "patient_id=Pseudonym", "--column", "code=Concept")
    document, stderr = calc(events, *columns, "--column", "date=Recorded", "--format", "json")
    assert f"events.csv: {SKIPPED}" in notes(stderr)
    assert register(document) == {None: 1}


def test_parquet_is_read_as_it_is_with_skip_rows(tmp_path):
    path = tmp_path / "events.parquet"
    table = pa.table(
        {"patient_id": ["PIDSECRET01"], "code": [BREAST], "date": ["2023-06-01"]},
    )
    pq.write_table(table, path)
    document, _ = calc(path, "--skip-rows", "3", "--format", "json")
    assert document["input"]["rows_read"] == {"events": 1}
    assert register(document) == {None: 1}


# --- 3. which columns each file gave -----------------------------------------------------------

HINT = (
    'events.csv: used patient_id ← "Patient ID", code ← "SNOMED CT Concept ID", date ← "Date"; '
    "ignored: Organisation, Term; Organisation looks like ODS practice codes: to use it as the "
    "practice, add --column practice_code=Organisation"
)


def test_each_file_says_which_columns_it_gave_and_how_to_use_a_practice_column(tmp_path):
    events = write(tmp_path / "events.csv", EMIS_HEADER + EMIS_ROWS)
    document, stderr = calc(events, "--format", "json")
    assert HINT in notes(stderr)
    assert register(document) == {None: 2}  # no practice column used: one unnamed practice
    for value in (BREAST, "2023-06-01", "Breast", "Café"):  # headers are said, values never
        assert value not in stderr

    document, stderr = calc(events, "--column", "practice_code=Organisation", "--format", "json")
    assert register(document) == {"A81001": 2}
    assert (
        'events.csv: used patient_id ← "Patient ID", code ← "SNOMED CT Concept ID", '
        'date ← "Date", practice_code ← "Organisation"; ignored: Term'
    ) in notes(stderr)


def test_an_organisation_column_of_names_gets_no_hint(tmp_path):
    events = write(
        tmp_path / "events.csv",
        f"Patient ID,Code,Date,Organisation\nPIDSECRET01,{BREAST},2023-06-01,Riverside Surgery\n",
    )
    _, stderr = calc(events, "--format", "json")
    assert (
        'events.csv: used patient_id ← "Patient ID", code ← "Code", date ← "Date"; '
        "ignored: Organisation"
    ) in notes(stderr)


def test_files_with_the_same_columns_share_one_line(tmp_path):
    header = "patient_id,code,date,description\n"
    for month in ("01", "02", "03"):
        write(
            tmp_path / "monthly" / f"events-2023-{month}.csv",
            header + f"PIDSECRET{month},{BREAST},2023-{month}-10,Breast\n",
        )
    write(
        tmp_path / "monthly" / "extra.csv",
        f"patient_id,code,date\nPIDSECRET09,{BREAST},2023-05-01\n",
    )
    _, stderr = calc(tmp_path / "monthly", "--format", "json")
    used = [n for n in notes(stderr) if ": used " in n]
    assert used == [
        "events-2023-01.csv (and 2 other file(s) with the same columns): used patient_id ← "
        '"patient_id", code ← "code", date ← "date"; ignored: description',
        'extra.csv: used patient_id ← "patient_id", code ← "code", date ← "date"',
    ]


# --- 4. practices with registrations but no coded entry ---------------------------------------

PRACTICES = ("A81001", "B82002", "C83003", "D84004", "E85005", "F86006", "G87007")


def practice_files(tmp_path: Path, events_have_practice: bool = True) -> tuple[Path, Path]:
    """Two patients per practice in the patients file; coded entries for A81001's only, and a
    patient-only row (no code, no date) for B82002's first patient."""
    patients = "patient_id,practice_code,registration_date\n" + "".join(
        f"PIDSECRET{p}{n},{p},2001-01-01\n" for p in PRACTICES for n in (1, 2)
    )
    rows = [
        ("A81001", "PIDSECRETA810011", BREAST, "2023-06-01"),
        ("A81001", "PIDSECRETA810012", REVIEW, "2023-09-01"),
        ("B82002", "PIDSECRETB820021", "", ""),
    ]
    if events_have_practice:
        events = "practice_code,patient_id,code,date\n" + "".join(",".join(r) + "\n" for r in rows)
    else:
        events = "patient_id,code,date\n" + "".join(",".join(r[1:]) + "\n" for r in rows)
    return write(tmp_path / "events.csv", events), write(tmp_path / "patients.csv", patients)


@pytest.mark.parametrize("events_have_practice", [True, False], ids=["events", "registrations"])
def test_practices_without_coded_entries_are_counted_and_named(tmp_path, events_have_practice):
    events, patients = practice_files(tmp_path, events_have_practice)
    extract = ccrqof.read_extract(events, patients=patients)
    # every practice but A81001: B82002's only row holds no coded entry
    assert extract.report.practices_without_entries == list(PRACTICES[1:])
    assert (
        "6 practice(s) have registrations but no coded entry in the events files: B82002, "
        "C83003, D84004, E85005, F86006 and 1 more. Every count that needs an entry (a "
        "register, a screening test) is 0 for them: is an events file missing?"
    ) in extract.report.notices


def test_the_count_is_in_the_json_and_under_the_table(tmp_path):
    events, patients = practice_files(tmp_path)
    document, stderr = calc(events, "--patients", patients, "--format", "json")
    assert document["input"]["practices_without_coded_entries"] == 6
    assert any(n.startswith("6 practice(s) have registrations") for n in notes(stderr))
    assert register(document)["G87007"] == 0  # what it used to say, and nothing else
    table, _ = calc(events, "--patients", patients)
    assert "Practices with registrations but no coded entries: 6." in table


def test_no_line_when_every_practice_has_entries(tmp_path):
    events = write(
        tmp_path / "events.csv",
        f"practice_code,patient_id,code,date\nA81001,PIDSECRET01,{BREAST},2023-06-01\n",
    )
    patients = write(
        tmp_path / "patients.csv",
        "patient_id,practice_code,registration_date\nPIDSECRET01,A81001,2001-01-01\n",
    )
    document, stderr = calc(events, "--patients", patients, "--format", "json")
    assert document["input"]["practices_without_coded_entries"] == 0
    assert not [n for n in notes(stderr) if "no coded entry" in n]
    table, _ = calc(events, "--patients", patients)
    assert "no coded entries" not in table
    assert not re.search(r"PIDSECRET", table)
