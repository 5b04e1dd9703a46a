"""Regenerate the synthetic ICB sample in this folder (from the repository root):
python sample_data/icb/generate.py

40 practices in 6 PCNs of one made-up ICB, a cluster-filtered cancer extract taken on 15 November
2026, no real patient data. Care reviews, support discussions and invitations fall away from
April 2025, when CAN004 and CAN005 left QOF, more in some PCNs than in others. Every step is
seeded, so a rerun writes the same bytes (with the same zlib).

The extract is ``ccrqof.synthetic.make_extract`` with the dense profile: histories built around
the 2023-24 QOF year (reference date 31 March 2024) and run on to the extract (``extracted``),
with a ``Decline``. The patients file has no sex or date of birth, as a cancer extract has none.
It prints the figures in README.md: per quarter of diagnosis and per PCN, the share of patients
with a support discussion within 3 months and a care review within 12 months of diagnosis, and
the entries recorded per practice per month.
"""

from __future__ import annotations

import dataclasses
import gzip
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent

try:
    import ccrqof  # noqa: F401
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(HERE.parents[1] / "src"))

from ccrqof.codelists import illustrative_codelist  # noqa: E402
from ccrqof.output import write_atomically  # noqa: E402
from ccrqof.synthetic import Decline, make_extract  # noqa: E402

SEED = 2026
REFERENCE = date(2024, 3, 31)
EXTRACTED = date(2026, 11, 15)  # nothing is dated after it
PATIENTS_PER_PRACTICE = (250, 850)  # patients in the extract (cancer patients, mostly)
ICB = ("QXX", "NHS Example Integrated Care Board")
# PCN code, name, practices, and how far its fall goes (times the decline's shares).
PCNS = [
    ("U40101", "Riverside PCN", 8, 1.25),
    ("U40102", "Hillside PCN", 7, 0.75),
    ("U40103", "Castle Gate PCN", 7, 1.0),
    ("U40104", "Northfield PCN", 6, 1.15),
    ("U40105", "Meadowbank PCN", 6, 0.85),
    ("U40106", "Old Town PCN", 6, 0.95),
]
# Not recorded from 1 September 2026, before each PCN's and practice's factor: 65% of reviews
# and support discussions, 60% of invitations.
DECLINE = Decline(
    start=date(2025, 4, 1),
    full=date(2026, 9, 1),
    reviews=0.65,
    support=0.65,
    invitations=0.6,
    spread=0.15,
)
# Made-up practice names: a place, then KINDS in turn.
PLACES = """Abbey Beech Bridge Brook Cedar Church Elm Field Forge Glebe Grange Green Heath Holly
Kings Lark Lime Mill Moor Oak Orchard Park Priory Quarry Rowan Saxon Spring Station Tower Vale
Weir Well Willow Wood Yew Ash Birch Chapel Cross Dale""".split()  # noqa: SIM905
KINDS = ("Surgery", "Medical Centre", "Health Centre", "Medical Practice")


def org_map(practices: list[str]) -> pd.DataFrame:
    """Practices in PCN blocks, in code order, with made-up names."""
    pcn = [row for row in PCNS for _ in range(row[2])]
    assert len(pcn) == len(practices) == len(PLACES)
    return pd.DataFrame(
        {
            "practice_code": practices,
            "practice_name": [f"{p} {KINDS[i % len(KINDS)]}" for i, p in enumerate(PLACES)],
            "pcn_code": [row[0] for row in pcn],
            "pcn_name": [row[1] for row in pcn],
            "icb_code": ICB[0],
            "icb_name": ICB[1],
        }
    )


