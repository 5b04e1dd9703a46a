"""`--engine`, and DuckDB's `--memory-limit` and `--spill-dir`: the engines give the same files,
DuckDB is the default, and its settings (and Spark's `--spark-remote`) are checked before any
reading."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from entry import run_main

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
INPUTS = (SAMPLE / "events.csv", "--patients", SAMPLE / "patients.csv", "--year", "2023-24")


def _calc(tmp_path: Path, name: str, *options) -> tuple[int, str, bytes]:
    out = tmp_path / f"{name}.csv"
    code, _, stderr = run_main("calc", *INPUTS, "--output", out, "--quiet", *options)
    return code, stderr, out.read_bytes() if out.exists() else b""


def test_the_engines_write_the_same_summary_and_duckdb_is_the_default(tmp_path: Path) -> None:
    runs = {
        name: _calc(tmp_path, name, *options)
        for name, options in {
            "default": (),
            "duckdb": ("--engine", "duckdb"),
            "python": ("--engine", "python"),
            "limited": ("--engine", "duckdb", "--memory-limit", "1GB", "--spill-dir", tmp_path),
        }.items()
    }
    assert all(code == 0 for code, _, _ in runs.values()), runs
    assert runs["duckdb"][2].count(b"\n") > 3
    assert {body for _, _, body in runs.values()} == {runs["python"][2]}
    code, out, _ = run_main("calc", "--help")
    assert "[default: duckdb]" in " ".join(out.split())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ("--engine", "python", "--memory-limit", "4GB"),
            "--memory-limit works with --engine duckdb",
        ),
        (("--engine", "python", "--spill-dir", "."), "--spill-dir works with --engine duckdb"),
        (
            ("--engine", "spark", "--memory-limit", "4GB"),
            "--memory-limit works with --engine duckdb",
        ),
        (("--spark-remote", "sc://localhost:15002"), "--spark-remote works with --engine spark"),
        (("--memory-limit", "lots"), "expected a size such as 4GB"),
        (("--memory-limit", "4"), "expected a size such as 4GB"),
    ],
)
def test_engine_settings_are_checked_before_reading(tmp_path: Path, options, message) -> None:
    missing = tmp_path / "not-there.csv"  # a read would fail differently
    code, _, stderr = run_main("calc", missing, "--year", "2023-24", *options)
    assert code == 2
    assert message in " ".join(stderr.split())
    assert "Traceback" not in stderr


def test_duckdb_spills_to_a_private_folder_that_is_removed(tmp_path: Path) -> None:
    """Never DuckDB's own default (a .tmp folder in the working folder): a folder of its own in
    the system's temporary folder, gone when the command ends."""
    scratch, work = tmp_path / "tmp", tmp_path / "work"
    scratch.mkdir(), work.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "ccrqof", "calc", *map(str, INPUTS), "--memory-limit", "64MB"],
        capture_output=True,
        text=True,
        cwd=work,
        env={**os.environ, "TMPDIR": str(scratch)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "CAN004" in done.stdout
    assert list(work.iterdir()) == [] and list(scratch.iterdir()) == []


def test_duckdb_is_told_where_to_spill(tmp_path: Path, monkeypatch) -> None:
    """The sample never spills, so the command above cannot show where spilling would go: the
    engine's database is asked instead."""
    from ccrqof.engine.sql.embedded import DuckDBEngine

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    con = DuckDBEngine()._connect()
    spill = Path(con.execute("SELECT current_setting('temp_directory')").fetchone()[0])
    assert spill.parent == tmp_path and spill.name.startswith("ccrqof-spill-")
    given = DuckDBEngine(temp_directory=str(tmp_path / "mine"))._connect()
    assert given.execute("SELECT current_setting('temp_directory')").fetchone()[0] == str(
        tmp_path / "mine"
    )
    del con
    gc.collect()
    assert not spill.exists()


@pytest.mark.parametrize("with_practice", [True, False], ids=["practices", "no practice codes"])
def test_the_engines_write_the_same_patient_files(tmp_path: Path, with_practice: bool) -> None:
    """Parquet keeps types: the engines' patient rows must have the same ones (a review found
    DuckDB's text written as `string` where the Python engine's is `large_string`, and a column
    of no practice codes typed where the Python engine's is all null)."""
    import pyarrow.parquet as pq

    events = SAMPLE / "events.csv"
    if not with_practice:
        events = tmp_path / "events.csv"
        lines = (SAMPLE / "events.csv").read_text().splitlines()
        header = lines[0].split(",")
        keep = [i for i, name in enumerate(header) if name != "practice_code"]
        events.write_text(
            "\n".join(",".join(row.split(",")[i] for i in keep) for row in lines) + "\n"
        )
    written = {}
    for engine in ("python", "duckdb"):
        out = tmp_path / f"{engine}.parquet"
        code, _, stderr = run_main(
            "calc",
            events,
            "--year",
            "2023-24",
            "--patients-out",
            out,
            "--quiet",
            "--engine",
            engine,
        )
        assert code == 0, stderr
        written[engine] = pq.read_table(out)
    assert written["duckdb"].schema == written["python"].schema
    assert written["duckdb"].equals(written["python"])
    assert written["python"].num_rows > 3
