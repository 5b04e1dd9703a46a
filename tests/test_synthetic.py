"""The synthetic generator (ccrqof.synthetic): the sparse profile stays byte-identical, the dense
profile is a cluster-filtered extract with the shapes the rules need, and extracts written in
parts have unique ids and practices."""

from __future__ import annotations

import hashlib
import importlib.util
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import ccrqof
from ccrqof.rules import available_years
from ccrqof.synthetic import make_extract, write_extract, write_extract_in_parts

ROOT = Path(__file__).resolve().parents[1]
R = "2024-03-31"


def sha(frame: pd.DataFrame) -> str:
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()


# Written by the generator before the dense profile was added (commit 8fa6244): the sparse
# profile must not change, since benchmarks, tests and sample_data rely on it.
SPARSE = [
    (
        (6, 2000, date(2024, 3, 31), 3),
        "ac43c0db02e5af42477a8f180d86bc0661aa72425c5649c21ed556a84ddcbf2e",
        "9238381fde9c6fbfe29c27e29f454b4a114e20e9bd5d9c8358885089a79300d1",
    ),
    (
        (3, (200, 2000), date(2024, 3, 31), 1),
        "a61b59e631a8ab848e1918ba70c4cfab89dfce5902e6475965dd04fd35730632",
        "f11507f66dd54caaf31379a450bbc6b75780a90197cf2e34085a0a89baa5720c",
    ),
    (
        (2, 700, date(2025, 6, 30), 11),
        "d023af862c52c0038960eb9e845ea5fd7d2b55ea2ea00d9863997f8425c99dd9",
        "6d47f9dcb186fdc855dfa3a92fd2437e9e6180ceaedbcb05d181273636469776",
    ),
]


@pytest.mark.parametrize(("args", "events_sha", "patients_sha"), SPARSE)
def test_sparse_profile_is_unchanged(args, events_sha, patients_sha):
    n, size, ref, seed = args
    events, patients = make_extract(n, size, ref, seed=seed)
    assert (sha(events), sha(patients)) == (events_sha, patients_sha)
    assert sha(events) == sha(make_extract(n, size, ref, seed=seed, profile="sparse")[0])


def test_sample_data_is_its_generators_output():
    """sample_data/generate.py writes the bundled files byte for byte, and keeps the sparse
    generator's 2023-24 extract inside them unchanged (the cancer history the docs show)."""
    spec = importlib.util.spec_from_file_location(
        "sample_generate", ROOT / "sample_data/generate.py"
    )
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    events, patients = generate.build()
    sample = ROOT / "sample_data"
    assert events.to_csv(index=False) == (sample / "events.csv").read_text()
    assert patients.to_csv(index=False) == (sample / "patients.csv").read_text()
    first, _ = make_extract(1, 5000, date(2024, 3, 31), seed=2024)
    wanted = first.astype(str).value_counts()
    have = events.astype(str).value_counts().reindex(wanted.index, fill_value=0)
    assert (have >= wanted).all()  # every row of the 2023-24 extract, as often as there


@pytest.fixture(scope="module")
def dense():
    return make_extract(200, 370, date(2024, 3, 31), seed=5, profile="dense")


def codes_the_rules_read() -> set[str]:
    clusters = set().union(*(ccrqof.load_ruleset(year=y).clusters() for y in available_years()))
    members = ccrqof.illustrative_codelist().members
    return set(members.loc[members["cluster"].isin(clusters), "code"])


def test_dense_profile_is_mostly_entries_the_rules_read(dense):
    events, patients = dense
    assert patients["patient_id"].nunique() == 200 * 370
    of_interest = events["code"].isin(codes_the_rules_read()).mean()
    assert 0.85 <= of_interest <= 0.95
    # national scale (6,500 practices x 370) is about 2.4 million patients, 9.4 million events
    assert 3.7 <= len(events) / (200 * 370) <= 4.1