def build() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(events, patients, org map) as the files hold them."""
    n = sum(row[2] for row in PCNS)
    scale = tuple(float(row[3]) for row in PCNS for _ in range(row[2]))
    events, patients = make_extract(
        n,
        PATIENTS_PER_PRACTICE,
        REFERENCE,
        SEED,
        profile="dense",
        extracted=EXTRACTED,
        decline=dataclasses.replace(DECLINE, practice_scale=scale),
    )
    patients = patients.drop(columns=["sex", "date_of_birth"])
    return events, patients, org_map(sorted(patients["practice_code"].unique()))


def _clusters(events: pd.DataFrame) -> pd.Series:
    members = illustrative_codelist().members
    return events["code"].map(dict(zip(members["code"], members["cluster"], strict=True)))


def cohorts(events: pd.DataFrame, org: pd.DataFrame) -> pd.DataFrame:
    """One row per patient with a diagnosis: when (their latest CAN_COD entry that is not a
    review or end of an earlier one), their PCN, and whether they had a support discussion
    (CANPCSUPP_COD) within 3 months and a care review (MDRV_COD) within 12 months of it;
    blank while those months had not ended by the extract."""
    cluster, when = _clusters(events), pd.to_datetime(events["date"])
    new = (cluster == "CAN_COD") & ~events["episode"].isin(["review", "ended"])
    people = pd.DataFrame(
        {
            "diagnosed": when[new].groupby(events["patient_id"][new]).max(),
            "practice_code": events[new].groupby("patient_id")["practice_code"].last(),
        }
    )
    for name, kind, months in (("support_3m", "CANPCSUPP_COD", 3), ("review_12m", "MDRV_COD", 12)):
        rows = cluster == kind
        entries = pd.DataFrame({"patient_id": events["patient_id"][rows], "when": when[rows]})
        entries = entries.join(people["diagnosed"], on="patient_id", how="inner")
        by_then = entries["diagnosed"] + pd.DateOffset(months=months)
        inside = entries[(entries["when"] >= entries["diagnosed"]) & (entries["when"] <= by_then)]
        had = people.index.isin(inside["patient_id"]).astype(float)
        ended = people["diagnosed"] + pd.DateOffset(months=months) <= pd.Timestamp(EXTRACTED)
        people[name] = np.where(ended, had, np.nan)
    return people.join(org.set_index("practice_code")["pcn_name"], on="practice_code")


def by_quarter(people: pd.DataFrame) -> pd.DataFrame:
    """Patients diagnosed, and the two shares, per quarter of diagnosis from April 2021."""
    quarter = people["diagnosed"].dt.to_period("Q").rename("diagnosed")
    table = people.groupby(quarter).agg(
        patients=("diagnosed", "size"),
        support_3m=("support_3m", "mean"),
        review_12m=("review_12m", "mean"),
    )
    return table[table.index >= pd.Period("2021Q2")]


# Diagnosed in the year before CAN004/CAN005 left QOF, and the latest months whose 3 (support)
# or 12 (review) months had ended by the extract.
BEFORE = ("2024-04-01", "2025-03-31")
LATEST = {"support_3m": ("2026-04-01", "2026-07-31"), "review_12m": ("2025-07-01", "2025-10-31")}


def by_pcn(people: pd.DataFrame) -> pd.DataFrame:
    """Per PCN (and the whole ICB): each share for the patients diagnosed BEFORE and LATEST."""
    rows = {}
    for name, group in [*people.groupby("pcn_name"), ("whole ICB", people)]:
        row = {}
        for share, latest in LATEST.items():
            for label, (first, last) in (("before", BEFORE), ("latest", latest)):
                chosen = group["diagnosed"].between(pd.Timestamp(first), pd.Timestamp(last))
                row[(share, label)] = group.loc[chosen, share].mean()
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def activity(events: pd.DataFrame) -> pd.DataFrame:
    """Entries recorded per practice per month, averaged over each quarter (a row exported
    twice counted once)."""
    kinds = {
        "MDRV_COD": "reviews",
        "CANPCSUPP_COD": "support",
        "CANINVITE_COD": "invitations",
        "CANPCADEC_COD": "PCA codes",
        "CANPCAPU_COD": "PCA codes",
    }
    entries = events.assign(kind=_clusters(events).map(kinds)).dropna(subset=["kind"])
    entries = entries.drop_duplicates(["patient_id", "code", "date"])
    quarter = pd.PeriodIndex(entries["date"], freq="Q").rename("recorded")
    counts = entries.groupby([quarter, "kind"]).size().unstack(fill_value=0)
    return counts[list(dict.fromkeys(kinds.values()))] / 3 / events["practice_code"].nunique()


def _write_gzip(path: Path, frame: pd.DataFrame) -> None:
    """CSV, gzip'd without a time stamp or name in its header, so reruns give the same bytes."""
    data = gzip.compress(frame.to_csv(index=False).encode(), compresslevel=9, mtime=0)
    write_atomically(path, lambda tmp: tmp.write_bytes(data))


def write(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Write the three files into `folder`; return what they hold."""
    events, patients, org = build()
    assert events["date"].max() <= EXTRACTED.isoformat()
    _write_gzip(folder / "events.csv.gz", events)
    _write_gzip(folder / "patients.csv.gz", patients)
    write_atomically(folder / "org-map.csv", lambda tmp: org.to_csv(tmp, index=False))
    return events, patients, org


def main() -> None:
    events, patients, org = write(HERE)
    print(
        f"wrote {len(events):,} events and {len(patients):,} registrations "
        f"({patients['patient_id'].nunique():,} patients, {len(org)} practices) to {HERE}"
    )
    people = cohorts(events, org)
    with pd.option_context("display.float_format", "{:.1%}".format, "display.width", 120):
        print(by_quarter(people))
        print(by_pcn(people))
    with pd.option_context("display.float_format", "{:.1f}".format):
        print(activity(events).loc["2024Q2":"2026Q3"])


if __name__ == "__main__":
    main()
