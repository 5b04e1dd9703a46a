"""The how-to guides and the first-run tutorial run as written: every command of their `sh`
blocks, in order, on the bundled samples, in a fresh folder beside a link to sample_data/. What a
page shows a command printing (a `text` block right after its `sh` block) is what it prints, and
the files its commands write are there. The monthly job's outputs are then checked as its guide
describes them (the guide is the recipe; this is its end-to-end test)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from entry import NO_WIDTH

from ccrqof.cli import cli
from ccrqof.organisations import ORG_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RUN = ("reference_date", "ruleset")
MONTHLY_JOB = "howto-monthly-job.md"  # run by its own test below, which checks what it writes
PAGES = [
    *sorted(p.name for p in DOCS.glob("howto-*.md") if p.name != MONTHLY_JOB),
    "tutorial-first-run.md",
]
# The tools, besides ccrqof, that a page's commands may use: run by bash, in the C locale.
SHELL_TOOLS = {"mkdir", "ls", "head", "grep", "cut", "sort", "uniq", "sed", "cat"}
# Commands a page shows in an `sh` block that cannot run here, by how they start, and why.
NOT_RUN_HERE = {
    "pip install": "it installs ccrqof, and the tests run in the installed package",
    "ccrqof worklist sample_data/events.csv --patients sample_data/patients.csv --indicators": (
        "with no date it uses today's, so what it lists changes with the day it runs (and from "
        "April 2027 no bundled rules apply)"
    ),
}
# Options whose value is a file or folder a command writes: it must be there afterwards.
WRITES = ("--output", "--patients-out", "--rejects", "--chart", "--measures-out")
NOTES = ("Note: ", "Warning: ")  # a shown block of these lines is what went to stderr
# Files a page's commands write that the repository keeps, as the page says: what they write now.
KEPT = {"howto-trend.md": {"trend.svg": DOCS / "img" / "trend-example.svg"}}


@dataclass(frozen=True)
class Ran:
    """A page's command and what it printed."""

    command: str
    stdout: str
    stderr: str


def blocks(page: str) -> list[tuple[list[str], str | None]]:
    """Each `sh` block's commands (continuations joined, comments out) and the `text` block
    right after it, if any: what its last command prints."""
    text = (DOCS / page).read_text(encoding="utf-8")
    found = []
    for block in text.split("```sh\n")[1:]:
        body, _, after = block.partition("```")
        lines = [line.strip() for line in body.replace("\\\n", " ").splitlines()]
        after = after.lstrip("\n")
        shown = None
        if after.startswith("```text\n"):
            shown = after.removeprefix("```text\n").split("```")[0]
        found.append(([line for line in lines if line and not line.startswith("#")], shown))
    return found


def commands(page: str) -> list[str]:
    """The page's shell commands: each `sh` block's lines, continuations joined, comments out."""
    return [line for lines, _ in blocks(page) for line in lines]


def not_run_here(line: str) -> str | None:
    """Why `line` is not run here, or None."""
    return next((why for start, why in NOT_RUN_HERE.items() if line.startswith(start)), None)


def _bash(page: str, line: str) -> Ran:
    """Run `line` as a shell would, in the C locale, with this environment's ccrqof first on the
    PATH; a pipeline fails when any of its commands does (ccrqof cut off by `| head` among them)."""
    env = {k: v for k, v in os.environ.items() if k not in NO_WIDTH}
    env.update(LC_ALL="C", PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}")
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", line], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, f"{page}: {line}\n{done.stderr}"
    return Ran(line, done.stdout, done.stderr)


