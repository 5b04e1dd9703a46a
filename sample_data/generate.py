"""Regenerate the synthetic sample extract in this folder: python sample_data/generate.py

One practice (A81001), about 5,000 patients, no real patient data. Two steps, both seeded, so a
rerun writes the same bytes:

1. The cancer model of ``ccrqof.synthetic.make_extract`` built around the 2023-24 QOF year
   (reference date 31 March 2024, seed 2024), exactly as before: its entries and registrations
   up to that extract (taken on 24 April 2024) are kept unchanged.
2. The same practice followed on to a second extract taken on 15 November 2026 (``EXTRACTED``):
   people leave (moved away or died) and join, new cancers are diagnosed and reviewed with the
   rates of step 1, common entries go on being recorded, and every woman gets a cervical
   screening history (tests, hysterectomies, 'no response' / declined / unsuitable codes,
   pregnancies). A handful of patients get a blank or unusual sex or a blank date of birth.

Codes come only from the bundled illustrative code list (src/ccrqof/data/illustrative_codelist.csv)
and the common codes of ccrqof.synthetic.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent

try:
    import ccrqof  # noqa: F401
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(HERE.parent / "src"))

from ccrqof.codelists import illustrative_codelist  # noqa: E402
from ccrqof.synthetic import (  # noqa: E402
    AGE_BANDS,
    AGE_TILT,
    CANCER_WEIGHTS,
    NOISE_CODES,
    make_extract,
)

PRACTICE = "A81001"
REFERENCE = date(2024, 3, 31)  # step 1's reference date
SEED = 2024
EXTRACTED = date(2026, 11, 15)  # the second extract: nothing is dated after it
HISTORY_FROM = date(2010, 1, 1)  # screening entries before this are not in the sample
NO_RESPONSE_CODED_FROM = date(2021, 4, 1)  # 'no response to three invitations' coded from
YEAR = 365.25

# Step 2's people: list turnover a year, and who joins.
MOVE_AWAY = 0.03  # a year, any age (0.05 for ages 18-34)
JOIN = 0.05  # joiners a year, as a share of the list
# Cancer (the rates of ccrqof.synthetic's sparse profile).
INCIDENCE = 0.006  # diagnosed a year, as a share of the list
PREVALENCE = 0.031  # joiners with a cancer history
P_REVIEW, P_LATE, P_SUPPORT, P_SUPPORT_LATE = 0.75, 0.10, 0.60, 0.10

# Cervical screening: how each woman responds to her invitations.
BEHAVIOUR = {"regular": 0.44, "late": 0.30, "never": 0.26}
LATE_DELAY = 1.8  # years: the mean delay of a woman who comes late
STOP_AT_50 = 0.05  # women who come no more once they are invited five-yearly
NEVER_KIND = {"no response": 0.75, "declines": 0.19, "unsuitable": 0.06}
P_NOCX = 0.07  # lifetime chance of a hysterectomy (removing the cervix) before 65
P_CODE_NO_RESPONSE = 0.18  # the practice codes 'no response to three invitations' for a round
# Chance of a pregnancy starting in a year of age (20-24, 25-29, 30-34, 35-39, 40-44).
PREGNANCY = (0.05, 0.09, 0.10, 0.06, 0.012)

# Relabelled patients: (how many, who, value) for sex and date of birth.
ODD_SEX = [(3, "woman", ""), (2, "other", ""), (2, "woman", "X"), (1, "other", "X")]
ODD_SEX += [(1, "woman", "9"), (1, "other", "9")]
BLANK_DOB = [(2, "woman", ""), (2, "other", "")]


def _codes() -> dict[str, list[str]]:
    """Codes per cluster of the bundled illustrative list, in its order."""
    members = illustrative_codelist().members
    return {c: list(members.loc[members["cluster"] == c, "code"]) for c in members["cluster"]}


def _member(cluster: str, *codes: str) -> None:
    missing = [c for c in codes if c not in CODES[cluster]]
    assert not missing, f"{missing} not in {cluster} of the illustrative code list"


CODES = _codes()
# The screening codes the sample uses, by meaning (all from the illustrative list).
SMEAR = {
    "negative": "269958004",  # Cervical smear - negative (cytology, before 2020)
    "hpv_negative": "888091000000108",  # ... - human papillomavirus negative
    "hpv_positive": "888111000000103",  # ... - human papillomavirus positive
    "low_grade": "880941000000101",  # ... - low grade dyskaryosis
}
PREGNANT = {
    "confirmed": ("77386006", "169560008"),  # Pregnancy; Pregnant - urine test confirms
    "low risk": "237239003",
    "high risk": "47200007",
    "twins": "65147003",
}
NOCX, DECLINED = CODES["NOCX_COD"], CODES["CSDEC_COD"]
PCA_INVITE, UNSUITABLE = CODES["CSPCAINVITE_COD"][0], CODES["CSPU_COD"][0]
_member("SMEAR_COD", *SMEAR.values())
_member(
    "PREG_COD", *PREGNANT["confirmed"], *(PREGNANT[k] for k in ("low risk", "high risk", "twins"))
)


def day(iso: str) -> int:
    return date.fromisoformat(iso).toordinal()


def text(ordinal: int) -> str:
    return date.fromordinal(int(ordinal)).isoformat()


def years(n: float) -> int:
    return int(round(n * YEAR))


class Record:
    """New entries, kept only up to the day the patient's record ends (left, or extracted)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, int, str]] = []

    def add(self, pid: str, code: str, when: int, last: int, episode: str = "") -> None:
        if when <= last:
            self.rows.append((pid, code, int(when), episode))


