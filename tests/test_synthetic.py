"""The synthetic generator (ccrqof.synthetic): the sparse profile stays byte-identical, the dense
profile is a cluster-filtered extract with the shapes the rules need, extracts written in parts
have unique ids and practices, a Decline leaves out what it says from its start on, and the
bundled samples are their generators' output."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import importlib.util
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import ccrqof
from ccrqof.rules import available_years
from ccrqof.synthetic import Decline, make_extract, write_extract, write_extract_in_parts

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


# Written by the generator before `extracted` and `decline` were added: without them, the dense
# profile must not change either.
DENSE = [
    (
        (4, (100, 600), date(2024, 3, 31), 7),
        "77a744fa6218d3f78d3349a189b963988cb4b13cf7508fc1c9dfc0efeddaa49f",
        "a0545667083783fc449fa4b130ef1df350a25315e8c3e39dee559ec41a8d034d",
    ),
    (
        (2, 500, date(2025, 6, 30), 13),
        "91ffceaf3eaeb8274454d3770ed0fc846821c405882dbbb2bbab414f402b3f74",
        "e7cd54a1e8744921be5047525c9dc73afd4828e063d5a39db9a4a36a4c799be3",
    ),
]


@pytest.mark.parametrize(("args", "events_sha", "patients_sha"), DENSE)
def test_dense_profile_is_unchanged_without_a_decline(args, events_sha, patients_sha):
    n, size, ref, seed = args
    events, patients = make_extract(n, size, ref, seed, profile="dense")
    assert (sha(events), sha(patients)) == (events_sha, patients_sha)
    again = make_extract(n, size, ref, seed, profile="dense", extracted=None, decline=None)
    assert (sha(again[0]), sha(again[1])) == (events_sha, patients_sha)


START, FULL = date(2024, 5, 1), date(2024, 9, 1)
LATER = dict(reference_date=date(2024, 3, 31), extracted=date(2026, 3, 31))
MEMBERS = ccrqof.illustrative_codelist().members
CLUSTERS = dict(zip(MEMBERS["code"], MEMBERS["cluster"], strict=True))


def with_and_without(decline, n=12, size=800, profile="dense", seed=21):
    """The same extract without and with `decline`, each row with its cluster."""
    plain, _ = make_extract(n, size, seed=seed, profile=profile, **LATER)
    fewer, _ = make_extract(n, size, seed=seed, profile=profile, decline=decline, **LATER)
    return (frame.assign(cluster=frame["code"].map(CLUSTERS)) for frame in (plain, fewer))


@pytest.mark.parametrize("profile", ["sparse", "dense"])
def test_a_decline_leaves_out_the_stated_shares(profile):
    """Once it is full, a decline leaves out its share of each kind of entry, and nothing else;
    on the way there, the share it has reached by each entry's date (a straight line)."""
    shares = {"MDRV_COD": 0.6, "CANPCSUPP_COD": 0.3, "CANINVITE_COD": 0.45}
    decline = Decline(start=START, full=FULL, reviews=0.6, support=0.3, invitations=0.45)
    size = 1200 if profile == "dense" else 20000  # the sparse profile: 3% have cancer
    plain, fewer = with_and_without(decline, size=size, profile=profile)
    after = str(FULL)
    for cluster, share in shares.items():
        before = plain[(plain["cluster"] == cluster) & (plain["date"] >= after)]
        kept = fewer[(fewer["cluster"] == cluster) & (fewer["date"] >= after)]
        assert len(before) > 700, cluster  # enough for the tolerance
        assert 1 - len(kept) / len(before) == pytest.approx(share, abs=0.05), cluster
    # on the ramp: each entry's chance is its share times the part of the ramp gone by its date
    ramp = plain[plain["date"].between(str(START), after) & plain["cluster"].isin(shares)]
    gone_by = (pd.to_datetime(ramp["date"]) - pd.Timestamp(START)) / (
        pd.Timestamp(FULL) - pd.Timestamp(START)
    )
    expected = (ramp["cluster"].map(shares) * gone_by).sum()
    kept = fewer["date"].between(str(START), after) & fewer["cluster"].isin(shares)
    assert expected > 100
    assert len(ramp) - kept.sum() == pytest.approx(expected, rel=0.2)
    others = ~plain["cluster"].isin(shares)
    kept_others = ~fewer["cluster"].isin(shares)
    columns = ["practice_code", "patient_id", "code", "date", "episode"]
    pd.testing.assert_frame_equal(
        plain.loc[others, columns].reset_index(drop=True),
        fewer.loc[kept_others, columns].reset_index(drop=True),
    )


