"""The `ccrqof calc` command end to end, on small extracts written by hand.

Every expected count is worked out by hand from docs/reference-rules.md (#patient-dates and
#cascades) at R = 31 March 2024 (2023-24) unless a test says otherwise. Windows at that R:
R - 3 months = 31 Dec 2023, R - 12 months = 31 Mar 2023, R - 15 months = 31 Dec 2022,
R - 24 months = 31 Mar 2022.

Patient identifiers all start with PIDSECRET so that every run can check none reaches stderr.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from entry import run_main

from ccrqof.cli import cli
from ccrqof.errors import CcrqofError

SECRET = "PIDSECRET"
# Rich wraps to COLUMNS when not on a terminal; drop any inherited value so runs are repeatable.
NO_WIDTH = {"COLUMNS": None, "LINES": None}

RECORD_KEYS = {
    "practice_code",
    "indicator",
    "register",
    "denominator",
    "numerator",
    "pcas",
    "exclusions",
    "breakdown",
    "achievement",
    "points",
    "max_points",
    "lower_threshold",
    "upper_threshold",
}
PATIENT_COLUMNS = [  # the run and the practice's organisations first, as every practice-level file
    "reference_date",
    "ruleset",
    "practice_code",
    "practice_name",
    "pcn_code",
    "pcn_name",
    "icb_code",
    "icb_name",
    "patient_id",
    "indicator",
    "outcome",
    "rule",
    "field",
    "CAN_DAT",
    "MDRV_DAT",
    "SUPP_DAT",
    "REG_DAT",
    "due_by",
]

# Codes of the bundled illustrative list (src/ccrqof/data/illustrative_codelist.csv).
CANCER = "254837009"  # CAN_COD
REVIEW = "720006006"  # MDRV_COD
SUPPORT = "1239881000000109"  # CANPCSUPP_COD
UNSUITABLE = "999000000003005"  # CANPCAPU_COD placeholder

# Two practices at R = 2024-03-31.
#   A81001 PIDSECRET01 CAN 2023-06-01, review 2023-09-01, support 2023-07-15:
#            CAN004 R3 numerator (review <= CAN+12m); CAN005 R3 numerator (support <= CAN+3m)
#          PIDSECRET02 CAN 2022-10-01, nothing else:
#            CAN004 R11 denominator (not <= R-24m, not > R-12m);
#            CAN005 R1 exclusion CANDAT15M (2022-10-01 <= 2022-12-31)
#          PIDSECRET03 CAN 2023-12-15:
#            CAN004 R5 exclusion DIAGCRV12M (> 2023-03-31);
#            CAN005 R10 denominator (not > R-3m = 2023-12-31, no PCA, REG_DAT unknown)
#   B82002 PIDSECRET04 CAN 2023-01-10, review 2023-05-01 (+ a review after R, ignored):
#            CAN004 R3 numerator; CAN005 R10 denominator (no support, not <= R-15m)
#          PIDSECRET05 CAN 2023-02-01, unsuitable 2023-11-01:
#            CAN004 R6 PCA CANPCAPU; CAN005 R5 PCA CANPCAPU
#          PIDSECRET06 review only: not on the register
# One exact duplicate row (PIDSECRET01's diagnosis) is counted as ignored.
TWO_PRACTICES = f"""
practice_code,patient_id,code,date,episode
A81001,PIDSECRET01,{CANCER},2023-06-01,
A81001,PIDSECRET01,{CANCER},2023-06-01,
A81001,PIDSECRET01,{REVIEW},2023-09-01,
A81001,PIDSECRET01,{SUPPORT},2023-07-15,
A81001,PIDSECRET02,{CANCER},2022-10-01,First
A81001,PIDSECRET03,{CANCER},2023-12-15,
B82002,PIDSECRET04,{CANCER},2023-01-10,
B82002,PIDSECRET04,{REVIEW},2023-05-01,
B82002,PIDSECRET04,{REVIEW},2024-05-01,
B82002,PIDSECRET05,{CANCER},2023-02-01,
B82002,PIDSECRET05,{UNSUITABLE},2023-11-01,
B82002,PIDSECRET06,{REVIEW},2023-11-01,
"""
TWO_PRACTICES_ROWS = 12

# Expected (register, numerator, denominator, pcas, exclusions) per practice and indicator.
EXPECTED = {
    ("A81001", "CAN001"): (3, 3, 3, 0, 0),
    ("A81001", "CAN004"): (3, 1, 2, 0, 1),
    ("A81001", "CAN005"): (3, 1, 2, 0, 1),
    ("B82002", "CAN001"): (2, 2, 2, 0, 0),
    ("B82002", "CAN004"): (2, 1, 1, 1, 0),
    ("B82002", "CAN005"): (2, 0, 1, 1, 0),
}


def write_csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def warnings(self) -> str:
        """stderr with rich's line wrapping undone."""
        return " ".join(self.stderr.split())


