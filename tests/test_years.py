"""A year's packs and an earlier year's retired packs side by side
(docs/reference-rules.md#qof-years): from 2025-26 a still-paid indicator runs with its own year's
rules and points while CAN001, CAN004 and CAN005 run the 2024-25 rules as local monitoring, each
labelled with its own year and status; and in 2024-25 only the cancer indicators were income
protected."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from test_populations import PACK

import ccrqof
from ccrqof.organisations import published
from ccrqof.reporters import flat_summary
from ccrqof.rules import load_ruleset
from ccrqof.rules.model import YearStatus
from ccrqof.synthetic import make_extract
from ccrqof.trend import month_ends, series


@pytest.fixture
def rules_dir(tmp_path):
    """A 2025-26 folder with one paid indicator over the registered population."""
    folder = tmp_path / "2025-26"
    folder.mkdir()
    year = {"year": "2025-26", "pped": "2026-03-31", "pound_per_point": 225.49, "status": "paid"}
    (folder / "year.yaml").write_text(yaml.safe_dump(year))
    (folder / "TST001.yaml").write_text(yaml.safe_dump({**PACK, "year": "2025-26"}))
    return tmp_path


def test_a_years_packs_run_beside_the_retired_ones(rules_dir):
    ruleset = load_ruleset(reference_date=dt.date(2025, 8, 31), rules_dir=rules_dir)
    assert sorted(ruleset.packs) == ["CAN001", "CAN004", "CAN005", "TST001"]
    assert ruleset.year.year == "2025-26" and ruleset.status == YearStatus.paid
    assert ruleset.status_of("TST001") == YearStatus.paid
    assert {ruleset.status_of(i) for i in ("CAN001", "CAN004", "CAN005")} == {
        YearStatus.local_monitoring
    }
    assert ruleset.packs["CAN004"].year == "2024-25"
    # before the year's folder begins, and after every folder: the retired packs alone
    alone = load_ruleset(reference_date=dt.date(2027, 5, 31), rules_dir=rules_dir)
    assert sorted(alone.packs) == ["CAN001", "CAN004", "CAN005"]
    assert alone.status == YearStatus.local_monitoring


def test_income_protection_was_the_cancer_indicators_own(rules_dir):
    """2024-25 is a paid year whose cancer indicators were income protected and whose
    cervical screening was paid: a rule set of the cancer indicators alone is income protected,
    as before, and each indicator's note is its own."""
    ruleset = load_ruleset(year="2024-25")
    assert ruleset.year.status == YearStatus.paid
    assert ruleset.status == YearStatus.paid
    assert ruleset.status_of("CS005") == YearStatus.paid
    assert ruleset.only(["CAN004"]).status == YearStatus.income_protected
    assert sorted(ruleset.only(["CAN004"]).packs) == ["CAN001", "CAN004"]  # with its register
    assert ruleset.year.status_of("TST001") == YearStatus.paid
    groups = {indicators: (status, note) for _, status, indicators, note in ruleset.groups()}
    assert groups[("CAN001", "CAN004", "CAN005")][0] == YearStatus.income_protected
    assert "Income protected" in groups[("CAN001", "CAN004", "CAN005")][1]
    assert groups[("CS005", "CS006")] == (YearStatus.paid, "")


def test_points_and_series_rows_follow_each_indicators_status(rules_dir):
    events, patients = make_extract(2, 200, dt.date(2025, 8, 31), seed=3)
    patients = patients.assign(sex="F", date_of_birth="1990-06-01")
    folder = rules_dir / "data"
    folder.mkdir()
    events.to_csv(folder / "events.csv", index=False)
    patients.to_csv(folder / "patients.csv", index=False)
    extract = ccrqof.read_extract(folder / "events.csv", patients=folder / "patients.csv")
    ruleset = load_ruleset(reference_date=dt.date(2025, 8, 31), rules_dir=rules_dir)
    summary = ccrqof.score(ccrqof.evaluate(extract, ruleset, ccrqof.illustrative_codelist()))
    paid = summary[summary["indicator"] == "TST001"]
    monitored = summary[summary["indicator"] == "CAN004"]
    assert paid["points"].notna().all() and (paid["denominator"] > 0).all()
    assert monitored["points"].isna().all() and set(monitored["status"]) == {"no points this year"}
    flat = flat_summary(summary, ruleset)  # each indicator labelled with its own rules' year
    assert dict(zip(flat["indicator"], flat["ruleset"], strict=True)) == {
        "CAN001": "2024-25",
        "CAN004": "2024-25",
        "CAN005": "2024-25",
        "TST001": "2025-26",
    }
    long = published(summary, ruleset)
    assert set(zip(long["INDICATOR_CODE"], long["RULESET"], strict=True)) == {
        ("CAN001", "2024-25"),
        ("CAN004", "2024-25"),
        ("CAN005", "2024-25"),
        ("TST001", "2025-26"),
    }

    days = month_ends("2025-02", "2025-05")
    rulesets = [load_ruleset(reference_date=d, rules_dir=rules_dir) for d in days]
    engine = ccrqof.get_engine()
    handle = engine.prepare(extract, ccrqof.illustrative_codelist(), rulesets)
    frame = series(engine, handle, days, rules_dir=rules_dir)
    columns = ("period", "indicator", "ruleset", "year_status")
    labels = set(frame[list(columns)].itertuples(index=False, name=None))
    assert ("2025-03", "CAN004", "2024-25", "income_protected") in labels
    assert ("2025-04", "CAN004", "2024-25", "local_monitoring") in labels
    assert ("2025-04", "TST001", "2025-26", "paid") in labels
    assert not any(i == "TST001" for p, i, *_ in labels if p == "2025-03")


