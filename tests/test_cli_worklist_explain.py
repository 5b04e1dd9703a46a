"""`ccrqof worklist` and `ccrqof explain` end to end, on small extracts written to tmp_path.

Expected values are worked out by hand from docs/reference-rules.md at R = 31 March 2024 (2023-24):
R - 3 months = 31 Dec 2023, R - 12 months = 31 Mar 2023, R - 15 months = 31 Dec 2022,
R - 24 months = 31 Mar 2022. Patient identifiers all start with PIDSECRET so every run can
check that none reaches stderr.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from entry import run_main

from ccrqof.cli import cli
from ccrqof.organisations import ORG_COLUMNS
from ccrqof.worklist import to_contact_columns, will_fail_columns

# the bundled CAN004/CAN005 deadlines run from CAN_DAT
TO_CONTACT_COLUMNS = to_contact_columns(("CAN_DAT",))
WILL_FAIL_COLUMNS = will_fail_columns(("CAN_DAT",))

SECRET = "PIDSECRET"
NO_WIDTH = {"COLUMNS": None, "LINES": None}

# Codes of the bundled illustrative list (src/ccrqof/data/illustrative_codelist.csv).
CANCER = "254837009"  # CAN_COD
REVIEW = "720006006"  # MDRV_COD
SUPPORT = "1239881000000109"  # CANPCSUPP_COD
INVITE = "999000000001007"  # CANINVITE_COD placeholder
UNSUITABLE = "999000000003005"  # CANPCAPU_COD placeholder

# A81001 PIDSECRET01 CAN 2023-06-01, review 2023-09-01, support 2023-07-15: both R3 numerator
#        PIDSECRET02 CAN 2022-10-01: CAN004 R11, deadline 2023-10-01 passed (will fail);
#                    CAN005 R1 (2022-10-01 <= R - 15 months)
#        PIDSECRET03 CAN 2023-12-15: CAN004 R5, due 2024-12-15 (259 days);
#                    CAN005 R10, deadline 2024-03-15 passed (will fail)
#        PIDSECRET07 CAN 2024-02-20, invitation 2024-03-01: CAN004 R5 due 2025-02-20 (326 days);
#                    CAN005 R4 due 2024-05-20 (50 days); invited once, last 2024-03-01
# B82002 PIDSECRET04 CAN 2023-01-10, review 2023-05-01 (+ one after R): CAN004 R3;
#                    CAN005 R10, deadline passed (will fail)
#        PIDSECRET05 CAN 2023-02-01, unsuitable 2023-11-01: PCA for both, deadlines passed
#        PIDSECRET06 review only: not on the register
#        PIDSECRET08 CAN 2023-03-31: CAN004 R11 due 2024-03-31 = R (0 days);
#                    CAN005 R10, deadline passed (will fail)
EVENTS = f"""
practice_code,patient_id,code,date,episode
A81001,PIDSECRET01,{CANCER},2023-06-01,
A81001,PIDSECRET01,{REVIEW},2023-09-01,
A81001,PIDSECRET01,{SUPPORT},2023-07-15,
A81001,PIDSECRET02,{CANCER},2022-10-01,First
A81001,PIDSECRET03,{CANCER},2023-12-15,
A81001,PIDSECRET07,{CANCER},2024-02-20,
A81001,PIDSECRET07,{INVITE},2024-03-01,
B82002,PIDSECRET04,{CANCER},2023-01-10,
B82002,PIDSECRET04,{REVIEW},2023-05-01,
B82002,PIDSECRET04,{REVIEW},2024-05-01,
B82002,PIDSECRET05,{CANCER},2023-02-01,
B82002,PIDSECRET05,{UNSUITABLE},2023-11-01,
B82002,PIDSECRET06,{REVIEW},2023-11-01,
B82002,PIDSECRET08,{CANCER},2023-03-31,
"""
# (list, practice, indicator, patient) in output order: to_contact by due_by, then will_fail.
TO_CONTACT = [
    ("B82002", "CAN004", "PIDSECRET08", "2024-03-31", 0),
    ("A81001", "CAN005", "PIDSECRET07", "2024-05-20", 50),
    ("A81001", "CAN004", "PIDSECRET03", "2024-12-15", 259),
    ("A81001", "CAN004", "PIDSECRET07", "2025-02-20", 326),
]
WILL_FAIL = {
    ("A81001", "CAN004", "PIDSECRET02"),
    ("A81001", "CAN005", "PIDSECRET03"),
    ("B82002", "CAN005", "PIDSECRET04"),
    ("B82002", "CAN005", "PIDSECRET08"),
}
# (practice, indicator): numerator, denominator, listed, needed_for_lower, needed_for_upper
#   A81001 CAN004 1/2 (01; 02). Listed 03, 07 (R5: outside the denominator). Lower 50%: there
#     already. Upper 90%: both give 3/4: cannot be reached.
#   A81001 CAN005 1/2 (01; 03). Listed 07 (R4): 2/3 < 70%: neither threshold can be reached.
#   B82002 CAN004 1/2 (04; 08). Listed 08 (in the denominator): lower there, upper needs 08.
#   B82002 CAN005 0/2 (04, 08). Nothing listed: cannot be reached.
TARGETS = {
    ("A81001", "CAN004"): (1, 2, 2, 0, None),
    ("A81001", "CAN005"): (1, 2, 1, None, None),
    ("B82002", "CAN004"): (1, 2, 1, 0, 1),
    ("B82002", "CAN005"): (0, 2, 0, None, None),
}


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str


def _checked(run: Run) -> Run:
    assert SECRET not in run.stderr, "a patient identifier reached stderr"
    assert "Traceback" not in run.stderr, run.stderr
    return run


def invoke(*args) -> Run:
    """`ccrqof ...` through click's CliRunner on the command group."""
    result = CliRunner().invoke(cli, list(map(str, args)), env=NO_WIDTH)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return _checked(Run(result.exit_code, result.stdout, result.stderr))