def _no_secrets(run: Run) -> Run:
    assert SECRET not in run.stderr, "a patient identifier reached stderr"
    assert "Traceback" not in run.stderr
    return run


def invoke(*args) -> Run:
    """`ccrqof calc ...` through click's CliRunner on the command group."""
    result = CliRunner().invoke(cli, ["calc", *map(str, args)], env=NO_WIDTH)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return _no_secrets(Run(result.exit_code, result.stdout, result.stderr))


def run_entry(*args) -> Run:
    """`ccrqof calc ...` through the console-script entry point (`main`), in-process, so that
    user errors are turned into exit codes exactly as the installed command does."""
    code, stdout, stderr = run_main("calc", *args)
    return _no_secrets(Run(code, stdout, stderr))


def run_process(*args, cwd: Path) -> Run:
    """The real command in a separate process: real exit status, separate streams."""
    env = {k: v for k, v in os.environ.items() if k not in NO_WIDTH}
    done = subprocess.run(
        [sys.executable, "-m", "ccrqof", "calc", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
    )
    return _no_secrets(Run(done.returncode, done.stdout, done.stderr))


def records(document: dict) -> dict[tuple, dict]:
    return {(r["practice_code"], r["indicator"]): r for r in document["results"]}


def counts(record: dict) -> tuple:
    return tuple(record[k] for k in ("register", "numerator", "denominator", "pcas", "exclusions"))


@pytest.fixture
def events(tmp_path) -> Path:
    return write_csv(tmp_path / "events.csv", TWO_PRACTICES)


@pytest.fixture
def document(events) -> dict:
    run = invoke(events, "--year", "2023-24", "--format", "json")
    assert run.exit_code == 0, run.stderr
    return json.loads(run.stdout)


# --- summaries -------------------------------------------------------------------------------


def test_table_shows_practice_blocks_and_statuses(events):
    run = invoke(events, "--year", "2023-24")
    assert run.exit_code == 0, run.stderr
    out = run.stdout
    assert "Practice A81001" in out and "Practice B82002" in out
    assert out.index("Practice A81001") < out.index("Practice B82002")
    assert "2023-24" in out and "31 Mar 2024" in out
    # A81001 CAN004 1/2 = 50% (lower 50% reached); CAN005 1/2 below 70%;
    # B82002 CAN004 1/1 = 100% at or above 90%
    for status in ("between", "below lower", "at or above upper"):
        assert status in out
    assert "50.0%" in out and "100.0%" in out
    assert SECRET not in out


def test_json_contract(document):
    assert set(document) >= {"ccrqof_version", "ruleset", "reference_date", "results", "input"}
    assert document["ruleset"] == "2023-24"
    assert document["reference_date"] == "2024-03-31"
    assert isinstance(document["ccrqof_version"], str) and document["ccrqof_version"]
    assert len(document["results"]) == 6  # 2 practices x 3 indicators
    for record in document["results"]:
        assert set(record) >= RECORD_KEYS, RECORD_KEYS - set(record)
        assert isinstance(record["breakdown"], dict)
        for key in ("register", "numerator", "denominator", "pcas", "exclusions"):
            assert isinstance(record[key], int), key
    found = {key: counts(r) for key, r in records(document).items()}
    assert found == EXPECTED


def test_json_register_records(document):
    for practice, size in (("A81001", 3), ("B82002", 2)):
        record = records(document)[(practice, "CAN001")]
        # CAN001: numerator and denominator both equal the register; no thresholds
        assert record["numerator"] == record["denominator"] == record["register"] == size
        assert record["lower_threshold"] is None and record["upper_threshold"] is None
        # achievement = numerator / denominator (docs/reference-rules.md#achievement-and-points),
        # so 1.0 for a non-empty register
        assert record["achievement"] == 1.0
        assert record["points"] == 5  # a non-empty register earns its 5 points
        assert record["max_points"] == 5


def test_json_achievement_points_and_breakdown(document):
    rec = records(document)
    a4, a5, b4, b5 = (
        rec[("A81001", "CAN004")],
        rec[("A81001", "CAN005")],
        rec[("B82002", "CAN004")],
        rec[("B82002", "CAN005")],
    )
    assert a4["achievement"] == pytest.approx(0.5)
    assert a4["points"] == pytest.approx(0.0)  # 6 x clamp((0.5 - 0.5)/0.4) = 0
    assert (a4["lower_threshold"], a4["upper_threshold"], a4["max_points"]) == (0.5, 0.9, 6)
    assert a5["achievement"] == pytest.approx(0.5)
    assert a5["points"] == pytest.approx(0.0)  # below 70%
    assert (a5["lower_threshold"], a5["upper_threshold"], a5["max_points"]) == (0.7, 0.9, 2)
    assert b4["achievement"] == pytest.approx(1.0)
    assert b4["points"] == pytest.approx(6.0)
    assert b5["achievement"] == pytest.approx(0.0)
    assert a4["breakdown"]["DIAGCRV12M"] == 1  # PIDSECRET03
    assert a5["breakdown"]["CANDAT15M"] == 1  # PIDSECRET02
    assert b4["breakdown"]["CANPCAPU"] == 1  # PIDSECRET05
    assert b5["breakdown"]["CANPCAPU"] == 1
    assert sum(a4["breakdown"].values()) == a4["exclusions"] + a4["pcas"]
    assert sum(b5["breakdown"].values()) == b5["exclusions"] + b5["pcas"]


def test_json_input_counts(document):
    counts_ = document["input"]
    assert set(counts_) >= {"rows_read", "rejected", "ignored"}
    assert counts_["rows_read"] == {"events": TWO_PRACTICES_ROWS}
    assert counts_["rejected"] == {}
    ignored = counts_["ignored"]
    duplicates = [v for k, v in ignored.items() if "duplicate" in k]
    after = [v for k, v in ignored.items() if "after the reference date" in k]
    assert duplicates == [1]  # PIDSECRET01's diagnosis row appears twice
    assert after == [1]  # PIDSECRET04's review of 2024-05-01


def test_json_output_file_is_written_atomically_and_stdout_is_empty(events, tmp_path):
    out = tmp_path / "out" / "summary.json"
    out.parent.mkdir()
    out.write_text("old contents, to be replaced")
    run = invoke(events, "--year", "2023-24", "--format", "json", "--output", out)
    assert run.exit_code == 0, run.stderr
    assert run.stdout == ""
    document = json.loads(out.read_text())
    assert {key: counts(r) for key, r in records(document).items()} == EXPECTED
    assert sorted(p.name for p in out.parent.iterdir()) == ["summary.json"]  # no temp files


def test_csv_summary_on_stdout(events):
    run = invoke(events, "--year", "2023-24", "--format", "csv")
    assert run.exit_code == 0, run.stderr
    frame = pd.read_csv(io.StringIO(run.stdout), dtype={"practice_code": str})
    _check_flat_summary(frame)


def test_csv_summary_to_file(events, tmp_path):
    out = tmp_path / "summary.csv"
    run = invoke(events, "--year", "2023-24", "--format", "csv", "--output", out)
    assert run.exit_code == 0, run.stderr
    assert run.stdout == ""
    _check_flat_summary(pd.read_csv(out, dtype={"practice_code": str}))


def test_parquet_summary_to_file(events, tmp_path):
    out = tmp_path / "summary.parquet"
    run = invoke(events, "--year", "2023-24", "--format", "parquet", "--output", out)
    assert run.exit_code == 0, run.stderr
    assert run.stdout == ""
    _check_flat_summary(pd.read_parquet(out))


def _check_flat_summary(frame: pd.DataFrame) -> None:
    assert RECORD_KEYS - {"breakdown"} <= set(frame.columns)
    assert "breakdown" not in frame.columns
    breakdown = {c for c in frame.columns if c.startswith("breakdown_")}
    assert {"breakdown_DIAGCRV12M", "breakdown_CANDAT15M", "breakdown_CANPCAPU"} <= breakdown
    assert len(frame) == 6
    found = {
        (r["practice_code"], r["indicator"]): tuple(
            int(r[k]) for k in ("register", "numerator", "denominator", "pcas", "exclusions")
        )
        for r in frame.to_dict("records")
    }
    assert found == EXPECTED
    row = frame[(frame["practice_code"] == "A81001") & (frame["indicator"] == "CAN004")].iloc[0]
    assert row["breakdown_DIAGCRV12M"] == 1
    row = frame[(frame["practice_code"] == "B82002") & (frame["indicator"] == "CAN005")].iloc[0]
    assert row["breakdown_CANPCAPU"] == 1


def test_parquet_to_stdout_is_a_usage_error(events):
    run = invoke(events, "--year", "2023-24", "--format", "parquet")
    assert run.exit_code == 2
    assert "--output" in run.stderr
    assert run.stdout == ""


# --- patient-level outcomes ------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet"], ids=["csv", "parquet"])
def test_patients_out(events, tmp_path, suffix):
    out = tmp_path / f"patients{suffix}"
    run = invoke(events, "--year", "2023-24", "--format", "json", "--patients-out", out)
    assert run.exit_code == 0, run.stderr
    json.loads(run.stdout)  # the summary is still on stdout, the patients in the file
    if suffix == ".csv":
        frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    else:
        frame = pd.read_parquet(out).astype(object).where(lambda f: f.notna(), "")
    assert list(frame.columns) == PATIENT_COLUMNS
    # every register patient once per indicator: 5 register patients x 3 indicators
    assert len(frame) == 15
    assert "PIDSECRET06" not in set(frame["patient_id"])  # not on the register
    rows = {(r["patient_id"], r["indicator"]): r for r in frame.to_dict("records")}
    r = rows[("PIDSECRET03", "CAN004")]
    # diagnosed 2023-12-15, no review yet: excluded by R5, still achievable until CAN+12m
    assert (r["practice_code"], r["outcome"], r["rule"], r["field"]) == (
        "A81001",
        "exclusion",
        "R5",
        "DIAGCRV12M",
    )
    assert (r["CAN_DAT"], r["MDRV_DAT"], r["due_by"]) == ("2023-12-15", "", "2024-12-15")
    r = rows[("PIDSECRET01", "CAN004")]
    assert (r["outcome"], r["rule"]) == ("numerator", "R3")
    assert (r["CAN_DAT"], r["MDRV_DAT"], r["due_by"]) == ("2023-06-01", "2023-09-01", "")
    r = rows[("PIDSECRET01", "CAN005")]
    assert (r["outcome"], r["SUPP_DAT"]) == ("numerator", "2023-07-15")
    r = rows[("PIDSECRET02", "CAN004")]
    # review window closed on 2023-10-01 (CAN+12m < R): denominator, no due date
    assert (r["outcome"], r["rule"], r["due_by"]) == ("denominator", "R11", "")
    r = rows[("PIDSECRET05", "CAN005")]
    assert (r["practice_code"], r["outcome"], r["field"]) == ("B82002", "pca", "CANPCAPU")
    r = rows[("PIDSECRET04", "CAN001")]
    assert (r["outcome"], r["CAN_DAT"]) == ("numerator", "2023-01-10")


def test_patients_out_with_unknown_extension_is_a_usage_error(events, tmp_path):
    run = run_entry(events, "--year", "2023-24", "--patients-out", tmp_path / "patients.xlsx")
    assert run.exit_code == 2
    assert not (tmp_path / "patients.xlsx").exists()


# --- reference dates -------------------------------------------------------------------------


def test_year_and_as_of_at_pped_give_identical_results(events):
    by_year = invoke(events, "--year", "2023-24", "--format", "json")
    by_date = invoke(events, "--as-of", "2024-03-31", "--format", "json")
    assert by_year.exit_code == by_date.exit_code == 0
    assert json.loads(by_year.stdout) == json.loads(by_date.stdout)


def test_after_retirement_is_local_monitoring_without_points(events):
    run = invoke(events, "--as-of", "2025-06-30", "--format", "json")
    assert run.exit_code == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["status"] == "local_monitoring"
    assert document["ruleset"] == "2024-25"
    assert document["reference_date"] == "2025-06-30"
    assert all(r["points"] is None for r in document["results"])
    # counts are still computed: at R = 2025-06-30 all five diagnoses are on the register
    assert records(document)[("A81001", "CAN001")]["register"] == 3
    assert records(document)[("B82002", "CAN001")]["register"] == 2


def test_in_year_reference_date_moves_the_windows(events):
    # R = 2023-12-31 (2023-24 rules): R-12m = 2022-12-31, R-3m = 2023-09-30, R-15m = 2022-09-30.
    # PIDSECRET03 (diagnosed 2023-12-15) is on the register; nothing after R counts.
    run = invoke(events, "--as-of", "2023-12-31", "--format", "json")
    document = json.loads(run.stdout)
    assert document["ruleset"] == "2023-24"
    a4 = records(document)[("A81001", "CAN004")]
    # PIDSECRET01 numerator; PIDSECRET02 (2022-10-01 > 2022-12-31? no) denominator;
    # PIDSECRET03 excluded by R5
    assert counts(a4) == (3, 1, 2, 0, 1)
    b4 = records(document)[("B82002", "CAN004")]
    # PIDSECRET05's diagnosis 2023-02-01 > R-12m: R5 comes before the PCA (R6)
    assert counts(b4) == (2, 1, 1, 0, 1)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--as-of", "notadate"], id="as-of-not-a-date"),
        pytest.param(["--as-of", "31/03/2024"], id="as-of-uk-date"),
        pytest.param(["--year", "2023-24", "--as-of", "2024-03-31"], id="year-and-as-of"),
        pytest.param(["--format", "xml"], id="unknown-format"),
    ],
)
def test_option_usage_errors(events, args):
    run = run_entry(events, *args)
    assert run.exit_code == 2
    assert run.stdout == ""
    assert "Error" in run.stderr


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--year", "2023-25"], id="bad-year"),
        pytest.param(["--year", "2019-20"], id="year-without-rules"),
        pytest.param(["--as-of", "2020-06-30"], id="date-without-rules"),
    ],
)
def test_years_without_rules_exit_2(events, args):
    run = run_entry(events, *args)
    assert run.exit_code == 2
    assert run.stdout == ""
    assert "Error" in run.stderr


