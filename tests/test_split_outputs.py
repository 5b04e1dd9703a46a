"""Files for each group (--split-by) and the checks made before any reading: another output
never lands among the split files, split files never land beside the inputs, the org map must
have the level, and options that would do nothing are refused."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from ccrqof.cli import cli

ROOT = Path(__file__).resolve().parents[1]
ICB = ROOT / "sample_data" / "icb"
INPUTS = [str(ICB / "events.csv.gz"), "--patients", str(ICB / "patients.csv.gz"), "-q"]
ORG = ["--org-map", str(ICB / "org-map.csv")]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def refused(result, *words):
    assert result.exit_code == 2, result.output
    for word in words:
        assert word in result.output
    assert "Traceback" not in result.output


def test_another_output_in_the_split_folder_is_refused(tmp_path):
    folder = tmp_path / "pcn"
    result = run(
        "calc",
        *INPUTS,
        *ORG,
        "--format",
        "csv",
        "--split-by",
        "pcn",
        "--output",
        folder,
        "--patients-out",
        folder / "U40101.csv",
    )
    refused(result, "--patients-out", "--split-by folder")
    assert not folder.exists()


def test_split_files_beside_an_input_file_are_refused(tmp_path):
    events = tmp_path / "events.csv"
    events.write_text("patient_id,code,date,practice_code\n1,254837009,2020-01-01,A81001\n")
    result = run("calc", events, "--format", "csv", "--split-by", "practice", "--output", tmp_path)
    refused(result, "holds the input")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.csv"]


def test_a_split_level_the_org_map_lacks_is_refused_before_reading(tmp_path):
    org = tmp_path / "org.csv"
    lines = (ICB / "org-map.csv").read_text().splitlines()
    org.write_text("\n".join(",".join(line.split(",")[:4]) for line in lines) + "\n")
    result = run(
        "calc",
        *INPUTS,
        "--org-map",
        org,
        "--format",
        "csv",
        "--split-by",
        "icb",
        "--output",
        tmp_path / "icb",
    )
    refused(result, "icb_code")


@pytest.mark.parametrize(
    "args, words",
    [
        (["calc", "--measures", "--format", "csv"], ["--measures-out"]),
        (["trend", "--from", "2026-01", "--to", "2026-03", "--title", "x"], ["--chart"]),
        (["calc", "--split-by", "pcn", "--format", "csv", "--output", "x"], ["--org-map"]),
        (["calc", "--excel-friendly", "--format", "parquet", "--output", "x.parquet"], ["csv"]),
        (
            ["calc", *ORG, "--by", "icb", "--split-by", "pcn", "--format", "csv", "--output", "x"],
            ["finer"],
        ),
        (["trend", "--from", "2099-01"], ["default --to"]),
    ],
)
def test_options_that_would_do_nothing_or_the_wrong_thing_are_refused(
    args, words, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    command, rest = args[0], args[1:]
    refused(run(command, *INPUTS, *rest), *words)


def test_points_keep_their_type_in_a_month_that_pays_none(tmp_path):
    """A Parquet summary's columns have one type whatever the month holds: CAN004 earned points
    in March 2025 and none from April (retired), and both files append."""
    types = []
    for day in ("2025-03-31", "2025-04-30"):
        out = tmp_path / f"{day}.parquet"
        result = run("calc", *INPUTS, "--as-of", day, "--format", "parquet", "--output", out)
        assert result.exit_code == 0, result.output
        types.append(pq.read_schema(out))
    assert types[0].field("points").type == types[1].field("points").type
    assert str(types[1].field("points").type) == "double"
    assert types[0] == types[1]


@pytest.mark.parametrize(
    "name, starts",
    [("s.csv", b"reference_date,"), ("s.json", b"{"), ("s.txt", b"ccrqof"), ("s.parquet", b"PAR1")],
)
def test_the_output_suffix_chooses_the_format_when_none_is_given(name, starts, tmp_path):
    out = tmp_path / name
    result = run("calc", *INPUTS, "--as-of", "2026-10-31", "--output", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(starts)