# --- step 2: who is on the list ----------------------------------------------------------------


def leaving(age: float) -> float:
    """A year's chance of leaving the list: moving away (more at 18-34), or dying."""
    return (0.05 if 18 <= age < 35 else MOVE_AWAY) + 1e-4 * np.exp(0.085 * age)


def follow_list(
    rng, patients: pd.DataFrame, start: int, end: int
) -> tuple[pd.DataFrame, dict, set[str]]:
    """Leavers among those registered at `start`, and joiners up to `end`. Returns the
    registration rows; per patient, (dob, female, registered from, last day on record); and
    the joiners."""
    patients = patients.copy()
    current = patients.groupby("patient_id", sort=False).tail(1)  # a returner's later row
    people: dict[str, tuple[int, bool, int, int]] = {}
    for i, row in current.iterrows():
        dob, reg = day(row["date_of_birth"]), day(row["registration_date"])
        left = row["deregistration_date"]
        last = day(left) if left else end
        if not left:
            gone = start + years(rng.exponential(1 / leaving((start - dob) / YEAR)))
            if gone < end:
                patients.loc[i, "deregistration_date"] = text(gone)
                last = gone
        people[row["patient_id"]] = (dob, row["sex"] == "F", reg, last)

    taken = set(patients["patient_id"])
    n = rng.poisson(JOIN * len(current) * (end - start) / YEAR)
    band_p = AGE_BANDS / AGE_BANDS.sum()
    rows = []
    for _ in range(n):
        pid = f"{rng.integers(0, 10**7):07d}"
        while pid in taken:
            pid = f"{rng.integers(0, 10**7):07d}"
        taken.add(pid)
        band = rng.choice(AGE_BANDS.size, p=band_p)
        age = 5.0 * band + rng.random() * (10.0 if band == AGE_BANDS.size - 1 else 5.0)
        reg = int(rng.integers(start + 1, end + 1))
        dob = reg - years(age)
        if age < 0.2:  # a baby, registered within weeks of birth
            reg = min(max(dob + int(rng.integers(7, 43)), start + 1), end)
        female = rng.random() < 0.505
        gone = reg + max(30, years(rng.exponential(1 / leaving(age))))
        last = gone if gone < end else end
        rows.append(
            {
                "practice_code": PRACTICE,
                "patient_id": pid,
                "registration_date": text(reg),
                "deregistration_date": text(gone) if gone < end else "",
                "date_of_birth": text(dob),
                "sex": "F" if female else "M",
            }
        )
        people[pid] = (dob, female, reg, last)
    joined = pd.DataFrame(rows, columns=patients.columns)
    return pd.concat([patients, joined], ignore_index=True), people, set(joined["patient_id"])


# --- step 2: cancer ----------------------------------------------------------------------------