# --- bad input -------------------------------------------------------------------------------


def test_missing_events_file_one_line_no_traceback(tmp_path):
    # a realistic, long path: the message must stay on one line, not be wrapped at 80 columns
    missing = tmp_path / "practice_extracts_for_the_quarter_ending_march" / "events.csv"
    missing.parent.mkdir()
    run = run_entry(missing, "--year", "2023-24")
    assert run.exit_code == 2
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert str(missing) in lines[0]
    assert "does not exist" in lines[0]


def test_cli_group_reports_user_errors_as_ccrqof_errors(tmp_path):
    # the command group raises the library error; the entry point turns it into exit 2
    result = CliRunner().invoke(cli, ["calc", str(tmp_path / "nope.csv"), "--year", "2023-24"])
    assert isinstance(result.exception, CcrqofError)
    assert result.exception.exit_code == 2


def test_unsupported_extension(tmp_path):
    path = write_csv(tmp_path / "events.xlsx", TWO_PRACTICES)
    run = run_entry(path, "--year", "2023-24")
    assert run.exit_code == 2
    assert "events.xlsx" in run.warnings and ".csv" in run.warnings


@pytest.mark.parametrize(
    ("header", "row", "missing"),
    [
        pytest.param("patient_id,code", f"PIDSECRET01,{CANCER}", "'date'", id="no-date"),
        pytest.param("patient_id,date", "PIDSECRET01,2023-06-01", "'code'", id="no-code"),
        pytest.param("code,date", f"{CANCER},2023-06-01", "'patient_id'", id="no-patient"),
    ],
)
def test_missing_required_column(tmp_path, header, row, missing):
    path = write_csv(tmp_path / "events.csv", f"{header}\n{row}\n")
    run = run_entry(path, "--year", "2023-24")
    assert run.exit_code == 2
    assert missing in run.warnings
    assert "events.csv" in run.warnings


