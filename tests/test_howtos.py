"""The how-to guides run as written: every command of their `sh` blocks, in order, on the
bundled samples, in a fresh folder beside a link to sample_data/. The monthly job's outputs are
then checked as its guide describes them (the guide is the recipe; this is its end-to-end test)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from ccrqof.cli import cli
from ccrqof.organisations import ORG_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RUN = ("reference_date", "ruleset")


def commands(page: str) -> list[str]:
    """The page's shell commands: each `sh` block's lines, continuations joined, comments out."""
    text = (DOCS / page).read_text(encoding="utf-8")
    found = []
    for block in text.split("```sh\n")[1:]:
        body = block.split("```")[0].replace("\\\n", " ")
        found += [line.strip() for line in body.splitlines() if line.strip()]
    return [line for line in found if not line.startswith("#")]


def run_page(page: str, folder: Path, monkeypatch) -> list[str]:
    """Run every command of `page` in `folder`; their standard outputs, in order."""
    monkeypatch.chdir(folder)
    (folder / "sample_data").symlink_to(ROOT / "sample_data")
    printed = []
    for line in commands(page):
        words = shlex.split(line)
        if words[:2] == ["mkdir", "-p"]:
            for name in words[2:]:
                os.makedirs(name, exist_ok=True)
        elif words[0] == "ccrqof":
            done = CliRunner().invoke(cli, words[1:], catch_exceptions=False)
            assert done.exit_code == 0, f"{page}: {line}\n{done.output}"
            printed.append(done.stdout)
        else:
            pytest.fail(f"{page}: no way to run {words[0]!r} here: {line}")
    return printed


def test_the_monthly_job_runs_as_written_and_gives_what_it_says(tmp_path, monkeypatch):
    printed = run_page("howto-monthly-job.md", tmp_path, monkeypatch)
    out = tmp_path / "out" / "2026-10"
    org = pd.read_csv(ROOT / "sample_data/icb/org-map.csv", dtype=str)

    # 1. every practice, typed, with its organisations, ready to append
    practices = pd.read_parquet(out / "practices.parquet")
    assert list(practices.columns[:8]) == [*RUN, *ORG_COLUMNS]
    assert set(practices["practice_code"]) == set(org["practice_code"])
    assert practices["pcn_name"].notna().all() and set(practices["reference_date"]) == {
        "2026-10-31"
    }
    assert {"CAN004", "CAN005"} <= set(practices["indicator"])
    measures = pd.read_parquet(out / "measures.parquet")
    assert list(measures.columns[:8]) == [*RUN, *ORG_COLUMNS]
    assert set(measures["kind"]) == {"cohort", "activity"}

    # 2. one workbook per PCN, holding its practices only
    from openpyxl import load_workbook

    books = sorted(p.name for p in (out / "pcn").iterdir())
    assert books == [f"{code}.xlsx" for code in sorted(set(org["pcn_code"]))]
    sheet = load_workbook(out / "pcn" / "U40101.xlsx").active
    header = [cell.value for cell in sheet[1]]
    rows = [dict(zip(header, (c.value for c in row), strict=True)) for row in sheet.iter_rows(2)]
    assert {r["pcn_code"] for r in rows} == {"U40101"}
    assert {r["practice_code"] for r in rows} == set(
        org.loc[org["pcn_code"] == "U40101", "practice_code"]
    )

    # 3. the board: a chart for the ICB and one per PCN, and a decline the measures show
    charts = sorted((p.name for p in out.glob("board*.png")), key=len)
    assert charts[0] == "board.png" and sorted(charts[1:]) == [
        f"board-{c}.png" for c in sorted(set(org["pcn_code"]))
    ]
    assert all((out / name).read_bytes()[:4] == b"\x89PNG" for name in charts)
    by_month = pd.read_csv(out / "measures-by-month.csv", dtype={"month": str})
    whole = by_month.groupby(["measure", "month"])[["count", "base"]].sum()
    rate = whole["count"] / whole["base"]

    def mean(measure, first, last):
        return rate[measure].loc[first:last].mean()

    before = mean("CAN005_COHORT", "2024-04", "2025-03")
    after = mean("CAN005_COHORT", "2026-04", "2026-07")  # closed by 31 October 2026
    assert after < before - 0.25, (before, after)
    reviews_before = mean("reviews", "2024-04", "2025-03")
    assert mean("reviews", "2026-08", "2026-10") < 0.6 * reviews_before
    table = printed[2]
    assert "month ends" in table and "pts" in table
    assert "Measures that show change quickly" in table

    # 4. a worklist per practice, named by its code
    worklists = sorted(p.stem for p in (out / "worklists").iterdir())
    assert worklists and set(worklists) <= set(org["practice_code"])


def test_a_months_files_append_to_the_last_ones(tmp_path, monkeypatch):
    """Two months' practice files: the same columns, in the same order, of the same types."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    base = [
        "calc",
        "sample_data/icb/events.csv.gz",
        "--patients",
        "sample_data/icb/patients.csv.gz",
        "--indicators",
        "CAN004,CAN005",
        "--format",
        "parquet",
        "-q",
    ]
    frames = []
    for day, org in (
        ("2026-09-30", []),
        ("2026-10-31", ["--org-map", "sample_data/icb/org-map.csv"]),
    ):
        name = f"{day}.parquet"
        done = CliRunner().invoke(cli, [*base, "--as-of", day, "--output", name, *org])
        assert done.exit_code == 0, done.output
        import pyarrow.parquet as pq

        frames.append(pq.read_schema(name))
    assert frames[0].names == frames[1].names  # with or without an org map
    assert frames[0].types == frames[1].types
    assert "null" not in {str(t) for t in frames[0].types}
