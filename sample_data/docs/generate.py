"""Regenerate the small inputs the how-to pages use (from the repository root):
python sample_data/docs/generate.py

Each file has the shape of something a user brings that the other samples lack: a clinical
system's search export, a code list as NHS England or OpenCodelists ship it, the ePCN org map,
an extract spread over several files. All synthetic, no real patient data; every step is seeded,
so a rerun writes the same files. README.md says what each is.

The patients and entries come from ``ccrqof.synthetic.make_extract`` (the cluster-filtered
``dense`` profile, histories built around the 2023-24 QOF year); codes only from the bundled
illustrative code list, whose cancer invitation and PCA codes are placeholders, not SNOMED CT.
"""

from __future__ import annotations

import sys
from datetime import date
from importlib import resources
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent

try:
    import ccrqof  # noqa: F401
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(HERE.parents[1] / "src"))

from ccrqof.output import write_atomically  # noqa: E402
from ccrqof.synthetic import make_extract  # noqa: E402

REFERENCE = date(2024, 3, 31)
CANCER_CLUSTERS = (
    "CAN_COD",
    "MDRV_COD",
    "CANPCSUPP_COD",
    "CANINVITE_COD",
    "CANPCADEC_COD",
    "CANPCAPU_COD",
)
# The search export: a report's title above the header, as EMIS Web and SystmOne write it.
EXPORT_PREAMBLE = ["Search: Cancer register", "Run date: 24/04/2024", ""]
EXPORT_PRACTICE = "A81001"
# Rows as a search export can hold them, each rejected with its reason: a Read code where a
# SNOMED CT id belongs, a day that does not exist, and a support discussion's id (1239881000000109)
# after Excel kept 15 of its 16 digits.
BAD_EXPORT_ROWS = [
    ("B34..", "12/05/2023", "Malignant neoplasm of female breast"),
    ("720006006", "31/02/2023", "Cancer care review"),
    (
        "1239881000000100",
        "14/09/2023",
        "Provision of information about cancer support services available in primary care",
    ),
]
# The refset's Cluster_Description column, in our words (not NHS England's).
CLUSTER_DESCRIPTIONS = {
    "CAN_COD": "Cancer diagnosis codes",
    "MDRV_COD": "Cancer care review codes",
    "CANPCSUPP_COD": "Cancer support discussion codes",
    "CANINVITE_COD": "Cancer care review invitation codes",
    "CANPCADEC_COD": "Cancer care declined codes",
    "CANPCAPU_COD": "Cancer care unsuitable codes",
    "SMEAR_COD": "Cervical screening test codes",
    "CSDEC_COD": "Cervical screening declined codes",
    "CSPU_COD": "Cervical screening unsuitable codes",
    "CSPCAINVITE_COD": "Cervical screening invitations not responded to codes",
    "NOCX_COD": "No cervix codes",
    "PREG_COD": "Pregnancy codes",
}
# OpenCodelists' download name: <organisation>-<codelist>-<version>.csv
OPENCODELISTS = "nhsd-primary-care-domain-refsets-{cluster}-{version}.csv"
NEWEST, OLDER = "20241205", "20231105"
# ePCN: the core partner sheet's columns (a CSV of the "PCN Core Partner Details" sheet).
EPCN_COLUMNS = [
    "Partner Organisation Code",
    "Partner Name",
    "Practice Parent Sub ICB Location Code",
    "Practice Parent Sub ICB Location Name",
    "PCN Code",
    "PCN Name",
    "Practice to PCN Relationship Start Date",
    "Practice to PCN Relationship End Date",
]
SUB_ICB = {  # the ICB sample's PCNs in two made-up Sub ICB Locations (the former CCGs)
    "U40101": ("X1A", "NHS Example ICB - X1A"),
    "U40102": ("X1A", "NHS Example ICB - X1A"),
    "U40103": ("X1A", "NHS Example ICB - X1A"),
    "U40104": ("X2B", "NHS Example ICB - X2B"),
    "U40105": ("X2B", "NHS Example ICB - X2B"),
    "U40106": ("X2B", "NHS Example ICB - X2B"),
}
NOT_IN_EPCN = ("A81039", "A81040")  # practices the file leaves out
MOVED = {"A81008": "U40102", "A81020": "U40104"}  # practice: the PCN it was in until 2022


def illustrative() -> pd.DataFrame:
    """The bundled illustrative code list with its terms (cluster, code, term)."""
    with resources.as_file(resources.files("ccrqof.data") / "illustrative_codelist.csv") as path:
        return pd.read_csv(path, dtype=str, keep_default_na=False)


def _terms() -> dict[str, str]:
    members = illustrative()
    return dict(zip(members["code"], members["term"], strict=True))


def _uk_date(iso: pd.Series) -> pd.Series:
    return pd.to_datetime(iso, format="%Y-%m-%d").dt.strftime("%d/%m/%Y")