def test_a_decline_changes_nothing_before_its_start():
    """Patients, ids, and every entry dated before the start are as without the decline; later
    ones are some of those without it (a row exported twice goes with its copy)."""
    decline = Decline(start=START, full=FULL, reviews=1.0, support=1.0, invitations=1.0)
    plain, plain_patients = make_extract(6, 500, seed=4, profile="dense", **LATER)
    fewer, fewer_patients = make_extract(6, 500, seed=4, profile="dense", decline=decline, **LATER)
    pd.testing.assert_frame_equal(plain_patients, fewer_patients)
    early = str(START)
    pd.testing.assert_frame_equal(
        plain[plain["date"] < early].reset_index(drop=True),
        fewer[fewer["date"] < early].reset_index(drop=True),
    )
    later = fewer[fewer["date"] >= early].value_counts()
    assert (plain[plain["date"] >= early].value_counts().reindex(later.index) >= later).all()
    full = fewer["date"] >= str(FULL)  # all of them left out by then
    assert not fewer.loc[full, "code"].map(CLUSTERS).isin(["MDRV_COD", "CANPCSUPP_COD"]).any()
    assert len(fewer) < len(plain)


def test_practices_fall_by_their_own_factors():
    """practice_scale sets each practice's share (capped at 1); spread makes practices differ."""
    decline = Decline(start=START, full=FULL, reviews=0.5, practice_scale=(0.0, 1.0, 3.0))
    plain, fewer = with_and_without(decline, n=3, size=2500)
    after = str(FULL)

    def left_out(practice: str, plain=plain, fewer=fewer) -> float:
        count = [
            (
                (f["practice_code"] == practice)
                & (f["cluster"] == "MDRV_COD")
                & (f["date"] >= after)
            ).sum()
            for f in (plain, fewer)
        ]
        return 1 - count[1] / count[0]

    assert left_out("A81001") == 0
    assert left_out("A81002") == pytest.approx(0.5, abs=0.05)
    assert left_out("A81003") == 1
    spread = dataclasses.replace(decline, practice_scale=(), spread=0.5)
    plain, fewer = with_and_without(spread, n=3, size=2500)
    shares = sorted(left_out(p, plain, fewer) for p in ("A81001", "A81002", "A81003"))
    assert shares[-1] - shares[0] > 0.1


def test_histories_run_on_to_a_later_extract():
    events, patients = make_extract(3, 400, seed=5, profile="dense", **LATER)
    assert events["date"].max() <= "2026-03-31"
    assert (
        max(patients["registration_date"].max(), patients["deregistration_date"].max())
        <= "2026-03-31"
    )
    diagnosed = events[events["code"].map(CLUSTERS) == "CAN_COD"]["date"].str[:7]
    months = pd.period_range("2024-04", "2026-03", freq="M").astype(str)
    assert set(months) <= set(diagnosed)  # diagnoses every month up to the extract


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (dict(full=date(2025, 4, 1)), "full"),
        (dict(reviews=1.5), "reviews"),
        (dict(support=-0.1), "support"),
        (dict(spread=-1.0), "spread"),
        (dict(practice_scale=(1.0, -2.0)), "practice_scale"),
    ],
)
def test_a_bad_decline_is_an_error(change, match):
    with pytest.raises(ValueError, match=match):
        Decline(**{"start": date(2025, 4, 1), **change})


def test_bad_extracted_or_practice_scale_is_an_error():
    with pytest.raises(ValueError, match="extracted"):
        make_extract(1, 10, date(2024, 3, 31), extracted=date(2024, 3, 31))
    with pytest.raises(ValueError, match="one per practice"):
        make_extract(2, 10, decline=Decline(practice_scale=(1.0, 1.0, 1.0)))


