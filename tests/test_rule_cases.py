"""One generic runner for every rule case of every bundled pack, plus meta-tests on coverage."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from engines import ENGINE_NAMES

from ccrqof.rules import load_year_folder
from ccrqof.rules.loader import BUNDLED
from ccrqof.testing import case_files, run_case_file, run_case_files

PACKS = Path(str(BUNDLED))
FILES = case_files(PACKS)


@pytest.fixture(scope="module", params=ENGINE_NAMES)
def results(request):
    """Every case file's results on one engine (each engine runs every case), the cases that
    share a year and reference date run together."""
    return run_case_files(FILES, engine=request.param)


def test_a_case_run_alone_gives_what_it_gives_in_a_batch():
    """Batching is only speed: each case's patients see only their own rows."""
    path = FILES[0]
    alone = [(r.case.name, r.mismatches, r.deciding) for r in run_case_file(path)]
    batched = [(r.case.name, r.mismatches, r.deciding) for r in run_case_files([path])[path]]
    assert alone == batched


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name.split('.')[0]}"


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_cases(path, results):
    failures = [
        f"{r.case.name}: {patient} {what} expected {want}, got {got}  ({r.case.reason})"
        for r in results[path]
        for patient, what, want, got in r.mismatches
    ]
    assert not failures, "\n".join(failures)


def test_every_indicator_of_every_year_has_cases():
    for year in sorted(p for p in PACKS.iterdir() if (p / "year.yaml").exists()):
        _, packs = load_year_folder(year)
        for indicator in packs:
            assert (year / f"{indicator}.cases.yaml").exists(), f"{year.name}/{indicator}"


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_every_rule_decides_a_case(path, results):
    """Every rule decides at least one case, except rules declared shadowed (never reachable),
    which must then decide none."""
    _, packs = load_year_folder(path.parent)
    pack = packs[path.name.split(".")[0]]
    deciding = defaultdict(int)
    for result in results[path]:
        for rule in result.deciding.values():
            deciding[rule] += 1
    for rule in pack.rules:
        if rule.shadowed_by:
            assert deciding[rule.rule] == 0, f"{rule.rule} is declared shadowed but decided"
        else:
            assert deciding[rule.rule] > 0, f"no case is decided by {rule.rule} ({rule.says})"