def _year(root, folder: str, year: str, packs: dict, **more) -> None:
    path = root / folder
    path.mkdir()
    first = int(year[:4])
    info = {"year": year, "pped": f"{first + 1}-03-31", "pound_per_point": 230.0}
    (path / "year.yaml").write_text(yaml.safe_dump({**info, "status": "paid", **more}))
    for indicator, pack in packs.items():
        (path / f"{indicator}.yaml").write_text(yaml.safe_dump({**pack, "year": year}))


def test_a_retired_folder_is_found_by_its_name_not_its_year(tmp_path):
    """A --rules folder may be named anything: after every folder its retired packs run, and
    the rule set names that folder (for the rule pack's checksum)."""
    retire = {"local_monitoring_from": "2027-04-01", "local_monitoring_indicators": ["TST001"]}
    _year(tmp_path, "custom", "2026-27", {"TST001": PACK}, **retire)
    ruleset = load_ruleset(reference_date=dt.date(2028, 1, 31), rules_dir=tmp_path)
    assert sorted(ruleset.packs) == ["CAN001", "CAN004", "CAN005", "TST001"]
    assert ruleset.folder == tmp_path / "custom"
    assert ruleset.status_of("TST001") == YearStatus.local_monitoring


def test_an_indicator_brought_back_and_dropped_again_does_not_run_its_old_rules(tmp_path):
    retire = {"local_monitoring_from": "2026-04-01", "local_monitoring_indicators": ["TST001"]}
    _year(tmp_path, "2025-26", "2025-26", {"TST001": PACK}, **retire)
    _year(tmp_path, "2026-27", "2026-27", {"TST001": PACK})  # paid again, not retired
    _year(tmp_path, "2027-28", "2027-28", {})
    later = load_ruleset(reference_date=dt.date(2027, 6, 30), rules_dir=tmp_path)
    assert "TST001" not in later.packs and "CAN004" in later.packs
    between = load_ruleset(reference_date=dt.date(2026, 6, 30), rules_dir=tmp_path)
    assert between.status_of("TST001") == YearStatus.paid


@pytest.mark.parametrize(
    ("more", "message"),
    [
        ({"statuses": {"TST00": "income_protected"}}, "statuses names TST00"),
        (
            {"local_monitoring_from": "2026-04-01", "local_monitoring_indicators": ["CAN04"]},
            "local_monitoring_indicators names CAN04",
        ),
    ],
)
def test_year_yaml_names_only_its_own_indicators(tmp_path, more, message):
    _year(tmp_path, "2025-26", "2025-26", {"TST001": PACK}, **more)
    with pytest.raises(ccrqof.CcrqofError, match=message):
        load_ruleset(reference_date=dt.date(2025, 6, 30), rules_dir=tmp_path)


def test_a_retired_indicator_retires_with_its_register(tmp_path):
    bundled = load_ruleset(year="2024-25")
    packs = {
        i: p.model_dump(mode="json", by_alias=True, exclude_none=True)
        for i, p in bundled.packs.items()
    }
    retire = {"local_monitoring_from": "2026-04-01", "local_monitoring_indicators": ["CAN004"]}
    _year(tmp_path, "2025-26", "2025-26", packs, **retire)
    with pytest.raises(ccrqof.CcrqofError, match="has CAN004 but not its population CAN001"):
        load_ruleset(reference_date=dt.date(2025, 6, 30), rules_dir=tmp_path)