def search_export() -> str:
    """One practice's cancer search as EMIS Web exports it: a title, its own column names, dates
    day first, the registration date on every row, the practice in a column named Organisation,
    a term beside each code, and three bad rows. Only patients registered once and still
    registered (a search of the current list)."""
    events, patients = make_extract(1, 30, REFERENCE, 11, profile="dense")
    once = patients[
        ~patients["patient_id"].duplicated(keep=False) & (patients["deregistration_date"] == "")
    ]
    terms = _terms()
    rows = events[events["patient_id"].isin(once["patient_id"]) & events["code"].isin(terms)]
    rows = rows.merge(once[["patient_id", "registration_date"]], on="patient_id")
    export = pd.DataFrame(
        {
            "Patient ID": rows["patient_id"],
            "SNOMED CT Concept ID": rows["code"],
            "Date": _uk_date(rows["date"]),
            "Episode": rows["episode"],
            "Registration date": _uk_date(rows["registration_date"]),
            "Organisation": EXPORT_PRACTICE,
            "Term": rows["code"].map(terms),
        }
    )
    patient = export.iloc[0]
    bad = pd.DataFrame(
        [
            {
                **patient.to_dict(),
                "SNOMED CT Concept ID": code,
                "Date": day,
                "Episode": "",
                "Term": term,
            }
            for code, day, term in BAD_EXPORT_ROWS
        ]
    )
    export = pd.concat([export, bad], ignore_index=True)
    return "\n".join(EXPORT_PREAMBLE) + "\n" + export.to_csv(index=False)


def refset() -> pd.DataFrame:
    """The illustrative code list in the columns of the PCD refset content file (tab-separated).
    It stands in for the refset, which is not bundled: it is not the refset."""
    members = illustrative()
    return pd.DataFrame(
        {
            "Cluster_ID": members["cluster"],
            "Cluster_Description": members["cluster"].map(CLUSTER_DESCRIPTIONS),
            "SNOMED_code": members["code"],
            "SNOMED_code_description": members["term"],
        }
    )


def opencodelists() -> dict[str, pd.DataFrame]:
    """The six cancer clusters as OpenCodelists downloads (code, term), named as it names them,
    and an older CAN_COD version beside the newest, without the list's last cancer code."""
    members = illustrative()
    files = {}
    for cluster in CANCER_CLUSTERS:
        codes = members.loc[members["cluster"] == cluster, ["code", "term"]]
        slug = cluster.lower()
        files[OPENCODELISTS.format(cluster=slug, version=NEWEST)] = codes
        if cluster == "CAN_COD":
            files[OPENCODELISTS.format(cluster=slug, version=OLDER)] = codes.iloc[:-1]
    return files


def epcn() -> pd.DataFrame:
    """The ICB sample's practices as the ePCN's core partner sheet lists them: current
    memberships (no end date), two practices' earlier PCNs (ended in 2022), and two practices
    left out. It has no ICB column, only each practice's Sub ICB Location."""
    org = pd.read_csv(HERE.parent / "icb" / "org-map.csv", dtype=str)
    org = org[~org["practice_code"].isin(NOT_IN_EPCN)]
    rows = []
    for practice in org.itertuples():
        earlier = MOVED.get(practice.practice_code)
        memberships = [(practice.pcn_code, "20221001" if earlier else "20190701", "")]
        if earlier:
            memberships.insert(0, (earlier, "20190701", "20220930"))
        for pcn, start, end in memberships:
            names = org.loc[org["pcn_code"] == pcn, "pcn_name"]
            rows.append(
                [
                    practice.practice_code,
                    practice.practice_name.upper(),
                    *SUB_ICB[practice.pcn_code],
                    pcn,
                    names.iloc[0].upper(),
                    start,
                    end,
                ]
            )
    return pd.DataFrame(rows, columns=EPCN_COLUMNS)


def several_files() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(events, patients) of three small practices' cancer extract, to be written as a file per
    practice; no sex or date of birth, as a cancer extract has none."""
    events, patients = make_extract(3, 40, REFERENCE, 7, profile="dense")
    return events, patients.drop(columns=["sex", "date_of_birth"])


def main() -> None:
    def csv(path: Path, frame: pd.DataFrame, **options) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda tmp: frame.to_csv(tmp, index=False, **options))

    def parquet(path: Path, frame: pd.DataFrame) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda tmp: frame.to_parquet(tmp, index=False))

    export = search_export()
    write_atomically(
        HERE / "emis-search-export.csv", lambda tmp: tmp.write_text(export, encoding="utf-8")
    )
    csv(HERE / "PCD_refset_content.txt", refset(), sep="\t")
    for name, frame in opencodelists().items():
        csv(HERE / "codelists" / name, frame)
    csv(HERE / "epcn-core-partner-details.csv", epcn())
    events, patients = several_files()
    for practice, rows in events.groupby("practice_code"):
        csv(HERE / "extracts" / f"{practice}.csv", rows)
        parquet(
            HERE / "partitioned" / f"practice_code={practice}" / "part-0.parquet",
            rows.drop(columns="practice_code"),
        )
    parquet(HERE / "registrations.parquet", patients)


if __name__ == "__main__":
    main()