def load_icb_generator():
    spec = importlib.util.spec_from_file_location(
        "icb_generate", ROOT / "sample_data/icb/generate.py"
    )
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    return generate


@pytest.fixture(scope="module")
def icb():
    """The ICB sample's generator and what it builds."""
    generate = load_icb_generator()
    return generate, *generate.build()


def test_icb_sample_is_its_generators_output(icb, tmp_path):
    """generate.py writes the bundled files again (compared uncompressed: another zlib may
    compress the same text to other bytes), and they stay small enough to bundle."""
    generate = icb[0]
    generate.write(tmp_path)
    folder = ROOT / "sample_data/icb"
    for name in ("events.csv.gz", "patients.csv.gz"):
        bundled = gzip.decompress((folder / name).read_bytes())
        assert bundled == gzip.decompress((tmp_path / name).read_bytes()), name
    assert (folder / "org-map.csv").read_bytes() == (tmp_path / "org-map.csv").read_bytes()
    names = ("events.csv.gz", "patients.csv.gz", "org-map.csv")
    assert sum((folder / name).stat().st_size for name in names) < 3_000_000


def test_icb_sample_is_an_icbs_cancer_extract(icb):
    _, events, patients, org = icb
    assert list(patients.columns) == [
        "practice_code",
        "patient_id",
        "registration_date",
        "deregistration_date",
    ]
    assert len(org) == 40 and org["pcn_code"].nunique() == 6
    assert set(org["icb_code"]) == {"QXX"}
    assert (
        set(events["practice_code"]) == set(org["practice_code"]) == set(patients["practice_code"])
    )
    assert events["date"].max() <= "2026-11-15"
    new = events[
        (events["code"].map(CLUSTERS) == "CAN_COD") & ~events["episode"].isin(["review", "ended"])
    ]
    months = pd.period_range("2021-04", "2026-11", freq="M").astype(str)
    per_month = new["date"].str[:7].value_counts().reindex(months, fill_value=0)
    assert per_month.min() >= 50  # diagnoses every month of the history
    for day in ("2021-04-30", "2024-04-30", "2026-10-31"):
        on_list = (patients["registration_date"] <= day) & (
            (patients["deregistration_date"] == "") | (patients["deregistration_date"] > day)
        )
        assert on_list.sum() > 0.7 * patients["patient_id"].nunique(), day


def test_icb_sample_shows_the_decline_that_qof_shows_slowly(icb):
    """Of patients diagnosed after April 2025, clearly fewer have a support discussion within 3
    months or a review within 12 than of those diagnosed the year before, and more so in the
    PCNs told to fall further; QOF's CAN004 has hardly moved by the end of October 2025."""
    generate, events, _, org = icb
    people = generate.cohorts(events, org)
    table = generate.by_pcn(people)
    support, review = table["support_3m"], table["review_12m"]
    icb_row = "whole ICB"
    assert support.loc[icb_row, "latest"] < 0.6 * support.loc[icb_row, "before"]
    assert review.loc[icb_row, "latest"] < 0.75 * review.loc[icb_row, "before"]
    fall = 1 - support["latest"] / support["before"]
    assert fall["Riverside PCN"] > fall["Hillside PCN"] + 0.15  # factors 1.25 and 0.75

    folder = ROOT / "sample_data/icb"
    extract = ccrqof.read_extract(folder / "events.csv.gz", folder / "patients.csv.gz")
    achieved = {}
    for day in (date(2025, 3, 31), date(2025, 10, 31)):
        ruleset = ccrqof.load_ruleset(reference_date=day).only(["CAN004"])
        scores = ccrqof.score(ccrqof.evaluate(extract, ruleset, ccrqof.illustrative_codelist()))
        totals = scores[scores["indicator"] == "CAN004"][["numerator", "denominator"]].sum()
        achieved[day] = totals["numerator"] / totals["denominator"]
    assert achieved[date(2025, 3, 31)] - achieved[date(2025, 10, 31)] < 0.03