def test_output_folder_missing_writes_nothing(events, tmp_path):
    out = tmp_path / "no_such_folder" / "summary.json"
    patients = tmp_path / "patients.csv"
    run = run_entry(
        events, "--year", "2023-24", "--format", "json", "--output", out, "--patients-out", patients
    )
    assert run.exit_code == 2
    assert run.stdout == ""
    assert "no_such_folder" in run.warnings
    assert not out.parent.exists()
    assert not patients.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.csv"]


def test_broken_row_is_rejected_without_leaking_values(tmp_path):
    # an unterminated quote breaks only its own row: rejected and counted, the rest is scored
    path = write_csv(
        tmp_path / "events.csv",
        f'patient_id,code,date\nPIDSECRET01,{CANCER},2023-06-01\nPIDSECRET02,"{CANCER}\n',
    )
    run = run_entry(path, "--year", "2023-24", "--format", "json")
    assert run.exit_code == 0
    doc = json.loads(run.stdout)
    assert doc["input"]["rejected"] == {"broken row (wrong number of fields)": 1}
    assert doc["results"][0]["register"] == 1
    assert "PIDSECRET" not in run.warnings


# --- warnings --------------------------------------------------------------------------------


def test_stale_extract_warning_without_reference_date(events):
    # R = today (local monitoring of the 2024-25 rules); the latest entry is 2024-05-01
    run = invoke(events, "--format", "json")
    assert run.exit_code == 0, run.stderr
    json.loads(run.stdout)
    assert "out of date" in run.warnings
    assert "--as-of" in run.warnings


