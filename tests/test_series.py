"""A series works out many month ends at once (`Engine.evaluate_series`). At every month end
each engine must give the tallies the Python engine gives evaluating that month end alone:
here for every bundled rule case, each case its own practice, at the 60 month ends from April
2021 to March 2026 (every year's packs, each change of year, and the 2024-25 packs as local
monitoring from April 2025). tests/test_trend.py checks whole series over random extracts and
ranges; tests/test_spark_engine.py runs a series on Spark."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from engines import ENGINE_NAMES
from test_populations import PACK

import ccrqof
from ccrqof import schemas
from ccrqof.codelists import illustrative_codelist
from ccrqof.engine.sql.embedded import RUN_LENGTH, _same_packs
from ccrqof.rules.loader import BUNDLED, RuleSet
from ccrqof.rules.model import IndicatorPack
from ccrqof.testing import case_files, combined_extract, load_case_file
from ccrqof.trend import month_ends

MONTHS = month_ends("2021-04", "2026-03")


@pytest.fixture(scope="module")
def cases_extract():
    """Every bundled rule case in one extract, each case's rows under a practice of its own."""
    cases = [case for path in case_files(Path(str(BUNDLED))) for case in load_case_file(path).cases]
    extract, failures = combined_extract(cases)
    assert not any(failures)

    def own_practice(frame):
        number = frame["patient_id"].str.split("|").str[0].astype(int)
        return frame.assign(practice_code=number.map(lambda n: f"K{n:05d}"))

    return schemas.extract(
        own_practice(extract.events), own_practice(extract.patients), has_practice=True
    )


def _rows(tallies) -> list[tuple]:
    return sorted(tuple(str(v) for v in row) for row in tallies.itertuples(index=False, name=None))


@pytest.fixture(scope="module")
def reference(cases_extract):
    """The Python engine at each month end alone."""
    rulesets = [ccrqof.load_ruleset(reference_date=day) for day in MONTHS]
    engine = ccrqof.get_engine("python")
    handle = engine.prepare(cases_extract, illustrative_codelist(), rulesets)
    evaluations = [engine.evaluate(handle, r) for r in rulesets]
    return rulesets, [_rows(e.tallies) for e in evaluations], [dict(e.ignored) for e in evaluations]


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_every_rule_case_at_every_month_end(engine, cases_extract, reference):
    rulesets, want, ignored = reference
    chosen = ccrqof.get_engine(engine)
    handle = chosen.prepare(cases_extract, illustrative_codelist(), rulesets)
    done: list[int] = []
    evaluations = chosen.evaluate_series(handle, rulesets, done.append)
    assert [e.ruleset for e in evaluations] == rulesets
    assert done == sorted(set(done)) and len(done) >= 5 and done[-1] == len(MONTHS)
    problems = [
        f"{day}: {sorted(set(got) ^ set(expected))[:6]}"
        for day, got, expected in zip(
            MONTHS, (_rows(e.tallies) for e in evaluations), want, strict=True
        )
        if got != expected
    ]
    assert not problems, "\n".join(problems)
    assert [dict(e.ignored) for e in evaluations] == ignored


def test_the_cases_tell_month_ends_apart(reference):
    """The comparison above means something: the cases' outcomes change from month to month,
    over most of the range, and every year's packs decide some of them."""
    rulesets, want, _ = reference
    changes = sum(a != b for a, b in zip(want, want[1:], strict=False))
    assert changes >= 30
    assert {r.year.year for r, rows in zip(rulesets, want, strict=True) if rows} == {
        "2021-22",
        "2022-23",
        "2023-24",
        "2024-25",
        "2025-26",  # cervical screening's own year, beside the cancer packs of 2024-25
    }


def test_month_ends_run_together_while_the_packs_stay_the_same():
    """One run per year's packs, at most RUN_LENGTH month ends. April 2025 onwards runs the
    2025-26 cervical screening packs beside the 2024-25 cancer packs (local monitoring): a new
    run. The cancer packs alone are the same packs on both sides of 1 April 2025 and share a
    run. A date out of order starts a new run."""
    rulesets = [ccrqof.load_ruleset(reference_date=day) for day in MONTHS]
    assert [len(run) for run in _same_packs(rulesets)] == [12, 12, 12, 12, 12]
    later = [ccrqof.load_ruleset(reference_date=day) for day in month_ends("2024-09", "2026-03")]
    assert [len(run) for run in _same_packs(later)] == [7, 12]
    cancer = [r.only(["CAN004", "CAN005"]) for r in later]
    runs = _same_packs(cancer)
    assert [len(run) for run in runs] == [RUN_LENGTH, 19 - RUN_LENGTH]
    assert {r.status.value for r in runs[0]} == {"income_protected", "local_monitoring"}
    backwards = [rulesets[5], rulesets[3]]
    assert [len(run) for run in _same_packs(backwards)] == [1, 1]


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_a_series_of_one_month_end_is_the_evaluation(engine, cases_extract):
    ruleset = ccrqof.load_ruleset(reference_date=dt.date(2024, 1, 31))
    chosen = ccrqof.get_engine(engine)
    handle = chosen.prepare(cases_extract, illustrative_codelist(), [ruleset])
    (series,) = chosen.evaluate_series(handle, [ruleset])
    alone = chosen.evaluate(handle, ruleset)
    assert _rows(series.tallies) == _rows(alone.tallies)
    assert dict(series.ignored) == dict(alone.ignored)


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_series_and_single_evaluations_share_a_handle_in_any_order(engine, cases_extract):
    """A series' patient rows are fetched when read, as an evaluation's are; a series after an
    evaluation, and an evaluation after a series, on one handle, each give their own rows (the
    SQL engine builds some of the same names as a view for one and a table for the other)."""
    rulesets = [ccrqof.load_ruleset(reference_date=day) for day in month_ends("2024-01", "2024-06")]
    chosen = ccrqof.get_engine(engine)
    handle = chosen.prepare(cases_extract, illustrative_codelist(), rulesets)
    alone = chosen.evaluate(handle, rulesets[-1])
    series = chosen.evaluate_series(handle, rulesets)
    again = chosen.evaluate(handle, rulesets[1])
    keys = ["practice_code", "patient_id", "indicator"]
    for evaluation in (series[1], again, alone, series[-1]):
        fresh = chosen.evaluate(
            chosen.prepare(cases_extract, illustrative_codelist(), rulesets), evaluation.ruleset
        )
        assert len(evaluation.outcomes) > 100
        assert evaluation.outcomes.sort_values(keys, ignore_index=True).equals(
            fresh.outcomes.sort_values(keys, ignore_index=True)
        )
    assert _rows(chosen.evaluate_series(handle, rulesets)[2].tallies) == _rows(series[2].tallies)