def test_dense_profile_has_the_shapes_the_rules_need(dense):
    events, patients = dense
    members = ccrqof.illustrative_codelist().members
    cluster = events["code"].map(dict(zip(members["code"], members["cluster"], strict=True)))
    counts = cluster.value_counts()
    for name in ("CAN_COD", "MDRV_COD", "CANPCSUPP_COD", "CANINVITE_COD"):
        assert counts[name] > 10_000, name
    for name in ("CANPCADEC_COD", "CANPCAPU_COD"):
        assert counts[name] > 50, name
    assert set(events["episode"]) == {"", "first", "new", "review", "ended"}
    assert events.duplicated().sum() > 1000  # rows exported twice
    assert (events["date"] > R).sum() > 1000  # entered after R, before the extract was taken
    # patients who moved: the same id under two practices, each with a registration row
    moved = events.groupby("patient_id")["practice_code"].nunique()
    assert (moved > 1).sum() > 100
    assert (patients.groupby("patient_id")["practice_code"].nunique() > 1).sum() > 100
    dereg = patients["deregistration_date"]
    assert ((dereg != "") & (dereg <= R)).sum() > 1000  # left before R (many died)
    assert ((dereg != "") & (dereg > R)).sum() > 50  # left after R
    reg = patients["registration_date"]
    assert ((reg > "2023-12-31") & (reg <= R)).sum() > 200  # joined in the last 3 months
    assert (reg > R).sum() > 100  # joined after R
    assert (patients.groupby("patient_id").size() > 1).sum() > 500  # an earlier registration


def test_dense_profile_scores_like_a_cancer_extract(dense, tmp_path):
    events, patients = dense
    write_extract(events, patients, tmp_path, fmt="parquet")
    extract = ccrqof.read_extract(tmp_path / "events.parquet", tmp_path / "patients.parquet")
    ruleset = ccrqof.load_ruleset(year="2023-24")
    results = ccrqof.score(ccrqof.evaluate(extract, ruleset, ccrqof.illustrative_codelist()))
    totals = results.groupby("indicator")[["register", "denominator", "numerator"]].sum()
    assert 0.8 <= totals.loc["CAN001", "register"] / (200 * 370) <= 0.92
    for indicator, low, high in (("CAN004", 0.7, 0.9), ("CAN005", 0.5, 0.75)):
        rate = totals.loc[indicator, "numerator"] / totals.loc[indicator, "denominator"]
        assert low <= rate <= high, indicator


def test_dense_profile_is_deterministic():
    first = make_extract(3, 400, seed=9, profile="dense")
    second = make_extract(3, 400, seed=9, profile="dense")
    pd.testing.assert_frame_equal(first[0], second[0])
    pd.testing.assert_frame_equal(first[1], second[1])


def test_unknown_profile_is_an_error():
    with pytest.raises(ValueError, match="profile"):
        make_extract(1, 10, profile="medium")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_one_part_is_make_extract_written_by_write_extract(fmt, tmp_path):
    info = write_extract_in_parts(tmp_path / "parts", 4, 300, seed=2, profile="dense", fmt=fmt)
    events, patients = make_extract(4, 300, seed=2, profile="dense")
    write_extract(events, patients, tmp_path / "whole", fmt=fmt)
    for name in ("events", "patients"):
        parts = (tmp_path / "parts" / f"{name}.{fmt}").read_bytes()
        assert parts == (tmp_path / "whole" / f"{name}.{fmt}").read_bytes()
    assert (info["events"], info["registrations"], info["parts"]) == (len(events), len(patients), 1)


@pytest.mark.parametrize("profile", ["sparse", "dense"])
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_parts_have_unique_ids_and_practices(profile, fmt, tmp_path):
    info = write_extract_in_parts(
        tmp_path, 10, (50, 200), seed=4, profile=profile, fmt=fmt, practices_per_part=3
    )
    assert info["parts"] == 4
    if fmt == "parquet":
        events = pq.read_table(tmp_path / "events.parquet").to_pandas()
        patients = pq.read_table(tmp_path / "patients.parquet").to_pandas()
    else:
        events = pd.read_csv(tmp_path / "events.csv", dtype=str, keep_default_na=False)
        patients = pd.read_csv(tmp_path / "patients.csv", dtype=str, keep_default_na=False)
    assert (len(events), len(patients)) == (info["events"], info["registrations"])
    assert patients["patient_id"].nunique() == info["patients"]
    assert patients["patient_id"].str.len().nunique() == 1  # one width: no id is another's
    assert sorted(patients["practice_code"].unique()) == [f"A81{i:03d}" for i in range(1, 11)]
    # a patient's rows (registrations and events) stay within one part's practices
    part = (patients["practice_code"].str[3:].astype(int) - 1) // 3
    assert part.groupby(patients["patient_id"]).nunique().max() == 1
    assert set(events["patient_id"]) <= set(patients["patient_id"])
    extract = ccrqof.read_extract(tmp_path / f"events.{fmt}", tmp_path / f"patients.{fmt}")
    assert extract.events.shape[0] == info["events"]