def test_no_stale_warning_with_year_or_as_of(events):
    for args in (["--year", "2023-24"], ["--as-of", "2025-06-30"]):
        run = invoke(events, *args)
        assert run.exit_code == 0
        assert "out of date" not in run.warnings, args


def test_no_stale_warning_for_a_recent_extract(tmp_path):
    recent = (dt.date.today() - dt.timedelta(days=10)).isoformat()
    path = write_csv(
        tmp_path / "events.csv",
        f"practice_code,patient_id,code,date\nA81001,PIDSECRET01,{CANCER},{recent}\n",
    )
    run = invoke(path)
    assert run.exit_code == 0, run.stderr
    assert "out of date" not in run.warnings


def test_illustrative_codelist_warning(events):
    run = invoke(events, "--year", "2023-24", "--format", "json")
    assert "illustrative" in run.warnings
    assert "--codelists" in run.warnings


def test_cluster_column_needs_no_codelist(tmp_path):
    path = write_csv(
        tmp_path / "events.csv",
        """
practice_code,patient_id,cluster,date
A81001,PIDSECRET01,CAN_COD,2023-06-01
A81001,PIDSECRET01,MDRV_COD,2023-08-01
A81001,PIDSECRET02,CAN_COD,2023-06-01
A81001,PIDSECRET02,CANPCSUPP_COD,2023-06-01
""",
    )
    run = invoke(path, "--year", "2023-24", "--format", "json")
    assert run.exit_code == 0, run.stderr
    assert "illustrative" not in run.warnings
    rec = records(json.loads(run.stdout))
    # both diagnosed 2023-06-01. CAN004: 01 reviewed (R3 numerator), 02 not yet reviewed and
    # diagnosed after R-12m (R5 exclusion). CAN005: 01 no support, not in the last 3 months
    # (R10 denominator); 02 support on the diagnosis day (R3 numerator).
    assert counts(rec[("A81001", "CAN004")]) == (2, 1, 1, 0, 1)
    assert counts(rec[("A81001", "CAN005")]) == (2, 1, 2, 0, 0)


