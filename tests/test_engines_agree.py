"""Every view gives the same answer on every engine: explanations included, also where no
input has practice codes (a review found the DuckDB trace losing such patients)."""

from __future__ import annotations

import dataclasses

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