# test_populations.py's pack over the registered population (sex and age at each month end),
# its numerator on a cluster the rule cases draw
WOMEN = {
    **PACK,
    "rules": [
        {
            **PACK["rules"][0],
            "when": {"events": "MDRV_COD", "in_last": "6 months"},
            "says": "A review in the last 6 months",
        },
        PACK["rules"][1],
    ],
}


def _shapes(extract):
    """The extract, without its patients file, and without practice codes; its patients with
    sex and dates of birth that cross the age band's edges during 2024."""
    people = extract.patients
    born = pd.Series(pd.to_datetime(["1975-03-15", "1999-05-31", "1990-01-01"]))
    details = people.assign(
        sex=["F", "M", "", "f"] * (len(people) // 4) + ["F"] * (len(people) % 4),
        date_of_birth=born.iloc[[i % 3 for i in range(len(people))]].to_numpy(),
    )
    return {
        "with details": schemas.extract(extract.events, details, has_practice=True),
        "no patients file": schemas.extract(extract.events, None, has_practice=True),
        "no practice codes": schemas.extract(
            extract.events.drop(columns="practice_code"),
            details.drop(columns="practice_code"),
            has_practice=False,
        ),
    }


@pytest.mark.parametrize("shape", ["with details", "no patients file", "no practice codes"])
@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_populations_and_shapes_in_a_series(engine, shape, cases_extract):
    extract = _shapes(cases_extract)[shape]
    women = IndicatorPack.model_validate(WOMEN)
    rulesets = []
    for day in month_ends("2024-01", "2024-12"):
        bundled = ccrqof.load_ruleset(reference_date=day)
        packs = {**bundled.packs, "TST001": women}
        rulesets.append(RuleSet(bundled.year, day, bundled.status, packs))
    python = ccrqof.get_engine("python")
    handle = python.prepare(extract, illustrative_codelist(), rulesets)
    want = [python.evaluate(handle, r) for r in rulesets]
    chosen = ccrqof.get_engine(engine)
    got = chosen.evaluate_series(
        chosen.prepare(extract, illustrative_codelist(), rulesets), rulesets
    )
    for ruleset, mine, theirs in zip(rulesets, got, want, strict=True):
        assert _rows(mine.tallies) == _rows(theirs.tallies), ruleset.reference_date
        assert dict(mine.ignored) == dict(theirs.ignored), ruleset.reference_date
    women = {r for w in want for r in _rows(w.tallies) if r[1] == "TST001"}
    if shape == "no patients file":  # no sex or date of birth: nobody enters
        assert not women
    else:  # birthdays during the year change who enters from month to month
        assert len(women) >= 4
    assert all(any(r[1] == "CAN004" for r in _rows(w.tallies)) for w in want[-3:])


def test_a_series_cut_short_is_built_again(cases_extract, monkeypatch):
    """A series interrupted while its tables are built (Ctrl-C, a memory limit) leaves the
    handle usable: the next evaluation, and an earlier one's rows, are built afresh."""
    engine = ccrqof.get_engine("duckdb")
    rulesets = [ccrqof.load_ruleset(reference_date=d) for d in month_ends("2023-10", "2024-03")]
    handle = engine.prepare(cases_extract, illustrative_codelist(), rulesets)
    first = engine.evaluate(handle, rulesets[0])
    real = type(engine)._materialise
    for cut_at in (2, 12):  # before and after the first table that is a view in a series
        calls = []

        def failing(self, con, name, query, as_table, calls=calls, cut_at=cut_at):
            calls.append(name)
            if len(calls) == cut_at:
                raise KeyboardInterrupt
            return real(self, con, name, query, as_table)

        monkeypatch.setattr(type(engine), "_materialise", failing)
        with pytest.raises(KeyboardInterrupt):
            engine.evaluate_series(handle, rulesets)
        monkeypatch.setattr(type(engine), "_materialise", real)
        assert len(first.outcomes) > 100  # an earlier evaluation's rows, built again
        series = engine.evaluate_series(handle, rulesets)
        alone = engine.evaluate(handle, rulesets[-1])
        assert _rows(series[-1].tallies) == _rows(alone.tallies)