# --- code lists ------------------------------------------------------------------------------

# Local codes: 10001005 is a diagnosis; 10002003 is both a review and a support discussion.
LOCAL_EXTRACT = f"""
practice_code,patient_id,code,date
A81001,PIDSECRET01,10001005,2023-06-01
A81001,PIDSECRET01,10002003,2023-07-01
A81001,PIDSECRET02,10001005,2023-01-15
A81001,PIDSECRET03,{CANCER},2023-06-01
"""
# With the code list below: PIDSECRET01 and 02 are on the register; 03's code is in the
# illustrative list but not in the given one, so 03 is not. 01's 10002003 counts both as the
# review (CAN004 R3) and as the support discussion (CAN005 R3: 2023-07-01 <= CAN+3m).
# 02 has neither: CAN004 R11 and CAN005 R10 denominator (2023-01-15 not <= R-15m, not > R-12m).
LOCAL_EXPECTED = {
    ("A81001", "CAN001"): (2, 2, 2, 0, 0),
    ("A81001", "CAN004"): (2, 1, 2, 0, 0),
    ("A81001", "CAN005"): (2, 1, 2, 0, 0),
}


def test_codelists_pcd_refset_file(tmp_path):
    events = write_csv(tmp_path / "events.csv", LOCAL_EXTRACT)
    refset = write_csv(
        tmp_path / "PCD_Refset_Content.txt",
        "Cluster_ID\tCluster_Description\tSNOMED_code\tSNOMED_code_description\t"
        "PCD_Refset_ID\tService_and_Ruleset\n"
        "CAN_COD\tCancer codes\t10001005\tLocal cancer, with a comma\t999001\tQOF\n"
        "MDRV_COD\tCancer care review codes\t10002003\tCombined review\t999002\tQOF\n"
        "CANPCSUPP_COD\tCancer support codes\t10002003\tCombined review\t999003\tQOF\n"
        "CANINVITE_COD\tCancer invitation codes\t10003008\tLocal invitation\t999005\tQOF\n"
        "CANPCADEC_COD\tCancer PCA declined codes\t10004002\tLocal declined\t999006\tQOF\n"
        "CANPCAPU_COD\tCancer PCA unsuitable codes\t10005001\tLocal unsuitable\t999007\tQOF\n"
        "AST_COD\tAsthma codes\t195967001\tAsthma\t999004\tQOF\n",
    )
    run = invoke(events, "--year", "2023-24", "--format", "json", "--codelists", refset)
    assert run.exit_code == 0, run.stderr
    assert "illustrative" not in run.warnings
    found = {key: counts(r) for key, r in records(json.loads(run.stdout)).items()}
    assert found == LOCAL_EXPECTED


