"""`ccrqof rules check/list/show/diff` and `--rules DIR`: the bundled packs pass, broken copies
fail naming file and problem, and a local 93-day CAN005 variant changes exactly the patients it
should."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from dateutil.relativedelta import relativedelta

from ccrqof.cli import cli
from ccrqof.rules.loader import BUNDLED

PACKS = Path(str(BUNDLED))
NO_WIDTH = {"COLUMNS": None, "LINES": None}


def rules(*args):
    return CliRunner().invoke(cli, ["rules", *map(str, args)], env=NO_WIDTH)


@pytest.fixture
def packs(tmp_path) -> Path:
    root = tmp_path / "my-packs"
    shutil.copytree(PACKS / "2023-24", root / "2023-24")
    return root


def edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_check_bundled_packs_passes():
    result = rules("check")
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output
    assert "6 year(s), 24 pack(s)" in result.output  # CAN in 4 years, CS in 6
    assert result.output.rstrip().endswith("passed")


def test_check_json_parses():
    result = rules("check", "--format", "json")
    assert result.exit_code == 0
    document = json.loads(result.output)
    assert document["passed"] is True
    assert document["problems"] == []
    assert len(document["packs"]) == 24
    assert document["cases"] > 100


def test_check_missing_directory_is_a_usage_error(tmp_path):
    result = rules("check", tmp_path / "nope")
    assert result.exit_code == 2


BROKEN = [
    ("missing field", lambda d: d.pop("title"), "CAN004.yaml", "title: Field required"),
    (
        "unknown rule kind",
        lambda d: d["rules"][0].update(kind="reject_maybe"),
        "CAN004.yaml",
        "rules.0.kind",
    ),
    (
        "duplicate rule number",
        lambda d: d["rules"][1].update(rule="R1"),
        "CAN004.yaml",
        "duplicate rule number(s): R1",
    ),
    (
        "bad threshold",
        lambda d: d["thresholds"].update(upper=1.5),
        "CAN004.yaml",
        "thresholds.upper",
    ),
    (
        "misspelt cluster",
        lambda d: d["dates"]["MDRV_DAT"].update(earliest="MDRV_CODE"),
        "CAN004.yaml",
        "cluster MDRV_CODE is not a PCD cluster id",
    ),
    (
        "words for nothing the pack reads",
        lambda d: d["words"].update(SMEAR_COD="cervical screening test"),
        "CAN004.yaml",
        "words for SMEAR_COD, which the pack neither reads nor defines",
    ),
]


@pytest.mark.parametrize(
    ("change", "file", "expected"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
def test_check_broken_pack_exits_1_naming_file_and_problem(packs, change, file, expected):
    edit(packs / "2023-24" / "CAN004.yaml", change)
    result = rules("check", packs)
    assert result.exit_code == 1, result.output
    failures = [line for line in result.output.splitlines() if line.startswith("FAIL ")]
    assert any(f"2023-24/{file}" in line and expected in line for line in failures), failures
    assert "FAILED" in result.output


def test_check_reports_every_broken_file_not_just_the_first(packs):
    edit(packs / "2023-24" / "CAN004.yaml", lambda d: d.pop("title"))
    edit(packs / "2023-24" / "CAN005.yaml", lambda d: d["thresholds"].update(lower=0.95))
    document = json.loads(rules("check", packs, "--format", "json").output)
    files = {p["file"] for p in document["problems"]}
    assert {"2023-24/CAN004.yaml", "2023-24/CAN005.yaml"} <= files


def test_check_failing_case_names_case_patient_field_expected_actual(packs):
    path = packs / "2023-24" / "CAN004.cases.yaml"
    edit(path, lambda d: d["cases"][0]["expect"].update(p1={"rule": "R11"}))
    result = rules("check", packs)
    assert result.exit_code == 1
    assert (
        "FAIL 2023-24/CAN004.cases.yaml: case review_within_12_months, patient p1: "
        "rule expected R11, got R3"
    ) in result.output
    problems = json.loads(rules("check", packs, "--format", "json").output)["problems"]
    assert {
        "file": "2023-24/CAN004.cases.yaml",
        "case": "review_within_12_months",
        "patient": "p1",
        "field": "rule",
        "expected": "R11",
        "actual": "R3",
    }.items() <= problems[0].items()


def test_check_unreachable_rule(packs):
    """Without its cases R3 (numerator) decides nothing: reported as not reachable."""
    path = packs / "2023-24" / "CAN004.cases.yaml"
    edit(path, lambda d: d.update(cases=[c for c in d["cases"] if "R3" not in str(c["expect"])]))
    result = rules("check", packs)
    assert result.exit_code == 1
    assert "R3 is not reachable" in result.output


def test_check_shadowed_rule_that_decides(packs):
    edit(packs / "2023-24" / "CAN005.yaml", lambda d: d["rules"][3].update(shadowed_by="R1"))
    result = rules("check", packs)
    assert result.exit_code == 1
    assert "R4 is declared shadowed_by R1 but decides" in result.output


def test_check_missing_cases_file(packs):
    (packs / "2023-24" / "CAN001.cases.yaml").unlink()
    result = rules("check", packs)
    assert result.exit_code == 1
    assert "2023-24/CAN001.cases.yaml: missing" in result.output


def test_list_shows_years_indicators_and_status():
    result = rules("list")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert "2023-24  (PPED 2024-03-31)  paid" in lines
    assert "2024-25  (PPED 2025-03-31)  paid" in lines  # cervical screening was paid
    assert (
        "  CAN004  Cancer care review within 12 months of diagnosis  (6 points, 50% to 90%, "
        "10 rules; income protected; local monitoring from 2025-04-01)" in lines
    )
    assert (
        "  CS005  Cervical screening of women aged 25 to 49  (7 points, 45% to 80%, 9 rules)"
        in lines
    )
    assert (
        "  CAN005  Support discussion within 3 months of diagnosis  (2 points, 70% to 90%, "
        "10 rules)" in lines
    )


def test_list_own_folder(packs):
    result = rules("list", "--rules", packs)
    assert result.exit_code == 0
    assert result.output.startswith("2023-24 ")
    assert "2022-23" not in result.output


def test_show_cascade_in_words():
    result = rules("show", "CAN004", "--year", "2023-24")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "CAN004 2023-24: Cancer care review within 12 months of diagnosis" in out
    assert "Points: 6; thresholds: 50% to 90%" in out
    assert "  R5 exclusion DIAGCRV12M: CAN_DAT after R - 12 months\n" in out
    assert "  R3 numerator: MDRV_DAT on or before CAN_DAT + 12 months\n" in out
    assert (
        "R8 PCA CANINVITE: at least 2 CANINVITE_COD in the 12 months up to R, at least 7 "
        "days apart" in out
    )
    assert "R9 PCA DIAG1_DAT: CAN_DAT after R - 3 months (shadowed by R5: never decides)" in out
    assert "  R11 denominator: everyone left" in out


def test_show_defaults_to_latest_year_and_rejects_unknown_year():
    assert rules("show", "CAN005").output.startswith("CAN005 2024-25:")
    assert rules("show", "CAN005", "--year", "2030-31").exit_code != 0


def test_diff_rule_by_rule():
    result = rules("diff", "2022-23", "2023-24")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert "CAN001: unchanged" in lines
    assert "  R4 removed: R4 exclusion CAN_DAT1J: CAN_DAT before 2021-01-01" in lines
    assert "  R1 field: CAN_DAT15M → CANDAT15M" in lines


def test_diff_shows_old_and_new_condition(packs):
    shutil.copytree(packs / "2023-24", packs / "2024-25")
    shutil.copy(PACKS / "2024-25" / "year.yaml", packs / "2024-25" / "year.yaml")
    for path in (packs / "2024-25").glob("C*.yaml"):
        path.write_text(path.read_text().replace("\nyear: 2023-24\n", "\nyear: 2024-25\n"))
    make_variant(packs / "2024-25")
    lines = rules("diff", "2023-24", "2024-25", "--rules", packs).output.splitlines()
    assert "  due_by: SUPP_DAT by CAN_DAT + 3 months → SUPP_DAT by CAN_DAT + 93 days" in lines
    assert (
        "  R3 when: SUPP_DAT on or before CAN_DAT + 3 months → "
        "SUPP_DAT on or before CAN_DAT + 93 days"
    ) in lines


# --- a local variant: CAN005 with a 93-day window ------------------------------------------------

# The cases of the bundled pack that pin the 3-calendar-month window (rules check lists them).
THREE_MONTH_CASES = {
    "support_deadline_3_months_after_diagnosis",
    "support_deadline_30_nov_to_29_feb",
    "support_deadline_31_may_to_31_aug",
    "support_deadline_31_aug_to_30_nov",
    "support_on_diagnosis_day_counts",
    "diagnosis_3_months_boundary",
    "recent_diagnosis_is_r4_not_r8",
    "recent_diagnosis_excluded_before_pca",
    "events_after_reference_date_ignored",
    "reference_29_feb_2024_3_months_boundary",
}
VARIANT_CASE = {
    "name": "support_within_93_days",
    "reason": "diagnosed 2023-11-30: support up to 2024-03-02 (93 days) counts, 2024-03-03 does "
    "not; R4 keeps the 3-month not-yet-due window",
    "events": "patient | code           | date\n"
    "p1      | @CAN_COD       | 2023-11-30\n"
    "p1      | @CANPCSUPP_COD | 2024-03-01\n"
    "p2      | @CAN_COD       | 2023-11-30\n"
    "p2      | @CANPCSUPP_COD | 2024-03-02\n"
    "p3      | @CAN_COD       | 2023-11-30\n"
    "p3      | @CANPCSUPP_COD | 2024-03-03\n"
    "p4      | @CAN_COD       | 2024-02-15\n"
    "p5      | @CAN_COD       | 2023-12-30\n",
    "expect": {
        "p1": {"rule": "R3", "outcome": "numerator"},
        "p2": {"rule": "R3", "outcome": "numerator"},
        "p3": {"rule": "R10", "outcome": "denominator", "no_due_by": True},
        "p4": {"rule": "R4", "field": "DIAGCSUP3M", "due_by": dt.date(2024, 5, 18)},
        "p5": {"rule": "R10", "due_by": dt.date(2024, 4, 1)},
    },
}


def make_variant(folder: Path) -> None:
    """Only the numerator window changes: R3 and the due_by deadline become 93 days."""
    pack = folder / "CAN005.yaml"
    text = pack.read_text()
    for old in ("on_or_before: CAN_DAT + 3 months}", "deadline: CAN_DAT + 3 months}"):
        assert old in text
        text = text.replace(old, old.replace("3 months", "93 days"))
    pack.write_text(text)


def test_variant_without_updated_cases_fails_check(packs):
    make_variant(packs / "2023-24")
    result = rules("check", packs)
    assert result.exit_code == 1
    failing = {
        line.split("case ")[1].split(",")[0]
        for line in result.output.splitlines()
        if line.startswith("FAIL 2023-24/CAN005.cases.yaml: case ")
    }
    assert failing == THREE_MONTH_CASES


@pytest.fixture
def variant(packs) -> Path:
    make_variant(packs / "2023-24")

    def cases(data):
        kept = [c for c in data["cases"] if c["name"] not in THREE_MONTH_CASES]
        data["cases"] = [*kept, VARIANT_CASE]

    edit(packs / "2023-24" / "CAN005.cases.yaml", cases)
    return packs


def test_variant_with_its_case_passes_check(variant):
    result = rules("check", variant)
    assert result.exit_code == 0, result.output
    assert "2023-24/CAN005.yaml  10 rules" in result.output


def _calc(tmp_path: Path, events: Path, *extra) -> tuple[pd.DataFrame, dict]:
    out = tmp_path / f"patients{len(extra)}.csv"
    result = CliRunner().invoke(
        cli,
        [
            "calc",
            str(events),
            "--year",
            "2023-24",
            "--format",
            "json",
            "--patients-out",
            str(out),
            "-q",
            *map(str, extra),
        ],
        env=NO_WIDTH,
    )
    assert result.exit_code == 0, result.output
    return pd.read_csv(out, dtype=str), json.loads(result.stdout)


def test_variant_differs_exactly_between_the_two_deadlines(variant, tmp_path):
    diagnoses = [dt.date(2023, 4, 1) + dt.timedelta(days=7 * i) for i in range(52)]
    rows, between = [], set()
    for i, can in enumerate(diagnoses):
        for offset in (88, 89, 90, 91, 92, 93, 94):
            patient = f"x{i}_{offset}"
            supp = can + dt.timedelta(days=offset)
            if supp > dt.date(2024, 3, 31):
                continue
            rows += [("P1", patient, "CAN_COD", can), ("P1", patient, "CANPCSUPP_COD", supp)]
            if can + relativedelta(months=3) < supp <= can + dt.timedelta(days=93):
                between.add(patient)
    events = tmp_path / "events.csv"
    pd.DataFrame(rows, columns=["practice_code", "patient_id", "cluster", "date"]).to_csv(
        events, index=False
    )
    bundled, bundled_doc = _calc(tmp_path, events)
    local, local_doc = _calc(tmp_path, events, "--rules", variant)
    key = ["patient_id", "indicator"]
    merged = bundled.merge(local, on=key, suffixes=("_b", "_v"))
    assert len(merged) == len(bundled) == len(local)
    changed = merged[merged["rule_b"] != merged["rule_v"]]
    assert set(changed["indicator"]) == {"CAN005"}
    assert set(changed["patient_id"]) == between
    assert len(between) > 10  # month lengths make the gap 1 to 3 days
    assert (changed["rule_b"] == "R10").all() and (changed["rule_v"] == "R3").all()
    assert bundled_doc["rule_pack"]["name"] == "bundled"
    assert local_doc["rule_pack"] == {
        "name": "my-packs",
        "year": "2023-24",
        "sha256": local_doc["rule_pack"]["sha256"],
    }
    assert bundled_doc["rule_pack"]["sha256"] != local_doc["rule_pack"]["sha256"]
    assert len(local_doc["rule_pack"]["sha256"]) == 64


def test_rules_option_on_every_evaluating_command(variant, tmp_path):
    events = tmp_path / "events.csv"
    events.write_text(
        "practice_code,patient_id,cluster,date\n"
        "P1,a,CAN_COD,2023-11-30\nP1,a,CANPCSUPP_COD,2024-03-01\n"
    )
    common = [str(events), "--rules", str(variant), "-q"]
    explain = CliRunner().invoke(
        cli,
        [
            "explain",
            str(events),
            "--rules",
            str(variant),
            "--year",
            "2023-24",
            "--patient",
            "a",
            "--format",
            "json",
        ],
    )
    assert explain.exit_code == 0, explain.output
    assert '"R3"' in explain.stdout
    worklist = CliRunner().invoke(
        cli, ["worklist", str(events), "--rules", str(variant), "--year", "2023-24"]
    )
    assert worklist.exit_code == 0, worklist.output
    trend = CliRunner().invoke(
        cli, ["trend", *common, "--from", "2024-03", "--to", "2024-03", "--format", "json"]
    )
    assert trend.exit_code == 0, trend.output
    can005 = [r for r in json.loads(trend.stdout)["series"] if r["indicator"] == "CAN005"]
    assert can005[0]["numerator"] == 1
    # the variant folder lies on top of the bundled packs: it has no 2022-23, so that year
    # runs the bundled pack, and the output says so
    other = CliRunner().invoke(cli, ["calc", *common, "--year", "2022-23", "--format", "json"])
    assert other.exit_code == 0, other.output
    assert json.loads(other.stdout)["rule_pack"]["name"] == "bundled"
    own = CliRunner().invoke(cli, ["calc", *common, "--year", "2023-24", "--format", "json"])
    assert json.loads(own.stdout)["rule_pack"]["name"] == variant.name


def test_a_packs_dates_are_its_own(packs, tmp_path):
    """Issue 12 (1): CAN004 defining CAN_DAT without the episode exclusions changes CAN004
    only; before, the first pack's CAN_DAT (CAN001's) was silently used by every pack."""

    def count_every_episode(data):
        data["dates"]["CAN_DAT"] = {"latest": "CAN_COD"}

    edit(packs / "2023-24" / "CAN004.yaml", count_every_episode)
    events = tmp_path / "events.csv"
    events.write_text(
        "practice_code,patient_id,cluster,date,episode\n"
        "P1,a,CAN_COD,2023-01-10,first\n"
        "P1,a,MDRV_COD,2023-06-01,\n"
        "P1,a,CANPCSUPP_COD,2023-04-05,\n"
        "P1,a,CAN_COD,2023-09-01,review\n"
    )
    bundled, _ = _calc(tmp_path, events)
    local, _ = _calc(tmp_path, events, "--rules", packs)
    rule = {
        name: dict(zip(frame["indicator"], frame["rule"] + " " + frame["CAN_DAT"], strict=True))
        for name, frame in (("bundled", bundled), ("local", local))
    }
    # bundled: diagnosed 10 Jan, reviewed within 12 months (R3); supported within 3 (R3)
    assert rule["bundled"] == {
        "CAN001": "R1 2023-01-10",
        "CAN004": "R3 2023-01-10",
        "CAN005": "R3 2023-01-10",
    }
    # local CAN004: the September review entry is its diagnosis, after the review (R5)
    assert rule["local"] == {**rule["bundled"], "CAN004": "R5 2023-09-01"}


def test_episode_names_in_a_pack_are_compared_in_lower_case():
    """The readers lower-case episodes, so a pack's `exclude_episodes: [Review]` must too."""
    from ccrqof.rules.model import LatestEvent

    definition = LatestEvent(latest="CAN_COD", exclude_episodes=(" Review", "ENDED"))
    assert definition.exclude_episodes == ("review", "ended")
