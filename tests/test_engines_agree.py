"""Every view gives the same answer on every engine: explanations included, also where no
input has practice codes (a review found the DuckDB trace losing such patients)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import pytest
from engines import ENGINE_NAMES

import ccrqof
from ccrqof import schemas

R = "2023-24"


def _extract(with_practice: bool):
    events = {
        "patient_id": ["p1", "p1", "p2"],
        "cluster": ["CAN_COD", "MDRV_COD", "CAN_COD"],
        "date": ["2023-01-10", "2023-05-01", "2021-06-01"],
        "episode": ["first", "", "first"],
    }
    import pandas as pd

    events["date"] = pd.to_datetime(events["date"])
    if with_practice:
        events["practice_code"] = ["A81001"] * 3
    return schemas.extract(events, None, has_practice=with_practice)


@pytest.mark.parametrize("with_practice", [True, False])
def test_explanations_are_the_same_on_every_engine(with_practice):
    ruleset = ccrqof.load_ruleset(year=R)
    found = {
        engine: [
            dataclasses.asdict(e)
            for e in ccrqof.explain(_extract(with_practice), ruleset, None, "p1", engine=engine)
        ]
        for engine in ENGINE_NAMES
    }
    python = found["python"]
    assert python[0]["practice_code"] == ("A81001" if with_practice else None)
    assert python[0]["indicators"][0]["outcome"] == "on the register"
    assert python[0]["timeline"]
    for engine, explanations in found.items():
        assert explanations == python, engine


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_an_earlier_evaluations_rows_stay_its_own(engine):
    """An engine may fetch patient rows when they are first read (DuckDB does); a later
    evaluation on the same handle must not change what an earlier one reads."""
    extract = _extract(True)
    early = ccrqof.load_ruleset(reference_date=dt.date(2023, 3, 31))
    late = ccrqof.load_ruleset(reference_date=dt.date(2024, 3, 31))
    chosen = ccrqof.get_engine(engine)
    handle = chosen.prepare(extract, None, [early, late])
    first = chosen.evaluate(handle, early)
    later = chosen.evaluate(handle, late).outcomes  # builds the later date's tables
    fresh = ccrqof.evaluate(extract, early, None, engine=engine).outcomes
    key = ["indicator", "patient_id"]
    got = first.outcomes.sort_values(key, ignore_index=True)
    want = fresh.sort_values(key, ignore_index=True)
    assert len(want) > 0
    assert not later.sort_values(key, ignore_index=True)["rule"].equals(want["rule"])
    pd.testing.assert_frame_equal(got, want)