def test_codelists_folder_of_cluster_csvs(tmp_path):
    events = write_csv(tmp_path / "events.csv", LOCAL_EXTRACT)
    folder = tmp_path / "codelists"
    write_csv(folder / "CAN_COD.csv", "code,term\n10001005,Local cancer\n")
    write_csv(folder / "mdrv_cod.csv", "code,term\n10002003,Combined review\n")
    write_csv(folder / "CANPCSUPP_COD.csv", "code,term\n10002003,Combined review\n")
    for cluster, code in (
        ("CANINVITE", "10003008"),
        ("CANPCADEC", "10004002"),
        ("CANPCAPU", "10005001"),
    ):
        write_csv(folder / f"{cluster}_COD.csv", f"code,term\n{code},Local code\n")
    run = invoke(events, "--year", "2023-24", "--format", "json", "--codelists", folder)
    assert run.exit_code == 0, run.stderr
    assert "illustrative" not in run.warnings
    found = {key: counts(r) for key, r in records(json.loads(run.stdout)).items()}
    assert found == LOCAL_EXPECTED


def test_codelists_missing_is_exit_2(tmp_path):
    events = write_csv(tmp_path / "events.csv", LOCAL_EXTRACT)
    run = run_entry(events, "--year", "2023-24", "--codelists", tmp_path / "nope.txt")
    assert run.exit_code == 2
    assert "nope.txt" in run.warnings


# --- rejected rows and single-practice extracts ----------------------------------------------


