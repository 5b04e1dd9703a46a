"""Batch scoring (issue 5): many inputs, roll-ups, the published format and the progress display.

Multi-file inputs are checked against one concatenated file of the same synthetic extract
(`make_extract`, reference date 31 March 2024, rules 2023-24); roll-ups against the sums of the
practice rows of the same run; the published format against the JSON summary. Small hand-made
extracts use the bundled illustrative code list and the windows of docs/reference-rules.md#time at
R = 2024-03-31: R - 12 months = 2023-03-31, R - 15 months = 2022-12-31, R - 24 months =
2022-03-31.
"""

from __future__ import annotations

import errno
import gzip
import json
import math
import os
import re
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from entry import run_main

from ccrqof.cli import Stages
from ccrqof.synthetic import make_extract, write_extract

NO_WIDTH = {"COLUMNS": None, "LINES": None}
COUNTS = ("register", "numerator", "denominator", "pcas", "exclusions")
YEAR = ("--year", "2023-24")  # R = 2024-03-31, make_extract's default reference date

# Codes of the bundled illustrative list (src/ccrqof/data/illustrative_codelist.csv).
CANCER = "254837009"  # CAN_COD
REVIEW = "720006006"  # MDRV_COD


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def messages(self) -> str:
        """stderr with rich's line wrapping undone."""
        return " ".join(self.stderr.split())


def run(*args) -> Run:
    """`ccrqof calc ...` through the console-script entry point, in-process, so that user
    errors become exit codes exactly as the installed command does."""
    code, stdout, stderr = run_main("calc", *args)
    assert "Traceback" not in stderr
    return Run(code, stdout, stderr)


def run_json(*args) -> dict:
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def by_key(document: dict, code: str = "practice_code") -> dict[tuple, dict]:
    return {(r[code], r["indicator"]): r for r in document["results"]}


def num_den(record: dict) -> tuple[int, int]:
    return record["numerator"], record["denominator"]


def write_csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


# --- one synthetic extract, and the same rows split in many ways --------------------------------


@dataclass
class Synthetic:
    root: Path
    events: pd.DataFrame
    whole: Path  # all events in one CSV
    patients: Path
    baseline: dict  # the JSON summary of the whole file
    outcomes: pd.DataFrame  # --patients-out of the whole file