def run_entry(*args) -> Run:
    """`ccrqof ...` through the console-script entry point (`main`), in-process, so user errors
    become exit codes exactly as the installed command does."""
    code, stdout, stderr = run_main(*args)
    return _checked(Run(code, stdout, stderr))


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def events(tmp_path) -> Path:
    return write_csv(tmp_path / "events.csv", EVENTS)


def worklist_json(events, *options) -> dict:
    run = invoke("worklist", events, "--year", "2023-24", "--format", "json", *options)
    assert run.exit_code == 0, run.stderr
    return json.loads(run.stdout)


def contact_keys(rows) -> list[tuple]:
    return [(r.get("practice_code", "(no key)"), r["indicator"], r["patient_id"]) for r in rows]


# --- worklist ---------------------------------------------------------------------------------


def test_worklist_json_lists_and_targets(events):
    document = worklist_json(events)
    assert set(document) >= {"reference_date", "ruleset", "targets", "to_contact", "will_fail"}
    assert (document["reference_date"], document["ruleset"]) == ("2024-03-31", "2023-24")
    contact = document["to_contact"]
    assert [
        (r["practice_code"], r["indicator"], r["patient_id"], r["due_by"], r["days_left"])
        for r in contact
    ] == TO_CONTACT
    assert set(contact_keys(document["will_fail"])) == WILL_FAIL
    first = {r["patient_id"] + r["indicator"]: r for r in contact}
    row = first["PIDSECRET07CAN005"]
    assert (row["outcome"], row["rule"], row["field"], row["CAN_DAT"]) == (
        "exclusion",
        "R4",
        "DIAGCSUP3M",
        "2024-02-20",
    )
    assert (row["invitations"], row["last_invitation"], row["pca_codes"]) == (1, "2024-03-01", "")
    row = first["PIDSECRET08CAN004"]
    assert (row["outcome"], row["rule"], row["days_left"]) == ("denominator", "R11", 0)
    assert row["invitations"] == 0 and row["last_invitation"] is None
    targets = {(t["practice_code"], t["indicator"]): t for t in document["targets"]}
    assert {
        key: tuple(
            t[k]
            for k in ("numerator", "denominator", "listed", "needed_for_lower", "needed_for_upper")
        )
        for key, t in targets.items()
    } == TARGETS


def test_worklist_json_rows_hold_exactly_their_columns(events):
    document = worklist_json(events)
    for row in document["to_contact"]:
        assert set(row) == set(TO_CONTACT_COLUMNS), set(row) ^ set(TO_CONTACT_COLUMNS)
    for row in document["will_fail"]:
        assert set(row) == set(WILL_FAIL_COLUMNS), set(row) ^ set(WILL_FAIL_COLUMNS)
        assert row["why"]