def cancer_code(rng, female: bool) -> str:
    codes = CODES["CAN_COD"]
    weights = np.array([CANCER_WEIGHTS.get(c, (1.0, 1.0))[0 if female else 1] for c in codes])
    return codes[rng.choice(len(codes), p=weights / weights.sum())]


def diagnosis(rng, out: Record, pid: str, female: bool, d1: int, last: int) -> None:
    """One diagnosis and what follows it, as ccrqof.synthetic's sparse profile models it."""
    code = cancer_code(rng, female)
    out.add(pid, code, d1, last, rng.choice(["", "first", "new"], p=[0.55, 0.35, 0.10]))
    for _ in range(rng.integers(1, 4) if rng.random() < 0.30 else 0):  # later entries of it
        ep = "review" if rng.random() < 0.85 else "ended"
        out.add(pid, code, d1 + int(rng.integers(20, 1800)), last, ep)
    v = rng.random()
    ontime, late = v < P_REVIEW, P_REVIEW <= v < P_REVIEW + P_LATE
    offset = 0 if rng.random() < 0.02 else int(rng.beta(1.6, 2.6) * 365)
    review = d1 + offset if ontime else d1 + int(rng.integers(370, 1000))
    if ontime or late:
        mdrv = CODES["MDRV_COD"][0]
        out.add(pid, mdrv, review, last)
        for j in range(rng.integers(1, 4) if rng.random() < 0.30 else 0):  # yearly ones
            out.add(pid, mdrv, review + (j + 1) * 365 + int(rng.integers(-60, 61)), last)
    v = rng.random()
    if v < P_SUPPORT:
        out.add(pid, CODES["CANPCSUPP_COD"][0], d1 + int(rng.integers(0, 90)), last)
    elif v < P_SUPPORT + P_SUPPORT_LATE:
        out.add(pid, CODES["CANPCSUPP_COD"][0], d1 + int(rng.integers(100, 500)), last)
    invite = CODES["CANINVITE_COD"][0]
    if not ontime and rng.random() < 0.5:  # 1-3 invitations
        when = d1 + int(rng.integers(14, 330))
        close = rng.random() < 0.35
        for _ in range(rng.choice([1, 2, 3], p=[0.3, 0.4, 0.3])):
            out.add(pid, invite, when, last)
            when += int(rng.integers(0, 7) if close else rng.integers(7, 60))
    elif ontime and rng.random() < 0.20:  # invited, then came for the review
        out.add(pid, invite, max(d1, review - int(rng.integers(7, 40))), last)
    if rng.random() < 0.04:  # a personalised care adjustment
        which = CODES["CANPCADEC_COD" if rng.random() < 0.5 else "CANPCAPU_COD"][0]
        out.add(pid, which, d1 + int(rng.integers(0, 400)), last)


def follow_cancer(
    rng,
    out: Record,
    people: dict,
    registered: list[str],
    start: int,
    end: int,
    joiners: set[str],
    on_register: set[str],
) -> None:
    """New diagnoses among everyone on the list (older more often), the cancer histories
    joiners bring, and yearly reviews going on for some of those already on the register."""
    span = (end - start) / YEAR
    ages = np.array([(end - people[p][0]) / YEAR for p in registered])
    rel = np.exp(AGE_TILT * ages)
    for pid, r in zip(registered, rel / rel.mean(), strict=True):
        dob, female, reg, last = people[pid]
        first = max(start + 1, reg)
        if rng.random() < INCIDENCE * span * r and first < last:
            diagnosis(rng, out, pid, female, int(rng.integers(first, last + 1)), last)
        if pid in joiners and rng.random() < min(PREVALENCE * r, 0.4):
            d1 = max(reg - years(rng.exponential(4.5)), dob + 1)
            diagnosis(rng, out, pid, female, d1, last)
        if pid in on_register and rng.random() < 0.25:
            when = start + int(rng.integers(30, 365))
            while when <= last:
                out.add(pid, CODES["MDRV_COD"][0], when, last)
                when += 365 + int(rng.integers(-60, 61))


