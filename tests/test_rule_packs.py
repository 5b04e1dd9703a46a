"""Rule packs validate on load: a pack that loads can run; a broken one names file and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from ccrqof.errors import RulePackError
from ccrqof.rules import load_year_folder
from ccrqof.rules.loader import BUNDLED

BUNDLED_2023 = Path(str(BUNDLED)) / "2023-24"


@pytest.fixture
def pack_folder(tmp_path):
    folder = tmp_path / "2023-24"
    shutil.copytree(BUNDLED_2023, folder)
    return folder


def edit(folder: Path, indicator: str, change) -> None:
    path = folder / f"{indicator}.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


BROKEN = [
    ("unknown key", lambda d: d.update(colour="blue"), "colour"),
    ("unknown rule kind", lambda d: d["rules"][0].update(kind="reject_maybe"), "kind"),
    ("duplicate rule number", lambda d: d["rules"][1].update(rule="R1"), "duplicate rule"),
    ("rules out of order", lambda d: d["rules"].reverse(), "cascade order"),
    ("reject without field", lambda d: d["rules"][0].pop("field"), "field name"),
    ("threshold above 1", lambda d: d["thresholds"].update(upper=1.5), "upper"),
    ("lower above upper", lambda d: d["thresholds"].update(lower=0.95), "lower threshold"),
    (
        "bad offset",
        lambda d: d["rules"][0]["when"].update(on_or_before="R - 24 fortnights"),
        "offset",
    ),
    (
        "test of the reference date",
        lambda d: d["rules"][0]["when"].update(date="R"),
        "not a patient date",
    ),
    (
        "undefined anchor",
        lambda d: d["rules"][2]["when"].update(on_or_before="XYZ + 1 month"),
        "undefined date",
    ),
    (
        "earliest from R",
        lambda d: d["dates"]["MDRV_DAT"].update(on_or_after="R"),
        "not a patient date",
    ),
    ("due_by on an undefined date", lambda d: d["due_by"].update(missing="NOPE_DAT"), "due_by"),
    ("no final select", lambda d: d["rules"].pop(), "last rule"),
]


@pytest.mark.parametrize(
    ("change", "expected"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
def test_broken_pack_fails_naming_file_and_problem(pack_folder, change, expected):
    edit(pack_folder, "CAN004", change)
    with pytest.raises(RulePackError) as error:
        load_year_folder(pack_folder)
    assert "CAN004.yaml" in str(error.value)
    assert expected in str(error.value)


def test_exclude_episodes_comes_from_the_pack(pack_folder):
    """A local pack that also skips 'new' episodes must change CAN_DAT (not a fixed list)."""
    from ccrqof.testing import Case, run_case

    for indicator in ("CAN001", "CAN004", "CAN005"):
        edit(
            pack_folder,
            indicator,
            lambda d: d["dates"]["CAN_DAT"].update(exclude_episodes=["review", "new"]),
        )
    info, packs = load_year_folder(pack_folder)
    from ccrqof.rules.loader import RuleSet

    ruleset = RuleSet(info, info.pped, info.status, packs)
    case = Case(
        name="new_episode_skipped",
        reason="the pack says 'new' does not count",
        events="patient | code | date | episode\n"
        "p1 | @CAN_COD | 2022-06-10 | first\n"
        "p1 | @CAN_COD | 2023-06-10 | new\n",
        expect={"p1": {"rule": "R11", "CAN_DAT": "2022-06-10"}},
    )
    result = run_case(case, packs["CAN004"], ruleset, pack_folder / "CAN004.cases.yaml")
    assert result.passed, result.mismatches