def test_worklist_json_counts_are_integers(events):
    """Counts are whole numbers in the document (as `calc` writes them), not 259.0."""
    document = worklist_json(events)
    for row in document["to_contact"]:
        for key in ("days_left", "invitations"):
            assert type(row[key]) is int, (key, row[key])
    for target in document["targets"]:
        for key in ("numerator", "denominator", "listed", "needed_for_lower", "needed_for_upper"):
            assert target[key] is None or type(target[key]) is int, (key, target[key])


def test_worklist_numbers_match_calc(events):
    """The worklist header's numerator and denominator are calc's, in JSON and in the table;
    where calc says a threshold is already reached, so does the worklist."""
    calc = invoke("calc", events, "--year", "2023-24", "--format", "json")
    assert calc.exit_code == 0, calc.stderr
    scored = {(r["practice_code"], r["indicator"]): r for r in json.loads(calc.stdout)["results"]}
    document = worklist_json(events)
    table = invoke("worklist", events, "--year", "2023-24")
    text = " ".join(table.stdout.split())
    assert len(document["targets"]) == 4
    for t in document["targets"]:
        record = scored[(t["practice_code"], t["indicator"])]
        for key in ("numerator", "denominator", "achievement"):
            assert t[key] == record[key], (t, key)
        assert f"{t['indicator']} {record['numerator']}/{record['denominator']} achieved" in text
        for threshold in ("needed_for_lower", "needed_for_upper"):
            if record[threshold] == 0:
                assert t[threshold] == 0


def test_worklist_table(events):
    run = invoke("worklist", events, "--year", "2023-24")
    assert run.exit_code == 0, run.stderr
    out = " ".join(run.stdout.split())  # undo rich's wrapping
    assert out.index("Practice A81001") < out.index("Practice B82002")
    assert "CAN004 1/2 achieved (50.0%); 2 can still be achieved" in out
    assert "the upper: cannot be reached from this list" in out
    assert "To reach the lower threshold: 0 of them; the upper: 1 of them" in out  # B82002
    assert "PIDSECRET07" in out and "15 Dec 2024" in out and "259" in out
    assert "1, last 01 Mar 2024" in out  # PIDSECRET07 invited once
    assert "Will count as not achieved" in out and "PIDSECRET02" in out
    for absent in ("PIDSECRET01", "PIDSECRET05", "PIDSECRET06"):
        assert absent not in out  # numerator, PCA past deadline, not on the register


def test_worklist_table_to_file(events, tmp_path):
    out = tmp_path / "worklist.txt"
    run = invoke("worklist", events, "--year", "2023-24", "--output", out)
    assert run.exit_code == 0, run.stderr
    assert run.stdout == ""
    assert "Practice A81001" in out.read_text()


def _int(value) -> int:
    """A whole number read back from CSV text or Parquet (the int type is checked apart)."""
    number = float(value)
    assert number.is_integer(), value
    return int(number)


def _check_frame(frame: pd.DataFrame) -> None:
    assert list(frame.columns[:11]) == [
        "reference_date",
        "ruleset",
        *ORG_COLUMNS,  # blank without --org-map: the same columns every run
        "list",
        "indicator",
        "patient_id",
    ]
    assert set(TO_CONTACT_COLUMNS) | set(WILL_FAIL_COLUMNS) <= set(frame.columns)
    contact = frame[frame["list"] == "to_contact"]
    failing = frame[frame["list"] == "will_fail"]
    assert set(frame["list"]) == {"to_contact", "will_fail"}
    assert [
        (r["practice_code"], r["indicator"], r["patient_id"], r["due_by"], _int(r["days_left"]))
        for r in contact.to_dict("records")
    ] == TO_CONTACT
    assert set(contact_keys(failing.to_dict("records"))) == WILL_FAIL


def test_worklist_csv_on_stdout(events):
    run = invoke("worklist", events, "--year", "2023-24", "--format", "csv")
    assert run.exit_code == 0, run.stderr
    _check_frame(pd.read_csv(io.StringIO(run.stdout), dtype=str, keep_default_na=False))