def test_rejected_rows_counted_by_reason(tmp_path):
    path = write_csv(
        tmp_path / "events.csv",
        f"""
practice_code,patient_id,code,date
A81001,PIDSECRET01,{CANCER},2023-01-15
A81001,,{CANCER},2023-06-01
A81001,PIDSECRET02,25483,2023-06-01
A81001,PIDSECRET03,{CANCER},not a date
A81001,PIDSECRET04,{CANCER},2023-07-01
A81001,PIDSECRET04,{REVIEW},2023-08-01
""",
    )
    run = invoke(path, "--year", "2023-24", "--format", "json")
    assert run.exit_code == 0, run.stderr
    document = json.loads(run.stdout)
    rejected = document["input"]["rejected"]
    assert document["input"]["rows_read"] == {"events": 6}
    assert sum(rejected.values()) == 3
    assert len(rejected) == 3 and set(rejected.values()) == {1}
    assert [n for why, n in rejected.items() if "patient id" in why] == [1]
    assert [n for why, n in rejected.items() if "SNOMED" in why or "code" in why] == [1]
    assert [n for why, n in rejected.items() if "date" in why] == [1]
    rec = records(document)
    # good rows: PIDSECRET01 (2023-01-15, no review, not after R-12m: CAN004 R11 denominator)
    # and PIDSECRET04 (reviewed a month after diagnosis: R3 numerator)
    assert counts(rec[("A81001", "CAN001")]) == (2, 2, 2, 0, 0)
    assert counts(rec[("A81001", "CAN004")]) == (2, 1, 2, 0, 0)
    assert SECRET not in run.stdout


def test_rejected_rows_shown_in_table(tmp_path):
    path = write_csv(
        tmp_path / "events.csv",
        f"practice_code,patient_id,code,date\nA81001,PIDSECRET01,{CANCER},2023-06-01\n"
        f"A81001,PIDSECRET02,{CANCER},32/13/2023\n",
    )
    run = invoke(path, "--year", "2023-24")
    assert run.exit_code == 0, run.stderr
    assert "Rejected: 1" in run.stdout


def test_single_practice_extract_without_practice_code(tmp_path):
    path = write_csv(
        tmp_path / "events.csv",
        f"""
patient_id,code,date
PIDSECRET01,{CANCER},2023-06-01
PIDSECRET01,{REVIEW},2023-09-01
PIDSECRET02,{CANCER},2022-10-01
PIDSECRET03,{CANCER},2023-12-15
""",
    )
    run = invoke(path, "--year", "2023-24", "--format", "json")
    assert run.exit_code == 0, run.stderr
    document = json.loads(run.stdout)
    assert [r["practice_code"] for r in document["results"]] == [None, None, None]
    rec = records(document)
    # same three patients as A81001 in TWO_PRACTICES, without the support discussion
    assert counts(rec[(None, "CAN001")]) == (3, 3, 3, 0, 0)
    assert counts(rec[(None, "CAN004")]) == (3, 1, 2, 0, 1)
    # CAN005: 01 denominator (no support), 02 excluded CANDAT15M, 03 denominator
    assert counts(rec[(None, "CAN005")]) == (3, 0, 2, 0, 1)
    assert rec[(None, "CAN001")]["points"] == 5


def test_single_practice_table_and_patients_out(tmp_path):
    path = write_csv(
        tmp_path / "events.csv", f"patient_id,code,date\nPIDSECRET01,{CANCER},2023-06-01\n"
    )
    out = tmp_path / "patients.csv"
    run = invoke(path, "--year", "2023-24", "--patients-out", out)
    assert run.exit_code == 0, run.stderr
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert frame["practice_code"].tolist() == ["", "", ""]
    assert frame["patient_id"].tolist() == ["PIDSECRET01"] * 3
    assert "(no practice code)" in run.stdout
    assert "cancer register 1 patient" in run.stdout  # one diagnosis since 2003


# --- the real command in a separate process --------------------------------------------------


def test_process_json_stdout_is_only_json(events, tmp_path):
    run = run_process(events.name, "--year", "2023-24", "--format", "json", cwd=tmp_path)
    assert run.exit_code == 0, run.stderr
    document = json.loads(run.stdout)  # nothing but the document on stdout
    assert {key: counts(r) for key, r in records(document).items()} == EXPECTED
    assert "Warning" in run.stderr and "illustrative" in run.warnings
    assert "Warning" not in run.stdout


def test_process_missing_file_exit_2(tmp_path):
    run = run_process("nope.csv", "--year", "2023-24", cwd=tmp_path)
    assert run.exit_code == 2
    assert run.stdout == ""
    assert run.stderr.strip().splitlines() == ["Error: nope.csv: does not exist"]


def test_process_usage_error_exit_2(events, tmp_path):
    run = run_process(events.name, "--year", "2023-24", "--as-of", "2024-03-31", cwd=tmp_path)
    assert run.exit_code == 2
    assert run.stdout == ""
    assert "--year" in run.stderr and "--as-of" in run.stderr