def run_command(page: str, line: str) -> Ran:
    """Run one command in the current folder: ccrqof in process (its output redirected to a file
    by `>`), a shell tool or a pipeline by bash. The files it names with `--output` and the like
    must be there afterwards."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars="|>")
    lexer.whitespace_split = True
    words = list(lexer)
    if words[0] not in SHELL_TOOLS | {"ccrqof"}:
        pytest.fail(f"{page}: no way to run {words[0]!r} here: {line}")
    if words[0] in SHELL_TOOLS or "|" in words:
        ran = _bash(page, line)
    else:
        end = words.index(">") if ">" in words else len(words)
        args, redirect = words[1:end], words[end + 1 :]
        done = CliRunner().invoke(
            cli, args, prog_name="ccrqof", env=NO_WIDTH, catch_exceptions=False
        )
        assert done.exit_code == 0, f"{page}: {line}\n{done.output}"
        ran = Ran(line, done.stdout, done.stderr)
        if redirect:
            (target,) = redirect
            Path(target).write_text(done.stdout, encoding="utf-8")
            ran = Ran(line, "", done.stderr)
    for option, value in zip(words, words[1:], strict=False):
        if option in WRITES:
            assert Path(value).exists(), f"{page}: {line} wrote no {value}"
    return ran


def _line_pattern(shown: str) -> str:
    """A shown line as a regular expression: `...` within it stands for any text."""
    return "[^\n]*?".join(re.escape(part) for part in shown.rstrip().split("..."))


def assert_prints(shown: str, ran: Ran, page: str) -> None:
    """What `ran` printed is what the page shows, line for line (trailing spaces aside), where a
    line `...` stands for any lines. A block of notes and warnings is what went to stderr: each
    line one of its lines, in order."""
    lines = shown.rstrip("\n").split("\n")
    if all(line.startswith(NOTES) for line in lines):
        said = [line.rstrip() for line in ran.stderr.splitlines()]
        for line in lines:
            pattern = re.compile(_line_pattern(line))
            while said and not pattern.fullmatch(said[0]):
                said.pop(0)
            assert said, f"{page}: {ran.command}\nstderr has no line\n{line}\nin\n{ran.stderr}"
            said.pop(0)
        return
    pattern = "".join(
        "(?:[^\n]*\n)*?" if line.strip() == "..." else _line_pattern(line) + "\n" for line in lines
    )
    printed = "\n".join(line.rstrip() for line in ran.stdout.rstrip().splitlines()) + "\n"
    assert re.fullmatch(pattern, printed), (
        f"{page}: {ran.command}\nprints\n{printed}\nwhere the page shows\n{shown}"
    )


def run_page(page: str, folder: Path, monkeypatch) -> list[Ran]:
    """Run every command of `page` in `folder` and check what it shows them printing; the
    commands run, in order, with what they printed."""
    monkeypatch.chdir(folder)
    (folder / "sample_data").symlink_to(ROOT / "sample_data")
    ran = []
    for lines, shown in blocks(page):
        skipped = False
        for line in lines:
            skipped = not_run_here(line) is not None
            if not skipped:
                ran.append(run_command(page, line))
        if shown is not None and lines and not skipped:
            assert_prints(shown, ran[-1], page)
    return ran


def _svg_drawing(path: Path) -> str:
    """An SVG without its metadata, which names the matplotlib version that wrote it."""
    return re.sub(r"<metadata>.*?</metadata>", "", path.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize("page", PAGES)
def test_every_howto_runs_as_written(page, tmp_path, monkeypatch, request):
    if page == "howto-spark.md":  # local Spark: the session the other Spark tests share
        request.getfixturevalue("spark_backend")
    assert commands(page), f"{page} shows no command to run"
    assert run_page(page, tmp_path, monkeypatch)
    for written, kept in KEPT.get(page, {}).items():
        assert _svg_drawing(tmp_path / written) == _svg_drawing(kept), (
            f"{kept.relative_to(ROOT)} is not what {page} says made it: copy {written} over it"
        )


def test_every_command_not_run_here_is_on_a_page():
    """A reason to skip a command that no page shows any more is taken out."""
    shown = [line for page in PAGES for line in commands(page)]
    for start in NOT_RUN_HERE:
        assert any(line.startswith(start) for line in shown), start


def test_the_monthly_job_runs_as_written_and_gives_what_it_says(tmp_path, monkeypatch):
    ran = run_page(MONTHLY_JOB, tmp_path, monkeypatch)
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
    table = next(r.stdout for r in ran if r.command.startswith("ccrqof trend"))
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