def test_worklist_csv_writes_whole_numbers(events):
    run = invoke("worklist", events, "--year", "2023-24", "--format", "csv")
    frame = pd.read_csv(io.StringIO(run.stdout), dtype=str, keep_default_na=False)
    contact = frame[frame["list"] == "to_contact"]
    assert list(contact["days_left"]) == ["0", "50", "259", "326"]
    assert list(contact["invitations"]) == ["0", "1", "0", "1"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_worklist_frame_to_file(events, tmp_path, fmt):
    out = tmp_path / f"worklist.{fmt}"
    run = invoke("worklist", events, "--year", "2023-24", "--format", fmt, "--output", out)
    assert run.exit_code == 0, run.stderr
    assert run.stdout == ""
    if fmt == "csv":
        frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    else:
        frame = pd.read_parquet(out)
    _check_frame(frame)


def test_worklist_parquet_needs_output(events):
    run = run_entry("worklist", events, "--year", "2023-24", "--format", "parquet")
    assert run.exit_code == 2
    assert "--output" in run.stderr
    assert run.stdout == ""


def test_worklist_indicator_option(events):
    document = worklist_json(events, "--indicator", "CAN005")
    assert contact_keys(document["to_contact"]) == [("A81001", "CAN005", "PIDSECRET07")]
    assert set(contact_keys(document["will_fail"])) == {k for k in WILL_FAIL if k[1] == "CAN005"}
    assert {t["indicator"] for t in document["targets"]} == {"CAN005"}
    both = worklist_json(events, "--indicator", "CAN004", "--indicator", "CAN005")
    assert both == worklist_json(events)


@pytest.mark.parametrize(
    ("days", "kept"),
    [("0", 1), ("49", 1), ("50", 2), ("258", 2), ("259", 3), ("326", 4)],
)
def test_worklist_within(events, days, kept):
    """--within N keeps deadlines up to R + N days; the will-fail list is not filtered."""
    document = worklist_json(events, "--within", days)
    assert contact_keys(document["to_contact"]) == [k[:3] for k in TO_CONTACT[:kept]]
    assert set(contact_keys(document["will_fail"])) == WILL_FAIL


def test_worklist_within_negative_is_a_usage_error(events):
    run = run_entry("worklist", events, "--year", "2023-24", "--within", "-1")
    assert run.exit_code == 2


def test_worklist_as_of_in_year(events):
    """At R = 2024-01-31 (in-year) the windows move with R: PIDSECRET03 (CAN 2023-12-15) is
    inside CAN005's 3 months (R4, due 2024-03-15); PIDSECRET07's entries are after R."""
    run = invoke("worklist", events, "--as-of", "2024-01-31", "--format", "json")
    assert run.exit_code == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["reference_date"] == "2024-01-31"
    rows = {(r["indicator"], r["patient_id"]): r for r in document["to_contact"]}
    assert rows[("CAN005", "PIDSECRET03")]["due_by"] == "2024-03-15"
    assert rows[("CAN005", "PIDSECRET03")]["days_left"] == 44
    assert not any(pid == "PIDSECRET07" for _, pid in rows)


def test_worklist_practice_without_a_denominator(tmp_path):
    """0/0 is 'n/a', not 'already reached': C83003's one patient (diagnosed 10 Feb 2024: CAN004
    R5, CAN005 R4) gives 1/1 when achieved, so 1 is needed; D84004 has no one to list, so
    the thresholds cannot be reached from the list."""
    events = write_csv(
        tmp_path / "events.csv",
        f"""
practice_code,patient_id,code,date
C83003,PIDSECRET01,{CANCER},2024-02-10
D84004,PIDSECRET02,{REVIEW},2023-11-01
""",
    )
    document = worklist_json(events)
    targets = {
        (t["practice_code"], t["indicator"]): (
            t["listed"],
            t["needed_for_lower"],
            t["needed_for_upper"],
        )
        for t in document["targets"]
    }
    assert targets == {
        ("C83003", "CAN004"): (1, 1, 1),
        ("C83003", "CAN005"): (1, 1, 1),
        ("D84004", "CAN004"): (0, None, None),
        ("D84004", "CAN005"): (0, None, None),
    }
    run = invoke("worklist", events, "--year", "2023-24")
    out = " ".join(run.stdout.split())
    assert "To reach the lower threshold: 0 of them" not in out
    assert (
        "0/0 achieved (n/a); 1 can still be achieved. To reach the lower threshold: 1 of them"
        in out
    )
    assert (
        "0/0 achieved (n/a); 0 can still be achieved. To reach the lower threshold: cannot" in out
    )


def test_worklist_without_practice_codes(tmp_path):
    """No practice column: one practice with no code. PIDSECRET02 (CAN004 R5) is listed and
    counts towards the targets (0/1 now; achieving them gives 1/2 = 50%); every will-fail row
    keeps its practice_code key (null)."""
    events = write_csv(
        tmp_path / "events.csv",
        f"""
patient_id,code,date
PIDSECRET01,{CANCER},2022-10-01
PIDSECRET02,{CANCER},2023-10-01
""",
    )
    document = worklist_json(events)
    assert contact_keys(document["to_contact"]) == [(None, "CAN004", "PIDSECRET02")]
    assert set(contact_keys(document["will_fail"])) == {
        (None, "CAN004", "PIDSECRET01"),
        (None, "CAN005", "PIDSECRET02"),
    }
    can004 = next(t for t in document["targets"] if t["indicator"] == "CAN004")
    assert (can004["listed"], can004["needed_for_lower"], can004["needed_for_upper"]) == (
        1,
        1,
        None,
    )
    run = invoke("worklist", events, "--year", "2023-24")
    out = " ".join(run.stdout.split())
    assert "Practice (no practice code)" in out
    assert "CAN004 0/1 achieved (0.0%); 1 can still be achieved" in out


SAMPLE = Path(__file__).parents[1] / "sample_data"


@pytest.mark.skipif(not (SAMPLE / "events.csv").exists(), reason="no sample data")
def test_worklist_on_the_sample_data_matches_calc(tmp_path):
    """The bundled synthetic practice at 31 Jan 2024 (the how-to's example): the header numbers
    are calc's, to_contact is calc's --patients-out rows with a due_by, will_fail its
    denominator rows without one; no patient id reaches stderr."""
    inputs = (SAMPLE / "events.csv", "--patients", SAMPLE / "patients.csv", "--as-of", "2024-01-31")
    outcomes_file = tmp_path / "outcomes.csv"
    calc = invoke("calc", *inputs, "--format", "json", "--patients-out", outcomes_file)
    assert calc.exit_code == 0, calc.stderr
    scored = {
        (r["practice_code"], r["indicator"]): (r["numerator"], r["denominator"])
        for r in json.loads(calc.stdout)["results"]
    }
    run = invoke("worklist", *inputs, "--format", "json")
    assert run.exit_code == 0, run.stderr
    document = json.loads(run.stdout)
    for t in document["targets"]:
        assert (t["numerator"], t["denominator"]) == scored[(t["practice_code"], t["indicator"])]
    everyone = pd.read_csv(outcomes_file, dtype=str, keep_default_na=False)
    outcomes = everyone[everyone["indicator"].isin(["CAN004", "CAN005"])]
    due = outcomes[outcomes["due_by"] != ""]
    failing = outcomes[(outcomes["due_by"] == "") & (outcomes["outcome"] == "denominator")]
    keys = ["practice_code", "indicator", "patient_id"]
    # screening: the unscreened, and the screened whose test lapses by 31 March 2024
    screening = everyone[everyone["indicator"].str.startswith("CS")].copy()
    window = screening["indicator"].map({"CS005": 42, "CS006": 66})
    tested = pd.to_datetime(screening["SMEAR_DAT"].replace("", None))
    lapses = [t + pd.DateOffset(months=m) for t, m in zip(tested, window, strict=True)]
    lapsing = (screening["outcome"] == "numerator") & (
        pd.Series(lapses, index=screening.index) <= pd.Timestamp("2024-03-31")
    )
    due = pd.concat([due, screening[(screening["outcome"] == "denominator") | lapsing]])
    assert lapsing.sum() > 5
    assert len(document["to_contact"]) > 10 and len(document["will_fail"]) > 5
    assert set(contact_keys(document["to_contact"])) == set(due[keys].itertuples(index=False))
    assert set(contact_keys(document["will_fail"])) == set(failing[keys].itertuples(index=False))
    for row in document["to_contact"]:
        assert row["due_by"] >= "2024-01-31"
    ids = set(outcomes["patient_id"])
    for text in (calc.stderr, run.stderr):
        assert not any(pid in text for pid in ids), "a patient identifier reached stderr"


# --- explain ----------------------------------------------------------------------------------


def test_explain_table(events):
    run = invoke("explain", events, "--year", "2023-24", "--patient", "PIDSECRET03")
    assert run.exit_code == 0, run.stderr
    out = " ".join(run.stdout.split())
    assert "Patient PIDSECRET03 at practice A81001" in out
    assert "2023-12-15 cancer diagnosis CAN_COD 254837009" in out
    assert "CAN004 Cancer care review within 12 months of diagnosis: exclusion at R5" in out
    assert "still achievable until 2024-12-15" in out
    assert "R1 – not matched: latest cancer diagnosis (CAN_DAT) 15 Dec 2023 is not on or" in out
    assert "→ R5 – matched:" in out
    assert "→ R10 – matched: everyone still in the cascade" in out  # CAN005


def test_explain_table_marks_entries_after_r(events):
    run = invoke("explain", events, "--year", "2023-24", "--patient", "PIDSECRET04")
    assert run.exit_code == 0, run.stderr
    out = " ".join(run.stdout.split())
    assert "2024-05-01 cancer care review (after R: ignored)" in out
    assert "numerator at R3" in out


def test_explain_json(events):
    run = invoke(
        "explain", events, "--year", "2023-24", "--patient", "PIDSECRET07", "--format", "json"
    )
    assert run.exit_code == 0, run.stderr
    document = json.loads(run.stdout)
    [explanation] = document["explanations"]
    assert explanation["patient_id"] == "PIDSECRET07"
    assert explanation["practice_code"] == "A81001"
    assert (explanation["reference_date"], explanation["ruleset"]) == ("2024-03-31", "2023-24")
    assert [(t["date"], t["cluster"], t["after_R"]) for t in explanation["timeline"]] == [
        ("2024-02-20", "CAN_COD", False),
        ("2024-03-01", "CANINVITE_COD", False),
    ]
    indicators = {i["indicator"]: i for i in explanation["indicators"]}
    assert list(indicators) == ["CAN001", "CAN004", "CAN005"]
    can005 = indicators["CAN005"]
    assert (can005["rule"], can005["field"], can005["due_by"]) == ("R4", "DIAGCSUP3M", "2024-05-20")
    assert [s["rule"] for s in can005["steps"]] == ["R1", "R2", "R3", "R4"]
    assert [s["matched"] for s in can005["steps"]] == [False, False, False, True]
    assert [s["decided"] for s in can005["steps"]] == [False, False, False, True]
    assert "is after 31 Dec 2023" in can005["steps"][-1]["why"]


def test_explain_json_to_file(events, tmp_path):
    out = tmp_path / "why.json"
    run = invoke(
        "explain",
        events,
        "--year",
        "2023-24",
        "--patient",
        "PIDSECRET02",
        "--format",
        "json",
        "--output",
        out,
    )
    assert run.exit_code == 0, run.stderr
    assert run.stdout == ""
    [explanation] = json.loads(out.read_text())["explanations"]
    indicators = {i["indicator"]: i for i in explanation["indicators"]}
    assert (indicators["CAN004"]["rule"], indicators["CAN004"]["due_by"]) == ("R11", None)


def test_explain_agrees_with_worklist(events):
    """Every listed patient's explanation gives the same rule and due_by as the worklist."""
    document = worklist_json(events)
    for row in document["to_contact"] + document["will_fail"]:
        run = invoke(
            "explain",
            events,
            "--year",
            "2023-24",
            "--patient",
            row["patient_id"],
            "--format",
            "json",
        )
        assert run.exit_code == 0, run.stderr
        [explanation] = json.loads(run.stdout)["explanations"]
        ind = next(i for i in explanation["indicators"] if i["indicator"] == row["indicator"])
        assert ind["rule"] == row["rule"]
        assert ind["due_by"] == row.get("due_by")


def test_explain_says_when_there_is_no_registration_data(events):
    """docs/reference-rules.md#who-is-counted: without registration data the tool must say so (as
    calc and worklist do); the explanation's 'registration date unknown' depends on it."""
    run = invoke("explain", events, "--year", "2023-24", "--patient", "PIDSECRET03")
    assert run.exit_code == 0, run.stderr
    assert "registration date unknown" in " ".join(run.stdout.split())
    assert "No registration data" in run.stderr


def test_explain_unknown_patient(events):
    run = run_entry("explain", events, "--year", "2023-24", "--patient", "PIDSECRET99")
    assert run.exit_code == 2
    assert "no patient with that id" in run.stderr
    assert "PIDSECRET99" not in run.stderr + run.stdout
    assert run.stdout == ""


def test_explain_patient_not_at_that_practice(events):
    run = run_entry(
        "explain", events, "--year", "2023-24", "--patient", "PIDSECRET03", "--practice", "B82002"
    )
    assert run.exit_code == 2
    assert "no patient with that id" in run.stderr
    assert run.stdout == ""


def test_explain_needs_a_patient(events):
    run = run_entry("explain", events, "--year", "2023-24")
    assert run.exit_code == 2
    assert "--patient" in run.stderr


def test_explain_same_id_under_two_practices(tmp_path):
    events = write_csv(
        tmp_path / "two.csv",
        f"""
practice_code,patient_id,code,date
A81001,PIDSECRET01,{CANCER},2023-06-15
B82002,PIDSECRET01,{CANCER},2022-10-01
""",
    )
    run = invoke(
        "explain", events, "--year", "2023-24", "--patient", "PIDSECRET01", "--format", "json"
    )
    assert run.exit_code == 0, run.stderr
    found = {
        e["practice_code"]: {i["indicator"]: i["rule"] for i in e["indicators"]}
        for e in json.loads(run.stdout)["explanations"]
    }
    assert found == {
        "A81001": {"CAN001": "R1", "CAN004": "R5", "CAN005": "R10"},
        "B82002": {"CAN001": "R1", "CAN004": "R11", "CAN005": "R1"},
    }
    run = invoke(
        "explain",
        events,
        "--year",
        "2023-24",
        "--patient",
        "PIDSECRET01",
        "--practice",
        "B82002",
    )
    assert run.exit_code == 0, run.stderr
    assert "at practice B82002" in run.stdout and "A81001" not in run.stdout


def test_explain_with_patients_file(tmp_path):
    """With registration data, a deregistered patient is 'not registered' and a newly
    registered one is a REG1_DAT3 PCA."""
    events = write_csv(
        tmp_path / "events.csv",
        f"""
patient_id,code,date
PIDSECRET01,{CANCER},2023-06-15
PIDSECRET02,{CANCER},2022-10-01
""",
    )
    patients = write_csv(
        tmp_path / "patients.csv",
        """
patient_id,registration_date,deregistration_date
PIDSECRET01,2000-01-01,2024-01-01
PIDSECRET02,2024-02-01,
""",
    )
    common = ("--patients", patients, "--year", "2023-24", "--format", "json")
    run = invoke("explain", events, "--patient", "PIDSECRET01", *common)
    assert run.exit_code == 0, run.stderr
    [e] = json.loads(run.stdout)["explanations"]
    assert [i["outcome"] for i in e["indicators"]] == [
        "not registered",
        "not on the register",
        "not on the register",
    ]
    assert [t["what"] for t in e["timeline"]] == ["registered", "cancer diagnosis", "deregistered"]
    run = invoke("explain", events, "--patient", "PIDSECRET02", *common)
    [e] = json.loads(run.stdout)["explanations"]
    can004 = next(i for i in e["indicators"] if i["indicator"] == "CAN004")
    assert (can004["rule"], can004["field"]) == ("R10", "REG1_DAT3")
    assert "1 Feb 2024 is after 31 Dec 2023" in can004["steps"][-1]["why"]


# --- privacy ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("worklist", "--year", "2023-24"),
        ("worklist", "--year", "2023-24", "--format", "json"),
        ("worklist", "--as-of", "2024-01-31", "--within", "30"),
        ("explain", "--year", "2023-24", "--patient", "PIDSECRET03"),
        ("explain", "--year", "2023-24", "--patient", "PIDSECRET03", "--format", "json"),
        ("explain", "--year", "2023-24", "--patient", "PIDSECRET03", "--practice", "X"),
        ("explain", "--year", "2023-24", "--patient", "PIDSECRETX", "--format", "json"),
        ("worklist", "--year", "2023-24", "--indicator", "CAN009"),
    ],
    ids=lambda a: " ".join(a),
)
def test_patient_ids_never_reach_stderr(events, args):
    """Every run checks stderr (see _checked); these include errors and warnings."""
    command, *options = args
    run = run_entry(command, events, *options)
    assert run.stderr  # the illustrative code list and no-registration warnings at least