def _outcomes(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Synthetic:
    root = tmp_path_factory.mktemp("batch")
    events, patients = make_extract(n_practices=4, patients_per_practice=300, seed=20240331)
    whole, patients_file = write_extract(events, patients, root / "whole")
    out = root / "whole-outcomes.csv"
    baseline = run_json(whole, "--patients", patients_file, *YEAR, "--patients-out", out)
    assert len(baseline["results"]) == 20  # 4 practices x 5 indicators (CAN and CS)
    return Synthetic(root, events, whole, patients_file, baseline, _outcomes(out))


def _halves(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Alternate rows: every practice (and most patients) is spread over both halves."""
    return events.iloc[0::2], events.iloc[1::2]


def _two_csvs(s: Synthetic, folder: Path) -> list[Path]:
    folder.mkdir()
    paths = []
    for i, part in enumerate(_halves(s.events), start=1):
        part.to_csv(folder / f"events-{i}.csv", index=False)
        paths.append(folder / f"events-{i}.csv")
    return paths


def _layout_two_files(s: Synthetic, folder: Path) -> list[str]:
    return [str(p) for p in _two_csvs(s, folder)]


def _layout_glob(s: Synthetic, folder: Path) -> list[str]:
    _two_csvs(s, folder)
    return [str(folder / "events-*.csv")]  # one argument: the command expands the pattern


def _layout_folder(s: Synthetic, folder: Path) -> list[str]:
    _two_csvs(s, folder)
    return [str(folder)]


def _layout_gz_and_parquet(s: Synthetic, folder: Path) -> list[str]:
    folder.mkdir()
    first, second = _halves(s.events)
    with gzip.open(folder / "events-1.csv.gz", "wt", encoding="utf-8", newline="") as fh:
        first.to_csv(fh, index=False)
    second.to_parquet(folder / "events-2.parquet", index=False)
    return [str(folder / "events-1.csv.gz"), str(folder / "events-2.parquet")]


def _partitioned(s: Synthetic, folder: Path, suffix: str) -> list[str]:
    """practice_code=XXX/part-N files without a practice_code column, two files a practice."""
    for practice, rows in s.events.groupby("practice_code"):
        part = folder / f"practice_code={practice}"
        part.mkdir(parents=True)
        for i, half in enumerate(_halves(rows.drop(columns="practice_code"))):
            if suffix == "parquet":
                half.to_parquet(part / f"part-{i}.parquet", index=False)
            else:
                half.to_csv(part / f"part-{i}.csv", index=False)
    return [str(folder)]


def _layout_parquet_dataset(s: Synthetic, folder: Path) -> list[str]:
    return _partitioned(s, folder, "parquet")


def _layout_partitioned_csv_folder(s: Synthetic, folder: Path) -> list[str]:
    return _partitioned(s, folder, "csv")


LAYOUTS = {
    "two CSV files": _layout_two_files,
    "quoted glob": _layout_glob,
    "folder of CSVs": _layout_folder,
    "CSV.gz + Parquet": _layout_gz_and_parquet,
    "partitioned Parquet dataset": _layout_parquet_dataset,
    "partitioned CSV folder": _layout_partitioned_csv_folder,
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_split_inputs_give_the_results_of_one_file(synthetic, layout, tmp_path):
    inputs = LAYOUTS[layout](synthetic, tmp_path / "events")
    out = tmp_path / "outcomes.csv"
    document = run_json(*inputs, "--patients", synthetic.patients, *YEAR, "--patients-out", out)
    assert document["results"] == synthetic.baseline["results"]
    pd.testing.assert_frame_equal(_outcomes(out), synthetic.outcomes)
    # every events row read once, whichever files they came from; the same rows counted aside
    assert document["input"]["rows_read"] == synthetic.baseline["input"]["rows_read"]
    assert document["input"]["rejected"] == synthetic.baseline["input"]["rejected"] == {}
    assert document["input"]["ignored"] == synthetic.baseline["input"]["ignored"]


def test_patient_id_under_two_practices_is_two_patients_and_counted(tmp_path):
    # PIDTWO under A81001: CAN 2023-06-01, review 2023-09-01 -> CAN004 numerator (R3).
    # PIDTWO under B82002 (in another file): CAN 2022-10-01 and nothing else ->
    #   CAN004 denominator only (not <= R-24m, not > R-12m); CAN005 exclusion CANDAT15M.
    a = write_csv(
        tmp_path / "a.csv",
        f"""
practice_code,patient_id,code,date,episode
A81001,PIDTWO,{CANCER},2023-06-01,
A81001,PIDTWO,{REVIEW},2023-09-01,
""",
    )
    b = write_csv(
        tmp_path / "b.csv",
        f"""
practice_code,patient_id,code,date,episode
B82002,PIDTWO,{CANCER},2022-10-01,
""",
    )
    out = tmp_path / "outcomes.csv"
    result = run(a, b, *YEAR, "--format", "json", "--patients-out", out)
    assert result.exit_code == 0, result.stderr
    assert "PIDTWO" not in result.stderr
    document = json.loads(result.stdout)
    ignored = document["input"]["ignored"]
    assert ignored["patients with entries of interest under more than one practice"] == 1
    rec = by_key(document)
    assert rec[("A81001", "CAN001")]["register"] == 1  # not merged into one patient ...
    assert rec[("B82002", "CAN001")]["register"] == 1  # ... but one at each practice
    assert num_den(rec[("A81001", "CAN004")]) == (1, 1)  # the A81001 record: reviewed
    assert num_den(rec[("B82002", "CAN004")]) == (0, 1)  # the B82002 record: not reviewed
    assert rec[("B82002", "CAN005")]["breakdown"]["CANDAT15M"] == 1  # 2022-10-01 <= 2022-12-31
    outcomes = _outcomes(out)
    can001 = outcomes[outcomes["indicator"] == "CAN001"]
    assert sorted(zip(can001["practice_code"], can001["patient_id"], strict=True)) == [
        ("A81001", "PIDTWO"),
        ("B82002", "PIDTWO"),
    ]


def test_some_files_with_practice_code_and_some_without_is_exit_2(tmp_path):
    with_code = write_csv(
        tmp_path / "a.csv",
        f"practice_code,patient_id,code,date\nA81001,P1,{CANCER},2023-06-01\n",
    )
    without = write_csv(tmp_path / "b.csv", f"patient_id,code,date\nP2,{CANCER},2023-06-01\n")
    result = run(with_code, without, *YEAR, "--format", "json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "some events files have a practice code column and others do not" in result.messages
    assert "P1" not in result.stderr and "P2" not in result.stderr


def test_file_without_practice_code_in_a_partition_folder_gets_it(tmp_path):
    # the same two files, but the one without the column sits in practice_code=B82002/: fine
    write_csv(
        tmp_path / "in" / "a.csv",
        f"practice_code,patient_id,code,date\nA81001,P1,{CANCER},2023-06-01\n",
    )
    write_csv(
        tmp_path / "in" / "practice_code=B82002" / "b.csv",
        f"patient_id,code,date\nP2,{CANCER},2023-06-01\n",
    )
    document = run_json(tmp_path / "in", *YEAR)
    rec = by_key(document)
    assert rec[("A81001", "CAN001")]["register"] == 1  # P1
    assert rec[("B82002", "CAN001")]["register"] == 1  # P2, practice from the folder name


# --- roll-ups -----------------------------------------------------------------------------------

ORG_HEADER = "practice_code,practice_name,pcn_code,pcn_name,icb_code,icb_name\n"
# Three PCNs in two ICBs, so that the two levels group differently.
ORG_ROWS = {
    "A81001": "A81001,North Surgery,P1,PCN_one,I1,ICB_one",
    "A81002": "A81002,South Surgery,P1,PCN_one,I1,ICB_one",
    "A81003": "A81003,East Surgery,P2,PCN_two,I2,ICB_two",
    "A81004": "A81004,West Surgery,P3,PCN_three,I2,ICB_two",
}
PCN_OF = {"A81001": "P1", "A81002": "P1", "A81003": "P2", "A81004": "P3"}
ICB_OF = {"A81001": "I1", "A81002": "I1", "A81003": "I2", "A81004": "I2"}


def org_map(path: Path, practices=tuple(ORG_ROWS)) -> Path:
    return write_csv(path, ORG_HEADER + "\n".join(ORG_ROWS[p] for p in practices) + "\n")


def _check_sums(practice_doc: dict, rolled_doc: dict, level: str, group_of: dict) -> None:
    """Every count and breakdown of a group is the sum over its practices."""
    code = f"{level}_code"
    practice_rows = practice_doc["results"]
    rolled = by_key(rolled_doc, code)
    expected_keys = {(group_of[r["practice_code"]], r["indicator"]) for r in practice_rows}
    assert set(rolled) == expected_keys
    for (group, indicator), record in rolled.items():
        members = [
            r
            for r in practice_rows
            if group_of[r["practice_code"]] == group and r["indicator"] == indicator
        ]
        assert record["practices"] == len(members)
        for key in COUNTS:
            if key == "register" and members[0][key] is None:  # CS: no register
                assert record[key] is None, (group, indicator)
                continue
            assert record[key] == sum(r[key] for r in members), (group, indicator, key)
        breakdown = Counter()
        for r in members:
            breakdown.update(r["breakdown"])
        assert record["breakdown"] == dict(breakdown), (group, indicator)
        # achievement recomputed from the sums, never an average of the practices' rates
        num, den = record["numerator"], record["denominator"]
        assert record["achievement"] == (pytest.approx(num / den) if den else None)
        assert record["points"] is None  # points are a practice concept
        if record["upper_threshold"] is not None and den:
            # patients still needed for the upper threshold, from the summed counts
            upper = record["upper_threshold"]
            assert record["needed_for_upper"] == max(0, math.ceil(round(upper * den, 9) - num))


@pytest.fixture(scope="module")
def rollups(synthetic) -> dict:
    org = org_map(synthetic.root / "org.csv")
    inputs = (synthetic.whole, "--patients", synthetic.patients, *YEAR, "--org-map", org)
    return {by: run_json(*inputs, "--by", by) for by in ("practice", "pcn", "icb")}


ORG_FIELDS = ORG_HEADER.strip().split(",")


def test_practice_level_with_org_map_adds_names_and_keeps_results(synthetic, rollups):
    document = rollups["practice"]
    mapped = {r["practice_code"]: [r[k] for k in ORG_FIELDS] for r in document["results"]}
    assert mapped == {p: row.split(",") for p, row in ORG_ROWS.items()}
    # the organisation columns lead every record, in one order, with or without a map
    for record in document["results"] + synthetic.baseline["results"]:
        assert list(record)[: len(ORG_FIELDS) + 1] == ORG_FIELDS + ["indicator"]
    assert all(
        r[k] is None for r in synthetic.baseline["results"] for k in ORG_FIELDS[1:]
    )  # no map: blank, never missing
    without_map = [
        {k: v for k, v in r.items() if k not in ORG_FIELDS[1:]} for r in document["results"]
    ]
    assert without_map == [
        {k: v for k, v in r.items() if k not in ORG_FIELDS[1:]}
        for r in synthetic.baseline["results"]
    ]


@pytest.mark.parametrize("level, group_of", [("pcn", PCN_OF), ("icb", ICB_OF)])
def test_rollups_equal_the_sums_of_practice_rows(rollups, level, group_of):
    _check_sums(rollups["practice"], rollups[level], level, group_of)


def test_rollup_groups_names_and_practice_counts(rollups):
    pcn = by_key(rollups["pcn"], "pcn_code")
    # P1 = A81001 + A81002, P2 = A81003, P3 = A81004
    assert {g: pcn[(g, "CAN004")]["practices"] for g in ("P1", "P2", "P3")} == {
        "P1": 2,
        "P2": 1,
        "P3": 1,
    }
    assert pcn[("P3", "CAN001")]["pcn_name"] == "PCN_three"
    icb = by_key(rollups["icb"], "icb_code")
    assert icb[("I2", "CAN005")]["practices"] == 2  # A81003 + A81004
    assert icb[("I1", "CAN001")]["icb_name"] == "ICB_one"
    # a PCN carries its ICB from the map; an ICB row carries no PCN or practice columns
    assert {
        g: (pcn[(g, "CAN004")]["icb_code"], pcn[(g, "CAN004")]["icb_name"]) for g in PCN_OF.values()
    } == {
        "P1": ("I1", "ICB_one"),
        "P2": ("I2", "ICB_two"),
        "P3": ("I2", "ICB_two"),
    }
    for level, fields in (("pcn", ORG_FIELDS[2:]), ("icb", ORG_FIELDS[4:])):
        for record in rollups[level]["results"]:
            assert list(record)[: len(fields) + 2] == fields + ["practices", "indicator"]
    # the register and its indicators agree within a group, as they do per practice
    for group in ("I1", "I2"):
        registers = {icb[(group, i)]["register"] for i in ("CAN001", "CAN004", "CAN005")}
        assert len(registers) == 1


def test_practices_missing_from_org_map_are_grouped_with_a_warning(synthetic, rollups, tmp_path):
    org = org_map(tmp_path / "org.csv", practices=("A81001", "A81002", "A81003"))
    result = run(
        synthetic.whole,
        "--patients",
        synthetic.patients,
        *YEAR,
        "--org-map",
        org,
        "--by",
        "icb",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    assert (
        "1 practice(s) are not in the org map: A81004; they are grouped as '(not in org map)'"
        in result.messages
    )
    group_of = {**ICB_OF, "A81004": "(not in org map)"}
    _check_sums(rollups["practice"], json.loads(result.stdout), "icb", group_of)


def test_full_org_map_gives_no_missing_warning(synthetic):
    result = run(
        synthetic.whole,
        "--patients",
        synthetic.patients,
        *YEAR,
        "--org-map",
        org_map(synthetic.root / "org-full.csv"),
        "--by",
        "pcn",
        "--format",
        "json",
    )
    assert result.exit_code == 0
    assert "not in the org map" not in result.messages


def test_by_pcn_without_org_map_is_exit_2(synthetic):
    result = run(synthetic.whole, *YEAR, "--by", "pcn", "--format", "json")
    assert result.exit_code == 2
    assert "--by pcn needs --org-map" in result.messages
    assert result.stdout == ""


def test_org_map_without_practice_code_is_exit_2(synthetic, tmp_path):
    bad = write_csv(tmp_path / "org.csv", "code,pcn_code\nA81001,P1\n")
    result = run(synthetic.whole, *YEAR, "--org-map", bad, "--by", "pcn", "--format", "json")
    assert result.exit_code == 2
    assert "needs a practice_code column" in result.messages
    assert result.stdout == ""


def test_by_icb_with_org_map_without_icb_code_is_exit_2(synthetic, tmp_path):
    pcn_only = write_csv(tmp_path / "org.csv", "practice_code,pcn_code\nA81001,P1\n")
    result = run(synthetic.whole, *YEAR, "--org-map", pcn_only, "--by", "icb", "--format", "json")
    assert result.exit_code == 2
    assert "no icb_code column" in result.messages
    assert result.stdout == ""


# --- the published format -----------------------------------------------------------------------


def _published(synthetic, tmp_path, *extra) -> tuple[str, pd.DataFrame, dict]:
    out = tmp_path / "published.csv"
    inputs = (synthetic.whole, "--patients", synthetic.patients, *extra)
    result = run(*inputs, "--format", "published", "--output", out)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    text = out.read_text(encoding="utf-8")
    return text, pd.read_csv(out, dtype={"PRACTICE_CODE": str}), run_json(*inputs)


def test_published_round_trips_to_the_json_summary(synthetic, tmp_path):
    text, frame, document = _published(synthetic, tmp_path, *YEAR)
    assert list(frame.columns) == [
        "PRACTICE_CODE",
        "INDICATOR_CODE",
        "MEASURE",
        "VALUE",
        "REFERENCE_DATE",
        "RULESET",
    ]
    assert set(frame["REFERENCE_DATE"]) == {document["reference_date"]} == {"2024-03-31"}
    assert set(frame["RULESET"]) == {document["ruleset"]} == {"2023-24"}
    assert set(frame["MEASURE"]) == {
        "REGISTER",
        "NUMERATOR",
        "DENOMINATOR",
        "PCAS",
        "ACHIEVED_POINTS",
    }
    wide = frame.pivot(index=["PRACTICE_CODE", "INDICATOR_CODE"], columns="MEASURE", values="VALUE")
    records = by_key(document)
    assert set(wide.index) == set(records)
    for key, record in records.items():
        row = wide.loc[key]
        if record["status"] == "register":
            assert row["REGISTER"] == record["register"]
        else:
            assert row["NUMERATOR"] == record["numerator"]
            assert row["DENOMINATOR"] == record["denominator"]
            assert row["PCAS"] == record["pcas"]
        assert row["ACHIEVED_POINTS"] == pytest.approx(record["points"], abs=1e-12)
    # counts are whole numbers in the file: no "7.0"
    for line in text.splitlines()[1:]:
        _, _, measure, value, _, _ = line.split(",")
        if measure != "ACHIEVED_POINTS":
            assert re.fullmatch(r"\d+", value), line


def test_published_in_local_monitoring_has_no_points(synthetic, tmp_path):
    # 2025-06-30 is in 2025-26, after CAN004/CAN005 stopped being paid: no cancer points;
    # cervical screening, beside them, is paid under the 2025-26 rules
    _, frame, document = _published(synthetic, tmp_path, "--as-of", "2025-06-30")
    cancer = frame[frame["INDICATOR_CODE"].str.startswith("CAN")]
    screening = frame[frame["INDICATOR_CODE"].str.startswith("CS")]
    assert all(
        (r["points"] is None) == r["indicator"].startswith("CAN") for r in document["results"]
    )
    assert "ACHIEVED_POINTS" not in set(cancer["MEASURE"])
    assert "ACHIEVED_POINTS" in set(screening["MEASURE"])
    assert {"NUMERATOR", "DENOMINATOR", "PCAS"} <= set(cancer["MEASURE"])
    assert set(frame["REFERENCE_DATE"]) == {"2025-06-30"}
    assert set(cancer["RULESET"]) == {"2024-25"} and set(screening["RULESET"]) == {"2025-26"}


def test_published_with_by_pcn_is_exit_2(synthetic):
    org = org_map(synthetic.root / "org-published.csv")
    result = run(synthetic.whole, *YEAR, "--org-map", org, "--by", "pcn", "--format", "published")
    assert result.exit_code == 2
    assert "--format published is per practice" in result.messages
    assert result.stdout == ""


# --- the progress display -----------------------------------------------------------------------

PROGRESS_WORDS = ("Reading", "Applying the rules", "Scoring", "Writing")


class _TTY:
    """A text stream that says it is a terminal."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True


@pytest.fixture
def plain_env(monkeypatch):
    """No environment variable that makes rich treat any stream as a terminal."""
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES"):
        monkeypatch.delenv(name, raising=False)


def test_stages_off_when_stderr_is_not_a_terminal(monkeypatch, plain_env):
    import io

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert Stages(quiet=False).enabled is False


def test_stages_on_for_a_terminal_and_off_with_quiet(monkeypatch, plain_env):
    monkeypatch.setattr(sys, "stderr", _TTY())
    assert Stages(quiet=False).enabled is True
    assert Stages(quiet=True).enabled is False


def _open_fifo_for_writing(path: Path, process: subprocess.Popen, deadline: float) -> int:
    """Wait for the command to open the FIFO for reading (without blocking forever)."""
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                raise
            if process.poll() is not None:
                raise AssertionError("the command ended before reading its input") from None
            time.sleep(0.02)
            continue
        os.set_blocking(fd, True)
        return fd


def _calc_process(events_text: str, tmp_path: Path, *args, stderr_tty: bool, hold: float):
    """The real command in a process, stdout a pipe, stderr a pseudo-terminal (or a pipe).

    The events file is a FIFO, fed only once the progress display has appeared or `hold`
    seconds after the command opened it: so the run deterministically lasts longer than the
    display's one-second delay, and the JSON is written while the display is live.
    Returns (exit code, stdout, stderr, seen), `seen` telling whether progress text appeared
    before the input was fed.
    """
    import fcntl
    import pty
    import termios

    fifo = tmp_path / "events.csv"
    os.mkfifo(fifo)
    unset = ("COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env["TERM"] = "xterm"
    if stderr_tty:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        err_target = slave
    else:
        master, slave = os.pipe()
        err_target = slave
    process = subprocess.Popen(
        [sys.executable, "-m", "ccrqof", "calc", str(fifo), *map(str, args)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=err_target,
        env=env,
        cwd=tmp_path,
    )
    os.close(slave)
    chunks: list[bytes] = []

    def pump() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other end is closed
                break
            if not data:
                break
            chunks.append(data)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    stdout: list[bytes] = []
    out_reader = threading.Thread(target=lambda: stdout.append(process.stdout.read()))
    out_reader.start()
    seen = False
    try:
        # the command opens the FIFO while reading its input, inside the progress display
        fd = _open_fifo_for_writing(fifo, process, time.monotonic() + 20)
        start = time.monotonic()
        while time.monotonic() - start < hold:
            if any(w.encode() in b"".join(chunks) for w in PROGRESS_WORDS):
                seen = True
                break
            if process.poll() is not None:
                break
            time.sleep(0.05)
        with os.fdopen(fd, "wb") as fh:
            fh.write(events_text.encode())
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    out_reader.join(timeout=10)
    reader.join(timeout=10)
    os.close(master)
    return process.returncode, b"".join(stdout).decode(), b"".join(chunks).decode(), seen


posix_only = pytest.mark.skipif(
    not sys.platform.startswith(("linux", "darwin")), reason="needs pty and mkfifo"
)


@pytest.fixture(scope="module")
def small_events(synthetic) -> tuple[str, dict]:
    """A quarter of the synthetic extract as CSV text, and its JSON summary from a file."""
    frame = synthetic.events[synthetic.events["practice_code"] == "A81001"]
    text = frame.to_csv(index=False)
    path = write_csv(synthetic.root / "small" / "events.csv", text)
    return text, run_json(path, *YEAR)


@posix_only
def test_progress_on_a_terminal_stderr_never_reaches_stdout(small_events, tmp_path):
    text, expected = small_events
    code, stdout, stderr, seen = _calc_process(
        text, tmp_path, *YEAR, "--format", "json", stderr_tty=True, hold=10
    )
    assert code == 0, stderr
    assert seen, f"no progress display on the terminal after 10 s: {stderr!r}"
    assert "Reading" in stderr  # the display ran while the input was being read
    document = json.loads(stdout)  # stdout is the JSON and nothing else
    assert document["results"] == expected["results"]
    assert "\x1b" not in stdout and "\r" not in stdout
    assert not any(word in stdout for word in ("Applying the rules", "Scoring"))


@posix_only
def test_quiet_on_a_terminal_shows_no_progress(small_events, tmp_path):
    text, expected = small_events
    code, stdout, stderr, seen = _calc_process(
        text, tmp_path, *YEAR, "--format", "json", "--quiet", stderr_tty=True, hold=1.5
    )
    assert code == 0, stderr
    assert not seen
    assert not any(word in stderr for word in PROGRESS_WORDS), stderr
    assert json.loads(stdout)["results"] == expected["results"]


@posix_only
def test_no_progress_when_stderr_is_not_a_terminal(small_events, tmp_path):
    text, expected = small_events
    code, stdout, stderr, seen = _calc_process(
        text, tmp_path, *YEAR, "--format", "json", stderr_tty=False, hold=1.5
    )
    assert code == 0, stderr
    assert not seen
    assert not any(word in stderr for word in PROGRESS_WORDS), stderr
    assert "\x1b" not in stderr  # no cursor movements or colours on a pipe
    assert json.loads(stdout)["results"] == expected["results"]


def test_json_stdout_parses_with_and_without_quiet(synthetic):
    inputs = (synthetic.whole, "--patients", synthetic.patients, *YEAR, "--format", "json")
    loud, quiet = run(*inputs), run(*inputs, "--quiet")
    assert loud.exit_code == quiet.exit_code == 0
    assert json.loads(loud.stdout) == json.loads(quiet.stdout) == synthetic.baseline
    assert not any(word in loud.stderr + quiet.stderr for word in PROGRESS_WORDS)


# --- the compact terminal table -----------------------------------------------------------------

ROW = re.compile(r"^(\S+)\s+(?:(\S+)\s+)?(\d+)\s+(\d+)/(\d+)\s+(\S+)\s+(?:\S+\s+)?(\d+)/(\d+)\s")


def _table_rows(stdout: str, codes: set[str]) -> tuple[list[tuple], tuple | None]:
    """(code, register, CAN004 num, den, CAN005 num, den) per table row, then the Total row."""
    rows, total = [], None
    for line in stdout.splitlines():
        match = ROW.match(line.strip() + " ")
        if not match:
            continue
        code, _name, register, n4, d4, _pct, n5, d5 = match.groups()
        values = (code, int(register), int(n4), int(d4), int(n5), int(d5))
        if code == "Total":
            total = values
        elif code in codes:
            rows.append(values)
    return rows, total


def _check_compact(stdout: str, document: dict, code: str) -> None:
    records = by_key(document, code)
    codes = {key[0] for key in records}
    rows, total = _table_rows(stdout, codes)
    assert [r[0] for r in rows] and {r[0] for r in rows} == codes, stdout
    for c, register, n4, d4, n5, d5 in rows:
        assert register == records[(c, "CAN001")]["register"]
        assert (n4, d4) == num_den(records[(c, "CAN004")])
        assert (n5, d5) == num_den(records[(c, "CAN005")])
    # sorted by CAN004 (the first rated indicator) achievement, lowest first; no denominator first
    key = [-1.0 if r[3] == 0 else r[2] / r[3] for r in rows]
    assert key == sorted(key), stdout
    assert total is not None, stdout
    assert total[1:] == tuple(sum(r[i] for r in rows) for i in range(1, 6))
    assert not re.search(r"Practice [A-Z]\d{5}", stdout)  # not one block per practice


@pytest.fixture(scope="module")
def seven(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("seven")
    events, patients = make_extract(n_practices=7, patients_per_practice=200, seed=7)
    paths = write_extract(events, patients, folder)
    return folder, run_json(paths[0], "--patients", paths[1], *YEAR)


def test_compact_table_for_more_than_five_practices(seven):
    folder, document = seven
    result = run(folder / "events.csv", "--patients", folder / "patients.csv", *YEAR)
    assert result.exit_code == 0, result.stderr
    assert "7 practices, lowest CAN004 achievement first" in result.stdout
    _check_compact(result.stdout, document, "practice_code")


def test_five_practices_keep_one_block_per_practice(tmp_path):
    events, patients = make_extract(n_practices=5, patients_per_practice=100, seed=5)
    paths = write_extract(events, patients, tmp_path)
    result = run(paths[0], "--patients", paths[1], *YEAR)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("Practice A8100") == 5  # A81001 ... A81005
    assert "Total" not in result.stdout


def test_compact_table_by_icb(seven, tmp_path):
    folder, _ = seven
    org = write_csv(
        tmp_path / "org.csv",
        "practice_code,icb_code,icb_name\n"
        + "".join(f"A8100{i},Q{i % 3},ICB_{i % 3}\n" for i in range(1, 8)),
    )
    inputs = (folder / "events.csv", "--patients", folder / "patients.csv", *YEAR)
    inputs += ("--org-map", org, "--by", "icb")
    document = run_json(*inputs)
    result = run(*inputs)
    assert result.exit_code == 0, result.stderr
    assert "3 ICB, lowest CAN004 achievement first" in result.stdout  # Q0, Q1, Q2
    _check_compact(result.stdout, document, "icb_code")


def test_compact_table_names_unmapped_group_without_nan(seven, tmp_path):
    folder, _ = seven
    # A81007 is not in the map: its group "(not in org map)" has no name, so an empty cell
    org = write_csv(
        tmp_path / "org.csv",
        "practice_code,icb_code,icb_name\n"
        + "".join(f"A8100{i},Q{i % 2},ICB_{i % 2}\n" for i in range(1, 7)),
    )
    result = run(
        folder / "events.csv",
        "--patients",
        folder / "patients.csv",
        *YEAR,
        "--org-map",
        org,
        "--by",
        "icb",
    )
    assert result.exit_code == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("(not in org map)"))
    assert "nan" not in line.split(), line