def follow_noise(rng, out: Record, people: dict, pid: str, start: int, joiner: bool) -> None:
    """Common entries: about (1.5 + age/25)/4 a year, as in ccrqof.synthetic; a joiner's record
    arrives with its earlier entries."""
    dob, _, _, last = people[pid]
    codes = list(NOISE_CODES)
    w = np.array(list(NOISE_CODES.values()))
    rate = (1.5 + (last - dob) / YEAR / 25.0) / 4.0
    if joiner:
        whens = [last - years(t) for t in rng.exponential(4.0, rng.poisson(4 * rate))]
        whens = [max(w_, dob) for w_ in whens]
    else:
        k = rng.poisson(rate * max(0, last - start) / YEAR)
        whens = list(rng.integers(start + 1, last + 1, k)) if k and last > start else []
    for when in whens:
        out.add(pid, codes[rng.choice(len(codes), p=w / w.sum())], int(when), last)


# --- step 2: cervical screening ----------------------------------------------------------------


def smear_result(rng, when: int) -> tuple[str, int]:
    """A result code and the months to the next test: HPV primary screening from 2020, cytology
    before; an HPV-positive or low-grade result is repeated after 12 months."""
    v = rng.random()
    if when < day("2020-01-01"):
        if v < 0.92:
            return SMEAR["negative"], 0
        return (SMEAR["low_grade"], 12) if v < 0.97 else (SMEAR["hpv_positive"], 12)
    if v < 0.85:
        return SMEAR["hpv_negative"], 0
    return (SMEAR["hpv_positive"], 12) if v < 0.98 else (SMEAR["low_grade"], 12)


