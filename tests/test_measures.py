"""Measures that show change quickly (ccrqof.measures): the cohort windows' boundaries, when a
cohort is closed, what activity counts, the rates, roll-ups, and the same tables from every
engine (Spark: tests/test_spark_engine.py)."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from click.testing import CliRunner
from engines import ENGINE_NAMES

import ccrqof
from ccrqof import measures, schemas
from ccrqof.cli import cli
from ccrqof.codelists import illustrative_codelist
from ccrqof.dates import last_complete_month
from ccrqof.trend import series

D = dt.date


def _extract(rows: list[tuple], registered: list[tuple] | None = None):
    """rows: (practice, patient, cluster, date); everyone registered since 2015 unless given."""
    events = pd.DataFrame(rows, columns=["practice_code", "patient_id", "cluster", "date"])
    events["date"] = pd.to_datetime(events["date"]).astype("datetime64[s]")
    people = registered or sorted({(p, i, D(2015, 1, 1)) for p, i, _, _ in rows})
    patients = pd.DataFrame(people, columns=["practice_code", "patient_id", "registration_date"])
    patients["registration_date"] = pd.to_datetime(patients["registration_date"]).astype(
        "datetime64[s]"
    )
    return schemas.extract(events, patients, has_practice=True)


def _measures(engine_name: str, extract, reference: dt.date, by="practice", org=None):
    ruleset = ccrqof.load_ruleset(reference_date=reference).only(["CAN004", "CAN005"])
    engine = ccrqof.get_engine(engine_name)
    handle = engine.prepare(extract, None, [ruleset])
    return measures.for_month(engine, handle, engine.evaluate(handle, ruleset), by, org)


def _cohorts(engine_name: str, extract, reference: dt.date, month: str):
    """Every cohort row of one diagnosis month (calc shows only the latest closed on)."""
    ruleset = ccrqof.load_ruleset(reference_date=reference).only(["CAN004", "CAN005"])
    engine = ccrqof.get_engine(engine_name)
    handle = engine.prepare(extract, None, [ruleset])
    return measures.stamp(measures.cohorts(engine.evaluate(handle, ruleset), [month]), ruleset)


def _row(frame, measure: str, month: str, practice="P1"):
    found = frame[
        (frame["measure"] == measure) & (frame["month"] == month) & (frame.iloc[:, 2] == practice)
    ]
    assert len(found) == 1, found
    return found.iloc[0]


@pytest.mark.parametrize("engine", ENGINE_NAMES)
@pytest.mark.parametrize(
    "diagnosed, support, counts",
    [
        (D(2024, 5, 31), D(2024, 8, 31), True),  # 31 May + 3 months: the last day that counts
        (D(2024, 5, 31), D(2024, 9, 1), False),  # one day late
        (D(2023, 11, 30), D(2024, 2, 29), True),  # 30 Nov + 3 months clamps to 29 Feb
        (D(2023, 11, 30), D(2024, 3, 1), False),
        (D(2024, 5, 15), D(2024, 5, 15), True),  # on the day of diagnosis
    ],
)
def test_a_support_discussion_counts_up_to_the_windows_last_day(engine, diagnosed, support, counts):
    extract = _extract([("P1", "1", "CAN_COD", diagnosed), ("P1", "1", "CANPCSUPP_COD", support)])
    month = diagnosed.strftime("%Y-%m")
    row = _row(_cohorts(engine, extract, D(2024, 12, 31), month), "CAN005_COHORT", month)
    assert (row["count"], row["base"]) == (int(counts), 1)


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_a_care_review_counts_within_12_months_not_after(engine):
    extract = _extract(
        [
            ("P1", "1", "CAN_COD", D(2023, 6, 30)),
            ("P1", "1", "MDRV_COD", D(2024, 6, 30)),  # 12 months on: counts
            ("P1", "2", "CAN_COD", D(2023, 6, 1)),
            ("P1", "2", "MDRV_COD", D(2024, 6, 2)),  # a day late
            ("P1", "3", "CAN_COD", D(2023, 6, 10)),  # never reviewed
        ]
    )
    frame = _cohorts(engine, extract, D(2024, 6, 30), "2023-06")
    row = _row(frame, "CAN004_COHORT", "2023-06")
    assert (row["count"], row["base"], row["rate"]) == (1, 3, pytest.approx(1 / 3))
    assert row["complete"]  # every June 2023 window closed by 30 June 2024


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_a_cohort_is_so_far_until_its_last_window_closes(engine):
    extract = _extract([("P1", "1", "CAN_COD", D(2024, 7, 3))])
    on_the_day = _measures(engine, extract, D(2024, 10, 31))
    day_before = _measures(engine, extract, D(2024, 10, 30))
    assert _row(on_the_day, "CAN005_COHORT", "2024-07")["complete"]
    assert not _row(day_before, "CAN005_COHORT", "2024-07")["complete"]
    # calc shows each cohort from its latest closed month on: June is closed on 30 October
    assert set(day_before.loc[day_before["measure"] == "CAN005_COHORT", "month"]) == {
        "2024-06",
        "2024-07",
        "2024-08",
        "2024-09",
        "2024-10",
    }


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_activity_counts_a_patients_day_once_and_nothing_after_the_reference_date(engine):
    rows = [
        ("P1", "1", "MDRV_COD", D(2024, 10, 2)),
        ("P1", "1", "MDRV_COD", D(2024, 10, 2)),  # the same day again: once
        ("P1", "1", "MDRV_COD", D(2024, 10, 9)),
        ("P1", "2", "MDRV_COD", D(2024, 10, 2)),
        ("P1", "2", "MDRV_COD", D(2024, 11, 1)),  # after R
        ("P1", "1", "CANPCAPU_COD", D(2024, 10, 5)),
        ("P1", "1", "CANPCADEC_COD", D(2024, 10, 5)),  # both PCA clusters, one day: once
        ("P1", "1", "CAN_COD", D(2020, 1, 1)),  # on the register
        ("P1", "2", "CAN_COD", D(2020, 1, 1)),
        ("P2", "9", "CAN_COD", D(2020, 1, 1)),  # a practice with no activity: rows of 0
    ]
    frame = _measures(engine, _extract(rows), D(2024, 10, 31))
    reviews = _row(frame, "reviews", "2024-10")
    assert (reviews["count"], reviews["base"], reviews["rate"]) == (3, 2, 1500.0)
    assert _row(frame, "pca_codes", "2024-10")["count"] == 1
    assert _row(frame, "invitations", "2024-10")["count"] == 0
    assert _row(frame, "reviews", "2024-10", practice="P2")["count"] == 0
    assert _row(frame, "reviews", "2024-10")["complete"]


def test_an_empty_register_leaves_the_rate_blank_not_zero_or_infinite():
    rows = [("P1", "1", "MDRV_COD", D(2024, 10, 2))]  # reviewed, never diagnosed
    frame = _measures("python", _extract(rows), D(2024, 10, 31))
    row = _row(frame, "reviews", "2024-10")
    assert row["count"] == 1 and row["base"] == 0 and pd.isna(row["rate"])


def test_a_roll_up_adds_counts_and_bases_and_recomputes_the_rate():
    rows = [
        ("P1", "1", "CAN_COD", D(2024, 7, 1)),
        ("P1", "1", "CANPCSUPP_COD", D(2024, 7, 20)),
        ("P2", "2", "CAN_COD", D(2024, 7, 9)),
        ("P3", "3", "CAN_COD", D(2024, 7, 9)),
        ("P3", "3", "CANPCSUPP_COD", D(2024, 8, 1)),
    ]
    org = pd.DataFrame({"practice_code": ["P1", "P2"], "pcn_code": ["U1", "U1"]})
    practices = _measures("python", _extract(rows), D(2024, 10, 31))
    pcns = _measures("python", _extract(rows), D(2024, 10, 31), "pcn", org)
    row = _row(pcns, "CAN005_COHORT", "2024-07", practice="U1")
    assert (row["count"], row["base"], row["rate"]) == (1, 2, 0.5)
    unmapped = _row(pcns, "CAN005_COHORT", "2024-07", practice="(not in org map)")
    assert (unmapped["count"], unmapped["base"]) == (1, 1)
    for name in ("count", "base"):  # nothing lost or counted twice
        assert pcns[name].sum() == practices[name].sum()


@pytest.fixture(scope="module")
def sample():
    return ccrqof.read_extract("sample_data/events.csv", patients="sample_data/patients.csv")


@pytest.mark.parametrize("reference", [D(2025, 3, 31), D(2026, 6, 30), D(2026, 11, 15)])
def test_engines_give_the_same_measures_on_the_sample(sample, reference):
    ruleset = ccrqof.load_ruleset(reference_date=reference).only(["CAN004", "CAN005"])
    frames = []
    for name in ENGINE_NAMES:
        engine = ccrqof.get_engine(name)
        handle = engine.prepare(sample, illustrative_codelist(), [ruleset])
        frames.append(measures.for_month(engine, handle, engine.evaluate(handle, ruleset)))
    assert len(frames[0]) > 10 and frames[0]["count"].sum() > 0
    for other in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], other)


def test_the_series_cohorts_are_the_last_month_ends_and_activity_is_monthly(sample):
    """trend's measures: cohorts as the last month end sees them, activity per month with the
    register at each month end."""
    days = [D(2026, 8, 31), D(2026, 9, 30), D(2026, 10, 31)]
    rulesets = [ccrqof.load_ruleset(reference_date=d).only(["CAN004", "CAN005"]) for d in days]
    engine = ccrqof.get_engine("duckdb")
    handle = engine.prepare(sample, illustrative_codelist(), rulesets)
    frames = series(engine, handle, days, ["CAN001", "CAN004", "CAN005"])
    last = engine.evaluate(handle, rulesets[-1])
    months = ["2026-08", "2026-09", "2026-10"]
    frame = measures.for_series(engine, handle, last, months, frames)
    alone = measures.cohorts(last, months)
    cohort = frame[frame["kind"] == "cohort"].reset_index(drop=True)
    assert cohort["count"].tolist() == alone["count"].tolist()
    for month, day in zip(months, days, strict=True):
        register = frames[(frames["indicator"] == "CAN001") & (frames["period"] == month)]
        reviews = frame[(frame["measure"] == "reviews") & (frame["month"] == month)]
        assert reviews["base"].tolist() == register["register"].tolist()
        one_month = measures.for_month(
            engine, handle, engine.evaluate(handle, rulesets[days.index(day)])
        )
        recorded = one_month[(one_month["measure"] == "reviews")]
        assert reviews["count"].tolist() == recorded["count"].tolist()


def test_calc_and_trend_write_the_measures(tmp_path):
    base = ["sample_data/events.csv", "--patients", "sample_data/patients.csv", "-q"]
    runner = CliRunner()
    out = tmp_path / "m.csv"
    done = runner.invoke(
        cli,
        ["calc", *base, "--as-of", "2026-10-31", "--measures-out", str(out), "--format", "json"],
    )
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)
    written = pd.read_csv(out, dtype={"month": str})
    assert len(document["measures"]) == len(written) > 0
    assert list(written.columns[:2]) == ["reference_date", "ruleset"]
    assert set(written["kind"]) == {"cohort", "activity"}
    done = runner.invoke(
        cli, ["trend", *base, "--from", "2026-01", "--to", "2026-10", "--measures"]
    )
    assert done.exit_code == 0, done.output
    assert "Measures that show change quickly" in done.stdout
    assert "CAN005 Support discussion" in done.stdout


def test_trend_runs_to_the_last_complete_month_by_default():
    assert last_complete_month(D(2026, 11, 29)) == "2026-10"
    assert last_complete_month(D(2026, 1, 1)) == "2025-12"
    assert last_complete_month(D(2026, 3, 31)) == "2026-02"


def test_a_cohort_measure_must_read_dates_the_outcome_rows_show():
    import yaml
    from pydantic import ValidationError

    from ccrqof.rules.loader import BUNDLED
    from ccrqof.rules.model import IndicatorPack

    pack = yaml.safe_load((BUNDLED / "2024-25" / "CAN005.yaml").read_text())
    pack["measures"]["cohort"]["outcome"] = "PCAPU_DAT"  # a date, but not an outcome date
    with pytest.raises(ValidationError, match="list it in outcome_dates"):
        IndicatorPack.model_validate(pack)
    pack["measures"]["cohort"]["outcome"] = "SUPP_DAT"
    pack["measures"]["cohort"]["within"] = "3 weeks"
    with pytest.raises(ValidationError, match="3 months"):
        IndicatorPack.model_validate(pack)


def test_every_cancer_year_defines_both_measures():
    for year in ("2021-22", "2022-23", "2023-24", "2024-25"):
        packs = ccrqof.load_ruleset(year=year).packs
        assert packs["CAN004"].measures.cohort.within == 12
        assert packs["CAN005"].measures.cohort.within == 3
        # the windows are the indicators' own numerator windows (R3 of each pack)
        for indicator in ("CAN004", "CAN005"):
            pack = packs[indicator]
            r3 = next(r for r in pack.rules if r.kind == "select_numerator")
            assert r3.when.date == pack.measures.cohort.outcome
            assert str(r3.when.bound).replace(" ", "") == (
                f"{pack.measures.cohort.entry}+{pack.measures.cohort.within}months"
            )


def _unpractised(rows, registered):
    """Events without practice codes; registrations say where each patient was when."""
    events = pd.DataFrame(rows, columns=["patient_id", "cluster", "date"])
    events["date"] = pd.to_datetime(events["date"]).astype("datetime64[s]")
    patients = pd.DataFrame(
        registered,
        columns=["practice_code", "patient_id", "registration_date", "deregistration_date"],
    )
    for name in ("registration_date", "deregistration_date"):
        patients[name] = pd.to_datetime(patients[name]).astype("datetime64[s]")
    return schemas.extract(events, patients, has_practice=False)


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_activity_counts_where_the_patient_was_registered_that_day(engine):
    """An entry counts at the practice the patient was registered with on its day: not at a
    practice they had left, nor at one they joined later (records travel with the patient)."""
    extract = _unpractised(
        [
            ("1", "CAN_COD", D(2020, 1, 1)),
            ("1", "MDRV_COD", D(2024, 10, 2)),  # at P1: P2's registration ended in 2023
            ("2", "CAN_COD", D(2020, 1, 1)),
            ("2", "MDRV_COD", D(2024, 10, 3)),  # before joining P1 on 10 October
        ],
        [
            ("P1", "1", D(2015, 1, 1), None),
            ("P2", "1", D(2015, 1, 1), D(2023, 1, 1)),
            ("P1", "2", D(2024, 10, 10), None),
        ],
    )
    frame = _measures(engine, extract, D(2024, 10, 31))
    assert _row(frame, "reviews", "2024-10")["count"] == 1
    assert _row(frame, "reviews", "2024-10", practice="P2")["count"] == 0


def test_measures_files_leave_the_practice_blank_as_the_summary_does():
    rows = [("", "1", "CAN_COD", D(2024, 9, 1)), ("", "1", "MDRV_COD", D(2024, 10, 2))]
    events = pd.DataFrame(rows, columns=["practice_code", "patient_id", "cluster", "date"])
    events["date"] = pd.to_datetime(events["date"]).astype("datetime64[s]")
    extract = schemas.extract(events.drop(columns="practice_code"), has_practice=False)
    frame = _measures("duckdb", extract, D(2024, 10, 31))
    assert len(frame) and frame["practice_code"].isna().all()


def test_a_pack_without_measures_still_gives_a_table_with_the_run_columns():
    ruleset = ccrqof.load_ruleset(reference_date=D(2024, 3, 31)).only(["CS005"])
    extract = _extract([("P1", "1", "CAN_COD", D(2020, 1, 1))])
    engine = ccrqof.get_engine("python")
    handle = engine.prepare(extract, None, [ruleset])
    frame = measures.for_month(engine, handle, engine.evaluate(handle, ruleset))
    assert frame.empty and list(frame.columns[:3]) == ["reference_date", "ruleset", "practice_code"]


def test_a_quarterly_trend_has_activity_at_its_points_and_cohorts_from_its_first_month(tmp_path):
    out = tmp_path / "q.csv"
    done = CliRunner().invoke(
        cli,
        [
            "trend",
            "sample_data/events.csv",
            "--patients",
            "sample_data/patients.csv",
            "--from",
            "2026-01",
            "--to",
            "2026-09",
            "--every",
            "quarter",
            "--indicators",
            "CAN004,CAN005",
            "--measures-out",
            str(out),
            "-q",
        ],
    )
    assert done.exit_code == 0, done.output
    frame = pd.read_csv(out, dtype={"month": str})
    activity = frame[frame["kind"] == "activity"]
    assert set(activity["month"]) == {"2026-03", "2026-06", "2026-09"}
    assert activity["base"].notna().all() and activity["rate"].notna().all()
    cohort = frame[frame["kind"] == "cohort"]
    assert cohort["month"].min() == "2026-01" and cohort["month"].max() == "2026-09"


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_an_entry_on_a_months_last_day_is_that_months_and_the_next_day_the_next(engine):
    rows = [
        ("P1", "1", "CAN_COD", D(2020, 1, 1)),
        ("P1", "1", "MDRV_COD", D(2024, 10, 31)),
        ("P1", "1", "CANINVITE_COD", D(2024, 11, 1)),
        ("P1", "1", "MDRV_COD", D(2024, 11, 30)),
        ("P1", "1", "MDRV_COD", D(2024, 12, 1)),  # after R
    ]
    ruleset = ccrqof.load_ruleset(reference_date=D(2024, 11, 30)).only(["CAN004"])
    chosen = ccrqof.get_engine(engine)
    handle = chosen.prepare(_extract(rows), None, [ruleset])
    found = measures.activity(chosen, handle, ruleset, ["2024-10", "2024-11"], ["P1"])
    counts = found.set_index(["measure", "month"])["count"]
    assert counts[("reviews", "2024-10")] == 1
    assert counts[("reviews", "2024-11")] == 1
    assert counts[("invitations", "2024-10")] == 0
    assert counts[("invitations", "2024-11")] == 1
    assert found["complete"].all()  # R is November's last day