def pregnancies(rng, dob: int, last: int) -> list[int]:
    """Start dates of pregnancies from age 20 to 44 (at most one a year)."""
    out = []
    for age in range(20, 45):
        at = dob + years(age) + int(rng.integers(0, 365))
        if at > last:
            break
        if (not out or at - out[-1] > 365) and rng.random() < PREGNANCY[(age - 20) // 5]:
            out.append(at)
    return out


def screening(rng, out: Record, pid: str, dob: int, last: int) -> None:
    """One woman's screening history: invited from 24.5, then every 3 years to 49 and every 5
    years to 64; she comes soon, late, or never; some have a hysterectomy, some pregnancies.
    Entries before HISTORY_FROM are left out (but not a hysterectomy), and 'no response to
    three invitations' is coded only from April 2021, when that code came into use."""
    behaviour = rng.choice(list(BEHAVIOUR), p=list(BEHAVIOUR.values()))
    never = rng.choice(list(NEVER_KIND), p=list(NEVER_KIND.values()))
    ends = min(last, dob + years(65))
    history_from, coded_from = HISTORY_FROM.toordinal(), NO_RESPONSE_CODED_FROM.toordinal()

    def emit(code: str, when: int, since: int = history_from) -> None:
        if when >= since:
            out.add(pid, code, when, ends)

    nocx = dob + years(float(np.clip(rng.normal(47, 7), 30, 64))) if rng.random() < P_NOCX else None
    if nocx is not None and nocx <= ends:
        emit(NOCX[rng.integers(len(NOCX))], nocx, since=dob)
        ends = nocx - 1
    pregnant = pregnancies(rng, dob, last)
    for start in pregnant:
        codes = [PREGNANT["confirmed"][int(rng.random() >= 0.5)]]  # weeks 6-10
        if rng.random() < 0.7:  # at booking: twins, or the risk
            if rng.random() < 0.02:
                codes.append(PREGNANT["twins"])
            else:
                codes.append(PREGNANT["high risk" if rng.random() < 0.2 else "low risk"])
        for j, code in enumerate(codes):
            when = start + 42 + int(rng.integers(0, 28)) + 35 * j
            if history_from <= when <= last:
                out.add(pid, code, when, last)
    due = dob + years(24.5)
    while due <= ends:
        age = (due - dob) / YEAR
        if age >= 50 and behaviour != "never" and rng.random() < STOP_AT_50:
            behaviour, never = "never", "no response"
        if behaviour == "never":
            test = None
        elif behaviour == "regular":
            delay = rng.exponential(0.25) + (rng.uniform(1, 3) if rng.random() < 0.08 else 0)
            test = due + years(delay)
        else:
            test = due + years(rng.exponential(LATE_DELAY))
        for p in pregnant:  # no test in pregnancy or the 12 weeks after the birth
            if test is not None and p <= test < p + 365:
                test = p + 365 + int(rng.integers(0, 120))
        next_due = due + years(3 if age < 49.5 else 5)
        if test is None or test > min(ends, next_due + years(1)):
            # not screened this round: the practice may code why
            when = due + int(rng.integers(150, 330))
            if behaviour == "never" and never == "declines":
                if rng.random() < 0.7:
                    emit(DECLINED[rng.integers(len(DECLINED))], when)
            elif behaviour == "never" and never == "unsuitable":
                if rng.random() < 0.8:
                    emit(UNSUITABLE, when)
            elif rng.random() < P_CODE_NO_RESPONSE:
                emit(PCA_INVITE, when, since=coded_from)
            due = next_due
            continue
        if test - due > 250 and rng.random() < P_CODE_NO_RESPONSE:  # coded before she came
            emit(PCA_INVITE, due + int(rng.integers(150, min(330, test - due))), since=coded_from)
        code, repeat = smear_result(rng, test)
        emit(code, test)
        if repeat and rng.random() < 0.85:  # early recall, usually kept
            test += years(repeat / 12) + int(rng.integers(-20, 60))
            emit(SMEAR["hpv_negative"], test)
        due = test + years(3 if (test - dob) / YEAR < 49.5 else 5)


# --- both steps together -----------------------------------------------------------------------


def relabel(rng, patients: pd.DataFrame, people: dict, cancer: set[str], end: int) -> None:
    """A handful of patients with a blank or unusual sex or a blank date of birth (never one
    with a cancer history, so the cancer indicators do not move)."""
    ids = [p for p in patients["patient_id"].drop_duplicates() if p not in cancer]
    women = [p for p in ids if people[p][1] and 25 <= (end - people[p][0]) / YEAR < 65]
    chosen = set(women)
    others = [p for p in ids if p not in chosen]
    used: set[str] = set()
    for column, plan in (("sex", ODD_SEX), ("date_of_birth", BLANK_DOB)):
        for count, who, value in plan:
            pool = [p for p in (women if who == "woman" else others) if p not in used]
            for pid in rng.choice(pool, count, replace=False):
                used.add(pid)
                patients.loc[patients["patient_id"] == pid, column] = value


def build() -> tuple[pd.DataFrame, pd.DataFrame]:
    events, patients = make_extract(
        n_practices=1, patients_per_practice=5000, reference_date=REFERENCE, seed=SEED
    )
    first_extract = max(events["date"].max(), patients["registration_date"].max())
    start, end = day(first_extract), EXTRACTED.toordinal()
    rng = np.random.default_rng([SEED, 2026])

    patients, people, joiners = follow_list(rng, patients, start, end)
    on_register = set(events.loc[events["code"].isin(CODES["CAN_COD"]), "patient_id"])
    registered = [p for p in people if people[p][3] > start]  # on the list after `start`

    out = Record()
    follow_cancer(rng, out, people, registered, start, end, joiners, on_register)
    for pid in registered:
        follow_noise(rng, out, people, pid, start, pid in joiners)
    for pid, (dob, female, _, last) in people.items():
        if female and last > dob + years(24.5):
            screening(rng, out, pid, dob, last)
    cancer = on_register | {p for p, c, _, _ in out.rows if c in CODES["CAN_COD"]}
    relabel(rng, patients, people, cancer, end)

    new = pd.DataFrame(out.rows, columns=["patient_id", "code", "day", "episode"])
    new.insert(0, "practice_code", PRACTICE)
    new["date"] = [text(d) for d in new["day"]]
    new = new[events.columns]
    order = {p: i for i, p in enumerate(patients["patient_id"].drop_duplicates())}
    both = pd.concat([events.assign(source=0), new.assign(source=1)], ignore_index=True)
    both["rank"] = both["patient_id"].map(order)
    both = both.sort_values(["rank", "date", "source"], kind="stable")
    return both[events.columns].reset_index(drop=True), patients


def main() -> None:
    events, patients = build()
    assert events["date"].max() <= EXTRACTED.isoformat()
    events.to_csv(HERE / "events.csv", index=False)
    patients.to_csv(HERE / "patients.csv", index=False)
    print(
        f"wrote {len(events):,} events and {len(patients):,} registrations "
        f"({patients['patient_id'].nunique():,} patients) to {HERE}"
    )


if __name__ == "__main__":
    main()
